//! The `zcfw` command line: argument definitions and one module per command.

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};

pub mod audit;
pub mod check;
pub mod compile;
pub mod detach;
pub mod events;
pub mod island;
pub mod man;
pub mod reload;
pub mod run;
pub mod stats;
pub mod status;

/// Default control socket of the daemon.
pub const DEFAULT_SOCKET: &str = "/run/zcfw/zcfw.sock";
/// Default policy file.
pub const DEFAULT_POLICY: &str = "/etc/zcfw/policy.yaml";
/// Default directory of pinned programs, maps and links.
pub const DEFAULT_PIN_DIR: &str = "/sys/fs/bpf/zcfw";

/// Exit code: success / policy valid.
pub const EXIT_OK: u8 = 0;
/// Exit code: the policy is invalid (diagnostics were printed).
pub const EXIT_INVALID: u8 = 1;
/// Exit code: usage, I/O or runtime error.
pub const EXIT_ERROR: u8 = 2;

/// zcfw: an IEC 62443 zone-and-conduit firewall for Linux gateways, enforced in XDP.
#[derive(Debug, Parser)]
#[command(name = "zcfw", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate a policy file; exit 0 if valid, 1 with diagnostics if not, 2 on I/O errors.
    Check(check::CheckArgs),
    /// Show the exact map entries a policy compiles to.
    Compile(compile::CompileArgs),
    /// Run the daemon in the foreground: load the policy, attach XDP, serve until SIGINT/SIGTERM.
    Run(run::RunArgs),
    /// Validate a policy and switch the running daemon to it atomically; exit 0 only once it
    /// is live, 1 if it is refused (the running policy stays).
    Reload(reload::ReloadArgs),
    /// Show what the running daemon enforces: policy, generation, interfaces, island mode.
    Status(status::StatusArgs),
    /// Print the packet and byte counters of the running daemon.
    Stats(stats::StatsArgs),
    /// Show denied (and, in monitor mode, alerted) packets: time, interface, zones, conduit,
    /// 5-tuple, reason and protocol detail.
    Events(events::EventsArgs),
    /// Island mode: `on` denies everything that crosses a zone boundary (SR 5.2 RE2), `off`
    /// restores the policy.
    Island(island::IslandArgs),
    /// Remove everything zcfw pinned (programs, links, maps): stops enforcement (uninstall).
    Detach(detach::DetachArgs),
    /// Report how a policy meets IEC 62443-3-3 (SR 5.1, 5.2 RE1-RE3, 2.8, 3.5, 7.1, 7.7, ...):
    /// requirement status with evidence, zones and findings; needs no privileges.
    Audit(audit::AuditArgs),
    /// Print a shell completion script to stdout.
    #[command(hide = true)]
    Completions(man::CompletionsArgs),
    /// Print the man page (roff) to stdout.
    #[command(hide = true)]
    Man(man::ManArgs),
}

/// Arguments shared by every command that talks to a running daemon.
#[derive(Debug, Clone, clap::Args)]
pub struct SocketArgs {
    /// Control socket of the daemon to talk to.
    #[arg(long, value_name = "PATH", default_value = DEFAULT_SOCKET, env = "ZCFW_SOCKET")]
    pub socket: PathBuf,
}

/// Runs a parsed command line and returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    let code = match cli.command {
        Command::Check(args) => check::run(&args),
        Command::Compile(args) => compile::run(&args),
        Command::Run(args) => run::run(&args),
        Command::Reload(args) => reload::run(&args),
        Command::Status(args) => status::run(&args),
        Command::Stats(args) => stats::run(&args),
        Command::Events(args) => events::run(&args),
        Command::Island(args) => island::run(&args),
        Command::Detach(args) => detach::run(&args),
        Command::Audit(args) => audit::run(&args),
        Command::Completions(args) => man::completions(&args),
        Command::Man(args) => man::man(&args),
    };
    ExitCode::from(code)
}

/// Prints an error chain the way every command does: `error: what` then `  caused by: why`.
pub fn print_error(err: &anyhow::Error) {
    eprintln!("error: {err}");
    for cause in err.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
}
