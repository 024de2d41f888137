//! `cargo xtask bench`: per-packet cost of the XDP program measured with BPF_PROG_TEST_RUN
//! (the kernel's own average over `repeat` runs), beside an empty XDP_DROP program measured
//! the same way, for each packet class at growing policy sizes, plus policy load (reload)
//! latency and the verified program size. Needs root.
//!
//! Every class runs over a corpus of packets spread over many conduits, zones and hosts, so
//! caches are not flattering. Numbers are compared side by side in one run (ratios), never
//! asserted: the machine is shared and noisy. `--quick` runs fewer repetitions (CI proves the
//! bench works); `--out DIR` writes `DIR/dataplane.json` and `DIR/dataplane.md`;
//! `--sizes 10,1000` and `--classes modbus_read,l4_allow` narrow a run (an A/B comparison of
//! one class); classes left out read 0 in the table. `--help` says so.

mod common;

use std::{collections::BTreeMap, fmt::Write as _, time::Instant};

use common::{MODBUS_EVERY, endpoints, host, port_of, zones_for};
use firewall_common::{
    packet::tcp_flags::{ACK, SYN},
    pktgen::{ipv4, tcp},
};
use serde_json::json;
use zcfw::{
    compile,
    dataplane::{Baseline, Dataplane},
    policy,
};

const LO: u32 = 1;
const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;
/// Packets per class corpus.
const CORPUS: usize = 16;
const PSH: u8 = 0x08;

fn policy_yaml(conduits: usize) -> String {
    common::policy_yaml(
        "version: 1\nname: bench\ninterfaces:\n  - { name: lo }\n",
        conduits,
    )
}

/// A Modbus/TCP request ADU (transaction 1, unit 1).
fn modbus(pdu: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 1, 0, 0];
    b.extend_from_slice(&((pdu.len() + 1) as u16).to_be_bytes());
    b.push(1);
    b.extend_from_slice(pdu);
    b
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

struct Settings {
    repeat: u32,
    trials: usize,
    /// Which of [`CLASSES`] are measured (the others read 0).
    classes: [bool; CLASSES.len()],
}

/// Median over trials of the mean per-packet time over the corpus.
fn measure(dp: &mut Dataplane, corpus: &[Vec<u8>], expect: u32, s: &Settings) -> f64 {
    let per_frame = (s.repeat / corpus.len() as u32).max(1);
    let trials = (0..s.trials)
        .map(|_| {
            let total: f64 = corpus
                .iter()
                .map(|frame| {
                    let (verdict, ns) = dp
                        .test_run_repeat(frame, LO, per_frame)
                        .expect("BPF_PROG_TEST_RUN");
                    assert_eq!(
                        verdict, expect,
                        "a benchmark packet got an unexpected verdict"
                    );
                    ns
                })
                .sum();
            total / corpus.len() as f64
        })
        .collect();
    median(trials)
}

const CLASSES: [&str; 6] = [
    "l4_allow",
    "syn_allow",
    "default_deny",
    "conntrack_hit",
    "modbus_read",
    "modbus_write_denied",
];

struct Row {
    conduits: usize,
    compile_ms: f64,
    install_ms: f64,
    ns: [f64; 6],
}

fn run_size(n: usize, s: &Settings) -> Row {
    let yaml = policy_yaml(n);
    let started = Instant::now();
    let validated = policy::load_str(&yaml, "bench.yaml").expect("bench policy is valid");
    let compiled = compile::compile(&validated).expect("bench policy compiles");
    let compile_ms = started.elapsed().as_secs_f64() * 1e3;
    let mut dp = Dataplane::load().expect("load the XDP program (run as root)");
    let ifaces = BTreeMap::from([("lo".to_string(), LO)]);
    dp.install(&compiled, &ifaces).expect("install");
    // A reload writes the other generation and flips to it: time a second install.
    let started = Instant::now();
    dp.install(&compiled, &ifaces).expect("reinstall");
    let install_ms = started.elapsed().as_secs_f64() * 1e3;

    let zones = zones_for(n);
    let spread = |k: usize, modbus: bool| -> usize {
        let step = (n / CORPUS).max(1);
        let i = (k * step) % n;
        if modbus {
            i - i % MODBUS_EVERY
        } else if i.is_multiple_of(MODBUS_EVERY) {
            (i + 1) % n
        } else {
            i
        }
    };
    let pick = |k: usize, modbus: bool| {
        let i = spread(k, modbus);
        let (from, to) = endpoints(i, zones);
        (host(from, 10 + k as u8), host(to, 20 + k as u8), port_of(i))
    };
    let (mut allow, mut syns, mut deny, mut hits, mut reads, mut writes) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for k in 0..CORPUS {
        let (src, dst, port) = pick(k, false);
        // Allowed: a segment the conduit admits that opens no flow (full lookup every time).
        allow.push(ipv4(src, dst, tcp(40000 + k as u16, port, ACK, b"")).frame());
        // An allowed SYN: judged by the conduits, then a conntrack entry is written (a repeat
        // replaces the entry of the same key, which costs what a new flow's insert costs).
        syns.push(ipv4(src, dst, tcp(43000 + k as u16, port, SYN, b"")).frame());
        // Denied: a port no conduit of the pair opens.
        deny.push(ipv4(src, dst, tcp(40000 + k as u16, 999, SYN, b"")).frame());
        // Conntrack hit: the reply of a flow opened by a SYN.
        let open = ipv4(src, dst, tcp(41000 + k as u16, port, SYN, b"")).frame();
        assert_eq!(
            dp.test_run(&open, LO).expect("run"),
            XDP_PASS,
            "flow opener must pass"
        );
        hits.push(ipv4(dst, src, tcp(port, 41000 + k as u16, ACK, b"")).frame());
        // Modbus: a read and a write on an open inspected flow.
        let (src, dst, port) = pick(k, true);
        let open = ipv4(src, dst, tcp(42000 + k as u16, port, SYN, b"")).frame();
        assert_eq!(
            dp.test_run(&open, LO).expect("run"),
            XDP_PASS,
            "Modbus flow opener must pass"
        );
        let read = modbus(&[3, 0, 10, 0, 20]);
        reads.push(ipv4(src, dst, tcp(42000 + k as u16, port, ACK | PSH, &read)).frame());
        let write = modbus(&[6, 0, 10, 0, 1]);
        writes.push(ipv4(src, dst, tcp(42000 + k as u16, port, ACK | PSH, &write)).frame());
    }
    Row {
        conduits: n,
        compile_ms,
        install_ms,
        ns: [
            (allow, XDP_PASS),
            (syns, XDP_PASS),
            (deny, XDP_DROP),
            (hits, XDP_PASS),
            (reads, XDP_PASS),
            (writes, XDP_DROP),
        ]
        .into_iter()
        .zip(s.classes)
        .map(|((corpus, expect), on)| {
            if on {
                measure(&mut dp, &corpus, expect, s)
            } else {
                0.0
            }
        })
        .collect::<Vec<_>>()
        .try_into()
        .expect("one number per class"),
    }
}

const HELP: &str = "\
dataplane bench: ns/packet of the XDP program (BPF_PROG_TEST_RUN), needs root

  --quick               fewer repetitions (seconds, not minutes)
  --out DIR             write DIR/dataplane.json and DIR/dataplane.md
  --sizes N,N,...       policy sizes in conduits (default 10,100,1000,10000)
  --classes C,C,...     classes to measure (default all; the others read 0): ";

/// The comma-separated list after `flag`, if given.
fn list_arg(args: &[String], flag: &str) -> Option<Vec<String>> {
    let i = args.iter().position(|a| a == flag)?;
    let Some(list) = args.get(i + 1) else {
        eprintln!("{flag} needs a comma-separated list");
        std::process::exit(2);
    };
    Some(list.split(',').map(str::to_string).collect())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{HELP}{}", CLASSES.join(", "));
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let mut classes = [true; CLASSES.len()];
    if let Some(chosen) = list_arg(&args, "--classes") {
        for c in &chosen {
            if !CLASSES.contains(&c.as_str()) {
                eprintln!("unknown class {c:?}; classes: {}", CLASSES.join(", "));
                std::process::exit(2);
            }
        }
        classes = CLASSES.map(|c| chosen.iter().any(|x| x == c));
    }
    let sizes: Vec<usize> = match list_arg(&args, "--sizes") {
        Some(list) => list
            .iter()
            .map(|n| match n.parse() {
                Ok(n) if n > 0 => n,
                _ => {
                    eprintln!("--sizes takes conduit counts above 0, not {n:?}");
                    std::process::exit(2);
                }
            })
            .collect(),
        None => vec![10, 100, 1_000, 10_000],
    };
    let out = args
        .iter()
        .position(|a| a == "--out")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let s = if quick {
        Settings {
            repeat: 32_000,
            trials: 3,
            classes,
        }
    } else {
        Settings {
            repeat: 1_000_000,
            trials: 5,
            classes,
        }
    };

    let mut baseline = Baseline::load().expect("load the baseline program (run as root)");
    let probe = ipv4([10, 0, 0, 1], [10, 0, 1, 1], tcp(1, 2, SYN, b"")).frame();
    let baseline_ns = median(
        (0..s.trials)
            .map(|_| {
                baseline
                    .test_run_repeat(&probe, s.repeat)
                    .expect("BPF_PROG_TEST_RUN")
                    .1
            })
            .collect(),
    );
    // The kernel's LRU insert on its own (plus the empty program): the floor of `syn_allow`.
    let mut lru = Baseline::lru_insert().expect("load the LRU insert program (run as root)");
    let lru_ns = median(
        (0..s.trials)
            .map(|_| {
                lru.test_run_repeat(&probe, s.repeat)
                    .expect("BPF_PROG_TEST_RUN")
                    .1
            })
            .collect(),
    );
    drop(lru);
    let rows: Vec<Row> = sizes.iter().map(|&n| run_size(n, &s)).collect();
    let program = Dataplane::load()
        .expect("load")
        .program_size()
        .expect("program info");

    let mut md = String::new();
    writeln!(md, "### Per-packet cost (BPF_PROG_TEST_RUN)\n").ok();
    writeln!(
        md,
        "Median of {} trials; each trial runs a corpus of {CORPUS} packets spread over conduits, zones and hosts, {} runs in all. ns/packet; the empty `XDP_DROP` program costs **{baseline_ns:.1} ns** in the same harness (included in every number).\n",
        s.trials, s.repeat
    )
    .ok();
    writeln!(
        md,
        "| conduits | {} | policy compile | reload (write + flip) |",
        CLASSES.join(" | ")
    )
    .ok();
    writeln!(md, "|---:|{}---:|---:|", "---:|".repeat(CLASSES.len())).ok();
    for r in &rows {
        let cells: Vec<String> = r.ns.iter().map(|v| format!("{v:.1}")).collect();
        writeln!(
            md,
            "| {} | {} | {:.1} ms | {:.1} ms |",
            r.conduits,
            cells.join(" | "),
            r.compile_ms,
            r.install_ms
        )
        .ok();
    }
    let (first, last) = (&rows[0], &rows[rows.len() - 1]);
    let ratios: Vec<String> = (0..CLASSES.len())
        .map(|c| {
            if s.classes[c] {
                format!("{:.2}", last.ns[c] / first.ns[c])
            } else {
                "-".to_string()
            }
        })
        .collect();
    writeln!(
        md,
        "| ratio {}/{} | {} | | |",
        last.conduits,
        first.conduits,
        ratios.join(" | ")
    )
    .ok();
    writeln!(
        md,
        "\n`syn_allow` is the only class that writes a conntrack entry: the kernel's LRU hash insert alone, in an otherwise empty program with the conntrack's key, value and capacity, costs **{lru_ns:.1} ns** (the empty program's {baseline_ns:.1} ns included) in the same harness."
    )
    .ok();
    writeln!(
        md,
        "\nTargets: under 150 ns/packet for L4 classes (an allowed SYN, which writes a conntrack entry, included) and 200 ns with Modbus inspection, flat across policy sizes (ratio < 1.3). Verified program: {} translated BPF instructions, {} bytes JITed.",
        program.0, program.1
    )
    .ok();
    print!("{md}");

    if let Some(dir) = out {
        std::fs::create_dir_all(&dir).expect("create the output directory");
        // The largest policy, for `cargo xtask bench` to measure the daemon's memory with.
        let largest = sizes[sizes.len() - 1];
        std::fs::write(format!("{dir}/policy-{largest}.yaml"), policy_yaml(largest))
            .expect("write the largest bench policy");
        let json = json!({
            "baseline_xdp_drop_ns": baseline_ns,
            "lru_insert_ns": lru_ns,
            "repeat": s.repeat,
            "trials": s.trials,
            "corpus": CORPUS,
            "classes": CLASSES,
            "program": { "xlated_insns": program.0, "jited_bytes": program.1 },
            "rows": rows.iter().map(|r| json!({
                "conduits": r.conduits,
                "ns": CLASSES.iter().zip(r.ns).map(|(c, v)| (c.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
                "compile_ms": r.compile_ms,
                "reload_ms": r.install_ms,
            })).collect::<Vec<_>>(),
        });
        std::fs::write(
            format!("{dir}/dataplane.json"),
            serde_json::to_string_pretty(&json).expect("json"),
        )
        .expect("write dataplane.json");
        std::fs::write(format!("{dir}/dataplane.md"), &md).expect("write dataplane.md");
    }
}
