//! `zcfw audit POLICY|--running [--format text|json|markdown|dot|mermaid]
//! [--fail-on high|medium|low]`: an IEC 62443-3-3 report of a policy file, or of the policy a
//! running daemon enforces (see docs/audit.md). A file needs no privileges; `--running`
//! reads the daemon's status over its control socket.

use std::path::PathBuf;

use super::{EXIT_ERROR, EXIT_INVALID, EXIT_OK, SocketArgs};
use crate::{
    audit::{self, Audited, ReportHeader, RunningState, Severity},
    compile, control, policy,
};

/// Exit code of `zcfw audit --fail-on`: a finding at or above the threshold exists.
pub const EXIT_FINDINGS: u8 = 3;

/// Output format of `zcfw audit`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum AuditFormat {
    /// A plain-text report for a terminal.
    #[default]
    Text,
    /// A JSON document for tools; its shape is versioned by the `schema` field.
    Json,
    /// A Markdown document for an auditor (with the Mermaid diagram).
    Markdown,
    /// The zone and conduit diagram as Graphviz DOT (`| dot -Tsvg > zones.svg`).
    Dot,
    /// The zone and conduit diagram as a Mermaid flowchart.
    Mermaid,
}

/// The lowest finding severity that makes `zcfw audit` exit 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FailOn {
    /// Only high findings.
    High,
    /// Medium or high findings.
    Medium,
    /// Low, medium or high findings.
    Low,
}

impl FailOn {
    fn severity(self) -> Severity {
        match self {
            FailOn::High => Severity::High,
            FailOn::Medium => Severity::Medium,
            FailOn::Low => Severity::Low,
        }
    }
}

/// Arguments of `zcfw audit`.
#[derive(Debug, Clone, clap::Args)]
pub struct AuditArgs {
    /// Policy file to audit.
    #[arg(
        value_name = "POLICY",
        required_unless_present = "running",
        conflicts_with = "running"
    )]
    pub policy: Option<PathBuf>,
    /// Audit what the running daemon enforces: the policy it loaded (the file it names, whose
    /// bytes must still hash to what it enforces), island and monitor mode, the interfaces the
    /// kernel reports attached.
    #[arg(long)]
    pub running: bool,
    #[command(flatten)]
    pub socket: SocketArgs,
    /// Output format of the report, printed to stdout.
    #[arg(long, value_enum, default_value_t = AuditFormat::Text)]
    pub format: AuditFormat,
    /// Exit with code 3 (after printing the report) if a finding of this severity or higher
    /// exists; without it, findings never change the exit code.
    #[arg(long, value_enum, value_name = "SEVERITY")]
    pub fail_on: Option<FailOn>,
}

/// Prints the report: exit 0, or 3 with `--fail-on` and a finding at or above it; an invalid
/// policy (or one that does not fit the maps) prints its diagnostics, exit 1; an unreadable
/// file exits 2.
pub fn run(args: &AuditArgs) -> u8 {
    let (path, running) = match (&args.policy, args.running) {
        (Some(path), false) => (path.clone(), None),
        _ => match running_policy(&args.socket.socket) {
            Ok((path, state)) => (path, Some(state)),
            Err(err) => {
                super::print_error(&err);
                return EXIT_ERROR;
            }
        },
    };
    let policy = match policy::load_file(&path) {
        Ok(p) => p,
        Err(e) => return super::check::report_load_error(e),
    };
    // A valid policy that does not fit the maps cannot be enforced: refuse it as `check` does.
    if let Err(e) = compile::compile(&policy) {
        eprintln!("{}: error: {e}", policy.origin());
        return EXIT_INVALID;
    }
    let report = match running {
        None => audit::audit(&policy),
        Some(state) => {
            // The file was read twice (hash, then load): make sure the load saw the same bytes.
            if let Some(why) = audit::running::file_mismatch(
                &state.policy_sha256,
                policy.source_hash(),
                &state.policy_path,
            ) {
                eprintln!("error: {why}");
                return EXIT_ERROR;
            }
            let header = ReportHeader::now(
                &policy,
                Audited::Running {
                    socket: state.socket.clone(),
                },
            );
            audit::audit_as(&policy, header, Some(state.clone()))
        }
    };
    let text = match args.format {
        AuditFormat::Text => audit::render_text(&report),
        AuditFormat::Json => audit::render_json(&report),
        AuditFormat::Markdown => audit::render_markdown(&report),
        AuditFormat::Dot => audit::render_dot(&report),
        AuditFormat::Mermaid => audit::render_mermaid(&report),
    };
    print!("{text}");
    match args.fail_on {
        Some(level) if report.has_finding_at_least(level.severity()) => EXIT_FINDINGS,
        _ => EXIT_OK,
    }
}

/// Asks the daemon on `socket` what it enforces: the policy file it loaded (refused if the
/// file's bytes no longer hash to what it enforces) and its state.
fn running_policy(socket: &std::path::Path) -> anyhow::Result<(PathBuf, RunningState)> {
    use anyhow::Context as _;
    let status = control::status(socket)?;
    let path = PathBuf::from(&status.policy.path);
    let bytes = std::fs::read(&path).with_context(|| {
        if path.is_relative() {
            format!(
                "cannot read {}, the policy file the daemon on {} enforces: the daemon names it \
                 relative to its own working directory; run this from there, or start the \
                 daemon with an absolute --policy",
                path.display(),
                socket.display()
            )
        } else {
            format!(
                "cannot read {}, the policy file the daemon on {} enforces (run as a user who \
                 can read it)",
                path.display(),
                socket.display()
            )
        }
    })?;
    let file_hash = audit::body_digest(&bytes);
    if let Some(why) =
        audit::running::file_mismatch(&status.policy.hash, &file_hash, &status.policy.path)
    {
        anyhow::bail!(why);
    }
    Ok((
        path,
        RunningState::from_status(&socket.display().to_string(), &status),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_on_maps_to_severity() {
        assert_eq!(FailOn::High.severity(), Severity::High);
        assert_eq!(FailOn::Medium.severity(), Severity::Medium);
        assert_eq!(FailOn::Low.severity(), Severity::Low);
        assert_ne!(EXIT_FINDINGS, EXIT_INVALID);
    }
}
