//! `zcfw diff OLD NEW [--format text|json]`: what switching from policy OLD to policy NEW
//! would open and close, conduit by conduit and rule by rule (see [`policy::diff`]).
//!
//! Exit codes as diff(1): 0 no difference, 1 differences, 2 trouble (a policy that cannot be
//! read or is invalid: its diagnostics are printed).

use std::path::PathBuf;

use super::{EXIT_ERROR, EXIT_OK, check::load_policy_arg};
use crate::policy::{self, PolicyError, diff::PolicyDiff};

/// Exit code of `zcfw diff` (and `zcfw reload --dry-run`) when the policies differ.
pub const EXIT_DIFFERENT: u8 = 1;

/// Output format of `zcfw diff`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum DiffFormat {
    /// One block per zone, interface and conduit, one line per change, for people.
    #[default]
    Text,
    /// One JSON document for tools (stable field names, docs/change-control.md).
    Json,
}

/// Arguments of `zcfw diff`.
#[derive(Debug, Clone, clap::Args)]
pub struct DiffArgs {
    /// The policy in force now (`-`: standard input).
    #[arg(value_name = "OLD")]
    pub old: PathBuf,
    /// The policy to switch to (`-`: standard input).
    #[arg(value_name = "NEW")]
    pub new: PathBuf,
    /// Output format: `text` for people, `json` for tools.
    #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
    pub format: DiffFormat,
}

pub fn run(args: &DiffArgs) -> u8 {
    if args.old.as_os_str() == "-" && args.new.as_os_str() == "-" {
        super::print_error(&anyhow::anyhow!(
            "only one of OLD and NEW can be `-` (standard input)"
        ));
        return EXIT_ERROR;
    }
    let old = match load_policy_arg(&args.old) {
        Ok(p) => p,
        Err(e) => return report(e),
    };
    let new = match load_policy_arg(&args.new) {
        Ok(p) => p,
        Err(e) => return report(e),
    };
    print(&policy::diff::diff(&old, &new), args.format)
}

/// Prints `diff` in `format`; 0 if there is no difference, 1 if there is, 2 if it cannot be
/// printed.
pub(crate) fn print(diff: &PolicyDiff, format: DiffFormat) -> u8 {
    match format {
        DiffFormat::Json => {
            let code = super::print_json(diff);
            if code != EXIT_OK {
                return code;
            }
        }
        DiffFormat::Text => print!("{}", diff.render()),
    }
    if diff.is_empty() {
        EXIT_OK
    } else {
        EXIT_DIFFERENT
    }
}

/// A policy that cannot be compared: its diagnostics, exit 2 (1 means "different" here).
fn report(e: PolicyError) -> u8 {
    super::check::report_load_error(e);
    EXIT_ERROR
}
