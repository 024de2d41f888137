//! Deep inspection glue: the Modbus checker of `firewall_common` on packet memory, and what
//! an inspection deny decides (drop, reset the connection, or answer with an exception).

use aya_ebpf::bindings::xdp_md;
use firewall_common::{
    event, exception as modbus_exception,
    flow::{FlowKey, FlowState, flow_flags, proto},
    iec104,
    maps::{SlotConfig, inspector, profile_index, slot_flags},
    modbus::{self, ModbusViolation},
    packet::{Packet, PacketBytes, tcp_flags},
    reason::Reason,
    stream::{Inspector, Step, fast},
};

use crate::{
    XdpBytes,
    decision::{Decision, EXCEPTION, RESET_RECEIVER, deny_on},
    exception::{self, ANSWERED, BROKEN, RETRANSMISSION},
    maps::{FLOWS, IEC104_PROFILES, MODBUS_PROFILES},
    now,
    stream::{Iec104, Protocol},
};

/// [`tracked`] result: the segment is not whole PDUs at the stream position; the flow's
/// inspector program walks it (a value no deny reason has).
pub const WALK: u64 = 0xFF;

/// [`tracked`] `how` bit: the flow's slot (0 or 1).
pub const SLOT: u32 = 1;

/// Judges a segment of the tracked flow `state` inspected by Modbus or IEC 104 in the main
/// program ([`fast`]): places it in its direction's stream, and judges its payload when it
/// starts at the position and holds whole PDUs (Modbus: up to
/// [`modbus::MAX_ADUS_PER_SEGMENT`] ADUs; IEC 104: one APDU). Returns 0 (passes; the
/// position moved past it), [`WALK`], or the deny packed as [`inspect`] packs it. `how`:
/// [`SLOT`] and [`FROM_OPENER`] bits.
#[inline(never)]
pub fn tracked(start: usize, end: usize, p: *const Packet, state: *mut FlowState, how: u32) -> u64 {
    // SAFETY: the per-CPU scratch value the parser filled for this frame, and the conntrack
    // value the caller looked up; both valid for the whole run.
    let (p, state) = unsafe { (&*p, &mut *state) };
    let from_opener = how & FROM_OPENER != 0;
    let bytes = XdpBytes { start, end };
    let Some(seq) = bytes.load::<4>(p.l4_offset as usize + 4) else {
        return Reason::MalformedTcp as u64;
    };
    let seq = u32::from_be_bytes(seq);
    let len = p.payload_len as u32;
    let syn = p.tcp_flags & tcp_flags::SYN != 0;
    let again = match fast::place(state, from_opener, seq, syn, len) {
        fast::Place::Pass => return 0,
        fast::Place::Walk => return WALK,
        fast::Place::Judge { again } => again,
    };
    let profile = profile_index((how & SLOT) as u8, state.profile_id);
    let verdict = if state.inspector == inspector::MODBUS {
        modbus_segment(start, end, p, profile, from_opener)
    } else {
        iec104_segment(&bytes, p, profile, from_opener, &mut state.session)
    };
    if verdict == 0 {
        fast::advance(state, from_opener, seq, len, again);
    }
    verdict
}

/// A Modbus segment at the stream position: 0, [`WALK`] for an ADU the segment does not
/// hold whole (or more than the checker walks), or the deny.
#[inline(always)]
fn modbus_segment(start: usize, end: usize, p: &Packet, profile: u32, request: bool) -> u64 {
    let verdict = inspect(start, end, p, profile, request);
    if verdict as u8 == Reason::of_modbus(ModbusViolation::Split) as u8 {
        WALK
    } else {
        verdict
    }
}

/// An IEC 104 segment at the stream position: 0 when it is one allowed APDU (the session
/// bits move only then), [`WALK`] when it is not one whole APDU, or the deny.
#[inline(always)]
fn iec104_segment<B: PacketBytes>(
    b: &B,
    p: &Packet,
    profile: u32,
    from_opener: bool,
    session: &mut u8,
) -> u64 {
    let (off, len) = (p.payload_offset as usize, p.payload_len as usize);
    // Everything decisive is in the head: judged on a copy of it (fixed-size packet reads;
    // a one-byte read at a variable offset gives the verifier no range to check).
    let mut head = [0u8; iec104::HEAD_LEN];
    if len >= iec104::HEAD_LEN {
        let Some(h) = b.load::<{ iec104::HEAD_LEN }>(off) else {
            return Reason::MalformedTcp as u64;
        };
        head = h;
    } else if len >= iec104::APCI_LEN {
        let Some(h) = b.load::<{ iec104::APCI_LEN }>(off) else {
            return Reason::MalformedTcp as u64;
        };
        head[..iec104::APCI_LEN].copy_from_slice(&h);
    } else {
        return WALK;
    }
    let mut bits = *session;
    let step = if from_opener {
        // Profiles the daemon never wrote read as all-zero: they allow nothing.
        let Some(profile) = IEC104_PROFILES.get(profile) else {
            return Reason::NoPolicy as u64;
        };
        iec104::Control { profile }.judge(&head[..], 0, len, &mut bits)
    } else {
        iec104::Monitor.judge(&head[..], 0, len, &mut bits)
    };
    match step {
        Ok(Step::Pdu(n)) if n == len => {
            *session = bits;
            0
        }
        Ok(_) => WALK,
        Err(d) => Iec104::pack(d),
    }
}

/// The sequence number of the TCP segment `p` (0 when the frame is shorter than its header,
/// which the parser already refused).
#[inline(always)]
pub fn seq_of(start: usize, end: usize, p: &Packet) -> u32 {
    let bytes = XdpBytes { start, end };
    bytes
        .load::<4>(p.l4_offset as usize + 4)
        .map_or(0, u32::from_be_bytes)
}

/// The segment [`tracked`] judged and denied, sent at `seq`, reached its receiver all the
/// same (an alert in monitor mode, or a request answered with an exception in its name): the
/// direction's position moves past it. (`seq` read before the exception rewrote the frame
/// into the answer.)
#[inline(never)]
pub fn passed(p: *const Packet, state: *mut FlowState, how: u32, seq: u32) {
    // SAFETY: as in `tracked`.
    let (p, state) = unsafe { (&*p, &mut *state) };
    let from_opener = how & FROM_OPENER != 0;
    // `tracked` placed it at the position or at the last segment's start.
    let again = seq != state.fast[!from_opener as usize].next;
    fast::advance(state, from_opener, seq, p.payload_len as u32, again);
}

/// Checks the TCP payload of `p` against the inspection profile at index `profile` of
/// `MODBUS_PROFILES` (BPF functions take at most five arguments): every Modbus ADU of
/// a request (`request`) or the sanity of a response. Returns 0, or the deny [`Reason`] in
/// the low byte, the known-field bits next and the packed Modbus detail in the upper half
/// (an integer, so nothing half-defined crosses the BPF call).
#[inline(never)]
pub fn inspect(start: usize, end: usize, p: &Packet, profile: u32, request: bool) -> u64 {
    // Profiles the daemon never wrote read as all-zero: they allow nothing (fail closed).
    let Some(profile) = MODBUS_PROFILES.get(profile) else {
        return Reason::NoPolicy as u64;
    };
    let bytes = XdpBytes { start, end };
    let (offset, len) = (p.payload_offset as usize, p.payload_len as usize);
    let verdict = if request {
        modbus::check_request(&bytes, offset, len, profile)
    } else {
        modbus::check_response(&bytes, offset, len)
    };
    match verdict {
        Ok(_) => 0,
        Err(denial) => {
            let (packed, known) = event::pack_modbus(&denial);
            Reason::of_modbus(denial.kind) as u64 | (known as u64) << 8 | (packed as u64) << 32
        }
    }
}

/// The decision for a non-zero [`inspect`] result; `reset`: the segment becomes a RST toward
/// its receiver.
#[inline(always)]
pub fn inspection_deny(verdict: u64, conduit_id: u16, monitor: bool, reset: bool) -> Decision {
    let reason = Reason::from_slot(verdict as u8 as u32).unwrap_or(Reason::NoPolicy);
    let known = (verdict >> 8) & 0x7;
    let reset = if reset { RESET_RECEIVER } else { 0 };
    Decision(deny_on(reason, conduit_id, monitor).0 | known << 26 | (verdict >> 32) << 32 | reset)
}

/// [`tracked_deny`] `how` bit: the conduit resets on violation here ([`resets`]).
pub const RESET: u32 = 1;
/// [`tracked_deny`] `how` bit: the segment comes from the endpoint that opened the flow.
pub const FROM_OPENER: u32 = 2;

/// What an inspection deny ([`inspect`] result `verdict`) of a segment of the tracked flow
/// `state` decides. `how`: [`RESET`] (the conduit resets on violation here, [`resets`]) and
/// [`FROM_OPENER`] (the segment comes from the client). Under `on_violation: exception` a
/// request that is one whole ADU denied for a reason an exception code fits is answered
/// with that exception (written in place, `XDP_TX`) and the flow remembers the shift; any
/// other deny of such a flow (several ADUs, a split, a response) resets the connection.
///
/// A BPF function of its own, not inlined: the allow path of an inspected flow only calls
/// [`inspect`], and this rarely taken code would otherwise crowd its registers.
#[inline(never)]
pub fn tracked_deny(
    ctx: *mut xdp_md,
    p: *const Packet,
    state: *mut FlowState,
    verdict: u64,
    how: u32,
) -> Decision {
    // SAFETY: the per-CPU scratch value the parser filled for this frame, and the conntrack
    // value the caller looked up (see `judge`); both valid for the whole run.
    let (p, state) = unsafe { (&*p, &mut *state) };
    let reset = how & RESET != 0;
    let monitor = state.flags & flow_flags::MONITOR != 0;
    if reset && how & FROM_OPENER != 0 && state.flags & flow_flags::EXCEPTION_ON_VIOLATION != 0 {
        let reason = Reason::from_slot(verdict as u8 as u32).unwrap_or(Reason::NoPolicy);
        let answered = exception::answer(
            ctx,
            p,
            modbus_exception::code_for(reason) as u32,
            state.answered_end,
            state.flags & flow_flags::SHIFTED != 0,
        );
        if answered & ANSWERED != 0 {
            if answered & RETRANSMISSION == 0 {
                exception::remember(state, p.payload_len, answered as u32);
            }
            let d = inspection_deny(verdict, state.conduit_id, false, false);
            return Decision(d.0 | EXCEPTION);
        }
        if answered & BROKEN != 0 {
            return inspection_deny(verdict, state.conduit_id, false, false);
        }
    }
    if reset {
        // Nothing more of this connection passes, either direction.
        state.flags |= flow_flags::RESET | flow_flags::CLOSING;
    }
    inspection_deny(verdict, state.conduit_id, monitor, reset)
}

/// Whether an inspection deny of `p` under a conduit with `on_violation: reset` resets the
/// connection: TCP only, and not in monitor mode (the conduit's or the policy's), where the
/// deny passes as an alert.
#[inline(always)]
pub fn resets(p: &Packet, cfg: &SlotConfig, monitor: bool) -> bool {
    p.proto == proto::TCP && !monitor && cfg.flags & slot_flags::MONITOR == 0
}

/// Records the flow of a segment whose connection was reset but that conntrack did not
/// track: its ends get a RST for every later segment ([`flow_flags::RESET`]).
#[inline(never)]
pub fn remember_reset(key: &FlowKey, src_is_lo: bool, cfg: &SlotConfig, conduit_id: u16) {
    let flags = flow_flags::RESET
        | flow_flags::CLOSING
        | if src_is_lo {
            flow_flags::OPENED_BY_LO
        } else {
            0
        };
    let state = FlowState::new(cfg.generation, conduit_id, 0, flags, now());
    let _ = FLOWS.insert(key, &state, 0);
}
