//! Addresses of the nftables rulesets: each zone's networks as disjoint spans per family
//! (longest prefix wins, as in the data path), and their set expressions.

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use crate::policy::ValidatedPolicy;

/// An address family of the ruleset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Family {
    V4,
    V6,
}

impl Family {
    pub(super) const BOTH: [Family; 2] = [Family::V4, Family::V6];

    /// Payload expression prefix (`ip` / `ip6`).
    pub(super) fn ip(self) -> &'static str {
        match self {
            Family::V4 => "ip",
            Family::V6 => "ip6",
        }
    }

    pub(super) fn addr_type(self) -> &'static str {
        match self {
            Family::V4 => "ipv4_addr",
            Family::V6 => "ipv6_addr",
        }
    }

    pub(super) fn digit(self) -> char {
        match self {
            Family::V4 => '4',
            Family::V6 => '6',
        }
    }

    pub(super) fn max(self) -> u128 {
        match self {
            Family::V4 => u128::from(u32::MAX),
            Family::V6 => u128::MAX,
        }
    }

    pub(super) fn bits(self) -> u32 {
        match self {
            Family::V4 => 32,
            Family::V6 => 128,
        }
    }

    pub(super) fn addr(self, a: u128) -> String {
        match self {
            Family::V4 => Ipv4Addr::from(a as u32).to_string(),
            Family::V6 => Ipv6Addr::from(a).to_string(),
        }
    }

    /// The ICMP of this family: (payload keyword, datatype, protocol number).
    pub(super) fn icmp(self) -> (&'static str, &'static str, u8) {
        match self {
            Family::V4 => ("icmp", "icmp_type", 1),
            Family::V6 => ("icmpv6", "icmpv6_type", 58),
        }
    }
}

/// An inclusive address range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Span {
    pub(super) first: u128,
    pub(super) last: u128,
}

impl Span {
    /// `a.b.c.d/len` when the range is a prefix, the bare address for a host, else `a-b`.
    pub(super) fn render(self, family: Family) -> String {
        let size = self.last.wrapping_sub(self.first).wrapping_add(1);
        let bits = family.bits();
        if size == 0 {
            // The whole IPv6 space.
            return format!("{}/0", family.addr(0));
        }
        if size.is_power_of_two() && self.first.is_multiple_of(size) {
            let len = bits - size.trailing_zeros();
            return if len == bits {
                family.addr(self.first)
            } else {
                format!("{}/{len}", family.addr(self.first))
            };
        }
        format!("{}-{}", family.addr(self.first), family.addr(self.last))
    }
}

/// The addresses of every zone, per family: its networks minus the more specific networks of
/// other zones (longest-prefix match decides a zone, as in the data path). `zones[i]` is zone
/// `i + 1`.
pub(super) fn zone_spans(policy: &ValidatedPolicy, family: Family) -> Vec<Vec<Span>> {
    let mut prefixes: Vec<(Span, u8, usize)> = Vec::new();
    for (i, z) in policy.zones().iter().enumerate() {
        for net in &z.networks {
            let (first, last, len) = match (net, family) {
                (IpNet::V4(n), Family::V4) => (
                    u128::from(u32::from(n.network())),
                    u128::from(u32::from(n.broadcast())),
                    n.prefix_len(),
                ),
                (IpNet::V6(n), Family::V6) => (
                    u128::from(n.network()),
                    u128::from(n.broadcast()),
                    n.prefix_len(),
                ),
                _ => continue,
            };
            prefixes.push((Span { first, last }, len, i));
        }
    }
    let mut points: Vec<u128> = prefixes
        .iter()
        .flat_map(|(s, _, _)| [Some(s.first), s.last.checked_add(1)])
        .flatten()
        .filter(|&p| p <= family.max())
        .collect();
    points.sort_unstable();
    points.dedup();
    let mut zones: Vec<Vec<Span>> = vec![Vec::new(); policy.zones().len()];
    for (k, &first) in points.iter().enumerate() {
        let last = points.get(k + 1).map_or(family.max(), |next| next - 1);
        // No prefix boundary lies inside [first, last]: one owner for all of it.
        let owner = prefixes
            .iter()
            .filter(|(s, _, _)| s.first <= first && first <= s.last)
            .max_by_key(|(_, len, _)| *len)
            .map(|(_, _, zone)| *zone);
        let Some(zone) = owner else { continue };
        let spans = &mut zones[zone];
        match spans.last_mut() {
            Some(prev) if prev.last.checked_add(1) == Some(first) => prev.last = last,
            _ => spans.push(Span { first, last }),
        }
    }
    zones
}

/// Adjacent or overlapping spans merged, sorted.
pub(super) fn union(mut spans: Vec<Span>) -> Vec<Span> {
    spans.sort_unstable();
    let mut out: Vec<Span> = Vec::new();
    for s in spans {
        match out.last_mut() {
            Some(prev) if s.first <= prev.last.saturating_add(1) => {
                prev.last = prev.last.max(s.last);
            }
            _ => out.push(s),
        }
    }
    out
}

/// `x` for one element, `{ x, y }` for several.
pub(super) fn set_expr(items: &[String]) -> String {
    match items {
        [one] => one.clone(),
        _ => format!("{{ {} }}", items.join(", ")),
    }
}

pub(super) fn addr_expr(spans: &[Span], family: Family) -> String {
    set_expr(&spans.iter().map(|s| s.render(family)).collect::<Vec<_>>())
}

/// Merged inclusive ranges of small integers (ports, ICMP types).
pub(super) fn merge_ranges<T: Copy + Ord + Into<u32>>(mut ranges: Vec<(T, T)>) -> Vec<(T, T)> {
    ranges.sort_unstable();
    let mut out: Vec<(T, T)> = Vec::new();
    for (first, last) in ranges {
        match out.last_mut() {
            Some(prev) if first.into() <= prev.1.into() + 1 => {
                if last > prev.1 {
                    prev.1 = last;
                }
            }
            _ => out.push((first, last)),
        }
    }
    out
}

pub(super) fn range_text<T: Copy + PartialEq + std::fmt::Display>((first, last): (T, T)) -> String {
    if first == last {
        first.to_string()
    } else {
        format!("{first}-{last}")
    }
}
