//! Programs of the throughput benchmark (`firewall-daemon/benches/throughput.rs`). Never
//! loaded or attached by the daemon.
//!
//! - `zcfw_bench_redirect`, the traffic generator: run with BPF_PROG_TEST_RUN in live-frames
//!   mode, it sends every frame it is given out of the device in `BENCH_TX[0]` (a veth), so
//!   identical real frames arrive at the peer, where the arm under test runs. It first writes
//!   the frame's headers back from `BENCH_HEAD`: live frames are recycled pages, and a frame
//!   the receiver passed to its stack comes back with the stack's edits (a forwarded frame's
//!   MAC addresses, TTL and IP checksum), which would otherwise be sent again.
//! - `zcfw_bench_drop`, the `xdp-bench drop` baseline: counts and drops every frame.
//! - `zcfw_bench_pass`: counts and passes every frame to the stack (the baseline of allowed
//!   traffic: the cost of the stack behind XDP with no filter at all).
//! - `zcfw_bench_lru_insert`: writes one conntrack-sized entry into an LRU hash and drops the
//!   frame: the kernel's LRU insert on its own, which every allowed flow opener pays
//!   (`firewall-daemon/benches/dataplane.rs` sizes `BENCH_LRU` like the conntrack table).

use aya_ebpf::{
    bindings::xdp_action::{XDP_ABORTED, XDP_DROP, XDP_PASS},
    macros::{map, xdp},
    maps::{Array, DevMap, LruHashMap, PerCpuArray},
    programs::XdpContext,
};
use firewall_common::flow::{FlowKey, FlowState};

/// 8-byte words of a frame's head the generator restores: Ethernet, IPv4 and the first 14
/// bytes of TCP (every byte a forwarding stack edits).
const HEAD_WORDS: usize = 6;

/// Where the generator sends frames: entry 0 holds the ifindex of the sending veth.
#[map]
static BENCH_TX: DevMap = DevMap::with_max_entries(1, 0);

/// The first `HEAD_WORDS` words of the frame being sent (entry 0), written by the bench.
#[map]
static BENCH_HEAD: Array<[u64; HEAD_WORDS]> = Array::with_max_entries(1, 0);

/// Frames seen by the counting baselines, per CPU (entry 0).
#[map]
static BENCH_PACKETS: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

/// Conntrack-sized LRU hash of `zcfw_bench_lru_insert`; small unless the bench that loads it
/// sets its size (the daemon creates it too, with the rest of the object, and never uses it).
#[map]
static BENCH_LRU: LruHashMap<FlowKey, FlowState> = LruHashMap::with_max_entries(64, 0);

/// The kernel's LRU insert alone: the same key every run, so every run allocates an element
/// and frees the one it replaces, as a conntrack insert under a full table does.
#[xdp]
pub fn zcfw_bench_lru_insert(_ctx: XdpContext) -> u32 {
    let key = FlowKey::default();
    let _ = BENCH_LRU.insert(&key, &FlowState::default(), 0);
    XDP_DROP
}

/// Traffic generator: restores the frame's head, then sends it out of `BENCH_TX[0]`.
#[xdp]
pub fn zcfw_bench_redirect(ctx: XdpContext) -> u32 {
    let (start, end) = (ctx.data(), ctx.data_end());
    if start + HEAD_WORDS * 8 > end {
        return XDP_ABORTED;
    }
    let Some(head) = BENCH_HEAD.get(0) else {
        return XDP_ABORTED;
    };
    for (i, word) in head.iter().enumerate() {
        // SAFETY: `start + 8 * HEAD_WORDS <= end`, checked above.
        unsafe { ((start + 8 * i) as *mut u64).write_unaligned(*word) };
    }
    BENCH_TX.redirect(0, 0).unwrap_or(XDP_ABORTED)
}

/// Baseline: count, then drop.
#[xdp]
pub fn zcfw_bench_drop(_ctx: XdpContext) -> u32 {
    count();
    XDP_DROP
}

/// Baseline of allowed traffic: count, then pass to the stack.
#[xdp]
pub fn zcfw_bench_pass(_ctx: XdpContext) -> u32 {
    count();
    XDP_PASS
}

#[inline(always)]
fn count() {
    if let Some(n) = BENCH_PACKETS.get_ptr_mut(0) {
        // SAFETY: this CPU's slot; nothing else writes it while the program runs.
        unsafe { *n += 1 };
    }
}
