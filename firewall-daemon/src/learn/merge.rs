//! Adds proposed conduits to a policy text without touching what its author wrote: the
//! file's lines (comments, order, hand-written conduits) are kept verbatim; learned conduits
//! are inserted at the end of the `conduits:` list, with only what the existing conduits of
//! their zone pair do not already allow. The comment block of an earlier `zcfw learn` run
//! (lines starting with [`render::MARK`]) at the top of the file is replaced. Pure.

use std::collections::BTreeSet;

use firewall_common::modbus::{ModbusProfile, address_class};

use super::{
    propose::{ProposedConduit, ProposedRule},
    render,
};
use crate::policy::{Protocol, Rule, ValidatedPolicy};

/// The merged text and what was added.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Merged {
    pub text: String,
    /// Names of the conduits added.
    pub added: Vec<String>,
    /// Learned conduits the existing policy already allows entirely (`from -> to`).
    pub covered: Vec<String>,
}

/// `proposals` with what `base` already allows removed; a learned Modbus rule that an
/// existing Modbus rule of the same port does not cover becomes a note (a second rule on that
/// port would be shadowed by the first).
pub fn uncovered(base: &ValidatedPolicy, proposals: &[ProposedConduit]) -> Vec<ProposedConduit> {
    proposals
        .iter()
        .map(|p| {
            let existing: Vec<(&str, &Rule)> = base
                .conduits()
                .iter()
                .filter(|c| c.from == p.from && c.to == p.to)
                .flat_map(|c| c.rules.iter().map(move |r| (c.name.as_str(), r)))
                .collect();
            let mut out = ProposedConduit {
                rules: Vec::new(),
                ..p.clone()
            };
            for rule in &p.rules {
                match rule {
                    ProposedRule::Ports { protocol, ports } => {
                        let left: Vec<_> = ports
                            .iter()
                            .filter(|(a, b, _)| {
                                !(*a..=*b).all(|port| port_allowed(&existing, protocol, port))
                            })
                            .cloned()
                            .collect();
                        if !left.is_empty() {
                            out.rules.push(ProposedRule::Ports {
                                protocol,
                                ports: left,
                            });
                        }
                    }
                    ProposedRule::Icmp { protocol, types } => {
                        let left: Vec<_> = types
                            .iter()
                            .filter(|(t, _)| !icmp_allowed(&existing, protocol, *t))
                            .cloned()
                            .collect();
                        if !left.is_empty() {
                            out.rules.push(ProposedRule::Icmp {
                                protocol,
                                types: left,
                            });
                        }
                    }
                    ProposedRule::Iec104 { port, .. } | ProposedRule::Dnp3 { port, .. } => {
                        match stream_owner(&existing, *port, rule) {
                            None => out.rules.push(rule.clone()),
                            Some((name, gaps)) if !gaps.is_empty() => {
                                out.notes.push(format!(
                                    "traffic on port {port} beyond what conduit \"{name}\" allows: {}; \
                                     a second rule on that port would never match, edit that rule \
                                     by hand if this traffic is legitimate",
                                    gaps.join(", ")
                                ));
                            }
                            Some(_) => {}
                        }
                    }
                    ProposedRule::Modbus { port, .. } => {
                        let owner = modbus_owner(&existing, *port)
                            .map(|(name, profile)| (name, profile.map(|p| gaps(p, rule))));
                        match owner {
                            None => out.rules.push(rule.clone()),
                            Some((name, Some(gaps))) if !gaps.is_empty() => {
                                out.notes.push(format!(
                                    "modbus on port {port} beyond what conduit \"{name}\" allows: {}; \
                                     a second rule on that port would never match, edit that rule \
                                     by hand if this traffic is legitimate",
                                    gaps.join(", ")
                                ));
                            }
                            Some(_) => {}
                        }
                    }
                }
            }
            out
        })
        .collect()
}

fn port_allowed(existing: &[(&str, &Rule)], protocol: &str, port: u16) -> bool {
    existing.iter().any(|(_, r)| match r {
        Rule::Any => true,
        Rule::Transport { protocol: p, ports } => {
            p.name() == protocol
                && ports
                    .as_ref()
                    .is_none_or(|rs| rs.iter().any(|r| r.first <= port && port <= r.last))
        }
        Rule::Modbus { ports, .. }
        | Rule::Iec104 { ports, .. }
        | Rule::Dnp3 { ports, .. }
        | Rule::S7comm { ports, .. }
        | Rule::Enip { ports, .. }
        | Rule::Opcua { ports, .. } => {
            protocol == "tcp" && ports.iter().any(|r| r.first <= port && port <= r.last)
        }
        Rule::Bacnet { ports, .. } => {
            protocol == "udp" && ports.iter().any(|r| r.first <= port && port <= r.last)
        }
        Rule::Icmp { .. } => false,
    })
}

fn icmp_allowed(existing: &[(&str, &Rule)], protocol: &str, t: u8) -> bool {
    existing.iter().any(|(_, r)| match r {
        Rule::Any => true,
        Rule::Icmp { protocol: p, types } => {
            p.name() == protocol && types.as_ref().is_none_or(|ts| ts.contains(&t))
        }
        _ => false,
    })
}

/// The existing conduit whose rule takes Modbus port `port` first, and its Modbus profile
/// (`None` for a rule that passes the port uninspected); `None` when no rule takes the port.
fn modbus_owner<'a>(
    existing: &[(&'a str, &'a Rule)],
    port: u16,
) -> Option<(&'a str, Option<&'a ModbusProfile>)> {
    existing.iter().find_map(|(name, r)| match r {
        Rule::Any => Some((*name, None)),
        Rule::Transport {
            protocol: Protocol::Tcp,
            ports,
        } if ports
            .as_ref()
            .is_none_or(|rs| rs.iter().any(|r| r.first <= port && port <= r.last)) =>
        {
            Some((*name, None))
        }
        Rule::Modbus { ports, profile }
            if ports.iter().any(|r| r.first <= port && port <= r.last) =>
        {
            Some((*name, Some(profile)))
        }
        _ => None,
    })
}

/// The existing conduit whose rule takes port `port` of a learned IEC 104 or DNP3 `rule`
/// first, and what of `rule` it does not allow (nothing for a rule that passes the port
/// uninspected); `None` when no rule takes the port.
fn stream_owner<'a>(
    existing: &[(&'a str, &'a Rule)],
    port: u16,
    rule: &ProposedRule,
) -> Option<(&'a str, Vec<String>)> {
    let on = |ports: &[crate::policy::PortRange]| {
        ports.iter().any(|r| r.first <= port && port <= r.last)
    };
    let all_in = |ranges: &[(u16, u16)], contains: &dyn Fn(u16) -> bool| -> Vec<String> {
        ranges
            .iter()
            .filter(|(a, b)| !(*a..=*b).all(contains))
            .map(|(a, b)| format!("{a}-{b}"))
            .collect()
    };
    existing.iter().find_map(|(name, r)| match (r, rule) {
        (Rule::Any, _) => Some((*name, Vec::new())),
        (
            Rule::Transport {
                protocol: Protocol::Tcp,
                ports,
            },
            _,
        ) if ports.as_ref().is_none_or(|p| on(p)) => Some((*name, Vec::new())),
        (
            Rule::Iec104 { ports, profile },
            ProposedRule::Iec104 {
                type_ids,
                common_addresses,
                ..
            },
        ) if on(ports) => {
            let mut gaps: Vec<String> = type_ids
                .iter()
                .filter(|(t, _)| !profile.type_ids.contains(*t))
                .map(|(t, _)| format!("type id {t}"))
                .collect();
            if profile.flags & firewall_common::iec104::profile_flags::ANY_COMMON_ADDRESS == 0 {
                let contains = |v: u16| profile.common_addresses.contains(v);
                gaps.extend(
                    all_in(common_addresses, &contains)
                        .into_iter()
                        .map(|r| format!("common addresses {r}")),
                );
            }
            Some((*name, gaps))
        }
        (
            Rule::Dnp3 { ports, profile },
            ProposedRule::Dnp3 {
                functions,
                addresses,
                ..
            },
        ) if on(ports) => {
            let mut gaps: Vec<String> = functions
                .iter()
                .filter(|(f, _)| !profile.functions.contains(*f))
                .map(|(f, _)| format!("function {f}"))
                .collect();
            if profile.flags & firewall_common::dnp3::profile_flags::ANY_ADDRESS == 0 {
                let contains = |v: u16| profile.addresses.contains(v);
                gaps.extend(
                    all_in(addresses, &contains)
                        .into_iter()
                        .map(|r| format!("addresses {r}")),
                );
            }
            Some((*name, gaps))
        }
        // Another inspected protocol on the port: this traffic cannot pass it.
        (Rule::Modbus { ports, .. } | Rule::Iec104 { ports, .. } | Rule::Dnp3 { ports, .. }, _)
            if on(ports) =>
        {
            Some((
                *name,
                vec![format!("another protocol is inspected on port {port}")],
            ))
        }
        _ => None,
    })
}

/// What of the learned Modbus `rule` `profile` does not allow.
pub fn gaps(profile: &ModbusProfile, rule: &ProposedRule) -> Vec<String> {
    let ProposedRule::Modbus {
        units,
        functions,
        addresses,
        ..
    } = rule
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (u, _) in units {
        if !profile.unit_ids.contains(*u) {
            out.push(format!("unit {u}"));
        }
    }
    for (f, _) in functions {
        if !profile.functions.contains(*f) {
            out.push(format!("function {f}"));
        }
    }
    for (table, ranges) in addresses {
        let class = match *table {
            "read_coils" => address_class::READ_COILS,
            "read_discrete_inputs" => address_class::READ_DISCRETE_INPUTS,
            "read_holding_registers" => address_class::READ_HOLDING_REGISTERS,
            "read_input_registers" => address_class::READ_INPUT_REGISTERS,
            "write_coils" => address_class::WRITE_COILS,
            _ => address_class::WRITE_HOLDING_REGISTERS,
        };
        for (a, b) in ranges {
            if !profile.allows_span(class, *a, *b) {
                out.push(format!("{table} {a}-{b}"));
            }
        }
    }
    out
}

/// Merges `proposals` into `text` (the source of `base`). `review` are the lines telling how
/// to review the result; `source` says where the traffic was learned.
pub fn merge(
    text: &str,
    base: &ValidatedPolicy,
    proposals: &[ProposedConduit],
    obs: &super::Observations,
    source: &str,
    review: &[String],
) -> Merged {
    let mut to_add: Vec<ProposedConduit> = Vec::new();
    let mut covered = Vec::new();
    for (p, u) in proposals.iter().zip(uncovered(base, proposals)) {
        if u.rules.is_empty() && u.notes.is_empty() {
            covered.push(format!("{} -> {}", p.from, p.to));
        } else {
            to_add.push(u);
        }
    }
    let mut names: BTreeSet<String> = base.conduits().iter().map(|c| c.name.clone()).collect();
    // The file without the comment block of an earlier run.
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with(render::MARK))
        .collect();
    let (insert_at, indent, header_line) = conduits_block(&lines);
    let mut block = String::new();
    let mut added = Vec::new();
    for c in &to_add {
        let stem = format!("learned-{}-to-{}", c.from, c.to);
        let mut name = stem.clone();
        let mut n = 2;
        while names.contains(&name) {
            name = format!("{stem}-{n}");
            n += 1;
        }
        names.insert(name.clone());
        block.push_str(&render::conduit(c, &name, &indent));
        if !c.rules.is_empty() {
            added.push(name);
        }
    }
    let mut out = render::header(obs, source, added.len(), review);
    // `conduits: []` becomes a block list only when something goes into it.
    let header_line = header_line.filter(|_| !block.is_empty());
    for (i, line) in lines.iter().enumerate() {
        if Some(i) == header_line.as_ref().map(|(at, _)| *at) {
            out.push_str(
                &header_line
                    .as_ref()
                    .map(|(_, l)| l.clone())
                    .unwrap_or_default(),
            );
            out.push('\n');
        } else {
            out.push_str(line);
            out.push('\n');
        }
        if i + 1 == insert_at {
            out.push_str(&block);
        }
    }
    if insert_at == 0 || insert_at > lines.len() {
        if header_line.is_none() && insert_at > lines.len() {
            out.push_str("conduits:\n");
        }
        out.push_str(&block);
    }
    Merged {
        text: out,
        added,
        covered,
    }
}

/// Where learned conduits go in `lines`: the index of the line after the last line of the
/// `conduits:` list (`lines.len() + 1` when the file has none: append a `conduits:` key), the
/// indentation of its items, and a replacement for a `conduits: []` line.
fn conduits_block(lines: &[&str]) -> (usize, String, Option<(usize, String)>) {
    let Some(start) = lines.iter().position(|l| l.starts_with("conduits:")) else {
        return (lines.len() + 1, "  ".into(), None);
    };
    let rest = lines[start].trim_start_matches("conduits:").trim();
    let header = if rest.starts_with('[') {
        // `conduits: []` (a draft without conduits): the key alone, items follow.
        Some((start, "conduits:".to_string()))
    } else {
        None
    };
    let mut end = start + 1;
    let mut last_content = start + 1;
    let mut indent: Option<String> = None;
    while end < lines.len() {
        let l = lines[end];
        let t = l.trim_start();
        let top_level =
            !l.starts_with(' ') && !l.starts_with('-') && !t.is_empty() && !t.starts_with('#');
        if top_level {
            break;
        }
        if !t.is_empty() && !t.starts_with('#') {
            last_content = end + 1;
            if indent.is_none() && t.starts_with('-') {
                indent = Some(l[..l.len() - t.len()].to_string());
            }
        }
        end += 1;
    }
    (last_content, indent.unwrap_or_else(|| "  ".into()), header)
}
