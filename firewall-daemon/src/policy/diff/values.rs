//! Values of the diff engine: interval sets (ports, addresses, codes), how each kind of
//! value shows, and the effect of single-valued changes.

use firewall_common::{
    dnp3, iec104,
    modbus::{self, address_class},
    sets::{Bitmap256, Range16},
};

use super::Effect;
use crate::policy::{
    Conduit, Mode, Protocol, RateLimitSpec, Rule, Zone, protocols::icmp_type_name,
};

/// What an inspected rule allows, for a rule that is added or removed: `unit_ids 1;
/// functions read_coils(1); addresses (read coils) 0-99`.
pub(super) fn profile_summary(rule: &Rule) -> Option<String> {
    let set = |v: Vec<(u32, u32)>| -> String {
        if v.is_empty() {
            return "none".into();
        }
        v.into_iter()
            .map(|(a, b)| range(a, b))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let named = |b: &Bitmap256, name: &dyn Fn(u8) -> Option<&'static str>| -> String {
        let list: Vec<String> = (0..=u8::MAX)
            .filter(|&c| b.contains(c))
            .map(|c| match name(c) {
                Some(n) => format!("{n}({c})"),
                None => c.to_string(),
            })
            .collect();
        if list.is_empty() {
            "none".into()
        } else {
            list.join(", ")
        }
    };
    let parts = match rule {
        Rule::Modbus { profile: p, .. } => {
            let mut parts = vec![
                format!("unit_ids {}", set(bitmap_ranges(&p.unit_ids))),
                format!(
                    "functions {}",
                    named(&p.functions, &|c| modbus::function_by_code(c)
                        .map(|f| f.name))
                ),
            ];
            for (bit, name) in ADDRESS_CLASSES {
                let v: Vec<(u32, u32)> = p
                    .ranges
                    .iter()
                    .filter(|r| r.classes & bit != 0 && r.first <= r.last)
                    .map(|r| (u32::from(r.first), u32::from(r.last)))
                    .collect();
                if !v.is_empty() {
                    parts.push(format!("addresses ({name}) {}", set(normalize(&v))));
                }
            }
            parts
        }
        Rule::Iec104 { profile: p, .. } => vec![
            format!(
                "type_ids {}",
                named(&p.type_ids, &|c| iec104::type_id(c).map(|t| t.name))
            ),
            format!(
                "common_addresses {}",
                if p.flags & iec104::profile_flags::ANY_COMMON_ADDRESS != 0 {
                    "any but the global 65535".to_string()
                } else {
                    set(used(&p.common_addresses.ranges))
                }
            ),
        ],
        Rule::Dnp3 { profile: p, .. } => vec![
            format!(
                "functions {}",
                named(&p.functions, &|c| dnp3::function(c).map(|f| f.name))
            ),
            format!(
                "addresses {}",
                if p.flags & dnp3::profile_flags::ANY_ADDRESS != 0 {
                    "any outstation (0-65519)".to_string()
                } else {
                    set(used(&p.addresses.ranges))
                }
            ),
        ],
        Rule::S7comm { profile: p, .. } => super::s7comm::summary(p),
        Rule::Enip { profile: p, .. } => super::enip::summary(p),
        Rule::Opcua { profile: p, .. } => super::opcua::summary(p),
        Rule::Bacnet { profile: p, .. } => super::bacnet::summary(p),
        _ => return None,
    };
    Some(parts.join("; "))
}

/// The Modbus address classes, as `zcfw compile` names them.
pub(super) const ADDRESS_CLASSES: [(u16, &str); 6] = [
    (address_class::READ_COILS, "read coils"),
    (address_class::READ_DISCRETE_INPUTS, "read discrete inputs"),
    (
        address_class::READ_HOLDING_REGISTERS,
        "read holding registers",
    ),
    (address_class::READ_INPUT_REGISTERS, "read input registers"),
    (address_class::WRITE_COILS, "write coils"),
    (
        address_class::WRITE_HOLDING_REGISTERS,
        "write holding registers",
    ),
];

/// Pairs of (old index, new index): first rules of the same protocol and exactly the same
/// ports or types, then the remaining rules of the same protocol in file order.
pub(super) fn match_rules(old: &[Rule], new: &[Rule]) -> Vec<(usize, usize)> {
    let mut taken_old = vec![false; old.len()];
    let mut taken_new = vec![false; new.len()];
    let mut pairs = Vec::new();
    let key = |r: &Rule| (r.protocol(), normalize(&r.points()));
    for (ni, n) in new.iter().enumerate() {
        if let Some(oi) = (0..old.len()).find(|&oi| !taken_old[oi] && key(&old[oi]) == key(n)) {
            taken_old[oi] = true;
            taken_new[ni] = true;
            pairs.push((oi, ni));
        }
    }
    for (ni, n) in new.iter().enumerate() {
        if taken_new[ni] {
            continue;
        }
        if let Some(oi) =
            (0..old.len()).find(|&oi| !taken_old[oi] && old[oi].protocol() == n.protocol())
        {
            taken_old[oi] = true;
            taken_new[ni] = true;
            pairs.push((oi, ni));
        }
    }
    pairs
}

/// Sorted, merged (adjacent ones joined) inclusive intervals.
pub(super) fn normalize(v: &[(u32, u32)]) -> Vec<(u32, u32)> {
    let mut v: Vec<(u32, u32)> = v.iter().copied().filter(|(a, b)| a <= b).collect();
    v.sort_unstable();
    let mut out: Vec<(u32, u32)> = Vec::with_capacity(v.len());
    for (a, b) in v {
        match out.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// The parts of `a` not in `b` (both inclusive interval lists).
pub(super) fn minus(a: &[(u32, u32)], b: &[(u32, u32)]) -> Vec<(u32, u32)> {
    let (a, b) = (normalize(a), normalize(b));
    let mut out = Vec::new();
    for (mut lo, hi) in a {
        let mut open = true;
        for &(blo, bhi) in &b {
            if bhi < lo || blo > hi {
                continue;
            }
            if blo > lo {
                out.push((lo, blo - 1));
            }
            if bhi >= hi {
                open = false;
                break;
            }
            lo = bhi + 1;
        }
        if open {
            out.push((lo, hi));
        }
    }
    out
}

pub(super) fn bitmap_ranges(b: &Bitmap256) -> Vec<(u32, u32)> {
    normalize(
        &(0..=u8::MAX)
            .filter(|&c| b.contains(c))
            .map(|c| (u32::from(c), u32::from(c)))
            .collect::<Vec<_>>(),
    )
}

pub(super) fn used(ranges: &[Range16]) -> Vec<(u32, u32)> {
    normalize(
        &ranges
            .iter()
            .filter(|r| r.first <= r.last)
            .map(|r| (u32::from(r.first), u32::from(r.last)))
            .collect::<Vec<_>>(),
    )
}

pub(super) fn range(a: u32, b: u32) -> String {
    if a == b {
        a.to_string()
    } else {
        format!("{a}-{b}")
    }
}

pub(super) fn icmp_types(protocol: Protocol, first: u8, last: u8) -> String {
    (first..=last)
        .map(|t| match icmp_type_name(protocol, t) {
            Some(name) => format!("{name}({t})"),
            None => t.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn mode_effect(old: Mode, new: Mode) -> Effect {
    match (old, new) {
        (Mode::Enforce, Mode::Monitor) => Effect::Opens,
        (Mode::Monitor, Mode::Enforce) => Effect::Closes,
        _ => Effect::Changes,
    }
}

pub(super) fn rate(r: RateLimitSpec) -> String {
    format!("{} pps, burst {}", r.pps, r.burst)
}

pub(super) fn rate_effect(old: Option<RateLimitSpec>, new: Option<RateLimitSpec>) -> Effect {
    match (old, new) {
        (Some(_), None) => Effect::Opens,
        (None, Some(_)) => Effect::Closes,
        (Some(o), Some(n)) if n.pps >= o.pps && n.burst >= o.burst => Effect::Opens,
        (Some(o), Some(n)) if n.pps <= o.pps && n.burst <= o.burst => Effect::Closes,
        _ => Effect::Changes,
    }
}

pub(super) fn intra(allow: bool) -> String {
    if allow { "allow" } else { "deny" }.into()
}

pub(super) fn zone_summary(z: &Zone) -> String {
    let nets: Vec<String> = z.networks.iter().map(ToString::to_string).collect();
    format!(
        "security level {}, networks {}",
        z.security_level,
        nets.join(", ")
    )
}

pub(super) fn conduit_summary(c: &Conduit) -> String {
    let rules: Vec<String> = c.rules.iter().map(ToString::to_string).collect();
    format!("{} -> {}: {}", c.from, c.to, rules.join("; "))
}
