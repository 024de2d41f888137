//! The `stats` answer: policy identity, counters per reason and per conduit.

use firewall_common::event::action;
use serde_json::{Value, json};

use super::State;
use crate::dataplane::DataplaneError;

/// Counters of the running policy as the documented JSON object.
pub fn collect(state: &State) -> Result<Value, DataplaneError> {
    let policy = &state.policy;
    let max_id = policy
        .conduits
        .iter()
        .map(|c| c.id as usize)
        .max()
        .unwrap_or(0);
    let snapshot = state.dataplane.counters(max_id)?;
    let reasons: Vec<Value> = snapshot
        .reasons
        .iter()
        .map(|(reason, c)| {
            json!({
                "reason": reason.name(),
                "passes": reason.passes(),
                "packets": c.packets,
                "bytes": c.bytes,
            })
        })
        .collect();
    let conduits: Vec<Value> = policy
        .conduits
        .iter()
        .map(|c| {
            let counter = snapshot
                .conduits
                .get(c.id as usize)
                .copied()
                .unwrap_or_default();
            // Inspection denies of this conduit, by reason.
            let denied: serde_json::Map<String, Value> = snapshot
                .conduit_denies
                .get(c.id as usize)
                .into_iter()
                .flatten()
                .map(|(reason, d)| {
                    let counts = json!({"packets": d.packets, "bytes": d.bytes});
                    (reason.name().to_owned(), counts)
                })
                .collect();
            // What was done with them: drop, alert (monitor mode), reset.
            let actions: serde_json::Map<String, Value> = snapshot
                .conduit_actions
                .get(c.id as usize)
                .into_iter()
                .flatten()
                .map(|(a, d)| {
                    let counts = json!({"packets": d.packets, "bytes": d.bytes});
                    (action::name(*a).to_owned(), counts)
                })
                .collect();
            json!({
                "id": c.id,
                "name": c.name,
                "from": c.from,
                "to": c.to,
                "on_violation": c.on_violation.name(),
                "packets": counter.packets,
                "bytes": counter.bytes,
                "denied": denied,
                "actions": actions,
            })
        })
        .collect();
    let [sent, rate_limited, ring_full] = state.dataplane.event_counters()?;
    let mut interfaces = Vec::new();
    for a in state.dataplane.attachments() {
        let (passed, dropped) = state.dataplane.iface_counters(a.ifindex)?;
        interfaces.push(json!({
            "name": a.iface,
            "passed": { "packets": passed.packets, "bytes": passed.bytes },
            "dropped": { "packets": dropped.packets, "bytes": dropped.bytes },
        }));
    }
    Ok(json!({
        "events": { "sent": sent, "rate_limited": rate_limited, "ring_full": ring_full },
        "interfaces": interfaces,
        "policy": { "name": policy.name, "hash": policy.hash, "generation": state.dataplane.generation() },
        "reasons": reasons,
        "conduits": conduits,
    }))
}

/// The `status` answer: what is enforced where, since when.
pub fn status(state: &mut State) -> Result<Value, DataplaneError> {
    let island = state.dataplane.island()?;
    let loaded_at = state
        .loaded_at
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let interfaces: Vec<Value> = state
        .dataplane
        .attachments()
        .iter()
        .map(|a| {
            json!({
                "name": a.iface,
                "ifindex": a.ifindex,
                "xdp_mode": a.mode,
                // As the kernel said at the last check, not as the daemon remembers it.
                "enforced": state.health.enforced(&a.iface),
            })
        })
        .collect();
    let health = &state.health;
    let checked_ago = health
        .checked_at
        .and_then(|t| t.elapsed().ok())
        .map(|d| d.as_secs_f64());
    Ok(json!({
        "policy": {
            "name": state.policy.name,
            "hash": state.policy.hash,
            "path": state.policy_path.display().to_string(),
            "generation": state.dataplane.generation(),
            "loaded_at_unix": loaded_at,
            "load_ms": state.load_time.as_secs_f64() * 1000.0,
            "zones": state.policy.zones.len(),
            "conduits": state.policy.conduits.len(),
        },
        "interfaces": interfaces,
        "xdp_check": {
            "interval_s": super::watch::CHECK_INTERVAL.as_secs_f64(),
            "last_s_ago": checked_ago,
            "repairs": health.repairs,
            "not_enforced": health.not_enforced.iter()
                .map(|(iface, why)| json!({ "interface": iface, "why": why }))
                .collect::<Vec<_>>(),
        },
        "island": island,
        // Who is not enforcing: the whole policy, or single conduits (SR 5.2).
        "mode": if state.policy.slot_flags & firewall_common::maps::slot_flags::MONITOR != 0 { "monitor" } else { "enforce" },
        "monitor_conduits": state.policy.conduits.iter()
            .filter(|c| c.mode == crate::policy::Mode::Monitor)
            .map(|c| c.name.clone())
            .collect::<Vec<_>>(),
        "pin_dir": state.dataplane.pin_dir().map(|d| d.display().to_string()),
        "uptime_s": state.started.elapsed().as_secs(),
    }))
}
