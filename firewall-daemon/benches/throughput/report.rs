//! The report of a throughput run: markdown for `bench/RESULTS.md` and JSON.

use std::fmt::Write as _;

use serde_json::json;
use zcfw::compile::nft::NftStyle;

use crate::{
    Arm, Class, LINE_RATE_MPPS, Row, Sample, Settings, SizeResult, fmt_count, generator::BATCH,
};

/// How the run was made.
pub struct Run<'a> {
    pub settings: &'a Settings,
    /// The generator alone, CPU ns per frame.
    pub gen_ns: f64,
    /// `live-frames` or `af-packet`.
    pub generator: &'static str,
    pub generator_text: (&'static str, &'static str),
    /// The kernel probe, as printed.
    pub probe: String,
    /// XDP arms attached in native mode (else skb mode).
    pub native: bool,
}

pub fn report(results: &[SizeResult], run: &Run) -> (String, serde_json::Value) {
    let (s, gen_ns) = (run.settings, run.gen_ns);
    let find = |class: Class, arm: Arm, n: usize| -> Option<&Row> {
        results
            .iter()
            .flat_map(|r| &r.rows)
            .find(|r| r.class == class && r.arm == arm && r.conduits == n)
    };
    let mut md = String::new();
    let _ = writeln!(md, "### Throughput on a veth pair: zcfw beside nftables\n");
    let _ = writeln!(
        md,
        "Frames into a veth pair from {}; the arm under test runs on the receiving veth \
         ({} XDP). {} Generator and receiver share one core (the receiver's NAPI poll runs in the \
         softirq that ends each transmit). **Mpps/core**: frames the receiver took, per second \
         of that core's CPU time (generator included); **× base**: ratio to the baseline on the \
         same frames; **rx ns**: the receiver's own cost per frame (CPU ns per frame minus the \
         generator alone, {gen_ns:.1} ns); **of 14.88**: the receiver's own rate (1000 / rx ns) \
         against 10GbE line rate with 64-byte frames (14.88 Mpps, 67 ns per packet per core). \
         Rates are per second of CPU time, not of wall-clock time, which other tenants of a \
         shared machine stretch (both are in `throughput.json`); where the generator cannot \
         offer more frames than the receiver takes, the pps columns are capped by the \
         generator and only the rx ns column speaks for the arm. {:.2} s of CPU per \
         measurement{}; zcfw and the nftables rulesets (`zcfw compile --format nft \
         --nft-style linear|sets|conntrack`) come from the same policy: of every twelve conduits \
         one inspects Modbus, one IEC 104, one DNP3, one S7comm, one EtherNet/IP and one \
         BACnet/IP, denies are not logged.\n\nKernel features (probed before the run):\n\n{}\n",
        run.generator_text.0,
        if run.native { "native" } else { "skb-mode" },
        run.generator_text.1,
        s.seconds,
        if s.quick { " (`--quick`)" } else { "" },
        run.probe,
    );
    // How much of the core the generator takes on the cheapest arm (the XDP_DROP baseline):
    // past half, the per-core rates say more about the generator than about any arm.
    let generator_share = results
        .iter()
        .filter_map(|r| find(Class::Deny, Arm::Baseline, r.conduits))
        .map(|row| gen_ns / row.sample.ns_per_packet())
        .fold(0.0f64, f64::max);
    if generator_share > 0.5 {
        let _ = writeln!(
            md,
            "**The pps columns are capped by the generator**: it takes {:.0} % of the core's time \
             per frame even beside the cheapest receiver (the `XDP_DROP` baseline), so Mpps/core \
             and × base understate every arm's difference; compare arms by **rx ns** (the \
             receiver's own cost), and the targets below by the receiver column.\n",
            100.0 * generator_share
        );
    }
    for class in Class::ALL {
        let _ = writeln!(md, "#### `{}`: {}\n", class.name(), class.what());
        let _ = writeln!(
            md,
            "| arm | conduits | Mpps/core | ns/frame | × base | rx ns | of 14.88 |"
        );
        let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|");
        for arm in Arm::ALL {
            for r in results {
                let Some(row) = find(class, arm, r.conduits) else {
                    continue;
                };
                let base = find(class, Arm::Baseline, r.conduits)
                    .map_or(f64::NAN, |b| row.sample.mpps() / b.sample.mpps());
                let rx_ns = (row.sample.ns_per_packet() - gen_ns).max(1.0);
                let _ = writeln!(
                    md,
                    "| {} | {} | {:.3} | {:.0} | {:.2} | {:.0} | {:.0}% |",
                    arm.name(class),
                    fmt_count(r.conduits),
                    row.sample.mpps(),
                    row.sample.ns_per_packet(),
                    base,
                    rx_ns,
                    100.0 * (1e3 / rx_ns) / LINE_RATE_MPPS
                );
            }
        }
        let _ = writeln!(md);
    }
    // Targets (stated, not asserted): ratios of per-core rates, and of the receivers' own
    // rates (generator cost taken out).
    let ratios_of = |class: Class, a: Arm, b: Arm, n: usize| -> Option<(f64, f64)> {
        let (a, b) = (&find(class, a, n)?.sample, &find(class, b, n)?.sample);
        let rx = |x: &Sample| (x.ns_per_packet() - gen_ns).max(1.0);
        Some((a.mpps() / b.mpps(), rx(b) / rx(a)))
    };
    let ratios = |a: Arm, b: Arm, n: usize| ratios_of(Class::Deny, a, b, n);
    let largest = results.iter().map(|r| r.conduits).max().unwrap_or(0);
    let at = if results.iter().any(|r| r.conduits == 1000) {
        1000
    } else {
        largest
    };
    let _ = writeln!(
        md,
        "Targets (`deny` class unless named; stated, not asserted). *Per core*: ratio of the \
         Mpps/core columns (the generator's share of the core narrows it); *receiver*: ratio \
         of the receivers' own rates (1 / rx ns). The fast path is compared with the kernel's \
         own forwarding of the same frames (`XDP_PASS` baseline: no filter at all).\n"
    );
    let _ = writeln!(md, "| target | per core | receiver | met |");
    let _ = writeln!(md, "|---|---:|---:|:---:|");
    /// Which ratio a target is judged on.
    #[derive(Clone, Copy)]
    enum On {
        Core,
        Receiver,
    }
    let mut target = |what: String, value: Option<(f64, f64)>, goal: f64, on: On| {
        if let Some((core, rx)) = value {
            let (judged, column) = match on {
                On::Core => (core, "per core"),
                On::Receiver => (rx, "receiver"),
            };
            let _ = writeln!(
                md,
                "| {what} ≥ {goal} ({column}) | {core:.2} | {rx:.2} | {} |",
                if judged >= goal { "yes" } else { "no" }
            );
        }
    };
    for r in results {
        let n = fmt_count(r.conduits);
        let value = ratios(Arm::Zcfw, Arm::Baseline, r.conduits);
        target(
            format!("zcfw / XDP_DROP baseline, {n} conduits"),
            value,
            0.7,
            On::Core,
        );
        // The receiver's own cost per denied frame within 1.4 x of XDP_DROP's.
        target(
            format!("zcfw / XDP_DROP receiver rate (cost within 1.4 x), {n} conduits"),
            value,
            0.71,
            On::Receiver,
        );
    }
    for r in results {
        let n = fmt_count(r.conduits);
        let value = ratios_of(Class::Allow, Arm::ZcfwFast, Arm::Baseline, r.conduits);
        target(
            format!("`allow`: zcfw fast path / kernel forwarding, {n} conduits"),
            value,
            3.0,
            On::Core,
        );
        target(
            format!("`allow`: zcfw fast path / kernel forwarding receiver rate, {n} conduits"),
            value,
            3.0,
            On::Receiver,
        );
    }
    target(
        format!("zcfw / nftables netdev linear, {} conduits", fmt_count(at)),
        ratios(Arm::Zcfw, Arm::Nft(NftStyle::Linear), at),
        3.0,
        On::Core,
    );
    target(
        format!("zcfw / nftables inet conntrack, {} conduits", fmt_count(at)),
        ratios(Arm::Zcfw, Arm::Nft(NftStyle::Conntrack), at),
        10.0,
        On::Core,
    );
    let _ = writeln!(md);
    // What no XDP program can beat in this harness: the receiver's floor (the counting
    // `XDP_DROP` baseline, which forwards nothing) against the kernel's forwarding.
    for r in results {
        let (Some(floor), Some(kernel)) = (
            find(Class::Deny, Arm::Baseline, r.conduits),
            find(Class::Allow, Arm::Baseline, r.conduits),
        ) else {
            continue;
        };
        let rx = |x: &Sample| (x.ns_per_packet() - gen_ns).max(1.0);
        let _ = writeln!(
            md,
            "Ceiling of any XDP forwarding in this harness, {} conduits: the `XDP_DROP` \
             baseline (the veth's own cost of taking a frame into XDP, nothing forwarded) is \
             {:.2} x kernel forwarding per core, {:.2} x by receiver rate.",
            fmt_count(r.conduits),
            floor.sample.mpps() / kernel.sample.mpps(),
            rx(&kernel.sample) / rx(&floor.sample)
        );
    }
    let _ = writeln!(md);
    let _ = writeln!(md, "Load time of the policy / ruleset (ms):\n");
    let _ = writeln!(
        md,
        "| conduits | zcfw (load + install + attach) | nft linear | nft sets | nft conntrack |"
    );
    let _ = writeln!(md, "|---:|---:|---:|---:|---:|");
    for r in results {
        let get = |k: &str| r.load_ms.get(k).map_or("-".into(), |v| format!("{v:.0}"));
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} |",
            fmt_count(r.conduits),
            get("zcfw"),
            get("nft_linear"),
            get("nft_sets"),
            get("nft_conntrack")
        );
    }

    let json = json!({
        "generator": run.generator,
        "xdp_mode": if run.native { "native" } else { "skb" },
        "seconds_per_measurement": s.seconds,
        "quick": s.quick,
        "batch": BATCH,
        "generator_ns_per_frame": gen_ns,
        "generator_share_of_baseline_frame": generator_share,
        "line_rate_mpps": LINE_RATE_MPPS,
        "sizes": results.iter().map(|r| json!({
            "conduits": r.conduits,
            "load_ms": r.load_ms,
            "rows": r.rows.iter().map(|row| json!({
                "class": row.class.name(),
                "arm": row.arm.key(),
                "sent": row.sample.sent,
                "received": row.sample.received,
                "cpu_ns": row.sample.cpu_ns,
                "wall_ns": row.sample.wall_ns,
                "kernel_ns": row.sample.kernel_ns,
                "mpps_per_core": row.sample.mpps(),
                "mpps_wall": row.sample.wall_mpps(),
                "ns_per_frame": row.sample.ns_per_packet(),
                "receiver_ns_per_frame": row.sample.ns_per_packet() - gen_ns,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    });
    (md, json)
}
