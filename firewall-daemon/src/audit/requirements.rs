//! The IEC 62443-3-3 system requirements a zone-and-conduit firewall serves, and how far a
//! policy (and the running zcfw) meets each.
//!
//! Each requirement gets a base status from facts of the policy (or
//! [`Status::MetByConfiguration`] where the running zcfw meets it whatever the policy says);
//! a finding of medium or higher severity that names the requirement then lowers `met` and
//! `met by the running configuration` to `partially met`.

use super::{Finding, Requirement, Severity, Status, rules};
use crate::policy::{LogMode, Protocol, Rule, ValidatedPolicy, plural};

/// A requirement of the table: id, title, SLs and what the running zcfw does for it.
struct Definition {
    id: &'static str,
    title: &'static str,
    levels: &'static [u8],
    zcfw: &'static str,
}

const SR_5_1: Definition = Definition {
    id: "SR 5.1",
    title: "Network segmentation",
    levels: &[1, 2, 3, 4],
    zcfw: "Every packet's source and destination zone come from a longest-prefix match of its addresses on the zones' networks. On an interface with a `zones:` list, a source of any other zone is dropped as spoofed_source.",
};
const SR_5_2: Definition = Definition {
    id: "SR 5.2",
    title: "Zone boundary protection",
    levels: &[1, 2, 3, 4],
    zcfw: "XDP decides every packet that crosses a zone boundary at the driver, before the kernel stack. Only a conduit rule opens a flow, in one direction; its replies pass statefully, and nothing else flows back.",
};
const SR_5_2_RE1: Definition = Definition {
    id: "SR 5.2 RE1",
    title: "Deny by default, allow by exception",
    levels: &[2, 3, 4],
    zcfw: "The data path denies by default: a packet between zones that no conduit rule matches is dropped and counted as default_deny. `defaults.action: deny` is the only action the policy language accepts.",
};
const SR_5_2_RE2: Definition = Definition {
    id: "SR 5.2 RE2",
    title: "Island mode",
    levels: &[3, 4],
    zcfw: "`zcfw island on` drops every packet that crosses a zone boundary, established flows included, and keeps the policy loaded; `zcfw island off` restores it. Intra-zone traffic keeps its policy.",
};
const SR_5_2_RE3: Definition = Definition {
    id: "SR 5.2 RE3",
    title: "Fail close",
    levels: &[3, 4],
    zcfw: "`zcfw run` pins the XDP program, its links and maps under the pin directory (/sys/fs/bpf/zcfw). If the daemon stops or dies, the last policy stays enforced; a restarted daemon adopts it without a gap. Only `zcfw detach` removes it, and `zcfw run --ephemeral` is not fail-closed. Fail close favours integrity over availability (SR 7.x): a dead daemon cannot open new paths.",
};
const SR_2_8: Definition = Definition {
    id: "SR 2.8",
    title: "Auditable events",
    levels: &[1, 2, 3, 4],
    zcfw: "Every denied packet is counted by reason and by conduit (inspection denials by conduit and reason too). With `defaults.log: denied` (or `all`), the data path also sends an event for each denied packet: time, interface, zones, conduit, 5-tuple, reason and Modbus unit, function and address. The daemon serves them with `zcfw events` and, with `zcfw run --audit-log FILE`, appends them to a rotated JSON-lines audit trail. Events pass a per-CPU token bucket (`zcfw run --event-rate`); the ones it suppresses are counted.",
};
const SR_2_11: Definition = Definition {
    id: "SR 2.11",
    title: "Timestamps",
    levels: &[2, 3, 4],
    zcfw: "Events carry a kernel timestamp that the daemon converts to UTC wall-clock time (RFC 3339) in `zcfw events` and the audit log. The timestamps are only as good as the gateway's clock: run a synchronised time source (NTP or PTP); the policy cannot show this.",
};
const SR_3_1: Definition = Definition {
    id: "SR 3.1",
    title: "Communication integrity",
    levels: &[1, 2, 3, 4],
    zcfw: "zcfw neither signs nor checks signatures. On `protocol: opcua` rules it admits only secure channels whose OpenSecureChannel asks for a security policy the rule lists (the policy URI is judged on every OpenSecureChannel, renewals included), so a conduit whose rules list no `None` carries only signed OPC UA messages. This requirement is listed for policies with OPC UA rules only; the integrity of other protocols rests on the endpoints and the network.",
};
const SR_3_3: Definition = Definition {
    id: "SR 3.3",
    title: "Security functionality verification",
    levels: &[1, 2, 3, 4],
    zcfw: "`zcfw check` verifies a policy before it is loaded. `zcfw status` shows the policy hash, generation, interfaces and XDP mode in force, and `zcfw stats` shows the counters of every conduit and deny reason. Compare the `sha256` of this report with `zcfw status` to tie the report to the running gateway.",
};
const SR_3_5: Definition = Definition {
    id: "SR 3.5",
    title: "Input validation",
    levels: &[1, 2, 3, 4],
    zcfw: "Every header read in the data path is bounds-checked; truncated or malformed packets are dropped and counted by reason. Modbus/TCP requests on `protocol: modbus` rules are inspected (MBAP framing, unit id, function, address span and quantity), IEC 60870-5-104 on `protocol: iec104` rules (APDU framing, STARTDT, type id, cause, common address, direction) and DNP3 on `protocol: dnp3` rules (link framing, every CRC, transport sequence, function code, destination address); S7comm, EtherNet/IP, OPC UA (chunk framing, channel order, the security policy of every OpenSecureChannel, the service of every cleartext request) and BACnet/IP on theirs. The policy itself is validated whole with file:line:column diagnostics, and an invalid one is refused.",
};
const SR_6_1: Definition = Definition {
    id: "SR 6.1",
    title: "Audit log accessibility",
    levels: &[1, 2, 3, 4],
    zcfw: "Events are readable as JSON lines (`zcfw events --json`, or the file of `zcfw run --audit-log`, documented in docs/events.md); counters and status as JSON over the control socket (`zcfw stats --json`, `zcfw status --json`).",
};
const SR_6_2: Definition = Definition {
    id: "SR 6.2",
    title: "Continuous monitoring",
    levels: &[2, 3, 4],
    zcfw: "Per-conduit and per-reason packet and byte counters are kept continuously in the data path and can be polled at any time (`zcfw stats --json`, and the Prometheus endpoint of `zcfw run --metrics-listen` when it is configured); `zcfw events --follow --json` streams denied packets to a monitoring system as they happen.",
};
const SR_7_1: Definition = Definition {
    id: "SR 7.1",
    title: "Denial of service protection",
    levels: &[1, 2, 3, 4],
    zcfw: "Denied packets are dropped in XDP before the kernel stack, with per-packet cost independent of the number of rules. Deny events pass a per-CPU token bucket, so a flood costs counters rather than daemon CPU. Conduits with a `rate_limit` give each source address its own token bucket (when configured), which manages the communication load (RE1) and keeps one flooding host from starving a zone (RE2).",
};
const SR_7_6: Definition = Definition {
    id: "SR 7.6",
    title: "Network and security configuration settings",
    levels: &[1, 2, 3, 4],
    zcfw: "The whole configuration is one versioned YAML policy; `zcfw status` shows the SHA-256 of the policy in force and `zcfw compile` the exact map entries it loads.",
};
const SR_7_6_RE1: Definition = Definition {
    id: "SR 7.6 RE1",
    title: "Machine-readable reporting of current security settings",
    levels: &[3, 4],
    zcfw: "`zcfw compile --format json` reports the compiled settings and `zcfw audit --format json` this report (schema zcfw-audit/1), both with stable field names.",
};
const SR_7_7: Definition = Definition {
    id: "SR 7.7",
    title: "Least functionality",
    levels: &[1, 2, 3, 4],
    zcfw: "Only the protocols, ports, ICMP types and Modbus functions, units and addresses that conduit rules list pass between zones. Non-IP ethertypes other than ARP and neighbour discovery pass only if `l2.allow` lists them.",
};

/// Assesses every requirement of the table, in table order.
pub(super) fn assess(policy: &ValidatedPolicy, findings: &[Finding]) -> Vec<Requirement> {
    let max_sl = super::max_security_level(policy);
    let zones = policy.zones();
    let conduits = policy.conduits();
    let rules: Vec<&Rule> = conduits.iter().flat_map(|c| &c.rules).collect();
    let count = |id: &str| findings.iter().filter(|f| f.id == id).count();
    let log = policy.defaults().log;
    let mut out = Vec::new();
    let mut add = |def: &Definition, status: Status, evidence: Vec<String>| {
        out.push(requirement(def, status, evidence, findings, max_sl));
    };

    // SR 5.1
    let networks: usize = zones.iter().map(|z| z.networks.len()).sum();
    let mut by_level = String::new();
    for sl in 1..=4u8 {
        let names: Vec<&str> = zones
            .iter()
            .filter(|z| z.security_level == sl)
            .map(|z| z.name.as_str())
            .collect();
        if !names.is_empty() {
            if !by_level.is_empty() {
                by_level.push_str("; ");
            }
            by_level.push_str(&format!("SL{sl}: {}", names.join(", ")));
        }
    }
    let mut ev = vec![format!(
        "{} with {} ({by_level}).",
        plural(zones.len(), "zone"),
        plural(networks, "network")
    )];
    let unguarded: Vec<&str> = policy
        .interfaces()
        .iter()
        .filter(|i| i.zones.is_none())
        .map(|i| i.name.as_str())
        .collect();
    for i in policy.interfaces() {
        match &i.zones {
            Some(z) => ev.push(format!(
                "Interface {} accepts sources of {} only.",
                i.name,
                z.join(", ")
            )),
            None => ev.push(format!(
                "Interface {} accepts sources of any zone (no `zones:` list).",
                i.name
            )),
        }
    }
    let status = if zones.len() < 2 {
        ev.push("Fewer than two zones: nothing is segmented.".into());
        Status::NotMet
    } else if !unguarded.is_empty() {
        Status::PartiallyMet
    } else {
        Status::Met
    };
    add(&SR_5_1, status, ev);

    // SR 5.2
    let pairs: std::collections::BTreeSet<(&str, &str)> = conduits
        .iter()
        .map(|c| (c.from.as_str(), c.to.as_str()))
        .collect();
    let mut ev = vec![format!(
        "Paths between zones: {} with {}, joining {}; every other path is closed.",
        plural(conduits.len(), "conduit"),
        plural(rules.len(), "rule"),
        plural(pairs.len(), "directed zone pair")
    )];
    let broad = count(rules::ANY_PROTOCOL) + count(rules::ALL_PORTS);
    if broad > 0 {
        ev.push(format!(
            "{} every protocol or every port of a transport.",
            plural_verb(broad, "rule opens", "rules open")
        ));
    }
    add(&SR_5_2, Status::Met, ev);

    // SR 5.2 RE1
    let mut ev = vec![format!(
        "defaults.action is deny: between zones only what a conduit rule allows passes ({}).",
        plural(rules.len(), "rule")
    )];
    let intra: Vec<&str> = zones
        .iter()
        .filter(|z| z.intra_zone_allow)
        .map(|z| z.name.as_str())
        .collect();
    if !intra.is_empty() {
        ev.push(format!(
            "Traffic inside zone{} {} is allowed (`intra_zone: allow`).",
            if intra.len() == 1 { "" } else { "s" },
            intra.join(", ")
        ));
    }
    add(&SR_5_2_RE1, Status::Met, ev);

    // SR 5.2 RE2
    let ev = vec![if intra.is_empty() {
        "In island mode no traffic passes the gateway between hosts of different zones, and none within a zone either (no zone allows intra-zone traffic).".to_owned()
    } else {
        format!(
            "In island mode only traffic inside {} keeps passing.",
            intra.join(", ")
        )
    }];
    add(&SR_5_2_RE2, Status::MetByConfiguration, ev);

    // SR 5.2 RE3
    add(
        &SR_5_2_RE3,
        Status::MetByConfiguration,
        vec!["No policy setting weakens fail close.".into()],
    );

    // SR 2.8, 2.11
    let (status, ev) = match log {
        LogMode::None => (
            Status::NotMet,
            "defaults.log is none: denied packets are counted but produce no event.".to_owned(),
        ),
        LogMode::Denied => (
            Status::Met,
            "defaults.log is denied: every denied packet produces an event (subject to the event rate limit).".to_owned(),
        ),
        LogMode::All => (
            Status::Met,
            "defaults.log is all: denied packets and conduit matches produce events.".to_owned(),
        ),
    };
    add(&SR_2_8, status, vec![ev]);
    let (status, ev) = if log == LogMode::None {
        (
            Status::NotMet,
            "No events are produced (defaults.log is none), so none carries a timestamp.",
        )
    } else {
        (
            Status::MetByConfiguration,
            "Events are produced; their timestamps need the gateway clock synchronised.",
        )
    };
    add(&SR_2_11, status, vec![ev.to_owned()]);

    // SR 3.1: what the OPC UA rules require of their channels (listed with OPC UA rules only).
    let opcua: Vec<(
        &crate::policy::Conduit,
        &firewall_common::opcua::OpcuaProfile,
    )> = conduits
        .iter()
        .flat_map(|c| {
            c.rules.iter().filter_map(move |r| match r {
                Rule::Opcua { profile, .. } => Some((c, profile)),
                _ => None,
            })
        })
        .collect();
    if !opcua.is_empty() {
        use firewall_common::opcua::{POLICIES, POLICY_NONE};
        let unsigned: Vec<&str> = opcua
            .iter()
            .filter(|(_, p)| p.allows_policy(POLICY_NONE))
            .map(|(c, _)| c.name.as_str())
            .collect();
        let mut ev = vec![format!(
            "{} OPC UA with the security policy of every OpenSecureChannel checked against the rule's list.",
            plural_verb(opcua.len(), "rule allows", "rules allow"),
        )];
        let listed: Vec<&str> = POLICIES
            .iter()
            .zip(0u8..)
            .filter(|(_, i)| opcua.iter().any(|(_, p)| p.allows_policy(*i)))
            .map(|(p, _)| p.name)
            .collect();
        ev.push(format!(
            "Security policies admitted: {}.",
            listed.join(", ")
        ));
        let status = if unsigned.is_empty() {
            Status::Met
        } else {
            ev.push(format!(
                "Unsigned channels (security policy None) admitted on: {}.",
                unsigned.join(", ")
            ));
            Status::PartiallyMet
        };
        add(&SR_3_1, status, ev);
    }

    // SR 3.3
    add(
        &SR_3_3,
        Status::MetByConfiguration,
        vec![format!(
            "Policy sha256 {} (compare with `zcfw status`).",
            policy.source_hash()
        )],
    );

    // SR 3.5
    let inspected = |p: Protocol| rules.iter().filter(|r| r.protocol() == p).count();
    let mut ev = vec![format!(
        "The policy passed validation ({}).",
        plural(policy.warnings().len(), "warning")
    )];
    ev.push(format!(
        "{} Modbus/TCP with inspection.",
        plural_verb(inspected(Protocol::Modbus), "rule allows", "rules allow")
    ));
    for p in [
        Protocol::Iec104,
        Protocol::Dnp3,
        Protocol::S7comm,
        Protocol::Enip,
        Protocol::Opcua,
        Protocol::Bacnet,
    ] {
        let n = inspected(p);
        if n > 0 {
            ev.push(format!(
                "{} {} with inspection (deep inspection of every request).",
                plural_verb(n, "rule allows", "rules allow"),
                p.display()
            ));
        }
    }
    let plain = count(rules::MODBUS_UNINSPECTED);
    if plain > 0 {
        ev.push(format!(
            "{} Modbus/TCP (port 502) without inspection.",
            plural_verb(plain, "rule lets", "rules let")
        ));
    }
    let plain = count(rules::GRID_UNINSPECTED);
    if plain > 0 {
        ev.push(format!(
            "{} IEC 104 (port 2404) or DNP3 (port 20000) without inspection.",
            plural_verb(plain, "rule lets", "rules let")
        ));
    }
    add(&SR_3_5, Status::Met, ev);

    // SR 6.1, 6.2
    let status = if log == LogMode::None {
        Status::PartiallyMet
    } else {
        Status::MetByConfiguration
    };
    add(
        &SR_6_1,
        status,
        vec![format!(
            "defaults.log is {}; counters are always kept.",
            log.name()
        )],
    );
    add(
        &SR_6_2,
        Status::MetByConfiguration,
        vec![format!(
            "{} and every deny reason have counters.",
            plural(conduits.len(), "conduit")
        )],
    );

    // SR 7.1
    let exposed: Vec<&str> = conduits
        .iter()
        .filter(|c| policy.zone(&c.to).is_some_and(|z| z.security_level >= 2))
        .map(|c| c.name.as_str())
        .collect();
    let limited = conduits
        .iter()
        .filter(|c| rules::rate_limit(c).is_some())
        .count();
    let unlimited = count(rules::NO_RATE_LIMIT);
    let mut ev = vec![format!(
        "Conduits into SL2-4 zones with a rate_limit: {} of {}; conduits with one in all: {limited}.",
        exposed.len() - unlimited,
        exposed.len(),
    )];
    if unlimited > 0 {
        ev.push(format!(
            "Without rate_limit: {}.",
            findings
                .iter()
                .filter(|f| f.id == rules::NO_RATE_LIMIT)
                .filter_map(|f| f.conduit.as_deref())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let inspected: Vec<&crate::policy::Conduit> = conduits
        .iter()
        .filter(|c| c.rules.iter().any(crate::policy::Rule::inspected))
        .collect();
    let dropping: Vec<&str> = inspected
        .iter()
        .filter(|c| c.on_violation == crate::policy::OnViolation::Drop)
        .map(|c| c.name.as_str())
        .collect();
    if !inspected.is_empty() {
        ev.push(format!(
            "Inspected conduits that reset the connection of a denied request (no lock-out of single-connection devices): {} of {}.",
            inspected.len() - dropping.len(),
            inspected.len()
        ));
    }
    if !dropping.is_empty() {
        ev.push(format!(
            "on_violation: drop (a denied request keeps its connection open): {}.",
            dropping.join(", ")
        ));
    }
    add(&SR_7_1, Status::Met, ev);

    // SR 7.6, RE1
    add(
        &SR_7_6,
        Status::MetByConfiguration,
        vec![format!(
            "Policy \"{}\" ({}), sha256 {}.",
            policy.name(),
            policy.origin(),
            policy.source_hash()
        )],
    );
    add(
        &SR_7_6_RE1,
        Status::MetByConfiguration,
        vec!["This report is available as JSON (`zcfw audit --format json`).".into()],
    );

    // SR 7.7
    let mut kinds = [0usize; 6];
    for r in &rules {
        let k = match r {
            Rule::Any => 0,
            Rule::Transport { ports: None, .. } | Rule::Icmp { types: None, .. } => 1,
            Rule::Transport { .. } => 2,
            Rule::Icmp { .. } => 3,
            Rule::Modbus { .. } => 4,
            Rule::Iec104 { .. }
            | Rule::Dnp3 { .. }
            | Rule::S7comm { .. }
            | Rule::Enip { .. }
            | Rule::Opcua { .. }
            | Rule::Bacnet { .. } => 5,
        };
        kinds[k] += 1;
    }
    let nd = if policy.l2().neighbor_discovery {
        "; IPv6 neighbour discovery passes"
    } else {
        "; IPv6 neighbour discovery is denied"
    };
    let ev = vec![
        format!(
            "{} with listed ports, {} with listed types, {} (function, unit and address allow-lists), {} (type id or function and address allow-lists).",
            plural(kinds[2], "tcp/udp rule"),
            plural(kinds[3], "ICMP rule"),
            plural(kinds[4], "inspected Modbus rule"),
            plural(
                kinds[5],
                "inspected IEC 104, DNP3, S7comm, EtherNet/IP, OPC UA or BACnet rule"
            ),
        ),
        format!(
            "{} every protocol; {} every port or type of its protocol.",
            plural_verb(kinds[0], "rule allows", "rules allow"),
            plural_verb(kinds[1], "rule allows", "rules allow")
        ),
        if policy.l2().ethertypes.is_empty() {
            format!("No non-IP ethertype is allowed{nd}.")
        } else {
            format!(
                "Non-IP ethertypes allowed: {}{nd}.",
                policy
                    .l2()
                    .ethertypes
                    .iter()
                    .map(|&e| match ethertype_name(e) {
                        Some(name) => format!("{e:#06x} ({name})"),
                        None => format!("{e:#06x}"),
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        },
    ];
    add(&SR_7_7, Status::Met, ev);

    out
}

/// Names of ethertypes an `l2.allow` list commonly holds.
fn ethertype_name(e: u16) -> Option<&'static str> {
    Some(match e {
        0x0806 => "ARP",
        0x88b8 => "IEC 61850 GOOSE",
        0x88ba => "IEC 61850 sampled values",
        0x88cc => "LLDP",
        0x88e3 => "MRP",
        0x88f7 => "PTP",
        0x8892 => "PROFINET",
        _ => return None,
    })
}

/// `1 rule opens`, `2 rules open`.
fn plural_verb(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

fn requirement(
    def: &Definition,
    base: Status,
    evidence: Vec<String>,
    findings: &[Finding],
    max_sl: u8,
) -> Requirement {
    let mut ids: Vec<&'static str> = Vec::new();
    let mut weakened = false;
    for f in findings.iter().filter(|f| f.requirements.contains(&def.id)) {
        if !ids.contains(&f.id) {
            ids.push(f.id);
        }
        weakened |= f.severity >= Severity::Medium;
    }
    ids.sort_unstable();
    let status = match base {
        Status::Met | Status::MetByConfiguration if weakened => Status::PartiallyMet,
        s => s,
    };
    Requirement {
        id: def.id,
        title: def.title,
        security_levels: def.levels.to_vec(),
        required: def.levels.contains(&max_sl),
        status,
        zcfw: def.zcfw,
        evidence,
        findings: ids,
    }
}
