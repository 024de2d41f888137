//! `zcfw check POLICY`: validate a policy, print compiler-style diagnostics.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{EXIT_ERROR, EXIT_INVALID, EXIT_OK};
use crate::{
    compile,
    policy::{self, Diagnostic, Diagnostics, JsonDiagnostic, PolicyError, Severity},
};

#[path = "check_sarif.rs"]
mod sarif;

/// Output format of `zcfw check`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum CheckFormat {
    /// Compiler-style diagnostics on stderr, a summary line on stdout.
    #[default]
    Text,
    /// One JSON document on stdout: validity, counts, every diagnostic (file, line, column,
    /// severity, key, message, fix) and the summary.
    Json,
    /// SARIF 2.1.0 on stdout, for code-scanning tools in CI.
    Sarif,
}

/// Arguments of `zcfw check`.
#[derive(Debug, Clone, clap::Args)]
pub struct CheckArgs {
    /// Policy file to validate; `-` reads the policy from standard input.
    #[arg(value_name = "POLICY")]
    pub policy: PathBuf,
    /// Output format: `text` for people, `json` or `sarif` for CI (the exit code is the same).
    #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
    pub format: CheckFormat,
}

/// What `zcfw check` found, whatever the output format.
#[derive(Debug)]
pub struct Checked {
    pub origin: String,
    pub valid: bool,
    /// Errors and warnings, in source order.
    pub diagnostics: Vec<Diagnostic>,
    /// Found but not kept (beyond the limit of what is kept).
    pub omitted_errors: usize,
    pub omitted_warnings: usize,
    /// For a valid policy: what it compiles to.
    pub summary: Option<Summary>,
    /// Validation passed but compiling failed (the last diagnostic says why).
    pub compile_failed: bool,
}

/// The counts of a valid policy (`zcfw check --format json`: `summary`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub name: String,
    pub zones: usize,
    pub conduits: usize,
    pub interfaces: usize,
    /// Interfaces with `fast_path: true` (docs/fast-path.md).
    pub fast_path_interfaces: usize,
    pub inspected_rules: usize,
    pub modbus_profiles: usize,
    pub iec104_profiles: usize,
    pub dnp3_profiles: usize,
    pub s7comm_profiles: usize,
    pub enip_profiles: usize,
    pub opcua_profiles: usize,
    pub bacnet_profiles: usize,
    pub map_entries: usize,
}

/// `zcfw check --format json`.
#[derive(Debug, Serialize)]
struct JsonReport<'a> {
    file: &'a str,
    valid: bool,
    errors: usize,
    warnings: usize,
    diagnostics: Vec<JsonDiagnostic>,
    summary: Option<&'a Summary>,
}

impl Checked {
    fn errors(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count() + self.omitted_errors
    }

    fn warnings(&self) -> usize {
        self.diagnostics.iter().filter(|d| !d.is_error()).count() + self.omitted_warnings
    }

    fn json(&self) -> JsonReport<'_> {
        JsonReport {
            file: &self.origin,
            valid: self.valid,
            errors: self.errors(),
            warnings: self.warnings(),
            diagnostics: self.diagnostics.iter().map(Diagnostic::to_json).collect(),
            summary: self.summary.as_ref(),
        }
    }
}

/// Validates and compiles the policy at `path` (`-`: stdin). `Err`: it could not be read.
pub fn evaluate(path: &Path) -> Result<Checked, PolicyError> {
    let policy = match load_policy_arg(path) {
        Ok(p) => p,
        Err(PolicyError::Invalid(diags)) => {
            let errors = diags.error_count() - diags.errors().count();
            let warnings = diags.warning_count() - diags.warnings().count();
            return Ok(Checked {
                origin: diags.origin().to_owned(),
                valid: false,
                diagnostics: diags.iter().cloned().collect(),
                omitted_errors: errors,
                omitted_warnings: warnings,
                summary: None,
                compile_failed: false,
            });
        }
        Err(e) => return Err(e),
    };
    let mut diagnostics = policy.warnings().to_vec();
    let compiled = match compile::compile(&policy) {
        Ok(c) => c,
        Err(e) => {
            diagnostics.push(Diagnostic::new(
                Severity::Error,
                policy.origin(),
                e.to_string(),
            ));
            return Ok(Checked {
                origin: policy.origin().to_owned(),
                valid: false,
                diagnostics,
                omitted_errors: 0,
                omitted_warnings: 0,
                summary: None,
                compile_failed: true,
            });
        }
    };
    let inspected_rules = compiled
        .conduits
        .iter()
        .flat_map(|c| &c.rule_profiles)
        .filter(|&&profile| profile != 0)
        .count();
    let summary = Summary {
        name: policy.name().to_owned(),
        zones: compiled.zones.len(),
        conduits: compiled.conduits.len(),
        interfaces: compiled.interfaces.len(),
        fast_path_interfaces: compiled.interfaces.iter().filter(|i| i.fast_path).count(),
        inspected_rules,
        modbus_profiles: compiled.modbus_profiles.len(),
        iec104_profiles: compiled.iec104_profiles.len(),
        dnp3_profiles: compiled.dnp3_profiles.len(),
        s7comm_profiles: compiled.s7comm_profiles.len(),
        enip_profiles: compiled.enip_profiles.len(),
        opcua_profiles: compiled.opcua_profiles.len(),
        bacnet_profiles: compiled.bacnet_profiles.len(),
        map_entries: compiled.map_entries(),
    };
    Ok(Checked {
        origin: policy.origin().to_owned(),
        valid: true,
        diagnostics,
        omitted_errors: 0,
        omitted_warnings: 0,
        summary: Some(summary),
        compile_failed: false,
    })
}

/// Validates the policy: exit 0 if valid (warnings are printed), 1 with diagnostics if not,
/// 2 if the file cannot be read. The summary counts zones, conduits, interfaces, rules with
/// deep inspection and the distinct inspection profiles they compile to, and map entries.
pub fn run(args: &CheckArgs) -> u8 {
    let checked = match evaluate(&args.policy) {
        Ok(c) => c,
        Err(e) => return report_load_error(e),
    };
    let code = if checked.valid { EXIT_OK } else { EXIT_INVALID };
    let printed = match args.format {
        CheckFormat::Text => {
            print_text(&checked);
            EXIT_OK
        }
        CheckFormat::Json => super::print_json(&checked.json()),
        CheckFormat::Sarif => super::print_json(&sarif::report(&checked)),
    };
    if printed != EXIT_OK { printed } else { code }
}

/// The text output: diagnostics on stderr as a compiler prints them, the summary on stdout.
fn print_text(checked: &Checked) {
    let Some(s) = &checked.summary else {
        if checked.compile_failed {
            // Validated but does not compile: its warnings, then the compiler's error.
            for d in &checked.diagnostics {
                if d.is_error() {
                    eprintln!("{}: error: {}", d.origin, d.message);
                } else {
                    eprintln!("{d}\n");
                }
            }
        } else {
            let diags = Diagnostics::new(&checked.origin, checked.diagnostics.clone())
                .with_omitted(checked.omitted_errors, checked.omitted_warnings);
            eprintln!("{diags}");
        }
        return;
    };
    for w in &checked.diagnostics {
        eprintln!("{w}\n");
    }
    let warnings = checked.warnings();
    let c = s;
    println!(
        "{}: policy \"{}\" is valid: {}, {}, {}{}, {} ({}, {}){}",
        checked.origin,
        c.name,
        policy::plural(c.zones, "zone"),
        policy::plural(c.conduits, "conduit"),
        policy::plural(c.interfaces, "interface"),
        match c.fast_path_interfaces {
            0 => String::new(),
            n => format!(" ({n} with the fast path)"),
        },
        policy::plural(c.inspected_rules, "inspected rule"),
        profile_counts(c),
        match c.map_entries {
            1 => "1 map entry".to_string(),
            n => format!("{n} map entries"),
        },
        if warnings > 0 {
            format!(", {}", policy::plural(warnings, "warning"))
        } else {
            String::new()
        }
    );
}

/// `1 Modbus profile`, `2 Modbus profiles, 1 IEC 104 profile, 1 DNP3 profile`, or only the
/// protocols a policy inspects (`0 Modbus profiles` when it inspects none).
fn profile_counts(c: &Summary) -> String {
    let others = [
        (c.iec104_profiles, "IEC 104 profile"),
        (c.dnp3_profiles, "DNP3 profile"),
        (c.s7comm_profiles, "S7comm profile"),
        (c.enip_profiles, "EtherNet/IP profile"),
        (c.opcua_profiles, "OPC UA profile"),
        (c.bacnet_profiles, "BACnet profile"),
    ];
    let mut parts = Vec::new();
    if c.modbus_profiles > 0 || others.iter().all(|(n, _)| *n == 0) {
        parts.push(policy::plural(c.modbus_profiles, "Modbus profile"));
    }
    for (n, what) in others {
        if n > 0 {
            parts.push(policy::plural(n, what));
        }
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
