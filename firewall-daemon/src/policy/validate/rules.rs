//! One rule of a conduit: its protocol and what it matches (ports, ICMP types, Modbus,
//! IEC 104, DNP3).

use super::{
    Checker, Help, KeyPath, bacnet, dnp3, enip, iec104, modbus, opcua, ports::check_ports, s7comm,
};
use crate::policy::{
    diag::did_you_mean,
    model::{PortRange, Rule},
    protocols::{
        INDUSTRIAL_PROTOCOLS, Protocol, ProtocolSupport, SUPPORTED_PROTOCOLS, icmp_type_names,
        protocol_support,
    },
    raw::{RawRule, Scalar},
};

/// The rule at `rp`, or `None` (errors reported) when it is not valid.
pub(super) fn check_rule(c: &mut Checker<'_>, rp: &KeyPath, r: RawRule) -> Option<Rule> {
    let protocol = rule_protocol(c, rp, r.protocol.as_deref())?;
    let mut ok = check_option_blocks(c, rp, protocol, &r);
    let rule = match protocol {
        Protocol::Any => any_rule(c, rp, &r, &mut ok),
        Protocol::Tcp | Protocol::Udp => transport_rule(c, rp, protocol, r, &mut ok),
        Protocol::Modbus
        | Protocol::Iec104
        | Protocol::Dnp3
        | Protocol::S7comm
        | Protocol::Enip
        | Protocol::Opcua
        | Protocol::Bacnet => inspected_rule(c, rp, protocol, r, &mut ok)?,
        Protocol::Icmp | Protocol::Icmpv6 => icmp_rule(c, rp, protocol, r, &mut ok),
    };
    ok.then_some(rule)
}

fn supported_names() -> String {
    SUPPORTED_PROTOCOLS
        .iter()
        .map(|p| p.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `protocol:`: required, and one this build inspects or passes.
fn rule_protocol(c: &mut Checker<'_>, rp: &KeyPath, name: Option<&str>) -> Option<Protocol> {
    let Some(name) = name else {
        c.error(rp, "rule has no protocol")
            .help(format!("add `protocol:`, one of: {}", supported_names()));
        return None;
    };
    match protocol_support(name) {
        ProtocolSupport::Supported(p) => Some(p),
        ProtocolSupport::NotInThisBuild(ind) => {
            c.error(
                &rp.key("protocol"),
                format!(
                    "protocol `{}` ({} deep inspection) is not supported yet by this zcfw build",
                    ind.keyword, ind.display
                ),
            )
            .help(format!(
                "use {{ protocol: {}, ports: [{}] }} to allow {} without inspection",
                ind.transport.name(),
                ind.port,
                ind.display
            ));
            None
        }
        ProtocolSupport::Unknown => {
            let d = c.error(&rp.key("protocol"), format!("unknown protocol \"{name}\""));
            let all: Vec<&str> = SUPPORTED_PROTOCOLS
                .iter()
                .map(|p| p.name())
                .chain(INDUSTRIAL_PROTOCOLS.iter().map(|p| p.keyword))
                .collect();
            if let Some(near) = did_you_mean(&name.to_lowercase(), all) {
                d.help(format!("did you mean \"{near}\"?"));
            }
            d.help(format!("use one of: {}", supported_names()));
            None
        }
    }
}

/// Every industrial option block (`modbus:`, `dnp3:`, ...) belongs to its own protocol;
/// `false` when one is misplaced.
fn check_option_blocks(c: &mut Checker<'_>, rp: &KeyPath, protocol: Protocol, r: &RawRule) -> bool {
    let mut ok = true;
    for block in r.option_blocks() {
        if block == protocol.name() {
            continue;
        }
        ok = false;
        c.error_at_key(
            &rp.key(block),
            format!("`{block}` options apply only to `protocol: {block}`"),
        )
        .help(format!(
            "remove `{block}:` from this {} rule",
            protocol.name()
        ));
    }
    ok
}

/// `protocol: any`: nothing can narrow it.
fn any_rule(c: &mut Checker<'_>, rp: &KeyPath, r: &RawRule, ok: &mut bool) -> Rule {
    for key in ["ports", "types"] {
        if c.ctx.locator.exists(&rp.key(key))
            || (key == "ports" && r.ports.is_some())
            || (key == "types" && r.types.is_some())
        {
            *ok = false;
            c.error_at_key(
                &rp.key(key),
                format!(
                    "`{key}` cannot narrow `protocol: any`, which matches every protocol and port"
                ),
            )
            .help(format!(
                "use `protocol: {}` to select {key}, or remove `{key}:`",
                if key == "ports" {
                    "tcp` or `udp"
                } else {
                    "icmp` or `icmpv6"
                }
            ));
        }
    }
    Rule::Any
}

/// `protocol: tcp` or `udp`, with optional `ports`.
fn transport_rule(
    c: &mut Checker<'_>,
    rp: &KeyPath,
    protocol: Protocol,
    r: RawRule,
    ok: &mut bool,
) -> Rule {
    if r.types.is_some() {
        *ok = false;
        c.error_at_key(
            &rp.key("types"),
            format!("`types` apply to icmp and icmpv6, not {}", protocol.name()),
        )
        .help("select tcp and udp traffic with `ports: [...]`");
    }
    let ports = match r.ports {
        None => None,
        Some(list) if list.is_empty() => {
            *ok = false;
            c.error(&rp.key("ports"), "empty port list")
                .help("list ports, or omit `ports` to allow every port");
            None
        }
        Some(list) => check_ports(c, &rp.key("ports"), &list, ok),
    };
    if protocol == Protocol::Udp
        && let Some(io) = ports.as_ref().and_then(|p| {
            p.iter()
                .position(|r| (r.first..=r.last).contains(&firewall_common::enip::IO_PORT))
        })
    {
        c.warning(
            &rp.key("ports").index(io),
            "udp/2222 is EtherNet/IP class 0/1 I/O: it passes by port only, not tied to a Forward_Open and not inspected",
        )
        .help("keep this conduit between the scanner and its adapters only (docs/enip.md, \"Implicit I/O\")");
    }
    Rule::Transport { protocol, ports }
}

/// An inspected protocol (`modbus`, `iec104`, `dnp3`, `s7comm`, `enip`, `opcua`, `bacnet`):
/// ports (default: the protocol's port) and the required options block named after it;
/// `None` when either is invalid.
fn inspected_rule(
    c: &mut Checker<'_>,
    rp: &KeyPath,
    protocol: Protocol,
    r: RawRule,
    ok: &mut bool,
) -> Option<Rule> {
    let name = protocol.name();
    let display = protocol.display();
    let port = protocol.default_port().unwrap_or(0);
    if r.types.is_some() {
        *ok = false;
        c.error_at_key(
            &rp.key("types"),
            format!("`types` apply to icmp and icmpv6, not {name}"),
        )
        .help(format!(
            "{display} is selected by `ports: [...]` (default {port})"
        ));
    }
    let ports = match r.ports {
        None => Some(vec![PortRange {
            first: port,
            last: port,
        }]),
        Some(list) if list.is_empty() => {
            *ok = false;
            c.error(&rp.key("ports"), "empty port list").help(format!(
                "list the ports {display} servers listen on, or omit `ports` for {port}"
            ));
            None
        }
        Some(list) => check_ports(c, &rp.key("ports"), &list, ok),
    };
    let bp = rp.key(name);
    let transport = if protocol.number() == Some(17) {
        "udp"
    } else {
        "tcp"
    };
    let missing = |c: &mut Checker<'_>, example: &str| {
        let d = if c.ctx.locator.exists(&bp) {
            c.error_at_key(&bp, format!("the `{name}:` block is empty"))
        } else {
            c.error(rp, format!("`protocol: {name}` needs a `{name}:` block"))
        };
        d.help(format!("say what clients may do, e.g. `{name}: {example}`"))
            .help(format!(
                "to pass {display} without inspection, write {{ protocol: {transport}, ports: [{port}] }}"
            ));
    };
    let rule = match protocol {
        Protocol::Modbus => {
            let profile = match r.modbus {
                None => {
                    missing(
                        c,
                        "{ unit_ids: [1], read_only: true, addresses: [\"0-999\"] }",
                    );
                    None
                }
                Some(raw) => modbus::check_modbus(c, &bp, raw),
            };
            Rule::Modbus {
                ports: ports?,
                profile: profile?,
            }
        }
        Protocol::Iec104 => {
            let profile = match r.iec104 {
                None => {
                    missing(c, "{ read_only: true, common_addresses: [1] }");
                    None
                }
                Some(raw) => iec104::check_iec104(c, &bp, raw),
            };
            Rule::Iec104 {
                ports: ports?,
                profile: profile?,
            }
        }
        Protocol::S7comm => {
            let profile = match r.s7comm {
                None => {
                    missing(c, "{ read_only: true, tsaps: [0x0102] }");
                    None
                }
                Some(raw) => s7comm::check_s7comm(c, &bp, raw),
            };
            Rule::S7comm {
                ports: ports?,
                profile: profile?,
            }
        }
        Protocol::Enip => {
            let profile = match r.enip {
                None => {
                    missing(c, "{ read_only: true }");
                    None
                }
                Some(raw) => enip::check_enip(c, &bp, raw),
            };
            Rule::Enip {
                ports: ports?,
                profile: profile?,
            }
        }
        Protocol::Opcua => {
            let profile = match r.opcua {
                None => {
                    missing(
                        c,
                        "{ security_policies: [Basic256Sha256], read_only: true }",
                    );
                    None
                }
                Some(raw) => opcua::check_opcua(c, &bp, raw),
            };
            Rule::Opcua {
                ports: ports?,
                profile: profile?,
            }
        }
        Protocol::Bacnet => {
            let profile = match r.bacnet {
                None => {
                    missing(c, "{ read_only: true }");
                    None
                }
                Some(raw) => bacnet::check_bacnet(c, &bp, raw),
            };
            Rule::Bacnet {
                ports: ports?,
                profile: profile?,
            }
        }
        _ => {
            let profile = match r.dnp3 {
                None => {
                    missing(c, "{ read_only: true, addresses: [10] }");
                    None
                }
                Some(raw) => dnp3::check_dnp3(c, &bp, raw),
            };
            Rule::Dnp3 {
                ports: ports?,
                profile: profile?,
            }
        }
    };
    Some(rule)
}

/// `protocol: icmp` or `icmpv6`, with optional `types`.
fn icmp_rule(
    c: &mut Checker<'_>,
    rp: &KeyPath,
    protocol: Protocol,
    r: RawRule,
    ok: &mut bool,
) -> Rule {
    if r.ports.is_some() {
        *ok = false;
        c.error_at_key(
            &rp.key("ports"),
            format!("`ports` apply to tcp and udp, not {}", protocol.name()),
        )
        .help(format!(
            "select {} messages with `types: [...]`, e.g. `types: [echo-request]`",
            protocol.name()
        ));
    }
    let types = match r.types {
        None => None,
        Some(list) if list.is_empty() => {
            *ok = false;
            c.error(&rp.key("types"), "empty type list")
                .help("list message types, or omit `types` to allow every type");
            None
        }
        Some(list) => Some(icmp_types(c, &rp.key("types"), protocol, &list, ok)),
    };
    Rule::Icmp { protocol, types }
}

/// The non-empty type list at `tp`, repeats warned about and left out.
fn icmp_types(
    c: &mut Checker<'_>,
    tp: &KeyPath,
    protocol: Protocol,
    list: &[Scalar],
    ok: &mut bool,
) -> Vec<u8> {
    let mut types: Vec<u8> = Vec::new();
    for (k, t) in list.iter().enumerate() {
        let tp = tp.index(k);
        match parse_icmp_type(protocol, t) {
            Ok(ty) if types.contains(&ty) => {
                c.warning(
                    &tp,
                    format!("{} type {ty} is listed twice", protocol.name()),
                )
                .help("remove the repeated type");
            }
            Ok(ty) => types.push(ty),
            Err((msg, help)) => {
                *ok = false;
                let d = c.error(&tp, msg);
                for h in help {
                    d.help(h);
                }
            }
        }
    }
    types
}

/// A type number or name of `protocol`'s table.
fn parse_icmp_type(protocol: Protocol, t: &Scalar) -> Result<u8, (String, Vec<String>)> {
    let out_of_range = |n: i128| {
        (
            format!("{} type {n} is out of range", protocol.name()),
            vec!["ICMP types are 0 to 255".to_string()],
        )
    };
    match t {
        Scalar::Number(n) => u8::try_from(*n).map_err(|_| out_of_range(*n)),
        Scalar::Text(text) => {
            let text = text.trim();
            if let Ok(n) = text.parse::<i128>() {
                return u8::try_from(n).map_err(|_| out_of_range(n));
            }
            let table = icmp_type_names(protocol);
            if let Some((_, ty)) = table.iter().find(|(n, _)| *n == text) {
                return Ok(*ty);
            }
            let mut help = Vec::new();
            let other = if protocol == Protocol::Icmp {
                Protocol::Icmpv6
            } else {
                Protocol::Icmp
            };
            if icmp_type_names(other).iter().any(|(n, _)| *n == text) {
                help.push(format!(
                    "\"{text}\" is an {} type; this rule is {}",
                    other.name(),
                    protocol.name()
                ));
            } else if let Some(near) = did_you_mean(text, table.iter().map(|(n, _)| *n)) {
                help.push(format!("did you mean \"{near}\"?"));
            }
            help.push(format!(
                "use a type number 0-255 or one of: {}",
                table.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
            ));
            Err((format!("unknown {} type \"{text}\"", protocol.name()), help))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icmp_types_parse() {
        let t = |p, s: &str| parse_icmp_type(p, &Scalar::Text(s.into()));
        assert_eq!(t(Protocol::Icmp, "echo-request"), Ok(8));
        assert_eq!(t(Protocol::Icmpv6, "echo-request"), Ok(128));
        assert_eq!(t(Protocol::Icmp, "13"), Ok(13));
        let (m, help) = t(Protocol::Icmp, "packet-too-big").expect_err("invalid");
        assert!(m.contains("unknown icmp type"));
        assert!(help[0].contains("icmpv6 type"));
        let (_, help) = t(Protocol::Icmp, "echo-reqest").expect_err("invalid");
        assert!(help[0].contains("echo-request"));
        assert!(parse_icmp_type(Protocol::Icmp, &Scalar::Number(256)).is_err());
    }
}
