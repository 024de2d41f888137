//! Glue between `firewall_common::reset` (which writes a TCP reset over a frame) and the XDP
//! frame: the reset is written in place, then the frame is shortened to it.

use aya_ebpf::{bindings::xdp_md, helpers::generated::bpf_xdp_adjust_tail};
use firewall_common::{
    packet::Packet,
    reset::{self, Toward},
};

use crate::XdpBytes;

/// Largest IP header offset a reset is written at: Ethernet and two VLAN tags.
const MAX_L3: usize = 14 + 2 * 4;

/// Rewrites the frame of `p` into the TCP reset toward its sender (`to_sender`: MAC
/// addresses swapped too, for `XDP_TX`) or its receiver. Returns false when no reset was
/// written completely (the segment is itself a RST, or its headers are out of reach): the
/// caller drops the frame, so a denied segment never passes unchanged.
#[inline(never)]
pub fn write_reset(ctx: *mut xdp_md, p: *const Packet, to_sender: bool) -> bool {
    // SAFETY: the program's context, valid for the whole run.
    let (start, end) = unsafe { ((*ctx).data as usize, (*ctx).data_end as usize) };
    // SAFETY: the per-CPU scratch value the parser filled for this frame.
    let p = unsafe { &*p };
    let mut bytes = XdpBytes { start, end };
    // First, while no other bounds check on the frame start exists for the compiler to
    // merge this one into (the verifier would not follow that). A frame whose reset fails
    // later is dropped, swapped or not.
    if to_sender && reset::swap_macs(&mut bytes).is_none() {
        return false;
    }
    let Some(segment) = reset::Segment::read(&bytes, p) else {
        return false;
    };
    let l3 = p.l3_offset as usize;
    if l3 > MAX_L3 {
        return false;
    }
    let toward = if to_sender {
        Toward::Sender
    } else {
        Toward::Receiver
    };
    // The headers are written through a view that starts at the IP header: constant offsets
    // from one packet pointer, which the verifier follows.
    let mut ip = XdpBytes {
        start: start + l3,
        end,
    };
    let Some(len) = reset::write_headers(&mut ip, 0, &segment, toward) else {
        return false;
    };
    let delta = (l3 + len) as i64 - (end - start) as i64;
    // SAFETY: shrinks the frame to the reset just written (delta ≤ 0: the reset lies inside
    // the frame); no pointer into the frame is used after this call.
    unsafe { bpf_xdp_adjust_tail(ctx, delta as i32) == 0 }
}
