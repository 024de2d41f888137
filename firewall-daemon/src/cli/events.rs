//! `zcfw events`: denied and alerted packets, from the running daemon.

use std::io::{BufRead, Write};

use serde_json::Value;

use super::{EXIT_ERROR, EXIT_OK, SocketArgs, print_error};
use crate::control;

#[derive(Debug, clap::Args)]
pub struct EventsArgs {
    #[command(flatten)]
    pub socket: SocketArgs,
    /// Keep printing new events as they happen (until interrupted).
    #[arg(long, short)]
    pub follow: bool,
    /// One JSON object per line (the format is documented in docs/events.md).
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &EventsArgs) -> u8 {
    let reader = match control::events(&args.socket.socket, args.follow) {
        Ok(r) => r,
        Err(err) => {
            print_error(&anyhow::Error::new(err));
            return EXIT_ERROR;
        }
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for line in reader.lines() {
        let Ok(line) = line else { break };
        let text = if args.json {
            line
        } else {
            match serde_json::from_str::<Value>(&line) {
                Ok(v) => render(&v),
                Err(_) => line,
            }
        };
        if writeln!(out, "{text}").and_then(|()| out.flush()).is_err() {
            break; // stdout closed (e.g. piped into head)
        }
    }
    EXIT_OK
}

/// One human-readable line: time, action, reason, path, 5-tuple, detail.
pub fn render(v: &Value) -> String {
    if let Some(n) = v.get("missed_events") {
        return format!("... {n} events missed (this client was too slow)");
    }
    let text = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("-").to_owned();
    match v.get("kind").and_then(Value::as_str) {
        Some("attachment") => {
            return format!(
                "{} {} {}: {}",
                text("time"),
                text("action"),
                text("interface"),
                text("detail")
            );
        }
        Some("control") => {
            return format!(
                "{} {} `zcfw {}` by {} (uid {}, pid {}, {}): {}",
                text("time"),
                text("action"),
                text("what"),
                text("user"),
                v["uid"],
                v["pid"],
                text("command"),
                text("result")
            );
        }
        _ => {}
    }
    let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("-").to_owned();
    let port = |k: &str| {
        v.get(k)
            .and_then(Value::as_u64)
            .map(|p| format!(":{p}"))
            .unwrap_or_default()
    };
    let proto = match v.get("proto") {
        Some(Value::String(p)) => p.clone(),
        Some(other) => other.to_string(),
        None => "-".into(),
    };
    let mut line = format!(
        "{} {:<5} {:<18} {} {}→{} via {} [{}] {}{} → {}{}",
        s("time"),
        s("action"),
        s("reason"),
        s("interface"),
        s("src_zone"),
        s("dst_zone"),
        s("conduit"),
        proto,
        s("src"),
        port("src_port"),
        s("dst"),
        port("dst_port"),
    );
    if let Some(m) = v.get("modbus") {
        let f = m
            .get("function_name")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| m.get("function").map(|f| f.to_string()));
        line.push_str(&format!(
            " modbus unit {} function {} address {}",
            m.get("unit")
                .map(|u| u.to_string())
                .unwrap_or_else(|| "-".into()),
            f.unwrap_or_else(|| "-".into()),
            m.get("address")
                .map(|a| a.to_string())
                .unwrap_or_else(|| "-".into()),
        ));
    }
    if let Some(i) = v.get("icmp") {
        line.push_str(&format!(" icmp type {} code {}", i["type"], i["code"]));
    }
    line
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn renders_a_modbus_deny() {
        let v = json!({
            "time": "2026-11-23T20:00:00Z", "action": "drop", "reason": "modbus_function",
            "interface": "gw-dmz", "src_zone": "dmz", "dst_zone": "control", "conduit": "historian",
            "proto": "tcp", "src": "10.20.0.2", "src_port": 40000, "dst": "10.30.0.2", "dst_port": 502,
            "modbus": {"unit": 1, "function": 6, "function_name": "write_single_register", "address": 10}
        });
        let line = render(&v);
        assert!(line.contains("modbus_function"));
        assert!(line.contains("dmz→control via historian"));
        assert!(line.contains("10.20.0.2:40000 → 10.30.0.2:502"));
        assert!(line.contains("function write_single_register address 10"));
    }

    #[test]
    fn renders_daemon_events() {
        let v = json!({
            "time": "t", "kind": "control", "action": "refused", "what": "reload",
            "result": "refused: not in group zcfw-admin", "uid": 1001, "user": "alice",
            "pid": 4711, "command": "zcfw reload"
        });
        assert_eq!(
            render(&v),
            "t refused `zcfw reload` by alice (uid 1001, pid 4711, zcfw reload): refused: not in group zcfw-admin"
        );
        let v = json!({
            "time": "t", "kind": "attachment", "action": "xdp_reattached", "interface": "eth1",
            "detail": "its link 7 was detached from the interface; attached again"
        });
        assert_eq!(
            render(&v),
            "t xdp_reattached eth1: its link 7 was detached from the interface; attached again"
        );
    }
}
