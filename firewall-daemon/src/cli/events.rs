//! `zcfw events`: denied and alerted packets, from the running daemon.

use std::io::Write;

use super::{EXIT_ERROR, EXIT_OK, SocketArgs, print_error};
use crate::control::{
    self,
    event::{EventLine, Notice, PacketEvent},
};

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
    let lines = match control::events(&args.socket.socket, args.follow) {
        Ok(lines) => lines,
        Err(err) => {
            print_error(&anyhow::Error::new(err));
            return EXIT_ERROR;
        }
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for line in lines {
        let text = if args.json {
            line
        } else {
            match serde_json::from_str::<EventLine>(&line) {
                Ok(event) => render(&event),
                // A line this build cannot read is shown as it came.
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
pub fn render(event: &EventLine) -> String {
    match event {
        EventLine::Missed { missed_events } => {
            format!("... {missed_events} events missed (this client was too slow)")
        }
        EventLine::Notice(Notice::Attachment(a)) => {
            format!("{} {} {}: {}", a.time, a.action, a.interface, a.detail)
        }
        EventLine::Notice(Notice::Control(c)) => format!(
            "{} {} `zcfw {}` by {} (uid {}, pid {}, {}): {}",
            c.time,
            c.action,
            c.what,
            c.user,
            c.uid,
            c.pid.map_or_else(|| "?".to_owned(), |p| p.to_string()),
            c.command,
            c.result
        ),
        EventLine::Packet(p) => render_packet(p),
    }
}

fn render_packet(p: &PacketEvent) -> String {
    let dash = |v: Option<&String>| v.map_or("-", String::as_str).to_owned();
    let port = |p: Option<u16>| p.map(|p| format!(":{p}")).unwrap_or_default();
    let ip = p.ip.as_ref();
    let mut line = format!(
        "{} {:<5} {:<18} {} {}→{} via {} [{}] {}{} → {}{}",
        p.time,
        p.action,
        p.reason,
        p.interface,
        dash(ip.and_then(|i| i.src_zone.as_ref())),
        dash(ip.and_then(|i| i.dst_zone.as_ref())),
        p.conduit,
        ip.map_or_else(|| "-".to_owned(), |i| i.proto.to_string()),
        dash(ip.map(|i| &i.src)),
        port(ip.and_then(|i| i.src_port)),
        dash(ip.map(|i| &i.dst)),
        port(ip.and_then(|i| i.dst_port)),
    );
    if let Some(m) = &p.modbus {
        let known = |v: Option<String>| v.unwrap_or_else(|| "-".into());
        let function = m
            .function_name
            .clone()
            .or_else(|| m.function.map(|f| f.to_string()));
        line.push_str(&format!(
            " modbus unit {} function {} address {}",
            known(m.unit.map(|u| u.to_string())),
            known(function),
            known(m.address.map(|a| a.to_string())),
        ));
    }
    if let Some(i) = ip.and_then(|i| i.icmp) {
        line.push_str(&format!(" icmp type {} code {}", i.icmp_type, i.code));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> EventLine {
        serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"))
    }

    #[test]
    fn renders_a_modbus_deny() {
        let v = parse(
            r#"{
            "time": "2026-11-23T20:00:00Z", "action": "drop", "reason": "modbus_function",
            "interface": "gw-dmz", "src_zone": "dmz", "dst_zone": "control", "conduit": "historian",
            "generation": 1, "len": 80,
            "proto": "tcp", "src": "10.20.0.2", "src_port": 40000, "dst": "10.30.0.2", "dst_port": 502,
            "protocol": "modbus",
            "modbus": {"unit": 1, "function": 6, "function_name": "write_single_register", "address": 10}
        }"#,
        );
        let line = render(&v);
        assert!(line.contains("modbus_function"));
        assert!(line.contains("dmz→control via historian"));
        assert!(line.contains("10.20.0.2:40000 → 10.30.0.2:502"));
        assert!(line.contains("function write_single_register address 10"));
    }

    #[test]
    fn renders_a_non_ip_deny_and_an_icmp_one() {
        let l2 = parse(
            r#"{"time": "t", "action": "drop", "reason": "l2_denied", "interface": "gw",
            "conduit": "default", "generation": 1, "len": 60}"#,
        );
        assert_eq!(
            render(&l2),
            "t drop  l2_denied          gw -→- via default [-] - → -"
        );
        let icmp = parse(
            r#"{"time": "t", "action": "drop", "reason": "default_deny", "interface": "gw",
            "conduit": "default", "generation": 1, "len": 98, "src_zone": null,
            "dst_zone": "control", "proto": "icmp", "src": "10.9.0.1", "dst": "10.30.0.2",
            "icmp": {"type": 8, "code": 0}}"#,
        );
        let line = render(&icmp);
        assert!(
            line.contains("-→control via default [icmp] 10.9.0.1 → 10.30.0.2"),
            "{line}"
        );
        assert!(line.ends_with(" icmp type 8 code 0"), "{line}");
    }

    #[test]
    fn renders_daemon_events() {
        let v = parse(
            r#"{
            "time": "t", "kind": "control", "action": "refused", "what": "reload",
            "result": "refused: not in group zcfw-admin", "uid": 1001, "user": "alice",
            "pid": 4711, "command": "zcfw reload"
        }"#,
        );
        assert_eq!(
            render(&v),
            "t refused `zcfw reload` by alice (uid 1001, pid 4711, zcfw reload): refused: not in group zcfw-admin"
        );
        let v = parse(
            r#"{
            "time": "t", "kind": "attachment", "action": "xdp_reattached", "interface": "eth1",
            "detail": "its link 7 was detached from the interface; attached again"
        }"#,
        );
        assert_eq!(
            render(&v),
            "t xdp_reattached eth1: its link 7 was detached from the interface; attached again"
        );
        assert_eq!(
            render(&parse(r#"{"missed_events": 12}"#)),
            "... 12 events missed (this client was too slow)"
        );
    }
}
