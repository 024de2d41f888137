//! `zcfw stats`: counters of the running daemon.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{EXIT_ERROR, EXIT_OK, SocketArgs, print_error};
use crate::control::{
    self,
    stats::{ConduitCounter, Count, Stats},
};

#[derive(Debug, clap::Args)]
pub struct StatsArgs {
    #[command(flatten)]
    pub socket: SocketArgs,
    /// Print the counters as one JSON object (documented in README.md).
    #[arg(long)]
    pub json: bool,
    /// Refresh every SECONDS (default 2) with packet and byte rates, until interrupted. With
    /// `--json`, one object per refresh, each with a `rates` member.
    #[arg(long, value_name = "SECONDS", num_args = 0..=1, default_missing_value = "2")]
    pub watch: Option<f64>,
}

pub fn run(args: &StatsArgs) -> u8 {
    if let Some(interval) = args.watch {
        return watch(args, interval);
    }
    super::query_and_print(&args.socket.socket, control::stats, args.json, render)
}

/// One refresh of `--watch --json`: the counters and the rates since the previous refresh
/// (`null` the first time).
#[derive(Debug, Serialize)]
struct Sample<'a> {
    #[serde(flatten)]
    stats: &'a Stats,
    rates: Option<&'a Rates>,
}

/// Per-second rates between two samples, by conduit and by reason.
#[derive(Debug, Clone, PartialEq, Serialize)]
struct Rates {
    seconds: f64,
    conduits: BTreeMap<String, Rate>,
    reasons: BTreeMap<String, Rate>,
    /// Inspection denies per conduit (all reasons together).
    #[serde(default)]
    denied: BTreeMap<String, Rate>,
    /// Passed and dropped per interface, as `eth0 passed` and `eth0 dropped`.
    #[serde(default)]
    interfaces: BTreeMap<String, Rate>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
struct Rate {
    pps: f64,
    bits_per_second: f64,
}

/// `--watch`: refresh with rates computed from the previous sample.
fn watch(args: &StatsArgs, interval: f64) -> u8 {
    use std::io::{IsTerminal, Write};
    let interval = std::time::Duration::from_secs_f64(interval.max(0.1));
    let mut previous: Option<(Stats, std::time::Instant)> = None;
    loop {
        let stats = match control::stats(&args.socket.socket) {
            Ok(s) => s,
            Err(err) => {
                print_error(&anyhow::Error::new(err));
                return EXIT_ERROR;
            }
        };
        let now = std::time::Instant::now();
        let rates = previous
            .as_ref()
            .map(|(prev, at)| rates(prev, &stats, now.duration_since(*at).as_secs_f64()));
        let mut out = std::io::stdout().lock();
        let written = if args.json {
            let sample = Sample {
                stats: &stats,
                rates: rates.as_ref(),
            };
            writeln!(
                out,
                "{}",
                serde_json::to_string(&sample).unwrap_or_default()
            )
        } else {
            let clear = if std::io::stdout().is_terminal() {
                "\x1b[2J\x1b[H"
            } else {
                ""
            };
            writeln!(
                out,
                "{clear}{}{}",
                render(&stats),
                render_rates(rates.as_ref())
            )
        };
        if written.and_then(|()| out.flush()).is_err() {
            return EXIT_OK;
        }
        previous = Some((stats, now));
        std::thread::sleep(interval);
    }
}

/// Per-second rates between two samples `seconds` apart.
fn rates(prev: &Stats, cur: &Stats, seconds: f64) -> Rates {
    let per = |before: &BTreeMap<&str, Count>, after: &BTreeMap<&str, Count>| {
        after
            .iter()
            .filter_map(|(name, c)| {
                let c0 = before.get(name)?;
                let pps = c.packets.saturating_sub(c0.packets) as f64 / seconds.max(1e-9);
                let bps = c.bytes.saturating_sub(c0.bytes) as f64 * 8.0 / seconds.max(1e-9);
                Some((
                    (*name).to_owned(),
                    Rate {
                        pps,
                        bits_per_second: bps,
                    },
                ))
            })
            .collect()
    };
    let (ifaces_before, ifaces_after) = (interfaces(prev), interfaces(cur));
    Rates {
        seconds,
        conduits: per(&conduits(prev), &conduits(cur)),
        reasons: per(&reasons(prev), &reasons(cur)),
        denied: per(&denied(prev), &denied(cur)),
        interfaces: per(&borrow(&ifaces_before), &borrow(&ifaces_after)),
    }
}

/// `m` with borrowed keys.
fn borrow(m: &BTreeMap<String, Count>) -> BTreeMap<&str, Count> {
    m.iter().map(|(k, v)| (k.as_str(), *v)).collect()
}

/// Inspection denies per conduit, every reason together.
fn denied(s: &Stats) -> BTreeMap<&str, Count> {
    s.conduits
        .iter()
        .map(|c| {
            let total = c.denied.values().fold(count(0, 0), |a, d| {
                count(a.packets + d.packets, a.bytes + d.bytes)
            });
            (c.name.as_str(), total)
        })
        .collect()
}

/// Passed and dropped per interface, keyed `NAME passed` / `NAME dropped`.
fn interfaces(s: &Stats) -> BTreeMap<String, Count> {
    s.interfaces
        .iter()
        .flat_map(|i| {
            [
                (format!("{} passed", i.name), i.passed),
                (format!("{} dropped", i.name), i.dropped),
            ]
        })
        .collect()
}

fn conduits(s: &Stats) -> BTreeMap<&str, Count> {
    s.conduits
        .iter()
        .map(|c| (c.name.as_str(), count(c.packets, c.bytes)))
        .collect()
}

fn reasons(s: &Stats) -> BTreeMap<&str, Count> {
    s.reasons
        .iter()
        .map(|r| (r.reason.as_str(), count(r.packets, r.bytes)))
        .collect()
}

fn count(packets: u64, bytes: u64) -> Count {
    Count { packets, bytes }
}

fn render_rates(rates: Option<&Rates>) -> String {
    let Some(rates) = rates else {
        return "(rates from the next refresh on)\n".to_owned();
    };
    let mut out = String::new();
    for (title, section) in [
        ("CONDUIT RATE", &rates.conduits),
        ("DENIED BY CONDUIT RATE", &rates.denied),
        ("INTERFACE RATE", &rates.interfaces),
        ("REASON RATE", &rates.reasons),
    ] {
        let busy: Vec<(&String, &Rate)> = section.iter().filter(|(_, r)| r.pps > 0.0).collect();
        if busy.is_empty() {
            continue;
        }
        out.push_str(&format!(
            "{title:<40} {:>16} {:>16}\n",
            "PACKETS/S", "BITS/S"
        ));
        for (name, r) in busy {
            out.push_str(&format!(
                "{:<40} {:>16.1} {:>16.0}\n",
                fit(name, 40),
                r.pps,
                r.bits_per_second
            ));
        }
    }
    if out.is_empty() {
        out.push_str("(no traffic since the last refresh)\n");
    }
    out
}

/// Widest line of the text output: a standard terminal.
pub const WIDTH: usize = 80;

/// `text` in at most `width` characters: cut with `…` when longer.
fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_owned()
    } else {
        let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

/// Human-readable tables, each line at most [`WIDTH`] columns: conduits, what was done with
/// and why inspection denied (per conduit), every reason with traffic, the interfaces, and the
/// event counters.
pub fn render(stats: &Stats) -> String {
    let mut out = String::new();
    let policy = &stats.policy;
    out.push_str(&fit(
        &format!(
            "policy {} (sha256 {}, generation {})",
            policy.name,
            &policy.hash[..policy.hash.len().min(12)],
            policy.generation
        ),
        WIDTH,
    ));
    out.push_str("\n\n");
    out.push_str(&format!(
        "{:<28} {:<22} {:>12} {:>14}\n",
        "CONDUIT", "FROM -> TO", "PACKETS", "BYTES"
    ));
    for c in &stats.conduits {
        let path = format!("{} -> {}", c.from, c.to);
        out.push_str(&format!(
            "{:<28} {:<22} {:>12} {:>14}\n",
            fit(&c.name, 28),
            fit(&path, 22),
            c.packets,
            c.bytes
        ));
    }
    // Every rule with the packets the lookup matched to it; a rule at 0 is marked unused.
    if stats.conduits.iter().any(|c| !c.rules.is_empty()) {
        out.push('\n');
        out.push_str(&format!(
            "{:>5} {:<21} {:<26} {:>12} {:>12}\n",
            "RULE", "CONDUIT", "MATCH", "PACKETS", "BYTES"
        ));
        for c in &stats.conduits {
            for r in &c.rules {
                let bytes = if r.packets == 0 {
                    "unused".to_owned()
                } else {
                    r.bytes.to_string()
                };
                out.push_str(&format!(
                    "{:>5} {:<21} {:<26} {:>12} {:>12}\n",
                    r.id,
                    fit(&c.name, 21),
                    fit(&r.rule, 26),
                    r.packets,
                    bytes
                ));
            }
        }
    }
    // What was done with inspection denies, for the conduits that had any.
    let violations: Vec<&ConduitCounter> = stats
        .conduits
        .iter()
        .filter(|c| c.actions.values().any(|a| a.packets != 0))
        .collect();
    if !violations.is_empty() {
        out.push('\n');
        out.push_str(&format!(
            "{:<24} {:<12} {:>9} {:>9} {:>9} {:>9}\n",
            "VIOLATIONS OF CONDUIT", "ON_VIOLATION", "RESET", "EXCEPTION", "DROP", "ALERT"
        ));
        for c in violations {
            out.push_str(&format!(
                "{:<24} {:<12} {:>9} {:>9} {:>9} {:>9}\n",
                fit(&c.name, 24),
                c.on_violation,
                c.action_packets("reset"),
                c.action_packets("exception"),
                c.action_packets("drop"),
                c.action_packets("alert"),
            ));
        }
    }
    // Why: the inspection denies of each conduit, by reason, those with a count only.
    let denies: Vec<(&str, &str, &Count)> = stats
        .conduits
        .iter()
        .flat_map(|c| {
            c.denied
                .iter()
                .filter(|(_, d)| d.packets != 0)
                .map(move |(reason, d)| (c.name.as_str(), reason.as_str(), d))
        })
        .collect();
    if !denies.is_empty() {
        out.push('\n');
        out.push_str(&format!(
            "{:<28} {:<22} {:>12} {:>14}\n",
            "DENIED BY CONDUIT", "REASON", "PACKETS", "BYTES"
        ));
        for (conduit, reason, d) in denies {
            out.push_str(&format!(
                "{:<28} {:<22} {:>12} {:>14}\n",
                fit(conduit, 28),
                fit(reason, 22),
                d.packets,
                d.bytes
            ));
        }
    }
    out.push('\n');
    out.push_str(&format!(
        "{:<28} {:<8} {:>12} {:>14}\n",
        "REASON", "VERDICT", "PACKETS", "BYTES"
    ));
    for r in stats.reasons.iter().filter(|r| r.packets != 0) {
        let verdict = if r.passes { "pass" } else { "drop" };
        out.push_str(&format!(
            "{:<28} {:<8} {:>12} {:>14}\n",
            fit(&r.reason, 28),
            verdict,
            r.packets,
            r.bytes
        ));
    }
    if !stats.interfaces.is_empty() {
        out.push('\n');
        out.push_str(&format!(
            "{:<16} {:>15} {:>15} {:>15} {:>15}\n",
            "INTERFACE", "PASSED PKTS", "PASSED BYTES", "DROPPED PKTS", "DROPPED BYTES"
        ));
        for i in &stats.interfaces {
            out.push_str(&format!(
                "{:<16} {:>15} {:>15} {:>15} {:>15}\n",
                fit(&i.name, 16),
                i.passed.packets,
                i.passed.bytes,
                i.dropped.packets,
                i.dropped.bytes
            ));
        }
    }
    let e = &stats.events;
    out.push_str(&format!(
        "\nevents: {} sent, {} rate-limited, {} lost (ring full)\n  rate-limited by class: inspection {}, policy {}, flood {}\n",
        e.sent,
        e.rate_limited,
        e.ring_full,
        e.suppressed.inspection,
        e.suppressed.policy,
        e.suppressed.flood,
    ));
    let c = &stats.capture;
    if c.sent + c.rate_limited + c.ring_full != 0 {
        out.push_str(&format!(
            "capture: {} frames copied, {} rate-limited, {} lost (ring full)\n",
            c.sent, c.rate_limited, c.ring_full
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::stats::{EventCounters, PolicyIdentity, ReasonCounter};

    fn conduit(name: &str, to: &str, packets: u64, on_violation: &str) -> ConduitCounter {
        ConduitCounter {
            id: 1,
            name: name.into(),
            from: "a".into(),
            to: to.into(),
            on_violation: on_violation.into(),
            packets,
            bytes: packets * 100,
            denied: BTreeMap::new(),
            actions: BTreeMap::new(),
            rules: Vec::new(),
        }
    }

    fn stats(conduits: Vec<ConduitCounter>, reasons: Vec<ReasonCounter>) -> Stats {
        Stats {
            events: EventCounters::default(),
            interfaces: Vec::new(),
            policy: PolicyIdentity {
                name: "p".into(),
                hash: "0123456789abcdef".into(),
                generation: 1,
            },
            reasons,
            conduits,
            capture: Default::default(),
        }
    }

    fn reason(name: &str, passes: bool, packets: u64) -> ReasonCounter {
        ReasonCounter {
            reason: name.into(),
            passes,
            packets,
            bytes: packets * 60,
        }
    }

    #[test]
    fn rates_are_per_second_deltas() {
        let a = stats(vec![conduit("c1", "b", 10, "drop")], vec![]);
        let b = stats(vec![conduit("c1", "b", 30, "drop")], vec![]);
        let r = rates(&a, &b, 2.0);
        assert_eq!(r.conduits["c1"].pps, 10.0);
        assert_eq!(r.conduits["c1"].bits_per_second, 8000.0);
        assert!(render_rates(Some(&r)).contains("c1"));
        let sample = serde_json::to_value(Sample {
            stats: &b,
            rates: Some(&r),
        })
        .expect("serializes");
        assert_eq!(sample["rates"]["conduits"]["c1"]["pps"], 10.0);
        assert_eq!(
            sample["policy"]["name"], "p",
            "the counters stay at the top level"
        );
    }

    #[test]
    fn renders_conduits_and_only_reasons_with_traffic() {
        let data = stats(
            vec![conduit("c1", "b", 3, "drop")],
            vec![
                reason("allowed_conduit", true, 3),
                reason("default_deny", false, 0),
            ],
        );
        let out = render(&data);
        assert!(out.contains("policy p (sha256 0123456789ab, generation 1)"));
        assert!(out.contains("c1"));
        assert!(out.contains("a -> b"));
        assert!(out.contains("allowed_conduit"));
        assert!(!out.contains("default_deny"));
        assert!(!out.contains("VIOLATIONS"), "no violations, no table");
        assert!(!out.contains("DENIED BY CONDUIT"), "no denies, no table");
    }

    #[test]
    fn renders_the_inspection_denies_of_each_protocol_with_a_count() {
        let counts = |n: u64| count(n, n * 70);
        let mut telecontrol = conduit("telecontrol", "substation", 40, "reset");
        telecontrol.denied = [
            ("iec104_type_id", 3),
            ("iec104_not_started", 1),
            ("iec104_cause", 0),
        ]
        .into_iter()
        .map(|(r, n)| (r.to_owned(), counts(n)))
        .collect();
        let mut poll = conduit("dnp3-poll", "substation", 12, "drop");
        poll.denied = [("dnp3_function", 2), ("dnp3_crc", 0)]
            .into_iter()
            .map(|(r, n)| (r.to_owned(), counts(n)))
            .collect();
        let data = stats(
            vec![telecontrol, poll],
            vec![
                reason("iec104_type_id", false, 3),
                reason("iec104_not_started", false, 1),
                reason("dnp3_function", false, 2),
                reason("stream_out_of_order", false, 5),
                reason("dnp3_crc", false, 0),
            ],
        );
        let out = render(&data);
        let rows: Vec<Vec<&str>> = out
            .lines()
            .skip_while(|l| !l.starts_with("DENIED BY CONDUIT"))
            .skip(1)
            .take_while(|l| !l.is_empty())
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(
            rows,
            [
                ["telecontrol", "iec104_not_started", "1", "70"],
                ["telecontrol", "iec104_type_id", "3", "210"],
                ["dnp3-poll", "dnp3_function", "2", "140"],
            ],
            "{out}"
        );
        // The reason table: the new reasons with traffic, not those without.
        for listed in ["iec104_type_id", "dnp3_function", "stream_out_of_order"] {
            assert!(
                out.lines()
                    .any(|l| l.starts_with(listed) && l.contains("drop")),
                "{listed} missing in\n{out}"
            );
        }
        assert!(
            !out.contains("dnp3_crc") && !out.contains("iec104_cause"),
            "{out}"
        );
        // The JSON keeps every listed reason under its wire name, zero or not.
        let wire = serde_json::to_value(&data).expect("serializes");
        assert_eq!(
            wire["conduits"][0]["denied"]["iec104_type_id"]["packets"],
            3
        );
        assert_eq!(wire["conduits"][0]["denied"]["iec104_cause"]["packets"], 0);
        assert_eq!(wire["conduits"][1]["denied"]["dnp3_function"]["bytes"], 140);
        assert_eq!(wire["reasons"][3]["reason"], "stream_out_of_order");
        assert_eq!(data.reason_packets("iec104_not_started"), 1);
    }

    #[test]
    fn fits_80_columns_with_interfaces_and_denies() {
        use crate::control::stats::InterfaceCounters;
        let long = "a-conduit-name-much-longer-than-any-column-of-the-table";
        let mut c = conduit(
            long,
            "a-zone-with-a-long-name-too",
            99_999_999_999,
            "exception",
        );
        c.denied = [(
            "iec104_common_address".to_owned(),
            count(7, 99_999_999_999_999),
        )]
        .into();
        c.actions = [("exception".to_owned(), count(7, 420))].into();
        let mut data = stats(
            vec![c],
            vec![reason(
                "a_reason_name_that_is_long_enough_to_overflow",
                false,
                7,
            )],
        );
        data.interfaces = vec![InterfaceCounters {
            name: "enp0s31f6.1234".into(),
            passed: count(10, 1000),
            dropped: count(999_999_999_999_999, 999_999_999_999_999),
        }];
        let out = render(&data);
        for line in out.lines() {
            assert!(
                line.chars().count() <= WIDTH,
                "{} columns: {line:?}",
                line.chars().count()
            );
        }
        assert!(out.contains("INTERFACE"), "{out}");
        assert!(
            out.lines()
                .any(|l| l.starts_with("enp0s31f6.1234") && l.contains(" 10 ")),
            "{out}"
        );
        assert!(
            out.lines()
                .any(|l| l.starts_with("a-conduit-name") && l.contains("iec104_common_address")),
            "{out}"
        );
        assert!(out.contains("events: 0 sent"), "{out}");
        let mut later = data.clone();
        later.interfaces[0].passed = count(30, 3000);
        later.conduits[0]
            .denied
            .insert("iec104_type_id".into(), count(4, 400));
        let r = rates(&data, &later, 2.0);
        assert_eq!(r.interfaces["enp0s31f6.1234 passed"].pps, 10.0);
        assert_eq!(r.denied[long].pps, 2.0);
        let text = render_rates(Some(&r));
        for line in text.lines() {
            assert!(line.chars().count() <= WIDTH, "{line:?}");
        }
        assert!(
            text.contains("DENIED BY CONDUIT RATE") && text.contains("INTERFACE RATE"),
            "{text}"
        );
    }

    #[test]
    fn renders_rules_with_their_hits_and_marks_unused_ones() {
        use crate::control::stats::RuleCounter;
        let mut c = conduit("a-conduit-name-longer-than-its-column", "b", 9, "reset");
        c.rules = vec![
            RuleCounter {
                id: 1,
                rule: "tcp 502 modbus with a very long description of it".into(),
                packets: 999_999_999_999,
                bytes: 999_999_999_999,
            },
            RuleCounter {
                id: 65_535,
                rule: "udp 161".into(),
                packets: 0,
                bytes: 0,
            },
        ];
        let mut data = stats(vec![c], vec![]);
        data.capture.sent = 3;
        let out = render(&data);
        for line in out.lines() {
            assert!(line.chars().count() <= WIDTH, "{line:?}");
        }
        let row = |id: &str| {
            out.lines()
                .find(|l| l.split_whitespace().next() == Some(id))
                .unwrap_or_else(|| panic!("no rule {id}:\n{out}"))
                .split_whitespace()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        assert!(out.contains(" RULE CONDUIT"), "{out}");
        assert_eq!(
            row("1")[row("1").len() - 2..],
            ["999999999999", "999999999999"]
        );
        assert_eq!(row("65535")[..2], ["65535", "a-conduit-name-longe…"]);
        assert_eq!(row("65535")[row("65535").len() - 2..], ["0", "unused"]);
        assert!(out.contains("capture: 3 frames copied"), "{out}");
        // Without rules (an old daemon), no table.
        let out = render(&stats(vec![conduit("c", "b", 1, "drop")], vec![]));
        assert!(!out.contains("RULE"), "{out}");
        assert!(!out.contains("capture:"), "{out}");
    }

    #[test]
    fn renders_what_was_done_with_violations() {
        let counts = |n: u64| count(n, n * 60);
        let mut reads = conduit("plc-reads", "b", 9, "reset");
        reads.actions = [("drop", 1), ("alert", 0), ("reset", 4)]
            .into_iter()
            .map(|(a, n)| (a.to_owned(), counts(n)))
            .collect();
        let mut quiet = conduit("quiet", "c", 1, "drop");
        quiet.actions = [("drop", 0), ("alert", 0), ("reset", 0)]
            .into_iter()
            .map(|(a, n)| (a.to_owned(), counts(n)))
            .collect();
        let out = render(&stats(vec![reads, quiet], vec![]));
        let line = out
            .lines()
            .find(|l| l.starts_with("plc-reads") && l.contains("reset"))
            .unwrap_or_else(|| panic!("no violations line in\n{out}"));
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cols, ["plc-reads", "reset", "4", "0", "1", "0"]);
        assert!(
            !out.lines()
                .any(|l| l.starts_with("quiet") && l.contains("drop"))
        );
    }
}
