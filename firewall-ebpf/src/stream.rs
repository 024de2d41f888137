//! The protocols inspected on their TCP stream position (Modbus, IEC 104, DNP3; S7comm in
//! `s7comm.rs`): each has an XDP program of its own that the main program tail-calls through
//! [`INSPECTORS`], so the main program's verification does not grow with every protocol
//! (Modbus and IEC 104 only for the segments the main program does not judge itself,
//! [`fast`]). An inspector program finds the
//! flow's conntrack entry again, moves the direction's stream position
//! ([`firewall_common::stream::segment`]) and finishes the packet as the main program does
//! ([`deliver`], [`account`]).

use aya_ebpf::{helpers::generated::bpf_xdp_load_bytes, macros::xdp, programs::XdpContext};
use firewall_common::{
    decision::monitorable,
    dnp3::{Dnp3Denial, Dnp3Profile},
    event,
    flow::{FlowKey, FlowState, StreamState, flow_flags},
    iec104::{self, Iec104Denial, Iec104Profile},
    maps::{Handoff, SlotConfig, profile_index, slot_flags},
    modbus::{self, ModbusDenial, ModbusProfile},
    packet::{Packet, PacketBytes, tcp_flags},
    reason::Reason,
    stream::{self, PAYLOAD_MAX, Payload, PayloadBytes, Verdict, Walker, fast},
};

use crate::{
    XdpBytes,
    account::{EventContext, account, deliver},
    decision::{Decision, deny_on, drop, finish, pass},
    exception,
    inspect::{inspection_deny, resets},
    looped::{Dnp3Looped, Looped, ModbusAdus},
    maps::{
        CONTROL, DNP3_PROFILES, FLOWS, HANDOFF, IEC104_PROFILES, INSPECTORS, MODBUS_PROFILES,
        PAYLOAD, SCRATCH, SLOT_CONFIG, STREAM_START, STREAMS,
    },
};

/// Hands the packet in the scratch value to the inspector program of `inspector` (a tail
/// call: on success nothing after it runs). Returns only when the call fails (no program in
/// that entry): the packet is dropped, never passed uninspected.
#[inline(always)]
pub fn hand_over(
    ctx: &XdpContext,
    slot: u8,
    from_opener: bool,
    allowed: Reason,
    inspector: u8,
) -> Decision {
    if let Some(h) = HANDOFF.get_ptr_mut(0) {
        // SAFETY: this CPU's value; the inspector program reads it in this same run (the
        // walk fields are the walker's, set where it starts).
        unsafe {
            (*h).slot = slot;
            (*h).from_opener = from_opener as u8;
            (*h).allowed = allowed as u8;
            (*h).ifindex = ctx.ingress_ifindex() as u32;
        }
        // SAFETY: jumps to a program of the same type that takes the same context.
        unsafe { INSPECTORS.tail_call(ctx, inspector as u32) };
    }
    drop(Reason::NoPolicy)
}

/// Modbus/TCP segments the main program cannot judge as whole ADUs at the stream position
/// (an ADU split across segments, a gap, more ADUs than it checks): the client's ADUs
/// against the profile, the server's for framing.
#[xdp]
pub fn zcfw_modbus(ctx: XdpContext) -> u32 {
    run::<Modbus>(&ctx)
}

/// IEC 60870-5-104: the controlling station's direction against the profile, the controlled
/// station's for framing, direction and STARTDT/STOPDT.
#[xdp]
pub fn zcfw_iec104(ctx: XdpContext) -> u32 {
    run::<Iec104>(&ctx)
}

/// DNP3 over TCP: the master's frames against the profile, the outstation's for framing,
/// CRCs and direction.
#[xdp]
pub fn zcfw_dnp3(ctx: XdpContext) -> u32 {
    run::<Dnp3>(&ctx)
}

/// What an inspector program needs of its protocol: its profiles, a walker per direction and
/// the packing of a denial as the main program's inspection verdicts (`reason | known << 8 |
/// detail << 32`).
pub(crate) trait Protocol {
    /// Whether the main program judges whole PDUs of the protocol itself
    /// ([`fast`]): the program hands the flow's position back when it can.
    const FAST: bool;
    /// Where in [`PAYLOAD`] the payload is copied (bytes before it are the walker's).
    const FRONT: usize;
    type Profile: 'static;
    type Denial: Copy;
    type Opener: Walker<Denial = Self::Denial>;
    type Peer: Walker<Denial = Self::Denial>;
    fn profile(index: u32) -> Option<&'static Self::Profile>;
    /// The opener's walker, judging against `profile` (at `index` in the protocol's profile
    /// map).
    fn opener(
        profile: &'static Self::Profile,
        index: u32,
        payload: &'static Payload,
    ) -> Self::Opener;
    fn peer(payload: &'static Payload) -> Self::Peer;
    fn pack(d: Self::Denial) -> u64;
    /// Walks the segment `b` sent at `seq` in the direction `h` says (`sides`); `None` when
    /// the flow's profile is gone.
    #[inline(always)]
    fn walk(
        b: &PayloadBytes<'static>,
        seq: u32,
        state: &mut FlowState,
        sides: &mut StreamState,
        h: &Handoff,
    ) -> Option<Verdict<Self::Denial>>
    where
        Self: Sized,
    {
        walk_either::<Self>(b, seq, state, sides, h)
    }
}

struct Modbus;

impl Modbus {
    /// The client's walker, judging against the profile at `index`.
    #[inline(always)]
    fn opener_at(index: u32) -> ModbusAdus {
        ModbusAdus {
            profile: ModbusAdus::client(index),
        }
    }
}

impl Protocol for Modbus {
    const FAST: bool = true;
    const FRONT: usize = modbus::FRONT;
    type Profile = ModbusProfile;
    type Denial = ModbusDenial;
    type Opener = ModbusAdus;
    type Peer = ModbusAdus;

    #[inline(always)]
    fn profile(index: u32) -> Option<&'static ModbusProfile> {
        MODBUS_PROFILES.get(index)
    }

    #[inline(always)]
    fn opener(
        _profile: &'static ModbusProfile,
        index: u32,
        _payload: &'static Payload,
    ) -> ModbusAdus {
        Self::opener_at(index)
    }

    #[inline(always)]
    fn peer(_payload: &'static Payload) -> ModbusAdus {
        ModbusAdus {
            profile: ModbusAdus::SERVER,
        }
    }

    /// One walker for both directions (one inlined walk, one `bpf_loop` call site: the
    /// program's frames must fit 512 bytes with the ADU step's).
    #[inline(always)]
    fn walk(
        b: &PayloadBytes<'static>,
        seq: u32,
        state: &mut FlowState,
        sides: &mut StreamState,
        h: &Handoff,
    ) -> Option<Verdict<ModbusDenial>> {
        let from_opener = h.from_opener != 0;
        let walker = if from_opener {
            let index = profile_index(h.slot, state.profile_id);
            Self::profile(index)?;
            Self::opener_at(index)
        } else {
            Self::peer(b.payload)
        };
        let [opener, peer] = &mut sides.sides;
        let side = if from_opener { opener } else { peer };
        Some(stream::segment(
            b,
            0,
            b.len,
            seq,
            side,
            &mut state.session,
            &walker,
        ))
    }

    #[inline(always)]
    fn pack(d: ModbusDenial) -> u64 {
        let (detail, known) = event::pack_modbus(&d);
        Reason::of_modbus(d.kind) as u64 | (known as u64) << 8 | (detail as u64) << 32
    }
}

pub(crate) struct Iec104;

impl Protocol for Iec104 {
    const FAST: bool = true;
    const FRONT: usize = 0;
    type Profile = Iec104Profile;
    type Denial = Iec104Denial;
    type Opener = Looped<iec104::Control<'static>>;
    type Peer = Looped<iec104::Monitor>;

    #[inline(always)]
    fn profile(index: u32) -> Option<&'static Iec104Profile> {
        IEC104_PROFILES.get(index)
    }

    #[inline(always)]
    fn opener(
        profile: &'static Iec104Profile,
        _index: u32,
        payload: &'static Payload,
    ) -> Self::Opener {
        Looped {
            inspector: iec104::Control { profile },
            payload,
        }
    }

    #[inline(always)]
    fn peer(payload: &'static Payload) -> Self::Peer {
        Looped {
            inspector: iec104::Monitor,
            payload,
        }
    }

    #[inline(always)]
    fn pack(d: Iec104Denial) -> u64 {
        let (detail, known) = event::pack_iec104(&d);
        Reason::of_iec104(d.kind) as u64 | (known as u64) << 8 | (detail as u64) << 32
    }
}

struct Dnp3;

impl Protocol for Dnp3 {
    const FAST: bool = false;
    const FRONT: usize = 0;
    type Profile = Dnp3Profile;
    type Denial = Dnp3Denial;
    type Opener = Dnp3Looped;
    type Peer = Dnp3Looped;

    #[inline(always)]
    fn profile(index: u32) -> Option<&'static Dnp3Profile> {
        DNP3_PROFILES.get(index)
    }

    #[inline(always)]
    fn opener(profile: &'static Dnp3Profile, _index: u32, payload: &'static Payload) -> Dnp3Looped {
        Dnp3Looped {
            profile: Some(profile),
            payload,
        }
    }

    #[inline(always)]
    fn peer(payload: &'static Payload) -> Dnp3Looped {
        Dnp3Looped {
            profile: None,
            payload,
        }
    }

    #[inline(always)]
    fn pack(d: Dnp3Denial) -> u64 {
        let (detail, known) = event::pack_dnp3(&d);
        Reason::of_dnp3(d.kind) as u64 | (known as u64) << 8 | (detail as u64) << 32
    }
}

/// Walks the payload `b`, sent at `seq` by the side `h` says, in its direction's stream
/// (`sides`).
/// Returns 0 (passes), or a denial packed by [`Protocol::pack`] (an out-of-order segment as
/// [`Reason::StreamOutOfOrder`]): a plain integer, so nothing half-defined crosses the BPF call
/// (a function of its own, so its frame is not added to the program's beside the reset
/// writer's).
#[inline(never)]
fn segment<P: Protocol>(
    b: &PayloadBytes<'static>,
    seq: u32,
    state: &mut FlowState,
    sides: &mut StreamState,
    h: &Handoff,
) -> u64 {
    match P::walk(b, seq, state, sides, h) {
        Some(Verdict::Pass) => 0,
        Some(Verdict::Denied(d)) => P::pack(d),
        Some(Verdict::OutOfOrder) => Reason::StreamOutOfOrder as u64,
        None => Reason::NoPolicy as u64,
    }
}

/// [`Protocol::walk`] for protocols with a walker type per direction: the segment walked
/// with the opener's (against its profile) or the peer's. `None`: the flow's profile is gone.
#[inline(always)]
pub(crate) fn walk_either<P: Protocol>(
    b: &PayloadBytes<'static>,
    seq: u32,
    state: &mut FlowState,
    sides: &mut StreamState,
    h: &Handoff,
) -> Option<Verdict<P::Denial>> {
    let len = b.len;
    let [opener, peer] = &mut sides.sides;
    Some(if h.from_opener != 0 {
        let index = profile_index(h.slot, state.profile_id);
        let profile = P::profile(index)?;
        let walker = P::opener(profile, index, b.payload);
        stream::segment(b, 0, len, seq, opener, &mut state.session, &walker)
    } else {
        let walker = P::peer(b.payload);
        stream::segment(b, 0, len, seq, peer, &mut state.session, &walker)
    })
}

/// An inspector program: decides the packet the main program handed over and finishes it.
#[inline(always)]
pub(crate) fn run<P: Protocol>(ctx: &XdpContext) -> u32 {
    let len = (ctx.data_end() - ctx.data()) as u64;
    let d = decide::<P>(ctx, len as u32);
    account(ctx, d, len)
}

#[inline(always)]
fn decide<P: Protocol>(ctx: &XdpContext, len: u32) -> Decision {
    let (Some(control), Some(h), Some(p)) = (CONTROL.get(0), HANDOFF.get(0), SCRATCH.get(0)) else {
        return drop(Reason::NoPolicy);
    };
    let slot = h.slot & 1;
    let Some(cfg) = SLOT_CONFIG.get(slot as u32) else {
        return drop(Reason::NoPolicy);
    };
    let at = EventContext {
        slot,
        ifindex: h.ifindex,
        len,
        ip: true,
    };
    let d = finish(judge::<P>(ctx, cfg, p, h), cfg);
    deliver(ctx, p, d, control, cfg, at)
}

/// The decision about a segment of a flow inspected by `P`.
#[inline(always)]
fn judge<P: Protocol>(ctx: &XdpContext, cfg: &SlotConfig, p: &Packet, h: &Handoff) -> Decision {
    let (key, _) = FlowKey::of(p);
    let Some(state) = FLOWS.get_ptr_mut(&key) else {
        // Evicted between the two programs: nothing says where the stream stands.
        return drop(Reason::NoPolicy);
    };
    // SAFETY: the LRU map returned a valid pointer to the value; only the CPU running this
    // flow's packets writes its stream fields.
    let state = unsafe { &mut *state };
    let bytes = XdpBytes {
        start: ctx.data(),
        end: ctx.data_end(),
    };
    let l4 = p.l4_offset as usize;
    let (Some(seq), Some(ack)) = (bytes.load::<4>(l4 + 4), bytes.load::<4>(l4 + 8)) else {
        return drop(Reason::MalformedTcp);
    };
    let (mut seq, ack) = (u32::from_be_bytes(seq), u32::from_be_bytes(ack));
    let from_opener = h.from_opener != 0;
    let Some(sides) = stream_state(&key) else {
        return drop(Reason::NoPolicy);
    };
    fast::take_over(state, &mut sides.sides);
    {
        let [opener, peer] = &mut sides.sides;
        let (side, other) = if from_opener {
            (opener, peer)
        } else {
            (peer, opener)
        };
        if p.tcp_flags & tcp_flags::SYN != 0 {
            side.syn(seq);
            seq = seq.wrapping_add(1);
        }
        if p.tcp_flags & tcp_flags::ACK != 0 {
            other.acknowledge(ack);
        }
    }
    let conduit_id = state.conduit_id;
    let monitor = state.flags & flow_flags::MONITOR != 0;
    let Some(payload) = copy_payload(ctx, p, P::FRONT) else {
        return drop(Reason::NoPolicy);
    };
    let payload = PayloadBytes {
        payload,
        len: p.payload_len as usize,
    };
    let reason = segment::<P>(&payload, seq, state, sides, h);
    if reason == 0 {
        if P::FAST {
            fast::hand_back(state, &sides.sides);
        }
        // After a Modbus exception zcfw answered, every segment moves into its receiver's
        // sequence space (the position above is in the sender's).
        if state.flags & flow_flags::SHIFTED != 0
            && !exception::shift(ctx.ctx, p, state.swallowed, state.injected, from_opener)
        {
            return drop(Reason::MalformedTcp);
        }
        let allowed = Reason::from_slot(h.allowed as u32).unwrap_or(Reason::AllowedConntrack);
        return pass(allowed, conduit_id);
    }
    let reason_of = Reason::from_slot(reason as u8 as u32).unwrap_or(Reason::NoPolicy);
    if monitorable(reason_of) && (monitor || cfg.flags & slot_flags::MONITOR != 0) {
        // Passes as an alert: the receiver gets the segment, so the stream moves past it and
        // the next segment is taken to start on a boundary.
        let side = if from_opener {
            &mut sides.sides[0]
        } else {
            &mut sides.sides[1]
        };
        side.syn(seq.wrapping_add(p.payload_len as u32).wrapping_sub(1));
        if P::FAST {
            fast::hand_back(state, &sides.sides);
        }
    }
    if reason_of == Reason::StreamOutOfOrder {
        return deny_on(Reason::StreamOutOfOrder, conduit_id, monitor);
    }
    // Under `on_violation: exception` (Modbus) a segment the main program could not judge
    // whole cannot be answered with an exception: the connection is reset.
    let reset = state.flags & flow_flags::RESET_ON_VIOLATION != 0 && resets(p, cfg, monitor);
    if reset {
        // Nothing more of this connection passes, either direction.
        state.flags |= flow_flags::RESET | flow_flags::CLOSING;
    }
    // An alert or a RST reaches the receiver: in its sequence space after an exception.
    if state.flags & flow_flags::SHIFTED != 0
        && !exception::shift(ctx.ctx, p, state.swallowed, state.injected, from_opener)
    {
        return drop(Reason::MalformedTcp);
    }
    inspection_deny(reason, conduit_id, monitor, reset)
}

/// The payload of `p` copied into this CPU's [`PAYLOAD`] buffer at `at` (at most
/// [`PAYLOAD_MAX`] - `at` bytes: the walkers find a longer segment unwalkable).
#[inline(always)]
pub(crate) fn copy_payload(
    ctx: &XdpContext,
    p: &Packet,
    at: usize,
) -> Option<&'static stream::Payload> {
    let buf = PAYLOAD.get_ptr_mut(0)?;
    let mut n = p.payload_len as usize;
    if n > PAYLOAD_MAX - at {
        n = PAYLOAD_MAX - at;
    }
    if n > 0 {
        // SAFETY: `buf` is this CPU's buffer of PAYLOAD_MAX bytes, `at` a constant and
        // `1 <= n <= PAYLOAD_MAX - at`; the helper checks the frame's bounds itself.
        let copied = unsafe {
            bpf_xdp_load_bytes(
                ctx.ctx,
                p.payload_offset as u32,
                buf.cast::<u8>().add(at).cast(),
                n as u32,
            )
        };
        if copied != 0 {
            return None;
        }
    }
    // SAFETY: this CPU's value, only read from here on in this run.
    Some(unsafe { &*buf })
}

/// The stream position of the flow `key`, made (all zero: no direction placed yet) when it
/// has none: its first segment seen by an inspector, or a position the LRU evicted (the flow
/// is then picked up as one seen mid-stream).
#[inline(always)]
fn stream_state(key: &FlowKey) -> Option<&'static mut StreamState> {
    if let Some(sides) = STREAMS.get_ptr_mut(key) {
        // SAFETY: a valid pointer to the LRU value; only the CPU running this flow's packets
        // writes it.
        return Some(unsafe { &mut *sides });
    }
    let start = STREAM_START.get_ptr(0)?;
    // SAFETY: this CPU's never-written value, all zero.
    let _ = STREAMS.insert(key, unsafe { &*start }, 0);
    // SAFETY: as above.
    STREAMS.get_ptr_mut(key).map(|sides| unsafe { &mut *sides })
}
