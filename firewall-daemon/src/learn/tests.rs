use std::collections::BTreeMap;

use firewall_common::learn::{HostKey, HostValue, LearnKey, LearnValue, block_bits, kind};

use super::{
    Flow, FlowKind, Observations, Summary, ZoneNames,
    merge::merge,
    parse_duration,
    propose::{ProposedRule, cap_ranges, propose, ranges_of},
};
use crate::{
    audit::{self, Severity},
    policy,
};

const DRAFT: &str = "\
# Draft of the plant: zones and interfaces only.
version: 1
name: plant
interfaces:
  - { name: eth0 }
zones:
  office: { security_level: 1, networks: [10.0.0.0/24] }
  control: { security_level: 3, networks: [10.1.0.0/24] }
conduits: []
";

const NS: u64 = 1_000_000_000;

fn key(kind: u8, proto: u8, port: u16) -> LearnKey {
    LearnKey {
        src_zone: 1,
        dst_zone: 2,
        port,
        kind,
        proto,
        family: 4,
        ..LearnKey::default()
    }
}

fn modbus_key(unit: u8, function: u8) -> LearnKey {
    LearnKey {
        unit,
        function,
        ..key(kind::MODBUS, 6, 502)
    }
}

fn value(packets: u64) -> LearnValue {
    LearnValue {
        packets,
        first_ns: 100 * NS,
        last_ns: 160 * NS,
        ..LearnValue::first(0)
    }
}

fn span(mut v: LearnValue, first: u16, last: u16) -> LearnValue {
    v.add_span(first, last, last - first + 1);
    v
}

fn zones() -> ZoneNames {
    ZoneNames(vec!["office".into(), "control".into()])
}

fn plant_observations() -> Observations {
    let mut s = Summary::new(1_800_000_000);
    let entries = vec![
        (key(kind::TCP, 6, 22), value(3)),
        (key(kind::TCP, 6, 502), value(2)),
        (key(kind::ICMP, 1, 8 << 8), value(5)),
        (modbus_key(1, 3), span(value(40), 0, 9)),
        (modbus_key(1, 1), span(value(20), 100, 115)),
    ];
    let hosts = vec![(
        HostKey {
            addr: [192, 168, 9, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            family: 4,
            _pad: [0; 7],
        },
        HostValue {
            packets: 7,
            first_ns: 120 * NS,
            last_ns: 150 * NS,
            peer_zone: 2,
            seen_as: 1,
            _pad: 0,
        },
    )];
    s.absorb(&entries, &hosts, &zones(), 1_800_000_200, 200 * NS);
    s.observations(true)
}

fn proposal_text(obs: &Observations) -> (String, policy::ValidatedPolicy) {
    let base = policy::load_str(DRAFT, "draft.yaml").expect("the draft is valid");
    let merged = merge(
        DRAFT,
        &base,
        &propose(obs),
        obs,
        "test",
        &["zcfw diff draft.yaml proposal.yaml".into()],
    );
    let proposal = policy::load_str(&merged.text, "proposal.yaml")
        .unwrap_or_else(|e| panic!("the proposal is valid: {e:?}\n{}", merged.text));
    (merged.text, proposal)
}

#[test]
fn durations() {
    assert_eq!(parse_duration("30").unwrap().as_secs(), 30);
    assert_eq!(parse_duration("10m").unwrap().as_secs(), 600);
    assert_eq!(parse_duration("2h").unwrap().as_secs(), 7200);
    assert!(parse_duration("0s").is_err());
    assert!(parse_duration("5y").is_err());
    assert!(parse_duration("x").is_err());
}

#[test]
fn summary_counts_deltas_and_survives_eviction() {
    let mut s = Summary::new(0);
    let k = key(kind::TCP, 6, 22);
    s.absorb(&[(k, value(3))], &[], &zones(), 200, 200 * NS);
    s.absorb(&[(k, value(5))], &[], &zones(), 201, 201 * NS);
    // Evicted, then created again with a count of its own.
    s.absorb(&[], &[], &zones(), 202, 202 * NS);
    s.absorb(&[(k, value(2))], &[], &zones(), 203, 203 * NS);
    let obs = s.observations(true);
    assert_eq!(obs.flows.len(), 1);
    assert_eq!(obs.flows[0].packets, 7);
    assert_eq!(
        (obs.flows[0].from.as_str(), obs.flows[0].to.as_str()),
        ("office", "control")
    );
    // Wall clock: sampled at unix 200 = monotonic 200 s, first seen at monotonic 100 s.
    assert_eq!(obs.flows[0].first, 100);
}

#[test]
fn ranges_are_merged_from_blocks_and_bounds() {
    assert_eq!(ranges_of(0, 9, block_bits(0, 9)), vec![(0, 9)]);
    let blocks = block_bits(100, 200) | block_bits(1100, 1200) | block_bits(5000, 5010);
    assert_eq!(
        ranges_of(100, 5010, blocks),
        vec![(100, 2047), (4096, 5010)]
    );
    let mut tables = BTreeMap::new();
    tables.insert(
        "read_coils",
        (0..10).map(|i| (i * 100, i * 100 + 9)).collect::<Vec<_>>(),
    );
    tables.insert("read_holding_registers", vec![(0, 9)]);
    cap_ranges(&mut tables, 8);
    let slots: std::collections::BTreeSet<_> = tables.values().flatten().collect();
    assert!(slots.len() <= 8, "{tables:?}");
    // Every address seen is still allowed.
    for i in 0..10u16 {
        assert!(
            tables["read_coils"]
                .iter()
                .any(|(a, b)| *a <= i * 100 && i * 100 + 9 <= *b)
        );
    }
}

#[test]
fn the_proposal_has_one_conduit_per_pair_with_what_was_seen() {
    let obs = plant_observations();
    let conduits = propose(&obs);
    assert_eq!(conduits.len(), 1);
    let c = &conduits[0];
    assert_eq!((c.from.as_str(), c.to.as_str()), ("office", "control"));
    let modbus = c
        .rules
        .iter()
        .find_map(|r| match r {
            ProposedRule::Modbus {
                units,
                functions,
                addresses,
                ..
            } => Some((units.clone(), functions.clone(), addresses.clone())),
            _ => None,
        })
        .expect("a modbus rule");
    assert_eq!(modbus.0.iter().map(|u| u.0).collect::<Vec<_>>(), vec![1]);
    assert_eq!(modbus.1.iter().map(|f| f.0).collect::<Vec<_>>(), vec![1, 3]);
    assert_eq!(modbus.2["read_holding_registers"], vec![(0, 9)]);
    assert_eq!(modbus.2["read_coils"], vec![(100, 115)]);
    // TCP 502 is the Modbus rule's, not a plain TCP port.
    assert!(c.rules.iter().any(|r| matches!(r,
        ProposedRule::Ports { protocol: "tcp", ports } if ports.iter().map(|p| p.0).collect::<Vec<_>>() == vec![22])));
}

#[test]
fn the_proposal_passes_check_and_audit_finds_nothing_high() {
    let obs = plant_observations();
    let (text, proposal) = proposal_text(&obs);
    assert!(text.contains("192.168.9.9"), "{text}");
    assert!(text.contains("# Draft of the plant"), "{text}");
    assert!(text.contains("read_holding_registers: [\"0-9\"]"), "{text}");
    let report = audit::audit(&proposal);
    assert!(
        !report.has_finding_at_least(Severity::High),
        "{:?}",
        report.findings
    );
    // The learned Modbus rule enforces what was seen, nothing more.
    let rule = proposal.conduits()[0]
        .rules
        .iter()
        .find_map(|r| match r {
            crate::policy::Rule::Modbus { profile, .. } => Some(*profile),
            _ => None,
        })
        .expect("modbus rule");
    assert!(rule.functions.contains(3) && !rule.functions.contains(6));
    assert!(rule.unit_ids.contains(1) && !rule.unit_ids.contains(2));
}

#[test]
fn writes_the_traffic_forced_are_the_only_high_findings() {
    let mut s = Summary::new(0);
    s.absorb(
        &[(modbus_key(1, 6), span(value(4), 4000, 4000))],
        &[],
        &zones(),
        200,
        200 * NS,
    );
    let (_, proposal) = proposal_text(&s.observations(true));
    let report = audit::audit(&proposal);
    let high: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.severity >= Severity::High)
        .collect();
    assert_eq!(high.len(), 1, "{high:?}");
    assert!(high[0].message.contains("write"), "{high:?}");
}

#[test]
fn a_port_flood_is_capped_with_a_warning() {
    let mut s = Summary::new(0);
    let mut entries: Vec<_> = (1..=5000u16)
        .map(|p| (key(kind::TCP, 6, 10_000 + p), value(1)))
        .collect();
    entries.push((key(kind::TCP, 6, 22), value(9)));
    // Several samples of an LRU that holds only part of the flood at a time.
    for (i, chunk) in entries.chunks(1000).enumerate() {
        s.absorb(chunk, &[], &zones(), 200 + i as u64, (200 + i as u64) * NS);
    }
    let obs = s.observations(true);
    assert!(
        obs.flows.len() <= super::MAX_PORTS_PER_PAIR + 1,
        "{}",
        obs.flows.len()
    );
    assert!(
        obs.warnings
            .iter()
            .any(|w| w.contains("distinct TCP ports")),
        "{:?}",
        obs.warnings
    );
    let (text, _) = proposal_text(&obs);
    assert!(text.lines().count() < 100, "{text}");
    assert!(text.contains("WARNING"), "{text}");
}

#[test]
fn an_address_flood_lists_a_bounded_number_of_hosts() {
    let mut s = Summary::new(0);
    let hosts: Vec<_> = (0..2000u32)
        .map(|i| {
            let a = (0xc0a8_0000 + i).to_be_bytes();
            (
                HostKey {
                    addr: [a[0], a[1], a[2], a[3], 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                    family: 4,
                    _pad: [0; 7],
                },
                HostValue {
                    packets: 1,
                    first_ns: 0,
                    last_ns: 0,
                    peer_zone: 2,
                    seen_as: 1,
                    _pad: 0,
                },
            )
        })
        .collect();
    s.absorb(&[], &hosts, &zones(), 10, 10 * NS);
    let obs = s.observations(true);
    assert_eq!(obs.hosts.len(), super::MAX_UNKNOWN_HOSTS);
    assert_eq!(obs.hosts_not_listed, 2000 - super::MAX_UNKNOWN_HOSTS as u64);
    assert!(!obs.warnings.is_empty());
}

#[test]
fn merge_keeps_hand_written_parts_and_adds_only_what_is_new() {
    let existing = "\
version: 1
name: plant
# Hand-written: keep me.
interfaces:
  - { name: eth0 }
zones:
  office: { security_level: 1, networks: [10.0.0.0/24] }
  control: { security_level: 3, networks: [10.1.0.0/24] }
conduits:
  # SSH for the operators, approved by J. Doe.
  - name: operators-ssh
    from: office
    to: control
    rules:
      - { protocol: tcp, ports: [22] }
l2: { allow: [arp] }
";
    let base = policy::load_str(existing, "existing.yaml").expect("valid");
    let obs = plant_observations();
    let merged = merge(existing, &base, &propose(&obs), &obs, "test", &[]);
    for line in existing.lines() {
        assert!(
            merged.text.contains(line),
            "lost {line:?}:\n{}",
            merged.text
        );
    }
    let policy = policy::load_str(&merged.text, "merged.yaml")
        .unwrap_or_else(|e| panic!("{e:?}\n{}", merged.text));
    assert_eq!(merged.added, vec!["learned-office-to-control".to_string()]);
    let learned = &policy.conduits()[1];
    assert_eq!(learned.name, "learned-office-to-control");
    // Port 22 is the hand-written conduit's: not added again.
    assert!(
        !learned
            .rules
            .iter()
            .any(|r| matches!(r, crate::policy::Rule::Transport { .. }))
    );
    // Merging the same traffic again adds nothing, and the header is replaced, not repeated.
    let again = merge(&merged.text, &policy, &propose(&obs), &obs, "test", &[]);
    assert!(again.added.is_empty(), "{}", again.text);
    assert_eq!(
        again.text.matches("proposal from").count(),
        1,
        "{}",
        again.text
    );
    policy::load_str(&again.text, "again.yaml").expect("still valid");
}

#[test]
fn other_protocols_and_flows_become_notes() {
    let obs = Observations {
        flows: vec![Flow {
            from: "office".into(),
            to: "control".into(),
            kind: FlowKind::Other,
            proto: 47,
            port: 0,
            port_last: 0,
            distinct: 1,
            unit: 0,
            function: 0,
            packets: 3,
            first: 0,
            last: 0,
            lo: 1,
            hi: 0,
            blocks: 0,
            max_quantity: 0,
        }],
        ..Observations::default()
    };
    let (text, proposal) = proposal_text(&obs);
    assert!(text.contains("IP protocol 47"), "{text}");
    assert!(proposal.conduits().is_empty());
}

#[test]
fn iec104_and_dnp3_rules_list_what_was_sent() {
    let stream = |k: u8, port: u16, function: u8, address: u16| {
        (
            LearnKey {
                function,
                ..key(k, 6, port)
            },
            span(value(6), address, address),
        )
    };
    let mut s = Summary::new(0);
    s.absorb(
        &[
            stream(kind::IEC104, 2404, 100, 1),
            stream(kind::IEC104, 2404, 100, 2),
            // A monitoring-direction type id sent by the client: not proposed.
            stream(kind::IEC104, 2404, 1, 2),
            stream(kind::DNP3, 20000, 1, 10),
            (key(kind::TCP, 6, 2404), value(1)),
            (key(kind::TCP, 6, 20000), value(1)),
        ],
        &[],
        &zones(),
        200,
        200 * NS,
    );
    let obs = s.observations(false);
    let (text, proposal) = proposal_text(&obs);
    assert!(text.contains("- C_IC_NA_1"), "{text}");
    assert!(text.contains("common_addresses: [\"1-2\"]"), "{text}");
    assert!(text.contains("- read "), "{text}");
    assert!(text.contains("addresses: [10]"), "{text}");
    assert!(text.contains("type id 1 (6 times)"), "{text}");
    // Ports 2404 and 20000 are the inspected rules', not plain TCP.
    assert!(!text.contains("protocol: tcp"), "{text}");
    let report = audit::audit(&proposal);
    assert!(
        !report.has_finding_at_least(Severity::High),
        "{:?}",
        report.findings
    );
    // Merging the same traffic into the proposal adds nothing.
    let again = merge(&text, &proposal, &propose(&obs), &obs, "test", &[]);
    assert!(again.added.is_empty(), "{}", again.text);
}
