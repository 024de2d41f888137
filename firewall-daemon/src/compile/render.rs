//! `zcfw compile` output: a text listing for people and a JSON document for tools. Both show
//! the exact entries the loader would write (keys in slot 0).
//!
//! JSON layout (stable; fields are only ever added):
//! ```text
//! { "format": 1, "name", "hash", "slot_flags", "allow_nd": bool,
//!   "zones":      [{ "id", "name", "security_level", "networks": ["10.0.0.0/8", ...], "intra_zone_allow" }],
//!   "conduits":   [{ "id", "name", "from", "to", "rules": ["tcp 22", ...] }],
//!   "interfaces": [{ "name", "xdp_mode": "auto"|"native"|"skb", "allowed_zones": null | [zone ids] }],
//!   "l2_allow":   [ethertype, ...],
//!   "zone_entries":    [{ "family": "ipv4"|"ipv6", "network", "prefix_len", "addr", "zone_id", "flags" }],
//!   "zone_pairs":      [{ "src_zone", "dst_zone", "level_mask" }],
//!   "conduit_entries": [{ "src_zone", "dst_zone", "level", "level_name", "proto", "value",
//!                         "point_range": [first, last], "conduit", "profile", "flags" }],
//!   "map_entries": total }
//! ```
//! `level` is the key's level number (0 exact, 1 block, 2 protocol, 3 any protocol), `proto`
//! and `value` the key's fields, `point_range` the inclusive interval of `proto << 16 | value`
//! points (ICMP: `type << 8 | code`) the entry answers for.

use std::{fmt::Write, net::IpAddr};

use firewall_common::conduit::Level;
use serde::Serialize;

use super::{CompiledPolicy, block_range};

#[derive(Serialize)]
struct JsonPolicy<'a> {
    format: u32,
    name: &'a str,
    hash: &'a str,
    slot_flags: u32,
    allow_nd: bool,
    zones: Vec<JsonZone<'a>>,
    conduits: Vec<JsonConduit<'a>>,
    interfaces: Vec<JsonInterface<'a>>,
    l2_allow: &'a [u16],
    zone_entries: Vec<JsonZoneEntry>,
    zone_pairs: Vec<JsonZonePair>,
    conduit_entries: Vec<JsonConduitEntry>,
    map_entries: usize,
}

#[derive(Serialize)]
struct JsonZone<'a> {
    id: u16,
    name: &'a str,
    security_level: u8,
    networks: Vec<String>,
    intra_zone_allow: bool,
}

#[derive(Serialize)]
struct JsonConduit<'a> {
    id: u16,
    name: &'a str,
    from: &'a str,
    to: &'a str,
    rules: &'a [String],
}

#[derive(Serialize)]
struct JsonInterface<'a> {
    name: &'a str,
    xdp_mode: &'static str,
    allowed_zones: Option<&'a [u16]>,
}

#[derive(Serialize)]
struct JsonZoneEntry {
    family: &'static str,
    network: String,
    prefix_len: u8,
    addr: String,
    zone_id: u16,
    flags: u16,
}

#[derive(Serialize)]
struct JsonZonePair {
    src_zone: u16,
    dst_zone: u16,
    level_mask: u32,
}

#[derive(Serialize)]
struct JsonConduitEntry {
    src_zone: u16,
    dst_zone: u16,
    level: u8,
    level_name: &'static str,
    proto: u8,
    value: u16,
    point_range: [u32; 2],
    conduit: u16,
    profile: u16,
    flags: u16,
}

fn level_name(level: u8) -> &'static str {
    match Level::from_u8(level) {
        Some(Level::Exact) => "exact",
        Some(Level::Block) => "block",
        Some(Level::Protocol) => "protocol",
        Some(Level::AnyProtocol) => "any_protocol",
        None => "invalid",
    }
}

/// Zone trie entries of both families, as (family, network text, prefix, address text, info).
fn zone_entries(p: &CompiledPolicy) -> Vec<JsonZoneEntry> {
    let v4 = p.zones_v4.iter().map(|e| {
        let addr = IpAddr::from(e.addr);
        JsonZoneEntry {
            family: "ipv4",
            network: format!("{addr}/{}", e.prefix_len),
            prefix_len: e.prefix_len,
            addr: addr.to_string(),
            zone_id: e.info.zone_id,
            flags: e.info.flags,
        }
    });
    let v6 = p.zones_v6.iter().map(|e| {
        let addr = IpAddr::from(e.addr);
        JsonZoneEntry {
            family: "ipv6",
            network: format!("{addr}/{}", e.prefix_len),
            prefix_len: e.prefix_len,
            addr: addr.to_string(),
            zone_id: e.info.zone_id,
            flags: e.info.flags,
        }
    });
    v4.chain(v6).collect()
}

/// The compiled policy as a JSON document (layout in the module documentation).
pub fn render_json(p: &CompiledPolicy) -> serde_json::Value {
    let doc = JsonPolicy {
        format: 1,
        name: &p.name,
        hash: &p.hash,
        slot_flags: p.slot_flags,
        allow_nd: p.slot_flags & firewall_common::maps::slot_flags::ALLOW_ND != 0,
        zones: p
            .zones
            .iter()
            .map(|z| JsonZone {
                id: z.id,
                name: &z.name,
                security_level: z.security_level,
                networks: z.networks.iter().map(ToString::to_string).collect(),
                intra_zone_allow: z.intra_zone_allow,
            })
            .collect(),
        conduits: p
            .conduits
            .iter()
            .map(|c| JsonConduit {
                id: c.id,
                name: &c.name,
                from: &c.from,
                to: &c.to,
                rules: &c.rules,
            })
            .collect(),
        interfaces: p
            .interfaces
            .iter()
            .map(|i| JsonInterface {
                name: &i.name,
                xdp_mode: i.xdp_mode.name(),
                allowed_zones: i.allowed_zones.as_deref(),
            })
            .collect(),
        l2_allow: &p.l2_allow,
        zone_entries: zone_entries(p),
        zone_pairs: p
            .zone_pairs
            .iter()
            .map(|(k, v)| JsonZonePair {
                src_zone: k.src_zone,
                dst_zone: k.dst_zone,
                level_mask: v.level_mask,
            })
            .collect(),
        conduit_entries: p
            .conduit_entries
            .iter()
            .map(|(k, a)| {
                let (first, last) = block_range(k);
                JsonConduitEntry {
                    src_zone: k.src_zone,
                    dst_zone: k.dst_zone,
                    level: k.level,
                    level_name: level_name(k.level),
                    proto: k.proto,
                    value: k.value,
                    point_range: [first, last],
                    conduit: a.conduit_id,
                    profile: a.profile_id,
                    flags: a.flags,
                }
            })
            .collect(),
        map_entries: p.map_entries(),
    };
    serde_json::to_value(doc).unwrap_or(serde_json::Value::Null)
}

/// A readable name for protocol number `proto`.
fn proto_name(proto: u8) -> String {
    match proto {
        1 => "icmp".into(),
        6 => "tcp".into(),
        17 => "udp".into(),
        58 => "icmpv6".into(),
        n => format!("proto {n}"),
    }
}

/// What the points `[first, last]` of one entry are, e.g. `tcp 1024-1279`, `icmp type 8`.
fn describe_points(first: u32, last: u32) -> String {
    if first == 0 && last == firewall_common::conduit::POINT_MAX {
        return "any protocol".into();
    }
    let proto = (first >> 16) as u8;
    let (a, b) = ((first & 0xffff) as u16, (last & 0xffff) as u16);
    let name = proto_name(proto);
    if a == 0 && b == u16::MAX {
        return format!("{name} (all)");
    }
    if proto == 1 || proto == 58 {
        let (ta, ca, tb, cb) = (a >> 8, a & 0xff, b >> 8, b & 0xff);
        if ca == 0 && cb == 0xff {
            return if ta == tb {
                format!("{name} type {ta}")
            } else {
                format!("{name} types {ta}-{tb}")
            };
        }
        return if a == b {
            format!("{name} type {ta} code {ca}")
        } else {
            format!("{name} {ta}/{ca}-{tb}/{cb}")
        };
    }
    if a == b {
        format!("{name} {a}")
    } else {
        format!("{name} {a}-{b}")
    }
}

/// The compiled policy as a listing: summary, then every map entry.
pub fn render_text(p: &CompiledPolicy) -> String {
    let mut out = String::new();
    let zone_name = |id: u16| {
        p.zones
            .iter()
            .find(|z| z.id == id)
            .map_or("?", |z| z.name.as_str())
    };
    let conduit_name = |id: u16| {
        p.conduits
            .iter()
            .find(|c| c.id == id)
            .map_or("?", |c| c.name.as_str())
    };
    // `write!` to a String cannot fail.
    let _ = writeln!(out, "policy \"{}\"  sha256 {}", p.name, p.hash);
    let nd = if p.slot_flags & firewall_common::maps::slot_flags::ALLOW_ND != 0 {
        "allowed"
    } else {
        "denied"
    };
    let _ = writeln!(
        out,
        "slot flags {:#x} (neighbour discovery {nd})",
        p.slot_flags
    );

    let _ = writeln!(out, "\nzones ({}):", p.zones.len());
    for z in &p.zones {
        let nets: Vec<String> = z.networks.iter().map(ToString::to_string).collect();
        let _ = writeln!(
            out,
            "  {:>3}  {:<16} SL{}  intra_zone {:<5}  {}",
            z.id,
            z.name,
            z.security_level,
            if z.intra_zone_allow { "allow" } else { "deny" },
            nets.join(", ")
        );
    }

    let _ = writeln!(out, "\nconduits ({}):", p.conduits.len());
    for c in &p.conduits {
        let _ = writeln!(out, "  {:>3}  {}: {} -> {}", c.id, c.name, c.from, c.to);
        for r in &c.rules {
            let _ = writeln!(out, "         {r}");
        }
    }

    let _ = writeln!(out, "\ninterfaces ({}):", p.interfaces.len());
    for i in &p.interfaces {
        let zones = match &i.allowed_zones {
            None => "any zone".to_string(),
            Some(ids) => ids
                .iter()
                .map(|&id| format!("{}({id})", zone_name(id)))
                .collect::<Vec<_>>()
                .join(", "),
        };
        let _ = writeln!(
            out,
            "  {:<16} xdp {:<6}  sources from: {zones}",
            i.name,
            i.xdp_mode.name()
        );
    }

    let l2: Vec<String> = p.l2_allow.iter().map(|e| format!("{e:#06x}")).collect();
    let _ = writeln!(
        out,
        "\nl2 allow: {}",
        if l2.is_empty() {
            "(none)".to_string()
        } else {
            l2.join(", ")
        }
    );

    let entries = zone_entries(p);
    let _ = writeln!(out, "\nzone trie entries ({}):", entries.len());
    for e in &entries {
        let _ = writeln!(
            out,
            "  {:<44} -> zone {} {}{}",
            e.network,
            e.zone_id,
            zone_name(e.zone_id),
            if e.flags != 0 {
                " (intra_zone allow)"
            } else {
                ""
            }
        );
    }

    let _ = writeln!(out, "\nzone pairs ({}):", p.zone_pairs.len());
    for (k, v) in &p.zone_pairs {
        let _ = writeln!(
            out,
            "  {}({}) -> {}({})  level mask {:#06b}",
            zone_name(k.src_zone),
            k.src_zone,
            zone_name(k.dst_zone),
            k.dst_zone,
            v.level_mask
        );
    }

    let _ = writeln!(out, "\nconduit entries ({}):", p.conduit_entries.len());
    for (k, a) in &p.conduit_entries {
        let (first, last) = block_range(k);
        let _ = writeln!(
            out,
            "  {:>3} -> {:<3} {:<12} proto {:<3} value {:<5}  {:<24} -> conduit {} {}{}",
            k.src_zone,
            k.dst_zone,
            level_name(k.level),
            k.proto,
            k.value,
            describe_points(first, last),
            a.conduit_id,
            conduit_name(a.conduit_id),
            if a.flags != 0 {
                format!(" (flags {:#x})", a.flags)
            } else {
                String::new()
            }
        );
    }
    let _ = writeln!(out, "\n{} map entries", p.map_entries());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_points() {
        assert_eq!(describe_points(0x06_0016, 0x06_0016), "tcp 22");
        assert_eq!(describe_points(0x06_0400, 0x06_04ff), "tcp 1024-1279");
        assert_eq!(describe_points(0x11_0000, 0x11_ffff), "udp (all)");
        assert_eq!(describe_points(0x01_0800, 0x01_08ff), "icmp type 8");
        assert_eq!(
            describe_points(0x3a_8000, 0x3a_81ff),
            "icmpv6 types 128-129"
        );
        assert_eq!(describe_points(0x01_0301, 0x01_0301), "icmp type 3 code 1");
        assert_eq!(describe_points(0, 0xff_ffff), "any protocol");
        assert_eq!(describe_points(0x84_0000, 0x84_ffff), "proto 132 (all)");
    }
}
