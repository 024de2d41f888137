//! The compiled conduit entries answer every point exactly as first-match over the policy's
//! rules says, found the way the XDP program looks (levels in order, first hit).

use std::collections::HashMap;

use firewall_common::{
    conduit::{Level, POINT_MAX, key_at, point},
    maps::{ConduitAction, ConduitKey, action_flags, slot_flags, zone_flags},
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

/// The rule intervals of zone pair (`src`, `dst`) in file order, with their conduit.
fn pair_rules(p: &ValidatedPolicy, src: &str, dst: &str) -> Vec<(u32, u32, u16)> {
    p.conduits()
        .iter()
        .filter(|c| c.from == src && c.to == dst)
        .flat_map(|c| {
            c.rules
                .iter()
                .flat_map(|r| r.points())
                .map(move |(a, b)| (a, b, c.id))
        })
        .collect()
}

/// The conduit first-match semantics picks: first rule in file order covering the point.
fn reference(rules: &[(u32, u32, u16)], pt: u32) -> Option<u16> {
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
            let rules = pair_rules(p, &s.name, &d.name);
            // Every point for pairs with conduits; edges and the sample for the others.
            let checked = if pair.is_some() {
                &points[..]
            } else {
                &points[points.len() - sample..]
            };
            for &pt in checked {
                let found: Vec<(Level, u16)> = Level::ALL
                    .iter()
                    .filter_map(|&l| {
                        map.get(&key_at(0, s.id, d.id, pt, l))
                            .map(|a| (l, a.conduit_id))
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
fn adjacent_intervals_of_one_conduit_merge() {
    // 256-511 from two rules of the same conduit is one block entry, not two halves.
    let p = policy(
        "conduits:\n  - { name: x, from: a, to: b, rules: [{ protocol: tcp, ports: [\"256-383\"] }, { protocol: tcp, ports: [\"384-511\"] }] }\n",
    );
    let c = verify(&p);
    assert_eq!(entries_of(&c, 1), vec![(Level::Block as u8, 6, 1)]);
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
    assert_eq!(c.slot_flags, 0, "nd not listed");
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
        firewall_common::maps::ZoneInfo {
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
    assert_eq!(c.zones[2].networks[0].to_string(), "10.1.5.0/24");
    assert_eq!(c.conduits[0].rules, vec!["tcp (all ports)"]);
    // 4 trie + 1 pair + 1 conduit + 2 l2 + 2 ifaces + 2 iface zones + slot config
    assert_eq!(c.map_entries(), 4 + 1 + 1 + 2 + 2 + 2 + 1);

    let default_l2 = compiled(&policy("conduits: []\n"));
    assert_eq!(default_l2.slot_flags, slot_flags::ALLOW_ND);
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
    assert!(text.contains("conduit entries (4):"), "{text}");
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
