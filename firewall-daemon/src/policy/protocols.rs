//! The names the policy language knows: rule protocols, ICMP message types, ethertypes.
//!
//! [`protocol_support`] is the one place that says which protocols this build enforces;
//! lifting an industrial protocol out of "not supported yet" starts there.

/// A rule protocol this build enforces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
    Icmp,
    Icmpv6,
    Any,
}

impl Protocol {
    pub const fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Icmp => "icmp",
            Protocol::Icmpv6 => "icmpv6",
            Protocol::Any => "any",
        }
    }

    /// IP protocol number; `None` for `any`.
    pub const fn number(self) -> Option<u8> {
        match self {
            Protocol::Tcp => Some(6),
            Protocol::Udp => Some(17),
            Protocol::Icmp => Some(1),
            Protocol::Icmpv6 => Some(58),
            Protocol::Any => None,
        }
    }
}

/// Protocols a rule may name in this build, in the order help texts list them.
pub const SUPPORTED_PROTOCOLS: [Protocol; 5] = [
    Protocol::Tcp,
    Protocol::Udp,
    Protocol::Icmp,
    Protocol::Icmpv6,
    Protocol::Any,
];

/// An industrial protocol of the language whose deep inspection this build lacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Industrial {
    /// Keyword in the policy (`modbus`), also the key of its options block.
    pub keyword: &'static str,
    /// Name people know it by.
    pub display: &'static str,
    /// Transport and well-known port it implies.
    pub transport: Protocol,
    pub port: u16,
}

/// Industrial protocols of the language (DESIGN.md), with their transport and port.
pub const INDUSTRIAL_PROTOCOLS: [Industrial; 7] = [
    Industrial {
        keyword: "modbus",
        display: "Modbus/TCP",
        transport: Protocol::Tcp,
        port: 502,
    },
    Industrial {
        keyword: "dnp3",
        display: "DNP3",
        transport: Protocol::Tcp,
        port: 20000,
    },
    Industrial {
        keyword: "s7comm",
        display: "S7comm",
        transport: Protocol::Tcp,
        port: 102,
    },
    Industrial {
        keyword: "enip",
        display: "EtherNet/IP",
        transport: Protocol::Tcp,
        port: 44818,
    },
    Industrial {
        keyword: "iec104",
        display: "IEC 60870-5-104",
        transport: Protocol::Tcp,
        port: 2404,
    },
    Industrial {
        keyword: "opcua",
        display: "OPC UA",
        transport: Protocol::Tcp,
        port: 4840,
    },
    Industrial {
        keyword: "bacnet",
        display: "BACnet/IP",
        transport: Protocol::Udp,
        port: 47808,
    },
];

/// What this build makes of a rule's `protocol:` value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtocolSupport {
    Supported(Protocol),
    /// Part of the language, but deep inspection is not in this build.
    NotInThisBuild(Industrial),
    Unknown,
}

/// The single list of what this build enforces: move an industrial protocol into
/// `Supported` here once its inspection profile exists.
pub fn protocol_support(name: &str) -> ProtocolSupport {
    if let Some(p) = SUPPORTED_PROTOCOLS.iter().find(|p| p.name() == name) {
        return ProtocolSupport::Supported(*p);
    }
    match INDUSTRIAL_PROTOCOLS.iter().find(|p| p.keyword == name) {
        Some(p) => ProtocolSupport::NotInThisBuild(*p),
        None => ProtocolSupport::Unknown,
    }
}

/// ICMP (IPv4) message type names.
pub const ICMP_TYPES: [(&str, u8); 11] = [
    ("echo-reply", 0),
    ("destination-unreachable", 3),
    ("source-quench", 4),
    ("redirect", 5),
    ("echo-request", 8),
    ("router-advertisement", 9),
    ("router-solicitation", 10),
    ("time-exceeded", 11),
    ("parameter-problem", 12),
    ("timestamp-request", 13),
    ("timestamp-reply", 14),
];

/// ICMPv6 message type names (neighbour discovery is governed by `l2.allow: [nd]`).
pub const ICMPV6_TYPES: [(&str, u8); 6] = [
    ("destination-unreachable", 1),
    ("packet-too-big", 2),
    ("time-exceeded", 3),
    ("parameter-problem", 4),
    ("echo-request", 128),
    ("echo-reply", 129),
];

/// The type names of `icmp` or `icmpv6`.
pub fn icmp_type_names(protocol: Protocol) -> &'static [(&'static str, u8)] {
    match protocol {
        Protocol::Icmpv6 => &ICMPV6_TYPES,
        _ => &ICMP_TYPES,
    }
}

/// The name of ICMP type `ty` of `protocol`, if it has one.
pub fn icmp_type_name(protocol: Protocol, ty: u8) -> Option<&'static str> {
    icmp_type_names(protocol)
        .iter()
        .find(|(_, t)| *t == ty)
        .map(|(n, _)| *n)
}

/// Ethertype of ARP.
pub const ETHERTYPE_ARP: u16 = 0x0806;

/// Ethertype names `l2.allow` accepts (besides `nd`, which is not an ethertype).
pub const ETHERTYPE_NAMES: [(&str, u16); 8] = [
    ("arp", ETHERTYPE_ARP),
    ("rarp", 0x8035),
    ("lldp", 0x88cc),
    ("goose", 0x88b8),
    ("sv", 0x88ba),
    ("ptp", 0x88f7),
    ("profinet", 0x8892),
    ("ethercat", 0x88a4),
];

/// Ethertypes that `l2.allow` cannot list, and why.
pub fn ethertype_reserved(ethertype: u16) -> Option<&'static str> {
    match ethertype {
        0x0800 => Some("IPv4, which zones and conduits decide"),
        0x86dd => Some("IPv6, which zones and conduits decide"),
        0x8100 | 0x88a8 => Some("a VLAN tag, which the data path looks through"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn support_table() {
        assert_eq!(
            protocol_support("tcp"),
            ProtocolSupport::Supported(Protocol::Tcp)
        );
        assert_eq!(
            protocol_support("any"),
            ProtocolSupport::Supported(Protocol::Any)
        );
        assert!(matches!(
            protocol_support("modbus"),
            ProtocolSupport::NotInThisBuild(Industrial { port: 502, .. })
        ));
        assert_eq!(protocol_support("TCP"), ProtocolSupport::Unknown);
        for p in INDUSTRIAL_PROTOCOLS {
            assert!(matches!(
                protocol_support(p.keyword),
                ProtocolSupport::NotInThisBuild(_)
            ));
        }
    }

    #[test]
    fn icmp_names() {
        assert_eq!(icmp_type_name(Protocol::Icmp, 8), Some("echo-request"));
        assert_eq!(icmp_type_name(Protocol::Icmpv6, 128), Some("echo-request"));
        assert_eq!(icmp_type_name(Protocol::Icmp, 200), None);
    }
}
