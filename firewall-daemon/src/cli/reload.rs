//! `zcfw reload`: switch the running daemon to a policy, atomically.

use std::path::PathBuf;

use super::{EXIT_ERROR, EXIT_INVALID, EXIT_OK, SocketArgs, print_error};
use crate::control::{self, reload::ReloadError};

#[derive(Debug, clap::Args)]
pub struct ReloadArgs {
    #[command(flatten)]
    pub socket: SocketArgs,
    /// Policy file to switch to (default: the file the daemon runs, re-read). A relative path
    /// is resolved here, not in the daemon's directory.
    #[arg(long, value_name = "POLICY")]
    pub policy: Option<PathBuf>,
    /// Print the daemon's answer (policy name, hash, generation, load time) as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &ReloadArgs) -> u8 {
    let policy = match args.policy.as_ref().map(std::path::absolute).transpose() {
        Ok(p) => p,
        Err(err) => {
            print_error(&anyhow::Error::new(err).context("cannot resolve the policy path"));
            return EXIT_ERROR;
        }
    };
    match control::reload(&args.socket.socket, policy) {
        Ok(live) => {
            if args.json {
                return super::print_json(&live);
            }
            println!(
                "policy {} (sha256 {}) is live: generation {}, loaded in {:.1} ms",
                live.name,
                &live.hash[..live.hash.len().min(12)],
                live.generation,
                live.load_ms
            );
            EXIT_OK
        }
        Err(err) => match err.reload_error() {
            Some(reload) => print_refused(reload),
            None => {
                print_error(&anyhow::Error::new(err));
                EXIT_ERROR
            }
        },
    }
}

/// What went wrong, where, and what to do; the exit code.
fn print_refused(err: &ReloadError) -> u8 {
    match err {
        ReloadError::InvalidPolicy { diagnostics } => {
            // As `zcfw check` prints them: file:line:column, what, what to change.
            eprintln!("{diagnostics}");
            eprintln!("reload refused: the running policy stays enforced");
            EXIT_INVALID
        }
        err if err.running_policy_stays() => {
            eprintln!("error: reload failed: {err}");
            eprintln!("the running policy stays enforced");
            EXIT_ERROR
        }
        err => {
            eprintln!("error: reload incomplete: {err}");
            EXIT_ERROR
        }
    }
}
