//! What happens to a decision once it is made, in every program that makes one (the main
//! program and the inspectors it tail-calls): a reset written, an event sent, counters
//! incremented, the XDP action returned.

use aya_ebpf::{
    bindings::xdp_md,
    helpers::generated::{
        bpf_jiffies64, bpf_ktime_get_coarse_ns, bpf_ktime_get_ns, bpf_xdp_load_bytes,
    },
    programs::XdpContext,
};
use firewall_common::{
    capture::{self, Frame},
    event::{self, Event},
    maps::{
        Control, Counter, RateLimit, SlotConfig, capacity, conduit_action_index,
        conduit_reason_index, control_flags, iface_counter_index, slot_flags,
    },
    packet::Packet,
    reason::Reason,
};

use crate::{
    decision::{Decision, RESET_SENDER, RESETS},
    maps::*,
    reset, zone_of,
};

/// Counts the decision `d` about a frame of `len` bytes (per reason, per conduit, per
/// interface) and returns its XDP action.
#[inline(always)]
pub fn account(ctx: &XdpContext, d: Decision, len: u64) -> u32 {
    count(
        &REASON_COUNTERS,
        if d.alert() { Reason::Alert } else { d.reason() } as u32,
        len,
    );
    if d.reason().is_inspection() {
        let slot = d.reason().conduit_slot();
        count(
            &CONDUIT_DENY_COUNTERS,
            conduit_reason_index(d.conduit_id(), slot),
            len,
        );
        count(
            &CONDUIT_DENY_COUNTERS,
            conduit_action_index(d.conduit_id(), d.action()),
            len,
        );
    } else if d.conduit_id() != 0 && !d.denied() {
        count(&CONDUIT_COUNTERS, d.conduit_id() as u32, len);
    }
    let ifindex = ctx.ingress_ifindex() as u32;
    if ifindex < capacity::MAX_IFINDEX {
        count(
            &IFACE_COUNTERS,
            iface_counter_index(ifindex, d.denied()),
            len,
        );
    }
    d.verdict()
}

#[inline(always)]
pub fn count(map: &aya_ebpf::maps::PerCpuArray<Counter>, index: u32, len: u64) {
    if let Some(c) = map.get_ptr_mut(index) {
        // SAFETY: per-CPU slot, only this CPU writes it while this program runs.
        unsafe {
            (*c).packets += 1;
            (*c).bytes += len;
        }
    }
}

/// Carries out a decision about the IP packet `p`: writes the reset it asks for (a segment
/// that cannot become a reset is dropped, never passed unchanged) and reports it as an event
/// when the policy and the event budget say so.
#[inline(always)]
pub fn deliver(
    ctx: &XdpContext,
    p: &Packet,
    d: Decision,
    control: &Control,
    cfg: &SlotConfig,
    at: EventContext,
) -> Decision {
    observe(ctx, &d, control, cfg, &at);
    let mut d = d;
    if d.0 & RESETS != 0 && !reset::write_reset(ctx.ctx, p, d.0 & RESET_SENDER != 0) {
        d = Decision(d.0 & !RESETS);
    }
    if reported(&d, cfg) && event_budget(control, &d) {
        emit(p, &d, EventContext { ip: true, ..at }, cfg);
    }
    d
}

/// Counts a packet the conduit lookup matched to rule `rule_id` (the first packet of a flow,
/// or every packet of one that is not tracked).
#[inline(always)]
pub fn count_rule(ctx: &XdpContext, rule_id: u16) {
    count(
        &RULE_COUNTERS,
        rule_id as u32,
        (ctx.data_end() - ctx.data()) as u64,
    );
}

/// Copies a denied or alerted frame for `zcfw capture` while a capture client is connected;
/// one flag test otherwise. Called before a reset rewrites the frame.
#[inline(always)]
pub fn observe(
    ctx: &XdpContext,
    d: &Decision,
    control: &Control,
    cfg: &SlotConfig,
    at: &EventContext,
) {
    if control.flags & control_flags::CAPTURE != 0 && (d.denied() || d.alert()) {
        capture(ctx.ctx, d.0 as u32, at.ifindex, at.len, cfg.generation);
    }
}

/// Copies the first [`capture::SNAPLEN`] bytes of the frame into the capture ring when this
/// CPU's capture bucket has a token; counts it as sent, suppressed or lost. Outlined: it is
/// verified once per caller, not inlined into each.
#[inline(never)]
fn capture(ctx: *mut xdp_md, decision: u32, ifindex: u32, len: u32, generation: u32) {
    let limit = RateLimit {
        pps: capture::PPS,
        burst: capture::PPS,
    };
    let allowed = match CAPTURE_BUCKET.get_ptr_mut(0) {
        // SAFETY: per-CPU value, only this CPU touches it while the program runs.
        Some(bucket) => unsafe { (*bucket).take(&limit, bpf_jiffies64(), now) },
        None => false,
    };
    if !allowed {
        count_capture(capture::counter::RATE_LIMITED);
        return;
    }
    let Some(mut entry) = CAPTURE.reserve::<Frame>(0) else {
        count_capture(capture::counter::RING_FULL);
        return;
    };
    let frame = entry.as_mut_ptr();
    let n = capture::copy_len(len);
    // SAFETY: `frame` is a reserved record of `size_of::<Frame>()` bytes; `data` has room for
    // `SNAPLEN` bytes and `n` is in `1..=SNAPLEN` (masked); the helper checks the frame.
    let copied = unsafe {
        bpf_xdp_load_bytes(
            ctx,
            0,
            (*frame).data.as_mut_ptr() as *mut core::ffi::c_void,
            n,
        )
    };
    if copied != 0 {
        entry.discard(0);
        count_capture(capture::counter::RING_FULL);
        return;
    }
    // SAFETY: fields of the reserved record; a helper without arguments.
    unsafe {
        (*frame).timestamp_ns = bpf_ktime_get_ns();
        (*frame).ifindex = ifindex;
        (*frame).len = len;
        (*frame).caplen = n;
        (*frame).generation = generation;
        (*frame).decision = decision;
        (*frame)._pad = 0;
    }
    entry.submit(0);
    count_capture(capture::counter::SENT);
}

#[inline(always)]
fn count_capture(slot: u32) {
    if let Some(c) = CAPTURE_COUNTERS.get_ptr_mut(slot) {
        // SAFETY: this CPU's slot; nothing else writes it while the program runs.
        unsafe { *c += 1 };
    }
}

/// Whether a decision is reported as an event: alerts always, denies unless the policy
/// says `log: none`.
#[inline(always)]
pub fn reported(d: &Decision, cfg: &SlotConfig) -> bool {
    d.alert() || (d.denied() && cfg.flags & slot_flags::LOG_DENIED != 0)
}

/// Takes a token from this CPU's event bucket of the decision's class (`event::class`);
/// counts the event as suppressed in that class when there is none. Inline and without a
/// clock read while a flood keeps the bucket empty.
#[inline(always)]
pub fn event_budget(control: &Control, d: &Decision) -> bool {
    let pps = control.event_pps;
    let limit = RateLimit { pps, burst: pps };
    let class = event::class::of(d.reason());
    let allowed = match EVENT_BUCKET.get_ptr_mut(class) {
        // SAFETY: per-CPU value, only this CPU touches it while the program runs; jiffies64
        // is a helper without arguments (the verifier inlines it as one memory read).
        Some(bucket) if pps != 0 => unsafe { (*bucket).take(&limit, bpf_jiffies64(), now) },
        _ => false,
    };
    if !allowed {
        count_event(event::counter::SUPPRESSED + class);
    }
    allowed
}

/// Coarse (tick resolution) time: plenty for idle timeouts and token buckets, and much
/// cheaper than a full clock read.
#[inline(always)]
pub fn now() -> u64 {
    // SAFETY: a helper without arguments.
    unsafe { bpf_ktime_get_coarse_ns() }
}

/// Where and what an event is about, beside the packet (BPF functions take five arguments).
#[derive(Clone, Copy)]
pub struct EventContext {
    pub slot: u8,
    pub ifindex: u32,
    pub len: u32,
    pub ip: bool,
}

/// Sends an event for a deny or alert that [`event_budget`] allowed; counts it as sent or
/// lost. Zones are looked up here, off the fast path.
#[inline(never)]
pub fn emit(p: &Packet, d: &Decision, at: EventContext, cfg: &SlotConfig) {
    let Some(mut entry) = EVENTS.reserve::<Event>(0) else {
        count_event(event::counter::RING_FULL);
        return;
    };
    let (src_zone, dst_zone) = if at.ip {
        (
            zone_of(at.slot, p.family, &p.src) as u16,
            zone_of(at.slot, p.family, &p.dst) as u16,
        )
    } else {
        (0, 0)
    };
    entry.write(Event {
        // SAFETY: a helper without arguments.
        timestamp_ns: unsafe { bpf_ktime_get_ns() },
        src: p.src,
        dst: p.dst,
        ifindex: at.ifindex,
        generation: cfg.generation,
        src_port: p.src_port,
        dst_port: p.dst_port,
        src_zone,
        dst_zone,
        conduit_id: d.conduit_id(),
        reason: d.reason() as u8,
        action: d.action(),
        family: p.family as u8,
        proto: p.proto,
        icmp_type: p.icmp_type,
        icmp_code: p.icmp_code,
        scope: d.detail() as u8,
        code: (d.detail() >> 8) as u8,
        address: (d.detail() >> 16) as u16,
        detail: d.detail_known() | if at.ip { event::detail::IP } else { 0 },
        _pad: 0,
        _pad2: 0,
        _pad3: 0,
        len: at.len,
    });
    entry.submit(0);
    count_event(event::counter::SENT);
}

#[inline(always)]
fn count_event(slot: u32) {
    if let Some(c) = EVENT_COUNTERS.get_ptr_mut(slot) {
        // SAFETY: this CPU's slot; nothing else writes it while the program runs.
        unsafe { *c += 1 };
    }
}
