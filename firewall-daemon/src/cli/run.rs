//! `zcfw run`: the daemon in the foreground.

use std::{io::IsTerminal, path::PathBuf};

use tracing_subscriber::EnvFilter;

use super::{
    DEFAULT_PIN_DIR, DEFAULT_POLICY, DEFAULT_SOCKET, EXIT_CANNOT_HEAL, EXIT_ERROR, EXIT_INVALID,
    EXIT_OK, print_error,
};
use crate::{
    control::reload::ReloadError,
    daemon::{self, RunOptions},
    dataplane::DataplaneError,
};

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Policy file to enforce.
    #[arg(long, value_name = "POLICY", default_value = DEFAULT_POLICY)]
    pub policy: PathBuf,
    /// Control socket that `reload`, `status`, `stats`, `events` and `island` talk to
    /// (mode 0660, group --read-group; root only when that group does not exist).
    #[arg(long, value_name = "PATH", default_value = DEFAULT_SOCKET, env = "ZCFW_SOCKET")]
    pub socket: PathBuf,
    /// Where programs, maps and links are pinned (on a BPF filesystem). Pinned state keeps
    /// the policy enforced when the daemon stops or dies, and is adopted by the next one.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_PIN_DIR, env = "ZCFW_PIN_DIR")]
    pub pin_dir: PathBuf,
    /// Pin nothing and detach from every interface on exit (trials and tests; not fail-closed).
    #[arg(long)]
    pub ephemeral: bool,
    /// Events (denied and alerted packets) each CPU may send per second; beyond that they are
    /// only counted (`events.rate_limited` in `zcfw stats`), so a flood cannot starve the daemon.
    #[arg(long, value_name = "PER_SECOND", default_value_t = 1000)]
    pub event_rate: u32,
    /// Also append every event as a JSON line to this file (an audit trail, SR 2.8).
    #[arg(long, value_name = "FILE")]
    pub audit_log: Option<PathBuf>,
    /// Also log every event (denied or alerted packet) at INFO, to the journal under systemd
    /// (target `zcfw::event`) with its fields as journal fields (`ZCFW_REASON`,
    /// `ZCFW_CONDUIT`, `ZCFW_COMMUNITY_ID`, ...; docs/events.md). Off by default: events go
    /// to `zcfw events` and the audit log, so a flood of denies cannot run into journald's
    /// rate limit and bury the daemon's own messages.
    #[arg(long)]
    pub log_events: bool,
    /// Rotate the audit log when it reaches this many bytes (FILE.1, FILE.2, ...).
    #[arg(long, value_name = "BYTES", default_value_t = 64 * 1024 * 1024)]
    pub audit_log_max_bytes: u64,
    /// Rotated audit log files to keep.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub audit_log_keep: u32,
    /// Largest policy file `run` and `reload` read, in bytes (a larger one is refused).
    #[arg(long, value_name = "BYTES", default_value_t = crate::policy::limits::DEFAULT_MAX_BYTES, env = "ZCFW_MAX_POLICY_BYTES")]
    pub max_policy_bytes: u64,
    /// Members of this group may read the firewall over the control socket (`status`,
    /// `stats`, `events`); the socket belongs to it (mode 0660). A missing group grants nothing.
    #[arg(long, value_name = "GROUP", default_value = "zcfw")]
    pub read_group: String,
    /// Members of this group (and root) may change the firewall (`reload`, `island`).
    #[arg(long, value_name = "GROUP", default_value = "zcfw-admin")]
    pub admin_group: String,
    /// Serve Prometheus metrics at http://ADDR/metrics (off by default; e.g. 127.0.0.1:9469).
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// Learning mode (what `zcfw learn --policy` starts): every deny of the policy is only
    /// an alert (nothing is dropped but malformed packets), and the data path learns what
    /// crosses the zones from the start (`zcfw learn --from-daemon` reads it).
    #[arg(long)]
    pub learn: bool,
}

/// Logs: under systemd (`$JOURNAL_STREAM` set) straight to journald with their priority, so
/// `journalctl -p err` finds errors; elsewhere to stderr, colored only on a terminal.
/// `RUST_LOG` overrides the level (default `info`).
pub fn init_logging() {
    use tracing_subscriber::{layer::SubscriberExt, util::SubscriberInitExt};
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        match tracing_journald::layer() {
            Ok(journald) => {
                // Fields as ZCFW_REASON=..., ZCFW_COMMUNITY_ID=... (docs/events.md): for
                // `journalctl ZCFW_REASON=modbus_function`.
                let journald = journald
                    .with_syslog_identifier("zcfw".to_owned())
                    .with_field_prefix(Some("ZCFW".to_owned()));
                if tracing_subscriber::registry()
                    .with(filter())
                    .with(journald)
                    .try_init()
                    .is_ok()
                {
                    return;
                }
            }
            Err(err) => eprintln!("warning: cannot log to journald ({err}); logging to stderr"),
        }
    }
    let result = tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
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
        event_rate: args.event_rate,
        audit_log: args.audit_log.clone(),
        audit_log_max_bytes: args.audit_log_max_bytes,
        audit_log_keep: args.audit_log_keep,
        log_events: args.log_events,
        metrics_listen: args.metrics_listen,
        limits: crate::policy::limits::Limits {
            max_bytes: args.max_policy_bytes,
        },
        read_group: args.read_group.clone(),
        admin_group: args.admin_group.clone(),
        learn: args.learn,
    };
    match daemon::run(&opts) {
        Ok(()) => EXIT_OK,
        Err(err) => {
            if let Some(ReloadError::InvalidPolicy { diagnostics }) = err.downcast_ref() {
                eprintln!("{diagnostics}");
                tracing::error!(policy = %args.policy.display(), "policy refused; nothing new was loaded");
                return EXIT_INVALID;
            }
            tracing::error!("{err:#}");
            print_error(&err);
            let cannot_heal = err
                .chain()
                .filter_map(|e| e.downcast_ref::<DataplaneError>())
                .any(DataplaneError::cannot_heal);
            if cannot_heal {
                EXIT_CANNOT_HEAL
            } else {
                EXIT_ERROR
            }
        }
    }
}
