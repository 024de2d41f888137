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
}

pub fn run(args: &StatsArgs) -> u8 {
    match control::call(&args.socket.socket, &Request::Stats) {
        Ok(data) => {
            if args.json {
                println!("{data}");
            } else {
                print!("{}", render(&data));
            }
            EXIT_OK
        }
        Err(err) => {
            print_error(&anyhow::Error::new(err));
            EXIT_ERROR
        }
    }
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
    }
}
