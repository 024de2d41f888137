//! The `zcfw` command line: argument definitions and one module per command.

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};

pub mod audit;
pub mod capture;
pub mod check;
pub mod compile;
pub mod detach;
pub mod diff;
pub mod events;
pub mod island;
pub mod learn;
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
/// Exit code of `zcfw run`: it cannot start and starting again cannot help (see
/// [`crate::dataplane::DataplaneError::cannot_heal`]); the unit does not retry it.
pub const EXIT_CANNOT_HEAL: u8 = 4;

/// zcfw: an IEC 62443 zone-and-conduit firewall for Linux gateways, enforced in XDP.
///
/// A YAML policy of zones and conduits is validated, compiled into eBPF maps and enforced by
/// an XDP program at the driver. `check`, `compile` and `audit` work on a policy file without
/// privileges; `run` is the daemon; `reload`, `status`, `stats`, `events` and `island` talk to
/// a running daemon over its control socket.
#[derive(Debug, Parser)]
#[command(
    name = "zcfw",
    version,
    after_help = "Exit codes: 0 success; 1 invalid policy (or a reload the daemon refused); \
                  2 usage, I/O or runtime error; 3 `zcfw audit --fail-on` found a finding at \
                  or above its level; 4 `zcfw run` cannot start and retrying cannot help \
                  (pins of another zcfw version or not zcfw's, a program the kernel refuses, \
                  missing privileges). `zcfw diff` and `zcfw reload --dry-run` exit like \
                  diff(1): 0 no difference, 1 differences, 2 error (an invalid policy included)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate a policy file and summarise it.
    ///
    /// Every problem is reported compiler-style (file:line:column, key, help) and the policy
    /// is refused whole. Warnings (e.g. a rule that never matches) are printed but accepted.
    /// Exit 0 if the policy is valid, 1 if not, 2 if the file cannot be read.
    Check(check::CheckArgs),
    /// Show the exact map entries a policy compiles to, or the equivalent nftables ruleset.
    ///
    /// Zones, conduit lookup entries, inspection profiles (Modbus, IEC 104, DNP3) and
    /// interfaces, as the loader writes them into the kernel maps. Needs no privileges. Exit 1
    /// on an invalid policy.
    Compile(compile::CompileArgs),
    /// Show what switching from policy OLD to policy NEW would open and close.
    ///
    /// Compares the validated policies (not the YAML text), conduit by conduit and rule by
    /// rule: ports, ICMP types, Modbus functions, unit ids and address ranges, IEC 104 type
    /// ids and common addresses, DNP3 functions and addresses, zones and networks,
    /// interfaces, defaults, on_violation and rate limits. Each change is marked `opens`,
    /// `closes` or `changes`. Exit 0 if there is no difference, 1 if there are differences,
    /// 2 if a policy cannot be read or is invalid (like diff(1)).
    Diff(diff::DiffArgs),
    /// Run the daemon in the foreground.
    ///
    /// Loads the policy, attaches XDP to its interfaces and serves the control socket until
    /// SIGINT or SIGTERM; SIGHUP reloads the policy file. Needs root. Exit 1 if the policy is
    /// refused (nothing is attached).
    Run(run::RunArgs),
    /// Switch the running daemon to a policy, atomically.
    ///
    /// The daemon validates the policy first: an invalid one is refused and the running
    /// policy stays enforced. Exit 0 only once the new policy is live, 1 if it was refused,
    /// 2 if the daemon cannot be reached.
    Reload(reload::ReloadArgs),
    /// Show what the running daemon enforces.
    ///
    /// Policy name, file and SHA-256, generation and load time, island mode, pinning, uptime,
    /// and each interface with its XDP mode.
    Status(status::StatusArgs),
    /// Print the packet and byte counters of the running daemon.
    ///
    /// Per conduit, then per reason (passes and drops) for every reason that saw traffic.
    Stats(stats::StatsArgs),
    /// Show denied packets (and alerts of monitor mode) recorded by the running daemon.
    ///
    /// Each event: time, interface, zones, conduit, 5-tuple, reason and protocol detail (e.g.
    /// the Modbus function that was denied). Filters by reason, class, conduit, zone and time;
    /// prints text, JSON lines (docs/events.schema.json), RFC 5424 syslog lines or CEF.
    Events(events::EventsArgs),
    /// Capture the frames the firewall denies, as pcapng for Wireshark and tshark.
    ///
    /// tcpdump cannot see what XDP drops. While this runs, the data path copies the first
    /// bytes of each denied (or alerted) frame; each packet's comment says the reason, the
    /// action, the conduit and the zones. `zcfw capture -w - | tshark -r -` reads them live.
    Capture(capture::CaptureArgs),
    /// Switch island mode on or off (SR 5.2 RE2).
    ///
    /// `on` drops everything that crosses a zone boundary, established flows included, and
    /// keeps the policy loaded; `off` enforces the policy again.
    Island(island::IslandArgs),
    /// Learn what crosses the zones and write a proposed policy (nothing is applied).
    ///
    /// With --policy DRAFT, runs on the draft's interfaces in monitor mode (nothing dropped)
    /// for --duration; with --from-daemon, asks the running daemon. Writes one conduit per
    /// zone pair and direction with the ports, ICMP types and Modbus unit ids, functions and
    /// address ranges seen, each with its count and first/last seen time as a comment, and
    /// lists the addresses in no zone. --merge adds to an existing policy, keeping what is
    /// written in it. Review with `zcfw diff` and `zcfw audit` (docs/learn.md).
    Learn(learn::LearnArgs),
    /// Remove everything zcfw pinned, ending enforcement (uninstall).
    ///
    /// Detaches XDP from every interface and removes the pinned programs, links and maps under
    /// the pin directory; traffic then passes unfiltered.
    Detach(detach::DetachArgs),
    /// Report how a policy meets IEC 62443-3-3 (no daemon, no privileges).
    ///
    /// Status and evidence for SR 5.1, 5.2 RE1-RE3, 2.8, 2.11, 3.3, 3.5, 6.1, 6.2, 7.1, 7.6
    /// RE1 and 7.7; each zone with its security level, networks and conduits; and findings with
    /// stable ids and severities (docs/audit.md). Exit 0 when the report is printed, 1 if the
    /// policy is invalid, 3 with `--fail-on` when a finding at or above that level exists.
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
    if !matches!(cli.command, Command::Run(_)) {
        restore_sigpipe();
    }
    let code = match cli.command {
        Command::Check(args) => check::run(&args),
        Command::Compile(args) => compile::run(&args),
        Command::Diff(args) => diff::run(&args),
        Command::Run(args) => run::run(&args),
        Command::Reload(args) => reload::run(&args),
        Command::Status(args) => status::run(&args),
        Command::Stats(args) => stats::run(&args),
        Command::Events(args) => events::run(&args),
        Command::Capture(args) => capture::run(&args),
        Command::Island(args) => island::run(&args),
        Command::Learn(args) => learn::run(&args),
        Command::Detach(args) => detach::run(&args),
        Command::Audit(args) => audit::run(&args),
        Command::Completions(args) => man::completions(&args),
        Command::Man(args) => man::man(&args),
    };
    ExitCode::from(code)
}

/// Lets a command whose output goes into a closed pipe (`zcfw stats | head`) end quietly like
/// any Unix tool, instead of panicking on the failed write. Not for the daemon, which must
/// survive a control client that hangs up.
fn restore_sigpipe() {
    use nix::sys::signal::{SigHandler, Signal, signal};
    // SAFETY: restores the default disposition before any thread is started; no handler runs.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
}

/// Asks the daemon on `socket` with `ask` and prints its answer: as JSON with `json`, else
/// `render`ed for people. Returns the exit code.
pub fn query_and_print<T: serde::Serialize>(
    socket: &std::path::Path,
    ask: impl FnOnce(&std::path::Path) -> Result<T, crate::control::ClientError>,
    json: bool,
    render: impl Fn(&T) -> String,
) -> u8 {
    match ask(socket) {
        Ok(data) if json => print_json(&data),
        Ok(data) => {
            print!("{}", render(&data));
            EXIT_OK
        }
        Err(err) => {
            print_error(&anyhow::Error::new(err));
            EXIT_ERROR
        }
    }
}

/// Prints `data` as one JSON line; the exit code.
pub fn print_json<T: serde::Serialize>(data: &T) -> u8 {
    match serde_json::to_string(data) {
        Ok(line) => {
            println!("{line}");
            EXIT_OK
        }
        Err(err) => {
            print_error(&anyhow::Error::new(err).context("cannot print the answer as JSON"));
            EXIT_ERROR
        }
    }
}

/// Prints an error chain the way every command does: `error: what` then `  caused by: why`.
pub fn print_error(err: &anyhow::Error) {
    eprintln!("error: {err}");
    for cause in err.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
}
