//! Observations → proposed conduits: one per zone pair and direction, one rule per protocol
//! (ports merged into ranges), ICMP types, and for Modbus the unit ids, functions and address
//! ranges seen (at most [`MAX_ADDRESS_RANGES`] per profile). Pure.

use std::collections::{BTreeMap, BTreeSet};

use firewall_common::{
    dnp3, iec104,
    learn::BLOCK_ADDRESSES,
    modbus::{MAX_ADDRESS_RANGES, function_by_code},
};

use super::{Flow, FlowKind, Observations};

/// Count and first/last seen of one proposed item.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    pub packets: u64,
    pub first: u64,
    pub last: u64,
}

impl Seen {
    fn add(&mut self, f: &Flow) {
        if self.packets == 0 {
            self.first = f.first;
            self.last = f.last;
        } else {
            self.first = self.first.min(f.first);
            self.last = self.last.max(f.last);
        }
        self.packets += f.packets;
    }
}

/// A proposed rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProposedRule {
    /// `protocol` tcp or udp: port ranges with what was seen on each.
    Ports {
        protocol: &'static str,
        ports: Vec<(u16, u16, Seen)>,
    },
    /// `protocol` icmp or icmpv6: types.
    Icmp {
        protocol: &'static str,
        types: Vec<(u8, Seen)>,
    },
    /// Modbus/TCP on `port`.
    Modbus {
        port: u16,
        units: Vec<(u8, Seen)>,
        functions: Vec<(u8, Seen)>,
        /// Address table → ranges.
        addresses: BTreeMap<&'static str, Vec<(u16, u16)>>,
    },
    /// IEC 104 on `port`: type ids and common addresses.
    Iec104 {
        port: u16,
        type_ids: Vec<(u8, Seen)>,
        common_addresses: Vec<(u16, u16)>,
    },
    /// DNP3 on `port`: application functions and link destination addresses.
    Dnp3 {
        port: u16,
        functions: Vec<(u8, Seen)>,
        addresses: Vec<(u16, u16)>,
    },
}

/// A proposed conduit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProposedConduit {
    pub from: String,
    pub to: String,
    pub rules: Vec<ProposedRule>,
    /// What was seen but is not proposed (collapsed ports, other protocols, ...), in words.
    pub notes: Vec<String>,
}

/// Modbus functions learning proposes, with the address table each is checked against
/// (`None`: no address field). FC 8 is left out: learning does not see its sub-functions,
/// without which the rule would be refused.
pub fn modbus_table(function: u8) -> Option<Option<&'static str>> {
    Some(match function {
        1 => Some("read_coils"),
        2 => Some("read_discrete_inputs"),
        3 | 24 => Some("read_holding_registers"),
        4 => Some("read_input_registers"),
        5 | 15 => Some("write_coils"),
        6 | 16 | 22 => Some("write_holding_registers"),
        23 => Some("read_holding_registers"),
        8 => return None,
        _ => None,
    })
}

/// Default ports of the stream-inspected protocols: plain TCP to them is not proposed (it
/// would pass every command uninspected, an audit finding the traffic did not force).
const INSPECTED_PORTS: [(u16, &str); 3] = [(502, "modbus"), (2404, "iec104"), (20000, "dnp3")];

/// Proposed conduits for every zone pair of `obs`, in zone-pair order.
pub fn propose(obs: &Observations) -> Vec<ProposedConduit> {
    let mut pairs: BTreeMap<(String, String), Vec<&Flow>> = BTreeMap::new();
    for f in &obs.flows {
        pairs
            .entry((f.from.clone(), f.to.clone()))
            .or_default()
            .push(f);
    }
    pairs
        .into_iter()
        .map(|((from, to), flows)| conduit(from, to, &flows))
        .filter(|c| !c.rules.is_empty() || !c.notes.is_empty())
        .collect()
}

fn conduit(from: String, to: String, flows: &[&Flow]) -> ProposedConduit {
    let mut rules = Vec::new();
    let mut notes = Vec::new();
    let modbus: Vec<&Flow> = flows
        .iter()
        .copied()
        .filter(|f| f.kind == FlowKind::Modbus)
        .collect();
    let modbus_ports: BTreeSet<u16> = modbus.iter().map(|f| f.port).collect();
    // Ports an inspected rule takes: not proposed again as plain TCP.
    let inspected: BTreeSet<u16> = flows
        .iter()
        .filter(|f| matches!(f.kind, FlowKind::Modbus | FlowKind::Iec104 | FlowKind::Dnp3))
        .map(|f| f.port)
        .collect();
    for (protocol, kind) in [("tcp", FlowKind::Tcp), ("udp", FlowKind::Udp)] {
        let mut ports: BTreeMap<u16, Seen> = BTreeMap::new();
        for f in flows.iter().filter(|f| f.kind == kind) {
            if f.port != f.port_last {
                notes.push(format!(
                    "{protocol} to {} distinct ports in {}-{} ({} packets, {} .. {}): a scan, a \
                     flood or dynamic ports; not proposed, add a rule by hand if it is a service",
                    f.distinct,
                    f.port,
                    f.port_last,
                    f.packets,
                    time(f.first),
                    time(f.last)
                ));
                continue;
            }
            if kind == FlowKind::Tcp {
                if inspected.contains(&f.port) {
                    continue;
                }
                if let Some((_, name)) = INSPECTED_PORTS.iter().find(|(p, _)| *p == f.port) {
                    notes.push(format!(
                        "tcp {} ({} connections, {} .. {}): the {name} port, but no request was \
                         seen to learn from; not proposed as plain TCP (every command would pass \
                         uninspected): add a `protocol: {name}` rule by hand",
                        f.port,
                        f.packets,
                        time(f.first),
                        time(f.last)
                    ));
                    continue;
                }
            }
            ports.entry(f.port).or_default().add(f);
        }
        if !ports.is_empty() {
            rules.push(ProposedRule::Ports {
                protocol,
                ports: merge_ports(&ports),
            });
        }
    }
    for (protocol, proto) in [("icmp", 1u8), ("icmpv6", 58u8)] {
        let mut types: BTreeMap<u8, Seen> = BTreeMap::new();
        for f in flows
            .iter()
            .filter(|f| f.kind == FlowKind::Icmp && f.proto == proto)
        {
            types.entry((f.port >> 8) as u8).or_default().add(f);
        }
        if !types.is_empty() {
            rules.push(ProposedRule::Icmp {
                protocol,
                types: types.into_iter().collect(),
            });
        }
    }
    for port in modbus_ports {
        let of_port: Vec<&Flow> = modbus.iter().copied().filter(|f| f.port == port).collect();
        if let Some(rule) = modbus_rule(port, &of_port, &mut notes) {
            rules.push(rule);
        }
    }
    for kind in [FlowKind::Iec104, FlowKind::Dnp3] {
        let of_kind: Vec<&Flow> = flows.iter().copied().filter(|f| f.kind == kind).collect();
        let ports: BTreeSet<u16> = of_kind.iter().map(|f| f.port).collect();
        for port in ports {
            let of_port: Vec<&Flow> = of_kind.iter().copied().filter(|f| f.port == port).collect();
            if let Some(rule) = stream_rule(kind, port, &of_port, &mut notes) {
                rules.push(rule);
            }
        }
    }
    for f in flows.iter().filter(|f| f.kind == FlowKind::Other) {
        notes.push(format!(
            "IP protocol {} ({} packets, {} .. {}): the policy language has no rule for it; \
             not proposed",
            f.proto,
            f.packets,
            time(f.first),
            time(f.last)
        ));
    }
    ProposedConduit {
        from,
        to,
        rules,
        notes,
    }
}

/// Adjacent ports become one range (what was seen on them summed).
fn merge_ports(ports: &BTreeMap<u16, Seen>) -> Vec<(u16, u16, Seen)> {
    let mut out: Vec<(u16, u16, Seen)> = Vec::new();
    for (&port, seen) in ports {
        if let Some(last) = out.last_mut()
            && last.1 as u32 + 1 == port as u32
        {
            last.1 = port;
            last.2.packets += seen.packets;
            last.2.first = last.2.first.min(seen.first);
            last.2.last = last.2.last.max(seen.last);
            continue;
        }
        out.push((port, port, *seen));
    }
    out
}

fn modbus_rule(port: u16, flows: &[&Flow], notes: &mut Vec<String>) -> Option<ProposedRule> {
    let mut units: BTreeMap<u8, Seen> = BTreeMap::new();
    let mut functions: BTreeMap<u8, Seen> = BTreeMap::new();
    // Per address table: lowest, highest address and the blocks touched.
    let mut tables: BTreeMap<&'static str, (u16, u16, u64)> = BTreeMap::new();
    for f in flows {
        let Some(table) = modbus_table(f.function) else {
            notes.push(format!(
                "modbus function {} ({}, {} requests, unit {}): learning cannot see its \
                 sub-functions; not proposed, add `diagnostics` with `diagnostics_subfunctions` \
                 by hand if it is needed",
                f.function,
                function_by_code(f.function).map_or("unnamed", |n| n.name),
                f.packets,
                f.unit
            ));
            continue;
        };
        units.entry(f.unit).or_default().add(f);
        functions.entry(f.function).or_default().add(f);
        let mut add = |table: &'static str| {
            if f.lo > f.hi {
                return;
            }
            let e = tables.entry(table).or_insert((f.lo, f.hi, 0));
            e.0 = e.0.min(f.lo);
            e.1 = e.1.max(f.hi);
            e.2 |= f.blocks;
        };
        if let Some(table) = table {
            add(table);
        }
        if f.function == 23 {
            // Only the read half's addresses are recorded: the write half is allowed on
            // the same ranges, which the reviewer must check.
            add("write_holding_registers");
            notes.push(format!(
                "modbus function 23 (read_write_multiple_registers): its write half is proposed \
                 on the addresses of its read half ({}-{}); check them",
                f.lo, f.hi
            ));
        }
    }
    if functions.is_empty() {
        return None;
    }
    // A table every function uses must be listed: a function whose requests carried no
    // address gets its table's full range only when nothing narrower was seen.
    for &code in functions.keys() {
        if let Some(Some(table)) = modbus_table(code) {
            tables.entry(table).or_insert((0, u16::MAX, u64::MAX));
        }
    }
    let mut addresses: BTreeMap<&'static str, Vec<(u16, u16)>> = tables
        .into_iter()
        .map(|(t, (lo, hi, blocks))| (t, ranges_of(lo, hi, blocks)))
        .collect();
    cap_ranges(&mut addresses, MAX_ADDRESS_RANGES);
    Some(ProposedRule::Modbus {
        port,
        units: units.into_iter().collect(),
        functions: functions.into_iter().collect(),
        addresses,
    })
}

/// An IEC 104 or DNP3 rule: the type ids (functions) a controlling station (master) sent and
/// the common (destination) addresses it sent them to.
fn stream_rule(
    kind: FlowKind,
    port: u16,
    flows: &[&Flow],
    notes: &mut Vec<String>,
) -> Option<ProposedRule> {
    let mut codes: BTreeMap<u8, Seen> = BTreeMap::new();
    let (mut lo, mut hi, mut blocks) = (u16::MAX, 0u16, 0u64);
    for f in flows {
        let refused = match kind {
            FlowKind::Iec104 => matches!(
                iec104::class_of(f.function),
                Some(iec104::Class::Monitor | iec104::Class::Init)
            )
            .then_some("a monitoring-direction type id, which a controlling station never sends"),
            _ => dnp3::is_response(f.function)
                .then_some("a response function, which a master never sends"),
        };
        if let Some(why) = refused {
            notes.push(format!(
                "{} {} {} ({} times): {why}; not proposed",
                if kind == FlowKind::Iec104 {
                    "iec104"
                } else {
                    "dnp3"
                },
                if kind == FlowKind::Iec104 {
                    "type id"
                } else {
                    "function"
                },
                f.function,
                f.packets
            ));
            continue;
        }
        codes.entry(f.function).or_default().add(f);
        if f.lo <= f.hi {
            lo = lo.min(f.lo);
            hi = hi.max(f.hi);
            blocks |= f.blocks;
        }
    }
    if codes.is_empty() {
        return None;
    }
    let mut table = BTreeMap::from([("addresses", ranges_of(lo, hi, blocks))]);
    cap_ranges(&mut table, 8);
    let addresses = table.remove("addresses").unwrap_or_default();
    let codes = codes.into_iter().collect();
    Some(match kind {
        FlowKind::Iec104 => ProposedRule::Iec104 {
            port,
            type_ids: codes,
            common_addresses: addresses,
        },
        _ => ProposedRule::Dnp3 {
            port,
            functions: codes,
            addresses,
        },
    })
}

/// The ranges of the 1,024-address blocks set in `blocks`, the first starting at `lo` and the
/// last ending at `hi` (the exact bounds seen).
pub fn ranges_of(lo: u16, hi: u16, blocks: u64) -> Vec<(u16, u16)> {
    let mut out: Vec<(u16, u16)> = Vec::new();
    let mut b = 0u32;
    while b < 64 {
        if blocks & (1u64 << b) == 0 {
            b += 1;
            continue;
        }
        let start = b;
        while b < 64 && blocks & (1u64 << b) != 0 {
            b += 1;
        }
        let first = (start * BLOCK_ADDRESSES) as u16;
        let last = (b * BLOCK_ADDRESSES - 1).min(u16::MAX as u32) as u16;
        let (first, last) = (first.max(lo), last.min(hi));
        if first <= last {
            out.push((first, last));
        }
    }
    if out.is_empty() && lo <= hi {
        out.push((lo, hi));
    }
    out
}

/// Merges the ranges with the smallest gaps until the profile holds them: at most `max`
/// slots, tables with identical ranges sharing one (as the compiler counts them).
pub fn cap_ranges(tables: &mut BTreeMap<&'static str, Vec<(u16, u16)>>, max: usize) {
    loop {
        let slots: BTreeSet<(u16, u16)> = tables.values().flatten().copied().collect();
        if slots.len() <= max {
            return;
        }
        // The smallest gap between two ranges of one table.
        let best = tables
            .iter()
            .flat_map(|(t, rs)| {
                rs.windows(2)
                    .enumerate()
                    .map(move |(i, w)| (w[1].0 as u32 - w[0].1 as u32, *t, i))
            })
            .min();
        let Some((_, table, i)) = best else {
            // One range per table and still too many slots: give the tables one shared
            // hull each pair at a time (cannot happen with 6 tables and 8 slots).
            return;
        };
        if let Some(rs) = tables.get_mut(table) {
            let merged = (rs[i].0, rs[i + 1].1);
            rs.splice(i..=i + 1, [merged]);
        }
    }
}

/// Unix seconds as RFC 3339 (UTC).
pub fn time(unix: u64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix as i64)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}
