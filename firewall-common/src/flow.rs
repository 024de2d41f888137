//! Connection tracking: canonical flow keys, the state a flow carries, and its timeouts.
//!
//! A flow is stored once, under a key whose endpoints are ordered (lower address/port first),
//! so both directions find it with one lookup; [`FlowState::flags`] remembers which endpoint
//! opened it. Only the XDP program writes flows; the daemon may read or delete them.

use crate::packet::{Family, Packet};

/// Canonical 5-tuple key of [`crate::maps::names::FLOWS`]. IPv4 addresses fill the first four
/// bytes of each address field; the rest is zero.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FlowKey {
    pub addr_lo: [u8; 16],
    pub addr_hi: [u8; 16],
    pub port_lo: u16,
    pub port_hi: u16,
    pub proto: u8,
    /// [`Family`] as `u8`.
    pub family: u8,
    pub _pad: [u8; 2],
}

/// Flag bits of [`FlowState::flags`].
pub mod flow_flags {
    /// The endpoint in `addr_lo`/`port_lo` opened the flow.
    pub const OPENED_BY_LO: u8 = 1 << 0;
    /// A FIN or RST was seen: the flow expires after [`super::timeout::TCP_CLOSING_NS`].
    pub const CLOSING: u8 = 1 << 1;
    /// The admitting conduit has a rate limit: packets from the opener pass its bucket.
    pub const RATE_LIMITED: u8 = 1 << 2;
    /// The admitting conduit is in monitor mode: its inspection denies pass as alerts.
    pub const MONITOR: u8 = 1 << 3;
}

/// What conntrack remembers of an allowed flow.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowState {
    /// Policy generation that admitted the flow; another generation means "judge again".
    pub generation: u32,
    /// Conduit that admitted the flow (counts its packets).
    pub conduit_id: u16,
    /// Inspection profile of the rule that admitted the flow (0 = none): every later segment
    /// of the flow is inspected with it.
    pub profile_id: u16,
    /// [`flow_flags`].
    pub flags: u8,
    pub _pad: [u8; 7],
    /// `bpf_ktime_get_coarse_ns` of the last packet.
    pub last_seen_ns: u64,
}

/// Key of [`crate::maps::names::FRAGS`]: one fragmented datagram.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FragKey {
    pub src: [u8; 16],
    pub dst: [u8; 16],
    /// IPv4 identification (16 bits) or IPv6 fragment identification (32 bits).
    pub id: u32,
    pub proto: u8,
    pub family: u8,
    pub _pad: [u8; 2],
}

const _: () = {
    assert!(core::mem::size_of::<FlowKey>() == 40);
    assert!(core::mem::size_of::<FlowState>() == 24);
    assert!(core::mem::size_of::<FragKey>() == 40);
};

/// Idle timeouts after which a flow no longer lets packets through.
pub mod timeout {
    const SECOND: u64 = 1_000_000_000;
    /// Established TCP flow.
    pub const TCP_NS: u64 = 2 * 3600 * SECOND;
    /// TCP flow after FIN or RST.
    pub const TCP_CLOSING_NS: u64 = 30 * SECOND;
    /// UDP and other non-TCP flows.
    pub const UDP_NS: u64 = 120 * SECOND;
    /// ICMP echo.
    pub const ICMP_NS: u64 = 30 * SECOND;
    /// Fragments of one datagram.
    pub const FRAG_NS: u64 = 30 * SECOND;
}

/// IP protocol numbers used by the data path.
pub mod proto {
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const ICMPV6: u8 = 58;
}

impl FlowKey {
    /// Canonical key of a packet's flow, and whether the packet's source is the `lo` endpoint.
    #[inline(always)]
    pub fn of(p: &Packet) -> (FlowKey, bool) {
        let (sport, dport) = p.flow_ports();
        let src_is_lo = match p.src.cmp(&p.dst) {
            core::cmp::Ordering::Less => true,
            core::cmp::Ordering::Greater => false,
            core::cmp::Ordering::Equal => sport <= dport,
        };
        let (addr_lo, port_lo, addr_hi, port_hi) = if src_is_lo {
            (p.src, sport, p.dst, dport)
        } else {
            (p.dst, dport, p.src, sport)
        };
        (
            FlowKey {
                addr_lo,
                addr_hi,
                port_lo,
                port_hi,
                proto: p.proto,
                family: p.family as u8,
                _pad: [0; 2],
            },
            src_is_lo,
        )
    }

    /// Address, port of the endpoint that opened the flow, then of the other one.
    pub fn opener(&self, state: &FlowState) -> (([u8; 16], u16), ([u8; 16], u16)) {
        let lo = (self.addr_lo, self.port_lo);
        let hi = (self.addr_hi, self.port_hi);
        if state.flags & flow_flags::OPENED_BY_LO != 0 {
            (lo, hi)
        } else {
            (hi, lo)
        }
    }

    pub fn family(&self) -> Family {
        if self.family == Family::Ipv6 as u8 {
            Family::Ipv6
        } else {
            Family::Ipv4
        }
    }
}

impl FlowState {
    /// Idle timeout of this flow.
    #[inline(always)]
    pub fn timeout_ns(&self, proto: u8) -> u64 {
        if proto == proto::TCP {
            if self.flags & flow_flags::CLOSING != 0 {
                timeout::TCP_CLOSING_NS
            } else {
                timeout::TCP_NS
            }
        } else if proto == proto::ICMP || proto == proto::ICMPV6 {
            timeout::ICMP_NS
        } else {
            timeout::UDP_NS
        }
    }

    /// Whether the flow has been idle too long at `now_ns`.
    #[inline(always)]
    pub fn expired(&self, proto: u8, now_ns: u64) -> bool {
        now_ns.saturating_sub(self.last_seen_ns) > self.timeout_ns(proto)
    }
}
