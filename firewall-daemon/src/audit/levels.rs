//! Security levels per foundational requirement (FR 1-7 of IEC 62443-3-3): a zone's target
//! (`security_level_target` in the policy) against what zcfw can evidence for it.
//!
//! zcfw is one component of the zone boundary. It evidences only the system requirements of
//! the report ([`super::requirements`]); most FRs have requirements zcfw does not serve
//! (authentication, use control on hosts, confidentiality, backups, ...). So the achieved
//! level here is an upper bound contributed by the firewall, never the zone's SL-A:
//!
//! - an FR none of whose requirements zcfw serves (FR 1, FR 4) is `not_evidenced`;
//! - otherwise the achieved level is the highest level L such that every requirement of the
//!   report that belongs to the FR and that IEC 62443-3-3 asks for at L or below holds for
//!   this zone: its status is met (or met by the running configuration), and no finding of
//!   medium or higher severity against this zone or the whole policy weakens it. A
//!   requirement `partially met` only because of findings against other zones holds here.

use serde::Serialize;

use super::{Finding, Requirement, Severity, Status};

/// A foundational requirement of IEC 62443-3-3.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FoundationalRequirement {
    /// `FR 5`.
    pub id: &'static str,
    /// `fr5`: its key in `security_level_target`.
    pub key: &'static str,
    pub name: &'static str,
    /// The prefix of its system requirements' ids (`SR 5.`).
    pub prefix: &'static str,
}

/// FR 1 to FR 7, in order.
pub const FOUNDATIONAL_REQUIREMENTS: [FoundationalRequirement; 7] = [
    FoundationalRequirement {
        id: "FR 1",
        key: "fr1",
        name: "Identification and authentication control",
        prefix: "SR 1.",
    },
    FoundationalRequirement {
        id: "FR 2",
        key: "fr2",
        name: "Use control",
        prefix: "SR 2.",
    },
    FoundationalRequirement {
        id: "FR 3",
        key: "fr3",
        name: "System integrity",
        prefix: "SR 3.",
    },
    FoundationalRequirement {
        id: "FR 4",
        key: "fr4",
        name: "Data confidentiality",
        prefix: "SR 4.",
    },
    FoundationalRequirement {
        id: "FR 5",
        key: "fr5",
        name: "Restricted data flow",
        prefix: "SR 5.",
    },
    FoundationalRequirement {
        id: "FR 6",
        key: "fr6",
        name: "Timely response to events",
        prefix: "SR 6.",
    },
    FoundationalRequirement {
        id: "FR 7",
        key: "fr7",
        name: "Resource availability",
        prefix: "SR 7.",
    },
];

/// How a zone's target for one FR compares with what zcfw evidences.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FrStatus {
    /// The target is 0: nothing is asked.
    NoTarget,
    /// What zcfw evidences reaches the target (for zcfw's share of the FR only).
    Reached,
    /// What zcfw evidences stays below the target.
    Below,
    /// zcfw serves no requirement of this FR: evidence must come from other components.
    NotEvidenced,
}

impl FrStatus {
    pub const fn label(self) -> &'static str {
        match self {
            FrStatus::NoTarget => "no target",
            FrStatus::Reached => "reached (zcfw's share)",
            FrStatus::Below => "below target",
            FrStatus::NotEvidenced => "not evidenced by zcfw",
        }
    }
}

/// One FR of a zone: target, achieved, and from which requirements.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FrLevel {
    /// `FR 5`.
    pub fr: &'static str,
    pub name: &'static str,
    /// SL-T from the policy, 0..=4.
    pub target: u8,
    /// The level zcfw evidences, 0..=4; `None`: zcfw serves no requirement of the FR.
    pub achieved: Option<u8>,
    pub status: FrStatus,
    /// The report's requirements of this FR (the evidence).
    pub requirements: Vec<&'static str>,
    /// Those that do not hold for this zone at a level up to the target, lowest level first.
    pub gaps: Vec<&'static str>,
}

/// Whether requirement `r` holds for zone `zone`.
fn holds(r: &Requirement, zone: &str, findings: &[Finding]) -> bool {
    let weakening: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.severity >= Severity::Medium && f.requirements.contains(&r.id))
        .collect();
    let here = weakening
        .iter()
        .any(|f| f.zone.is_none() || f.zone.as_deref() == Some(zone));
    match r.status {
        Status::NotMet => false,
        Status::Met | Status::MetByConfiguration => !here,
        // Lowered by findings: holds here if none of them is about this zone. Partially met
        // with no such finding is partial by the policy's facts: it does not hold.
        Status::PartiallyMet => !weakening.is_empty() && !here,
    }
}

/// The FR table of zone `zone` with target vector `target`.
pub(super) fn compare(
    zone: &str,
    target: &[u8; 7],
    requirements: &[Requirement],
    findings: &[Finding],
) -> Vec<FrLevel> {
    FOUNDATIONAL_REQUIREMENTS
        .iter()
        .zip(target)
        .map(|(fr, &target)| {
            let mine: Vec<&Requirement> = requirements
                .iter()
                .filter(|r| r.id.starts_with(fr.prefix))
                .collect();
            let lowest = |r: &Requirement| r.security_levels.iter().copied().min().unwrap_or(1);
            let achieved = if mine.is_empty() {
                None
            } else {
                // The lowest level at which a requirement that does not hold is asked for.
                let fails_at = mine
                    .iter()
                    .filter(|r| !holds(r, zone, findings))
                    .map(|r| lowest(r))
                    .min();
                Some(fails_at.map_or(4, |l| l.saturating_sub(1)))
            };
            let mut gaps: Vec<&Requirement> = mine
                .iter()
                .copied()
                .filter(|r| lowest(r) <= target.max(1) && !holds(r, zone, findings))
                .collect();
            gaps.sort_by_key(|r| lowest(r));
            let status = match achieved {
                _ if target == 0 => FrStatus::NoTarget,
                None => FrStatus::NotEvidenced,
                Some(a) if a >= target => FrStatus::Reached,
                Some(_) => FrStatus::Below,
            };
            FrLevel {
                fr: fr.id,
                name: fr.name,
                target,
                achieved,
                status,
                requirements: mine.iter().map(|r| r.id).collect(),
                gaps: gaps.iter().map(|r| r.id).collect(),
            }
        })
        .collect()
}
