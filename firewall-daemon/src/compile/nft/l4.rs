//! What a conduit rule matches beyond addresses, as nftables expressions.

use super::spans::{Family, merge_ranges, range_text, set_expr};
use crate::policy::{Protocol, Rule};

/// A protocol as nft reads it: its name where zcfw has one (nft knows them all), else its
/// number.
pub(super) fn proto_name(proto: u8) -> String {
    firewall_common::flow::proto::name(proto).map_or_else(|| proto.to_string(), str::to_owned)
}

/// What a conduit rule matches beyond addresses, in one family.
pub(super) enum L4 {
    /// Every protocol.
    Any,
    /// Every packet of an IP protocol.
    Proto(u8),
    /// TCP or UDP to these ports.
    Ports(u8, Vec<(u16, u16)>),
    /// ICMP(v6) of these types.
    IcmpTypes(Vec<(u8, u8)>),
}

impl L4 {
    /// `None`: the rule does not apply to `family` (ICMP on IPv6, ICMPv6 on IPv4).
    pub(super) fn of(rule: &Rule, family: Family) -> Option<L4> {
        let ports = |ranges: &[crate::policy::PortRange]| {
            merge_ranges(ranges.iter().map(|r| (r.first, r.last)).collect())
        };
        Some(match rule {
            Rule::Any => L4::Any,
            Rule::Transport { protocol, ports: p } => {
                let proto = protocol.number().unwrap_or(0);
                match p {
                    None => L4::Proto(proto),
                    Some(ranges) => L4::Ports(proto, ports(ranges)),
                }
            }
            Rule::Modbus { ports: p, .. }
            | Rule::Iec104 { ports: p, .. }
            | Rule::Dnp3 { ports: p, .. }
            | Rule::S7comm { ports: p, .. }
            | Rule::Enip { ports: p, .. }
            | Rule::Opcua { ports: p, .. } => L4::Ports(6, ports(p)),
            Rule::Bacnet { ports: p, .. } => L4::Ports(17, ports(p)),
            Rule::Icmp { protocol, types } => {
                let wanted = match protocol {
                    Protocol::Icmpv6 => Family::V6,
                    _ => Family::V4,
                };
                if wanted != family {
                    return None;
                }
                match types {
                    None => L4::Proto(family.icmp().2),
                    Some(t) => L4::IcmpTypes(merge_ranges(t.iter().map(|&t| (t, t)).collect())),
                }
            }
        })
    }

    /// The match expression (empty for [`L4::Any`]).
    pub(super) fn render(&self, family: Family) -> String {
        match self {
            L4::Any => String::new(),
            L4::Proto(p) => format!(" meta l4proto {}", proto_name(*p)),
            L4::Ports(p, ranges) => format!(
                " {} dport {}",
                proto_name(*p),
                set_expr(&ranges.iter().map(|&r| range_text(r)).collect::<Vec<_>>())
            ),
            L4::IcmpTypes(types) => format!(
                " {} type {}",
                family.icmp().0,
                set_expr(&types.iter().map(|&r| range_text(r)).collect::<Vec<_>>())
            ),
        }
    }
}
