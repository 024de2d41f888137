//! The compiled conduit entries answer every point exactly as first-match over the policy's
//! rules says, found the way the XDP program looks (levels in order, first hit).

use std::collections::HashMap;

use firewall_common::{
    conduit::{Level, POINT_MAX, key_at, point},
    maps::{ConduitAction, ConduitKey, action_flags, capacity, slot_flags, zone_flags},
    modbus::{ModbusProfile, address_class},
};

use super::*;
use crate::policy::{self, ValidatedPolicy};

fn policy(body: &str) -> ValidatedPolicy {
    let src = format!(
        "version: 1\nname: t\ninterfaces: [{{ name: eth0, zones: [a, c] }}, {{ name: eth1 }}]\n\
         zones:\n  a: {{ security_level: 1, networks: [10.1.0.0/16, \"fd00:1::/64\"] }}\n  \
         b: {{ security_level: 2, networks: [10.2.0.0/24], intra_zone: allow }}\n  \
         c: {{ security_level: 3, networks: [10.1.5.0/24] }}\n{body}"
    );
    match policy::load_str(&src, "t.yaml") {
        Ok(p) => p,
        Err(e) => panic!("invalid test policy:\n{e}"),
    }
}

fn compiled(p: &ValidatedPolicy) -> CompiledPolicy {
    match compile(p) {
        Ok(c) => c,
        Err(e) => panic!("compile failed: {e}"),
    }
}

/// The conduit the kernel finds for `point`: levels most specific first, first hit.
fn lookup(map: &HashMap<ConduitKey, ConduitAction>, src: u16, dst: u16, p: u32) -> Option<u16> {
    Level::ALL
        .iter()
        .find_map(|&l| map.get(&key_at(0, src, dst, p, l)))
        .map(|a| a.conduit_id)
}

/// The rule intervals of zone pair (`src`, `dst`) in file order, with their conduit and the
/// inspection profile the rule should have (looked up by content in `profiles`).
fn pair_rules(
    p: &ValidatedPolicy,
    profiles: &[ModbusProfile],
    src: &str,
    dst: &str,
) -> Vec<(u32, u32, (u16, u16))> {
    p.conduits()
        .iter()
        .filter(|c| c.from == src && c.to == dst)
        .flat_map(|c| {
            c.rules.iter().flat_map(move |r| {
                let profile = r.modbus_profile().map_or(0, |m| {
                    let i = profiles.iter().position(|q| q == m).expect("profile");
                    i as u16 + 1
                });
                r.points()
                    .into_iter()
                    .map(move |(a, b)| (a, b, (c.id, profile)))
            })
        })
        .collect()
}

/// The (conduit, profile) first-match semantics picks: first rule in file order covering
/// the point.
fn reference(rules: &[(u32, u32, (u16, u16))], pt: u32) -> Option<(u16, u16)> {
    rules
        .iter()
        .find(|&&(a, b, _)| a <= pt && pt <= b)
        .map(|&(_, _, id)| id)
}

/// Checks the compiled entries against first-match for every zone pair, on every point of
/// TCP, UDP, ICMP and ICMPv6 (pairs with conduits), plus every rule edge and a pseudo-random
/// sample of the whole space.
fn verify(p: &ValidatedPolicy) -> CompiledPolicy {
    let c = compiled(p);
    let map: HashMap<ConduitKey, ConduitAction> = c.conduit_entries.iter().copied().collect();
    assert_eq!(map.len(), c.conduit_entries.len(), "duplicate keys");
    let mut points: Vec<u32> = Vec::new();
    for proto in [1u8, 6, 17, 58] {
        points.extend((0..=u16::MAX).map(|v| point(proto, v)));
    }
    for cd in p.conduits() {
        for r in &cd.rules {
            for (a, b) in r.points() {
                for x in [
                    a.saturating_sub(1),
                    a,
                    b,
                    b.saturating_add(1).min(POINT_MAX),
                ] {
                    points.push(x);
                }
            }
        }
    }
    let mut seed = 0x2545_f491_u32;
    for _ in 0..20_000 {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        points.push(seed & POINT_MAX);
    }
    let sample = points.len() - 4 * 65536;
    for s in p.zones() {
        for d in p.zones() {
            let pair = c
                .zone_pairs
                .iter()
                .find(|(k, _)| k.src_zone == s.id && k.dst_zone == d.id);
            let mask = pair.map_or(0, |(_, info)| info.level_mask);
            let rules = pair_rules(p, &c.modbus_profiles, &s.name, &d.name);
            // Every point for pairs with conduits; edges and the sample for the others.
            let checked = if pair.is_some() {
                &points[..]
            } else {
                &points[points.len() - sample..]
            };
            for &pt in checked {
                let found: Vec<(Level, (u16, u16))> = Level::ALL
                    .iter()
                    .filter_map(|&l| {
                        map.get(&key_at(0, s.id, d.id, pt, l))
                            .map(|a| (l, (a.conduit_id, a.profile_id)))
                    })
                    .collect();
                assert!(found.len() <= 1, "overlapping blocks at {pt:#x}: {found:?}");
                let want = reference(&rules, pt);
                assert_eq!(
                    found.first().map(|f| f.1),
                    want,
                    "{} -> {} point {pt:#08x}",
                    s.name,
                    d.name
                );
                if let Some((level, _)) = found.first() {
                    assert_ne!(
                        mask & (1 << *level as u32),
                        0,
                        "level mask misses {level:?}"
                    );
                }
            }
        }
    }
    c
}

fn entries_of(c: &CompiledPolicy, conduit: u16) -> Vec<(u8, u8, u16)> {
    c.conduit_entries
        .iter()
        .filter(|(_, a)| a.conduit_id == conduit)
        .map(|(k, _)| (k.level, k.proto, k.value))
        .collect()
}

#[test]
fn single_port_is_one_exact_entry() {
    let p = policy(
        "conduits:\n  - { name: x, from: a, to: b, rules: [{ protocol: tcp, ports: [502] }] }\n",
    );
    let c = verify(&p);
    assert_eq!(entries_of(&c, 1), vec![(Level::Exact as u8, 6, 502)]);
    assert_eq!(c.zone_pairs.len(), 1);
    assert_eq!(c.zone_pairs[0].1.level_mask, 1 << Level::Exact as u32);
    assert_eq!(
        (c.zone_pairs[0].0.src_zone, c.zone_pairs[0].0.dst_zone),
        (1, 2)
    );
}

#[test]
fn common_rule_shapes_stay_small() {
    let p = policy(
        "conduits:\n\
         \x20 - { name: hi, from: a, to: b, rules: [{ protocol: tcp, ports: [\"1024-65535\"] }] }\n\
         \x20 - { name: all, from: b, to: a, rules: [{ protocol: udp }, { protocol: icmp, types: [echo-request] }] }\n\
         \x20 - { name: any, from: a, to: c, rules: [{ protocol: any }] }\n",
    );
    let c = verify(&p);
    let hi = entries_of(&c, 1);
    assert_eq!(hi.len(), 252, "tcp 1024-65535 is 252 blocks of 256 ports");
    assert!(
        hi.iter()
            .all(|&(l, proto, _)| l == Level::Block as u8 && proto == 6)
    );
    assert_eq!(
        entries_of(&c, 2),
        vec![(Level::Block as u8, 1, 8), (Level::Protocol as u8, 17, 0)]
    );
    assert_eq!(entries_of(&c, 3), vec![(Level::AnyProtocol as u8, 0, 0)]);
}

#[test]
fn first_match_across_conduits_and_overlaps() {
    let p = policy(
        "conduits:\n\
         \x20 - name: ssh\n    from: a\n    to: b\n    rules:\n\
         \x20     - { protocol: tcp, ports: [22, \"8000-8999\"] }\n\
         \x20     - { protocol: icmp, types: [echo-request, 3] }\n\
         \x20 - name: wide\n    from: a\n    to: b\n    rules:\n\
         \x20     - { protocol: tcp, ports: [\"1-1024\", \"8500-9500\"] }\n\
         \x20     - { protocol: icmp }\n\
         \x20     - { protocol: icmpv6, types: [echo-request, packet-too-big] }\n\
         \x20 - name: rest\n    from: a\n    to: b\n    rules:\n\
         \x20     - { protocol: any }\n\
         \x20 - name: back\n    from: b\n    to: a\n    rules:\n\
         \x20     - { protocol: udp, ports: [53, 123, \"5000-5100\", 124] }\n\
         \x20     - { protocol: tcp, ports: [65535] }\n",
    );
    let c = verify(&p);
    let map: HashMap<ConduitKey, ConduitAction> = c.conduit_entries.iter().copied().collect();
    // Spot checks of what verify() proved for every point.
    assert_eq!(lookup(&map, 1, 2, point(6, 22)), Some(1));
    assert_eq!(lookup(&map, 1, 2, point(6, 21)), Some(2));
    assert_eq!(lookup(&map, 1, 2, point(6, 8999)), Some(1));
    assert_eq!(lookup(&map, 1, 2, point(6, 9000)), Some(2));
    assert_eq!(lookup(&map, 1, 2, point(6, 9501)), Some(3));
    assert_eq!(lookup(&map, 1, 2, point(1, 8 << 8 | 5)), Some(1));
    assert_eq!(lookup(&map, 1, 2, point(1, 11 << 8)), Some(2));
    assert_eq!(lookup(&map, 1, 2, point(47, 0)), Some(3));
    assert_eq!(lookup(&map, 2, 1, point(17, 123)), Some(4));
    assert_eq!(lookup(&map, 2, 1, point(17, 125)), None);
    assert_eq!(lookup(&map, 2, 1, point(6, 22)), None);
    assert_eq!(lookup(&map, 1, 3, point(6, 22)), None);
    // udp 123 and 124 are adjacent: merged into one interval, still two exact entries.
    assert_eq!(c.zone_pairs.len(), 2);
    // "rest" only fills the gaps; it never overrides an earlier conduit.
    assert!(entries_of(&c, 3).len() > 3);
}

#[test]
fn adjacent_intervals_of_one_rule_merge_but_rules_stay_apart() {
    // 256-511 from one rule is one block entry, not two halves.
    let p = policy(
        "conduits:\n  - { name: x, from: a, to: b, rules: [{ protocol: tcp, ports: [\"256-383\", \"384-511\"] }] }\n",
    );
    let c = verify(&p);
    assert_eq!(entries_of(&c, 1), vec![(Level::Block as u8, 6, 1)]);
    // From two rules, each port keeps the id of the rule that matches it (its hits are
    // counted per rule): the block is split into exact entries.
    let p = policy(
        "conduits:\n  - { name: x, from: a, to: b, rules: [{ protocol: tcp, ports: [\"256-383\"] }, { protocol: tcp, ports: [\"384-511\"] }] }\n",
    );
    let c = verify(&p);
    assert_eq!(entries_of(&c, 1).len(), 256);
    let rule_of = |port: u16| {
        c.conduit_entries
            .iter()
            .find(|(k, _)| {
                let (first, last) = block_range(k);
                (first..=last).contains(&(6 << 16 | u32::from(port)))
            })
            .map(|(_, a)| a.rule_id)
    };
    assert_eq!(
        [
            rule_of(256),
            rule_of(383),
            rule_of(384),
            rule_of(511),
            rule_of(512)
        ],
        [Some(1), Some(1), Some(2), Some(2), None]
    );
    assert_eq!(c.conduits[0].rule_ids, vec![1, 2]);
}

#[test]
fn maps_besides_conduits() {
    let p = policy(
        "defaults: { log: all }\nl2: { allow: [arp, 0x88b8] }\n\
         conduits:\n  - { name: x, from: a, to: b, rules: [{ protocol: tcp }] }\n",
    );
    let c = verify(&p);
    assert_eq!(c.name, "t");
    assert_eq!(c.hash, p.source_hash());
    assert_eq!(
        c.slot_flags,
        firewall_common::maps::slot_flags::LOG_DENIED,
        "nd not listed; denies logged"
    );
    assert_eq!(c.l2_allow, vec![0x0806, 0x88b8]);
    assert!(
        c.conduit_entries
            .iter()
            .all(|(_, a)| a.flags == action_flags::LOG_ALL && a.profile_id == 0)
    );
    assert_eq!(c.zones_v4.len(), 3);
    assert_eq!(c.zones_v4[0].addr, [10, 1, 0, 0]);
    assert_eq!(c.zones_v4[0].prefix_len, 16);
    assert_eq!(c.zones_v4[1].info.zone_id, 2);
    assert_eq!(c.zones_v4[1].info.flags, zone_flags::INTRA_ALLOW);
    assert_eq!(
        c.zones_v4[2].info,
        firewall_common::maps::ZoneMatch {
            zone_id: 3,
            flags: 0
        }
    );
    assert_eq!(c.zones_v6.len(), 1);
    assert_eq!(c.zones_v6[0].prefix_len, 64);
    assert_eq!(&c.zones_v6[0].addr[..4], &[0xfd, 0, 0, 1]);
    assert_eq!(c.interfaces[0].allowed_zones, Some(vec![1, 3]));
    assert_eq!(c.interfaces[1].allowed_zones, None);
    assert_eq!(c.interfaces[0].xdp_mode, XdpMode::Auto);
    assert!(
        !c.interfaces[0].fast_path,
        "the fast path is off unless asked for"
    );
    assert_eq!(c.zones[2].networks[0].to_string(), "10.1.5.0/24");
    assert_eq!(c.conduits[0].rules, vec!["tcp (all ports)"]);
    // 4 trie + 1 pair + 1 conduit + 2 l2 + 2 ifaces + 2 iface zones + slot config
    assert_eq!(c.map_entries(), 4 + 1 + 1 + 2 + 2 + 2 + 1);

    let default_l2 = compiled(&policy("conduits: []\n"));
    assert_eq!(
        default_l2.slot_flags,
        slot_flags::ALLOW_ND | slot_flags::LOG_DENIED
    );
    assert_eq!(default_l2.l2_allow, vec![0x0806]);
    assert!(default_l2.conduit_entries.is_empty() && default_l2.zone_pairs.is_empty());
}

#[test]
fn block_ranges_invert_keys() {
    for (pt, level) in [
        (point(6, 502), Level::Exact),
        (point(6, 0x0400), Level::Block),
        (point(17, 0), Level::Protocol),
        (0, Level::AnyProtocol),
    ] {
        let (first, last) = block_range(&key_at(0, 1, 2, pt, level));
        assert_eq!(first, pt);
        assert_eq!(last - first + 1, 1 << level.shift());
    }
}

#[test]
fn renders_every_entry() {
    let p = policy(
        "conduits:\n  - { name: x, from: a, to: b, rules: [{ protocol: tcp, ports: [22, \"1024-1535\"] }, { protocol: icmp, types: [echo-request] }] }\n",
    );
    let c = verify(&p);
    let json = render_json(&c);
    let entries = json["conduit_entries"].as_array().map_or(0, Vec::len);
    assert_eq!(entries, c.conduit_entries.len());
    assert_eq!(entries, 1 + 2 + 1);
    let first = &json["conduit_entries"][0];
    assert_eq!(first["src_zone"], 1);
    assert_eq!(first["dst_zone"], 2);
    assert_eq!(first["level"], 1);
    assert_eq!(first["level_name"], "block");
    assert_eq!(first["proto"], 1);
    assert_eq!(first["value"], 8);
    assert_eq!(
        first["point_range"],
        serde_json::json!([0x01_0800, 0x01_08ff])
    );
    assert_eq!(first["conduit"], 1);
    assert_eq!(json["zones"][0]["networks"][1], "fd00:1::/64");
    assert_eq!(json["zones"][1]["id"], 2);
    assert_eq!(
        json["interfaces"][0]["allowed_zones"],
        serde_json::json!([1, 3])
    );
    assert_eq!(
        json["interfaces"][1]["allowed_zones"],
        serde_json::Value::Null
    );
    assert_eq!(json["zone_entries"].as_array().map_or(0, Vec::len), 4);
    assert_eq!(json["zone_entries"][3]["family"], "ipv6");
    assert_eq!(json["zone_pairs"][0]["level_mask"], 0b11);
    assert_eq!(json["conduits"][0]["rules"][0], "tcp 22, 1024-1535");
    assert_eq!(json["hash"], p.source_hash());
    assert_eq!(json["map_entries"], c.map_entries());

    let text = render_text(&c);
    let header = format!(
        "conduit entries (4, in {} of the 65536 buckets of the lookup table):",
        c.conduit_table.used_buckets()
    );
    assert!(text.contains(&header), "{text}");
    assert!((1..=4).contains(&c.conduit_table.used_buckets()));
    assert!(text.contains("tcp 22 "), "{text}");
    assert!(text.contains("tcp 1024-1279"), "{text}");
    assert!(text.contains("icmp type 8"), "{text}");
    assert!(text.contains("10.1.5.0/24"), "{text}");
}

#[test]
fn too_many_entries_is_refused() {
    // Ports 1-254 of every block of 256 need 254 exact entries each: 65,024 per protocol.
    let ranges: Vec<String> = (0..256u32)
        .map(|b| format!("\"{}-{}\"", b * 256 + 1, b * 256 + 254))
        .collect();
    let ranges = ranges.join(", ");
    let conduit = |name: &str, from: &str, to: &str| {
        format!(
            "  - name: {name}\n    from: {from}\n    to: {to}\n    rules:\n      - {{ protocol: tcp, ports: [{ranges}] }}\n      - {{ protocol: udp, ports: [{ranges}] }}\n"
        )
    };
    let one = format!("conduits:\n{}", conduit("x", "a", "b"));
    let c = compiled(&policy(&one));
    assert_eq!(c.conduit_entries.len(), 2 * 256 * 254);
    let two = format!("{one}{}", conduit("y", "b", "a"));
    match compile(&policy(&two)) {
        Err(e @ CompileError::TooManyConduitEntries { .. }) => {
            let text = e.to_string();
            assert!(
                text.contains("needs 260096 conduit lookup entries"),
                "{text}"
            );
            assert!(text.contains("holds 131072"), "{text}");
            assert!(
                text.contains("zone pair a -> b alone needs 130048"),
                "{text}"
            );
        }
        other => panic!("expected too many entries, got {other:?}"),
    }
}

#[test]
fn too_many_zone_table_blocks_is_refused() {
    // A host address in each of 2,049 distinct /16s: two blocks each, 4,098 in all.
    let hosts: Vec<String> = (0..2049u32)
        .map(|i| format!("{}.{}.0.1/32", 1 + i / 256, i % 256))
        .collect();
    let src = format!(
        "version: 1\nname: t\ninterfaces: [{{ name: eth0 }}]\nzones:\n  \
         hosts: {{ security_level: 1, networks: [{}] }}\n",
        hosts.join(", ")
    );
    let validated = match policy::load_str(&src, "t.yaml") {
        Ok(p) => p,
        Err(e) => panic!("invalid test policy:\n{e}"),
    };
    match compile(&validated) {
        Err(e @ CompileError::TooManyZoneBlocks { .. }) => {
            let text = e.to_string();
            assert!(text.contains("need 4098 lookup blocks"), "{text}");
            assert!(text.contains("holds 4096"), "{text}");
        }
        other => panic!("expected too many zone blocks, got {other:?}"),
    }
}

// ---- Modbus/TCP inspection profiles ----

/// The profile id of every entry of `conduit`, by (proto, port) of exact entries.
fn profiles_of(c: &CompiledPolicy, conduit: u16) -> Vec<(u16, u16)> {
    c.conduit_entries
        .iter()
        .filter(|(k, a)| a.conduit_id == conduit && k.level == Level::Exact as u8)
        .map(|(k, a)| (k.value, a.profile_id))
        .collect()
}

#[test]
fn modbus_rule_gets_a_profile() {
    let p = policy(
        "conduits:\n  - name: plc\n    from: a\n    to: b\n    rules:\n\
         \x20     - { protocol: tcp, ports: [22] }\n\
         \x20     - { protocol: modbus, modbus: { unit_ids: [1, 2], read_only: true, addresses: [\"0-999\"] } }\n\
         \x20     - { protocol: tcp }\n",
    );
    let c = verify(&p);
    assert_eq!(c.modbus_profiles.len(), 1);
    let m = &c.modbus_profiles[0];
    let mut want = ModbusProfile::read_only();
    want.unit_ids = Default::default();
    want.allow_unit(1);
    want.allow_unit(2);
    want.clear_ranges();
    want.add_range(0, 999, address_class::READS).expect("range");
    assert_eq!(m, &want);
    let map: HashMap<ConduitKey, ConduitAction> = c.conduit_entries.iter().copied().collect();
    let action = |port: u16| {
        Level::ALL
            .iter()
            .find_map(|&l| map.get(&key_at(0, 1, 2, point(6, port), l)))
            .copied()
    };
    assert_eq!(
        action(502).map(|a| (a.conduit_id, a.profile_id)),
        Some((1, 1))
    );
    assert_eq!(
        action(501).map(|a| (a.conduit_id, a.profile_id)),
        Some((1, 0))
    );
    assert_eq!(action(503).map(|a| a.profile_id), Some(0));
    assert_eq!(action(22).map(|a| a.profile_id), Some(0));
    // Only tcp 502 is inspected: one exact entry with the profile.
    let inspected: Vec<_> = c
        .conduit_entries
        .iter()
        .filter(|(_, a)| a.profile_id != 0)
        .collect();
    assert_eq!(inspected.len(), 1);
    assert_eq!(
        (
            inspected[0].0.level,
            inspected[0].0.proto,
            inspected[0].0.value
        ),
        (Level::Exact as u8, 6, 502)
    );
    assert_eq!(c.conduits[0].rule_profiles, vec![0, 1, 0]);
    assert_eq!(c.conduits[0].rules[1], "modbus 502");
    // One more map entry for the profile. Inspecting 502 inside "tcp (all)" splits the
    // rest of tcp into blocks around it (and so does tcp 22 being another rule).
    let plain = compiled(&policy(
        "conduits:\n  - { name: plc, from: a, to: b, rules: [{ protocol: tcp, ports: [22] }, { protocol: tcp }] }\n",
    ));
    assert!(c.conduit_entries.len() > 500, "{}", c.conduit_entries.len());
    assert_eq!(
        c.map_entries() - c.conduit_entries.len(),
        plain.map_entries() - plain.conduit_entries.len() + 1
    );
}

#[test]
fn identical_profiles_are_shared_in_rule_order() {
    let ro = "{ protocol: modbus, modbus: { unit_ids: [1], read_only: true } }";
    let rw = "{ protocol: modbus, ports: [5020], modbus: { unit_ids: [1], functions: [3, 6], addresses: { read_holding_registers: [\"0-99\"], write_holding_registers: [\"10-19\"] } } }";
    let p = policy(&format!(
        "conduits:\n\
         \x20 - {{ name: x, from: a, to: b, rules: [{rw}, {ro}] }}\n\
         \x20 - {{ name: y, from: c, to: b, rules: [{ro}] }}\n\
         \x20 - {{ name: z, from: b, to: a, rules: [{ro}, {{ protocol: modbus, ports: [503], modbus: {{ unit_ids: [1], read_only: true, strict: false }} }}] }}\n"
    ));
    let c = verify(&p);
    assert_eq!(c.modbus_profiles.len(), 3);
    assert_eq!(c.conduits[0].rule_profiles, vec![1, 2]);
    assert_eq!(c.conduits[1].rule_profiles, vec![2]);
    assert_eq!(c.conduits[2].rule_profiles, vec![2, 3]);
    assert_eq!(profiles_of(&c, 1), vec![(502, 2), (5020, 1)]);
    assert_eq!(profiles_of(&c, 2), vec![(502, 2)]);
    assert_eq!(profiles_of(&c, 3), vec![(502, 2), (503, 3)]);
    assert!(!c.modbus_profiles[2].is_strict());
    let rw = &c.modbus_profiles[0];
    assert!(rw.functions.contains(3) && rw.functions.contains(6) && !rw.functions.contains(16));
    assert_eq!(
        (rw.ranges[1].first, rw.ranges[1].last, rw.ranges[1].classes),
        (10, 19, address_class::WRITE_HOLDING_REGISTERS)
    );
}

#[test]
fn earlier_tcp_rule_takes_the_modbus_port_uninspected() {
    let p = policy(
        "conduits:\n  - { name: open, from: a, to: b, rules: [{ protocol: tcp, ports: [\"500-510\"] }] }\n\
         \x20 - { name: plc, from: a, to: b, rules: [{ protocol: modbus, ports: [502, 5020], modbus: { unit_ids: [1], read_only: true } }] }\n",
    );
    assert_eq!(p.warnings().len(), 1);
    assert!(p.warnings()[0].message.contains("partly bypassed"));
    let c = verify(&p);
    assert_eq!(profiles_of(&c, 2), vec![(5020, 1)]);
    assert!(profiles_of(&c, 1).iter().all(|&(_, profile)| profile == 0));
    // A Modbus rule that gets no entry keeps its profile; the listing says nobody uses it.
    let p = policy(
        "conduits:\n  - { name: open, from: a, to: b, rules: [{ protocol: tcp }] }\n\
         \x20 - { name: plc, from: a, to: b, rules: [{ protocol: modbus, modbus: { unit_ids: [1], read_only: true } }] }\n",
    );
    let c = verify(&p);
    assert_eq!(c.modbus_profiles.len(), 1);
    assert!(c.conduit_entries.iter().all(|(_, a)| a.profile_id == 0));
    assert!(render_text(&c).contains("used by         no conduit entry"));
}

#[test]
fn modbus_profiles_render() {
    let p = policy(
        "conduits:\n  - name: plc\n    from: a\n    to: b\n    rules:\n\
         \x20     - protocol: modbus\n        modbus:\n          unit_ids: [1, \"10-12\"]\n\
         \x20         functions: [read_holding_registers, 23, diagnostics, encapsulated_interface_transport]\n\
         \x20         addresses: { read_holding_registers: [\"0-99\"], write_holding_registers: [\"0-99\"] }\n\
         \x20         diagnostics_subfunctions: [return_query_data]\n          max_quantity: 50\n\
         \x20     - { protocol: icmp }\n",
    );
    let c = verify(&p);
    let json = render_json(&c);
    let m = &json["modbus_profiles"][0];
    assert_eq!(m["id"], 1);
    assert_eq!(m["unit_ids"], serde_json::json!([[1, 1], [10, 12]]));
    assert_eq!(
        m["functions"],
        serde_json::json!([
            { "code": 3, "name": "read_holding_registers" },
            { "code": 8, "name": "diagnostics" },
            { "code": 23, "name": "read_write_multiple_registers" },
            { "code": 43, "name": "encapsulated_interface_transport" }
        ])
    );
    assert_eq!(
        m["address_ranges"],
        serde_json::json!([{ "first": 0, "last": 99, "classes": 0b100100,
            "tables": ["read_holding_registers", "write_holding_registers"] }])
    );
    assert_eq!(m["max_quantity"], 50);
    assert_eq!(
        m["diagnostics_subfunctions"],
        serde_json::json!([{ "code": 0, "name": "return_query_data" }])
    );
    assert_eq!(
        m["mei_types"],
        serde_json::json!([{ "code": 14, "name": "read_device_id" }])
    );
    assert_eq!(m["strict"], true);
    let used: Vec<usize> = m["conduit_entries"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_u64())
                .map(|v| v as usize)
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(used.len(), 1);
    assert_eq!(json["conduit_entries"][used[0]]["profile"], 1);
    assert_eq!(json["conduit_entries"][used[0]]["value"], 502);
    assert_eq!(
        json["conduits"][0]["rule_profiles"],
        serde_json::json!([1, 0])
    );
    assert_eq!(json["conduits"][0]["rule_ids"], serde_json::json!([1, 2]));
    let inspected_entry = json["conduit_entries"]
        .as_array()
        .expect("conduit entries")
        .iter()
        .find(|e| e["profile"] == 1)
        .expect("the inspected entry");
    assert_eq!(inspected_entry["rule"], 1);
    assert_eq!(json["conduits"][0]["on_violation"], "reset");

    let text = render_text(&c);
    for want in [
        "rule 1: modbus 502  (modbus inspection profile 1, on violation reset)",
        "-> conduit 1 plc rule 1 inspect modbus profile 1",
        "inspection profiles (1):",
        "unit ids        1, 10-12",
        "functions       read_holding_registers(3), diagnostics(8), read_write_multiple_registers(23), encapsulated_interface_transport(43)",
        "addresses       0-99 (read_holding_registers, write_holding_registers)",
        "max quantity    50",
        "diagnostics     return_query_data(0)",
        "mei types       read_device_id(14)",
        "strict          yes",
        "used by         a -> b tcp 502 (conduit 1 plc)",
    ] {
        assert!(text.contains(want), "{want:?} missing in:\n{text}");
    }
    // Without inspection the section is empty.
    let plain = compiled(&policy("conduits: []\n"));
    assert!(render_text(&plain).contains("inspection profiles (0):"));
    assert_eq!(
        render_json(&plain)["modbus_profiles"],
        serde_json::json!([])
    );
}

#[test]
fn too_many_profiles_is_refused() {
    let limit = capacity::MAX_PROFILES as usize - 1;
    let rules = |n: usize| {
        (1..=n)
            .map(|q| {
                format!(
                    "      - {{ protocol: modbus, ports: [{}], modbus: {{ unit_ids: [1], read_only: true, max_quantity: {q} }} }}\n",
                    1000 + q
                )
            })
            .collect::<String>()
    };
    let body = |n: usize| {
        format!(
            "conduits:\n  - name: x\n    from: a\n    to: b\n    rules:\n{}",
            rules(n)
        )
    };
    assert_eq!(compiled(&policy(&body(limit))).modbus_profiles.len(), limit);
    match compile(&policy(&body(limit + 1))) {
        Err(e @ CompileError::TooManyProfiles { .. }) => {
            let text = e.to_string();
            assert!(
                text.contains("needs 1024 distinct Modbus inspection profiles"),
                "{text}"
            );
            assert!(text.contains("holds 1023"), "{text}");
        }
        other => panic!("expected too many profiles, got {other:?}"),
    }
}

#[test]
fn monitor_mode_and_rate_limits_reach_the_maps() {
    use firewall_common::maps::{RateLimit, action_flags, slot_flags};
    let p = policy(
        "defaults: { log: none, mode: monitor }\n\
         conduits:\n  - { name: x, from: a, to: b, mode: monitor, rate_limit: { pps: 50, burst: 10 }, rules: [{ protocol: tcp, ports: [80] }] }\n  - { name: y, from: b, to: a, rate_limit: { pps: 7 }, rules: [{ protocol: udp }] }\n",
    );
    let c = verify(&p);
    assert_eq!(
        c.slot_flags,
        slot_flags::MONITOR | slot_flags::ALLOW_ND,
        "monitor, nd, no log"
    );
    assert_eq!(
        c.rate_limits,
        vec![
            (1, RateLimit { pps: 50, burst: 10 }),
            (2, RateLimit { pps: 7, burst: 7 })
        ]
    );
    for (key, action) in &c.conduit_entries {
        let want = if action.conduit_id == 1 {
            action_flags::MONITOR | action_flags::RATE_LIMIT
        } else {
            action_flags::RATE_LIMIT
        };
        assert_eq!(action.flags, want, "{key:?}");
    }
    assert_eq!(c.conduits[0].mode, crate::policy::Mode::Monitor);
}

mod grid;
