//! `zcfw stats`: counters of the running daemon.

use serde_json::Value;

use super::{EXIT_ERROR, EXIT_OK, SocketArgs, print_error};
use crate::control::{self, Request};

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
    super::query_and_print(&args.socket.socket, &Request::Stats, args.json, render)
}

/// `--watch`: refresh with rates computed from the previous sample.
fn watch(args: &StatsArgs, interval: f64) -> u8 {
    use std::io::{IsTerminal, Write};
    let interval = std::time::Duration::from_secs_f64(interval.max(0.1));
    let mut previous: Option<(Value, std::time::Instant)> = None;
    loop {
        let data = match control::call(&args.socket.socket, &Request::Stats) {
            Ok(d) => d,
            Err(err) => {
                print_error(&anyhow::Error::new(err));
                return EXIT_ERROR;
            }
        };
        let now = std::time::Instant::now();
        let rates = previous
            .as_ref()
            .map(|(prev, at)| rates(prev, &data, now.duration_since(*at).as_secs_f64()));
        let mut out = std::io::stdout().lock();
        let written = if args.json {
            let mut data = data.clone();
            data["rates"] = rates.clone().unwrap_or(Value::Null);
            writeln!(out, "{data}")
        } else {
            let clear = if std::io::stdout().is_terminal() {
                "\x1b[2J\x1b[H"
            } else {
                ""
            };
            writeln!(
                out,
                "{clear}{}{}",
                render(&data),
                render_rates(rates.as_ref())
            )
        };
        if written.and_then(|()| out.flush()).is_err() {
            return EXIT_OK;
        }
        previous = Some((data, now));
        std::thread::sleep(interval);
    }
}

/// Per-second rates between two samples: `{"conduits": {name: {pps, bps}}, "reasons": {...}}`.
fn rates(prev: &Value, cur: &Value, seconds: f64) -> Value {
    let per = |section: &str, key: &str| -> serde_json::Map<String, Value> {
        let index = |v: &Value| -> std::collections::HashMap<String, (u64, u64)> {
            v[section]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| {
                    (
                        text(e, key).to_owned(),
                        (num(e, "packets"), num(e, "bytes")),
                    )
                })
                .collect()
        };
        let (before, after) = (index(prev), index(cur));
        after
            .iter()
            .filter_map(|(name, &(p, b))| {
                let &(p0, b0) = before.get(name)?;
                let pps = p.saturating_sub(p0) as f64 / seconds.max(1e-9);
                let bps = b.saturating_sub(b0) as f64 * 8.0 / seconds.max(1e-9);
                Some((
                    name.clone(),
                    serde_json::json!({ "pps": pps, "bits_per_second": bps }),
                ))
            })
            .collect()
    };
    serde_json::json!({ "seconds": seconds, "conduits": per("conduits", "name"), "reasons": per("reasons", "reason") })
}

fn render_rates(rates: Option<&Value>) -> String {
    let Some(rates) = rates else {
        return "(rates from the next refresh on)\n".to_owned();
    };
    let mut out = format!("{:<32} {:>12} {:>14}\n", "RATE", "PACKETS/S", "BITS/S");
    for section in ["conduits", "reasons"] {
        let mut rows: Vec<(&String, &Value)> =
            rates[section].as_object().into_iter().flatten().collect();
        rows.sort_by(|a, b| a.0.cmp(b.0));
        for (name, r) in rows {
            let pps = r["pps"].as_f64().unwrap_or(0.0);
            if pps > 0.0 {
                let bps = r["bits_per_second"].as_f64().unwrap_or(0.0);
                out.push_str(&format!("{:<32} {:>12.1} {:>14.0}\n", name, pps, bps));
            }
        }
    }
    out
}

fn num(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("?")
}

/// Human-readable tables: conduits, then every reason with traffic (passes, then drops).
pub fn render(data: &Value) -> String {
    let mut out = String::new();
    let policy = &data["policy"];
    let hash = text(policy, "hash");
    out.push_str(&format!(
        "policy {} (sha256 {}, generation {})\n\n",
        text(policy, "name"),
        &hash[..hash.len().min(12)],
        num(policy, "generation")
    ));
    out.push_str(&format!(
        "{:<32} {:<24} {:>12} {:>14}\n",
        "CONDUIT", "FROM -> TO", "PACKETS", "BYTES"
    ));
    for c in data["conduits"].as_array().into_iter().flatten() {
        let path = format!("{} -> {}", text(c, "from"), text(c, "to"));
        out.push_str(&format!(
            "{:<32} {:<24} {:>12} {:>14}\n",
            text(c, "name"),
            path,
            num(c, "packets"),
            num(c, "bytes")
        ));
    }
    // What was done with inspection denies, for the conduits that had any.
    let violations: Vec<&Value> = data["conduits"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| {
            c["actions"]
                .as_object()
                .is_some_and(|a| a.values().any(|v| num(v, "packets") != 0))
        })
        .collect();
    if !violations.is_empty() {
        out.push('\n');
        out.push_str(&format!(
            "{:<32} {:<12} {:>10} {:>10} {:>10} {:>10}\n",
            "VIOLATIONS OF CONDUIT", "ON_VIOLATION", "RESET", "EXCEPTION", "DROP", "ALERT"
        ));
        for c in violations {
            let a = &c["actions"];
            out.push_str(&format!(
                "{:<32} {:<12} {:>10} {:>10} {:>10} {:>10}\n",
                text(c, "name"),
                text(c, "on_violation"),
                num(&a["reset"], "packets"),
                num(&a["exception"], "packets"),
                num(&a["drop"], "packets"),
                num(&a["alert"], "packets"),
            ));
        }
    }
    out.push('\n');
    out.push_str(&format!(
        "{:<32} {:<8} {:>12} {:>14}\n",
        "REASON", "VERDICT", "PACKETS", "BYTES"
    ));
    for r in data["reasons"].as_array().into_iter().flatten() {
        if num(r, "packets") == 0 {
            continue;
        }
        let verdict = if r.get("passes").and_then(Value::as_bool).unwrap_or(false) {
            "pass"
        } else {
            "drop"
        };
        out.push_str(&format!(
            "{:<32} {:<8} {:>12} {:>14}\n",
            text(r, "reason"),
            verdict,
            num(r, "packets"),
            num(r, "bytes")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn rates_are_per_second_deltas() {
        let a = json!({"conduits": [{"name": "c1", "packets": 10, "bytes": 1000}], "reasons": []});
        let b = json!({"conduits": [{"name": "c1", "packets": 30, "bytes": 3000}], "reasons": []});
        let r = rates(&a, &b, 2.0);
        assert_eq!(r["conduits"]["c1"]["pps"], json!(10.0));
        assert_eq!(r["conduits"]["c1"]["bits_per_second"], json!(8000.0));
        assert!(render_rates(Some(&r)).contains("c1"));
    }

    #[test]
    fn renders_conduits_and_only_reasons_with_traffic() {
        let data = json!({
            "policy": {"name": "p", "hash": "0123456789abcdef", "generation": 1},
            "reasons": [
                {"reason": "allowed_conduit", "passes": true, "packets": 3, "bytes": 180},
                {"reason": "default_deny", "passes": false, "packets": 0, "bytes": 0}
            ],
            "conduits": [{"id": 1, "name": "c1", "from": "a", "to": "b", "packets": 3, "bytes": 180}]
        });
        let out = render(&data);
        assert!(out.contains("policy p (sha256 0123456789ab, generation 1)"));
        assert!(out.contains("c1"));
        assert!(out.contains("a -> b"));
        assert!(out.contains("allowed_conduit"));
        assert!(!out.contains("default_deny"));
        assert!(!out.contains("VIOLATIONS"), "no violations, no table");
    }

    #[test]
    fn renders_what_was_done_with_violations() {
        let counts = |n: u64| json!({"packets": n, "bytes": n * 60});
        let data = json!({
            "policy": {"name": "p", "hash": "0123456789abcdef", "generation": 1},
            "reasons": [],
            "conduits": [
                {"id": 1, "name": "plc-reads", "from": "a", "to": "b", "packets": 9, "bytes": 900,
                 "on_violation": "reset",
                 "actions": {"drop": counts(1), "alert": counts(0), "reset": counts(4)}},
                {"id": 2, "name": "quiet", "from": "a", "to": "c", "packets": 1, "bytes": 60,
                 "on_violation": "drop",
                 "actions": {"drop": counts(0), "alert": counts(0), "reset": counts(0)}}
            ]
        });
        let out = render(&data);
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
