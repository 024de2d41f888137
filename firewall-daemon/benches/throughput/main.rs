//! `cargo xtask bench`: throughput on a veth pair, zcfw beside nftables, in one run. Needs
//! root.
//!
//! Traffic: a generator (`generator.rs`: XDP live frames where the kernel allows them, an
//! AF_PACKET socket otherwise, or as `--generator` says) sends frames out of `zgen`, so
//! identical real frames arrive at its veth peer `zrx`, where the arm under test runs: the
//! counting `XDP_DROP` program (the `xdp-bench drop` baseline; `XDP_PASS` for allowed
//! traffic), zcfw (the real program, native XDP where veth offers it), or the ruleset
//! `zcfw compile --format nft` writes for the same policy (netdev linear, netdev sets, inet
//! forward with conntrack). Everything lives in a namespace of its own (`zcfw-tp-<pid>`),
//! removed at the end. Before anything runs, the kernel is probed (live frames, native XDP on
//! veth, nftables) and the probe printed; a missing feature selects a fallback, never a failure.
//!
//! Generator and receiver share one core: the kernel runs the veth's NAPI poll in the softirq
//! that ends each transmit (a batch of live frames, or one AF_PACKET frame), on the CPU of the
//! generator (this thread, pinned). So the CPU time of this thread per received frame is the
//! cost of sending plus receiving it; the generator alone (frames the peer refuses) is
//! measured once and subtracted for the receiver's own cost, which is what the 10GbE line rate
//! (14.88 Mpps, 67 ns per packet) is compared with. Counting: frames the receiver took off its
//! ring (`zrx` rx_packets), checked against the arm's own verdict counter (XDP counters, nft
//! counters) or, for allowed traffic, the frames forwarded to the sink.
//!
//! Packet classes (every arm gets the same frames):
//! - `deny`: a TCP SYN between the zones of the last conduit to a port no conduit opens: every
//!   arm drops it; the nftables linear chain walks every rule first. The headline comparison.
//! - `allow`: an ACK of an established flow (SYN, SYN-ACK, ACK sent first) that the last
//!   conduit allows. Allowed frames go up the receiver's stack and are forwarded to a sink
//!   (a veth whose peer is down: the frame is freed at transmit), so every arm pays the same
//!   stack cost; the baseline is `XDP_PASS` (no filter at all).
//! - `modbus_read`: a Modbus read request in an established flow of the last inspected
//!   conduit: zcfw inspects it; nftables only matches the port (no equivalent).
//!
//! Numbers are compared within one run (ratios), never asserted: the machine is shared and
//! noisy; only their sanity is checked (frames counted by the arm, costs positive and finite).
//! `--quick` runs 10 and 1,000 rules for a fraction of a second per arm (CI proves the bench
//! works); `--out DIR` writes `DIR/throughput.json` and `DIR/throughput.md`; `--seconds S`
//! sets the time per measurement; `--sizes 10,1000` the policy sizes; `--generator
//! auto|live-frames|af-packet` the generator; `--refuse-live-frames` makes the probe report
//! live frames refused (what `auto` then does is what it does on such a kernel); `--probe`
//! prints the probe and exits.

#[path = "../common/mod.rs"]
mod common;

mod generator;
mod net;
mod report;

use std::{collections::BTreeMap, time::Instant};

use aya::programs::{XdpMode as AyaXdpMode, xdp::XdpLinkId};
use common::{Kind, endpoints, host, kind_of, modbus_read, port_of, zones_for};
use firewall_common::{
    packet::tcp_flags::{ACK, SYN},
    pktgen::{checksum, ipv4, tcp},
};
use generator::{BATCH, Baselines, Choice, Generator, Probe};
use net::{RX, SINK, dev_stats, nft_counter, sink_count, thread_cpu_ns};
use zcfw::{
    compile::{
        self, XdpMode,
        nft::{NftStyle, render_nft},
    },
    dataplane::{Dataplane, ifindex_of},
    policy,
};

/// Frames sent before each measurement.
const WARMUP: u32 = 64 * BATCH;
const PSH: u8 = 0x08;
/// 10GbE with 64-byte frames (plus preamble and inter-frame gap): 14.88 Mpps.
const LINE_RATE_MPPS: f64 = 14.88;

// ---------------------------------------------------------------------------------------
// Policy (the dataplane bench's shape) and frames.

fn policy_yaml(conduits: usize) -> String {
    common::policy_yaml(
        &format!(
            "version: 1\nname: throughput-{conduits}\ndefaults: {{ action: deny, log: none }}\n\
             interfaces:\n  - {{ name: {RX}, xdp_mode: native }}\n"
        ),
        conduits,
    )
}

/// The same policy with the fast path on the receiver; the sink is an interface of the
/// policy too (the fast path only redirects to interfaces of the policy; zcfw is not
/// attached there, a veth takes redirected frames without).
fn policy_yaml_fast(conduits: usize) -> String {
    common::policy_yaml(
        &format!(
            "version: 1\nname: throughput-{conduits}\ndefaults: {{ action: deny, log: none }}\n\
             interfaces:\n  - {{ name: {RX}, xdp_mode: native, fast_path: true }}\n  \
             - {{ name: {SINK}, xdp_mode: native }}\n"
        ),
        conduits,
    )
}

/// One direction of a TCP connection.
#[derive(Clone, Copy)]
struct Flow {
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
}

impl Flow {
    fn reverse(self) -> Flow {
        Flow {
            src: self.dst,
            dst: self.src,
            sport: self.dport,
            dport: self.sport,
        }
    }

    /// An Ethernet frame with a TCP segment and valid checksums (the receiving stack, GRO and
    /// conntrack check them).
    fn frame(self, flags: u8, seq: u32, ack: u32, payload: &[u8]) -> Vec<u8> {
        let mut f = ipv4(
            self.src,
            self.dst,
            tcp(self.sport, self.dport, flags, payload),
        )
        .frame();
        let t = 14 + 20;
        f[t + 4..t + 8].copy_from_slice(&seq.to_be_bytes());
        f[t + 8..t + 12].copy_from_slice(&ack.to_be_bytes());
        let segment = &f[t..];
        let mut pseudo = Vec::with_capacity(12 + segment.len());
        pseudo.extend_from_slice(&self.src);
        pseudo.extend_from_slice(&self.dst);
        pseudo.extend_from_slice(&[0, 6]);
        pseudo.extend_from_slice(&(segment.len() as u16).to_be_bytes());
        pseudo.extend_from_slice(segment);
        let sum = checksum(&pseudo);
        f[t + 16..t + 18].copy_from_slice(&sum.to_be_bytes());
        f
    }
}

const CLIENT_ISN: u32 = 1000;
const SERVER_ISN: u32 = 5000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Class {
    Deny,
    Allow,
    ModbusRead,
}

impl Class {
    const ALL: [Class; 3] = [Class::Deny, Class::Allow, Class::ModbusRead];

    fn name(self) -> &'static str {
        match self {
            Class::Deny => "deny",
            Class::Allow => "allow",
            Class::ModbusRead => "modbus_read",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Class::Deny => {
                "TCP SYN to a port no conduit opens, between the zones of the last conduit: dropped by every arm (nftables linear walks every rule)"
            }
            Class::Allow => {
                "ACK of an established flow the last conduit allows: passed to the stack and forwarded to a sink by every arm (baseline: `XDP_PASS`, no filter)"
            }
            Class::ModbusRead => {
                "Modbus read request in an established flow of the last inspected conduit: zcfw inspects it, nftables matches the port only; forwarded to a sink"
            }
        }
    }

    fn forwarded(self) -> bool {
        self != Class::Deny
    }
}

/// The frames of a class for a policy of `n` conduits: setup frames sent once (the
/// handshake of the measured flow), then the measured frame.
fn frames(class: Class, n: usize, sport: u16) -> (Vec<Vec<u8>>, Vec<u8>) {
    let zones = zones_for(n);
    let last_tcp = (0..n)
        .rev()
        .find(|&i| kind_of(i) == Kind::Tcp)
        .unwrap_or(n - 1);
    let last_modbus = (0..n)
        .rev()
        .find(|&i| kind_of(i) == Kind::Modbus)
        .unwrap_or(0);
    let conduit = if class == Class::ModbusRead {
        last_modbus
    } else {
        last_tcp
    };
    let (from, to) = endpoints(conduit, zones);
    let flow = Flow {
        src: host(from, 10),
        dst: host(to, 20),
        sport,
        dport: port_of(conduit),
    };
    if class == Class::Deny {
        let denied = Flow { dport: 999, ..flow };
        return (vec![], denied.frame(SYN, CLIENT_ISN, 0, b""));
    }
    let handshake = vec![
        flow.frame(SYN, CLIENT_ISN, 0, b""),
        flow.reverse()
            .frame(SYN | ACK, SERVER_ISN, CLIENT_ISN + 1, b""),
        flow.frame(ACK, CLIENT_ISN + 1, SERVER_ISN + 1, b""),
    ];
    let measured = match class {
        Class::ModbusRead => flow.frame(ACK | PSH, CLIENT_ISN + 1, SERVER_ISN + 1, &modbus_read()),
        _ => flow.frame(ACK, CLIENT_ISN + 1, SERVER_ISN + 1, b""),
    };
    (handshake, measured)
}

// ---------------------------------------------------------------------------------------
// Measurements.

struct Settings {
    seconds: f64,
    sizes: Vec<usize>,
    quick: bool,
}

/// One measurement: frames sent and received, time.
#[derive(Clone, Copy, Debug, Default)]
struct Sample {
    sent: u64,
    received: u64,
    /// CPU time of the generator thread (generator + the receiver's softirq on this core).
    cpu_ns: u64,
    wall_ns: u64,
    /// Sum over calls of the generator's own time (kernel test-run duration, or CPU time).
    kernel_ns: f64,
}

impl Sample {
    fn ns_per_packet(&self) -> f64 {
        self.cpu_ns as f64 / self.received.max(1) as f64
    }

    fn mpps(&self) -> f64 {
        self.received as f64 * 1e3 / self.cpu_ns.max(1) as f64
    }

    fn wall_mpps(&self) -> f64 {
        self.received as f64 * 1e3 / self.wall_ns.max(1) as f64
    }
}

/// Sends `frame` for about `seconds`; counts what `zrx` received. Each live-frames call sets
/// up and tears down a page pool (tens of milliseconds of waiting for RCU on a busy machine),
/// so calls are sized from a first one to last a good fraction of `seconds`.
fn measure(generator: &mut Generator, frame: &[u8], seconds: f64) -> Sample {
    // Warm up caches, conntrack entries and the page pool; measure the cost per frame.
    let per_frame = generator.send(frame, WARMUP).max(1.0);
    let call_ns = (seconds * 1e9 / 4.0).clamp(20e6, 250e6);
    let mut chunk = ((call_ns / per_frame) as u32).clamp(BATCH, 1 << 26);
    let (rx0, _, _) = dev_stats(RX);
    let (cpu0, wall0) = (thread_cpu_ns(), Instant::now());
    let mut s = Sample::default();
    let budget = seconds * 1e9;
    loop {
        let ns = generator.send(frame, chunk);
        s.kernel_ns += ns * f64::from(chunk);
        s.sent += u64::from(chunk);
        let spent = s.kernel_ns;
        if spent >= budget * 0.95 || wall0.elapsed().as_secs_f64() > 3.0 * seconds {
            break;
        }
        chunk = (((budget - spent) / ns.max(1.0)) as u32).clamp(BATCH, chunk);
    }
    s.cpu_ns = thread_cpu_ns() - cpu0;
    s.wall_ns = wall0.elapsed().as_nanos() as u64;
    s.received = dev_stats(RX).0 - rx0;
    s
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Arm {
    Baseline,
    Zcfw,
    /// zcfw with `fast_path: true`: allowed frames of tracked flows forwarded in XDP
    /// (`XDP_REDIRECT` to the sink) instead of by the stack. Forwarded classes only.
    ZcfwFast,
    Nft(NftStyle),
}

impl Arm {
    const ALL: [Arm; 6] = [
        Arm::Baseline,
        Arm::Zcfw,
        Arm::ZcfwFast,
        Arm::Nft(NftStyle::Linear),
        Arm::Nft(NftStyle::Sets),
        Arm::Nft(NftStyle::Conntrack),
    ];

    fn name(self, class: Class) -> &'static str {
        match (self, class) {
            (Arm::Baseline, Class::Deny) => "XDP_DROP baseline",
            (Arm::Baseline, _) => "XDP_PASS baseline",
            (Arm::Zcfw, _) => "zcfw (XDP)",
            (Arm::ZcfwFast, _) => "zcfw fast path (XDP_REDIRECT)",
            (Arm::Nft(NftStyle::Linear), _) => "nftables netdev linear",
            (Arm::Nft(NftStyle::Sets), _) => "nftables netdev sets",
            (Arm::Nft(NftStyle::Conntrack), _) => "nftables inet conntrack",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Arm::Baseline => "baseline",
            Arm::Zcfw => "zcfw",
            Arm::ZcfwFast => "zcfw_fast_path",
            Arm::Nft(NftStyle::Linear) => "nft_linear",
            Arm::Nft(NftStyle::Sets) => "nft_sets",
            Arm::Nft(NftStyle::Conntrack) => "nft_conntrack",
        }
    }
}

/// A result row.
struct Row {
    class: Class,
    arm: Arm,
    conduits: usize,
    sample: Sample,
}

/// What is loaded for an arm, to read its verdict counter and to unload it.
enum Loaded {
    Baseline(&'static str, XdpLinkId),
    Zcfw(Box<Dataplane>, u32),
    Nft(NftStyle),
}

/// The sink's count of forwarded frames, or the fast path's own (frames redirected to the
/// sink, whose peer is down, are dropped there and counted by the veth or not, by kernel
/// version).
fn forwarded_by(loaded: &Loaded, arm: Arm) -> u64 {
    match loaded {
        Loaded::Zcfw(dp, ifindex) if arm == Arm::ZcfwFast => {
            dp.fast_path_counters(*ifindex).expect("fast path counters")
                [firewall_common::forward::cause::FORWARDED]
                .packets
        }
        _ => sink_count(),
    }
}

impl Loaded {
    /// Frames the arm dropped so far (its own counter).
    fn dropped(&self, rig: &Rig) -> u64 {
        match self {
            Loaded::Baseline(_, _) => rig.baselines.counted(),
            Loaded::Zcfw(dp, ifindex) => dp.iface_counters(*ifindex).expect("counters").1.packets,
            Loaded::Nft(NftStyle::Conntrack) => nft_counter("inet", "forward", "default_deny"),
            Loaded::Nft(_) => nft_counter("netdev", &format!("ingress_{RX}"), "default_deny"),
        }
    }
}

fn load_arm(
    arm: Arm,
    class: Class,
    rig: &mut Rig,
    compiled: (&compile::CompiledPolicy, &compile::CompiledPolicy),
    validated: &policy::ValidatedPolicy,
    load_ms: &mut BTreeMap<&'static str, f64>,
) -> Loaded {
    match arm {
        Arm::Baseline => {
            let name = if class == Class::Deny {
                "zcfw_bench_drop"
            } else {
                "zcfw_bench_pass"
            };
            Loaded::Baseline(name, rig.baselines.attach(name, rig.xdp_mode))
        }
        Arm::Zcfw | Arm::ZcfwFast => {
            let started = Instant::now();
            let mut dp = Dataplane::load().expect("load the zcfw XDP program");
            let ifindex = ifindex_of(RX).expect("receiver veth");
            let mut ifaces = BTreeMap::from([(RX.to_string(), ifindex)]);
            let policy = if arm == Arm::ZcfwFast {
                ifaces.insert(SINK.to_string(), ifindex_of(SINK).expect("sink veth"));
                compiled.1
            } else {
                compiled.0
            };
            dp.install(policy, &ifaces).expect("install the policy");
            let mode = match rig.xdp_mode {
                AyaXdpMode::Driver => XdpMode::Native,
                _ => XdpMode::Skb,
            };
            dp.attach(RX, mode).expect("attach zcfw");
            load_ms.insert(arm.key(), started.elapsed().as_secs_f64() * 1e3);
            Loaded::Zcfw(Box::new(dp), ifindex)
        }
        Arm::Nft(style) => {
            let ruleset = render_nft(validated, style);
            load_ms.insert(arm.key(), net::nft_load(&ruleset));
            Loaded::Nft(style)
        }
    }
}

fn unload(loaded: Loaded, rig: &mut Rig) {
    match loaded {
        Loaded::Baseline(name, link) => rig.baselines.detach(name, link),
        Loaded::Zcfw(dp, _) => drop(dp),
        Loaded::Nft(style) => {
            let family = if style == NftStyle::Conntrack {
                "inet"
            } else {
                "netdev"
            };
            net::run("nft", &["delete", "table", family, "zcfw"]);
        }
    }
}

struct SizeResult {
    conduits: usize,
    rows: Vec<Row>,
    /// Ruleset / policy load time per arm key (ms).
    load_ms: BTreeMap<&'static str, f64>,
}

/// What the bench runs with: the generator, the baselines, and what the probe allows.
struct Rig {
    generator: Generator,
    baselines: Baselines,
    xdp_mode: AyaXdpMode,
    nftables: bool,
}

impl Rig {
    /// The arms this run measures (the nftables arms need nftables).
    fn arms(&self) -> impl Iterator<Item = Arm> + use<> {
        let nftables = self.nftables;
        Arm::ALL
            .into_iter()
            .filter(move |a| nftables || !matches!(a, Arm::Nft(_)))
    }
}

fn run_size(n: usize, rig: &mut Rig, s: &Settings, sport: &mut u16) -> SizeResult {
    let yaml = policy_yaml(n);
    let validated = policy::load_str(&yaml, "throughput.yaml").expect("bench policy is valid");
    let compiled = compile::compile(&validated).expect("bench policy compiles");
    let fast = policy::load_str(&policy_yaml_fast(n), "throughput-fast.yaml")
        .expect("bench policy with the fast path is valid");
    let compiled_fast = compile::compile(&fast).expect("bench policy compiles");
    let mut rows = Vec::new();
    let mut load_ms = BTreeMap::new();
    for arm in rig.arms() {
        // The baselines differ by class (drop / pass); the other arms load once per size.
        let mut loaded: Option<Loaded> = None;
        for class in Class::ALL {
            if arm == Arm::ZcfwFast && !class.forwarded() {
                // Denied frames never reach the forwarder: the `zcfw (XDP)` row is this arm.
                continue;
            }
            if arm == Arm::Baseline
                && let Some(l) = loaded.take()
            {
                unload(l, rig);
            }
            let l = loaded.get_or_insert_with(|| {
                load_arm(
                    arm,
                    class,
                    rig,
                    (&compiled, &compiled_fast),
                    &validated,
                    &mut load_ms,
                )
            });
            *sport += 1;
            let (setup, frame) = frames(class, n, *sport);
            for f in &setup {
                rig.generator.send(f, 1);
            }
            let (dropped0, sink0) = (l.dropped(rig), forwarded_by(l, arm));
            let sample = measure(&mut rig.generator, &frame, s.seconds);
            let (dropped, forwarded) = (l.dropped(rig) - dropped0, forwarded_by(l, arm) - sink0);
            // The warm-up frames count too.
            let expected = sample.received + u64::from(WARMUP);
            let got = if class.forwarded() {
                forwarded
            } else {
                dropped
            };
            assert!(
                got >= sample.received && got <= expected,
                "{} / {} / {n} conduits: {} frames received, but {got} {} (check the frames \
                 and the ruleset)",
                arm.name(class),
                class.name(),
                sample.received,
                if class.forwarded() {
                    "forwarded"
                } else {
                    "dropped"
                },
            );
            eprintln!(
                "{:>6} conduits  {:<12} {:<26} {:>8.3} Mpps/core  {:>8.1} ns/packet  ({} of {} frames received, {:.3} Mpps wall)",
                n,
                class.name(),
                arm.name(class),
                sample.mpps(),
                sample.ns_per_packet(),
                sample.received,
                sample.sent,
                sample.wall_mpps()
            );
            rows.push(Row {
                class,
                arm,
                conduits: n,
                sample,
            });
        }
        if let Some(l) = loaded {
            unload(l, rig);
        }
    }
    SizeResult {
        conduits: n,
        rows,
        load_ms,
    }
}

// ---------------------------------------------------------------------------------------
// Report.

fn fmt_count(n: usize) -> String {
    if n >= 1000 {
        format!("{},{:03}", n / 1000, n % 1000)
    } else {
        n.to_string()
    }
}

/// The generator alone: the receiver refuses every frame before any filter sees it.
fn generator_only(generator: &mut Generator, seconds: f64) -> f64 {
    generator.receiver_takes(false);
    let (_, frame) = frames(Class::Deny, 10, 1);
    let per_frame = generator.send(&frame, WARMUP).max(1.0);
    let chunk = ((seconds * 1e9 / 2.0 / per_frame) as u32).max(BATCH);
    let (cpu0, mut sent) = (thread_cpu_ns(), 0u64);
    for _ in 0..2 {
        generator.send(&frame, chunk);
        sent += u64::from(chunk);
    }
    let ns = (thread_cpu_ns() - cpu0) as f64 / sent as f64;
    generator.receiver_takes(true);
    ns
}

/// Numbers that cannot come from a working bench (whatever the machine's speed): a failure
/// here is a broken generator or counter, not a slow machine.
fn check_sane(results: &[SizeResult], gen_ns: f64) {
    assert!(
        gen_ns.is_finite() && gen_ns > 1.0 && gen_ns < 1e6,
        "the generator alone costs {gen_ns} ns per frame: not a measurement"
    );
    for row in results.iter().flat_map(|r| &r.rows) {
        let what = format!(
            "{} / {} / {} conduits",
            row.arm.name(row.class),
            row.class.name(),
            row.conduits
        );
        let s = &row.sample;
        assert!(s.received > 0, "{what}: the receiver took no frame");
        assert!(
            s.received <= s.sent,
            "{what}: {} frames received of {} sent",
            s.received,
            s.sent
        );
        // Receiving costs something: a frame cannot cost less than half of sending it alone.
        assert!(
            s.ns_per_packet() > 0.5 * gen_ns && s.ns_per_packet() < 1e7,
            "{what}: {:.1} ns per frame against {gen_ns:.1} ns for the generator alone",
            s.ns_per_packet()
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let quick = args.iter().any(|a| a == "--quick");
    let probe_only = args.iter().any(|a| a == "--probe");
    let out = value("--out");
    let choice = match Choice::parse(value("--generator").as_deref().unwrap_or("auto")) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("throughput: {e}");
            std::process::exit(2);
        }
    };
    let s = Settings {
        seconds: value("--seconds")
            .and_then(|v| v.parse().ok())
            .unwrap_or(if quick { 0.2 } else { 2.0 }),
        sizes: value("--sizes")
            .map(|v| v.split(',').filter_map(|x| x.parse().ok()).collect())
            .unwrap_or_else(|| {
                if quick {
                    vec![10, 1_000]
                } else {
                    vec![10, 1_000, 10_000]
                }
            }),
        quick,
    };
    let cpu = net::pin_to_last_cpu();
    let started = Instant::now();
    let ns = net::Namespace::enter(&format!("zcfw-tp-{}", std::process::id()));
    net::setup_network();
    let mut baselines = Baselines::load();
    let refuse_live_frames = args.iter().any(|a| a == "--refuse-live-frames");
    let probe = Probe::run(&mut baselines, refuse_live_frames);
    println!("kernel features (probed on a veth pair):\n{probe}");
    if probe_only {
        return;
    }
    let resolved = match probe.resolve(choice) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("throughput: {e}");
            std::process::exit(2);
        }
    };
    assert!(
        !(refuse_live_frames && resolved == Choice::LiveFrames),
        "live frames refused, yet the live-frames generator was chosen"
    );
    let generator = Generator::open(resolved).unwrap_or_else(|e| {
        panic!(
            "cannot open the {resolved:?} generator on {}: {e}",
            net::GEN
        )
    });
    println!("generator: {}", generator.key());
    let mut rig = Rig {
        generator,
        baselines,
        xdp_mode: probe.xdp_mode(),
        nftables: probe.nftables.is_ok(),
    };
    let gen_ns = generator_only(&mut rig.generator, s.seconds.min(1.0));
    eprintln!("generator alone: {gen_ns:.1} ns per frame (CPU {cpu})");
    let mut sport = 20_000u16;
    let results: Vec<SizeResult> = s
        .sizes
        .iter()
        .map(|&n| run_size(n, &mut rig, &s, &mut sport))
        .collect();
    let run = report::Run {
        settings: &s,
        gen_ns,
        generator: rig.generator.key(),
        generator_text: rig.generator.describe(),
        probe: probe.to_string(),
        native: rig.xdp_mode == AyaXdpMode::Driver,
    };
    drop(rig);
    drop(ns);
    check_sane(&results, gen_ns);
    let (mut md, json) = report::report(&results, &run);
    md.push_str(&format!(
        "\nThe whole throughput run took {:.0} s.\n",
        started.elapsed().as_secs_f64()
    ));
    print!("{md}");
    if let Some(dir) = out {
        std::fs::create_dir_all(&dir).expect("create the output directory");
        std::fs::write(
            format!("{dir}/throughput.json"),
            serde_json::to_string_pretty(&json).expect("json"),
        )
        .expect("write throughput.json");
        std::fs::write(format!("{dir}/throughput.md"), &md).expect("write throughput.md");
    }
}
