//! BACnet/IP (udp/47808): the inspector program the main program tail-calls through
//! `INSPECTORS` (index `inspector::BACNET`) for the first datagram of a conduit match and for
//! every datagram of a tracked BACnet flow. A datagram is self-contained, so it is judged whole
//! in one pass ([`firewall_common::bacnet::judge`]): no stream position, no loop.

use aya_ebpf::{macros::xdp, programs::XdpContext};
use firewall_common::{
    bacnet::{self, BacnetViolation},
    conduit,
    decision::monitorable,
    flow::{FlowKey, flow_flags, proto},
    maps::{
        ConduitAction, Handoff, SlotConfig, action_flags, inspector, profile_index, slot_flags,
    },
    packet::{Fragment, Packet, PacketBytes},
    reason::Reason,
    stream::PayloadBytes,
};

use crate::{
    XdpBytes,
    account::{EventContext, account, deliver, now},
    decision::{Decision, drop, finish, pass},
    find_conduit,
    inspect::inspection_deny,
    maps::{BACNET_PROFILES, CONTROL, FLOWS, HANDOFF, SCRATCH, SLOT_CONFIG},
    remember_first_fragment,
    stream::copy_payload,
    zone, zone_of,
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

/// The conduit of a datagram of a tracked flow judged in its own direction, and the side it
/// is judged as (`true`: a client's request): a request from the side that did not open the
/// flow on its own conduit (its zone to the other's, the other's port), a reply from the side
/// that opened it on the conduit of the requests it answers (the other way). `None` when no
/// BACnet conduit allows that direction.
#[inline(always)]
fn own_direction(slot: u8, p: &Packet, from_opener: bool) -> Option<(ConduitAction, bool)> {
    let (src, _) = zone(zone_of(slot & 1, p.family, &p.src))?;
    let (dst, _) = zone(zone_of(slot & 1, p.family, &p.dst))?;
    let action = if from_opener {
        find_conduit(slot & 1, dst, src, conduit::point(proto::UDP, p.src_port))
    } else {
        find_conduit(slot & 1, src, dst, conduit::point(proto::UDP, p.dst_port))
    };
    if action.conduit_id == 0 || action.inspector != inspector::BACNET {
        return None;
    }
    Some((action, !from_opener))
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
    let from_opener = h.from_opener != 0;
    let mut judged = bacnet::judge(&payload, 0, datagram, profile, from_opener);
    let (mut conduit_id, mut monitor) = (conduit_id, monitor);
    if let Err(d) = judged
        && d.kind == BacnetViolation::Direction
        && h.allowed == Reason::AllowedConntrack as u8
        && let Some((action, client)) = own_direction(h.slot, p, from_opener)
        && let Some(other) = BACNET_PROFILES.get(profile_index(h.slot, action.profile_id))
        && (client || !other.confirmed.is_empty())
    {
        // Both ends use port 47808, so one flow holds both directions of the pair: a flow
        // the device opened (its I-Am after a broadcast Who-Is) also carries the client's
        // requests to it and the device's replies. Such a datagram is judged in its own
        // direction, on the conduit that allows its requests, as if it opened a flow (a
        // reply only where that conduit allows some confirmed request it could answer).
        judged = bacnet::judge(&payload, 0, datagram, other, client);
        conduit_id = action.conduit_id;
        monitor = action.flags & action_flags::MONITOR != 0;
    }
    match judged {
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
