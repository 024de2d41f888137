//! The `stats` answer: policy identity, counters per reason, per conduit and per interface
//! (the object README.md documents).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What `zcfw stats --json` prints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub events: EventCounters,
    pub interfaces: Vec<InterfaceCounters>,
    pub policy: PolicyIdentity,
    /// Every reason slot, passed and dropped alike.
    pub reasons: Vec<ReasonCounter>,
    pub conduits: Vec<ConduitCounter>,
    /// What became of the denied frames `zcfw capture` asked for.
    #[serde(default)]
    pub capture: CaptureCounters,
}

/// Denied frames the data path copied for `zcfw capture` clients (only while one is
/// connected).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureCounters {
    /// Copied to the capture ring.
    pub sent: u64,
    /// Not copied: the per-CPU capture bucket was empty (a flood).
    pub rate_limited: u64,
    /// Lost because the capture ring was full.
    pub ring_full: u64,
}

/// Packets and bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Count {
    pub packets: u64,
    pub bytes: u64,
}

/// What became of the events the data path wanted to send.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventCounters {
    pub sent: u64,
    /// Suppressed by the per-CPU token buckets (`--event-rate`), every class.
    pub rate_limited: u64,
    /// Lost because the daemon fell behind.
    pub ring_full: u64,
    /// `rate_limited` by event class (docs/events.md, "Classes and budgets"). Absent from a
    /// daemon older than the classes.
    #[serde(default)]
    pub suppressed: SuppressedByClass,
}

/// Events suppressed by the token bucket of each event class (`firewall_common::event::class`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuppressedByClass {
    pub inspection: u64,
    pub policy: u64,
    pub flood: u64,
}

impl SuppressedByClass {
    /// From counts indexed by class.
    pub fn from_classes(counts: [u64; firewall_common::event::class::COUNT as usize]) -> Self {
        use firewall_common::event::class;
        SuppressedByClass {
            inspection: counts[class::INSPECTION as usize],
            policy: counts[class::POLICY as usize],
            flood: counts[class::FLOOD as usize],
        }
    }
}

/// Passed and dropped traffic of one ingress interface.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterfaceCounters {
    pub name: String,
    pub passed: Count,
    pub dropped: Count,
}

/// Which policy the counters belong to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyIdentity {
    pub name: String,
    pub hash: String,
    pub generation: u64,
}

/// Packets and bytes decided for one reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReasonCounter {
    pub reason: String,
    /// Whether packets of this reason pass (`allowed_*`, `alert`) or are dropped.
    pub passes: bool,
    pub packets: u64,
    pub bytes: u64,
}

/// What one conduit admitted, what its inspection denied and what was done about it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConduitCounter {
    pub id: u16,
    pub name: String,
    pub from: String,
    pub to: String,
    /// `drop`, `reset` or `exception`.
    pub on_violation: String,
    /// Admitted: flow openers and conntrack hits of its flows.
    pub packets: u64,
    pub bytes: u64,
    /// Inspection denies, by reason.
    pub denied: BTreeMap<String, Count>,
    /// What was done with them, by action: `drop`, `alert` (monitor mode), `reset`,
    /// `exception`.
    pub actions: BTreeMap<String, Count>,
    /// Its rules in policy order, with the packets the conduit lookup matched to each.
    #[serde(default)]
    pub rules: Vec<RuleCounter>,
}

/// Packets the conduit lookup matched to one rule: the first packet of each flow it allowed
/// (later packets of a flow are conntrack hits, counted per conduit), packets of flows its
/// rate limit or inspection then denied included. A rule at 0 is unused since the daemon
/// created its maps (or a first-match earlier rule takes all its traffic).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleCounter {
    /// Rule id (`zcfw compile` lists them), numbered in file order from 1.
    pub id: u16,
    /// The rule as `zcfw compile` prints it (`tcp 502 modbus`).
    pub rule: String,
    pub packets: u64,
    pub bytes: u64,
}

impl ConduitCounter {
    /// Packets that got `action` (0 if it is not listed).
    pub fn action_packets(&self, action: &str) -> u64 {
        self.actions.get(action).map_or(0, |c| c.packets)
    }
}

impl Stats {
    /// Packets counted under `reason` (0 if it is not listed).
    pub fn reason_packets(&self, reason: &str) -> u64 {
        self.reasons
            .iter()
            .find(|r| r.reason == reason)
            .map_or(0, |r| r.packets)
    }

    /// The conduit named `name`, if the policy has one.
    pub fn conduit(&self, name: &str) -> Option<&ConduitCounter> {
        self.conduits.iter().find(|c| c.name == name)
    }
}
