//! `interfaces:`: where XDP attaches and which zones each interface accepts.

use std::collections::HashMap;

use firewall_common::maps::capacity;

use super::{Checker, Help, KeyPath, zones::undefined_zone};
use crate::policy::{
    model::{Interface, XdpMode},
    raw::RawInterface,
};

/// Linux interface name rules (`dev_valid_name`).
fn ifname_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("is empty")
    } else if name.len() > 15 {
        Some("is longer than 15 bytes")
    } else if name == "." || name == ".." {
        Some("is reserved")
    } else if name.contains('/') {
        Some("contains '/'")
    } else if name.contains(':') {
        Some("contains ':'")
    } else if name.chars().any(char::is_whitespace) {
        Some("contains whitespace")
    } else {
        None
    }
}

pub(super) fn check_interfaces(
    c: &mut Checker<'_>,
    raw: Option<Vec<RawInterface>>,
    zone_names: &[String],
) -> Vec<Interface> {
    let at = KeyPath::root().key("interfaces");
    let raw = raw.unwrap_or_default();
    if raw.is_empty() {
        c.error(&at, "the policy lists no interfaces").help(
            "list where XDP attaches, e.g. `interfaces: [{ name: eth0, zones: [enterprise] }]`",
        );
        return Vec::new();
    }
    let max = capacity::IFACES / 2;
    if raw.len() > max as usize {
        c.error(
            &at,
            format!(
                "{} interfaces, but zcfw attaches to at most {max}",
                raw.len()
            ),
        )
        .help("run one zcfw per group of interfaces");
    }
    let mut out = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut iface_zones = 0usize;
    for (i, r) in raw.into_iter().enumerate() {
        let ip = at.index(i);
        let mut ok = true;
        let name = match r.name {
            None => {
                ok = false;
                c.error(&ip, "interface has no name")
                    .help("add `name: <ifname>`, e.g. `name: eth0`");
                String::new()
            }
            Some(n) => {
                if let Some(problem) = ifname_problem(&n) {
                    ok = false;
                    c.error(&ip.key("name"), format!("invalid interface name \"{n}\": it {problem}"))
                        .help("Linux interface names are 1 to 15 bytes without '/', ':' or whitespace; `ip link` lists them");
                } else if let Some(&first) = seen.get(&n) {
                    ok = false;
                    c.error(
                        &ip.key("name"),
                        format!("interface \"{n}\" is listed twice"),
                    )
                    .help(format!(
                        "it is already interfaces[{first}]; merge the two entries"
                    ));
                } else {
                    seen.insert(n.clone(), i);
                }
                n
            }
        };
        let zones = match r.zones {
            None => None,
            Some(list) if list.is_empty() => {
                ok = false;
                c.error(&ip.key("zones"), format!("interface \"{name}\" has an empty zone list"))
                    .help("list the zones whose hosts are behind this interface, or omit `zones` to accept any zone");
                None
            }
            Some(list) => {
                let mut kept: Vec<String> = Vec::new();
                for (j, z) in list.iter().enumerate() {
                    let zp = ip.key("zones").index(j);
                    if !zone_names.contains(z) {
                        ok = false;
                        undefined_zone(c, &zp, format!("interface \"{name}\""), z, zone_names);
                    } else if kept.contains(z) {
                        c.warning(
                            &zp,
                            format!("zone \"{z}\" is listed twice for interface \"{name}\""),
                        )
                        .help("remove the repeated zone");
                    } else {
                        kept.push(z.clone());
                    }
                }
                iface_zones += kept.len();
                Some(kept)
            }
        };
        let xdp_mode = match r.xdp_mode.as_deref() {
            None | Some("auto") => XdpMode::Auto,
            Some("native") => XdpMode::Native,
            Some("skb") => XdpMode::Skb,
            Some(other) => {
                ok = false;
                let d = c.error(&ip.key("xdp_mode"), format!("unknown xdp_mode \"{other}\""));
                if matches!(other, "generic") {
                    d.help("generic XDP is called `skb` here");
                } else if matches!(other, "drv" | "driver") {
                    d.help("driver XDP is called `native` here");
                }
                d.help("use one of: native, skb, auto (the default: native where the driver supports it)");
                XdpMode::Auto
            }
        };
        let fast_path = fast_path(c, &ip, &name, r.fast_path, xdp_mode);
        if ok {
            out.push(Interface {
                name,
                zones,
                xdp_mode,
                fast_path,
            });
        }
    }
    let max_pairs = capacity::IFACE_ZONES / 2;
    if iface_zones > max_pairs as usize {
        c.error(
            &at,
            format!(
                "interfaces list {iface_zones} interface zones, but zcfw holds at most {max_pairs}"
            ),
        )
        .help("omit `zones` on interfaces that need no source check");
    }
    out
}

/// `fast_path:` of an interface: `true` or `false` (the default), nothing else.
fn fast_path(
    c: &mut Checker<'_>,
    ip: &KeyPath,
    name: &str,
    raw: Option<serde_yaml::Value>,
    xdp_mode: XdpMode,
) -> bool {
    let on = match raw {
        None => false,
        Some(serde_yaml::Value::Bool(b)) => b,
        Some(other) => {
            let shown = match &other {
                serde_yaml::Value::String(s) => format!("\"{s}\""),
                serde_yaml::Value::Number(n) => n.to_string(),
                serde_yaml::Value::Null => "empty".into(),
                serde_yaml::Value::Tagged(_) => "a tagged value".into(),
                _ => "a list or map".into(),
            };
            c.error(
                &ip.key("fast_path"),
                format!("fast_path of interface \"{name}\" is {shown}, not true or false"),
            )
            .help("write `fast_path: true` to forward allowed traffic of tracked flows in XDP, or leave it out (off)");
            return false;
        }
    };
    if on && xdp_mode == XdpMode::Skb {
        c.warning(
            &ip.key("fast_path"),
            format!("fast_path on interface \"{name}\" with `xdp_mode: skb` saves little"),
        )
        .help("in skb (generic) mode the frame already is a socket buffer; the fast path pays off with `xdp_mode: native` (see docs/fast-path.md)");
    }
    on
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ifnames() {
        assert_eq!(ifname_problem("eth0"), None);
        assert_eq!(ifname_problem("enp0s31f6.100"), None);
        assert!(ifname_problem("").is_some());
        assert!(ifname_problem("a234567890123456").is_some());
        assert_eq!(ifname_problem("a23456789012345"), None);
        assert!(ifname_problem("eth0:1").is_some());
        assert!(ifname_problem("a/b").is_some());
        assert!(ifname_problem("a b").is_some());
        assert!(ifname_problem("..").is_some());
    }
}
