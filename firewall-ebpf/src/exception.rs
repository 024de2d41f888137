//! Glue between `firewall_common::exception` and the XDP frame: a denied Modbus request
//! answered with a Modbus exception (`XDP_TX`), and the sequence-number shifts of every later
//! segment of its flow.

use aya_ebpf::{bindings::xdp_md, helpers::generated::bpf_xdp_adjust_tail};
use firewall_common::{
    exception::{self, ADU_LEN},
    flow::{FlowState, flow_flags, proto},
    packet::Packet,
    reset,
};

use crate::XdpBytes;

/// Largest IP header offset an exception is written at: Ethernet and two VLAN tags.
const MAX_L3: usize = 14 + 2 * 4;
/// Largest TCP header offset a segment is shifted at (IPv6 with extension headers).
const MAX_L4: usize = 255;

/// [`answer`] wrote the exception: the frame goes back to the client.
pub const ANSWERED: u64 = 1 << 32;
/// [`answer`] answered a retransmission of a request answered before (no new shift).
pub const RETRANSMISSION: u64 = 1 << 33;
/// [`answer`] changed the frame but could not finish: drop it.
pub const BROKEN: u64 = 1 << 34;

/// Answers the request of `p` with the Modbus exception `code` (`XDP_TX`, written in place,
/// frame shortened). `answered_end`: the flow's [`FlowState::answered_end`] when `shifted`.
/// Returns 0 when no exception fits (not one whole ADU, no ACK, no room; nothing changed:
/// the caller resets instead), else [`ANSWERED`] with the request's end sequence number in
/// the low half (and [`RETRANSMISSION`] when the request starts before `answered_end`), or
/// [`BROKEN`].
#[inline(never)]
pub fn answer(
    ctx: *mut xdp_md,
    p: *const Packet,
    code: u32,
    answered_end: u32,
    shifted: bool,
) -> u64 {
    // SAFETY: the program's context, valid for the whole run.
    let (start, end) = unsafe { ((*ctx).data as usize, (*ctx).data_end as usize) };
    // SAFETY: the per-CPU scratch value the parser filled for this frame.
    let p = unsafe { &*p };
    // The MAC addresses first, while no other bounds check on the frame start exists for the
    // compiler to merge this one into (the verifier would not follow that); swapped back
    // when no exception fits, so the frame is unchanged then.
    let mut frame = XdpBytes { start, end };
    if reset::swap_macs(&mut frame).is_none() {
        return 0;
    }
    let l3 = p.l3_offset as usize;
    // A view from the IP header on: constant offsets from one packet pointer.
    let mut ip = XdpBytes {
        start: start + l3,
        end,
    };
    let planned = if l3 > MAX_L3 {
        None
    } else {
        exception::plan(&ip, p, l3, code as u8)
    };
    let Some(a) = planned else {
        return if reset::swap_macs(&mut frame).is_some() {
            0
        } else {
            BROKEN
        };
    };
    let Some(len) = exception::write_exception(&mut ip, 0, &a) else {
        return BROKEN;
    };
    let delta = (l3 + len) as i64 - (end - start) as i64;
    // SAFETY: shrinks the frame to the answer just written (delta <= 0); no pointer into the
    // frame is used after this call.
    if delta != 0 && unsafe { bpf_xdp_adjust_tail(ctx, delta as i32) } != 0 {
        return BROKEN;
    }
    // The answer acknowledges the request: its acknowledgement number is the request's end.
    let request_end = a.ack;
    let request_seq = request_end.wrapping_sub(p.payload_len as u32);
    let retransmission = shifted && (answered_end.wrapping_sub(request_seq) as i32) > 0;
    ANSWERED | if retransmission { RETRANSMISSION } else { 0 } | request_end as u64
}

/// Records an exception answering `payload_len` bytes up to `request_end` in `state`.
#[inline(always)]
pub fn remember(state: &mut FlowState, payload_len: u16, request_end: u32) {
    state.swallowed = state.swallowed.wrapping_add(payload_len as u32);
    state.injected = state.injected.wrapping_add(ADU_LEN as u32);
    state.answered_end = request_end;
    state.flags |= flow_flags::SHIFTED;
}

/// Shifts the TCP segment of `p`, which belongs to a flow with [`flow_flags::SHIFTED`], into
/// the sequence space of its receiver. `from_opener`: sent by the endpoint that opened the
/// flow (the client). Returns false when the segment could not be shifted (drop it).
#[inline(never)]
pub fn shift(
    ctx: *mut xdp_md,
    p: *const Packet,
    swallowed: u32,
    injected: u32,
    from_opener: bool,
) -> bool {
    // SAFETY: as in `answer`.
    let (start, end) = unsafe { ((*ctx).data as usize, (*ctx).data_end as usize) };
    // SAFETY: as in `answer`.
    let p = unsafe { &*p };
    if p.proto != proto::TCP {
        return true;
    }
    let l4 = p.l4_offset as usize;
    if l4 > MAX_L4 || p.payload_offset < p.l4_offset {
        return false;
    }
    let header_len = (p.payload_offset - p.l4_offset) as usize;
    let (seq_delta, ack_delta) = if from_opener {
        (swallowed.wrapping_neg(), injected.wrapping_neg())
    } else {
        (injected, swallowed)
    };
    let mut tcp = XdpBytes {
        start: start + l4,
        end,
    };
    exception::shift_segment(&mut tcp, 0, header_len, p.tcp_flags, seq_delta, ack_delta).is_some()
}
