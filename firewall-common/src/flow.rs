//! Connection tracking: canonical flow keys, the state a flow carries, and its timeouts.
//!
//! A flow is stored once, under a key whose endpoints are ordered (lower address/port first),
//! so both directions find it with one lookup; [`FlowState::flags`] remembers which endpoint
//! opened it. Only the XDP program writes flows; the daemon may read or delete them.

use crate::{
    packet::{Family, Packet},
    stream::StreamSide,
};

/// Canonical 5-tuple key of [`crate::maps::names::FLOWS`]. IPv4 addresses fill the first four
/// bytes of each address field; the rest is zero. Aligned to 8 so addresses move as words.
#[repr(C, align(8))]
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

/// The oldest [`crate::ABI_VERSION`] whose conntrack map holds [`FlowKey`] → [`FlowState`] in
/// this layout, or in [`FlowStateV2`] (ABI 2-4) or [`FlowStateV3`] (ABI 5-6), converted: a daemon taking over the pins of
/// that version or a later one carries the tracked flows over. Raise it whenever a layout
/// changes that the daemon cannot convert.
pub const FLOWS_LAYOUT_SINCE_ABI: u32 = 2;

/// [`FlowState`] of ABI 2-4 (24 bytes, before the sequence offsets of
/// `on_violation: exception`): what a daemon taking over such pins reads and converts.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowStateV2 {
    pub generation: u32,
    pub conduit_id: u16,
    pub profile_id: u16,
    pub flags: u8,
    pub _pad: u8,
    pub _pad2: u16,
    pub _pad3: u32,
    pub last_seen_ns: u64,
}

impl From<FlowStateV2> for FlowState {
    /// The same flow, no sequence offsets (that layout had none: no flow was shifted).
    /// Converted through [`FlowStateV3`], whose conversion says what a profile meant.
    fn from(v: FlowStateV2) -> FlowState {
        FlowState::from(FlowStateV3 {
            generation: v.generation,
            conduit_id: v.conduit_id,
            profile_id: v.profile_id,
            flags: v.flags & !(flow_flags::EXCEPTION_ON_VIOLATION | flow_flags::SHIFTED),
            last_seen_ns: v.last_seen_ns,
            ..FlowStateV3::default()
        })
    }
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
    /// The admitting conduit says `on_violation: reset`: a segment its inspection denies is
    /// turned into a RST toward its receiver and the flow is marked [`RESET`].
    pub const RESET_ON_VIOLATION: u8 = 1 << 4;
    /// zcfw reset this TCP connection after a violation: every later segment of either end
    /// is answered with a RST back to its sender ([`crate::reset`]) and passes no further.
    /// Set together with [`CLOSING`]: the entry expires after
    /// [`super::timeout::TCP_CLOSING_NS`].
    pub const RESET: u8 = 1 << 5;
    /// The admitting conduit says `on_violation: exception`: a Modbus request its inspection
    /// denies is answered with a Modbus exception ([`crate::exception`]) and the flow is
    /// marked [`SHIFTED`]; a deny no exception fits resets the connection.
    pub const EXCEPTION_ON_VIOLATION: u8 = 1 << 6;
    /// zcfw answered a request of this flow itself: every later segment is shifted by
    /// [`super::FlowState::swallowed`] and [`super::FlowState::injected`].
    pub const SHIFTED: u8 = 1 << 7;

    /// The flags of a flow opened under a conduit action with
    /// [`crate::maps::action_flags`] `action`, by the endpoint at `addr_lo` when `opened_by_lo`.
    #[inline(always)]
    pub const fn of_action(action: u8, opened_by_lo: bool) -> u8 {
        use crate::maps::action_flags as a;
        let mut flags = if opened_by_lo { OPENED_BY_LO } else { 0 };
        if action & a::RATE_LIMIT != 0 {
            flags |= RATE_LIMITED;
        }
        if action & a::MONITOR != 0 {
            flags |= MONITOR;
        }
        if action & a::RESET_ON_VIOLATION != 0 {
            flags |= RESET_ON_VIOLATION;
        }
        if action & a::EXCEPTION_ON_VIOLATION != 0 {
            flags |= EXCEPTION_ON_VIOLATION;
        }
        flags
    }
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
    /// of the flow is inspected with it, by the [`crate::maps::inspector`] of [`Self::inspector`].
    pub profile_id: u16,
    /// [`flow_flags`].
    pub flags: u8,
    /// [`crate::maps::inspector`] id of the flow's deep inspection.
    pub inspector: u8,
    /// The inspector's session bits, shared by both directions (IEC 104: STARTDT confirmed).
    pub session: u8,
    /// [`stream_bits`]: where the stream position of an inspected TCP flow is kept.
    pub stream: u8,
    /// Bytes of requests answered with an exception ([`flow_flags::SHIFTED`]): sent by the
    /// opener, never seen by its peer. Opener → peer `seq - swallowed`, peer → opener
    /// `ack + swallowed`.
    pub swallowed: u32,
    /// `bpf_ktime_get_coarse_ns` of the last packet.
    pub last_seen_ns: u64,
    /// Bytes of exceptions zcfw sent to the opener in its peer's name. Peer → opener
    /// `seq + injected`, opener → peer `ack - injected`.
    pub injected: u32,
    /// Opener's sequence number after the last request answered with an exception: a
    /// segment of the opener starting before it is a retransmission of an answered request.
    pub answered_end: u32,
    /// The position of each direction (`[0]` the opener's, `[1]` its peer's) while the main
    /// program judges the flow's segments itself ([`crate::stream::fast`]): every judged
    /// segment started and ended on a PDU boundary.
    pub fast: [FastSide; 2],
}

/// One direction of a flow judged segment by segment in the main program
/// ([`crate::stream::fast`]): both sequence numbers are PDU boundaries.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FastSide {
    /// Sequence number after the last judged segment.
    pub next: u32,
    /// Sequence number the last judged segment started at.
    pub last: u32,
}

/// Bits of [`FlowState::stream`].
pub mod stream_bits {
    /// The opener's direction has a position in [`super::FlowState::fast`].
    pub const OPENER_SYNCED: u8 = 1 << 0;
    /// The peer's direction has a position in [`super::FlowState::fast`].
    pub const PEER_SYNCED: u8 = 1 << 1;
    /// The flow's position is in its [`crate::maps::names::STREAMS`] entry: every segment
    /// goes to its inspector program, which walks it byte by byte (a PDU split across
    /// segments, a gap, several PDUs in a segment the main program does not judge).
    pub const WALKED: u8 = 1 << 2;

    /// The synced bit of a direction.
    #[inline(always)]
    pub const fn synced(from_opener: bool) -> u8 {
        if from_opener {
            OPENER_SYNCED
        } else {
            PEER_SYNCED
        }
    }
}

/// [`FlowState`] of ABI 7 (32 bytes, without the positions of [`FlowState::fast`]): what a
/// daemon taking over such pins reads and converts.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowStateV7 {
    pub generation: u32,
    pub conduit_id: u16,
    pub profile_id: u16,
    pub flags: u8,
    pub inspector: u8,
    pub session: u8,
    pub _pad: u8,
    pub swallowed: u32,
    pub last_seen_ns: u64,
    pub injected: u32,
    pub answered_end: u32,
}

impl From<FlowStateV7> for FlowState {
    /// The same flow with no position in the main program: its next segment in each
    /// direction is taken to start on a PDU boundary, as for a flow picked up mid-stream.
    fn from(v: FlowStateV7) -> FlowState {
        FlowState {
            generation: v.generation,
            conduit_id: v.conduit_id,
            profile_id: v.profile_id,
            flags: v.flags,
            inspector: v.inspector,
            session: v.session,
            stream: 0,
            swallowed: v.swallowed,
            last_seen_ns: v.last_seen_ns,
            injected: v.injected,
            answered_end: v.answered_end,
            fast: [FastSide::default(); 2],
        }
    }
}

/// Value of [`crate::maps::names::STREAMS`]: the stream position of an inspected TCP flow
/// whose inspector has a program of its own, per direction: `[0]` what the opener sends,
/// `[1]` what its peer sends ([`crate::stream`]). Kept beside the conntrack entry (same key)
/// rather than in it: every conntrack entry would carry it, and a flow's insert costs by its
/// size (an allowed SYN was 88 ns slower with it inside, `bench/RESULTS.md`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamState {
    pub sides: [StreamSide; 2],
    /// EtherNet/IP: the connections the flow's Forward_Open replies opened, the only ones
    /// its SendUnitData may use (zero for every other protocol).
    pub enip: crate::enip::EnipConnections,
}

impl From<FlowStateV3> for FlowState {
    /// The same flow (ABI 5-6 had the same layout with zero where the inspector and session
    /// are now): a profile meant Modbus.
    fn from(v: FlowStateV3) -> FlowState {
        FlowState {
            generation: v.generation,
            conduit_id: v.conduit_id,
            profile_id: v.profile_id,
            flags: v.flags,
            inspector: if v.profile_id != 0 {
                crate::maps::inspector::MODBUS
            } else {
                crate::maps::inspector::NONE
            },
            swallowed: v.swallowed,
            last_seen_ns: v.last_seen_ns,
            injected: v.injected,
            answered_end: v.answered_end,
            ..FlowState::default()
        }
    }
}

/// [`FlowState`] of ABI 5-6 (32 bytes, the same layout without the inspector and session):
/// what a daemon taking over such pins reads and converts.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowStateV3 {
    /// Policy generation that admitted the flow; another generation means "judge again".
    pub generation: u32,
    /// Conduit that admitted the flow (counts its packets).
    pub conduit_id: u16,
    /// Inspection profile of the rule that admitted the flow (0 = none): every later segment
    /// of the flow is inspected with it.
    pub profile_id: u16,
    /// [`flow_flags`].
    pub flags: u8,
    // Padding as scalars: a `[u8; N]` zeroed in the XDP program becomes a memset loop call.
    pub _pad: u8,
    pub _pad2: u16,
    /// Bytes of requests answered with an exception ([`flow_flags::SHIFTED`]): sent by the
    /// opener, never seen by its peer. Opener → peer `seq - swallowed`, peer → opener
    /// `ack + swallowed`.
    pub swallowed: u32,
    /// `bpf_ktime_get_coarse_ns` of the last packet.
    pub last_seen_ns: u64,
    /// Bytes of exceptions zcfw sent to the opener in its peer's name. Peer → opener
    /// `seq + injected`, opener → peer `ack - injected`.
    pub injected: u32,
    /// Opener's sequence number after the last request answered with an exception: a
    /// segment of the opener starting before it is a retransmission of an answered request.
    pub answered_end: u32,
}

/// Value of [`crate::maps::names::FRAGS`]: an allowed first fragment.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FragState {
    /// Conduit that allowed the first fragment (counts the later ones).
    pub conduit_id: u16,
    pub _pad: u16,
    pub _pad2: u32,
    /// `bpf_ktime_get_coarse_ns` of the first fragment.
    pub last_seen_ns: u64,
}

/// Key of [`crate::maps::names::FRAGS`]: one fragmented datagram.
#[repr(C, align(8))]
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
    assert!(core::mem::size_of::<FlowState>() == 48);
    assert!(core::mem::size_of::<FlowStateV7>() == 32);
    assert!(core::mem::size_of::<StreamState>() == 208);
    assert!(core::mem::size_of::<FlowStateV3>() == 32);
    assert!(core::mem::size_of::<FlowStateV2>() == 24);
    assert!(core::mem::size_of::<FragKey>() == 40);
    assert!(core::mem::size_of::<FragState>() == 16);
    assert!(core::mem::align_of::<FlowKey>() == 8);
    assert!(core::mem::align_of::<FlowState>() == 8);
    assert!(core::mem::align_of::<FragKey>() == 8);
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

    /// The name zcfw writes for an IP protocol (events, `zcfw show`, the nftables export):
    /// `tcp`, `udp`, `icmp`, `icmpv6`; `None` for every other protocol, which callers write as
    /// its number.
    pub const fn name(proto: u8) -> Option<&'static str> {
        match proto {
            TCP => Some("tcp"),
            UDP => Some("udp"),
            ICMP => Some("icmp"),
            ICMPV6 => Some("icmpv6"),
            _ => None,
        }
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn the_named_protocols_and_only_those() {
            let named: alloc::vec::Vec<(u8, &str)> = (0..=u8::MAX)
                .filter_map(|p| Some((p, super::name(p)?)))
                .collect();
            assert_eq!(
                named,
                [(1, "icmp"), (6, "tcp"), (17, "udp"), (58, "icmpv6")]
            );
        }
    }
}

/// An address as two big-endian 64-bit words.
#[inline(always)]
fn words(a: &[u8; 16]) -> (u64, u64) {
    let mut hi = [0u8; 8];
    let mut lo = [0u8; 8];
    hi.copy_from_slice(&a[..8]);
    lo.copy_from_slice(&a[8..]);
    (u64::from_be_bytes(hi), u64::from_be_bytes(lo))
}

impl FlowKey {
    /// Canonical key of a packet's flow, and whether the packet's source is the `lo` endpoint.
    #[inline(always)]
    pub fn of(p: &Packet) -> (FlowKey, bool) {
        let (sport, dport) = p.flow_ports();
        // Compared as big-endian words (the same order as bytewise), not with a memcmp loop.
        let (s, d) = (words(&p.src), words(&p.dst));
        let src_is_lo = if s != d { s < d } else { sport <= dport };
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
    /// A new entry: admitted under `generation` by `conduit_id` (inspected with `profile_id`,
    /// 0 = none), [`flow_flags`] `flags`, last seen at `now_ns`; no sequence offsets.
    #[inline(always)]
    pub const fn new(
        generation: u32,
        conduit_id: u16,
        profile_id: u16,
        flags: u8,
        now_ns: u64,
    ) -> FlowState {
        FlowState {
            generation,
            conduit_id,
            profile_id,
            flags,
            inspector: crate::maps::inspector::NONE,
            session: 0,
            stream: 0,
            swallowed: 0,
            last_seen_ns: now_ns,
            injected: 0,
            answered_end: 0,
            fast: [FastSide { next: 0, last: 0 }; 2],
        }
    }

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pktgen::{ipv4, ipv6, tcp, v6};

    fn packet(frame: &[u8]) -> Packet {
        match crate::packet::parse(frame) {
            Ok(crate::packet::Frame::Ip(p)) => p,
            other => panic!("not IP: {other:?}"),
        }
    }

    #[test]
    fn both_directions_share_one_key_and_the_opener_is_known() {
        let a = [10, 0, 0, 1];
        let b = [10, 0, 0, 2];
        let (k1, lo1) = FlowKey::of(&packet(&ipv4(a, b, tcp(4000, 80, 2, b"")).frame()));
        let (k2, lo2) = FlowKey::of(&packet(&ipv4(b, a, tcp(80, 4000, 0x12, b"")).frame()));
        assert_eq!(k1, k2);
        assert_ne!(lo1, lo2);
        assert_eq!(&k1.addr_lo[..4], &a, "the lower address comes first");
        // Same address both ends: ports decide.
        let (k3, lo3) = FlowKey::of(&packet(&ipv4(a, a, tcp(9, 8, 2, b"")).frame()));
        let (k4, lo4) = FlowKey::of(&packet(&ipv4(a, a, tcp(8, 9, 2, b"")).frame()));
        assert_eq!(k3, k4);
        assert_ne!(lo3, lo4);
        // IPv6: the order looks at every byte, the last ones included.
        let x = v6([0xfd00, 0, 0, 0, 0, 0, 0, 1]);
        let y = v6([0xfd00, 0, 0, 0, 0, 0, 0, 0x100]);
        let (k5, lo5) = FlowKey::of(&packet(&ipv6(y, x, tcp(1, 2, 2, b"")).frame()));
        assert!(!lo5);
        assert_eq!(k5.addr_lo, x);
        let state = FlowState {
            flags: 0,
            ..FlowState::default()
        };
        assert_eq!(k5.opener(&state).0.0, y);
    }

    #[test]
    fn flows_of_the_previous_layout_convert_without_offsets() {
        let old = FlowStateV2 {
            generation: 7,
            conduit_id: 3,
            profile_id: 2,
            flags: flow_flags::OPENED_BY_LO | flow_flags::RESET_ON_VIOLATION,
            last_seen_ns: 99,
            ..FlowStateV2::default()
        };
        let new = FlowState::from(old);
        assert_eq!(
            (
                new.generation,
                new.conduit_id,
                new.profile_id,
                new.flags,
                new.last_seen_ns
            ),
            (7, 3, 2, old.flags, 99)
        );
        assert_eq!((new.swallowed, new.injected, new.answered_end), (0, 0, 0));
    }
}
