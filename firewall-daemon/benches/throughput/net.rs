//! The bench's network namespace, its devices, counters and nftables rulesets.

use std::{
    fs::File,
    io::Write as _,
    os::fd::AsFd,
    process::{Command, Stdio},
    time::Instant,
};

use nix::sched::{CloneFlags, CpuSet, sched_setaffinity, setns};

/// The generator's veth and the receiver's (its peer, where the arm under test runs).
pub const GEN: &str = "zgen";
pub const RX: &str = "zrx";
/// Allowed traffic is routed here: a veth whose peer is down, so the frame is freed at
/// transmit (the cheapest sink that still runs the whole forwarding path).
pub const SINK: &str = "zsink";
const SINK_PEER: &str = "zsinkp";
/// An ifb device: what the AF_PACKET generator sends here (not redirected by tc) is freed at
/// transmit (the cost of
/// the generator alone).
pub const VOID: &str = "zvoid";
/// MAC addresses of `firewall_common::pktgen` frames: `zrx` must own the destination.
const RX_MAC: &str = "02:00:00:00:00:02";
const GEN_MAC: &str = "02:00:00:00:00:01";

pub fn run(program: &str, args: &[&str]) -> String {
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
pub struct Namespace {
    name: String,
    home: File,
}

impl Namespace {
    pub fn enter(name: &str) -> Namespace {
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
pub fn setup_network() {
    // No IPv6 on the bench devices: their router solicitations and MLD reports would arrive
    // at the receiver among the measured frames.
    sysctl("net/ipv6/conf/all/disable_ipv6", "1");
    sysctl("net/ipv6/conf/default/disable_ipv6", "1");
    ip("link set lo up");
    ip(&format!("link add {GEN} type veth peer name {RX}"));
    ip(&format!("link set {GEN} address {GEN_MAC}"));
    ip(&format!("link set {RX} address {RX_MAC}"));
    ip(&format!("link add {SINK} type veth peer name {SINK_PEER}"));
    ip(&format!("link add {VOID} type ifb"));
    ip(&format!("link set {VOID} up"));
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
pub fn gro(on: bool) {
    run("ethtool", &["-K", RX, "gro", if on { "on" } else { "off" }]);
}

/// Counters of a device in this namespace: (rx packets, tx packets, tx dropped).
pub fn dev_stats(dev: &str) -> (u64, u64, u64) {
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
pub fn sink_count() -> u64 {
    let (_, tx, dropped) = dev_stats(SINK);
    tx + dropped
}

/// `counter packets N` of the rule commented `comment` in `chain` of the zcfw table.
pub fn nft_counter(family: &str, chain: &str, comment: &str) -> u64 {
    let text = run("nft", &["list", "chain", family, "zcfw", chain]);
    text.lines()
        .find(|l| l.contains(&format!("comment \"{comment}\"")))
        .and_then(|l| l.split("packets ").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no counter {comment} in {family} {chain}:\n{text}"))
}

/// Loads `ruleset` with `nft -f -`; the time it took (ms).
pub fn nft_load(ruleset: &str) -> f64 {
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

/// CPU time of this thread (ns), softirqs it ran included.
pub fn thread_cpu_ns() -> u64 {
    let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID)
        .expect("thread CPU clock");
    t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64
}

/// Pins this thread to the last CPU; returns its index.
pub fn pin_to_last_cpu() -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cpu = cpus - 1;
    let mut set = CpuSet::new();
    set.set(cpu).expect("CPU index");
    sched_setaffinity(nix::unistd::Pid::from_raw(0), &set).expect("pin the generator thread");
    cpu
}
