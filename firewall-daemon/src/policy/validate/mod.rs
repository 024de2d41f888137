//! Semantic checks: [`RawPolicy`] → [`ValidatedPolicy`], every error found (not just the
//! first), each placed at its key with a fix.
//!
//! One file per part of the policy, each a step of [`validate`]: [`zones`], [`interfaces`],
//! [`conduits`] and their [`rules`] (with [`ports`] and, per inspected protocol, a module
//! such as [`modbus`], [`iec104`], [`dnp3`]), [`l2`], then [`shadowing`] across the valid conduits. This module
//! holds the [`Checker`] that places each diagnostic at its key, and the top-level keys.

use std::collections::HashSet;

use firewall_common::maps::capacity;

use super::{
    diag::{Diagnostic, Diagnostics, Position, Severity, did_you_mean, list},
    locate::{KeyPath, Locator},
    model::{Defaults, LogMode, Mode, ValidatedPolicy},
    raw::{RawPolicy, Scalar},
};

mod bacnet;
mod conduits;
mod dnp3;
mod enip;
mod iec104;
mod interfaces;
mod l2;
mod modbus;
mod opcua;
mod ports;
mod ranges16;
mod rules;
mod s7comm;
mod shadowing;
mod zones;

use conduits::check_conduits;
use interfaces::check_interfaces;
use l2::check_l2;
use shadowing::check_shadowing;
use zones::check_zones;

/// What the checks need besides the raw policy.
pub(super) struct Context<'a> {
    pub origin: &'a str,
    pub src: &'a str,
    pub locator: &'a Locator,
    pub source_hash: String,
}

/// Collects diagnostics, placing each at its key.
struct Checker<'a> {
    ctx: &'a Context<'a>,
    diags: Vec<Diagnostic>,
    /// Errors and warnings found beyond [`MAX_DIAGNOSTICS`]: counted, not kept.
    omitted: (usize, usize),
    /// What a diagnostic beyond the limit is written into (and forgotten).
    overflow: Diagnostic,
}

/// Diagnostics kept (and printed) per policy: a hostile or broken file can produce one per
/// list item (20,000 duplicate ports); each costs a source excerpt, so beyond this they are
/// only counted ("and N more").
pub(super) const MAX_DIAGNOSTICS: usize = 100;

/// Which end of a `key: value` pair a diagnostic points at.
#[derive(Clone, Copy)]
enum At {
    Key,
    Value,
}

impl Checker<'_> {
    fn push(
        &mut self,
        severity: Severity,
        path: &KeyPath,
        at: At,
        message: String,
    ) -> &mut Diagnostic {
        if self.diags.len() >= MAX_DIAGNOSTICS {
            return self.omit(severity);
        }
        let loc = self.ctx.locator;
        let mut position = match at {
            At::Key => loc.key(path).or_else(|| loc.value(path)),
            At::Value => loc.value(path).or_else(|| loc.key(path)),
        };
        // A missing key: point at the nearest enclosing node that exists.
        let mut parent = path.clone();
        while position.is_none() && parent.pop() {
            position = loc.value(&parent);
        }
        self.push_at(severity, path, position, message)
    }

    fn push_at(
        &mut self,
        severity: Severity,
        path: &KeyPath,
        position: Option<Position>,
        message: String,
    ) -> &mut Diagnostic {
        if self.diags.len() >= MAX_DIAGNOSTICS {
            return self.omit(severity);
        }
        let mut d = Diagnostic::new(severity, self.ctx.origin, message);
        if !path.is_root() {
            d.key = Some(path.to_string());
        }
        if let Some(p) = position {
            d.locate(self.ctx.src, p);
        }
        let i = self.diags.len();
        self.diags.push(d);
        &mut self.diags[i]
    }

    fn error(&mut self, path: &KeyPath, message: impl Into<String>) -> &mut Diagnostic {
        self.push(Severity::Error, path, At::Value, message.into())
    }

    fn error_at_key(&mut self, path: &KeyPath, message: impl Into<String>) -> &mut Diagnostic {
        self.push(Severity::Error, path, At::Key, message.into())
    }

    /// An error of a parser that says what is wrong and how to fix it (`(message, help)`).
    fn refuse(
        &mut self,
        path: &KeyPath,
        (message, help): (String, Vec<String>),
    ) -> &mut Diagnostic {
        let d = self.error(path, message);
        d.help.extend(help);
        d
    }

    /// Parses every item of the list at `path` with `parse`, refusing (at its item) each one
    /// it cannot read: the items read with their key paths, and whether every item was.
    fn parse_items<T>(
        &mut self,
        path: &KeyPath,
        list: &[Scalar],
        parse: impl Fn(&Scalar) -> Result<T, (String, Vec<String>)>,
    ) -> (Vec<(KeyPath, T)>, bool) {
        let mut ok = true;
        let mut items = Vec::with_capacity(list.len());
        for (k, s) in list.iter().enumerate() {
            let kp = path.index(k);
            match parse(s) {
                Ok(v) => items.push((kp, v)),
                Err(e) => {
                    ok = false;
                    self.refuse(&kp, e);
                }
            }
        }
        (items, ok)
    }

    fn warning(&mut self, path: &KeyPath, message: impl Into<String>) -> &mut Diagnostic {
        self.push(Severity::Warning, path, At::Value, message.into())
    }

    fn omit(&mut self, severity: Severity) -> &mut Diagnostic {
        match severity {
            Severity::Error => self.omitted.0 += 1,
            Severity::Warning => self.omitted.1 += 1,
        }
        self.overflow = Diagnostic::new(severity, "", "");
        &mut self.overflow
    }

    fn has_errors(&self) -> bool {
        self.omitted.0 > 0 || self.diags.iter().any(Diagnostic::is_error)
    }
}

trait Help {
    fn help(&mut self, text: impl Into<String>) -> &mut Self;
}

impl Help for Diagnostic {
    fn help(&mut self, text: impl Into<String>) -> &mut Self {
        self.help.push(text.into());
        self
    }
}

/// Checks everything; `Err` holds every error and warning, `Ok` the policy and its warnings.
pub(super) fn validate(
    raw: RawPolicy,
    ctx: &Context<'_>,
    earlier: Vec<Diagnostic>,
) -> Result<ValidatedPolicy, Diagnostics> {
    let mut c = Checker {
        ctx,
        diags: earlier,
        omitted: (0, 0),
        overflow: Diagnostic::new(Severity::Warning, "", ""),
    };
    let root = KeyPath::root();

    match raw.version {
        None => {
            c.error(&root, "missing key \"version\"")
                .help("add `version: 1` at the top of the file");
        }
        Some(1) => {}
        Some(v) => {
            c.error(
                &root.key("version"),
                format!("unsupported policy version {v}"),
            )
            .help("this zcfw reads policy version 1; write `version: 1`");
        }
    }

    let name = match raw.name.as_deref().map(str::trim) {
        None => {
            c.error(&root, "missing key \"name\"")
                .help("add `name: <policy name>`, shown by `zcfw status` and in events");
            String::new()
        }
        Some("") => {
            c.error(&root.key("name"), "the policy name is empty")
                .help("give the policy a name, e.g. `name: plant-a-gateway`");
            String::new()
        }
        Some(n) if n.chars().any(char::is_control) => {
            c.error(
                &root.key("name"),
                "the policy name contains control characters",
            )
            .help("use a single line of printable text");
            String::new()
        }
        Some(n) => n.to_owned(),
    };

    let defaults = check_defaults(&mut c, raw.defaults.unwrap_or_default());
    let zone_names: Vec<String> = raw
        .zones
        .as_ref()
        .map(|z| z.0.iter().map(|(n, _)| n.clone()).collect())
        .unwrap_or_default();
    let zones = check_zones(&mut c, raw.zones.map(|z| z.0));
    let interfaces = check_interfaces(&mut c, raw.interfaces, &zone_names);
    let conduits = check_conduits(&mut c, raw.conduits.unwrap_or_default(), &zone_names);
    let l2 = check_l2(&mut c, raw.l2, &zones);

    if !c.has_errors() {
        check_shadowing(&mut c, &conduits);
        let pairs: HashSet<(&str, &str)> = conduits
            .iter()
            .map(|x| (x.from.as_str(), x.to.as_str()))
            .collect();
        let max_pairs = capacity::ZONE_PAIRS / 2;
        if pairs.len() > max_pairs as usize {
            c.error(
                &root.key("conduits"),
                format!(
                    "conduits connect {} zone pairs, but the zone pair map holds {max_pairs} per policy",
                    pairs.len()
                ),
            )
            .help("group hosts into fewer zones");
        }
    }

    if c.has_errors() {
        return Err(Diagnostics::new(ctx.origin, c.diags).with_omitted(c.omitted.0, c.omitted.1));
    }
    let mut warnings: Vec<Diagnostic> = Diagnostics::new(ctx.origin, c.diags)
        .iter()
        .cloned()
        .collect();
    if c.omitted.1 > 0 {
        warnings.push(Diagnostic::new(
            Severity::Warning,
            ctx.origin,
            format!(
                "and {} more warning{} not shown (only the first {MAX_DIAGNOSTICS} diagnostics are kept)",
                c.omitted.1,
                if c.omitted.1 == 1 { "" } else { "s" }
            )
        ));
    }
    Ok(ValidatedPolicy {
        origin: ctx.origin.to_owned(),
        source_hash: ctx.source_hash.clone(),
        name,
        defaults,
        zones,
        interfaces,
        conduits,
        l2,
        warnings,
    })
}

fn check_defaults(c: &mut Checker<'_>, raw: super::raw::RawDefaults) -> Defaults {
    let at = KeyPath::root().key("defaults");
    match raw.action.as_deref() {
        None | Some("deny") => {}
        Some("allow") => {
            c.error(&at.key("action"), "defaults.action must be deny")
                .help("IEC 62443-3-3 SR 5.2 RE1: deny by default; conduits open the paths that are needed");
        }
        Some(other) => {
            c.error(
                &at.key("action"),
                format!("unknown default action \"{other}\""),
            )
            .help("the only default action is `deny`; conduits open paths");
        }
    }
    let log = match raw.log.as_deref() {
        None | Some("denied") => LogMode::Denied,
        Some("none") => LogMode::None,
        Some("all") => LogMode::All,
        Some(other) => {
            c.error(&at.key("log"), format!("unknown log setting \"{other}\""))
                .help("use one of: none, denied, all");
            LogMode::Denied
        }
    };
    let mode = match raw.mode.as_deref() {
        None | Some("enforce") => Mode::Enforce,
        Some("monitor") => {
            c.warning(
                &at.key("mode"),
                "defaults.mode: monitor: nothing is denied by policy; would-be denies pass and are reported as alerts",
            )
            .help("use monitor mode to commission a policy, then switch to `mode: enforce` (SR 5.2 RE1)");
            Mode::Monitor
        }
        Some(other) => {
            c.error(&at.key("mode"), format!("unknown mode \"{other}\""))
                .help("use `mode: enforce` or `mode: monitor`");
            Mode::Enforce
        }
    };
    Defaults { log, mode }
}
