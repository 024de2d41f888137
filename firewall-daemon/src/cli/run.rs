//! `zcfw run`: the daemon in the foreground.

use std::{io::IsTerminal, path::PathBuf};

use tracing_subscriber::EnvFilter;

use super::{
    DEFAULT_PIN_DIR, DEFAULT_POLICY, DEFAULT_SOCKET, EXIT_ERROR, EXIT_INVALID, EXIT_OK, print_error,
};
use crate::daemon::{self, InvalidPolicy, RunOptions};

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Policy file to enforce.
    #[arg(long, value_name = "POLICY", default_value = DEFAULT_POLICY)]
    pub policy: PathBuf,
    /// Control socket to serve `stats` and other commands on (root-only permissions).
    #[arg(long, value_name = "PATH", default_value = DEFAULT_SOCKET, env = "ZCFW_SOCKET")]
    pub socket: PathBuf,
    /// Where programs, maps and links are pinned (on a BPF filesystem). Pinned state keeps
    /// the policy enforced when the daemon stops or dies, and is adopted by the next one.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_PIN_DIR, env = "ZCFW_PIN_DIR")]
    pub pin_dir: PathBuf,
    /// Pin nothing and detach from every interface on exit (trials and tests; not fail-closed).
    #[arg(long)]
    pub ephemeral: bool,
}

/// Logs go to stderr: human-readable on a terminal, plain (no colors, no timestamps: the
/// journal adds its own) under systemd. `RUST_LOG` overrides the level (default `info`).
pub fn init_logging() {
    let journal = std::env::var_os("JOURNAL_STREAM").is_some();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal() && !journal)
        .with_target(false);
    let result = if journal {
        builder.without_time().try_init()
    } else {
        builder.try_init()
    };
    if let Err(err) = result {
        eprintln!("warning: cannot initialise logging: {err}");
    }
}

pub fn run(args: &RunArgs) -> u8 {
    init_logging();
    let opts = RunOptions {
        policy: args.policy.clone(),
        socket: args.socket.clone(),
        pin_dir: (!args.ephemeral).then(|| args.pin_dir.clone()),
    };
    match daemon::run(&opts) {
        Ok(()) => EXIT_OK,
        Err(err) => {
            if let Some(invalid) = err.downcast_ref::<InvalidPolicy>() {
                eprintln!("{invalid}");
                tracing::error!(policy = %args.policy.display(), "policy refused; nothing was loaded");
                return EXIT_INVALID;
            }
            tracing::error!("{err:#}");
            print_error(&err);
            EXIT_ERROR
        }
    }
}
