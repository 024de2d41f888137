//! `zcfw compile` output: a text listing for people and a JSON document for tools. Both show
//! the exact entries the loader would write (keys in slot 0).
//!
//! JSON layout (stable; fields are only ever added):
//! ```text
//! { "format": 1, "name", "hash", "slot_flags", "allow_nd": bool,
//!   "zones":      [{ "id", "name", "security_level", "networks": ["10.0.0.0/8", ...], "intra_zone_allow" }],
//!   "conduits":   [{ "id", "name", "from", "to", "description" (when set), "rules": ["tcp 22", ...],
//!                   "rule_profiles": [profile id per rule, 0 = none],
//!                   "rule_inspectors": ["modbus" | "iec104" | "dnp3" | "none" per rule],
//!                   "rule_ids": [rule id per rule, the index of its counter],
//!                   "on_violation": "reset" }],
//!   "interfaces": [{ "name", "xdp_mode": "auto"|"native"|"skb", "allowed_zones": null | [zone ids],
//!                    "fast_path": bool }],
//!   "l2_allow":   [ethertype, ...],
//!   "zone_entries":    [{ "family": "ipv4"|"ipv6", "network", "prefix_len", "addr", "zone_id", "flags" }],
//!   "zone_pairs":      [{ "src_zone", "dst_zone", "level_mask" }],
//!   "conduit_entries": [{ "src_zone", "dst_zone", "level", "level_name", "proto", "value",
//!                         "point_range": [first, last], "conduit", "profile",
//!                         "inspector": "none" | "modbus" | "iec104" | "dnp3", "flags", "rule" }],
//!   "modbus_profiles": [{ "id", "unit_ids": [[first, last], ...],
//!                         "functions": [{ "code", "name": null | "read_coils" }],
//!                         "address_ranges": [{ "first", "last", "classes", "tables": [names] }],
//!                         "max_quantity" (0 = protocol maximum),
//!                         "diagnostics_subfunctions": [{ "code", "name" }],
//!                         "mei_types": [{ "code", "name" }], "strict", "flags",
//!                         "conduit_entries": [indexes into conduit_entries] }],
//!   "iec104_profiles": [...], "dnp3_profiles": [...] (see [`super::render_profiles`]),
//!   "map_entries": total }
//! ```
//! `level` is the key's level number (0 exact, 1 block, 2 protocol, 3 any protocol), `proto`
//! and `value` the key's fields, `point_range` the inclusive interval of `proto << 16 | value`
//! points (ICMP: `type << 8 | code`) the entry answers for. A profile's `id` is the
//! `profile` of the conduit entries of its protocol (`inspector`) that use it: ids are
//! numbered per protocol. Modbus addresses are 0-based, as on the wire.

use std::{fmt::Write, net::IpAddr};

use firewall_common::maps::inspector;
use firewall_common::{conduit::Level, modbus::ModbusProfile};
use serde::Serialize;

use super::{
    CompiledPolicy, block_range, inspector_name,
    render_modbus::{JsonModbusProfile, describe_profile, modbus_json},
    render_profiles::{
        JsonDnp3Profile, JsonIec104Profile, describe_dnp3, describe_iec104, dnp3_json, iec104_json,
    },
};

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
    modbus_profiles: Vec<JsonModbusProfile>,
    iec104_profiles: Vec<JsonIec104Profile>,
    dnp3_profiles: Vec<JsonDnp3Profile>,
    s7comm_profiles: Vec<super::render_s7comm::JsonS7Profile>,
    enip_profiles: Vec<super::render_enip::JsonEnipProfile>,
    opcua_profiles: Vec<super::render_opcua::JsonOpcuaProfile>,
    bacnet_profiles: Vec<super::render_bacnet::JsonBacnetProfile>,
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
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    rules: &'a [String],
    rule_profiles: &'a [u16],
    rule_inspectors: Vec<&'static str>,
    rule_ids: &'a [u16],
    on_violation: &'static str,
}

#[derive(Serialize)]
struct JsonInterface<'a> {
    name: &'a str,
    xdp_mode: &'static str,
    allowed_zones: Option<&'a [u16]>,
    fast_path: bool,
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
    inspector: &'static str,
    flags: u8,
    rule: u16,
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
                description: c.description.as_deref(),
                rules: &c.rules,
                rule_profiles: &c.rule_profiles,
                rule_ids: &c.rule_ids,
                rule_inspectors: c
                    .rule_inspectors
                    .iter()
                    .map(|&i| inspector_name(i))
                    .collect(),
                on_violation: c.on_violation.name(),
            })
            .collect(),
        interfaces: p
            .interfaces
            .iter()
            .map(|i| JsonInterface {
                name: &i.name,
                xdp_mode: i.xdp_mode.name(),
                allowed_zones: i.allowed_zones.as_deref(),
                fast_path: i.fast_path,
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
                    inspector: inspector_name(a.inspector),
                    flags: a.flags,
                    rule: a.rule_id,
                }
            })
            .collect(),
        modbus_profiles: profiles_json(p, &p.modbus_profiles, inspector::MODBUS, modbus_json),
        iec104_profiles: profiles_json(p, &p.iec104_profiles, inspector::IEC104, iec104_json),
        dnp3_profiles: profiles_json(p, &p.dnp3_profiles, inspector::DNP3, dnp3_json),
        s7comm_profiles: profiles_json(
            p,
            &p.s7comm_profiles,
            inspector::S7COMM,
            super::render_s7comm::s7comm_json,
        ),
        enip_profiles: profiles_json(
            p,
            &p.enip_profiles,
            inspector::ENIP,
            super::render_enip::enip_json,
        ),
        opcua_profiles: profiles_json(
            p,
            &p.opcua_profiles,
            inspector::OPCUA,
            super::render_opcua::opcua_json,
        ),
        bacnet_profiles: profiles_json(
            p,
            &p.bacnet_profiles,
            inspector::BACNET,
            super::render_bacnet::bacnet_json,
        ),
        map_entries: p.map_entries(),
    };
    serde_json::to_value(doc).unwrap_or(serde_json::Value::Null)
}

/// The JSON objects of `profiles` (ids from 1) of inspector `which`, each made by `json`
/// with the conduit entries that use it.
fn profiles_json<P, J>(
    p: &CompiledPolicy,
    profiles: &[P],
    which: u8,
    json: fn(u16, &P, Vec<usize>) -> J,
) -> Vec<J> {
    profiles
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let id = profile_id(i);
            json(id, m, users(p, which, id))
        })
        .collect()
}

/// Indexes of the conduit entries that use profile `id` of inspector `which`.
fn users(p: &CompiledPolicy, which: u8, id: u16) -> Vec<usize> {
    p.conduit_entries
        .iter()
        .enumerate()
        .filter(|(_, (_, a))| a.inspector == which && a.profile_id == id)
        .map(|(n, _)| n)
        .collect()
}

/// The profile id of `modbus_profiles[index]` (and of the other protocols' lists).
fn profile_id(index: usize) -> u16 {
    u16::try_from(index + 1).unwrap_or(u16::MAX)
}

/// A readable name for protocol number `proto`.
fn proto_name(proto: u8) -> String {
    firewall_common::flow::proto::name(proto)
        .map_or_else(|| format!("proto {proto}"), str::to_owned)
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

/// A profile of any protocol, for the text listing.
enum Listed<'a> {
    Modbus(&'a ModbusProfile),
    Iec104(&'a firewall_common::iec104::Iec104Profile),
    Dnp3(&'a firewall_common::dnp3::Dnp3Profile),
    S7comm(&'a firewall_common::s7comm::S7Profile),
    Enip(&'a firewall_common::enip::EnipProfile),
    Opcua(&'a firewall_common::opcua::OpcuaProfile),
    Bacnet(&'a firewall_common::bacnet::BacnetProfile),
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
        if let Some(d) = &c.description {
            let _ = writeln!(out, "         \"{d}\"");
        }
        for (((r, &profile), &which), &id) in c
            .rules
            .iter()
            .zip(&c.rule_profiles)
            .zip(&c.rule_inspectors)
            .zip(&c.rule_ids)
        {
            if profile == 0 {
                let _ = writeln!(out, "         rule {id}: {r}");
            } else {
                let _ = writeln!(
                    out,
                    "         rule {id}: {r}  ({} inspection profile {profile}, on violation {})",
                    inspector_name(which),
                    c.on_violation.name()
                );
            }
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
            "  {:<16} xdp {:<6}  sources from: {zones}{}",
            i.name,
            i.xdp_mode.name(),
            if i.fast_path { "  fast path" } else { "" }
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

    let _ = writeln!(
        out,
        "\nconduit entries ({}, in {} of the {} buckets of the lookup table):",
        p.conduit_entries.len(),
        p.conduit_table.used_buckets(),
        firewall_common::conduittable::BUCKETS_PER_SLOT
    );
    for (k, a) in &p.conduit_entries {
        let (first, last) = block_range(k);
        let _ = writeln!(
            out,
            "  {:>3} -> {:<3} {:<12} proto {:<3} value {:<5}  {:<24} -> conduit {} {} rule {}{}{}",
            k.src_zone,
            k.dst_zone,
            level_name(k.level),
            k.proto,
            k.value,
            describe_points(first, last),
            a.conduit_id,
            conduit_name(a.conduit_id),
            a.rule_id,
            if a.profile_id != 0 {
                format!(
                    " inspect {} profile {}",
                    inspector_name(a.inspector),
                    a.profile_id
                )
            } else {
                String::new()
            },
            if a.flags != 0 {
                format!(" (flags {:#x})", a.flags)
            } else {
                String::new()
            }
        );
    }

    let total = p.modbus_profiles.len()
        + p.iec104_profiles.len()
        + p.dnp3_profiles.len()
        + p.s7comm_profiles.len()
        + p.enip_profiles.len()
        + p.opcua_profiles.len()
        + p.bacnet_profiles.len();
    let _ = writeln!(out, "\ninspection profiles ({total}):");
    let listed = p
        .modbus_profiles
        .iter()
        .enumerate()
        .map(|(i, m)| (profile_id(i), Listed::Modbus(m)))
        .chain(
            p.iec104_profiles
                .iter()
                .enumerate()
                .map(|(i, m)| (profile_id(i), Listed::Iec104(m))),
        )
        .chain(
            p.dnp3_profiles
                .iter()
                .enumerate()
                .map(|(i, m)| (profile_id(i), Listed::Dnp3(m))),
        )
        .chain(
            p.s7comm_profiles
                .iter()
                .enumerate()
                .map(|(i, m)| (profile_id(i), Listed::S7comm(m))),
        )
        .chain(
            p.enip_profiles
                .iter()
                .enumerate()
                .map(|(i, m)| (profile_id(i), Listed::Enip(m))),
        )
        .chain(
            p.opcua_profiles
                .iter()
                .enumerate()
                .map(|(i, m)| (profile_id(i), Listed::Opcua(m))),
        )
        .chain(
            p.bacnet_profiles
                .iter()
                .enumerate()
                .map(|(i, m)| (profile_id(i), Listed::Bacnet(m))),
        );
    for (id, profile) in listed {
        let which = match profile {
            Listed::Modbus(m) => {
                let _ = writeln!(out, "  {id:>3}  modbus");
                describe_profile(&mut out, m);
                inspector::MODBUS
            }
            Listed::Iec104(m) => {
                let _ = writeln!(out, "  {id:>3}  iec104");
                describe_iec104(&mut out, m);
                inspector::IEC104
            }
            Listed::Dnp3(m) => {
                let _ = writeln!(out, "  {id:>3}  dnp3");
                describe_dnp3(&mut out, m);
                inspector::DNP3
            }
            Listed::S7comm(m) => {
                let _ = writeln!(out, "  {id:>3}  s7comm");
                super::render_s7comm::describe_s7comm(&mut out, m);
                inspector::S7COMM
            }
            Listed::Enip(m) => {
                let _ = writeln!(out, "  {id:>3}  enip");
                super::render_enip::describe_enip(&mut out, m);
                inspector::ENIP
            }
            Listed::Opcua(m) => {
                let _ = writeln!(out, "  {id:>3}  opcua");
                super::render_opcua::describe_opcua(&mut out, m);
                inspector::OPCUA
            }
            Listed::Bacnet(m) => {
                let _ = writeln!(out, "  {id:>3}  bacnet");
                super::render_bacnet::describe_bacnet(&mut out, m);
                inspector::BACNET
            }
        };
        let users: Vec<String> = users(p, which, id)
            .into_iter()
            .map(|n| {
                let (k, a) = &p.conduit_entries[n];
                let (first, last) = block_range(k);
                format!(
                    "{} -> {} {} (conduit {} {})",
                    zone_name(k.src_zone),
                    zone_name(k.dst_zone),
                    describe_points(first, last),
                    a.conduit_id,
                    conduit_name(a.conduit_id)
                )
            })
            .collect();
        if users.is_empty() {
            let _ = writeln!(
                out,
                "         used by         no conduit entry (earlier rules take its traffic)"
            );
        }
        for (n, u) in users.iter().enumerate() {
            let label = if n == 0 { "used by" } else { "" };
            let _ = writeln!(out, "         {label:<15} {u}");
        }
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

    #[test]
    fn conduit_descriptions_are_shown() {
        let src = "version: 1\nname: d\ninterfaces: [{ name: eth0 }]\nzones:\n  a: { security_level: 1, networks: [10.1.0.0/24] }\n  b: { security_level: 2, networks: [10.2.0.0/24] }\nconduits:\n  - name: with\n    from: a\n    to: b\n    description: Operators reach the HMI\n    rules: [{ protocol: tcp, ports: [443] }]\n  - name: without\n    from: b\n    to: a\n    rules: [{ protocol: tcp, ports: [22] }]\n";
        let policy = crate::policy::load_str(src, "d.yaml").unwrap_or_else(|e| panic!("{e}"));
        let p = crate::compile::compile(&policy).unwrap_or_else(|e| panic!("{e}"));
        let text = render_text(&p);
        assert!(
            text.contains(
                "with: a -> b\n         \"Operators reach the HMI\"\n         rule 1: tcp 443\n"
            ),
            "{text}"
        );
        let json = render_json(&p);
        assert_eq!(
            json["conduits"][0]["description"],
            "Operators reach the HMI"
        );
        assert!(json["conduits"][1].get("description").is_none());
    }
}
