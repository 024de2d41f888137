//! The metrics themselves: counters by conduit, reason and interface, inspection denies,
//! event counters, policy generation and load time. Each scrape reads the kernel counters and
//! encodes them with `prometheus-client` (OpenMetrics text; `exposition.rs` turns it into the
//! Prometheus text format when that is what the scraper asks for).

use std::sync::Mutex;

use anyhow::{Context, Result};
use prometheus_client::{
    encoding::text::encode,
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::Registry,
};

use crate::daemon::{State, lock, stats::DenyListing};

type Labels = Vec<(String, String)>;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The metrics of the current counters, as OpenMetrics text (ends with `# EOF`).
pub fn render(state: &Mutex<State>) -> Result<String> {
    render_state(&lock(state))
}

fn render_state(state: &State) -> Result<String> {
    let mut registry = Registry::with_prefix("zcfw");
    let snapshot = {
        let max_id = state
            .policy
            .conduits
            .iter()
            .map(|c| c.id as usize)
            .max()
            .unwrap_or(0);
        state.dataplane.counters(max_id)?
    };

    let listing = DenyListing::of(state.policy.conduit_entries.iter().map(|(_, a)| a));
    let conduit_packets = Family::<Labels, Counter>::default();
    let conduit_bytes = Family::<Labels, Counter>::default();
    let conduit_denied = Family::<Labels, Counter>::default();
    let conduit_actions = Family::<Labels, Counter>::default();
    for c in &state.policy.conduits {
        let l = labels(&[("conduit", &c.name), ("from", &c.from), ("to", &c.to)]);
        let counter = snapshot
            .conduits
            .get(c.id as usize)
            .copied()
            .unwrap_or_default();
        conduit_packets.get_or_create(&l).inc_by(counter.packets);
        conduit_bytes.get_or_create(&l).inc_by(counter.bytes);
        for (reason, d) in snapshot
            .conduit_denies
            .get(c.id as usize)
            .into_iter()
            .flatten()
            .filter(|(reason, d)| listing.lists(c.id, *reason, d))
        {
            let l = labels(&[("conduit", &c.name), ("reason", reason.name())]);
            conduit_denied.get_or_create(&l).inc_by(d.packets);
        }
        for (a, d) in snapshot
            .conduit_actions
            .get(c.id as usize)
            .into_iter()
            .flatten()
        {
            let l = labels(&[
                ("conduit", &c.name),
                ("action", firewall_common::event::action::name(*a)),
            ]);
            conduit_actions.get_or_create(&l).inc_by(d.packets);
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
        "conduit_violation_actions_packets",
        "What was done with the packets a conduit's inspection denied: drop, alert (monitor mode), reset (the connection was reset) or exception (answered with a Modbus exception)",
        conduit_actions,
    );

    let reason_packets = Family::<Labels, Counter>::default();
    let reason_bytes = Family::<Labels, Counter>::default();
    for (reason, c) in &snapshot.reasons {
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
    for a in state.dataplane.attachments() {
        let (passed, dropped) = state.dataplane.iface_counters(a.ifindex)?;
        for (verdict, c) in [("pass", passed), ("drop", dropped)] {
            let l = labels(&[("interface", &a.iface), ("verdict", verdict)]);
            iface_packets.get_or_create(&l).inc_by(c.packets);
            iface_bytes.get_or_create(&l).inc_by(c.bytes);
        }
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

    let attached = Family::<Labels, Gauge>::default();
    for a in state.dataplane.attachments() {
        attached
            .get_or_create(&labels(&[("interface", &a.iface)]))
            .set(i64::from(state.health.enforced(&a.iface)));
    }
    registry.register(
        "xdp_attached",
        "1 if the kernel confirmed at the last check that zcfw's program is attached here",
        attached,
    );
    let repairs: Counter = Counter::default();
    repairs.inc_by(state.health.repairs);
    registry.register(
        "xdp_repairs",
        "Lost XDP attachments (removed pins, detached links) the daemon put back",
        repairs,
    );

    let [sent, rate_limited, ring_full] = state.dataplane.event_counters()?;
    let events = Family::<Labels, Counter>::default();
    for (outcome, n) in [
        ("sent", sent),
        ("rate_limited", rate_limited),
        ("ring_full", ring_full),
    ] {
        events
            .get_or_create(&labels(&[("outcome", outcome)]))
            .inc_by(n);
    }
    registry.register(
        "events",
        "Deny/alert events: sent, suppressed by the per-CPU bucket, lost to a full ring",
        events,
    );

    let generation = Gauge::<i64>::default();
    generation.set(i64::from(state.dataplane.generation()));
    registry.register(
        "policy_generation",
        "Generation of the policy in force",
        generation,
    );
    let load = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
    load.set(state.load_time.as_secs_f64());
    registry.register(
        "policy_load_seconds",
        "Time the last policy load (validate, compile, write, flip) took",
        load,
    );
    let loaded_at = Gauge::<i64>::default();
    loaded_at.set(
        state
            .loaded_at
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0),
    );
    registry.register(
        "policy_loaded_timestamp_seconds",
        "Unix time the policy in force was loaded",
        loaded_at,
    );
    let info = Family::<Labels, Gauge>::default();
    info.get_or_create(&labels(&[
        ("name", &state.policy.name),
        ("hash", &state.policy.hash),
    ]))
    .set(1);
    registry.register("policy_info", "The policy in force (value 1)", info);
    let uptime = Gauge::<i64>::default();
    uptime.set(state.started.elapsed().as_secs() as i64);
    registry.register("uptime_seconds", "Seconds since the daemon started", uptime);

    let mut out = String::new();
    encode(&mut out, &registry).context("cannot encode the metrics")?;
    Ok(out)
}
