//! `zcfw audit POLICY [--format text|json|markdown] [--fail-on high|medium|low]`: an
//! IEC 62443-3-3 report of a policy (see docs/audit.md). Needs no privileges.

use std::path::PathBuf;

use super::{EXIT_INVALID, EXIT_OK};
use crate::{
    audit::{self, Severity},
    compile, policy,
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
    /// A Markdown document for an auditor.
    Markdown,
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
    #[arg(value_name = "POLICY")]
    pub policy: PathBuf,
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
    let policy = match policy::load_file(&args.policy) {
        Ok(p) => p,
        Err(e) => return super::check::report_load_error(e),
    };
    // A valid policy that does not fit the maps cannot be enforced: refuse it as `check` does.
    if let Err(e) = compile::compile(&policy) {
        eprintln!("{}: error: {e}", policy.origin());
        return EXIT_INVALID;
    }
    let report = audit::audit(&policy);
    let text = match args.format {
        AuditFormat::Text => audit::render_text(&report),
        AuditFormat::Json => audit::render_json(&report),
        AuditFormat::Markdown => audit::render_markdown(&report),
    };
    print!("{text}");
    match args.fail_on {
        Some(level) if report.has_finding_at_least(level.severity()) => EXIT_FINDINGS,
        _ => EXIT_OK,
    }
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
