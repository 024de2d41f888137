//! The fast path (`fast_path: true` on an interface, [`firewall_common::forward`]): the
//! main program tail-calls `zcfw_forward` for a packet it allowed as part of a tracked flow;
//! the forwarder counts that decision as the main program would, then asks the kernel's FIB
//! for the next hop and, when it has a complete answer, rewrites the frame and redirects it
//! out of the egress interface through [`FORWARD_PORTS`]. Anything the lookup cannot answer
//! goes to the stack unchanged (`XDP_PASS`), counted by cause.
//!
//! On a bridge port (an entry in [`BRIDGE_PORTS`]) there is no route to look up: the frame is
//! switched by the daemon's mirror of the bridge's forwarding database ([`BRIDGE_FDB`]) and
//! redirected unchanged ([`firewall_common::forward::bridge_egress`]).
//!
//! The forwarder decides nothing: the verdict was made by the main program for this very
//! packet, after island mode, the conntrack entry's policy generation and rate limits, so no
//! state here can let a closed flow through.

use aya_ebpf::{
    bindings::{
        bpf_fib_lookup as FibLookup,
        xdp_action::{XDP_PASS, XDP_REDIRECT},
        xdp_md,
    },
    helpers::{bpf_ktime_get_ns, generated::bpf_fib_lookup},
    macros::xdp,
    programs::XdpContext,
};
use firewall_common::{
    forward::{self, BridgePort, BridgedFrame, MIRROR_FRESH_NS, cause},
    packet::{Family, Fragment},
    reason::Reason,
};

use crate::{
    XdpBytes,
    account::account,
    decision::{Decision, drop},
    maps::{
        BRIDGE_FDB, BRIDGE_PORTS, BRIDGE_SYNC, FAST_PATH_COUNTERS, FORWARD_HANDOFF, FORWARD_PORTS,
        FORWARDER, SCRATCH,
    },
};

/// `AF_INET` / `AF_INET6`, the lookup's `family`.
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;

/// Hands the allowed packet (decision `d`) to the forwarder (a tail call: on success nothing
/// after it runs). Returns `d` when there is no forwarder: the stack forwards the packet.
#[inline(always)]
pub fn hand_over(ctx: &XdpContext, d: Decision) -> Decision {
    if let Some(h) = FORWARD_HANDOFF.get_ptr_mut(0) {
        // SAFETY: this CPU's value; the forwarder reads it in this same run.
        unsafe { *h = d.0 };
        // SAFETY: jumps to a program of the same type that takes the same context.
        unsafe { FORWARDER.tail_call(ctx, 0) };
    }
    d
}

/// The fast-path forwarder (entry 0 of `FORWARDER`).
#[xdp]
pub fn zcfw_forward(ctx: XdpContext) -> u32 {
    let len = (ctx.data_end() - ctx.data()) as u64;
    let d = match FORWARD_HANDOFF.get(0) {
        Some(&d) => Decision(d),
        None => drop(Reason::NoPolicy),
    };
    let verdict = account(&ctx, d, len);
    if verdict != XDP_PASS {
        return verdict;
    }
    let why = forward(ctx.ctx);
    let ifindex = ctx.ingress_ifindex() as u32;
    if let Some(c) = FAST_PATH_COUNTERS.get_ptr_mut(&ifindex) {
        // SAFETY: this CPU's value; only this CPU writes it while the program runs. `why`
        // is masked into the array.
        unsafe {
            let c = &mut (*c).by_cause[why % cause::SLOTS];
            c.packets += 1;
            c.bytes += len;
        }
    }
    if why == cause::FORWARDED {
        XDP_REDIRECT
    } else {
        XDP_PASS
    }
}

/// Forwards the packet parsed into the scratch value: [`cause::FORWARDED`] once the frame is
/// rewritten and its redirect set, or why it goes to the stack (nothing written then).
#[inline(never)]
fn forward(ctx: *mut xdp_md) -> usize {
    let ctx = XdpContext::new(ctx);
    let Some(p) = SCRATCH.get(0) else {
        return cause::OTHER;
    };
    let ingress = ctx.ingress_ifindex() as u32;
    // SAFETY: a plain value copied out at once; the daemon replaces entries whole.
    if let Some(&port) = unsafe { BRIDGE_PORTS.get(&ingress) } {
        if p.l3_offset as usize != forward::ETH_LEN {
            return cause::VLAN;
        }
        return bridge(&ctx, ingress, &port);
    }
    let (family, l4_protocol) = (p.family, p.proto);
    if let Err(why) = forward::eligible(
        family,
        p.l3_offset,
        p.l4_offset,
        p.fragment != Fragment::None,
    ) {
        return why;
    }
    let mut bytes = XdpBytes {
        start: ctx.data(),
        end: ctx.data_end(),
    };
    let Some(h) = forward::header(&bytes, family) else {
        return cause::OTHER;
    };
    if h.ttl <= 1 {
        return cause::TTL;
    }
    // SAFETY: a plain C struct of integers and arrays; all zero is a valid value.
    let mut fib: FibLookup = unsafe { core::mem::transmute([0u64; 8]) };
    fib.l4_protocol = l4_protocol;
    fib.sport = p.src_port.to_be();
    fib.dport = p.dst_port.to_be();
    fib.__bindgen_anon_1.tot_len = h.tot_len;
    fib.ifindex = ctx.ingress_ifindex() as u32;
    let word = |a: &[u8; 16], i: usize| u32::from_ne_bytes([a[i], a[i + 1], a[i + 2], a[i + 3]]);
    match family {
        Family::Ipv4 => {
            fib.family = AF_INET;
            fib.__bindgen_anon_2.tos = h.tos;
            fib.__bindgen_anon_3.ipv4_src = word(&p.src, 0);
            fib.__bindgen_anon_4.ipv4_dst = word(&p.dst, 0);
        }
        Family::Ipv6 => {
            fib.family = AF_INET6;
            fib.__bindgen_anon_2.flowinfo = h.flowinfo;
            fib.__bindgen_anon_3.ipv6_src = [
                word(&p.src, 0),
                word(&p.src, 4),
                word(&p.src, 8),
                word(&p.src, 12),
            ];
            fib.__bindgen_anon_4.ipv6_dst = [
                word(&p.dst, 0),
                word(&p.dst, 4),
                word(&p.dst, 8),
                word(&p.dst, 12),
            ];
        }
    }
    // SAFETY: `fib` is a valid lookup struct of the size passed; the context is the frame's.
    let rc = unsafe {
        bpf_fib_lookup(
            ctx.ctx.cast(),
            &mut fib,
            core::mem::size_of::<FibLookup>() as i32,
            0,
        )
    };
    if rc != forward::fib::SUCCESS {
        return forward::cause_of_fib(rc);
    }
    // A missing entry returns XDP_PASS and sets no redirect; nothing is written before.
    if FORWARD_PORTS
        .redirect(fib.ifindex, XDP_PASS as u64)
        .is_err()
    {
        return cause::NO_EGRESS;
    }
    if forward::rewrite(&mut bytes, family, fib.dmac, fib.smac).is_none() {
        return cause::OTHER;
    }
    cause::FORWARDED
}

/// Bridge mode: redirects the frame unchanged to the port its destination MAC address was
/// learned on, or says why the bridge must see it.
#[inline(always)]
fn bridge(ctx: &XdpContext, ingress: u32, port: &BridgePort) -> usize {
    let bytes = XdpBytes {
        start: ctx.data(),
        end: ctx.data_end(),
    };
    let Some(macs) = firewall_common::packet::PacketBytes::load::<12>(&bytes, 0) else {
        return cause::OTHER;
    };
    let mut dst = [0u8; 6];
    let mut src = [0u8; 6];
    dst.copy_from_slice(&macs[..6]);
    src.copy_from_slice(&macs[6..]);
    let frame = BridgedFrame {
        dst,
        src,
        l3_len: (ctx.data_end() - ctx.data()).saturating_sub(forward::ETH_LEN) as u32,
    };
    // SAFETY: reads the monotonic clock.
    let now = unsafe { bpf_ktime_get_ns() };
    let fresh = BRIDGE_SYNC
        .get(0)
        .is_some_and(|s| s.refreshed_ns != 0 && now.wrapping_sub(s.refreshed_ns) < MIRROR_FRESH_NS);
    let egress = forward::bridge_egress(
        ingress,
        port,
        frame,
        fresh,
        // SAFETY: a value copied out at once; the daemon replaces entries whole.
        |k| unsafe { BRIDGE_FDB.get(k) }.copied(),
        // SAFETY: as above.
        |i| unsafe { BRIDGE_PORTS.get(&i) }.copied(),
    );
    match egress {
        Ok(egress) => {
            if FORWARD_PORTS.redirect(egress, XDP_PASS as u64).is_err() {
                cause::NO_EGRESS
            } else {
                cause::FORWARDED
            }
        }
        Err(why) => why,
    }
}
