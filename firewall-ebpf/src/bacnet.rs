//! BACnet/IP (udp/47808): the inspector program the main program tail-calls through
//! `INSPECTORS` (index `inspector::BACNET`) for the first datagram of a conduit match and for
//! every datagram of a tracked BACnet flow. A datagram is self-contained, so it is judged whole
//! in one pass ([`firewall_common::bacnet::judge`]): no stream position, no loop.

use aya_ebpf::{macros::xdp, programs::XdpContext};
use firewall_common::{
    bacnet,
    decision::monitorable,
    flow::{FlowKey, flow_flags},
    maps::{Handoff, SlotConfig, profile_index, slot_flags},
    packet::{Fragment, Packet, PacketBytes},
    reason::Reason,
    stream::PayloadBytes,
};

use crate::{
    XdpBytes,
    account::{EventContext, account, deliver, now},
    decision::{Decision, drop, finish, pass},
    inspect::inspection_deny,
    maps::{BACNET_PROFILES, CONTROL, FLOWS, HANDOFF, SCRATCH, SLOT_CONFIG},
    remember_first_fragment,
    stream::copy_payload,
};

/// BACnet/IP: every datagram of the client against the profile (BVLC functions, network
/// messages, services), the device's for framing, direction and unconfirmed services.
#[xdp]
pub fn zcfw_bacnet(ctx: XdpContext) -> u32 {
    let len = (ctx.data_end() - ctx.data()) as u64;
    let d = decide(&ctx, len as u32);
    account(&ctx, d, len)
}

#[inline(always)]
fn decide(ctx: &XdpContext, len: u32) -> Decision {
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
    let d = finish(judge(ctx, cfg, p, h), cfg);
    deliver(ctx, p, d, control, cfg, at)
}

/// The decision about a datagram of a BACnet flow (tracked by the main program before the
/// hand-over).
#[inline(always)]
fn judge(ctx: &XdpContext, cfg: &SlotConfig, p: &Packet, h: &Handoff) -> Decision {
    let (key, _) = FlowKey::of(p);
    let Some(state) = FLOWS.get_ptr_mut(&key) else {
        return drop(Reason::NoPolicy);
    };
    // SAFETY: the LRU map returned a valid pointer to the value; fields are plain integers.
    let state = unsafe { &mut *state };
    let conduit_id = state.conduit_id;
    let monitor = state.flags & flow_flags::MONITOR != 0;
    let Some(profile) = BACNET_PROFILES.get(profile_index(h.slot, state.profile_id)) else {
        return drop(Reason::NoPolicy);
    };
    // The datagram's length from the UDP header: a first fragment holds only its head, and the
    // BVLC length must match the whole datagram.
    let bytes = XdpBytes {
        start: ctx.data(),
        end: ctx.data_end(),
    };
    let Some(udp_len) = bytes.load::<2>(p.l4_offset as usize + 4) else {
        return drop(Reason::MalformedUdp);
    };
    let datagram = (u16::from_be_bytes(udp_len) as usize).wrapping_sub(8) & 0xFFFF;
    let Some(payload) = copy_payload(ctx, p, 0) else {
        return drop(Reason::NoPolicy);
    };
    let payload = PayloadBytes {
        payload,
        len: p.payload_len as usize,
    };
    match bacnet::judge(&payload, 0, datagram, profile, h.from_opener != 0) {
        Ok(()) => {
            if p.fragment == Fragment::First {
                remember_first_fragment(p, conduit_id, now());
            }
            let allowed = Reason::from_slot(h.allowed as u32).unwrap_or(Reason::AllowedConntrack);
            pass(allowed, conduit_id)
        }
        Err(d) => {
            let reason = Reason::of_bacnet(d.kind);
            let alerts = monitorable(reason) && (monitor || cfg.flags & slot_flags::MONITOR != 0);
            if h.allowed == Reason::AllowedConduit as u8 && !alerts {
                // The datagram that would have opened the flow is denied: no flow remains for
                // the device's answer to ride on.
                let _ = FLOWS.remove(&key);
            }
            let (detail, known) = d.packed();
            let packed = reason as u64 | (known as u64) << 8 | (detail as u64) << 32;
            inspection_deny(packed, conduit_id, monitor, false)
        }
    }
}
