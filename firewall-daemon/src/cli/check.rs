//! `zcfw check POLICY`: validate a policy, print compiler-style diagnostics.

use std::path::{Path, PathBuf};

use super::{EXIT_ERROR, EXIT_INVALID, EXIT_OK};
use crate::{
    compile,
    policy::{self, PolicyError},
};

/// Arguments of `zcfw check`.
#[derive(Debug, Clone, clap::Args)]
pub struct CheckArgs {
    /// Policy file to validate.
    #[arg(value_name = "POLICY")]
    pub policy: PathBuf,
}

/// Validates the policy: exit 0 if valid (warnings are printed), 1 with diagnostics if not,
/// 2 if the file cannot be read. The summary counts zones, conduits, interfaces, rules with
/// deep inspection and the distinct inspection profiles they compile to, and map entries.
pub fn run(args: &CheckArgs) -> u8 {
    let policy = match policy::load_file(&args.policy) {
        Ok(p) => p,
        Err(e) => return report_load_error(e),
    };
    for w in policy.warnings() {
        eprintln!("{w}\n");
    }
    let compiled = match compile::compile(&policy) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{}: error: {e}", policy.origin());
            return EXIT_INVALID;
        }
    };
    let warnings = policy.warnings().len();
    let inspected = compiled
        .conduits
        .iter()
        .flat_map(|c| &c.rule_profiles)
        .filter(|&&profile| profile != 0)
        .count();
    println!(
        "{}: policy \"{}\" is valid: {}, {}, {}, {} ({}, {}){}",
        policy.origin(),
        policy.name(),
        policy::plural(compiled.zones.len(), "zone"),
        policy::plural(compiled.conduits.len(), "conduit"),
        policy::plural(compiled.interfaces.len(), "interface"),
        policy::plural(inspected, "inspected rule"),
        profile_counts(&compiled),
        match compiled.map_entries() {
            1 => "1 map entry".to_string(),
            n => format!("{n} map entries"),
        },
        if warnings > 0 {
            format!(", {}", policy::plural(warnings, "warning"))
        } else {
            String::new()
        }
    );
    EXIT_OK
}

/// `1 Modbus profile`, `2 Modbus profiles, 1 IEC 104 profile, 1 DNP3 profile`, or only the
/// protocols a policy inspects (`0 Modbus profiles` when it inspects none).
fn profile_counts(c: &compile::CompiledPolicy) -> String {
    let mut parts = Vec::new();
    let others = c.iec104_profiles.len() + c.dnp3_profiles.len();
    if !c.modbus_profiles.is_empty() || others == 0 {
        parts.push(policy::plural(c.modbus_profiles.len(), "Modbus profile"));
    }
    if !c.iec104_profiles.is_empty() {
        parts.push(policy::plural(c.iec104_profiles.len(), "IEC 104 profile"));
    }
    if !c.dnp3_profiles.is_empty() {
        parts.push(policy::plural(c.dnp3_profiles.len(), "DNP3 profile"));
    }
    parts.join(", ")
}

/// Loads the policy at `path`, or from standard input when `path` is `-`.
pub(crate) fn load_policy_arg(path: &Path) -> Result<policy::ValidatedPolicy, PolicyError> {
    if path.as_os_str() == "-" {
        policy::load_stdin(&policy::limits::Limits::default())
    } else {
        policy::load_file(path)
    }
}

/// Prints why a policy could not be loaded and returns the exit code for it.
pub(crate) fn report_load_error(e: PolicyError) -> u8 {
    match e {
        PolicyError::Invalid(diags) => {
            eprintln!("{diags}");
            EXIT_INVALID
        }
        e @ (PolicyError::Io { .. } | PolicyError::Refused(_)) => {
            super::print_error(&anyhow::Error::new(e));
            EXIT_ERROR
        }
    }
}
