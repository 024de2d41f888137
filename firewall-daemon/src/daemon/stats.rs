//! The `stats` and `status` answers, read from the running state and the kernel counters.

use firewall_common::event::action;

use super::State;
use crate::{
    control::{
        stats::{
            ConduitCounter, Count, EventCounters, InterfaceCounters, PolicyIdentity, ReasonCounter,
            Stats,
        },
        status::{
            EnforcementMode, InterfaceAttachment, LoadedPolicy, NotEnforced, Status, XdpCheck,
        },
    },
    dataplane::DataplaneError,
};

/// Counters of the running policy.
pub fn collect(state: &State) -> Result<Stats, DataplaneError> {
    let policy = &state.policy;
    let max_id = policy
        .conduits
        .iter()
        .map(|c| c.id as usize)
        .max()
        .unwrap_or(0);
    let snapshot = state.dataplane.counters(max_id)?;
    let reasons = snapshot
        .reasons
        .iter()
        .map(|(reason, c)| ReasonCounter {
            reason: reason.name().to_owned(),
            passes: reason.passes(),
            packets: c.packets,
            bytes: c.bytes,
        })
        .collect();
    let count = |packets, bytes| Count { packets, bytes };
    let conduits = policy
        .conduits
        .iter()
        .map(|c| {
            let id = c.id as usize;
            let counter = snapshot.conduits.get(id).copied().unwrap_or_default();
            ConduitCounter {
                id: c.id,
                name: c.name.clone(),
                from: c.from.clone(),
                to: c.to.clone(),
                on_violation: c.on_violation.name().to_owned(),
                packets: counter.packets,
                bytes: counter.bytes,
                // Inspection denies of this conduit, by reason.
                denied: snapshot
                    .conduit_denies
                    .get(id)
                    .into_iter()
                    .flatten()
                    .map(|(reason, d)| (reason.name().to_owned(), count(d.packets, d.bytes)))
                    .collect(),
                // What was done with them: drop, alert (monitor mode), reset, exception.
                actions: snapshot
                    .conduit_actions
                    .get(id)
                    .into_iter()
                    .flatten()
                    .map(|(a, d)| (action::name(*a).to_owned(), count(d.packets, d.bytes)))
                    .collect(),
            }
        })
        .collect();
    let [sent, rate_limited, ring_full] = state.dataplane.event_counters()?;
    let mut interfaces = Vec::new();
    for a in state.dataplane.attachments() {
        let (passed, dropped) = state.dataplane.iface_counters(a.ifindex)?;
        interfaces.push(InterfaceCounters {
            name: a.iface.clone(),
            passed: count(passed.packets, passed.bytes),
            dropped: count(dropped.packets, dropped.bytes),
        });
    }
    Ok(Stats {
        events: EventCounters {
            sent,
            rate_limited,
            ring_full,
        },
        interfaces,
        policy: PolicyIdentity {
            name: policy.name.clone(),
            hash: policy.hash.clone(),
            generation: state.dataplane.generation().into(),
        },
        reasons,
        conduits,
    })
}

/// The `status` answer: what is enforced where, since when.
pub fn status(state: &mut State) -> Result<Status, DataplaneError> {
    let island = state.dataplane.island()?;
    let loaded_at_unix = state
        .loaded_at
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let interfaces = state
        .dataplane
        .attachments()
        .iter()
        .map(|a| InterfaceAttachment {
            name: a.iface.clone(),
            ifindex: a.ifindex,
            xdp_mode: a.mode.to_string(),
            // As the kernel said at the last check, not as the daemon remembers it.
            enforced: state.health.enforced(&a.iface),
        })
        .collect();
    let health = &state.health;
    let policy = &state.policy;
    let monitor = policy.slot_flags & firewall_common::maps::slot_flags::MONITOR != 0;
    Ok(Status {
        policy: LoadedPolicy {
            name: policy.name.clone(),
            hash: policy.hash.clone(),
            path: state.policy_path.display().to_string(),
            generation: state.dataplane.generation().into(),
            loaded_at_unix,
            load_ms: state.load_time.as_secs_f64() * 1000.0,
            zones: policy.zones.len(),
            conduits: policy.conduits.len(),
        },
        interfaces,
        xdp_check: XdpCheck {
            interval_s: super::watch::CHECK_INTERVAL.as_secs_f64(),
            last_s_ago: health
                .checked_at
                .and_then(|t| t.elapsed().ok())
                .map(|d| d.as_secs_f64()),
            repairs: health.repairs,
            not_enforced: health
                .not_enforced
                .iter()
                .map(|(interface, why)| NotEnforced {
                    interface: interface.clone(),
                    why: why.clone(),
                })
                .collect(),
        },
        island,
        // Who is not enforcing: the whole policy, or single conduits (SR 5.2).
        mode: if monitor {
            EnforcementMode::Monitor
        } else {
            EnforcementMode::Enforce
        },
        monitor_conduits: policy
            .conduits
            .iter()
            .filter(|c| c.mode == crate::policy::Mode::Monitor)
            .map(|c| c.name.clone())
            .collect(),
        pin_dir: state.dataplane.pin_dir().map(|d| d.display().to_string()),
        uptime_s: state.started.elapsed().as_secs(),
    })
}
