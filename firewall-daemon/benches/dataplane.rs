//! `cargo xtask bench`: per-packet cost of the XDP program measured with BPF_PROG_TEST_RUN
//! (the kernel's own average over `repeat` runs), for an allowed packet (full conduit lookup),
//! a denied packet and a conntrack hit, at growing policy sizes. Needs root.
//!
//! Numbers are compared side by side in one run (ratios), never asserted: the machine is
//! shared and noisy. `--quick` runs fewer repetitions (CI proves the bench works).

use std::{collections::BTreeMap, fmt::Write as _};

use firewall_common::{
    packet::tcp_flags::{ACK, SYN},
    pktgen::{ipv4, tcp},
};
use zcfw::{
    compile,
    dataplane::{Baseline, Dataplane},
    policy,
};

const LO: u32 = 1;

/// A policy with `conduits` conduits spread over `2 + conduits / 100` zones, each conduit a
/// distinct (from, to, port).
fn policy_yaml(conduits: usize) -> String {
    let zones = 2 + conduits / 100;
    let mut y = String::from("version: 1\nname: bench\ninterfaces:\n  - { name: lo }\nzones:\n");
    for z in 0..zones {
        writeln!(
            y,
            "  z{z}: {{ security_level: 2, networks: [10.{}.{}.0/24] }}",
            z / 256,
            z % 256
        )
        .ok();
    }
    y.push_str("conduits:\n");
    for i in 0..conduits {
        let (from, to) = endpoints(i, zones);
        writeln!(
            y,
            "  - {{ name: c{i}, from: z{from}, to: z{to}, rules: [{{ protocol: tcp, ports: [{}] }}] }}",
            1000 + i
        )
        .ok();
    }
    y
}

fn endpoints(i: usize, zones: usize) -> (usize, usize) {
    let from = i % zones;
    let to = (from + 1 + (i / zones) % (zones - 1)) % zones;
    (from, to)
}

fn host(zone: usize, n: u8) -> [u8; 4] {
    [10, (zone / 256) as u8, (zone % 256) as u8, n]
}

struct Row {
    conduits: usize,
    allowed: f64,
    denied: f64,
    conntrack: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn measure(dp: &mut Dataplane, frame: &[u8], expect: u32, repeat: u32, trials: usize) -> f64 {
    let runs: Vec<f64> = (0..trials)
        .map(|_| {
            let (verdict, ns) = dp
                .test_run_repeat(frame, LO, repeat)
                .expect("BPF_PROG_TEST_RUN");
            assert_eq!(
                verdict, expect,
                "the benchmark packet got an unexpected verdict"
            );
            ns
        })
        .collect();
    median(runs)
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (repeat, trials) = if quick { (20_000, 3) } else { (1_000_000, 5) };
    let sizes = [10usize, 1_000, 10_000];
    let mut baseline = Baseline::load().expect("load the baseline program (run as root)");
    let probe = ipv4([10, 0, 0, 1], [10, 0, 1, 1], tcp(1, 2, SYN, b"")).frame();
    let baseline_ns = median(
        (0..trials)
            .map(|_| {
                baseline
                    .test_run_repeat(&probe, repeat)
                    .expect("BPF_PROG_TEST_RUN")
                    .1
            })
            .collect(),
    );
    let mut rows = Vec::new();
    for &n in &sizes {
        let validated =
            policy::load_str(&policy_yaml(n), "bench.yaml").expect("bench policy is valid");
        let compiled = compile::compile(&validated).expect("bench policy compiles");
        let mut dp = Dataplane::load().expect("load the XDP program (run as root)");
        dp.install(&compiled, &BTreeMap::from([("lo".to_string(), LO)]))
            .expect("install");
        let zones = 2 + n / 100;
        let i = n / 2;
        let (from, to) = endpoints(i, zones);
        let port = 1000 + i as u16;
        let (src, dst) = (host(from, 10), host(to, 20));
        // Allowed: a segment the conduit admits that opens no flow (full lookup every time).
        let allowed = ipv4(src, dst, tcp(40000, port, ACK, b"")).frame();
        // Denied: a port no conduit of the pair opens.
        let denied = ipv4(src, dst, tcp(40000, 999, SYN, b"")).frame();
        // Conntrack hit: the reply of a flow opened by a SYN.
        let open = ipv4(src, dst, tcp(40001, port, SYN, b"")).frame();
        assert_eq!(
            dp.test_run(&open, LO).expect("run"),
            2,
            "flow opener must pass"
        );
        let reply = ipv4(dst, src, tcp(port, 40001, ACK, b"")).frame();
        rows.push(Row {
            conduits: n,
            allowed: measure(&mut dp, &allowed, 2, repeat, trials),
            denied: measure(&mut dp, &denied, 1, repeat, trials),
            conntrack: measure(&mut dp, &reply, 2, repeat, trials),
        });
    }
    println!(
        "XDP per-packet cost, BPF_PROG_TEST_RUN, median of {trials} trials x {repeat} runs (ns/packet)"
    );
    println!("empty XDP_DROP program, same harness: {baseline_ns:.1} ns/packet (included below)");
    println!(
        "{:>9} {:>10} {:>10} {:>10}",
        "conduits", "allowed", "denied", "conntrack"
    );
    for r in &rows {
        println!(
            "{:>9} {:>10.1} {:>10.1} {:>10.1}",
            r.conduits, r.allowed, r.denied, r.conntrack
        );
    }
    let (first, last) = (&rows[0], &rows[rows.len() - 1]);
    println!(
        "ratio {}/{}: allowed {:.2}, denied {:.2}, conntrack {:.2} (target < 1.3; per-packet target < 150 ns)",
        last.conduits,
        first.conduits,
        last.allowed / first.allowed,
        last.denied / first.denied,
        last.conntrack / first.conntrack
    );
}
