//! The daemon's running summary of what the data path learned: the LRU maps sampled every
//! second and folded in, so entries the kernel evicts (a flood of random ports) are kept here,
//! within caps, and counts survive an eviction.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{Ipv4Addr, Ipv6Addr};

use firewall_common::learn::{HostKey, HostValue, LearnKey, LearnValue, kind};

use super::{
    Flow, FlowKind, Host, MAX_ICMP_TYPES_PER_PAIR, MAX_MODBUS_PER_PAIR, MAX_PAIRS,
    MAX_PORTS_PER_PAIR, MAX_UNKNOWN_HOSTS, Observations,
};

/// Zone names by id (`names[id - 1]`) of the policy the samples were taken under.
#[derive(Clone, Debug, Default)]
pub struct ZoneNames(pub Vec<String>);

impl ZoneNames {
    fn name(&self, id: u16) -> Option<&str> {
        self.0
            .get((id as usize).checked_sub(1)?)
            .map(String::as_str)
    }
}

/// One service between two zones, as the summary keys it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct FlowId {
    from: String,
    to: String,
    kind: FlowKind,
    proto: u8,
    port: u16,
    unit: u8,
    function: u8,
}

/// A zone pair and protocol: the unit the caps count in.
type Group = (String, String, FlowKind, u8);

/// What was learned since learning started, bounded by the caps of [`super`].
#[derive(Clone, Debug, Default)]
pub struct Summary {
    since: u64,
    until: u64,
    samples: u64,
    flows: BTreeMap<FlowId, Flow>,
    /// Groups whose ports were collapsed into one range.
    collapsed: BTreeMap<Group, Flow>,
    /// Packets of each kernel entry at the previous sample (only entries of that sample).
    last: HashMap<LearnKey, u64>,
    last_hosts: HashMap<HostKey, u64>,
    hosts: BTreeMap<String, Host>,
    hosts_not_listed: u64,
    hosts_not_listed_packets: u64,
    warnings: BTreeSet<String>,
    pairs: BTreeSet<(String, String)>,
}

fn kind_of(k: u8) -> FlowKind {
    match k {
        kind::TCP => FlowKind::Tcp,
        kind::UDP => FlowKind::Udp,
        kind::ICMP => FlowKind::Icmp,
        kind::MODBUS => FlowKind::Modbus,
        kind::IEC104 => FlowKind::Iec104,
        kind::DNP3 => FlowKind::Dnp3,
        _ => FlowKind::Other,
    }
}

fn address(key: &HostKey) -> String {
    if key.family == 6 {
        Ipv6Addr::from(key.addr).to_string()
    } else {
        Ipv4Addr::new(key.addr[0], key.addr[1], key.addr[2], key.addr[3]).to_string()
    }
}

impl Summary {
    /// An empty summary started at `now_unix`.
    pub fn new(now_unix: u64) -> Self {
        Summary {
            since: now_unix,
            until: now_unix,
            ..Summary::default()
        }
    }

    /// Folds one sample of the kernel maps in. `now_unix` and `now_mono_ns` are the same
    /// instant on the wall clock and on CLOCK_MONOTONIC (the clock of the entries).
    pub fn absorb(
        &mut self,
        entries: &[(LearnKey, LearnValue)],
        hosts: &[(HostKey, HostValue)],
        zones: &ZoneNames,
        now_unix: u64,
        now_mono_ns: u64,
    ) {
        let unix =
            |mono: u64| now_unix.saturating_sub(now_mono_ns.saturating_sub(mono) / 1_000_000_000);
        self.samples += 1;
        self.until = now_unix;
        let mut last = HashMap::with_capacity(entries.len());
        for (key, value) in entries {
            // Packets since the previous sample: an entry evicted and created again starts
            // from its own count.
            let before = self.last.get(key).copied().filter(|b| *b <= value.packets);
            let delta = value.packets - before.unwrap_or(0);
            last.insert(*key, value.packets);
            if delta == 0 {
                continue;
            }
            let (Some(from), Some(to)) = (zones.name(key.src_zone), zones.name(key.dst_zone))
            else {
                continue;
            };
            self.add_flow(
                key,
                value,
                delta,
                from,
                to,
                unix(value.first_ns),
                unix(value.last_ns),
            );
        }
        self.last = last;
        let mut last_hosts = HashMap::with_capacity(hosts.len());
        for (key, value) in hosts {
            let before = self
                .last_hosts
                .get(key)
                .copied()
                .filter(|b| *b <= value.packets);
            let delta = value.packets - before.unwrap_or(0);
            last_hosts.insert(*key, value.packets);
            if delta == 0 {
                continue;
            }
            let address = address(key);
            if let Some(h) = self.hosts.get_mut(&address) {
                h.packets += delta;
                h.last = h.last.max(unix(value.last_ns));
                h.as_source |= value.seen_as & 1 != 0;
                h.as_destination |= value.seen_as & 2 != 0;
                if let Some(zone) = zones.name(value.peer_zone) {
                    h.peer_zone = zone.to_string();
                }
            } else if self.hosts.len() < MAX_UNKNOWN_HOSTS {
                self.hosts.insert(
                    address.clone(),
                    Host {
                        address,
                        packets: delta,
                        first: unix(value.first_ns),
                        last: unix(value.last_ns),
                        peer_zone: zones.name(value.peer_zone).unwrap_or("").to_string(),
                        as_source: value.seen_as & 1 != 0,
                        as_destination: value.seen_as & 2 != 0,
                    },
                );
            } else {
                if before.is_none() {
                    self.hosts_not_listed += 1;
                }
                self.hosts_not_listed_packets += delta;
                self.warnings.insert(format!(
                    "more than {MAX_UNKNOWN_HOSTS} addresses in no zone (a scan, spoofed \
                     sources, or zones missing from the draft): the first {MAX_UNKNOWN_HOSTS} \
                     are listed, the others only counted"
                ));
            }
        }
        self.last_hosts = last_hosts;
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "the kernel entry, its delta, its zones and its times"
    )]
    fn add_flow(
        &mut self,
        key: &LearnKey,
        value: &LearnValue,
        delta: u64,
        from: &str,
        to: &str,
        first: u64,
        last: u64,
    ) {
        let kind = kind_of(key.kind);
        let pair = (from.to_string(), to.to_string());
        if !self.pairs.contains(&pair) {
            if self.pairs.len() >= MAX_PAIRS {
                return;
            }
            self.pairs.insert(pair);
        }
        let group: Group = (from.to_string(), to.to_string(), kind, key.proto);
        let id = FlowId {
            from: from.to_string(),
            to: to.to_string(),
            kind,
            proto: key.proto,
            port: key.port,
            unit: key.unit,
            function: key.function,
        };
        let fold = |f: &mut Flow| {
            f.packets += delta;
            f.first = f.first.min(first);
            f.last = f.last.max(last);
            if value.lo <= value.hi {
                if f.lo > f.hi {
                    (f.lo, f.hi) = (value.lo, value.hi);
                } else {
                    f.lo = f.lo.min(value.lo);
                    f.hi = f.hi.max(value.hi);
                }
            }
            f.blocks |= value.blocks;
            f.max_quantity = f.max_quantity.max(value.max_quantity);
        };
        if let Some(f) = self.flows.get_mut(&id) {
            fold(f);
            return;
        }
        if let Some(c) = self.collapsed.get_mut(&group) {
            let new = key.port < c.port || key.port > c.port_last || !self.last.contains_key(key);
            c.port = c.port.min(key.port);
            c.port_last = c.port_last.max(key.port);
            if new {
                c.distinct += 1;
            }
            fold(c);
            return;
        }
        let in_group = self
            .flows
            .keys()
            .filter(|k| {
                k.from == group.0 && k.to == group.1 && k.kind == kind && k.proto == key.proto
            })
            .count();
        let cap = match kind {
            FlowKind::Tcp | FlowKind::Udp => MAX_PORTS_PER_PAIR,
            FlowKind::Icmp => MAX_ICMP_TYPES_PER_PAIR,
            FlowKind::Modbus | FlowKind::Iec104 | FlowKind::Dnp3 => MAX_MODBUS_PER_PAIR,
            FlowKind::Other => MAX_PORTS_PER_PAIR,
        };
        let flow = Flow {
            from: from.to_string(),
            to: to.to_string(),
            kind,
            proto: key.proto,
            port: key.port,
            port_last: key.port,
            distinct: 1,
            unit: key.unit,
            function: key.function,
            packets: 0,
            first,
            last,
            lo: u16::MAX,
            hi: 0,
            blocks: 0,
            max_quantity: 0,
        };
        if in_group < cap {
            let mut flow = flow;
            fold(&mut flow);
            self.flows.insert(id, flow);
            return;
        }
        if !matches!(kind, FlowKind::Tcp | FlowKind::Udp) {
            self.warnings.insert(format!(
                "{from} -> {to}: more than {cap} distinct {} keys; the rest is not proposed",
                format!("{kind:?}").to_lowercase()
            ));
            return;
        }
        // Too many ports for one zone pair and protocol: fold them into one range.
        let members: Vec<FlowId> = self
            .flows
            .keys()
            .filter(|k| {
                k.from == group.0 && k.to == group.1 && k.kind == kind && k.proto == key.proto
            })
            .cloned()
            .collect();
        let mut c = flow;
        fold(&mut c);
        for m in members {
            if let Some(f) = self.flows.remove(&m) {
                c.port = c.port.min(f.port);
                c.port_last = c.port_last.max(f.port_last);
                c.distinct += f.distinct;
                c.packets += f.packets;
                c.first = c.first.min(f.first);
                c.last = c.last.max(f.last);
            }
        }
        self.warnings.insert(format!(
            "{from} -> {to}: more than {MAX_PORTS_PER_PAIR} distinct {} ports (a port scan or \
             flood, or a service with dynamic ports): collapsed into one range, not proposed \
             as a rule",
            if kind == FlowKind::Tcp { "TCP" } else { "UDP" }
        ));
        self.collapsed.insert(group, c);
    }

    /// The summary as `zcfw learn` receives it.
    pub fn observations(&self, learning: bool) -> Observations {
        let mut flows: Vec<Flow> = self.flows.values().cloned().collect();
        flows.extend(self.collapsed.values().cloned());
        flows.sort_by(|a, b| {
            (&a.from, &a.to, a.kind, a.proto, a.port, a.unit, a.function)
                .cmp(&(&b.from, &b.to, b.kind, b.proto, b.port, b.unit, b.function))
        });
        let mut hosts: Vec<Host> = self.hosts.values().cloned().collect();
        hosts.sort_by(|a, b| b.packets.cmp(&a.packets).then(a.address.cmp(&b.address)));
        Observations {
            learning,
            since: self.since,
            until: self.until,
            samples: self.samples,
            flows,
            hosts,
            hosts_not_listed: self.hosts_not_listed,
            hosts_not_listed_packets: self.hosts_not_listed_packets,
            warnings: self.warnings.iter().cloned().collect(),
        }
    }
}
