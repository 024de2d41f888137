//! `zones:`: names, security levels, networks, and how the networks of all zones overlap.

use std::{collections::HashMap, net::IpAddr};

use firewall_common::maps::capacity;
use ipnet::IpNet;

use super::{Checker, Help, KeyPath};
use crate::policy::{
    diag::{Severity, did_you_mean, list},
    model::Zone,
    raw::RawZone,
};

fn is_zone_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

pub(super) fn check_zones(c: &mut Checker<'_>, raw: Option<Vec<(String, RawZone)>>) -> Vec<Zone> {
    let at = KeyPath::root().key("zones");
    let raw = raw.unwrap_or_default();
    if raw.is_empty() {
        c.error(&at, "the policy defines no zones")
            .help("define zones under `zones:`, e.g. `control: { security_level: 3, networks: [10.30.0.0/24] }`");
        return Vec::new();
    }
    if raw.len() > capacity::MAX_ZONES as usize {
        c.error(
            &at,
            format!(
                "{} zones, but zcfw holds at most {}",
                raw.len(),
                capacity::MAX_ZONES
            ),
        )
        .help("group networks of the same security level into one zone");
    }
    let mut zones = Vec::new();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (index, (name, z)) in raw.iter().enumerate() {
        let zp = at.key(name);
        if let Some(&first) = seen.get(name.as_str()) {
            let reported = c.ctx.locator.duplicates().iter().any(|d| d.path == zp);
            if !reported {
                let first_at = c.ctx.locator.nth_key(&at, first);
                let again_at = c.ctx.locator.nth_key(&at, index);
                let d = c.push_at(
                    Severity::Error,
                    &zp,
                    again_at,
                    format!("zone \"{name}\" is defined twice"),
                );
                if let Some(p) = first_at {
                    d.help(format!(
                        "the first definition is at line {}; rename or merge them",
                        p.line
                    ));
                }
            }
            continue;
        }
        seen.insert(name, index);
        let mut ok = true;
        if !is_zone_name(name) {
            ok = false;
            let fixed: String = name
                .to_lowercase()
                .chars()
                .map(|ch| {
                    if ch.is_ascii_alphanumeric() || ch == '_' || ch == '-' {
                        ch
                    } else {
                        '_'
                    }
                })
                .collect();
            c.error_at_key(&zp, format!("invalid zone name \"{name}\""))
                .help(format!(
                    "zone names use lowercase letters, digits, `_` and `-`, e.g. \"{fixed}\""
                ));
        }
        let security_level = match z.security_level {
            None => {
                ok = false;
                c.error(&zp, format!("zone \"{name}\" has no security_level"))
                    .help("add `security_level: N` with the zone's IEC 62443 target level, 1 to 4");
                0
            }
            Some(sl @ 1..=4) => sl as u8,
            Some(sl) => {
                ok = false;
                c.error(
                    &zp.key("security_level"),
                    format!("security level {sl} of zone \"{name}\" is out of range"),
                )
                .help("IEC 62443 security levels are 1, 2, 3 or 4");
                0
            }
        };
        let intra_zone_allow = match z.intra_zone.as_deref() {
            None | Some("deny") => false,
            Some("allow") => true,
            Some(other) => {
                ok = false;
                c.error(
                    &zp.key("intra_zone"),
                    format!("unknown intra_zone setting \"{other}\""),
                )
                .help("use `intra_zone: allow` or `intra_zone: deny` (the default)");
                false
            }
        };
        let security_level_target = match &z.security_level_target {
            None => None,
            Some(v) => {
                let tp = zp.key("security_level_target");
                let mut out = [0u8; 7];
                let mut complete = true;
                for (i, value) in v.values().into_iter().enumerate() {
                    let fr = format!("fr{}", i + 1);
                    match value {
                        Some(sl @ 0..=4) => out[i] = sl as u8,
                        Some(sl) => {
                            complete = false;
                            c.error(
                                &tp.key(&fr),
                                format!("security level {sl} of {fr} in zone \"{name}\" is out of range"),
                            )
                            .help("a target security level per foundational requirement is 0 (no requirement), 1, 2, 3 or 4");
                        }
                        None => {
                            complete = false;
                            c.error(
                                &tp,
                                format!("security_level_target of zone \"{name}\" has no {fr}"),
                            )
                            .help("give all seven foundational requirements, e.g. `security_level_target: { fr1: 2, fr2: 2, fr3: 3, fr4: 1, fr5: 3, fr6: 2, fr7: 3 }` (0: no requirement)");
                        }
                    }
                }
                if complete && out.iter().all(|&l| l < security_level) && security_level > 0 {
                    c.warning(
                        &tp,
                        format!(
                            "every foundational requirement of zone \"{name}\" targets less than its security_level {security_level}"
                        ),
                    )
                    .help("security_level is the zone's overall target; raise the vector's highest entry to it, or lower security_level");
                }
                if complete {
                    Some(out)
                } else {
                    ok = false;
                    None
                }
            }
        };
        let mut networks = Vec::new();
        match &z.networks {
            None => {
                ok = false;
                c.error(&zp, format!("zone \"{name}\" has no networks"))
                    .help(
                        "add `networks: [...]` with the zone's IPv4/IPv6 networks in CIDR notation",
                    );
            }
            Some(list) if list.is_empty() => {
                ok = false;
                c.error(&zp.key("networks"), format!("zone \"{name}\" has no networks"))
                    .help("list at least one network, e.g. `networks: [10.30.0.0/24]`; a zone without networks matches no host");
            }
            Some(list) => {
                for (i, text) in list.iter().enumerate() {
                    match parse_network(text) {
                        Ok(net) => networks.push(net),
                        Err((msg, help)) => {
                            ok = false;
                            c.error(&zp.key("networks").index(i), msg).help(help);
                        }
                    }
                }
            }
        }
        if ok {
            zones.push(Zone {
                id: u16::try_from(zones.len() + 1).unwrap_or(u16::MAX),
                name: name.clone(),
                security_level,
                networks,
                intra_zone_allow,
                security_level_target,
            });
        }
    }
    check_overlaps(c, &zones);
    zones
}

/// A network in CIDR notation with its host bits clear.
fn parse_network(text: &str) -> Result<IpNet, (String, String)> {
    let text = text.trim();
    match text.parse::<IpNet>() {
        Ok(net) if net.trunc() == net => Ok(net),
        Ok(net) => Err((
            format!("network {text} has host bits set"),
            format!(
                "write {} (the network), or {}/{} for the single host",
                net.trunc(),
                net.addr(),
                net.max_prefix_len()
            ),
        )),
        Err(_) => match text.parse::<IpAddr>() {
            Ok(addr) => Err((
                format!("network \"{text}\" has no prefix length"),
                format!(
                    "write {text}/{} for the single host, or the network in CIDR notation",
                    if addr.is_ipv4() { 32 } else { 128 }
                ),
            )),
            Err(_) => Err((
                format!("invalid network \"{text}\""),
                "write an IPv4 or IPv6 network in CIDR notation, e.g. 10.20.0.0/24 or \"fd00:20::/64\"".into(),
            )),
        },
    }
}

/// Identical networks are errors (one network, one zone); a network inside another one of
/// the same zone is redundant (warning); inside another zone's, the more specific wins.
fn check_overlaps(c: &mut Checker<'_>, zones: &[Zone]) {
    let mut all: Vec<(IpNet, usize, usize)> = Vec::new();
    for (zi, z) in zones.iter().enumerate() {
        for (ni, n) in z.networks.iter().enumerate() {
            all.push((*n, zi, ni));
        }
    }
    let path = |zi: usize, ni: usize| {
        KeyPath::root()
            .key("zones")
            .key(&zones[zi].name)
            .key("networks")
            .index(ni)
    };
    let mut first: HashMap<IpNet, (usize, usize)> = HashMap::new();
    for &(net, zi, ni) in &all {
        match first.get(&net) {
            None => {
                first.insert(net, (zi, ni));
            }
            Some(&(fz, _)) if fz == zi => {
                c.error(
                    &path(zi, ni),
                    format!(
                        "network {net} is listed twice in zone \"{}\"",
                        zones[zi].name
                    ),
                )
                .help("remove one of them");
            }
            Some(&(fz, _)) => {
                c.error(
                    &path(zi, ni),
                    format!(
                        "network {net} of zone \"{}\" overlaps zone \"{}\", which lists the same network",
                        zones[zi].name, zones[fz].name
                    ),
                )
                .help("a network belongs to one zone; to carve hosts out of a zone's network, give the other zone a more specific prefix (the most specific match wins)");
            }
        }
    }
    // Nesting: sort by family, address, then shorter prefix first; the nearest enclosing
    // network is on top of the stack.
    let mut sorted: Vec<&(IpNet, usize, usize)> = all.iter().collect();
    sorted.sort_by_key(|(n, _, _)| (n.network(), n.prefix_len()));
    let mut stack: Vec<&(IpNet, usize, usize)> = Vec::new();
    for item in sorted {
        while let Some(top) = stack.last() {
            if top.0.contains(&item.0) && top.0 != item.0 {
                break;
            }
            stack.pop();
        }
        if let Some(top) = stack.last()
            && top.1 == item.1
        {
            c.warning(
                &path(item.1, item.2),
                format!(
                    "network {} of zone \"{}\" is inside its network {}",
                    item.0, zones[item.1].name, top.0
                ),
            )
            .help("remove the more specific network; it changes nothing");
        }
        stack.push(item);
    }
    let v4 = all
        .iter()
        .filter(|(n, _, _)| matches!(n, IpNet::V4(_)))
        .count();
    let v6 = all.len() - v4;
    for (family, count) in [("IPv4", v4), ("IPv6", v6)] {
        if count > capacity::ZONE_NETWORKS as usize {
            c.error(
                &KeyPath::root().key("zones"),
                format!(
                    "the zones list {count} {family} networks, but the zone map holds {}",
                    capacity::ZONE_NETWORKS
                ),
            )
            .help("aggregate adjacent networks into shorter prefixes");
        }
    }
}

pub(super) fn undefined_zone(
    c: &mut Checker<'_>,
    path: &KeyPath,
    what: String,
    zone: &str,
    zone_names: &[String],
) {
    let d = c.error(path, format!("{what} refers to undefined zone \"{zone}\""));
    if let Some(near) = did_you_mean(zone, zone_names.iter().map(String::as_str)) {
        d.help(format!("did you mean \"{near}\"?"));
    }
    if zone_names.is_empty() {
        d.help(format!("define zone \"{zone}\" under zones:"));
    } else {
        d.help(format!(
            "define zone \"{zone}\" under zones:, or use one of: {}",
            list(zone_names)
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_parse() {
        assert!(parse_network("10.0.0.0/8").is_ok());
        assert!(parse_network("fd00:20::/64").is_ok());
        let (m, h) = parse_network("10.20.0.5/24").expect_err("invalid");
        assert!(m.contains("host bits"));
        assert!(
            h.contains("10.20.0.0/24") && h.contains("10.20.0.5/32"),
            "{h}"
        );
        let (m, h) = parse_network("10.0.0.5").expect_err("invalid");
        assert!(m.contains("no prefix") && h.contains("10.0.0.5/32"));
        assert!(
            parse_network("10.0.0.0/33")
                .expect_err("invalid")
                .0
                .contains("invalid network")
        );
    }

    #[test]
    fn zone_names() {
        assert!(is_zone_name("control-2_a"));
        assert!(!is_zone_name("Control"));
        assert!(!is_zone_name("a b"));
        assert!(!is_zone_name(""));
    }
}
