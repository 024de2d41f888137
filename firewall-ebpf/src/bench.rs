//! Programs of the throughput benchmark (`firewall-daemon/benches/throughput.rs`). Never
//! loaded or attached by the daemon.
//!
//! - `zcfw_bench_redirect`, the traffic generator: run with BPF_PROG_TEST_RUN in live-frames
//!   mode, it sends every frame it is given out of the device in `BENCH_TX[0]` (a veth), so
//!   identical real frames arrive at the peer, where the arm under test runs.
//! - `zcfw_bench_drop`, the `xdp-bench drop` baseline: counts and drops every frame.
//! - `zcfw_bench_pass`: counts and passes every frame to the stack (the baseline of allowed
//!   traffic: the cost of the stack behind XDP with no filter at all).

use aya_ebpf::{
    bindings::xdp_action::{XDP_ABORTED, XDP_DROP, XDP_PASS},
    macros::{map, xdp},
    maps::{DevMap, PerCpuArray},
    programs::XdpContext,
};

/// Where the generator sends frames: entry 0 holds the ifindex of the sending veth.
#[map]
static BENCH_TX: DevMap = DevMap::with_max_entries(1, 0);

/// Frames seen by the counting baselines, per CPU (entry 0).
#[map]
static BENCH_PACKETS: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

/// Traffic generator: every frame leaves through `BENCH_TX[0]`.
#[xdp]
pub fn zcfw_bench_redirect(_ctx: XdpContext) -> u32 {
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
