//! Deep inspection glue: the Modbus checker of `firewall_common` on packet memory, and what
//! an inspection deny decides (drop, reset the connection, or answer with an exception).

use aya_ebpf::bindings::xdp_md;
use firewall_common::{
    event, exception as modbus_exception,
    flow::{FlowKey, FlowState, flow_flags, proto},
    maps::{SlotConfig, slot_flags},
    modbus,
    packet::Packet,
    reason::Reason,
};

use crate::{
    XdpBytes,
    decision::{Decision, EXCEPTION, RESET_RECEIVER, deny_on},
    exception::{self, ANSWERED, BROKEN, RETRANSMISSION},
    maps::{FLOWS, MODBUS_PROFILES},
    now,
};

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
