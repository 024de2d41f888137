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
    let known = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    // A name with its code (`C_SC_NA_1 (45)`), the code alone, or `-`.
    let named = |name: &Option<String>, code: Option<u8>| match (name, code) {
        (Some(name), Some(code)) => format!("{name} ({code})"),
        (None, Some(code)) => code.to_string(),
        _ => "-".to_owned(),
    };
    if let Some(m) = &p.modbus {
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
    if let Some(i) = &p.iec104 {
        let mut cause = known(i.cause.map(|c| c.to_string()));
        for (set, flag) in [(i.negative, "negative"), (i.test, "test")] {
            if set == Some(true) {
                cause.push_str(&format!(" {flag}"));
            }
        }
        line.push_str(&format!(
            " iec104 type {} cause {} ca {}",
            named(&i.type_name, i.type_id),
            cause,
            known(i.common_address.map(|a| a.to_string())),
        ));
    }
    if let Some(d) = &p.dnp3 {
        line.push_str(&format!(
            " dnp3 function {} address {}",
            named(&d.function_name, d.function),
            known(d.address.map(|a| a.to_string())),
        ));
    }
    if let Some(d) = &p.s7comm {
        line.push_str(&s7comm_text(d));
    }
    if p.modbus.is_none()
        && p.iec104.is_none()
        && p.dnp3.is_none()
        && p.s7comm.is_none()
        && let Some(protocol) = &p.protocol
    {
        line.push_str(&format!(" {protocol}"));
    }
    if let Some(i) = ip.and_then(|i| i.icmp) {
        line.push_str(&format!(" icmp type {} code {}", i.icmp_type, i.code));
    }
    line
}

/// ` s7comm function plc_stop (0x29)`, ` s7comm userdata clock_set (group 7, subfunction 2)`,
/// ` s7comm function write_var (0x05) area db (0x84) db 3`, ` s7comm tsap 0x0103`.
fn s7comm_text(d: &crate::control::event::S7commDetail) -> String {
    let mut out = String::from(" s7comm");
    if let Some(code) = d.function {
        match &d.function_name {
            Some(name) => out.push_str(&format!(" function {name} ({code:#04x})")),
            None => out.push_str(&format!(" function {code:#04x}")),
        }
    }
    if let Some(group) = d.userdata_group {
        let sub = d
            .userdata_subfunction
            .map_or("-".to_owned(), |s| s.to_string());
        out.push_str(&format!(
            " userdata {} (group {group}, subfunction {sub})",
            d.userdata_name.as_deref().unwrap_or("-")
        ));
    }
    if let Some(area) = d.area {
        out.push_str(&format!(
            " area {} ({area:#04x})",
            d.area_name.as_deref().unwrap_or("-")
        ));
    }
    if let Some(db) = d.db_number {
        out.push_str(&format!(" db {db}"));
    }
    if let Some(t) = d.tsap {
        out.push_str(&format!(" tsap {t:#06x}"));
    }
    if let Some(t) = d.pdu_type {
        out.push_str(&format!(" pdu type {t:#04x}"));
    }
    out
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

    fn inspection_event(reason: &str, protocol: &str, detail: &str) -> EventLine {
        parse(&format!(
            r#"{{"time": "t", "action": "reset", "reason": "{reason}", "interface": "gw",
            "src_zone": "scada", "dst_zone": "substation", "conduit": "telecontrol",
            "generation": 1, "len": 80, "proto": "tcp", "src": "10.1.0.2", "src_port": 40000,
            "dst": "10.2.0.2", "dst_port": 2404, "protocol": "{protocol}"{detail}}}"#
        ))
    }

    #[test]
    fn renders_iec104_and_dnp3_denies() {
        let line = render(&inspection_event(
            "iec104_type_id",
            "iec104",
            r#", "iec104": {"type_id": 45, "type_name": "C_SC_NA_1", "cause": 6,
                "negative": false, "test": false, "common_address": 1}"#,
        ));
        assert!(
            line.ends_with("10.2.0.2:2404 iec104 type C_SC_NA_1 (45) cause 6 ca 1"),
            "{line}"
        );
        let line = render(&inspection_event(
            "iec104_cause",
            "iec104",
            r#", "iec104": {"type_id": 200, "cause": 7, "negative": true, "test": true}"#,
        ));
        assert!(
            line.ends_with(" iec104 type 200 cause 7 negative test ca -"),
            "{line}"
        );
        let line = render(&inspection_event(
            "dnp3_function",
            "dnp3",
            r#", "dnp3": {"function": 13, "function_name": "cold_restart", "address": 10}"#,
        ));
        assert!(
            line.ends_with(" dnp3 function cold_restart (13) address 10"),
            "{line}"
        );
        // Nothing known but the protocol (a bad CRC): the protocol is named.
        let line = render(&inspection_event("dnp3_crc", "dnp3", ""));
        assert!(line.ends_with("10.2.0.2:2404 dnp3"), "{line}");
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
