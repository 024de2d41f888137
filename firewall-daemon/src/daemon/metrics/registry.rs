//! The metrics themselves. A scrape reads what it reports from the daemon's state under its
//! lock ([`Scrape::gather`]: kernel counters, island and monitor state, conntrack fill, reload
//! results) and encodes it after ([`Scrape::encode`], OpenMetrics text by `prometheus-client`;
//! `exposition.rs` turns it into the Prometheus text format when that is what is asked for).
//!
//! Every family has HELP and TYPE; counters end in `_total` (in OpenMetrics the family is
//! named without it, as the format wants). Per-conduit series exist only where they can count
//! something (docs/service.md, "Cardinality"): a conduit's inspection denies for the reasons of
//! the protocols it inspects, and what was done with them for the actions its `on_violation`
//! and mode can take; any other one only once it has counted.

use std::{
    sync::Mutex,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use anyhow::{Context, Result};
use firewall_common::{
    event::action,
    maps::{capacity, slot_flags},
    reason::Reason,
};
use prometheus_client::{
    encoding::text::encode,
    metrics::{counter::Counter, family::Family, gauge::Gauge, info::Info},
    registry::Registry,
};

use crate::{
    compile::ConduitSummary,
    daemon::{State, stats::DenyListing},
    dataplane::CounterSnapshot,
    policy::{Mode, OnViolation},
};

type Labels = Vec<(String, String)>;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Seconds since the Unix epoch.
fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// How often the conntrack table is counted at most: counting walks it key by key (one
/// syscall per entry, about a tenth of a second for a full table), under the state lock.
pub const CONNTRACK_COUNT_INTERVAL: Duration = Duration::from_secs(10);

/// The last count of the conntrack table, reused by scrapes within
/// [`CONNTRACK_COUNT_INTERVAL`].
#[derive(Default)]
pub struct ConntrackCount(Mutex<Option<(Instant, u64)>>);

impl ConntrackCount {
    fn entries(&self, state: &State) -> Result<u64> {
        let mut last = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, n)) = *last
            && at.elapsed() < CONNTRACK_COUNT_INTERVAL
        {
            return Ok(n);
        }
        let n = state
            .dataplane
            .flow_entries()
            .context("cannot count the conntrack entries")?;
        *last = Some((Instant::now(), n));
        Ok(n)
    }
}

/// Reloads since the daemon started (SIGHUP and `zcfw reload`), for the metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct ReloadStats {
    pub ok: u64,
    pub refused: u64,
    /// When the last reload ended, and whether its policy went live.
    pub last: Option<(SystemTime, bool)>,
}

impl ReloadStats {
    /// Counts a reload that ended now: live (`ok`) or refused.
    pub fn record(&mut self, ok: bool) {
        if ok {
            self.ok += 1;
        } else {
            self.refused += 1;
        }
        self.last = Some((SystemTime::now(), ok));
    }
}

/// One conduit's series.
#[derive(Debug, Clone, PartialEq)]
pub struct ConduitSample {
    pub name: String,
    pub from: String,
    pub to: String,
    pub packets: u64,
    pub bytes: u64,
    /// Inspection denies, by reason: the ones that can count (see the module doc).
    pub denied: Vec<(Reason, u64)>,
    /// What was done with them, by `event::action`: the ones that can count.
    pub actions: Vec<(u8, u64)>,
    /// Packets the conduit lookup matched to each of its rules, by rule id (every rule).
    pub rules: Vec<(u16, u64)>,
}

/// One interface's series.
#[derive(Debug, Clone, PartialEq)]
pub struct InterfaceSample {
    pub name: String,
    pub passed: firewall_common::maps::Counter,
    pub dropped: firewall_common::maps::Counter,
    pub attached: bool,
}

/// Everything one scrape reports.
#[derive(Debug, Clone, PartialEq)]
pub struct Scrape {
    pub conduits: Vec<ConduitSample>,
    pub reasons: Vec<(Reason, firewall_common::maps::Counter)>,
    pub interfaces: Vec<InterfaceSample>,
    pub xdp_repairs: u64,
    /// Events sent, suppressed by the per-CPU bucket of each class, lost to a full ring.
    pub events: crate::dataplane::EventPathCounters,
    pub generation: u32,
    pub policy_name: String,
    pub policy_hash: String,
    pub load_seconds: f64,
    pub loaded_at: f64,
    pub process_start: f64,
    pub uptime_seconds: f64,
    pub island: bool,
    /// The whole policy is in monitor mode.
    pub monitor: bool,
    /// Conduits in monitor mode.
    pub monitor_conduits: usize,
    pub conntrack_entries: u64,
    pub reloads: ReloadStats,
}

/// Actions a conduit's inspection denies can take, in `action::ALL` order.
fn possible_actions(on_violation: OnViolation, monitor: bool) -> Vec<u8> {
    if monitor {
        return vec![action::ALERT];
    }
    match on_violation {
        OnViolation::Drop => vec![action::DROP],
        OnViolation::Reset => vec![action::DROP, action::RESET],
        // A deny no exception fits resets the connection.
        OnViolation::Exception => vec![action::DROP, action::RESET, action::EXCEPTION],
    }
}

/// One conduit's series from the counters (`policy_monitor`: the whole policy is in monitor
/// mode): the inspection denies `listing` lists, and the actions its inspection can take.
fn conduit_sample(
    c: &ConduitSummary,
    snapshot: &CounterSnapshot,
    listing: &DenyListing,
    policy_monitor: bool,
) -> ConduitSample {
    let id = c.id as usize;
    let counter = snapshot.conduits.get(id).copied().unwrap_or_default();
    let denied = snapshot
        .conduit_denies
        .get(id)
        .into_iter()
        .flatten()
        .filter(|(reason, d)| listing.lists(c.id, *reason, d))
        .map(|(reason, d)| (*reason, d.packets))
        .collect();
    let possible = if listing.inspects_any(c.id) {
        possible_actions(c.on_violation, policy_monitor || c.mode == Mode::Monitor)
    } else {
        Vec::new()
    };
    let actions = snapshot
        .conduit_actions
        .get(id)
        .into_iter()
        .flatten()
        .filter(|(a, d)| possible.contains(a) || d.packets != 0)
        .map(|(a, d)| (*a, d.packets))
        .collect();
    ConduitSample {
        name: c.name.clone(),
        from: c.from.clone(),
        to: c.to.clone(),
        packets: counter.packets,
        bytes: counter.bytes,
        denied,
        actions,
        rules: Vec::new(),
    }
}

/// The rule counters of conduit `c` (`counters` by rule id).
pub(super) fn rule_samples(
    c: &ConduitSummary,
    counters: &[firewall_common::maps::Counter],
) -> Vec<(u16, u64)> {
    c.rule_ids
        .iter()
        .map(|&id| {
            (
                id,
                counters
                    .get(id as usize)
                    .map_or(0, |counter| counter.packets),
            )
        })
        .collect()
}

impl Scrape {
    /// Reads a scrape from the daemon's state (`conntrack` caches the table's count).
    pub fn gather(state: &mut State, conntrack: &ConntrackCount) -> Result<Scrape> {
        let policy = &state.policy;
        let max_id = policy
            .conduits
            .iter()
            .map(|c| c.id as usize)
            .max()
            .unwrap_or(0);
        let snapshot = state.dataplane.counters(max_id)?;
        let listing = DenyListing::of(policy.conduit_entries.iter().map(|(_, a)| a));
        let monitor = policy.slot_flags & slot_flags::MONITOR != 0;
        let max_rule = policy
            .conduits
            .iter()
            .flat_map(|c| c.rule_ids.iter().map(|&id| id as usize))
            .max()
            .unwrap_or(0);
        let rule_counters = state.dataplane.rule_counters(max_rule)?;
        let conduits = policy
            .conduits
            .iter()
            .map(|c| ConduitSample {
                rules: rule_samples(c, &rule_counters),
                ..conduit_sample(c, &snapshot, &listing, monitor)
            })
            .collect();
        let mut interfaces = Vec::new();
        for a in state.dataplane.attachments() {
            let (passed, dropped) = state.dataplane.iface_counters(a.ifindex)?;
            interfaces.push(InterfaceSample {
                name: a.iface.clone(),
                passed,
                dropped,
                attached: state.health.enforced(&a.iface),
            });
        }
        let uptime = state.started.elapsed();
        Ok(Scrape {
            conduits,
            reasons: snapshot.reasons,
            interfaces,
            xdp_repairs: state.health.repairs,
            events: state.dataplane.event_counters()?,
            generation: state.dataplane.generation(),
            policy_name: policy.name.clone(),
            policy_hash: policy.hash.clone(),
            load_seconds: state.load_time.as_secs_f64(),
            loaded_at: unix_seconds(state.loaded_at),
            process_start: unix_seconds(SystemTime::now()) - uptime.as_secs_f64(),
            uptime_seconds: uptime.as_secs_f64(),
            monitor,
            monitor_conduits: policy
                .conduits
                .iter()
                .filter(|c| c.mode == Mode::Monitor)
                .count(),
            conntrack_entries: conntrack.entries(state)?,
            reloads: state.reload_stats,
            island: state.dataplane.island()?,
        })
    }

    /// The scrape as OpenMetrics text (ends with `# EOF`).
    pub fn encode(&self) -> Result<String> {
        let mut root = Registry::default();
        let start = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        start.set(self.process_start);
        root.register(
            "process_start_time_seconds",
            "Start time of the process since the Unix epoch, in seconds",
            start,
        );
        let registry = root.sub_registry_with_prefix("zcfw");
        self.register_conduits(registry);
        self.register_traffic(registry);
        self.register_state(registry);

        let mut out = String::new();
        encode(&mut out, &root).context("cannot encode the metrics")?;
        Ok(out)
    }

    fn register_conduits(&self, registry: &mut Registry) {
        let conduit_packets = Family::<Labels, Counter>::default();
        let conduit_bytes = Family::<Labels, Counter>::default();
        let conduit_denied = Family::<Labels, Counter>::default();
        let conduit_actions = Family::<Labels, Counter>::default();
        let rule_packets = Family::<Labels, Counter>::default();
        for c in &self.conduits {
            for (id, n) in &c.rules {
                let l = labels(&[("conduit", &c.name), ("rule", &id.to_string())]);
                rule_packets.get_or_create(&l).inc_by(*n);
            }
            let l = labels(&[("conduit", &c.name), ("from", &c.from), ("to", &c.to)]);
            conduit_packets.get_or_create(&l).inc_by(c.packets);
            conduit_bytes.get_or_create(&l).inc_by(c.bytes);
            for (reason, n) in &c.denied {
                let l = labels(&[("conduit", &c.name), ("reason", reason.name())]);
                conduit_denied.get_or_create(&l).inc_by(*n);
            }
            for (a, n) in &c.actions {
                let l = labels(&[("conduit", &c.name), ("action", action::name(*a))]);
                conduit_actions.get_or_create(&l).inc_by(*n);
            }
        }
        registry.register(
            "conduit_packets",
            "Packets a conduit admitted (flow openers and their flows)",
            conduit_packets,
        );
        registry.register("conduit_bytes", "Bytes a conduit admitted", conduit_bytes);
        registry.register(
            "conduit_denied_packets",
            "Packets a conduit's inspection denied, by reason (the reasons of the protocols it inspects, and any other with a count)",
            conduit_denied,
        );
        registry.register(
            "rule_packets",
            "Packets the conduit lookup matched to a rule (the first packet of each flow it allowed, and packets its conduit's rate limit or inspection then denied), by conduit and rule id as zcfw compile lists them; one series per rule",
            rule_packets,
        );
        registry.register(
            "conduit_violation_actions_packets",
            "What was done with the packets a conduit's inspection denied: drop, alert (monitor mode), reset (the connection was reset) or exception (answered with a Modbus exception); the actions its on_violation and mode can take, and any other with a count",
            conduit_actions,
        );
    }

    fn register_traffic(&self, registry: &mut Registry) {
        let reason_packets = Family::<Labels, Counter>::default();
        let reason_bytes = Family::<Labels, Counter>::default();
        for (reason, c) in &self.reasons {
            let verdict = if reason.passes() { "pass" } else { "drop" };
            let l = labels(&[("reason", reason.name()), ("verdict", verdict)]);
            reason_packets.get_or_create(&l).inc_by(c.packets);
            reason_bytes.get_or_create(&l).inc_by(c.bytes);
        }
        registry.register(
            "packets",
            "Packets decided, by reason (default_deny, allowed_conduit, ...)",
            reason_packets,
        );
        registry.register("bytes", "Bytes decided, by reason", reason_bytes);

        let iface_packets = Family::<Labels, Counter>::default();
        let iface_bytes = Family::<Labels, Counter>::default();
        let attached = Family::<Labels, Gauge>::default();
        for i in &self.interfaces {
            for (verdict, c) in [("pass", i.passed), ("drop", i.dropped)] {
                let l = labels(&[("interface", &i.name), ("verdict", verdict)]);
                iface_packets.get_or_create(&l).inc_by(c.packets);
                iface_bytes.get_or_create(&l).inc_by(c.bytes);
            }
            attached
                .get_or_create(&labels(&[("interface", &i.name)]))
                .set(i64::from(i.attached));
        }
        registry.register(
            "interface_packets",
            "Packets that arrived on an interface, passed or dropped",
            iface_packets,
        );
        registry.register(
            "interface_bytes",
            "Bytes that arrived on an interface, passed or dropped",
            iface_bytes,
        );
        registry.register(
            "xdp_attached",
            "1 if the kernel confirmed at the last check that zcfw's program is attached here",
            attached,
        );
        let repairs: Counter = Counter::default();
        repairs.inc_by(self.xdp_repairs);
        registry.register(
            "xdp_repairs",
            "Lost XDP attachments (removed pins, detached links) the daemon put back",
            repairs,
        );

        let events = Family::<Labels, Counter>::default();
        for (outcome, n) in [
            ("sent", self.events.sent),
            ("rate_limited", self.events.rate_limited()),
            ("ring_full", self.events.ring_full),
        ] {
            events
                .get_or_create(&labels(&[("outcome", outcome)]))
                .inc_by(n);
        }
        registry.register(
            "events",
            "Deny/alert events by outcome: sent; suppressed by the per-CPU rate limit (rate_limited); lost to a full ring (ring_full)",
            events,
        );
        let suppressed = Family::<Labels, Counter>::default();
        for class in firewall_common::event::class::ALL {
            suppressed
                .get_or_create(&labels(&[(
                    "class",
                    firewall_common::event::class::name(class),
                )]))
                .inc_by(self.events.suppressed[class as usize]);
        }
        registry.register(
            "events_suppressed",
            "Deny/alert events suppressed by the per-CPU token bucket of their class (inspection, policy, flood; docs/events.md)",
            suppressed,
        );
        let entries = Gauge::<i64>::default();
        entries.set(i64::try_from(self.conntrack_entries).unwrap_or(i64::MAX));
        registry.register(
            "conntrack_entries",
            "Flows in the conntrack table (counted at most every 10 s)",
            entries,
        );
        let capacity = Gauge::<i64>::default();
        capacity.set(i64::from(capacity::FLOWS));
        registry.register(
            "conntrack_capacity",
            "Flows the conntrack table holds; when full the least recently used flow is evicted",
            capacity,
        );
    }

    fn register_state(&self, registry: &mut Registry) {
        registry.register(
            "build",
            "The running zcfw build (value 1)",
            Info::new(labels(&[
                ("version", env!("CARGO_PKG_VERSION")),
                ("abi", &firewall_common::ABI_VERSION.to_string()),
            ])),
        );
        let gauge = |v: i64| {
            let g = Gauge::<i64>::default();
            g.set(v);
            g
        };
        let float = |v: f64| {
            let g = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
            g.set(v);
            g
        };
        registry.register(
            "policy_generation",
            "Generation of the policy in force",
            gauge(i64::from(self.generation)),
        );
        registry.register(
            "policy_load_seconds",
            "Time the last policy load (validate, compile, write, flip) took",
            float(self.load_seconds),
        );
        registry.register(
            "policy_loaded_timestamp_seconds",
            "Unix time the policy in force was loaded",
            float(self.loaded_at.floor()),
        );
        let info = Family::<Labels, Gauge>::default();
        info.get_or_create(&labels(&[
            ("name", &self.policy_name),
            ("hash", &self.policy_hash),
        ]))
        .set(1);
        registry.register("policy_info", "The policy in force (value 1)", info);
        registry.register(
            "uptime_seconds",
            "Seconds since the daemon started",
            gauge(self.uptime_seconds as i64),
        );
        registry.register(
            "island_mode",
            "1 if island mode is on: nothing crosses a zone boundary",
            gauge(i64::from(self.island)),
        );
        registry.register(
            "monitor_mode",
            "1 if the whole policy is in monitor mode: would-be denies pass as alerts",
            gauge(i64::from(self.monitor)),
        );
        registry.register(
            "monitor_conduits",
            "Conduits in monitor mode (their would-be denies pass as alerts)",
            gauge(i64::try_from(self.monitor_conduits).unwrap_or(i64::MAX)),
        );
        let reloads = Family::<Labels, Counter>::default();
        for (result, n) in [("ok", self.reloads.ok), ("refused", self.reloads.refused)] {
            reloads
                .get_or_create(&labels(&[("result", result)]))
                .inc_by(n);
        }
        registry.register(
            "reloads",
            "Policy reloads since the daemon started (SIGHUP, zcfw reload): ok (live) or refused (the running policy stayed)",
            reloads,
        );
        let (last_at, last_ok) = match self.reloads.last {
            Some((at, ok)) => (unix_seconds(at).floor(), i64::from(ok)),
            None => (0.0, 1),
        };
        registry.register(
            "reload_last_timestamp_seconds",
            "Unix time the last reload ended (0: none since the daemon started)",
            float(last_at),
        );
        registry.register(
            "reload_last_success",
            "1 if the last reload went live (or none was asked for), 0 if it was refused",
            gauge(last_ok),
        );
    }
}

#[cfg(test)]
#[path = "registry_tests.rs"]
mod tests;
