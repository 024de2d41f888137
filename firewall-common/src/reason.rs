//! Why a packet was passed or dropped: the named slots of the per-CPU reason counters.

/// One counter slot per verdict reason. The XDP program increments the slot of every packet
/// it decides; the daemon reads them for `zcfw stats`. Values are stable ABI (they index
/// [`crate::maps::REASON_COUNTERS`]): append, never renumber.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// Passed: a conduit rule allowed the packet and (for flow openers) created a flow.
    AllowedConduit = 0,
    /// Passed: the packet belongs to a flow a conduit allowed (either direction).
    AllowedConntrack = 1,
    /// Passed: source and destination are in the same zone and the zone has `intra_zone: allow`.
    AllowedIntraZone = 2,
    /// Passed: a non-IP ethertype allowed by `l2.allow` (ARP by default).
    AllowedL2 = 3,
    /// Passed: IPv6 neighbour discovery (ICMPv6 133-137).
    AllowedNeighborDiscovery = 4,
    /// Passed: a non-first IPv4/IPv6 fragment of a datagram whose first fragment was allowed.
    AllowedFragment = 5,
    /// Dropped: no conduit allows this zone pair, protocol and port (SR 5.2 RE1).
    DefaultDeny = 6,
    /// Dropped: the source or destination address belongs to no zone.
    UnknownZone = 7,
    /// Dropped: the source zone is not one of the zones listed for the ingress interface.
    SpoofedSource = 8,
    /// Dropped: a non-IP ethertype that `l2.allow` does not list.
    L2Denied = 9,
    /// Dropped: Ethernet header truncated.
    MalformedEthernet = 10,
    /// Dropped: VLAN tag truncated or more than two tags.
    MalformedVlan = 11,
    /// Dropped: IPv4 header truncated or inconsistent (version, IHL, total length).
    MalformedIpv4 = 12,
    /// Dropped: IPv6 header or extension header truncated or inconsistent, or too many
    /// extension headers.
    MalformedIpv6 = 13,
    /// Dropped: TCP header truncated or data offset invalid.
    MalformedTcp = 14,
    /// Dropped: UDP header truncated or length invalid.
    MalformedUdp = 15,
    /// Dropped: ICMP/ICMPv6 header truncated.
    MalformedIcmp = 16,
    /// Dropped: a non-first fragment with no allowed first fragment on record.
    FragmentNoFlow = 17,
    /// Dropped: the program found no active policy (never loaded, or ABI mismatch).
    NoPolicy = 18,
    /// Dropped: a Modbus function code (or FC 8 sub-function, FC 43 MEI type) the conduit's
    /// inspection profile does not allow.
    ModbusFunction = 19,
    /// Dropped: a Modbus unit id the profile does not allow.
    ModbusUnitId = 20,
    /// Dropped: a Modbus address span or quantity outside what the profile allows.
    ModbusAddress = 21,
    /// Dropped: a malformed Modbus ADU (protocol id, length, byte count, value).
    ModbusMalformed = 22,
    /// Dropped: a segment that does not start and end on Modbus ADU boundaries (strict mode).
    ModbusSplit = 23,
    /// Dropped: island mode is on and the packet crosses a zone boundary (SR 5.2 RE2).
    IslandMode = 24,
    /// Dropped: the source exceeded its conduit's `rate_limit` (SR 7.1).
    RateLimited = 25,
    /// Passed: a would-be deny let through by monitor mode; an `alert` event says why.
    Alert = 26,
    /// Dropped: a segment of a TCP connection zcfw reset after a violation
    /// (`on_violation: reset`); answered with a RST to its sender.
    ConnectionReset = 27,
    /// An IEC 104 APDU whose framing is wrong (start byte, length, control field, ASDU size).
    Iec104Malformed = 28,
    /// An IEC 104 type id the conduit's profile does not allow.
    Iec104TypeId = 29,
    /// An IEC 104 common address the profile does not allow.
    Iec104CommonAddress = 30,
    /// An IEC 104 cause of transmission the controlling direction never sends.
    Iec104Cause = 31,
    /// An IEC 104 type id of the other direction.
    Iec104Direction = 32,
    /// An IEC 104 I frame before STARTDT was confirmed.
    Iec104NotStarted = 33,
    /// A DNP3 frame whose framing is wrong (start, length, control, too short, too long).
    Dnp3Malformed = 34,
    /// A DNP3 header or block CRC that does not match.
    Dnp3Crc = 35,
    /// A DNP3 function code the conduit's profile does not allow.
    Dnp3Function = 36,
    /// A DNP3 destination address the profile does not allow.
    Dnp3Address = 37,
    /// A DNP3 frame of the other side (DIR bit, request/response function).
    Dnp3Direction = 38,
    /// A DNP3 transport segment that continues no allowed fragment.
    Dnp3Transport = 39,
    /// A segment of an inspected TCP flow out of stream order (a gap, or an overlap into
    /// bytes not judged yet): dropped without ending the connection; its sender retransmits.
    StreamOutOfOrder = 40,
    /// An S7comm TPDU or PDU whose framing is wrong (TPKT, COTP, S7 header, lengths that do
    /// not add up across data TPDUs).
    S7commMalformed = 41,
    /// An S7 job function or userdata function the conduit's profile does not allow.
    S7commFunction = 42,
    /// A read_var / write_var item whose area or DB number the profile does not allow.
    S7commAddress = 43,
    /// A COTP connection request to a called TSAP the profile does not allow.
    S7commTsap = 44,
    /// An S7comm-plus PDU without `s7comm_plus: allow`.
    S7commPlus = 45,
    /// An S7comm PDU or COTP TPDU of the other side.
    S7commDirection = 46,
    /// An EtherNet/IP PDU whose framing is wrong (encapsulation header, CPF items, CIP
    /// paths, lengths of nested requests that do not add up).
    EnipMalformed = 47,
    /// An encapsulation command the conduit's profile does not allow.
    EnipCommand = 48,
    /// A CIP service the profile does not allow on its target, at any nesting level (or a
    /// container nested too deep).
    EnipService = 49,
    /// A CIP request addressing an object class the profile does not allow.
    EnipClass = 50,
    /// A CIP reply from the client, or a request from the server.
    EnipDirection = 51,
    /// SendRRData / SendUnitData before RegisterSession, or without a session handle.
    EnipSession = 52,
    /// An OPC UA chunk whose framing is wrong (message or chunk type, size, a chunk that
    /// ends before its decisive fields).
    OpcuaMalformed = 53,
    /// An OpenSecureChannel asking for a security policy the conduit's profile does not
    /// allow (or for no standard policy).
    OpcuaSecurityPolicy = 54,
    /// An OPC UA service request the profile does not allow.
    OpcuaService = 55,
    /// A message body that is no readable service request on a channel that may be
    /// encrypted, where the conduit judges services.
    OpcuaEncrypted = 56,
    /// An OPC UA message of the other side (Acknowledge from the client, Hello from the
    /// server, ReverseHello).
    OpcuaDirection = 57,
    /// An OPC UA message out of order on its channel (a message before OpenSecureChannel,
    /// interleaved chunks, a renewal with another policy).
    OpcuaChannel = 58,
    /// A BACnet/IP datagram whose framing is wrong (BVLC type or length, NPDU version or
    /// reserved bits, truncated headers, a reserved PDU type, a bad segmentation window).
    BacnetMalformed = 59,
    /// A BACnet confirmed or unconfirmed service the conduit's profile does not allow.
    BacnetService = 60,
    /// A BVLC function the profile does not allow (Forwarded-NPDU, BBMD management, ...).
    BacnetBvlc = 61,
    /// A BACnet network-layer message the profile does not allow.
    BacnetNetwork = 62,
    /// A BACnet PDU of the other side (a reply from the client, a confirmed request from the
    /// device).
    BacnetDirection = 63,
}

impl Reason {
    /// Number of counter slots reserved for reasons (room to append without resizing maps).
    pub const SLOTS: u32 = 64;

    /// Every reason, in slot order.
    pub const ALL: [Reason; 64] = [
        Reason::AllowedConduit,
        Reason::AllowedConntrack,
        Reason::AllowedIntraZone,
        Reason::AllowedL2,
        Reason::AllowedNeighborDiscovery,
        Reason::AllowedFragment,
        Reason::DefaultDeny,
        Reason::UnknownZone,
        Reason::SpoofedSource,
        Reason::L2Denied,
        Reason::MalformedEthernet,
        Reason::MalformedVlan,
        Reason::MalformedIpv4,
        Reason::MalformedIpv6,
        Reason::MalformedTcp,
        Reason::MalformedUdp,
        Reason::MalformedIcmp,
        Reason::FragmentNoFlow,
        Reason::NoPolicy,
        Reason::ModbusFunction,
        Reason::ModbusUnitId,
        Reason::ModbusAddress,
        Reason::ModbusMalformed,
        Reason::ModbusSplit,
        Reason::IslandMode,
        Reason::RateLimited,
        Reason::Alert,
        Reason::ConnectionReset,
        Reason::Iec104Malformed,
        Reason::Iec104TypeId,
        Reason::Iec104CommonAddress,
        Reason::Iec104Cause,
        Reason::Iec104Direction,
        Reason::Iec104NotStarted,
        Reason::Dnp3Malformed,
        Reason::Dnp3Crc,
        Reason::Dnp3Function,
        Reason::Dnp3Address,
        Reason::Dnp3Direction,
        Reason::Dnp3Transport,
        Reason::StreamOutOfOrder,
        Reason::S7commMalformed,
        Reason::S7commFunction,
        Reason::S7commAddress,
        Reason::S7commTsap,
        Reason::S7commPlus,
        Reason::S7commDirection,
        Reason::EnipMalformed,
        Reason::EnipCommand,
        Reason::EnipService,
        Reason::EnipClass,
        Reason::EnipDirection,
        Reason::EnipSession,
        Reason::OpcuaMalformed,
        Reason::OpcuaSecurityPolicy,
        Reason::OpcuaService,
        Reason::OpcuaEncrypted,
        Reason::OpcuaDirection,
        Reason::OpcuaChannel,
        Reason::BacnetMalformed,
        Reason::BacnetService,
        Reason::BacnetBvlc,
        Reason::BacnetNetwork,
        Reason::BacnetDirection,
    ];

    /// Bit `n` set when slot `n` holds a reason (the numbering has room for protocols added
    /// on other branches, so it may have gaps).
    pub const KNOWN: u64 = {
        let mut m = 0u64;
        let mut i = 0;
        while i < Reason::ALL.len() {
            m |= 1 << (Reason::ALL[i] as u32);
            i += 1;
        }
        m
    };

    /// Stable snake_case name used in CLI output, JSON and metrics.
    pub const fn name(self) -> &'static str {
        match self {
            Reason::AllowedConduit => "allowed_conduit",
            Reason::AllowedConntrack => "allowed_conntrack",
            Reason::AllowedIntraZone => "allowed_intra_zone",
            Reason::AllowedL2 => "allowed_l2",
            Reason::AllowedNeighborDiscovery => "allowed_neighbor_discovery",
            Reason::AllowedFragment => "allowed_fragment",
            Reason::DefaultDeny => "default_deny",
            Reason::UnknownZone => "unknown_zone",
            Reason::SpoofedSource => "spoofed_source",
            Reason::L2Denied => "l2_denied",
            Reason::MalformedEthernet => "malformed_ethernet",
            Reason::MalformedVlan => "malformed_vlan",
            Reason::MalformedIpv4 => "malformed_ipv4",
            Reason::MalformedIpv6 => "malformed_ipv6",
            Reason::MalformedTcp => "malformed_tcp",
            Reason::MalformedUdp => "malformed_udp",
            Reason::MalformedIcmp => "malformed_icmp",
            Reason::FragmentNoFlow => "fragment_no_flow",
            Reason::NoPolicy => "no_policy",
            Reason::ModbusFunction => "modbus_function",
            Reason::ModbusUnitId => "modbus_unit_id",
            Reason::ModbusAddress => "modbus_address",
            Reason::ModbusMalformed => "modbus_malformed",
            Reason::ModbusSplit => "modbus_split",
            Reason::IslandMode => "island_mode",
            Reason::RateLimited => "rate_limited",
            Reason::Alert => "alert",
            Reason::ConnectionReset => "connection_reset",
            Reason::Iec104Malformed => "iec104_malformed",
            Reason::Iec104TypeId => "iec104_type_id",
            Reason::Iec104CommonAddress => "iec104_common_address",
            Reason::Iec104Cause => "iec104_cause",
            Reason::Iec104Direction => "iec104_direction",
            Reason::Iec104NotStarted => "iec104_not_started",
            Reason::Dnp3Malformed => "dnp3_malformed",
            Reason::Dnp3Crc => "dnp3_crc",
            Reason::Dnp3Function => "dnp3_function",
            Reason::Dnp3Address => "dnp3_address",
            Reason::Dnp3Direction => "dnp3_direction",
            Reason::Dnp3Transport => "dnp3_transport",
            Reason::StreamOutOfOrder => "stream_out_of_order",
            Reason::S7commMalformed => "s7comm_malformed",
            Reason::S7commFunction => "s7comm_function",
            Reason::S7commAddress => "s7comm_address",
            Reason::S7commTsap => "s7comm_tsap",
            Reason::S7commPlus => "s7comm_plus",
            Reason::S7commDirection => "s7comm_direction",
            Reason::EnipMalformed => "enip_malformed",
            Reason::EnipCommand => "enip_command",
            Reason::EnipService => "enip_service",
            Reason::EnipClass => "enip_class",
            Reason::EnipDirection => "enip_direction",
            Reason::EnipSession => "enip_session",
            Reason::OpcuaMalformed => "opcua_malformed",
            Reason::OpcuaSecurityPolicy => "opcua_security_policy",
            Reason::OpcuaService => "opcua_service",
            Reason::OpcuaEncrypted => "opcua_encrypted",
            Reason::OpcuaDirection => "opcua_direction",
            Reason::OpcuaChannel => "opcua_channel",
            Reason::BacnetMalformed => "bacnet_malformed",
            Reason::BacnetService => "bacnet_service",
            Reason::BacnetBvlc => "bacnet_bvlc",
            Reason::BacnetNetwork => "bacnet_network",
            Reason::BacnetDirection => "bacnet_direction",
        }
    }

    /// Whether packets counted under this reason were passed (true) or dropped (false).
    pub const fn passes(self) -> bool {
        (self as u32) < (Reason::DefaultDeny as u32) || matches!(self, Reason::Alert)
    }

    /// The counting reason of a Modbus violation.
    pub const fn of_modbus(v: crate::modbus::ModbusViolation) -> Reason {
        match v {
            crate::modbus::ModbusViolation::Function => Reason::ModbusFunction,
            crate::modbus::ModbusViolation::UnitId => Reason::ModbusUnitId,
            crate::modbus::ModbusViolation::Address => Reason::ModbusAddress,
            crate::modbus::ModbusViolation::Malformed => Reason::ModbusMalformed,
            crate::modbus::ModbusViolation::Split => Reason::ModbusSplit,
        }
    }

    /// The reason of an IEC 104 violation.
    pub const fn of_iec104(v: crate::iec104::Iec104Violation) -> Reason {
        use crate::iec104::Iec104Violation as V;
        match v {
            V::Malformed => Reason::Iec104Malformed,
            V::TypeId => Reason::Iec104TypeId,
            V::CommonAddress => Reason::Iec104CommonAddress,
            V::Cause => Reason::Iec104Cause,
            V::Direction => Reason::Iec104Direction,
            V::NotStarted => Reason::Iec104NotStarted,
        }
    }

    /// The reason of a DNP3 violation.
    pub const fn of_dnp3(v: crate::dnp3::Dnp3Violation) -> Reason {
        use crate::dnp3::Dnp3Violation as V;
        match v {
            V::Malformed => Reason::Dnp3Malformed,
            V::Crc => Reason::Dnp3Crc,
            V::Function => Reason::Dnp3Function,
            V::Address => Reason::Dnp3Address,
            V::Direction => Reason::Dnp3Direction,
            V::Transport => Reason::Dnp3Transport,
        }
    }

    /// The reason of an S7comm violation.
    pub const fn of_s7comm(v: crate::s7comm::S7Violation) -> Reason {
        use crate::s7comm::S7Violation as V;
        match v {
            V::Malformed => Reason::S7commMalformed,
            V::Function => Reason::S7commFunction,
            V::Address => Reason::S7commAddress,
            V::Tsap => Reason::S7commTsap,
            V::Plus => Reason::S7commPlus,
            V::Direction => Reason::S7commDirection,
        }
    }

    /// The reason of an EtherNet/IP violation.
    pub const fn of_enip(v: crate::enip::EnipViolation) -> Reason {
        use crate::enip::EnipViolation as V;
        match v {
            V::Malformed => Reason::EnipMalformed,
            V::Command => Reason::EnipCommand,
            V::Service => Reason::EnipService,
            V::Class => Reason::EnipClass,
            V::Direction => Reason::EnipDirection,
            V::Session => Reason::EnipSession,
        }
    }

    /// The reason of an OPC UA violation.
    pub const fn of_opcua(v: crate::opcua::OpcuaViolation) -> Reason {
        use crate::opcua::OpcuaViolation as V;
        match v {
            V::Malformed => Reason::OpcuaMalformed,
            V::SecurityPolicy => Reason::OpcuaSecurityPolicy,
            V::Service => Reason::OpcuaService,
            V::Encrypted => Reason::OpcuaEncrypted,
            V::Direction => Reason::OpcuaDirection,
            V::Channel => Reason::OpcuaChannel,
        }
    }

    /// The reason of a BACnet/IP violation.
    pub const fn of_bacnet(v: crate::bacnet::BacnetViolation) -> Reason {
        use crate::bacnet::BacnetViolation as V;
        match v {
            V::Malformed => Reason::BacnetMalformed,
            V::Service => Reason::BacnetService,
            V::Bvlc => Reason::BacnetBvlc,
            V::Network => Reason::BacnetNetwork,
            V::Direction => Reason::BacnetDirection,
        }
    }

    /// The [`crate::maps::inspector`] whose inspection denies for this reason, or
    /// [`crate::maps::inspector::NONE`] for a reason that is no inspection deny.
    pub const fn inspector(self) -> u8 {
        use crate::maps::inspector;
        let r = self as u32;
        if r >= Reason::ModbusFunction as u32 && r <= Reason::ModbusSplit as u32 {
            inspector::MODBUS
        } else if r >= Reason::Iec104Malformed as u32 && r <= Reason::Iec104NotStarted as u32 {
            inspector::IEC104
        } else if r >= Reason::Dnp3Malformed as u32 && r <= Reason::Dnp3Transport as u32 {
            inspector::DNP3
        } else if r >= Reason::S7commMalformed as u32 && r <= Reason::S7commDirection as u32 {
            inspector::S7COMM
        } else if r >= Reason::EnipMalformed as u32 && r <= Reason::EnipSession as u32 {
            inspector::ENIP
        } else if r >= Reason::OpcuaMalformed as u32 && r <= Reason::OpcuaChannel as u32 {
            inspector::OPCUA
        } else if r >= Reason::BacnetMalformed as u32 && r <= Reason::BacnetDirection as u32 {
            inspector::BACNET
        } else {
            inspector::NONE
        }
    }

    /// Whether this is an inspection deny (also counted per conduit).
    #[inline(always)]
    pub const fn is_inspection(self) -> bool {
        self.inspector() != crate::maps::inspector::NONE
    }

    /// The first inspection reason of `inspector`'s protocol (per-conduit slots count from it:
    /// a conduit's rule inspects one protocol).
    pub const fn first_of(inspector: u8) -> Reason {
        match inspector {
            crate::maps::inspector::IEC104 => Reason::Iec104Malformed,
            crate::maps::inspector::DNP3 => Reason::Dnp3Malformed,
            crate::maps::inspector::S7COMM => Reason::S7commMalformed,
            crate::maps::inspector::ENIP => Reason::EnipMalformed,
            crate::maps::inspector::OPCUA => Reason::OpcuaMalformed,
            crate::maps::inspector::BACNET => Reason::BacnetMalformed,
            _ => Reason::ModbusFunction,
        }
    }

    /// The per-conduit counter slot of an inspection reason ([`crate::maps::conduit_reason_index`]):
    /// each protocol has its own block of slots (a conduit may inspect several), Modbus's
    /// from 0, IEC 104's from 5, DNP3's from 11, S7comm's from 17, EtherNet/IP's from 23,
    /// OPC UA's from 29, BACnet's from 35.
    #[inline(always)]
    pub const fn conduit_slot(self) -> u32 {
        let base = match self.inspector() {
            crate::maps::inspector::IEC104 => 5,
            crate::maps::inspector::DNP3 => 11,
            crate::maps::inspector::S7COMM => 17,
            crate::maps::inspector::ENIP => 23,
            crate::maps::inspector::OPCUA => 29,
            crate::maps::inspector::BACNET => 35,
            _ => 0,
        };
        base + (self as u32).wrapping_sub(Reason::first_of(self.inspector()) as u32)
    }

    /// The reason stored in counter slot `slot`, if any.
    #[inline(always)]
    pub fn from_slot(slot: u32) -> Option<Reason> {
        if slot < 64 && Reason::KNOWN & (1u64 << (slot & 63)) != 0 {
            // SAFETY: `Reason` is `repr(u32)` and `KNOWN` has exactly the bits of its
            // discriminants (built from `ALL`, which a test checks is complete), so `slot` is
            // one of them. No table lookup: in the XDP program this is a compare with a
            // constant, not a read of static data.
            Some(unsafe { core::mem::transmute::<u32, Reason>(slot) })
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_match_discriminants_and_names_are_unique() {
        for w in Reason::ALL.windows(2) {
            assert!(
                (w[0] as u32) < (w[1] as u32),
                "{:?} is out of slot order",
                w[1]
            );
        }
        for r in Reason::ALL {
            assert_eq!(Reason::from_slot(r as u32), Some(r));
        }
        for slot in 0..Reason::SLOTS + 2 {
            let known = Reason::ALL.iter().any(|r| *r as u32 == slot);
            assert_eq!(Reason::from_slot(slot).is_some(), known, "slot {slot}");
        }
        for a in Reason::ALL {
            for b in Reason::ALL {
                if a != b {
                    assert_ne!(a.name(), b.name());
                }
            }
        }
        assert!(Reason::ALL.iter().all(|r| (*r as u32) < Reason::SLOTS));
    }

    #[test]
    fn modbus_violations_map_to_reasons_of_the_same_name() {
        for v in crate::modbus::ModbusViolation::ALL {
            let r = Reason::of_modbus(v);
            assert_eq!(r.name(), v.name());
            assert!(r.is_inspection() && !r.passes());
            assert_eq!(r.conduit_slot(), v as u32);
            assert_eq!(r.inspector(), crate::maps::inspector::MODBUS);
        }
    }

    #[test]
    fn iec104_and_dnp3_violations_map_to_their_protocol_block() {
        use crate::iec104::Iec104Violation as I;
        for (i, v) in [
            I::Malformed,
            I::TypeId,
            I::CommonAddress,
            I::Cause,
            I::Direction,
            I::NotStarted,
        ]
        .into_iter()
        .enumerate()
        {
            let r = Reason::of_iec104(v);
            assert!(r.name().starts_with("iec104_") && r.is_inspection() && !r.passes());
            assert_eq!(
                (r.inspector(), r.conduit_slot()),
                (crate::maps::inspector::IEC104, 5 + i as u32)
            );
        }
        use crate::dnp3::Dnp3Violation as D;
        for (i, v) in [
            D::Malformed,
            D::Crc,
            D::Function,
            D::Address,
            D::Direction,
            D::Transport,
        ]
        .into_iter()
        .enumerate()
        {
            let r = Reason::of_dnp3(v);
            assert!(r.name().starts_with("dnp3_") && r.is_inspection() && !r.passes());
            assert_eq!(
                (r.inspector(), r.conduit_slot()),
                (crate::maps::inspector::DNP3, 11 + i as u32)
            );
        }
    }

    #[test]
    fn bacnet_violations_map_to_their_protocol_block() {
        for (i, v) in crate::bacnet::BacnetViolation::ALL.into_iter().enumerate() {
            let r = Reason::of_bacnet(v);
            assert_eq!(r as u32, 59 + i as u32);
            assert_eq!(r.name().strip_prefix("bacnet_"), Some(v.name()));
            assert!(r.is_inspection() && !r.passes());
            assert_eq!(
                (r.inspector(), r.conduit_slot()),
                (crate::maps::inspector::BACNET, 35 + i as u32)
            );
        }
    }

    #[test]
    fn s7comm_violations_map_to_their_protocol_block() {
        for (i, v) in crate::s7comm::S7Violation::ALL.into_iter().enumerate() {
            let r = Reason::of_s7comm(v);
            assert_eq!(r as u32, 41 + i as u32);
            assert_eq!(r.name().strip_prefix("s7comm_"), Some(v.name()));
            assert!(r.is_inspection() && !r.passes());
            assert_eq!(
                (r.inspector(), r.conduit_slot()),
                (crate::maps::inspector::S7COMM, 17 + i as u32)
            );
        }
    }

    #[test]
    fn enip_violations_map_to_their_protocol_block() {
        for (i, v) in crate::enip::EnipViolation::ALL.into_iter().enumerate() {
            let r = Reason::of_enip(v);
            assert_eq!(r as u32, 47 + i as u32);
            assert_eq!(r.name().strip_prefix("enip_"), Some(v.name()));
            assert!(r.is_inspection() && !r.passes());
            assert_eq!(
                (r.inspector(), r.conduit_slot()),
                (crate::maps::inspector::ENIP, 23 + i as u32)
            );
        }
    }

    #[test]
    fn opcua_violations_map_to_their_protocol_block() {
        for (i, v) in crate::opcua::OpcuaViolation::ALL.into_iter().enumerate() {
            let r = Reason::of_opcua(v);
            assert_eq!(r as u32, 53 + i as u32);
            assert_eq!(r.name().strip_prefix("opcua_"), Some(v.name()));
            assert!(r.is_inspection() && !r.passes());
            assert_eq!(
                (r.inspector(), r.conduit_slot()),
                (crate::maps::inspector::OPCUA, 29 + i as u32)
            );
        }
    }

    #[test]
    fn inspection_reasons_fit_the_per_conduit_block() {
        let inspection: usize = Reason::ALL.iter().filter(|r| r.is_inspection()).count();
        assert_eq!(inspection, 5 + 6 + 6 + 6 + 6 + 6 + 5);
        let mut seen = 0u64;
        for r in Reason::ALL.iter().filter(|r| r.is_inspection()) {
            assert!(r.conduit_slot() < crate::maps::CONDUIT_ACTION_SLOT, "{r:?}");
            assert!(seen & 1 << r.conduit_slot() == 0, "{r:?} shares its slot");
            seen |= 1 << r.conduit_slot();
        }
        for r in [
            Reason::IslandMode,
            Reason::RateLimited,
            Reason::StreamOutOfOrder,
            Reason::Alert,
        ] {
            assert!(!r.is_inspection());
        }
    }

    #[test]
    fn pass_and_drop_split() {
        assert!(Reason::AllowedFragment.passes());
        assert!(!Reason::DefaultDeny.passes());
        assert!(!Reason::NoPolicy.passes());
    }
}
