//! `zcfw reload`: switch the running daemon to a policy, atomically.

use std::path::PathBuf;

use super::{EXIT_ERROR, EXIT_INVALID, EXIT_OK, SocketArgs, print_error};
use crate::control::{self, ClientError, Request};

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
    match control::call(&args.socket.socket, &Request::Reload { policy }) {
        Ok(data) => {
            if args.json {
                println!("{data}");
            } else {
                let text = |k: &str| {
                    data.get(k)
                        .and_then(|v| v.as_str())
                        .unwrap_or("?")
                        .to_owned()
                };
                let hash = text("hash");
                println!(
                    "policy {} (sha256 {}) is live: generation {}, loaded in {:.1} ms",
                    text("name"),
                    &hash[..hash.len().min(12)],
                    data.get("generation").and_then(|v| v.as_u64()).unwrap_or(0),
                    data.get("load_ms").and_then(|v| v.as_f64()).unwrap_or(0.0)
                );
            }
            EXIT_OK
        }
        Err(ClientError::InvalidPolicy(diagnostics)) => {
            eprintln!("{diagnostics}");
            eprintln!("reload refused: the running policy stays enforced");
            EXIT_INVALID
        }
        Err(err) => {
            print_error(&anyhow::Error::new(err));
            EXIT_ERROR
        }
    }
}
