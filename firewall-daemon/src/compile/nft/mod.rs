//! `zcfw compile --format nft`: the nftables ruleset that enforces the same zones and conduits
//! as a policy, for the throughput benchmark (`benches/throughput.rs`) and for people who want
//! to compare. Three styles, each a complete `nft -f` file that replaces its own table:
//!
//! - [`NftStyle::Linear`]: a `netdev` table, one `ingress` base chain per interface (the same
//!   hook point as XDP, stateless), jumping to one regular chain with one rule per conduit rule
//!   (`ip saddr <from> ip daddr <to> tcp dport <ports> accept`), in file order, then drop.
//! - [`NftStyle::Sets`]: the same `netdev` chains, but the conduit rules live in named
//!   interval sets of concatenations (`ip saddr . ip daddr . meta l4proto . th dport`), so a
//!   packet costs a handful of set lookups whatever the number of rules.
//! - [`NftStyle::Conntrack`]: an `inet` table with a `forward` chain: `ct state
//!   established,related accept`, then the linear conduit chain for `ct state new`.
//!
//! Where the ruleset differs from zcfw (each difference is also a comment in the output):
//! - The `netdev` styles are stateless: replies of an allowed flow are dropped unless a conduit
//!   opens that direction too; only the conntrack style passes them like zcfw does.
//! - Modbus/TCP inspection (unit ids, function codes, addresses) has no nftables equivalent: a
//!   Modbus rule becomes a plain port rule.
//! - Zones are addresses by longest-prefix match: a zone's networks minus the more specific
//!   networks of other zones, written as prefixes and ranges.
//! - 802.1Q-tagged frames: zcfw looks inside the tags; the `netdev` styles drop tagged frames.
//! - Rate limits become per-source meters (`update @rl4_c<id> { ip saddr limit rate over ... }`);
//!   the sets style keeps the rules of rate-limited conduits linear, ahead of the set lookups.
//! - Denied packets are logged with a global `limit` (zcfw: a per-CPU event budget).

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt::Write as _,
};

mod l4;
mod spans;

use l4::{L4, proto_name};
use spans::{Family, Span, addr_expr, merge_ranges, range_text, set_expr, union, zone_spans};

use crate::policy::{Conduit, LogMode, Mode, Rule, ValidatedPolicy};

/// Which nftables ruleset `zcfw compile --format nft` writes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum NftStyle {
    /// `netdev` ingress chains, one rule per conduit rule (stateless).
    #[default]
    Linear,
    /// `netdev` ingress chains, conduit rules in concatenated interval sets (stateless).
    Sets,
    /// `inet` forward chain with connection tracking (stateful, like zcfw).
    Conntrack,
}

impl NftStyle {
    pub const fn name(self) -> &'static str {
        match self {
            NftStyle::Linear => "linear",
            NftStyle::Sets => "sets",
            NftStyle::Conntrack => "conntrack",
        }
    }
}

/// Name of the table every style creates (and replaces).
pub const TABLE: &str = "zcfw";

/// ICMPv6 neighbour discovery types (router/neighbour solicitation/advertisement, redirect).
const ND_TYPES: &str = "133-137";
/// Denied packets logged per second (all CPUs) when the policy logs denies.
const LOG_RATE: u32 = 1000;

/// The nftables ruleset equivalent to `policy` in `style` (an `nft -f` file).
pub fn render_nft(policy: &ValidatedPolicy, style: NftStyle) -> String {
    let r = Renderer::new(policy, style);
    let mut out = String::new();
    r.header(&mut out);
    match style {
        NftStyle::Linear | NftStyle::Sets => r.netdev(&mut out),
        NftStyle::Conntrack => r.inet(&mut out),
    }
    out
}

struct Renderer<'a> {
    policy: &'a ValidatedPolicy,
    style: NftStyle,
    /// Per family, per zone index: its addresses.
    spans: [Vec<Vec<Span>>; 2],
    /// What a deny does: `drop`, or `accept` in monitor mode (would-be denies pass).
    deny: &'static str,
    monitor: bool,
}

impl<'a> Renderer<'a> {
    fn new(policy: &'a ValidatedPolicy, style: NftStyle) -> Self {
        Renderer {
            policy,
            style,
            spans: [
                zone_spans(policy, Family::V4),
                zone_spans(policy, Family::V6),
            ],
            deny: if policy.defaults().mode == Mode::Monitor {
                "accept"
            } else {
                "drop"
            },
            monitor: policy.defaults().mode == Mode::Monitor,
        }
    }

    fn zone(&self, family: Family, name: &str) -> &[Span] {
        let index = self
            .policy
            .zones()
            .iter()
            .position(|z| z.name == name)
            .unwrap_or(usize::MAX);
        self.spans[family as usize]
            .get(index)
            .map_or(&[][..], Vec::as_slice)
    }

    fn header(&self, out: &mut String) {
        let p = self.policy;
        let _ = writeln!(
            out,
            "#!/usr/sbin/nft -f\n\
             # nftables equivalent of zcfw policy \"{}\" (sha256 {}), style {}.\n\
             # Generated by `zcfw compile --format nft --nft-style {}`; load with `nft -f FILE`\n\
             # (replaces table {} {TABLE}).",
            p.name(),
            p.source_hash(),
            self.style.name(),
            self.style.name(),
            self.family_name(),
        );
        let notes: &[&str] = match self.style {
            NftStyle::Linear | NftStyle::Sets => &[
                "Stateless (netdev ingress, the hook point of XDP): replies of allowed flows are",
                "dropped unless a conduit opens that direction too (zcfw passes them through its",
                "conntrack); `--nft-style conntrack` is the stateful equivalent.",
                "802.1Q-tagged frames are dropped (zcfw looks inside the tags).",
            ],
            NftStyle::Conntrack => &[
                "Stateful (inet forward chain, connection tracking): replies and established flows",
                "pass like in zcfw; only routed traffic is filtered (zcfw also sees traffic to the",
                "gateway itself) and non-IP frames (l2.allow) are not routed.",
            ],
        };
        for n in notes {
            let _ = writeln!(out, "# {n}");
        }
        let _ = writeln!(
            out,
            "# Deep inspection (Modbus/TCP, IEC 60870-5-104, DNP3) has no nftables equivalent:\n\
             # inspected rules are exported as their L4 approximation, port rules.\n\
             # Zone addresses are longest-prefix matches: a zone's networks minus the more\n\
             # specific networks of other zones."
        );
        if p.defaults().mode == Mode::Monitor {
            let _ = writeln!(
                out,
                "# Monitor mode: would-be denies are counted (and logged) but accepted."
            );
        }
        let _ = writeln!(out);
    }

    fn family_name(&self) -> &'static str {
        match self.style {
            NftStyle::Linear | NftStyle::Sets => "netdev",
            NftStyle::Conntrack => "inet",
        }
    }

    /// `table X zcfw` + `delete table X zcfw`: replace the table in one transaction.
    fn open_table(&self, out: &mut String) {
        let f = self.family_name();
        let _ = writeln!(out, "table {f} {TABLE}\ndelete table {f} {TABLE}\n");
        let _ = writeln!(out, "table {f} {TABLE} {{");
    }

    fn netdev(&self, out: &mut String) {
        self.open_table(out);
        self.meter_sets(out);
        if self.style == NftStyle::Sets {
            self.conduit_sets(out);
        }
        self.conduit_chain(out);
        let l2 = self.policy.l2();
        let mut chains: Vec<String> = Vec::new();
        for iface in self.policy.interfaces() {
            let mut chain = format!(
                "ingress_{}",
                iface
                    .name
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                    .collect::<String>()
            );
            if chains.contains(&chain) {
                chain = format!("{chain}_{}", chains.len());
            }
            chains.push(chain.clone());
            let _ = writeln!(
                out,
                "\n\tchain {chain} {{\n\
                 \t\ttype filter hook ingress device \"{}\" priority filter; policy {};",
                iface.name, self.deny
            );
            if !l2.ethertypes.is_empty() {
                let types: Vec<String> =
                    l2.ethertypes.iter().map(|t| format!("{t:#06x}")).collect();
                let _ = writeln!(
                    out,
                    "\t\tmeta protocol {} accept comment \"l2.allow\"",
                    set_expr(&types)
                );
            }
            if l2.neighbor_discovery {
                let _ = writeln!(
                    out,
                    "\t\ticmpv6 type {{ {ND_TYPES} }} accept comment \"neighbour discovery\""
                );
            }
            let _ = writeln!(
                out,
                "\t\tmeta protocol != {{ ip, ip6 }} counter {} comment \"l2_denied\"",
                self.deny
            );
            self.anti_spoof(out, iface, "");
            let _ = writeln!(out, "\t\tjump conduits");
            self.default_deny(out);
            let _ = writeln!(out, "\t}}");
        }
        let _ = writeln!(out, "}}");
    }

    fn inet(&self, out: &mut String) {
        self.open_table(out);
        self.meter_sets(out);
        self.conduit_chain(out);
        let names: Vec<String> = self
            .policy
            .interfaces()
            .iter()
            .map(|i| format!("\"{}\"", i.name))
            .collect();
        let _ = writeln!(
            out,
            "\n\tchain forward {{\n\
             \t\ttype filter hook forward priority filter; policy {};\n\
             \t\tiifname != {} accept comment \"zcfw filters only its interfaces\"",
            self.deny,
            set_expr(&names)
        );
        for iface in self.policy.interfaces() {
            self.anti_spoof(out, iface, &format!("iifname \"{}\" ", iface.name));
        }
        let _ = writeln!(
            out,
            "\t\tct state established,related accept\n\
             \t\tct state new jump conduits"
        );
        self.default_deny(out);
        let _ = writeln!(out, "\t}}\n}}");
    }

    /// Anti-spoofing of an interface that lists its zones: every rule starts with `prefix`
    /// (netdev: nothing, the chain is the interface's; inet: `iifname "eth0" `).
    fn anti_spoof(&self, out: &mut String, iface: &crate::policy::Interface, prefix: &str) {
        let Some(zones) = &iface.zones else { return };
        for family in Family::BOTH {
            let spans = union(
                zones
                    .iter()
                    .flat_map(|z| self.zone(family, z).iter().copied())
                    .collect(),
            );
            let what = if spans.is_empty() {
                // None of the listed zones has an address of this family.
                match (self.style, family) {
                    (NftStyle::Conntrack, Family::V4) => "meta nfproto ipv4".to_string(),
                    (NftStyle::Conntrack, Family::V6) => "meta nfproto ipv6".to_string(),
                    (_, f) => format!("meta protocol {}", f.ip()),
                }
            } else {
                format!("{} saddr != {}", family.ip(), addr_expr(&spans, family))
            };
            let _ = writeln!(
                out,
                "\t\t{prefix}{what} counter {} comment \"spoofed_source\"",
                self.deny
            );
        }
    }

    fn default_deny(&self, out: &mut String) {
        if self.policy.defaults().log != LogMode::None {
            let _ = writeln!(
                out,
                "\t\tlimit rate {LOG_RATE}/second log prefix \"zcfw default_deny \""
            );
        }
        let _ = writeln!(out, "\t\tcounter {} comment \"default_deny\"", self.deny);
    }

    /// Per-source rate-limit meters of rate-limited conduits.
    fn meter_sets(&self, out: &mut String) {
        for c in self.policy.conduits() {
            if c.rate_limit.is_none() {
                continue;
            }
            for family in Family::BOTH {
                if self.zone(family, &c.from).is_empty() || self.zone(family, &c.to).is_empty() {
                    continue;
                }
                let _ = writeln!(
                    out,
                    "\tset rl{}_c{} {{\n\
                     \t\ttype {}\n\
                     \t\tsize 65535\n\
                     \t\tflags dynamic,timeout\n\
                     \t\ttimeout 1m\n\
                     \t\tcomment \"rate limit of conduit {}\"\n\
                     \t}}",
                    family.digit(),
                    c.id,
                    family.addr_type(),
                    c.name
                );
            }
        }
    }

    /// The regular chain every base chain jumps to: conduit rules (linear), or set lookups
    /// (sets style; rate-limited conduits stay linear in front of them).
    fn conduit_chain(&self, out: &mut String) {
        let _ = writeln!(out, "\tchain conduits {{");
        if self.style == NftStyle::Sets {
            for c in self.policy.conduits() {
                if c.rate_limit.is_some() {
                    self.conduit_rules(out, c);
                }
            }
            for family in Family::BOTH {
                let d = family.digit();
                let ip = family.ip();
                let icmp = family.icmp().0;
                let sets = self.set_elements(family);
                for (name, lookup) in [
                    (
                        "ports",
                        format!("{ip} saddr . {ip} daddr . meta l4proto . th dport"),
                    ),
                    ("proto", format!("{ip} saddr . {ip} daddr . meta l4proto")),
                    ("icmp", format!("{ip} saddr . {ip} daddr . {icmp} type")),
                    ("any", format!("{ip} saddr . {ip} daddr")),
                ] {
                    if sets.get(name).is_some_and(|e| !e.is_empty()) {
                        let _ = writeln!(out, "\t\t{lookup} @c{d}_{name} accept");
                    }
                }
            }
        } else {
            for z in self.policy.zones() {
                if !z.intra_zone_allow {
                    continue;
                }
                for family in Family::BOTH {
                    let spans = self.zone(family, &z.name);
                    if spans.is_empty() {
                        continue;
                    }
                    let a = addr_expr(spans, family);
                    let ip = family.ip();
                    let _ = writeln!(
                        out,
                        "\t\t{ip} saddr {a} {ip} daddr {a} accept comment \"intra-zone {}\"",
                        z.name
                    );
                }
            }
            for c in self.policy.conduits() {
                self.conduit_rules(out, c);
            }
        }
        let _ = writeln!(out, "\t}}");
    }

    /// One nft rule per rule of `c` and family (two with a rate limit: meter, then accept).
    fn conduit_rules(&self, out: &mut String, c: &Conduit) {
        let _ = writeln!(
            out,
            "\t\t# conduit {} ({}): {} -> {}",
            c.name, c.id, c.from, c.to
        );
        for rule in &c.rules {
            if let Some(what) = uninspected(rule) {
                let _ = writeln!(
                    out,
                    "\t\t# {}: {what} are not checked (no nftables equivalent): port rule only, \
                     the L4 approximation of zcfw's deep inspection",
                    rule.protocol().name()
                );
            }
            for family in Family::BOTH {
                let (from, to) = (self.zone(family, &c.from), self.zone(family, &c.to));
                if from.is_empty() || to.is_empty() {
                    continue;
                }
                let Some(l4) = L4::of(rule, family) else {
                    continue;
                };
                let ip = family.ip();
                let m = format!(
                    "{ip} saddr {} {ip} daddr {}{}",
                    addr_expr(from, family),
                    addr_expr(to, family),
                    l4.render(family)
                );
                if let Some(rl) = c.rate_limit {
                    let monitor = c.mode == Mode::Monitor || self.monitor;
                    let verdict = if monitor {
                        format!("log prefix \"zcfw alert rate_limited c{} \"", c.id)
                    } else {
                        "counter drop".to_string()
                    };
                    let _ = writeln!(
                        out,
                        "\t\t{m} update @rl{}_c{} {{ {ip} saddr limit rate over {}/second burst {} packets }} {verdict}",
                        family.digit(),
                        c.id,
                        rl.pps,
                        rl.burst
                    );
                }
                let _ = writeln!(out, "\t\t{m} accept");
            }
        }
    }

    /// Elements of the sets style's named sets of one family, by set name (`ports`, `proto`,
    /// `icmp`, `any`), each element one rendered line; conduits with a rate limit excluded.
    fn set_elements(&self, family: Family) -> BTreeMap<&'static str, Vec<String>> {
        type Pair = (usize, usize);
        let index = |name: &str| {
            self.policy
                .zones()
                .iter()
                .position(|z| z.name == name)
                .unwrap_or(usize::MAX)
        };
        let mut any: BTreeSet<Pair> = BTreeSet::new();
        let mut proto: BTreeSet<(Pair, u8)> = BTreeSet::new();
        let mut ports: BTreeMap<(Pair, u8), Vec<(u16, u16)>> = BTreeMap::new();
        let mut icmp: BTreeMap<Pair, Vec<(u8, u8)>> = BTreeMap::new();
        for (i, z) in self.policy.zones().iter().enumerate() {
            if z.intra_zone_allow {
                any.insert((i, i));
            }
        }
        for c in self.policy.conduits() {
            if c.rate_limit.is_some() {
                continue;
            }
            let pair = (index(&c.from), index(&c.to));
            for rule in &c.rules {
                match L4::of(rule, family) {
                    None => {}
                    Some(L4::Any) => {
                        any.insert(pair);
                    }
                    Some(L4::Proto(p)) => {
                        proto.insert((pair, p));
                    }
                    Some(L4::Ports(p, r)) => ports.entry((pair, p)).or_default().extend(r),
                    Some(L4::IcmpTypes(t)) => icmp.entry(pair).or_default().extend(t),
                }
            }
        }
        let spans = &self.spans[family as usize];
        let empty = Vec::new();
        let zone = |i: usize| spans.get(i).unwrap_or(&empty);
        // Every (source range, destination range) of a zone pair.
        let cross = |(s, d): Pair| {
            let mut v = Vec::new();
            for a in zone(s) {
                for b in zone(d) {
                    v.push(format!("{} . {}", a.render(family), b.render(family)));
                }
            }
            v
        };
        let mut sets: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
        for ((pair, p), ranges) in ports {
            for addrs in cross(pair) {
                for r in merge_ranges(ranges.clone()) {
                    sets.entry("ports").or_default().push(format!(
                        "{addrs} . {} . {}",
                        proto_name(p),
                        range_text(r)
                    ));
                }
            }
        }
        for (pair, p) in proto {
            for addrs in cross(pair) {
                sets.entry("proto")
                    .or_default()
                    .push(format!("{addrs} . {}", proto_name(p)));
            }
        }
        for (pair, types) in icmp {
            for addrs in cross(pair) {
                for r in merge_ranges(types.clone()) {
                    sets.entry("icmp")
                        .or_default()
                        .push(format!("{addrs} . {}", range_text(r)));
                }
            }
        }
        for pair in any {
            for addrs in cross(pair) {
                sets.entry("any").or_default().push(addrs);
            }
        }
        sets
    }

    /// Named sets of the sets style.
    fn conduit_sets(&self, out: &mut String) {
        for family in Family::BOTH {
            let addr = family.addr_type();
            for (name, elements) in self.set_elements(family) {
                let key = match name {
                    "ports" => format!("{addr} . {addr} . inet_proto . inet_service"),
                    "proto" => format!("{addr} . {addr} . inet_proto"),
                    "icmp" => format!("{addr} . {addr} . {}", family.icmp().1),
                    _ => format!("{addr} . {addr}"),
                };
                let _ = writeln!(
                    out,
                    "\tset c{}_{name} {{\n\t\ttype {key}\n\t\tflags interval\n\t\telements = {{",
                    family.digit()
                );
                let last = elements.len().saturating_sub(1);
                for (i, e) in elements.iter().enumerate() {
                    let _ = writeln!(out, "\t\t\t{e}{}", if i == last { "" } else { "," });
                }
                let _ = writeln!(out, "\t\t}}\n\t}}\n");
            }
        }
    }
}

/// What the data path checks of an inspected rule that nftables cannot express (`None` for a
/// rule without deep inspection).
fn uninspected(rule: &Rule) -> Option<&'static str> {
    match rule {
        Rule::Modbus { .. } => Some("unit ids, function codes and addresses"),
        Rule::Iec104 { .. } => Some(
            "APDU framing, STARTDT, type ids, causes, common addresses and the monitoring direction",
        ),
        Rule::Dnp3 { .. } => {
            Some("link framing and CRCs, transport sequence, function codes and link addresses")
        }
        Rule::S7comm { .. } => Some(
            "TPKT/COTP framing, called TSAPs, S7 job and userdata functions, item areas and DB numbers, S7comm-plus",
        ),
        Rule::Enip { .. } => Some(
            "encapsulation framing and commands, sessions, CIP services and classes, also inside unconnected_send and multiple_service_packet",
        ),
        Rule::Opcua { .. } => Some(
            "UA TCP and Secure Conversation framing, channel order, security policies of OpenSecureChannel, services of cleartext requests",
        ),
        Rule::Bacnet { .. } => Some(
            "BVLC functions (Forwarded-NPDU), NPDU framing and network-layer messages, confirmed and unconfirmed services, the reply direction",
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy;

    fn load(src: &str) -> ValidatedPolicy {
        policy::load_str(src, "t.yaml").expect("valid policy")
    }

    const PLANT: &str = "version: 1\nname: t\ninterfaces:\n  - { name: eth0, zones: [a] }\n\
        zones:\n  a: { security_level: 1, networks: [10.1.0.0/16] }\n\
        \x20 b: { security_level: 2, networks: [10.1.2.0/24, \"fd00::/64\"] }\n\
        \x20 c: { security_level: 2, networks: [10.2.0.0/24], intra_zone: allow }\n\
        conduits:\n\
        \x20 - { name: ab, from: a, to: b, rules: [{ protocol: tcp, ports: [22, 80] }, { protocol: icmp, types: [echo-request] }] }\n\
        \x20 - { name: bc, from: b, to: c, rules: [{ protocol: modbus, modbus: { unit_ids: [1], read_only: true } }] }\n";

    #[test]
    fn zone_spans_follow_longest_prefix() {
        let p = load(PLANT);
        let v4 = zone_spans(&p, Family::V4);
        let text: Vec<Vec<String>> = v4
            .iter()
            .map(|z| z.iter().map(|s| s.render(Family::V4)).collect())
            .collect();
        assert_eq!(
            text,
            vec![
                vec!["10.1.0.0/23".to_string(), "10.1.3.0-10.1.255.255".into()],
                vec!["10.1.2.0/24".to_string()],
                vec!["10.2.0.0/24".to_string()],
            ]
        );
        let v6 = zone_spans(&p, Family::V6);
        assert_eq!(v6[1][0].render(Family::V6), "fd00::/64");
        assert!(v6[0].is_empty());
    }

    #[test]
    fn linear_has_one_rule_per_conduit_rule_and_family() {
        let out = render_nft(&load(PLANT), NftStyle::Linear);
        assert!(out.contains(
            "ip saddr { 10.1.0.0/23, 10.1.3.0-10.1.255.255 } ip daddr 10.1.2.0/24 tcp dport { 22, 80 } accept"
        ));
        assert!(out.contains("icmp type 8 accept"));
        assert!(out.contains("ip saddr 10.1.2.0/24 ip daddr 10.2.0.0/24 tcp dport 502 accept"));
        assert!(out.contains("# modbus:"));
        assert!(out.contains("type filter hook ingress device \"eth0\""));
        assert!(out.contains("intra-zone c"));
        assert!(out.contains("saddr != { 10.1.0.0/23, 10.1.3.0-10.1.255.255 }"));
        // a has no IPv6 network: IPv6 on eth0 is spoofed.
        assert!(out.contains("meta protocol ip6 counter drop comment \"spoofed_source\""));
        assert!(!out.contains("ip6 saddr fd00::/64 ip6 daddr"));
        assert!(out.ends_with("}\n"));
    }

    #[test]
    fn sets_merge_ports_and_cross_zone_ranges() {
        let out = render_nft(&load(PLANT), NftStyle::Sets);
        assert!(out.contains("set c4_ports {"));
        assert!(out.contains("10.1.0.0/23 . 10.1.2.0/24 . tcp . 22,"));
        assert!(out.contains("10.1.3.0-10.1.255.255 . 10.1.2.0/24 . tcp . 80"));
        assert!(out.contains("ip saddr . ip daddr . meta l4proto . th dport @c4_ports accept"));
        assert!(out.contains("ip saddr . ip daddr . icmp type @c4_icmp accept"));
        assert!(out.contains("10.2.0.0/24 . 10.2.0.0/24"));
        assert!(!out.contains("c6_"));
    }

    #[test]
    fn conntrack_accepts_established_then_judges_new() {
        let out = render_nft(&load(PLANT), NftStyle::Conntrack);
        assert!(out.contains("table inet zcfw {"));
        assert!(
            out.contains("ct state established,related accept\n\t\tct state new jump conduits")
        );
        assert!(out.contains("iifname \"eth0\" ip saddr != {"));
        assert!(out.contains("iifname \"eth0\" meta nfproto ipv6 counter drop"));
    }

    #[test]
    fn spans_render_prefixes_hosts_and_ranges() {
        let s = |first, last| Span { first, last };
        assert_eq!(s(0x0a00_0000, 0x0aff_ffff).render(Family::V4), "10.0.0.0/8");
        assert_eq!(s(0x0a00_0001, 0x0a00_0001).render(Family::V4), "10.0.0.1");
        assert_eq!(
            s(0x0a00_0001, 0x0a00_0002).render(Family::V4),
            "10.0.0.1-10.0.0.2"
        );
        assert_eq!(s(0, u128::from(u32::MAX)).render(Family::V4), "0.0.0.0/0");
        assert_eq!(s(0, u128::MAX).render(Family::V6), "::/0");
    }
}
