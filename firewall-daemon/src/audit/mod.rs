//! `zcfw audit`: an IEC 62443-3-3 report of a validated policy: a [`ValidatedPolicy`] (and,
//! for `zcfw audit --running`, the daemon's [`RunningState`]) in, an [`AuditReport`] out. The
//! only I/O is the [`ReportHeader`]'s clock and host name; the body is a pure function of the
//! policy and the running state, so its digest is reproducible.
//!
//! The report has a header (date, host, version, policy SHA-256, the body's SHA-256 when
//! rendered) and three parts:
//! - [`Requirement`]s: one row per system requirement a zone-and-conduit firewall serves
//!   (SR 5.1, 5.2 and its RE1-RE3, 2.8, 2.11, 3.3, 3.5, 6.1, 6.2, 7.1, 7.6 and its RE1, 7.7),
//!   with a [`Status`], what the running zcfw does for it and the evidence from this policy;
//! - [`ZoneReport`]s: per zone its target security level (and, with a vector per FR, what
//!   zcfw evidences of it: [`FrLevel`]), networks, conduits in and out;
//! - [`Finding`]s: weaknesses of the policy, each from one documented rule of
//!   [`rules::RULES`] with a stable id (`ZCFW-A001` ...) and a [`Severity`].
//!
//! docs/audit.md documents every rule and the JSON document ([`AuditReport`] serialized; its
//! `schema` field names the version of that shape).

use serde::Serialize;

use crate::policy::ValidatedPolicy;

mod diagram;
mod header;
mod levels;
mod render;
mod requirements;
pub mod rules;
pub mod running;

pub use diagram::{render_dot, render_mermaid};
pub use header::{Audited, END_OF_HEADER_MARKDOWN, END_OF_HEADER_TEXT, ReportHeader, body_digest};
pub use levels::{FOUNDATIONAL_REQUIREMENTS, FoundationalRequirement, FrLevel, FrStatus};
pub use render::{render_json, render_markdown, render_text};
pub use running::RunningState;

/// Version of the JSON shape of [`AuditReport`]; bumped on any incompatible change.
/// Version 2 added `header` (with the report's own digest), `running`, conduit
/// `description`s and zones' `security_level_target` / `security_levels`.
pub const SCHEMA: &str = "zcfw-audit/2";

/// How much a finding weakens the policy. Ordered: `Info < Low < Medium < High`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; no change needed by itself.
    Info,
    /// A weakness with a small effect, or one the zone's target level tolerates.
    Low,
    /// A weakness an auditor will ask about at the zone's target level.
    Medium,
    /// A path that defeats the protection the zone's target level asks for.
    High,
}

impl Severity {
    /// Every severity, highest first (the order reports list them in).
    pub const ALL: [Severity; 4] = [
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }
}

/// How far the policy and the running zcfw meet a requirement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The policy meets it, and no finding of medium or higher severity weakens it.
    Met,
    /// The policy meets part of it; the evidence and the findings say what is missing.
    PartiallyMet,
    /// The policy does not meet it.
    NotMet,
    /// The running zcfw meets it whatever the policy says (fail-close, island mode, ...);
    /// the `zcfw` text says how, and under which condition.
    MetByConfiguration,
}

impl Status {
    pub const ALL: [Status; 4] = [
        Status::Met,
        Status::PartiallyMet,
        Status::NotMet,
        Status::MetByConfiguration,
    ];

    /// The words the text and Markdown reports use.
    pub const fn label(self) -> &'static str {
        match self {
            Status::Met => "met",
            Status::PartiallyMet => "partially met",
            Status::NotMet => "not met",
            Status::MetByConfiguration => "met by the running configuration",
        }
    }

    /// The JSON value (`snake_case`).
    pub const fn key(self) -> &'static str {
        match self {
            Status::Met => "met",
            Status::PartiallyMet => "partially_met",
            Status::NotMet => "not_met",
            Status::MetByConfiguration => "met_by_configuration",
        }
    }
}

/// One IEC 62443-3-3 system requirement (or requirement enhancement) as this policy meets it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Requirement {
    /// `SR 5.2 RE1`.
    pub id: &'static str,
    /// The requirement's name in IEC 62443-3-3.
    pub title: &'static str,
    /// Security levels (1..=4) at which IEC 62443-3-3 asks for it.
    pub security_levels: Vec<u8>,
    /// Whether the highest target security level of the policy's zones is one of them.
    pub required: bool,
    pub status: Status,
    /// What the running zcfw does for this requirement.
    pub zcfw: &'static str,
    /// Facts from this policy, one sentence each.
    pub evidence: Vec<String>,
    /// Ids of the findings that bear on it (each once, in rule order).
    pub findings: Vec<&'static str>,
}

/// A conduit as seen from one of its zones.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConduitRef {
    pub conduit: String,
    /// The zone at the other end.
    pub zone: String,
    /// Target security level of the zone at the other end.
    pub security_level: u8,
    /// One line per rule, as `zcfw compile` prints them.
    pub rules: Vec<String>,
    /// `rate_limit` as `<pps> pps, burst <n>` (per source address); `None`: none.
    pub rate_limit: Option<String>,
    /// The conduit's `description` in the policy.
    pub description: Option<String>,
    /// `monitor` if its would-be denies pass as alerts, else `enforce`.
    pub mode: &'static str,
}

/// One zone of the policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ZoneReport {
    pub name: String,
    /// Target security level (SL-T), 1..=4.
    pub security_level: u8,
    /// `security_level_target` of the policy: SL-T per foundational requirement, FR 1 first.
    pub security_level_target: Option<[u8; 7]>,
    /// With `security_level_target`: per FR, the target against what zcfw can evidence.
    pub security_levels: Vec<FrLevel>,
    pub networks: Vec<String>,
    /// Whether hosts of the zone may talk to each other through the gateway.
    pub intra_zone_allow: bool,
    /// Interfaces whose `zones:` list this zone (sources of the zone may arrive there).
    pub interfaces: Vec<String>,
    /// Conduits into this zone, from the zone named in each.
    pub inbound: Vec<ConduitRef>,
    /// Conduits out of this zone, to the zone named in each.
    pub outbound: Vec<ConduitRef>,
    /// Number of findings of each severity whose `zone` is this one.
    pub findings: SeverityCounts,
}

/// One weakness of the policy, found by rule `id`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The rule's stable id, `ZCFW-A001` ... (docs/audit.md).
    pub id: &'static str,
    pub severity: Severity,
    /// The rule's title (the same for every finding of the rule).
    pub title: &'static str,
    /// What this policy does, in one sentence.
    pub message: String,
    /// The zone it weakens (for a conduit: its destination); `None`: the whole policy.
    pub zone: Option<String>,
    pub conduit: Option<String>,
    pub interface: Option<String>,
    /// The key of the policy it is about, e.g. `conduits[2].rules[0]`.
    pub key: Option<String>,
    /// `line:column` of the key, when known (validator warnings).
    pub position: Option<String>,
    /// System requirements it weakens (`SR 7.1`).
    pub requirements: Vec<&'static str>,
    /// How to fix it.
    pub remediation: String,
}

/// Findings per severity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SeverityCounts {
    pub high: usize,
    pub medium: usize,
    pub low: usize,
    pub info: usize,
}

impl SeverityCounts {
    fn of<'a>(findings: impl IntoIterator<Item = &'a Finding>) -> Self {
        let mut c = SeverityCounts::default();
        for f in findings {
            match f.severity {
                Severity::High => c.high += 1,
                Severity::Medium => c.medium += 1,
                Severity::Low => c.low += 1,
                Severity::Info => c.info += 1,
            }
        }
        c
    }

    pub fn get(&self, severity: Severity) -> usize {
        match severity {
            Severity::High => self.high,
            Severity::Medium => self.medium,
            Severity::Low => self.low,
            Severity::Info => self.info,
        }
    }

    pub fn total(&self) -> usize {
        self.high + self.medium + self.low + self.info
    }
}

/// Requirements per status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StatusCounts {
    pub met: usize,
    pub partially_met: usize,
    pub not_met: usize,
    pub met_by_configuration: usize,
}

/// Totals of the report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub findings: SeverityCounts,
    pub requirements: StatusCounts,
}

/// What was audited.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditedPolicy {
    pub name: String,
    /// The path the policy was read from.
    pub origin: String,
    /// Hex SHA-256 of the policy source: the `hash` `zcfw status` shows for the policy that
    /// is enforced, so the report can be tied to the running gateway.
    pub sha256: String,
    /// The highest target security level of its zones.
    pub max_security_level: u8,
    pub zones: usize,
    pub conduits: usize,
    pub rules: usize,
    pub interfaces: usize,
    /// `defaults.log`.
    pub log: &'static str,
}

/// Who wrote the report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReportTool {
    pub name: &'static str,
    pub version: &'static str,
}

/// The whole report; its JSON form is documented in docs/audit.md.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditReport {
    /// [`SCHEMA`].
    pub schema: &'static str,
    /// When, where, by which zcfw, of which policy; not part of the body the digest covers.
    pub header: ReportHeader,
    pub tool: ReportTool,
    pub standard: &'static str,
    pub policy: AuditedPolicy,
    /// `zcfw audit --running`: what the daemon enforced when the report was written.
    pub running: Option<RunningState>,
    pub summary: Summary,
    pub requirements: Vec<Requirement>,
    pub zones: Vec<ZoneReport>,
    /// Every finding: by severity (highest first), then in policy order.
    pub findings: Vec<Finding>,
}

impl AuditReport {
    /// Whether a finding of `severity` or higher exists (`zcfw audit --fail-on`).
    pub fn has_finding_at_least(&self, severity: Severity) -> bool {
        self.findings.iter().any(|f| f.severity >= severity)
    }

    /// The requirement with id `id` (`SR 7.1`).
    pub fn requirement(&self, id: &str) -> Option<&Requirement> {
        self.requirements.iter().find(|r| r.id == id)
    }

    /// Findings whose `zone` is `zone`; `None`: the policy-wide ones.
    pub fn findings_in<'a>(&'a self, zone: Option<&'a str>) -> impl Iterator<Item = &'a Finding> {
        self.findings
            .iter()
            .filter(move |f| f.zone.as_deref() == zone)
    }
}

/// Audits a validated policy file; the header reads the clock and the host name.
pub fn audit(policy: &ValidatedPolicy) -> AuditReport {
    audit_as(policy, ReportHeader::now(policy, Audited::File), None)
}

/// Audits `policy` as `header` says it was obtained; with `running`, as the daemon enforces
/// it (its state adds findings: interfaces not enforced, monitor mode).
pub fn audit_as(
    policy: &ValidatedPolicy,
    header: ReportHeader,
    running: Option<RunningState>,
) -> AuditReport {
    let mut findings = rules::check(policy);
    if let Some(r) = &running {
        findings.extend(running::findings(policy, r));
    }
    // Highest severity first; within a severity, the order the rules found them (policy order).
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    let mut requirements = requirements::assess(policy, &findings);
    if let Some(r) = &running {
        running::annotate(&mut requirements, r);
    }
    let zones = zone_reports(policy, &findings, &requirements);

    let mut statuses = StatusCounts::default();
    for r in &requirements {
        match r.status {
            Status::Met => statuses.met += 1,
            Status::PartiallyMet => statuses.partially_met += 1,
            Status::NotMet => statuses.not_met += 1,
            Status::MetByConfiguration => statuses.met_by_configuration += 1,
        }
    }
    AuditReport {
        schema: SCHEMA,
        header,
        tool: ReportTool {
            name: "zcfw",
            version: env!("CARGO_PKG_VERSION"),
        },
        standard: "IEC 62443-3-3",
        policy: AuditedPolicy {
            name: policy.name().to_owned(),
            origin: policy.origin().to_owned(),
            sha256: policy.source_hash().to_owned(),
            max_security_level: max_security_level(policy),
            zones: policy.zones().len(),
            conduits: policy.conduits().len(),
            rules: policy.conduits().iter().map(|c| c.rules.len()).sum(),
            interfaces: policy.interfaces().len(),
            log: policy.defaults().log.name(),
        },
        running,
        summary: Summary {
            findings: SeverityCounts::of(&findings),
            requirements: statuses,
        },
        requirements,
        zones,
        findings,
    }
}

/// The highest target security level of the policy's zones (1 if it has none).
pub(crate) fn max_security_level(policy: &ValidatedPolicy) -> u8 {
    policy
        .zones()
        .iter()
        .map(|z| z.security_level)
        .max()
        .unwrap_or(1)
}

fn zone_reports(
    policy: &ValidatedPolicy,
    findings: &[Finding],
    requirements: &[Requirement],
) -> Vec<ZoneReport> {
    let level = |name: &str| policy.zone(name).map_or(0, |z| z.security_level);
    policy
        .zones()
        .iter()
        .map(|z| {
            let conduit_ref = |c: &crate::policy::Conduit, other: &str| ConduitRef {
                conduit: c.name.clone(),
                zone: other.to_owned(),
                security_level: level(other),
                rules: c.rules.iter().map(ToString::to_string).collect(),
                rate_limit: rules::rate_limit(c),
                description: c.description.clone(),
                mode: c.mode.as_str(),
            };
            ZoneReport {
                name: z.name.clone(),
                security_level: z.security_level,
                security_level_target: z.security_level_target,
                security_levels: z
                    .security_level_target
                    .map(|t| levels::compare(&z.name, &t, requirements, findings))
                    .unwrap_or_default(),
                networks: z.networks.iter().map(ToString::to_string).collect(),
                intra_zone_allow: z.intra_zone_allow,
                interfaces: policy
                    .interfaces()
                    .iter()
                    .filter(|i| i.zones.as_ref().is_some_and(|zs| zs.contains(&z.name)))
                    .map(|i| i.name.clone())
                    .collect(),
                inbound: policy
                    .conduits()
                    .iter()
                    .filter(|c| c.to == z.name)
                    .map(|c| conduit_ref(c, &c.from))
                    .collect(),
                outbound: policy
                    .conduits()
                    .iter()
                    .filter(|c| c.from == z.name)
                    .map(|c| conduit_ref(c, &c.to))
                    .collect(),
                findings: SeverityCounts::of(
                    findings
                        .iter()
                        .filter(|f| f.zone.as_deref() == Some(z.name.as_str())),
                ),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
