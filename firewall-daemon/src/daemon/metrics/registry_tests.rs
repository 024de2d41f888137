//! The exposition of a scrape: HELP and TYPE for every family in both formats, OpenMetrics'
//! `_total` and `# EOF`, the new series, the per-conduit cardinality, and `promtool check
//! metrics` on the Prometheus text format where promtool is installed (required under CI).

use std::collections::{BTreeMap, BTreeSet};

use firewall_common::maps::Counter;

use super::*;
use crate::{
    compile::{self, CompiledPolicy},
    daemon::metrics::exposition::Format,
    policy,
};

/// One conduit per kind: plain, Modbus (reset, the default), IEC 104 in monitor mode, DNP3
/// with `on_violation: drop`, Modbus with `on_violation: exception`.
const POLICY: &str = "\
version: 1
name: metrics-test
interfaces: [{ name: eth0 }]
zones:
  a: { security_level: 1, networks: [10.1.0.0/24] }
  b: { security_level: 2, networks: [10.2.0.0/24] }
conduits:
  - { name: plain, from: a, to: b, rules: [{ protocol: tcp, ports: [80] }] }
  - name: plc-reads
    from: a
    to: b
    rules: [{ protocol: modbus, modbus: { unit_ids: [1], read_only: true } }]
  - name: telecontrol
    from: b
    to: a
    mode: monitor
    rules: [{ protocol: iec104, iec104: { read_only: true } }]
  - name: dnp3-poll
    from: a
    to: b
    on_violation: drop
    rules: [{ protocol: dnp3, dnp3: { read_only: true } }]
  - name: plc-writes
    from: b
    to: a
    on_violation: exception
    rules: [{ protocol: modbus, ports: [5020], modbus: { unit_ids: [1], read_only: true } }]
";

fn compiled() -> CompiledPolicy {
    let validated = match policy::load_str(POLICY, "metrics-test.yaml") {
        Ok(v) => v,
        Err(e) => panic!("invalid test policy:\n{e}"),
    };
    compile::compile(&validated).unwrap_or_else(|e| panic!("compile: {e}"))
}

/// Counters as the kernel would hold them: every reason and action slot of every conduit,
/// zero except `plain`'s `modbus_function` deny (3 packets: a conduit that does not inspect
/// Modbus, but counted one, lists it) and `plc-reads`' 2 resets.
fn snapshot(policy: &CompiledPolicy) -> CounterSnapshot {
    let ids = policy
        .conduits
        .iter()
        .map(|c| c.id as usize)
        .max()
        .unwrap_or(0)
        + 1;
    let count = |packets| Counter {
        packets,
        bytes: packets * 60,
    };
    let id = |name: &str| {
        policy
            .conduits
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.id as usize)
            .expect("conduit")
    };
    let mut conduit_denies: Vec<Vec<(Reason, Counter)>> = (0..ids)
        .map(|_| {
            Reason::ALL
                .iter()
                .filter(|r| r.is_inspection())
                .map(|r| (*r, count(0)))
                .collect()
        })
        .collect();
    for (r, c) in &mut conduit_denies[id("plain")] {
        if *r == Reason::ModbusFunction {
            *c = count(3);
        }
    }
    let mut conduit_actions: Vec<Vec<(u8, Counter)>> = (0..ids)
        .map(|_| action::ALL.iter().map(|a| (*a, count(0))).collect())
        .collect();
    conduit_actions[id("plc-reads")][action::RESET as usize].1 = count(2);
    CounterSnapshot {
        reasons: Reason::ALL.iter().map(|r| (*r, count(1))).collect(),
        conduits: (0..ids).map(|i| count(i as u64 * 10)).collect(),
        conduit_denies,
        conduit_actions,
    }
}

fn scrape() -> Scrape {
    let policy = compiled();
    let snapshot = snapshot(&policy);
    let listing = DenyListing::of(policy.conduit_entries.iter().map(|(_, a)| a));
    let mut reloads = ReloadStats::default();
    reloads.record(true);
    reloads.record(false);
    // Rule counters by id: rule 1 (`plain`'s) matched 7 packets, the others none.
    let mut rules = vec![Counter::default(); 6];
    rules[1] = Counter {
        packets: 7,
        bytes: 420,
    };
    Scrape {
        conduits: policy
            .conduits
            .iter()
            .map(|c| ConduitSample {
                rules: rule_samples(c, &rules),
                ..conduit_sample(c, &snapshot, &listing, false)
            })
            .collect(),
        reasons: snapshot.reasons,
        interfaces: vec![InterfaceSample {
            name: "eth0".into(),
            passed: Counter {
                packets: 5,
                bytes: 500,
            },
            dropped: Counter {
                packets: 1,
                bytes: 60,
            },
            attached: true,
        }],
        xdp_repairs: 0,
        events: crate::dataplane::EventPathCounters {
            sent: 10,
            ring_full: 30,
            suppressed: [5, 7, 8],
        },
        generation: 3,
        policy_name: policy.name.clone(),
        policy_hash: policy.hash.clone(),
        load_seconds: 0.25,
        loaded_at: 1_765_000_000.5,
        process_start: 1_764_999_990.25,
        uptime_seconds: 10.5,
        island: true,
        monitor: false,
        monitor_conduits: 1,
        conntrack_entries: 42,
        reloads,
    }
}

/// Families by name with their HELP and TYPE, and the sample names of the text.
struct Exposition {
    help: BTreeMap<String, String>,
    kind: BTreeMap<String, String>,
    samples: Vec<(String, String, f64)>,
}

fn parse(text: &str) -> Exposition {
    let mut e = Exposition {
        help: BTreeMap::new(),
        kind: BTreeMap::new(),
        samples: Vec::new(),
    };
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("HELP name text");
            assert!(
                e.help.insert(name.into(), help.into()).is_none(),
                "two HELP for {name}"
            );
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(
                e.kind.insert(name.into(), kind.into()).is_none(),
                "two TYPE for {name}"
            );
        } else if line.starts_with('#') {
            assert_eq!(line, "# EOF", "unexpected comment");
        } else {
            let (series, value) = line.rsplit_once(' ').expect("sample value");
            let (name, labels) = series.split_once('{').unwrap_or((series, ""));
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("value of {line}"));
            e.samples
                .push((name.into(), labels.trim_end_matches('}').into(), value));
        }
    }
    e
}

impl Exposition {
    fn value(&self, name: &str, labels: &str) -> Option<f64> {
        self.samples
            .iter()
            .find(|(n, l, _)| n == name && l == labels)
            .map(|(_, _, v)| *v)
    }

    fn count(&self, name: &str, label: &str) -> usize {
        self.samples
            .iter()
            .filter(|(n, l, _)| n == name && l.contains(label))
            .count()
    }
}

#[test]
fn every_family_has_help_and_type_in_both_formats() {
    let om = scrape().encode().expect("encode");
    assert!(om.ends_with("\n# EOF\n"), "{om}");
    let text = Format::PrometheusText.encode(om.clone());
    for (format, body) in [("OpenMetrics", &om), ("text 0.0.4", &text)] {
        let e = parse(body);
        assert_eq!(
            e.help.keys().collect::<Vec<_>>(),
            e.kind.keys().collect::<Vec<_>>(),
            "{format}: HELP and TYPE name the same families"
        );
        for (name, help) in &e.help {
            assert!(
                !help.trim().is_empty(),
                "{format}: {name} has an empty HELP"
            );
        }
        for (sample, _, _) in &e.samples {
            // A sample belongs to the family of its name, or (OpenMetrics) of its name less
            // the counter's `_total` or the info's `_info`.
            let family = [sample.as_str()]
                .into_iter()
                .chain(sample.strip_suffix("_total"))
                .chain(sample.strip_suffix("_info"))
                .find(|f| e.kind.contains_key(*f));
            let Some(family) = family else {
                panic!("{format}: sample {sample} has no TYPE:\n{body}");
            };
            let kind = &e.kind[family];
            if kind == "counter" {
                assert!(sample.ends_with("_total"), "{format}: counter {sample}");
            } else {
                assert!(!sample.ends_with("_total"), "{format}: {kind} {sample}");
            }
            if format == "text 0.0.4" {
                assert_eq!(sample, family, "0.0.4 names a family as its samples");
            }
        }
    }
    // OpenMetrics names counter and info families without the suffix, 0.0.4 with it.
    let (om, text) = (parse(&om), parse(&text));
    assert_eq!(
        om.kind.get("zcfw_packets").map(String::as_str),
        Some("counter")
    );
    assert_eq!(om.kind.get("zcfw_build").map(String::as_str), Some("info"));
    assert_eq!(
        text.kind.get("zcfw_packets_total").map(String::as_str),
        Some("counter")
    );
    assert_eq!(
        text.kind.get("zcfw_build_info").map(String::as_str),
        Some("gauge")
    );
    assert!(!text.kind.contains_key("zcfw_packets"));
}

#[test]
fn the_new_series() {
    let e = parse(&Format::PrometheusText.encode(scrape().encode().expect("encode")));
    let build = format!(
        "abi=\"{}\",version=\"{}\"",
        firewall_common::ABI_VERSION,
        env!("CARGO_PKG_VERSION")
    );
    let build_labels = e
        .samples
        .iter()
        .find(|(n, _, _)| n == "zcfw_build_info")
        .map(|(_, l, v)| {
            let mut l: Vec<&str> = l.split(',').collect();
            l.sort();
            (l.join(","), *v)
        });
    assert_eq!(build_labels, Some((build, 1.0)));
    for (name, labels, want) in [
        ("process_start_time_seconds", "", 1_764_999_990.25),
        ("zcfw_island_mode", "", 1.0),
        ("zcfw_monitor_mode", "", 0.0),
        ("zcfw_monitor_conduits", "", 1.0),
        ("zcfw_conntrack_entries", "", 42.0),
        ("zcfw_conntrack_capacity", "", f64::from(capacity::FLOWS)),
        ("zcfw_reloads_total", "result=\"ok\"", 1.0),
        ("zcfw_reloads_total", "result=\"refused\"", 1.0),
        ("zcfw_reload_last_success", "", 0.0),
        ("zcfw_events_total", "outcome=\"sent\"", 10.0),
        ("zcfw_events_total", "outcome=\"rate_limited\"", 20.0),
        ("zcfw_events_total", "outcome=\"ring_full\"", 30.0),
        ("zcfw_events_suppressed_total", "class=\"inspection\"", 5.0),
        ("zcfw_events_suppressed_total", "class=\"policy\"", 7.0),
        ("zcfw_events_suppressed_total", "class=\"flood\"", 8.0),
        ("zcfw_policy_generation", "", 3.0),
        ("zcfw_policy_loaded_timestamp_seconds", "", 1_765_000_000.0),
        ("zcfw_xdp_attached", "interface=\"eth0\"", 1.0),
    ] {
        assert_eq!(e.value(name, labels), Some(want), "{name}{{{labels}}}");
    }
    let last = e
        .value("zcfw_reload_last_timestamp_seconds", "")
        .expect("last reload time");
    let now = unix_seconds(SystemTime::now());
    assert!(last <= now && last > now - 60.0, "{last} vs {now}");
    // No reload yet: time 0, and nothing failed.
    let mut fresh = scrape();
    fresh.reloads = ReloadStats::default();
    let e = parse(&fresh.encode().expect("encode"));
    assert_eq!(e.value("zcfw_reload_last_timestamp_seconds", ""), Some(0.0));
    assert_eq!(e.value("zcfw_reload_last_success", ""), Some(1.0));
    assert_eq!(e.value("zcfw_reloads_total", "result=\"ok\""), Some(0.0));
}

#[test]
fn per_conduit_series_only_where_they_can_count() {
    let e = parse(&Format::PrometheusText.encode(scrape().encode().expect("encode")));
    let conduit = |name: &str| format!("conduit=\"{name}\"");
    let denied = |name: &str| e.count("zcfw_conduit_denied_packets_total", &conduit(name));
    let actions = |name: &str| {
        let mut got: Vec<String> = e
            .samples
            .iter()
            .filter(|(n, l, _)| {
                n == "zcfw_conduit_violation_actions_packets_total" && l.contains(&conduit(name))
            })
            .map(|(_, l, _)| {
                l.split("action=\"")
                    .nth(1)
                    .unwrap_or("")
                    .trim_end_matches('"')
                    .to_owned()
            })
            .collect();
        got.sort();
        got
    };
    // A conduit that inspects nothing: its packets and bytes, and a deny it did count.
    assert_eq!(denied("plain"), 1);
    assert_eq!(
        e.value(
            "zcfw_conduit_denied_packets_total",
            "conduit=\"plain\",reason=\"modbus_function\""
        ),
        Some(3.0)
    );
    assert!(actions("plain").is_empty());
    // Modbus 5 reasons, IEC 104 6, DNP3 6.
    assert_eq!(denied("plc-reads"), 5);
    assert_eq!(denied("plc-writes"), 5);
    assert_eq!(denied("telecontrol"), 6);
    assert_eq!(denied("dnp3-poll"), 6);
    assert_eq!(actions("plc-reads"), ["drop", "reset"]);
    assert_eq!(
        e.value(
            "zcfw_conduit_violation_actions_packets_total",
            "conduit=\"plc-reads\",action=\"reset\""
        ),
        Some(2.0)
    );
    assert_eq!(actions("plc-writes"), ["drop", "exception", "reset"]);
    assert_eq!(actions("telecontrol"), ["alert"]);
    assert_eq!(actions("dnp3-poll"), ["drop"]);
    for name in [
        "plain",
        "plc-reads",
        "telecontrol",
        "dnp3-poll",
        "plc-writes",
    ] {
        assert_eq!(e.count("zcfw_conduit_packets_total", &conduit(name)), 1);
        assert_eq!(e.count("zcfw_conduit_bytes_total", &conduit(name)), 1);
        // One rule each: one series per rule, zero or not.
        assert_eq!(e.count("zcfw_rule_packets_total", &conduit(name)), 1);
    }
    assert_eq!(
        e.value("zcfw_rule_packets_total", "conduit=\"plain\",rule=\"1\""),
        Some(7.0)
    );
    assert_eq!(
        e.value(
            "zcfw_rule_packets_total",
            "conduit=\"plc-writes\",rule=\"5\""
        ),
        Some(0.0)
    );
    // The whole policy in monitor mode: an inspecting conduit's denies can only be alerts.
    let policy = compiled();
    let snapshot = snapshot(&policy);
    let listing = DenyListing::of(policy.conduit_entries.iter().map(|(_, a)| a));
    let writes = policy
        .conduits
        .iter()
        .find(|c| c.name == "plc-writes")
        .expect("conduit");
    let sample = conduit_sample(writes, &snapshot, &listing, true);
    assert_eq!(
        sample.actions.iter().map(|(a, _)| *a).collect::<Vec<_>>(),
        [action::ALERT]
    );
}

/// `promtool check metrics` on the Prometheus text format. Skipped (with a message) only
/// where promtool is not installed and this is not CI (`cargo xtask setup` installs it).
#[test]
fn promtool_accepts_the_text_format() {
    let text = Format::PrometheusText.encode(scrape().encode().expect("encode"));
    let Some(result) = promtool_check(&text) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "promtool is not installed (Debian package `prometheus`; `cargo xtask setup`)"
        );
        eprintln!(
            "SKIPPED promtool_accepts_the_text_format: promtool is not installed \
             (apt-get install prometheus, or `cargo xtask setup`)"
        );
        return;
    };
    let (ok, output) = result;
    assert!(ok, "promtool check metrics failed:\n{output}\n---\n{text}");
    // promtool's linter finds nothing to complain about (it exits 0 on some findings too).
    assert!(output.trim().is_empty(), "promtool:\n{output}\n---\n{text}");
}

/// Runs `promtool check metrics` on `text`: `None` when promtool is not installed, else
/// whether it passed and what it printed.
pub(crate) fn promtool_check(text: &str) -> Option<(bool, String)> {
    use std::{
        io::Write,
        process::{Command, Stdio},
    };
    let mut child = match Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => panic!("cannot run promtool: {e}"),
    };
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write to promtool");
    let out = child.wait_with_output().expect("promtool");
    Some((
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    ))
}

#[test]
fn the_sample_names_are_unique_series() {
    let e = parse(&scrape().encode().expect("encode"));
    let mut seen = BTreeSet::new();
    for (name, labels, _) in &e.samples {
        assert!(seen.insert((name, labels)), "{name}{{{labels}}} twice");
    }
}
