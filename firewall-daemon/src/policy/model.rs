//! The validated policy: every name resolved, every value in range. Only
//! [`super::load_str`] / [`super::load_file`] make one.

use std::fmt;

use firewall_common::{
    bacnet::BacnetProfile,
    conduit::{POINT_MAX, point},
    dnp3::Dnp3Profile,
    enip::EnipProfile,
    iec104::Iec104Profile,
    maps::inspector,
    modbus::ModbusProfile,
    opcua::OpcuaProfile,
    s7comm::S7Profile,
};
use ipnet::IpNet;

use super::{
    diag::Diagnostic,
    protocols::{Protocol, icmp_type_name},
};

/// `defaults.log`: which packets produce events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogMode {
    None,
    Denied,
    All,
}

impl LogMode {
    pub const fn name(self) -> &'static str {
        match self {
            LogMode::None => "none",
            LogMode::Denied => "denied",
            LogMode::All => "all",
        }
    }
}

/// `defaults`. `action` is always `deny` and `mode` always `enforce` in this build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Defaults {
    pub log: LogMode,
    /// `monitor`: would-be denies of the whole policy pass as alerts.
    pub mode: Mode,
}

/// Whether denies are enforced or only reported.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Mode {
    #[default]
    Enforce,
    /// Would-be denies pass, are counted as `alert` and produce events.
    Monitor,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Monitor => "monitor",
        }
    }
}

/// `rate_limit:` of a conduit: packets per second per source address, and the burst.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RateLimitSpec {
    pub pps: u32,
    pub burst: u32,
}

/// How XDP attaches to an interface.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum XdpMode {
    /// Native if the driver supports it, else generic (skb).
    #[default]
    Auto,
    /// Driver (native) mode; attaching fails if the driver lacks it.
    Native,
    /// Generic mode, after the kernel built the skb (works everywhere, slower).
    Skb,
}

impl XdpMode {
    pub const fn name(self) -> &'static str {
        match self {
            XdpMode::Auto => "auto",
            XdpMode::Native => "native",
            XdpMode::Skb => "skb",
        }
    }
}

/// A zone: hosts of one security level, by network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Zone {
    /// `1..`, in file order.
    pub id: u16,
    pub name: String,
    /// IEC 62443 target security level, 1..=4.
    pub security_level: u8,
    /// Networks in file order, host bits clear.
    pub networks: Vec<IpNet>,
    pub intra_zone_allow: bool,
    /// `security_level_target`: the SL-T per foundational requirement, FR 1 first (each
    /// 0..=4); `None`: the policy gives only `security_level`.
    pub security_level_target: Option<[u8; 7]>,
}

/// An interface XDP attaches to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    pub name: String,
    /// Zones whose sources may arrive here; `None`: any zone.
    pub zones: Option<Vec<String>>,
    pub xdp_mode: XdpMode,
    /// `fast_path: true`: allowed packets of tracked flows arriving here are forwarded in XDP
    /// (docs/fast-path.md).
    pub fast_path: bool,
}

/// An inclusive range of destination ports, `first <= last`, both in 1..=65535.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}-{}", self.first, self.last)
        }
    }
}

/// One rule of a conduit: the packets it lets through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rule {
    /// Every protocol and port.
    Any,
    /// TCP or UDP; `ports: None` = every port.
    Transport {
        protocol: Protocol,
        ports: Option<Vec<PortRange>>,
    },
    /// ICMP or ICMPv6; `types: None` = every type (and code).
    Icmp {
        protocol: Protocol,
        types: Option<Vec<u8>>,
    },
    /// Modbus/TCP on `ports` (502 unless the rule says otherwise): TCP whose every
    /// client-to-server segment must pass `profile`.
    Modbus {
        ports: Vec<PortRange>,
        profile: ModbusProfile,
    },
    /// IEC 60870-5-104 on `ports` (2404 unless the rule says otherwise): TCP whose every
    /// APDU from the controlling station must pass `profile`.
    Iec104 {
        ports: Vec<PortRange>,
        profile: Iec104Profile,
    },
    /// DNP3 over TCP on `ports` (20000 unless the rule says otherwise): TCP whose every link
    /// frame from the master must pass `profile`.
    Dnp3 {
        ports: Vec<PortRange>,
        profile: Dnp3Profile,
    },
    /// S7comm over ISO-on-TCP on `ports` (102 unless the rule says otherwise): TCP whose
    /// every TPDU from the client must pass `profile`.
    S7comm {
        ports: Vec<PortRange>,
        profile: S7Profile,
    },
    /// EtherNet/IP with CIP on `ports` (44818 unless the rule says otherwise): TCP whose
    /// every encapsulation PDU from the client (and every CIP request in it, nested ones
    /// included) must pass `profile`.
    Enip {
        ports: Vec<PortRange>,
        profile: EnipProfile,
    },
    /// OPC UA binary on `ports` (4840 unless the rule says otherwise): TCP whose every chunk
    /// is framed, and whose client's OpenSecureChannel and service requests must pass
    /// `profile`.
    Opcua {
        ports: Vec<PortRange>,
        profile: OpcuaProfile,
    },
    /// BACnet/IP on `ports` (47808 unless the rule says otherwise): UDP whose every datagram
    /// (either way) must pass `profile`.
    Bacnet {
        ports: Vec<PortRange>,
        profile: BacnetProfile,
    },
}

/// The inspection profile of an inspected rule, by protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile<'a> {
    Modbus(&'a ModbusProfile),
    Iec104(&'a Iec104Profile),
    Dnp3(&'a Dnp3Profile),
    S7comm(&'a S7Profile),
    Enip(&'a EnipProfile),
    Opcua(&'a OpcuaProfile),
    Bacnet(&'a BacnetProfile),
}

impl Profile<'_> {
    /// The [`firewall_common::maps::inspector`] id of the protocol.
    pub const fn inspector(&self) -> u8 {
        match self {
            Profile::Modbus(_) => inspector::MODBUS,
            Profile::Iec104(_) => inspector::IEC104,
            Profile::Dnp3(_) => inspector::DNP3,
            Profile::S7comm(_) => inspector::S7COMM,
            Profile::Enip(_) => inspector::ENIP,
            Profile::Opcua(_) => inspector::OPCUA,
            Profile::Bacnet(_) => inspector::BACNET,
        }
    }
}

impl Rule {
    pub fn protocol(&self) -> Protocol {
        match self {
            Rule::Any => Protocol::Any,
            Rule::Transport { protocol, .. } | Rule::Icmp { protocol, .. } => *protocol,
            Rule::Modbus { .. } => Protocol::Modbus,
            Rule::Iec104 { .. } => Protocol::Iec104,
            Rule::Dnp3 { .. } => Protocol::Dnp3,
            Rule::S7comm { .. } => Protocol::S7comm,
            Rule::Enip { .. } => Protocol::Enip,
            Rule::Opcua { .. } => Protocol::Opcua,
            Rule::Bacnet { .. } => Protocol::Bacnet,
        }
    }

    /// Whether the data path inspects the payload of this rule's flows (so `on_violation`
    /// applies to it). Every inspected protocol today runs over TCP.
    pub fn inspected(&self) -> bool {
        self.profile().is_some()
    }

    /// The inspection profile of an inspected rule (Modbus, IEC 104, DNP3).
    pub fn profile(&self) -> Option<Profile<'_>> {
        match self {
            Rule::Modbus { profile, .. } => Some(Profile::Modbus(profile)),
            Rule::Iec104 { profile, .. } => Some(Profile::Iec104(profile)),
            Rule::Dnp3 { profile, .. } => Some(Profile::Dnp3(profile)),
            Rule::S7comm { profile, .. } => Some(Profile::S7comm(profile)),
            Rule::Enip { profile, .. } => Some(Profile::Enip(profile)),
            Rule::Opcua { profile, .. } => Some(Profile::Opcua(profile)),
            Rule::Bacnet { profile, .. } => Some(Profile::Bacnet(profile)),
            _ => None,
        }
    }

    /// The [`firewall_common::maps::inspector`] id of this rule ([`inspector::NONE`] when
    /// it is not inspected).
    pub fn inspector(&self) -> u8 {
        self.profile().map_or(inspector::NONE, |p| p.inspector())
    }

    /// The inspection profile of a Modbus rule.
    pub fn modbus_profile(&self) -> Option<&ModbusProfile> {
        match self {
            Rule::Modbus { profile, .. } => Some(profile),
            _ => None,
        }
    }

    /// The inclusive intervals of the conduit point space (`proto << 16 | value`, see
    /// [`firewall_common::conduit`]) this rule covers, in rule order (they may overlap).
    pub fn points(&self) -> Vec<(u32, u32)> {
        let whole = |proto: u8| (point(proto, 0), point(proto, u16::MAX));
        match self {
            Rule::Any => vec![(0, POINT_MAX)],
            Rule::Transport { protocol, ports } => {
                let proto = protocol.number().unwrap_or(0);
                match ports {
                    None => vec![whole(proto)],
                    Some(ranges) => ranges
                        .iter()
                        .map(|r| (point(proto, r.first), point(proto, r.last)))
                        .collect(),
                }
            }
            Rule::Modbus { ports, .. }
            | Rule::Iec104 { ports, .. }
            | Rule::Dnp3 { ports, .. }
            | Rule::S7comm { ports, .. }
            | Rule::Enip { ports, .. }
            | Rule::Opcua { ports, .. }
            | Rule::Bacnet { ports, .. } => {
                let proto = self.protocol().number().unwrap_or(6);
                ports
                    .iter()
                    .map(|r| (point(proto, r.first), point(proto, r.last)))
                    .collect()
            }
            Rule::Icmp { protocol, types } => {
                let proto = protocol.number().unwrap_or(0);
                match types {
                    None => vec![whole(proto)],
                    Some(types) => types
                        .iter()
                        .map(|&t| {
                            let base = u16::from(t) << 8;
                            (point(proto, base), point(proto, base | 0xff))
                        })
                        .collect(),
                }
            }
        }
    }
}

/// One line per rule: `tcp 22, 1024-65535`, `icmp echo-request(8)`, `udp (all ports)`, `any`,
/// `modbus 502`, `iec104 2404`.
impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::Any => f.write_str("any (all protocols and ports)"),
            Rule::Transport { protocol, ports } => match ports {
                None => write!(f, "{} (all ports)", protocol.name()),
                Some(ranges) => {
                    let list: Vec<String> = ranges.iter().map(PortRange::to_string).collect();
                    write!(f, "{} {}", protocol.name(), list.join(", "))
                }
            },
            Rule::Modbus { ports, .. }
            | Rule::Iec104 { ports, .. }
            | Rule::Dnp3 { ports, .. }
            | Rule::S7comm { ports, .. }
            | Rule::Enip { ports, .. }
            | Rule::Opcua { ports, .. }
            | Rule::Bacnet { ports, .. } => {
                let list: Vec<String> = ports.iter().map(PortRange::to_string).collect();
                write!(f, "{} {}", self.protocol().name(), list.join(", "))
            }
            Rule::Icmp { protocol, types } => match types {
                None => write!(f, "{} (all types)", protocol.name()),
                Some(types) => {
                    let list: Vec<String> = types
                        .iter()
                        .map(|&t| match icmp_type_name(*protocol, t) {
                            Some(name) => format!("{name}({t})"),
                            None => t.to_string(),
                        })
                        .collect();
                    write!(f, "{} {}", protocol.name(), list.join(", "))
                }
            },
        }
    }
}

/// `on_violation` of a conduit: what the data path does with a TCP segment its inspection
/// denies (docs/design.md, "When a request is denied").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnViolation {
    /// Reset the connection (the default): the server receives a RST in place of the
    /// segment and frees the connection at once, the client a RST for its next segment.
    #[default]
    Reset,
    /// Drop the segment (opt-in): the client retransmits into the same drop and the server
    /// keeps the connection open, which locks out other clients of a device that accepts
    /// only a few connections.
    Drop,
    /// Modbus conduits: answer a denied request with a Modbus exception in the server's name
    /// and keep the connection (sequence numbers shifted from then on); a deny no exception
    /// fits (several ADUs in the segment, a split ADU, a response) resets the connection.
    Exception,
}

impl OnViolation {
    pub const fn name(self) -> &'static str {
        match self {
            OnViolation::Reset => "reset",
            OnViolation::Drop => "drop",
            OnViolation::Exception => "exception",
        }
    }
}

/// A directional conduit: sources in `from` may open flows to `to` as its rules allow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conduit {
    /// `1..`, in file order.
    pub id: u16,
    pub name: String,
    pub from: String,
    pub to: String,
    pub description: Option<String>,
    pub rules: Vec<Rule>,
    pub on_violation: OnViolation,
    /// `monitor`: this conduit's inspection and rate-limit denies pass as alerts.
    pub mode: Mode,
    pub rate_limit: Option<RateLimitSpec>,
}

/// `l2.allow`: non-IP traffic that passes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct L2Allow {
    /// Allowed ethertypes, sorted, without duplicates.
    pub ethertypes: Vec<u16>,
    /// IPv6 neighbour discovery (ICMPv6 133-137) passes.
    pub neighbor_discovery: bool,
}

/// A policy that passed every check. Built only by [`super::load_str`] / [`super::load_file`].
#[derive(Clone, Debug)]
pub struct ValidatedPolicy {
    pub(super) origin: String,
    pub(super) source_hash: String,
    pub(super) name: String,
    pub(super) defaults: Defaults,
    pub(super) zones: Vec<Zone>,
    pub(super) interfaces: Vec<Interface>,
    pub(super) conduits: Vec<Conduit>,
    pub(super) l2: L2Allow,
    pub(super) warnings: Vec<Diagnostic>,
}

impl ValidatedPolicy {
    /// Where the policy came from (the path given to the loader).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Hex SHA-256 of the source bytes.
    pub fn source_hash(&self) -> &str {
        &self.source_hash
    }

    /// The policy's `name`.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn defaults(&self) -> Defaults {
        self.defaults
    }

    /// Zones in file order; `zones()[i].id == i + 1`.
    pub fn zones(&self) -> &[Zone] {
        &self.zones
    }

    /// The zone called `name`.
    pub fn zone(&self, name: &str) -> Option<&Zone> {
        self.zones.iter().find(|z| z.name == name)
    }

    pub fn interfaces(&self) -> &[Interface] {
        &self.interfaces
    }

    /// Conduits in file order; `conduits()[i].id == i + 1`.
    pub fn conduits(&self) -> &[Conduit] {
        &self.conduits
    }

    pub fn l2(&self) -> &L2Allow {
        &self.l2
    }

    /// The same policy with every deny of it only reported: `defaults.mode` and every
    /// conduit's `mode` set to `monitor` (`zcfw run --learn`: learning drops nothing).
    pub fn into_monitor(mut self) -> Self {
        self.defaults.mode = Mode::Monitor;
        for c in &mut self.conduits {
            c.mode = Mode::Monitor;
        }
        self
    }

    /// Findings that do not refuse the policy (shadowed rules, ...), in source order.
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_points() {
        let tcp = Rule::Transport {
            protocol: Protocol::Tcp,
            ports: Some(vec![
                PortRange {
                    first: 22,
                    last: 22,
                },
                PortRange {
                    first: 1024,
                    last: 65535,
                },
            ]),
        };
        assert_eq!(
            tcp.points(),
            vec![(0x06_0016, 0x06_0016), (0x06_0400, 0x06_ffff)]
        );
        assert_eq!(tcp.to_string(), "tcp 22, 1024-65535");
        let icmp = Rule::Icmp {
            protocol: Protocol::Icmp,
            types: Some(vec![8, 200]),
        };
        assert_eq!(
            icmp.points(),
            vec![(0x01_0800, 0x01_08ff), (0x01_c800, 0x01_c8ff)]
        );
        assert_eq!(icmp.to_string(), "icmp echo-request(8), 200");
        let v6 = Rule::Icmp {
            protocol: Protocol::Icmpv6,
            types: None,
        };
        assert_eq!(v6.points(), vec![(0x3a_0000, 0x3a_ffff)]);
        assert_eq!(Rule::Any.points(), vec![(0, 0xff_ffff)]);
        let udp = Rule::Transport {
            protocol: Protocol::Udp,
            ports: None,
        };
        assert_eq!(udp.points(), vec![(0x11_0000, 0x11_ffff)]);
        assert_eq!(udp.to_string(), "udp (all ports)");
    }
}
