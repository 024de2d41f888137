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
}

impl Reason {
    /// Number of counter slots reserved for reasons (room to append without resizing maps).
    pub const SLOTS: u32 = 64;

    /// First reason of an inspection deny; inspection denies are also counted per conduit
    /// (see [`crate::maps::conduit_reason_index`]).
    pub const FIRST_INSPECTION: Reason = Reason::ModbusFunction;

    /// Every reason, in slot order.
    pub const ALL: [Reason; 28] = [
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
    ];

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

    /// Whether this is an inspection deny (also counted per conduit).
    pub const fn is_inspection(self) -> bool {
        (self as u32) >= (Reason::FIRST_INSPECTION as u32)
            && (self as u32) <= (Reason::ModbusSplit as u32)
    }

    /// The reason stored in counter slot `slot`, if any.
    #[inline(always)]
    pub fn from_slot(slot: u32) -> Option<Reason> {
        if (slot as usize) < Reason::ALL.len() {
            // SAFETY: `Reason` is `repr(u32)` with the contiguous discriminants
            // `0..ALL.len()` (checked by a test), and `slot` is below that bound. No table
            // lookup: in the XDP program this is a compare, not a read of static data.
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
        for (i, r) in Reason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i, "{r:?} is out of slot order");
            assert_eq!(Reason::from_slot(i as u32), Some(*r));
        }
        for a in Reason::ALL {
            for b in Reason::ALL {
                if a != b {
                    assert_ne!(a.name(), b.name());
                }
            }
        }
        assert!((Reason::ALL.len() as u32) < Reason::SLOTS);
    }

    #[test]
    fn modbus_violations_map_to_reasons_of_the_same_name() {
        for v in crate::modbus::ModbusViolation::ALL {
            let r = Reason::of_modbus(v);
            assert_eq!(r.name(), v.name());
            assert!(r.is_inspection() && !r.passes());
            let slot = r as u32 - Reason::FIRST_INSPECTION as u32;
            assert!(slot < crate::maps::CONDUIT_ACTION_SLOT);
        }
    }

    #[test]
    fn inspection_reasons_fit_the_per_conduit_block() {
        let inspection: usize = Reason::ALL.iter().filter(|r| r.is_inspection()).count();
        assert_eq!(inspection, 5);
        assert!(inspection as u32 <= crate::maps::CONDUIT_ACTION_SLOT);
        assert!(!Reason::IslandMode.is_inspection() && !Reason::RateLimited.is_inspection());
    }

    #[test]
    fn pass_and_drop_split() {
        assert!(Reason::AllowedFragment.passes());
        assert!(!Reason::DefaultDeny.passes());
        assert!(!Reason::NoPolicy.passes());
    }
}
