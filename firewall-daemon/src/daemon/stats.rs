//! The `stats` and `status` answers, read from the running state and the kernel counters.

use firewall_common::{
    event::action,
    maps::{ConduitAction, Counter},
    reason::Reason,
};

use super::State;
use crate::{
    compile::CompiledPolicy,
    control::{
        stats::{
            CaptureCounters, ConduitCounter, Count, EventCounters, InterfaceCounters,
            PolicyIdentity, ReasonCounter, RuleCounter, Stats, SuppressedByClass,
        },
        status::{
            EnforcementMode, FastPathFallback, FastPathStatus, InterfaceAttachment, LoadedPolicy,
            NotEnforced, PacketCount, Status, XdpCheck,
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
    let max_rule = policy
        .conduits
        .iter()
        .flat_map(|c| c.rule_ids.iter().map(|&id| id as usize))
        .max()
        .unwrap_or(0);
    let rule_counters = state.dataplane.rule_counters(max_rule)?;
    let listing = DenyListing::of(policy.conduit_entries.iter().map(|(_, a)| a));
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
                // Inspection denies of this conduit, by reason: its protocols' reasons.
                denied: snapshot
                    .conduit_denies
                    .get(id)
                    .into_iter()
                    .flatten()
                    .filter(|(reason, d)| listing.lists(c.id, *reason, d))
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
                rules: c
                    .rule_ids
                    .iter()
                    .zip(&c.rules)
                    .map(|(&id, rule)| {
                        let n = rule_counters.get(id as usize).copied().unwrap_or_default();
                        RuleCounter {
                            id,
                            rule: rule.clone(),
                            packets: n.packets,
                            bytes: n.bytes,
                        }
                    })
                    .collect(),
            }
        })
        .collect();
    let ev = state.dataplane.event_counters()?;
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
            sent: ev.sent,
            rate_limited: ev.rate_limited(),
            ring_full: ev.ring_full,
            suppressed: SuppressedByClass::from_classes(ev.suppressed),
        },
        interfaces,
        policy: PolicyIdentity {
            name: policy.name.clone(),
            hash: policy.hash.clone(),
            generation: state.dataplane.generation().into(),
        },
        reasons,
        conduits,
        capture: {
            let [sent, rate_limited, ring_full] = state.dataplane.capture_counters()?;
            CaptureCounters {
                sent,
                rate_limited,
                ring_full,
            }
        },
    })
}

/// Rule ids whose counters a reload from `old` to `new` must set back to zero: ids whose
/// rule (conduit and rule text) is not the same in both, and ids only `old` has. A rule that
/// kept its id keeps counting.
pub(super) fn renumbered_rules(old: &CompiledPolicy, new: &CompiledPolicy) -> Vec<u16> {
    fn by_id(p: &CompiledPolicy) -> std::collections::BTreeMap<u16, (&str, &str)> {
        p.conduits
            .iter()
            .flat_map(|c| {
                c.rule_ids
                    .iter()
                    .zip(&c.rules)
                    .map(|(&id, rule)| (id, (c.name.as_str(), rule.as_str())))
            })
            .collect()
    }
    let (old, new) = (by_id(old), by_id(new));
    let mut ids: Vec<u16> = new
        .iter()
        .filter(|(id, rule)| old.get(id) != Some(rule))
        .map(|(&id, _)| id)
        .chain(old.keys().filter(|id| !new.contains_key(id)).copied())
        .collect();
    ids.sort_unstable();
    ids
}

/// Which inspection-deny reasons a conduit lists in `zcfw stats` and the metrics: every reason
/// of each protocol its rules inspect (zero or not, so a scraper sees the series from the
/// start), and any other reason with a count (the conduit inspected that protocol under an
/// earlier policy). A conduit that inspects nothing lists nothing until something counts.
pub(super) struct DenyListing {
    /// Bit `1 << inspector` for each protocol a conduit inspects, by conduit id.
    inspected: Vec<u8>,
}

impl DenyListing {
    /// From the conduit entries of a compiled policy (each says which protocol its rule
    /// inspects).
    pub(super) fn of<'a>(entries: impl IntoIterator<Item = &'a ConduitAction>) -> Self {
        let mut inspected = Vec::new();
        for a in entries {
            let id = a.conduit_id as usize;
            if inspected.len() <= id {
                inspected.resize(id + 1, 0u8);
            }
            if let Some(bit) = 1u8.checked_shl(u32::from(a.inspector)) {
                inspected[id] |= bit;
            }
        }
        DenyListing { inspected }
    }

    /// Whether `conduit` inspects any protocol.
    pub(super) fn inspects_any(&self, conduit: u16) -> bool {
        let protocols = self.inspected.get(conduit as usize).copied().unwrap_or(0);
        protocols & !(1u8 << firewall_common::maps::inspector::NONE) != 0
    }

    /// Whether `conduit` lists `reason`, counted `count`.
    pub(super) fn lists(&self, conduit: u16, reason: Reason, count: &Counter) -> bool {
        let protocols = self.inspected.get(conduit as usize).copied().unwrap_or(0);
        let inspects = reason.is_inspection()
            && 1u8
                .checked_shl(u32::from(reason.inspector()))
                .is_some_and(|bit| protocols & bit != 0);
        inspects || count.packets != 0
    }
}

/// The `status` answer: what is enforced where, since when.
pub fn status(state: &mut State) -> Result<Status, DataplaneError> {
    let island = state.dataplane.island()?;
    let loaded_at_unix = state
        .loaded_at
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    // The bridge mirror, read once (it is empty unless a `fast_path` port is a bridge port).
    let mirrored = if state.policy.interfaces.iter().any(|i| i.fast_path) {
        state.dataplane.bridge_fdb_ports().unwrap_or_default()
    } else {
        Vec::new()
    };
    let interfaces = state
        .dataplane
        .attachments()
        .iter()
        .map(|a| {
            let role = crate::dataplane::bridge::role(&a.iface, a.ifindex);
            InterfaceAttachment {
                name: a.iface.clone(),
                ifindex: a.ifindex,
                bridge: match &role {
                    crate::dataplane::bridge::BridgeRole::Port(bridge) => Some(bridge.clone()),
                    _ => None,
                },
                is_bridge: role == crate::dataplane::bridge::BridgeRole::Bridge,
                xdp_mode: a.mode.to_string(),
                // As the kernel said at the last check, not as the daemon remembers it.
                enforced: state.health.enforced(&a.iface),
                fast_path: fast_path_status(state, &a.iface, a.ifindex, &mirrored),
            }
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

/// The fast path of interface `iface` for `status`: `None` unless the policy asks for it.
/// `mirrored`: the port of every address in the bridge mirror (read once per status).
fn fast_path_status(
    state: &State,
    iface: &str,
    ifindex: u32,
    mirrored: &[u32],
) -> Option<FastPathStatus> {
    use firewall_common::forward::cause;
    let wanted = state
        .policy
        .interfaces
        .iter()
        .any(|i| i.name == iface && i.fast_path);
    if !wanted {
        return None;
    }
    // A bridge port: switched by the mirror of its bridge's forwarding database, unless the
    // bridge does not forward on it (or filters VLANs).
    let port = crate::dataplane::bridge::port_entry(iface, ifindex);
    let mirrored_addresses = port
        .as_ref()
        .map(|_| mirrored.iter().filter(|p| **p == ifindex).count() as u64);
    let unavailable = match port {
        Some((_, Err(why))) => Some(format!("bridge port: {why}; its frames go to the bridge")),
        Some((_, Ok(()))) if !state.dataplane.bridge_mirror_fresh() => Some(
            "bridge port: the mirror of the bridge's forwarding database is not current (the \
             daemon's log says why); its frames go to the bridge"
                .to_owned(),
        ),
        _ => None,
    };
    // Counters that cannot be read show as zero; `status` still answers.
    let counts = state
        .dataplane
        .fast_path_counters(ifindex)
        .unwrap_or_default();
    let count = |c: &firewall_common::maps::Counter| PacketCount {
        packets: c.packets,
        bytes: c.bytes,
    };
    Some(FastPathStatus {
        active: unavailable.is_none(),
        unavailable,
        mirrored_addresses,
        forwarded: count(&counts[cause::FORWARDED]),
        to_stack: counts
            .iter()
            .zip(cause::NAMES)
            .skip(1)
            .map(|(c, name)| FastPathFallback {
                cause: name.to_owned(),
                packets: c.packets,
                bytes: c.bytes,
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use firewall_common::maps::inspector;

    use super::*;

    fn entry(conduit_id: u16, inspector: u8) -> ConduitAction {
        ConduitAction {
            conduit_id,
            inspector,
            ..ConduitAction::default()
        }
    }

    fn listed(l: &DenyListing, conduit: u16, packets: u64) -> Vec<&'static str> {
        let count = Counter { packets, bytes: 0 };
        Reason::ALL
            .into_iter()
            .filter(|r| r.is_inspection() && l.lists(conduit, *r, &count))
            .map(Reason::name)
            .collect()
    }

    #[test]
    fn a_conduit_lists_the_reasons_of_the_protocols_it_inspects() {
        // 1: TCP only; 2: IEC 104 and a TCP rule; 3: Modbus and DNP3 (two rules).
        let entries = [
            entry(1, inspector::NONE),
            entry(2, inspector::IEC104),
            entry(2, inspector::NONE),
            entry(3, inspector::MODBUS),
            entry(3, inspector::DNP3),
            entry(3, inspector::DNP3),
        ];
        let l = DenyListing::of(&entries);
        assert_eq!(listed(&l, 1, 0), Vec::<&str>::new());
        assert_eq!(
            listed(&l, 2, 0),
            [
                "iec104_malformed",
                "iec104_type_id",
                "iec104_common_address",
                "iec104_cause",
                "iec104_direction",
                "iec104_not_started"
            ]
        );
        let three = listed(&l, 3, 0);
        assert_eq!(three.len(), 5 + 6, "{three:?}");
        assert!(
            three
                .iter()
                .all(|r| r.starts_with("modbus_") || r.starts_with("dnp3_"))
        );
        // A count is never hidden, whatever the conduit inspects now (or a conduit id the
        // entries do not know).
        assert_eq!(listed(&l, 1, 2).len(), 5 + 6 + 6 + 6 + 6 + 6 + 5);
        assert_eq!(listed(&l, 99, 1).len(), 5 + 6 + 6 + 6 + 6 + 6 + 5);
        assert!(!l.lists(2, Reason::DefaultDeny, &Counter::default()));
    }

    #[test]
    fn a_reload_resets_only_the_rules_that_changed_place() {
        let compiled = |yaml: &str| {
            let v = crate::policy::load_str(yaml, "r.yaml").unwrap_or_else(|e| panic!("{e}"));
            crate::compile::compile(&v).unwrap_or_else(|e| panic!("{e}"))
        };
        let head = "version: 1\nname: r\ninterfaces: [{ name: eth0 }]\nzones:\n  a: { security_level: 1, networks: [10.1.0.0/24] }\n  b: { security_level: 2, networks: [10.2.0.0/24] }\nconduits:\n";
        let old = compiled(&format!(
            "{head}  - {{ name: web, from: a, to: b, rules: [{{ protocol: tcp, ports: [443] }}, {{ protocol: tcp, ports: [22] }}] }}\n  - {{ name: dns, from: b, to: a, rules: [{{ protocol: udp, ports: [53] }}] }}\n"
        ));
        assert_eq!(renumbered_rules(&old, &old), Vec::<u16>::new());
        // tcp 22 removed: dns' rule moves from id 3 to 2, id 3 is gone.
        let new = compiled(&format!(
            "{head}  - {{ name: web, from: a, to: b, rules: [{{ protocol: tcp, ports: [443] }}] }}\n  - {{ name: dns, from: b, to: a, rules: [{{ protocol: udp, ports: [53] }}] }}\n"
        ));
        assert_eq!(renumbered_rules(&old, &new), [2, 3]);
    }
}
