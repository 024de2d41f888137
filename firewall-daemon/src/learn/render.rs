//! Proposed conduits → YAML, with a comment beside every learned line (count, first and last
//! seen) so a reviewer can judge each one. Pure.

use std::fmt::Write as _;

use firewall_common::modbus::function_by_code;

use super::{
    Observations,
    propose::{ProposedConduit, ProposedRule, Seen, time},
};

/// Prefix of every line zcfw learn writes as a comment block of its own (the header and the
/// unknown hosts); `--merge` replaces such lines instead of piling them up.
pub const MARK: &str = "# zcfw learn:";

fn seen(s: &Seen, what: &str) -> String {
    format!(
        "{} {what}, {} .. {}",
        s.packets,
        time(s.first),
        time(s.last)
    )
}

/// One conduit as YAML list items, each line indented by `indent` (the indentation of the
/// `-` of the conduits list).
pub fn conduit(c: &ProposedConduit, name: &str, indent: &str) -> String {
    let i = indent;
    let mut out = String::new();
    let _ = writeln!(out, "{i}- name: {name}");
    let _ = writeln!(out, "{i}  from: {}", c.from);
    let _ = writeln!(out, "{i}  to: {}", c.to);
    let _ = writeln!(
        out,
        "{i}  description: \"learned by zcfw learn; review every line before enforcing\""
    );
    // Notes start with MARK: a later `--merge` replaces them with its own.
    for note in &c.notes {
        let _ = writeln!(out, "{i}  {MARK} not proposed: {note}");
    }
    if c.rules.is_empty() {
        // Only notes: a conduit without rules is refused; it stays a comment.
        let mut commented = String::new();
        for line in out.lines() {
            let line = line.strip_prefix(i).unwrap_or(line);
            if line.trim_start().starts_with(MARK) {
                let _ = writeln!(commented, "{i}{}", line.trim_start());
            } else {
                let _ = writeln!(commented, "{i}{MARK} {line}");
            }
        }
        return commented;
    }
    let _ = writeln!(out, "{i}  rules:");
    for rule in &c.rules {
        rule_yaml(&mut out, rule, &format!("{i}    "));
    }
    out
}

fn range_list(ranges: &[(u16, u16)]) -> String {
    let list: Vec<String> = ranges
        .iter()
        .map(|(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("\"{a}-{b}\"")
            }
        })
        .collect();
    format!("[{}]", list.join(", "))
}

fn rule_yaml(out: &mut String, rule: &ProposedRule, i: &str) {
    match rule {
        ProposedRule::Iec104 {
            port,
            type_ids,
            common_addresses,
        } => {
            let _ = writeln!(out, "{i}- protocol: iec104");
            let _ = writeln!(out, "{i}  ports: [{port}]");
            let _ = writeln!(out, "{i}  iec104:");
            let _ = writeln!(out, "{i}    type_ids:");
            for (t, s) in type_ids {
                let name = firewall_common::iec104::type_id(*t)
                    .map_or_else(|| t.to_string(), |n| n.name.into());
                let _ = writeln!(
                    out,
                    "{i}      - {:<12} # type {t}, {}",
                    name,
                    seen(s, "APDUs")
                );
            }
            if !common_addresses.is_empty() {
                let _ = writeln!(
                    out,
                    "{i}    common_addresses: {}   # seen",
                    range_list(common_addresses)
                );
            }
        }
        ProposedRule::Dnp3 {
            port,
            functions,
            addresses,
        } => {
            let _ = writeln!(out, "{i}- protocol: dnp3");
            let _ = writeln!(out, "{i}  ports: [{port}]");
            let _ = writeln!(out, "{i}  dnp3:");
            let _ = writeln!(out, "{i}    functions:");
            for (f, s) in functions {
                let name = firewall_common::dnp3::function(*f)
                    .map_or_else(|| f.to_string(), |n| n.name.into());
                let _ = writeln!(
                    out,
                    "{i}      - {:<12} # function {f}, {}",
                    name,
                    seen(s, "requests")
                );
            }
            if !addresses.is_empty() {
                let _ = writeln!(
                    out,
                    "{i}    addresses: {}   # link destinations seen",
                    range_list(addresses)
                );
            }
        }
        ProposedRule::Ports { protocol, ports } => {
            let _ = writeln!(out, "{i}- protocol: {protocol}");
            let _ = writeln!(out, "{i}  ports:");
            let what = if *protocol == "tcp" {
                "connections"
            } else {
                "datagrams"
            };
            for (first, last, s) in ports {
                let port = if first == last {
                    first.to_string()
                } else {
                    format!("\"{first}-{last}\"")
                };
                let _ = writeln!(out, "{i}    - {port:<14} # {}", seen(s, what));
            }
        }
        ProposedRule::Icmp { protocol, types } => {
            let _ = writeln!(out, "{i}- protocol: {protocol}");
            let _ = writeln!(out, "{i}  types:");
            for (t, s) in types {
                let _ = writeln!(out, "{i}    - {:<14} # {}", t, seen(s, "messages"));
            }
        }
        ProposedRule::Modbus {
            port,
            units,
            functions,
            addresses,
        } => {
            let _ = writeln!(out, "{i}- protocol: modbus");
            let _ = writeln!(out, "{i}  ports: [{port}]");
            let _ = writeln!(out, "{i}  modbus:");
            let _ = writeln!(out, "{i}    unit_ids:");
            for (u, s) in units {
                let _ = writeln!(out, "{i}      - {:<12} # {}", u, seen(s, "requests"));
            }
            let _ = writeln!(out, "{i}    functions:");
            for (f, s) in functions {
                let name = function_by_code(*f).map_or_else(|| f.to_string(), |n| n.name.into());
                let _ = writeln!(
                    out,
                    "{i}      - {:<12} # FC {f}, {}",
                    name,
                    seen(s, "requests")
                );
            }
            if !addresses.is_empty() {
                let _ = writeln!(
                    out,
                    "{i}    addresses:           # ranges seen, widened to 1,024-address blocks between the lowest and highest address"
                );
                for (table, ranges) in addresses {
                    let _ = writeln!(out, "{i}      {table}: {}", range_list(ranges));
                }
            }
        }
    }
}

/// The comment block at the top of a proposal: where it came from, what the caps did, how to
/// review it, and the addresses in no zone.
pub fn header(obs: &Observations, source: &str, added: usize, review: &[String]) -> String {
    let mut out = String::new();
    let m = MARK;
    let _ = writeln!(
        out,
        "{m} proposal from {source}, traffic of {} .. {} ({} samples).",
        time(obs.since),
        time(obs.until),
        obs.samples
    );
    let _ = writeln!(
        out,
        "{m} {added} conduit(s) added. Nothing here is enforced until you review and load it:"
    );
    for line in review {
        let _ = writeln!(out, "{m}   {line}");
    }
    for w in &obs.warnings {
        let _ = writeln!(out, "{m} WARNING: {w}");
    }
    out.push_str(&unknown_hosts(obs, m));
    out
}

/// The addresses in no zone, one per line, most packets first, each line starting with
/// `prefix`.
pub fn unknown_hosts(obs: &Observations, prefix: &str) -> String {
    let mut out = String::new();
    if obs.hosts.is_empty() && obs.hosts_not_listed == 0 {
        let _ = writeln!(out, "{prefix} no address outside the zones was seen.");
        return out;
    }
    let _ = writeln!(
        out,
        "{prefix} addresses in no zone (the inventory gap: add them to a zone or find out why they talk):"
    );
    for h in &obs.hosts {
        let dir = match (h.as_source, h.as_destination) {
            (true, true) => "from and to",
            (true, false) => "from",
            _ => "to",
        };
        let peer = if h.peer_zone.is_empty() {
            "no zone".to_string()
        } else {
            format!("zone {}", h.peer_zone)
        };
        let _ = writeln!(
            out,
            "{prefix}   {:<40} {} packets {dir} {peer}, {} .. {}",
            h.address,
            h.packets,
            time(h.first),
            time(h.last)
        );
    }
    if obs.hosts_not_listed != 0 {
        let _ = writeln!(
            out,
            "{prefix}   ... and {} more addresses ({} packets), not listed",
            obs.hosts_not_listed, obs.hosts_not_listed_packets
        );
    }
    out
}
