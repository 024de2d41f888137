//! `l2.allow`: the non-IP ethertypes that pass, and neighbour discovery.

use firewall_common::maps::capacity;
use ipnet::IpNet;

use super::{Checker, Help, KeyPath};
use crate::policy::{
    model::{L2Allow, Zone},
    protocols::{ETHERTYPE_ARP, ETHERTYPE_NAMES, ethertype_reserved},
    raw::{RawL2, Scalar},
};

pub(super) fn check_l2(c: &mut Checker<'_>, raw: Option<RawL2>, zones: &[Zone]) -> L2Allow {
    let at = KeyPath::root().key("l2").key("allow");
    let Some(list) = raw.and_then(|l| l.allow) else {
        return L2Allow {
            ethertypes: vec![ETHERTYPE_ARP],
            neighbor_discovery: true,
        };
    };
    let mut ethertypes: Vec<u16> = Vec::new();
    let mut nd = false;
    let names = || {
        std::iter::once("nd")
            .chain(ETHERTYPE_NAMES.iter().map(|(n, _)| *n))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (i, item) in list.iter().enumerate() {
        let ip = at.index(i);
        let value: Result<u16, String> = match item {
            Scalar::Text(t) if t.trim() == "nd" => {
                if nd {
                    c.warning(&ip, "nd is listed twice")
                        .help("remove the repeated entry");
                }
                nd = true;
                continue;
            }
            Scalar::Text(t) => {
                let t = t.trim();
                if let Some((_, v)) = ETHERTYPE_NAMES.iter().find(|(n, _)| *n == t) {
                    Ok(*v)
                } else if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
                    u16::from_str_radix(hex, 16).map_err(|_| format!("invalid ethertype \"{t}\""))
                } else if let Ok(n) = t.parse::<i128>() {
                    u16::try_from(n).map_err(|_| format!("ethertype {t} is out of range"))
                } else {
                    Err(format!("unknown ethertype name \"{t}\""))
                }
            }
            Scalar::Number(n) => {
                u16::try_from(*n).map_err(|_| format!("ethertype {n} is out of range"))
            }
        };
        match value {
            Err(msg) => {
                c.error(&ip, msg).help(format!(
                    "write an ethertype in hex (e.g. 0x88b8) or one of: {}",
                    names()
                ));
            }
            Ok(v) if v < 0x0600 => {
                c.error(&ip, format!("{v:#06x} is not an ethertype"))
                    .help("values below 0x0600 are IEEE 802.3 frame lengths; ethertypes are 0x0600 to 0xffff");
            }
            Ok(v) => {
                if let Some(why) = ethertype_reserved(v) {
                    c.error(
                        &ip,
                        format!("ethertype {v:#06x} cannot be listed in l2.allow"),
                    )
                    .help(format!("it is {why}; l2.allow lists non-IP ethertypes"));
                } else if ethertypes.contains(&v) {
                    c.warning(&ip, format!("ethertype {v:#06x} is listed twice"))
                        .help("remove the repeated entry");
                } else {
                    ethertypes.push(v);
                }
            }
        }
    }
    let max = capacity::L2_ALLOW / 2;
    if ethertypes.len() > max as usize {
        c.error(
            &at,
            format!(
                "{} ethertypes, but zcfw holds at most {max}",
                ethertypes.len()
            ),
        )
        .help("allow only the non-IP protocols the plant uses");
    }
    let has_v4 = zones
        .iter()
        .flat_map(|z| &z.networks)
        .any(|n| matches!(n, IpNet::V4(_)));
    let has_v6 = zones
        .iter()
        .flat_map(|z| &z.networks)
        .any(|n| matches!(n, IpNet::V6(_)));
    if has_v4 && !ethertypes.contains(&ETHERTYPE_ARP) {
        c.warning(&at, "l2.allow does not list arp, but zones have IPv4 networks")
            .help("IPv4 hosts cannot resolve each other's addresses through this gateway without ARP; add `arp`");
    }
    if has_v6 && !nd {
        c.warning(&at, "l2.allow does not list nd, but zones have IPv6 networks")
            .help("IPv6 hosts cannot resolve each other's addresses through this gateway without neighbour discovery; add `nd`");
    }
    ethertypes.sort_unstable();
    L2Allow {
        ethertypes,
        neighbor_discovery: nd,
    }
}
