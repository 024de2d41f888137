//! `cargo xtask bench`: throughput on a veth pair, zcfw beside nftables, in one run. Needs
//! root.
//!
//! Traffic: `zcfw_bench_redirect` (firewall-ebpf/src/bench.rs) runs with BPF_PROG_TEST_RUN in
//! live-frames mode and sends every frame out of `zgen`, so identical real frames arrive at its
//! veth peer `zrx`, where the arm under test runs: the counting `XDP_DROP` program (the
//! `xdp-bench drop` baseline; `XDP_PASS` for allowed traffic), zcfw (the real program, native
//! XDP), or the ruleset `zcfw compile --format nft` writes for the same policy (netdev
//! linear, netdev sets, inet forward with conntrack). Everything lives in a namespace of its
//! own (`zcfw-tp-<pid>`), removed at the end.
//!
//! Generator and receiver share one core: the kernel runs the veth's NAPI poll in the softirq
//! that ends each batch of 64 frames, on the CPU of the generator (this thread, pinned). So the
//! CPU time of this thread per received frame is the cost of sending plus receiving it; the
//! generator alone (frames the peer refuses) is measured once and subtracted for the
//! receiver's own cost, which is what the 10GbE line rate (14.88 Mpps, 67 ns per packet) is
//! compared with. Counting: frames the receiver took off its ring (`zrx` rx_packets), checked
//! against the arm's own verdict counter (XDP counters, nft counters) or, for allowed
//! traffic, the frames forwarded to the sink.
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
//! noisy. `--quick` runs 10 and 1,000 rules for a fraction of a second per arm (CI proves the
//! bench works); `--out DIR` writes `DIR/throughput.json` and `DIR/throughput.md`; `--seconds S`
//! sets the time per measurement.

mod common;

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    fs::File,
    io::Write as _,
    os::fd::AsFd,
    process::{Command, Stdio},
    time::Instant,
};

use aya::{
    Ebpf, EbpfLoader, TestRun,
    maps::{Array, DevMap, PerCpuArray},
    programs::{TestRunAttrs, TestRunOptions, Xdp, XdpMode as AyaXdpMode, xdp::XdpLinkId},
};
use common::{MODBUS_EVERY, endpoints, host, port_of, zones_for};
use firewall_common::{
    packet::tcp_flags::{ACK, SYN},
    pktgen::{checksum, ipv4, tcp},
};
use nix::sched::{CloneFlags, CpuSet, sched_setaffinity, setns};
use serde_json::json;
use zcfw::{
    compile::{
        self, XdpMode,
        nft::{NftStyle, render_nft},
    },
    dataplane::{Dataplane, EBPF_OBJECT, ifindex_of},
    policy,
};

/// The generator's veth and the receiver's (its peer, where the arm under test runs).
const GEN: &str = "zgen";
const RX: &str = "zrx";
/// Allowed traffic is routed here: a veth whose peer is down, so the frame is freed at
/// transmit (the cheapest sink that still runs the whole forwarding path).
const SINK: &str = "zsink";
const SINK_PEER: &str = "zsinkp";
/// MAC addresses of `firewall_common::pktgen` frames: `zrx` must own the destination.
const RX_MAC: &str = "02:00:00:00:00:02";
const GEN_MAC: &str = "02:00:00:00:00:01";
/// 8-byte words of the frame head the generator restores in every frame (bench.rs).
const HEAD_WORDS: usize = 6;
/// Frames per live-frames batch (the NAPI budget: one poll takes a whole batch).
const BATCH: u32 = 64;
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

/// A Modbus/TCP read holding registers request (transaction 1, unit 1, 20 registers at 10).
fn modbus_read() -> Vec<u8> {
    vec![0, 1, 0, 0, 0, 6, 1, 3, 0, 10, 0, 20]
}

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
        .find(|i| i % MODBUS_EVERY != 0)
        .unwrap_or(n - 1);
    let last_modbus = (0..n).rev().find(|i| i % MODBUS_EVERY == 0).unwrap_or(0);
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
// The namespace, its devices and counters.

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ip(args: &str) {
    run("ip", &args.split_whitespace().collect::<Vec<_>>());
}

fn sysctl(path: &str, value: &str) {
    std::fs::write(format!("/proc/sys/{path}"), value)
        .unwrap_or_else(|e| panic!("cannot set {path}: {e}"));
}

/// A network namespace this thread works in; on drop, the thread goes home and the
/// namespace (with its devices, routes, rulesets and XDP links) is deleted.
struct Namespace {
    name: String,
    home: File,
}

impl Namespace {
    fn enter(name: &str) -> Namespace {
        let home = File::open("/proc/thread-self/ns/net").expect("own network namespace");
        ip(&format!("netns add {name}"));
        let ns = Namespace {
            name: name.to_owned(),
            home,
        };
        let fd = File::open(format!("/run/netns/{name}")).expect("open the new namespace");
        setns(fd.as_fd(), CloneFlags::CLONE_NEWNET).expect("enter the bench namespace");
        ns
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = setns(self.home.as_fd(), CloneFlags::CLONE_NEWNET);
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Devices, routes and sysctls of the bench namespace (this thread is in it).
fn setup_network() {
    // No IPv6 on the bench devices: their router solicitations and MLD reports would arrive
    // at the receiver among the measured frames.
    sysctl("net/ipv6/conf/all/disable_ipv6", "1");
    sysctl("net/ipv6/conf/default/disable_ipv6", "1");
    ip("link set lo up");
    ip(&format!("link add {GEN} type veth peer name {RX}"));
    ip(&format!("link set {GEN} address {GEN_MAC}"));
    ip(&format!("link set {RX} address {RX_MAC}"));
    ip(&format!("link add {SINK} type veth peer name {SINK_PEER}"));
    ip(&format!("link set {GEN} up"));
    ip(&format!("link set {RX} up"));
    // No ARP on the sink: forwarded frames need no neighbour resolution.
    ip(&format!("link set {SINK} arp off up"));
    ip(&format!("route add 10.0.0.0/8 dev {SINK}"));
    gro(true);
    sysctl("net/ipv4/conf/all/rp_filter", "0");
    sysctl(&format!("net/ipv4/conf/{RX}/rp_filter"), "0");
    sysctl("net/ipv4/ip_forward", "1");
}

/// GRO on the receiver: veth runs NAPI (and so takes redirected frames) when an XDP program
/// is attached or GRO is on; with neither it refuses them (the generator-only measurement).
fn gro(on: bool) {
    run("ethtool", &["-K", RX, "gro", if on { "on" } else { "off" }]);
}

/// Counters of a device in this namespace: (rx packets, tx packets, tx dropped).
fn dev_stats(dev: &str) -> (u64, u64, u64) {
    let text = std::fs::read_to_string("/proc/thread-self/net/dev").expect("/proc/net/dev");
    for line in text.lines() {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        if name.trim() != dev {
            continue;
        }
        let v: Vec<u64> = rest
            .split_whitespace()
            .map(|x| x.parse().unwrap_or(0))
            .collect();
        // rx: bytes packets errs drop fifo frame compressed multicast; tx: bytes packets errs drop ...
        return (v[1], v[9], v[11]);
    }
    panic!("no device {dev}");
}

/// Frames the sink took (transmitted or dropped for its peer being down).
fn sink_count() -> u64 {
    let (_, tx, dropped) = dev_stats(SINK);
    tx + dropped
}

/// `counter packets N` of the rule commented `comment` in `chain` of the zcfw table.
fn nft_counter(family: &str, chain: &str, comment: &str) -> u64 {
    let text = run("nft", &["list", "chain", family, "zcfw", chain]);
    text.lines()
        .find(|l| l.contains(&format!("comment \"{comment}\"")))
        .and_then(|l| l.split("packets ").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no counter {comment} in {family} {chain}:\n{text}"))
}

fn nft_load(ruleset: &str) -> f64 {
    let started = Instant::now();
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("run nft (install nftables)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(ruleset.as_bytes())
        .expect("write the ruleset to nft");
    assert!(
        child.wait().expect("nft").success(),
        "nft -f refused the ruleset"
    );
    started.elapsed().as_secs_f64() * 1e3
}

fn thread_cpu_ns() -> u64 {
    let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID)
        .expect("thread CPU clock");
    t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64
}

// ---------------------------------------------------------------------------------------
// Generator and baselines.

/// The bench programs of the XDP object: the generator (loaded, sending out of `zgen`) and
/// the counting baselines (loaded, attached on demand).
struct Bench {
    ebpf: Ebpf,
    /// The frame whose head is in `BENCH_HEAD`.
    head_of: Vec<u8>,
}

impl Bench {
    fn load() -> Bench {
        let mut ebpf = EbpfLoader::new()
            .load(EBPF_OBJECT)
            .expect("load the XDP object (run as root)");
        for name in ["zcfw_bench_redirect", "zcfw_bench_drop", "zcfw_bench_pass"] {
            program(&mut ebpf, name).load().expect("load bench program");
        }
        let gen_ifindex = ifindex_of(GEN).expect("generator veth");
        let mut tx = DevMap::try_from(ebpf.map_mut("BENCH_TX").expect("BENCH_TX map"))
            .expect("BENCH_TX is a devmap");
        tx.set(0, gen_ifindex, None, 0)
            .expect("set the generator's device");
        Bench {
            ebpf,
            head_of: Vec::new(),
        }
    }

    /// Sends `frame` `count` times (live frames); returns the kernel's time per frame (ns).
    fn send(&mut self, frame: &[u8], count: u32) -> f64 {
        if self.head_of != frame {
            // The generator writes these words back into every frame it sends.
            let mut head = [0u64; HEAD_WORDS];
            for (i, word) in head.iter_mut().enumerate() {
                let bytes: [u8; 8] = frame[8 * i..8 * i + 8].try_into().expect("8 bytes");
                *word = u64::from_ne_bytes(bytes);
            }
            let mut map = Array::<_, [u64; HEAD_WORDS]>::try_from(
                self.ebpf.map_mut("BENCH_HEAD").expect("BENCH_HEAD map"),
            )
            .expect("BENCH_HEAD is an array");
            map.set(0, head, 0).expect("write the frame head");
            self.head_of = frame.to_vec();
        }
        let mut opts = TestRunOptions::new();
        opts.data_in = Some(frame);
        opts.repeat = count;
        opts.attrs = TestRunAttrs::new().xdp_live_frames(BATCH);
        let result = program(&mut self.ebpf, "zcfw_bench_redirect")
            .test_run(opts)
            .expect("BPF_PROG_TEST_RUN in live-frames mode (Linux 5.18+)");
        result.duration.as_nanos() as f64
    }

    fn attach(&mut self, name: &str) -> XdpLinkId {
        program(&mut self.ebpf, name)
            .attach(RX, AyaXdpMode::Driver)
            .expect("attach the baseline in native mode")
    }

    fn detach(&mut self, name: &str, link: XdpLinkId) {
        program(&mut self.ebpf, name)
            .detach(link)
            .expect("detach the baseline");
    }

    fn counted(&self) -> u64 {
        let map = PerCpuArray::<_, u64>::try_from(self.ebpf.map("BENCH_PACKETS").expect("map"))
            .expect("BENCH_PACKETS is a per-CPU array");
        map.get(&0, 0).expect("read counter").iter().sum()
    }
}

fn program<'a>(ebpf: &'a mut Ebpf, name: &str) -> &'a mut Xdp {
    ebpf.program_mut(name)
        .unwrap_or_else(|| panic!("no program {name} in the XDP object"))
        .try_into()
        .expect("an XDP program")
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
    /// Sum over calls of the kernel's own test-run duration.
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

/// Sends `frame` for about `seconds`; counts what `zrx` received. Each BPF_PROG_TEST_RUN
/// call sets up and tears down a page pool (tens of milliseconds of waiting for RCU on a busy
/// machine), so calls are sized from a first one to last a good fraction of `seconds`.
fn measure(bench: &mut Bench, frame: &[u8], seconds: f64) -> Sample {
    // Warm up caches, conntrack entries and the page pool; measure the cost per frame.
    let per_frame = bench.send(frame, WARMUP).max(1.0);
    let call_ns = (seconds * 1e9 / 4.0).clamp(20e6, 250e6);
    let mut chunk = ((call_ns / per_frame) as u32).clamp(BATCH, 1 << 26);
    let (rx0, _, _) = dev_stats(RX);
    let (cpu0, wall0) = (thread_cpu_ns(), Instant::now());
    let mut s = Sample::default();
    let budget = seconds * 1e9;
    loop {
        let ns = bench.send(frame, chunk);
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
    Nft(NftStyle),
}

impl Arm {
    const ALL: [Arm; 5] = [
        Arm::Baseline,
        Arm::Zcfw,
        Arm::Nft(NftStyle::Linear),
        Arm::Nft(NftStyle::Sets),
        Arm::Nft(NftStyle::Conntrack),
    ];

    fn name(self, class: Class) -> &'static str {
        match (self, class) {
            (Arm::Baseline, Class::Deny) => "XDP_DROP baseline",
            (Arm::Baseline, _) => "XDP_PASS baseline",
            (Arm::Zcfw, _) => "zcfw (XDP, native)",
            (Arm::Nft(NftStyle::Linear), _) => "nftables netdev linear",
            (Arm::Nft(NftStyle::Sets), _) => "nftables netdev sets",
            (Arm::Nft(NftStyle::Conntrack), _) => "nftables inet conntrack",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Arm::Baseline => "baseline",
            Arm::Zcfw => "zcfw",
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

impl Loaded {
    /// Frames the arm dropped so far (its own counter).
    fn dropped(&self, bench: &Bench) -> u64 {
        match self {
            Loaded::Baseline(_, _) => bench.counted(),
            Loaded::Zcfw(dp, ifindex) => dp.iface_counters(*ifindex).expect("counters").1.packets,
            Loaded::Nft(NftStyle::Conntrack) => nft_counter("inet", "forward", "default_deny"),
            Loaded::Nft(_) => nft_counter("netdev", &format!("ingress_{RX}"), "default_deny"),
        }
    }
}

fn load_arm(
    arm: Arm,
    class: Class,
    bench: &mut Bench,
    compiled: &compile::CompiledPolicy,
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
            Loaded::Baseline(name, bench.attach(name))
        }
        Arm::Zcfw => {
            let started = Instant::now();
            let mut dp = Dataplane::load().expect("load the zcfw XDP program");
            let ifindex = ifindex_of(RX).expect("receiver veth");
            let ifaces = BTreeMap::from([(RX.to_string(), ifindex)]);
            dp.install(compiled, &ifaces).expect("install the policy");
            dp.attach(RX, XdpMode::Native)
                .expect("attach zcfw in native mode");
            load_ms.insert("zcfw", started.elapsed().as_secs_f64() * 1e3);
            Loaded::Zcfw(Box::new(dp), ifindex)
        }
        Arm::Nft(style) => {
            let ruleset = render_nft(validated, style);
            load_ms.insert(arm.key(), nft_load(&ruleset));
            Loaded::Nft(style)
        }
    }
}

fn unload(loaded: Loaded, bench: &mut Bench) {
    match loaded {
        Loaded::Baseline(name, link) => bench.detach(name, link),
        Loaded::Zcfw(dp, _) => drop(dp),
        Loaded::Nft(style) => {
            let family = if style == NftStyle::Conntrack {
                "inet"
            } else {
                "netdev"
            };
            run("nft", &["delete", "table", family, "zcfw"]);
        }
    }
}

struct SizeResult {
    conduits: usize,
    rows: Vec<Row>,
    /// Ruleset / policy load time per arm key (ms).
    load_ms: BTreeMap<&'static str, f64>,
}

fn run_size(n: usize, bench: &mut Bench, s: &Settings, sport: &mut u16) -> SizeResult {
    let yaml = policy_yaml(n);
    let validated = policy::load_str(&yaml, "throughput.yaml").expect("bench policy is valid");
    let compiled = compile::compile(&validated).expect("bench policy compiles");
    let mut rows = Vec::new();
    let mut load_ms = BTreeMap::new();
    for arm in Arm::ALL {
        // The baselines differ by class (drop / pass); the other arms load once per size.
        let mut loaded: Option<Loaded> = None;
        for class in Class::ALL {
            if arm == Arm::Baseline
                && let Some(l) = loaded.take()
            {
                unload(l, bench);
            }
            let l = loaded.get_or_insert_with(|| {
                load_arm(arm, class, bench, &compiled, &validated, &mut load_ms)
            });
            *sport += 1;
            let (setup, frame) = frames(class, n, *sport);
            for f in &setup {
                bench.send(f, 1);
            }
            let (dropped0, sink0) = (l.dropped(bench), sink_count());
            let sample = measure(bench, &frame, s.seconds);
            let (dropped, forwarded) = (l.dropped(bench) - dropped0, sink_count() - sink0);
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
            unload(l, bench);
        }
    }
    SizeResult {
        conduits: n,
        rows,
        load_ms,
    }
}

/// The generator alone: the receiver runs no NAPI (no XDP, GRO off) and refuses every frame.
fn generator_only(bench: &mut Bench, seconds: f64) -> f64 {
    gro(false);
    let (_, frame) = frames(Class::Deny, 10, 1);
    let per_frame = bench.send(&frame, WARMUP).max(1.0);
    let chunk = ((seconds * 1e9 / 2.0 / per_frame) as u32).max(BATCH);
    let (cpu0, mut sent) = (thread_cpu_ns(), 0u64);
    for _ in 0..2 {
        bench.send(&frame, chunk);
        sent += u64::from(chunk);
    }
    let ns = (thread_cpu_ns() - cpu0) as f64 / sent as f64;
    gro(true);
    ns
}

// ---------------------------------------------------------------------------------------
// Report.

fn pin_to_last_cpu() -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cpu = cpus - 1;
    let mut set = CpuSet::new();
    set.set(cpu).expect("CPU index");
    sched_setaffinity(nix::unistd::Pid::from_raw(0), &set).expect("pin the generator thread");
    cpu
}

fn fmt_count(n: usize) -> String {
    if n >= 1000 {
        format!("{},{:03}", n / 1000, n % 1000)
    } else {
        n.to_string()
    }
}

fn report(results: &[SizeResult], gen_ns: f64, s: &Settings) -> (String, serde_json::Value) {
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
        "Frames from an XDP live-frames generator (`BPF_PROG_TEST_RUN` + `XDP_REDIRECT`) \
         into a veth pair; the arm under test runs on the receiving veth; generator and receiver \
         share one core (the receiver's NAPI poll runs in the softirq that ends each batch of \
         {BATCH}). **Mpps/core**: frames the receiver took, per second of that core's CPU time \
         (generator included); **× base**: ratio to the baseline on the same frames; **rx ns**: \
         the receiver's own cost per frame (CPU ns per frame minus the generator alone, \
         {gen_ns:.1} ns); **of 14.88**: the receiver's own rate (1000 / rx ns) against 10GbE \
         line rate with 64-byte frames (14.88 Mpps, 67 ns per packet per core). Rates are per \
         second of CPU time, not of wall-clock time, which other tenants of a shared machine \
         stretch (both are in `throughput.json`). {:.2} s of CPU per measurement{}; zcfw and the nftables rulesets (`zcfw compile --format nft \
         --nft-style linear|sets|conntrack`) come from the same policy: every eighth conduit \
         inspects Modbus, denies are not logged.\n",
        s.seconds,
        if s.quick { " (`--quick`)" } else { "" },
    );
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
    let ratios = |a: Arm, b: Arm, n: usize| -> Option<(f64, f64)> {
        let (a, b) = (
            &find(Class::Deny, a, n)?.sample,
            &find(Class::Deny, b, n)?.sample,
        );
        let rx = |x: &Sample| (x.ns_per_packet() - gen_ns).max(1.0);
        Some((a.mpps() / b.mpps(), rx(b) / rx(a)))
    };
    let largest = results.iter().map(|r| r.conduits).max().unwrap_or(0);
    let at = if results.iter().any(|r| r.conduits == 1000) {
        1000
    } else {
        largest
    };
    let _ = writeln!(
        md,
        "Targets (`deny` class; stated, not asserted). *Per core*: ratio of the Mpps/core \
         columns (the generator's share of the core narrows it); *receiver*: ratio of the \
         receivers' own rates (1 / rx ns).\n"
    );
    let _ = writeln!(md, "| target | per core | receiver | met (per core) |");
    let _ = writeln!(md, "|---|---:|---:|:---:|");
    let mut target = |what: String, value: Option<(f64, f64)>, goal: f64| {
        if let Some((core, rx)) = value {
            let _ = writeln!(
                md,
                "| {what} ≥ {goal} | {core:.2} | {rx:.2} | {} |",
                if core >= goal { "yes" } else { "no" }
            );
        }
    };
    for r in results {
        target(
            format!(
                "zcfw / XDP_DROP baseline, {} conduits",
                fmt_count(r.conduits)
            ),
            ratios(Arm::Zcfw, Arm::Baseline, r.conduits),
            0.7,
        );
    }
    target(
        format!("zcfw / nftables netdev linear, {} conduits", fmt_count(at)),
        ratios(Arm::Zcfw, Arm::Nft(NftStyle::Linear), at),
        3.0,
    );
    target(
        format!("zcfw / nftables inet conntrack, {} conduits", fmt_count(at)),
        ratios(Arm::Zcfw, Arm::Nft(NftStyle::Conntrack), at),
        10.0,
    );
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
        "seconds_per_measurement": s.seconds,
        "quick": s.quick,
        "batch": BATCH,
        "generator_ns_per_frame": gen_ns,
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

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let quick = args.iter().any(|a| a == "--quick");
    let out = value("--out");
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
    let cpu = pin_to_last_cpu();
    let started = Instant::now();
    let ns = Namespace::enter(&format!("zcfw-tp-{}", std::process::id()));
    setup_network();
    let mut bench = Bench::load();
    let gen_ns = generator_only(&mut bench, s.seconds.min(1.0));
    eprintln!("generator alone: {gen_ns:.1} ns per frame (CPU {cpu})");
    let mut sport = 20_000u16;
    let results: Vec<SizeResult> = s
        .sizes
        .iter()
        .map(|&n| run_size(n, &mut bench, &s, &mut sport))
        .collect();
    drop(bench);
    drop(ns);
    let (mut md, json) = report(&results, gen_ns, &s);
    let _ = writeln!(
        md,
        "\nThe whole throughput run took {:.0} s.",
        started.elapsed().as_secs_f64()
    );
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
