//! Event lines for a SIEM without glue: RFC 5424 syslog lines and ArcSight CEF:0
//! (docs/events.md, "Output formats").

use crate::control::event::{EventLine, Notice, PacketEvent};

/// Syslog facility of every line: local0 (16), so a relay can route zcfw's events on their
/// own.
const FACILITY: u8 = 16;
/// SD-ID of the structured data: zcfw has no IANA private enterprise number of its own, so
/// it uses 32473, the number RFC 5612 reserves for documentation and examples.
const SD_ID: &str = "zcfw@32473";

const WARNING: u8 = 4;
const NOTICE: u8 = 5;
const ERROR: u8 = 3;

/// What an inspection deny had read, in ASCII (`modbus unit 1 function 6
/// (write_single_register) address 10`), or the ICMP type and code; empty when neither.
fn detail_text(p: &PacketEvent) -> String {
    let mut parts: Vec<String> = Vec::new();
    let named = |name: &Option<String>, code: Option<u8>| match (name, code) {
        (Some(n), Some(c)) => Some(format!("{c} ({n})")),
        (None, Some(c)) => Some(c.to_string()),
        _ => None,
    };
    if let Some(m) = &p.modbus {
        parts.push("modbus".into());
        if let Some(u) = m.unit {
            parts.push(format!("unit {u}"));
        }
        if let Some(f) = named(&m.function_name, m.function) {
            parts.push(format!("function {f}"));
        }
        if let Some(a) = m.address {
            parts.push(format!("address {a}"));
        }
    } else if let Some(i) = &p.iec104 {
        parts.push("iec104".into());
        if let Some(t) = named(&i.type_name, i.type_id) {
            parts.push(format!("type {t}"));
        }
        if let Some(c) = i.cause {
            parts.push(format!("cause {c}"));
        }
        if i.negative == Some(true) {
            parts.push("negative".into());
        }
        if i.test == Some(true) {
            parts.push("test".into());
        }
        if let Some(a) = i.common_address {
            parts.push(format!("ca {a}"));
        }
    } else if let Some(d) = &p.dnp3 {
        parts.push("dnp3".into());
        if let Some(f) = named(&d.function_name, d.function) {
            parts.push(format!("function {f}"));
        }
        if let Some(a) = d.address {
            parts.push(format!("address {a}"));
        }
    } else if let Some(protocol) = &p.protocol {
        parts.push(protocol.clone());
    }
    if let Some(i) = p.ip.as_ref().and_then(|i| i.icmp) {
        parts.push(format!("icmp type {} code {}", i.icmp_type, i.code));
    }
    parts.join(" ")
}

/// `10.20.0.2:40512 -> 10.30.0.2:502` (IPv6 addresses in brackets when a port follows).
fn endpoints(p: &PacketEvent) -> String {
    let Some(ip) = &p.ip else {
        return "non-IP frame".into();
    };
    let end = |addr: &str, port: Option<u16>| match port {
        Some(port) if addr.contains(':') => format!("[{addr}]:{port}"),
        Some(port) => format!("{addr}:{port}"),
        None => addr.to_owned(),
    };
    format!(
        "{} {} -> {}",
        ip.proto,
        end(&ip.src, ip.src_port),
        end(&ip.dst, ip.dst_port)
    )
}

/// The key-value pairs of a packet event, in a stable order (names as in the JSON line).
fn packet_fields(p: &PacketEvent) -> Vec<(&'static str, String)> {
    let mut f: Vec<(&'static str, String)> = vec![
        ("event_type", p.event_type.clone()),
        ("action", p.action.clone()),
        ("reason", p.reason.clone()),
        ("class", p.class.clone()),
        ("interface", p.interface.clone()),
        ("conduit", p.conduit.clone()),
        ("generation", p.generation.to_string()),
        ("policy_sha256", p.policy_sha256.clone()),
        ("len", p.len.to_string()),
    ];
    if let Some(ip) = &p.ip {
        let zone = |z: &Option<String>| z.clone().unwrap_or_else(|| "-".into());
        f.push(("src_zone", zone(&ip.src_zone)));
        f.push(("dst_zone", zone(&ip.dst_zone)));
        f.push(("proto", ip.proto.to_string()));
        f.push(("src", ip.src.clone()));
        if let Some(port) = ip.src_port {
            f.push(("src_port", port.to_string()));
        }
        f.push(("dst", ip.dst.clone()));
        if let Some(port) = ip.dst_port {
            f.push(("dst_port", port.to_string()));
        }
        if let Some(id) = &ip.community_id {
            f.push(("community_id", id.clone()));
        }
        if let Some(id) = ip.flow_id {
            f.push(("flow_id", id.to_string()));
        }
    }
    let detail = detail_text(p);
    if !detail.is_empty() {
        f.push(("detail", detail));
    }
    f.retain(|(_, v)| !v.is_empty());
    f
}

fn local_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default()
}

/// RFC 5424 HOSTNAME: printable ASCII without spaces, at most 255 octets, or `-`.
fn syslog_host(host: &str) -> String {
    let host: String = host
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(255)
        .collect();
    if host.is_empty() { "-".into() } else { host }
}

/// RFC 5424 TIMESTAMP: at most six fractional digits (the event has nine), or `-`.
fn syslog_time(time: &str) -> String {
    const FORMAT: &[time::format_description::BorrowedFormatItem<'_>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
    );
    time::OffsetDateTime::parse(time, &time::format_description::well_known::Rfc3339)
        .ok()
        .and_then(|t| t.to_offset(time::UtcOffset::UTC).format(FORMAT).ok())
        .unwrap_or_else(|| "-".into())
}

/// An SD-PARAM value: `"`, `\` and `]` escaped with a backslash (RFC 5424 6.3.3).
fn sd_escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// One RFC 5424 line: `<PRI>1 TIMESTAMP HOSTNAME zcfw - MSGID [zcfw@32473 ...] MSG`.
pub fn syslog(event: &EventLine) -> String {
    let (severity, time, host, msgid, fields, msg): (u8, &str, String, &str, Vec<_>, String) =
        match event {
            EventLine::Packet(p) => (
                if p.event_type == "alert" {
                    NOTICE
                } else {
                    WARNING
                },
                &p.time,
                if p.host.is_empty() {
                    local_host()
                } else {
                    p.host.clone()
                },
                if p.event_type == "alert" {
                    "alert"
                } else {
                    "drop"
                },
                packet_fields(p),
                format!(
                    "{} {} {} via {}",
                    p.action,
                    p.reason,
                    endpoints(p),
                    p.conduit
                ),
            ),
            EventLine::Notice(Notice::Attachment(a)) => (
                if a.action == "xdp_lost" {
                    ERROR
                } else {
                    WARNING
                },
                &a.time,
                local_host(),
                "attachment",
                vec![
                    ("action", a.action.clone()),
                    ("interface", a.interface.clone()),
                ],
                format!("{} {}: {}", a.action, a.interface, a.detail),
            ),
            EventLine::Notice(Notice::Control(c)) => (
                if c.action == "refused" {
                    WARNING
                } else {
                    NOTICE
                },
                &c.time,
                local_host(),
                "control",
                vec![
                    ("action", c.action.clone()),
                    ("what", c.what.clone()),
                    ("uid", c.uid.to_string()),
                    ("user", c.user.clone()),
                    (
                        "pid",
                        c.pid.map_or_else(|| "-".to_owned(), |p| p.to_string()),
                    ),
                    ("command", c.command.clone()),
                ],
                format!("{} `zcfw {}` by {}: {}", c.action, c.what, c.user, c.result),
            ),
            EventLine::Missed { missed_events } => (
                WARNING,
                "",
                local_host(),
                "missed",
                vec![("missed_events", missed_events.to_string())],
                format!("{missed_events} events missed (this client was too slow)"),
            ),
        };
    let sd = if fields.is_empty() {
        "-".to_owned()
    } else {
        let params: Vec<String> = fields
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", sd_escape(v)))
            .collect();
        format!("[{SD_ID} {}]", params.join(" "))
    };
    format!(
        "<{}>1 {} {} zcfw - {msgid} {sd} {msg}",
        FACILITY * 8 + severity,
        syslog_time(time),
        syslog_host(&host),
    )
}

/// A CEF header field: `\` and `|` escaped.
fn cef_header(v: &str) -> String {
    v.replace('\\', "\\\\").replace('|', "\\|")
}

/// A CEF extension value: `\`, `=` escaped, line breaks as `\n` and `\r`.
fn cef_value(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('=', "\\=")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
}

/// Unix milliseconds of an RFC 3339 time (CEF `rt`).
fn epoch_ms(time: &str) -> Option<String> {
    time::OffsetDateTime::parse(time, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000).to_string())
}

/// One ArcSight CEF:0 line:
/// `CEF:0|zcfw|zcfw|VERSION|SIGNATURE|NAME|SEVERITY|key=value ...`.
pub fn cef(event: &EventLine) -> String {
    let mut ext: Vec<(&str, String)> = Vec::new();
    let (signature, name, severity) = match event {
        EventLine::Packet(p) => {
            ext.extend(epoch_ms(&p.time).map(|t| ("rt", t)));
            ext.push(("act", p.action.clone()));
            ext.push(("cat", p.class.clone()));
            ext.push((
                "dvchost",
                if p.host.is_empty() {
                    local_host()
                } else {
                    p.host.clone()
                },
            ));
            ext.push(("deviceInboundInterface", p.interface.clone()));
            ext.push(("cs1Label", "conduit".into()));
            ext.push(("cs1", p.conduit.clone()));
            if let Some(ip) = &p.ip {
                let zone = |z: &Option<String>| z.clone().unwrap_or_else(|| "-".into());
                ext.push(("cs2Label", "srcZone".into()));
                ext.push(("cs2", zone(&ip.src_zone)));
                ext.push(("cs3Label", "dstZone".into()));
                ext.push(("cs3", zone(&ip.dst_zone)));
                ext.push(("proto", ip.proto.to_string().to_uppercase()));
                if ip.src.contains(':') {
                    ext.push(("c6a2Label", "srcIPv6".into()));
                    ext.push(("c6a2", ip.src.clone()));
                    ext.push(("c6a3Label", "dstIPv6".into()));
                    ext.push(("c6a3", ip.dst.clone()));
                } else {
                    ext.push(("src", ip.src.clone()));
                    ext.push(("dst", ip.dst.clone()));
                }
                ext.extend(ip.src_port.map(|p| ("spt", p.to_string())));
                ext.extend(ip.dst_port.map(|p| ("dpt", p.to_string())));
                if let Some(id) = &ip.community_id {
                    ext.push(("cs4Label", "communityId".into()));
                    ext.push(("cs4", id.clone()));
                }
                if let Some(id) = ip.flow_id {
                    ext.push(("cn1Label", "flowId".into()));
                    ext.push(("cn1", id.to_string()));
                }
            }
            ext.push(("in", p.len.to_string()));
            ext.push(("cn2Label", "generation".into()));
            ext.push(("cn2", p.generation.to_string()));
            ext.push(("cs5Label", "policySha256".into()));
            ext.push(("cs5", p.policy_sha256.clone()));
            let detail = detail_text(p);
            if !detail.is_empty() {
                ext.push(("cs6Label", "detail".into()));
                ext.push(("cs6", detail));
            }
            let severity = match p.class.as_str() {
                "inspection" => 7,
                "flood" => 3,
                _ => 5,
            };
            (
                p.reason.clone(),
                format!("{} {}", p.event_type, p.reason),
                severity,
            )
        }
        EventLine::Notice(Notice::Attachment(a)) => {
            ext.extend(epoch_ms(&a.time).map(|t| ("rt", t)));
            ext.push(("dvchost", local_host()));
            ext.push(("act", a.action.clone()));
            ext.push(("deviceInboundInterface", a.interface.clone()));
            ext.push(("msg", a.detail.clone()));
            (
                format!("attachment:{}", a.action),
                format!("XDP attachment {}", a.action),
                if a.action == "xdp_lost" { 8 } else { 5 },
            )
        }
        EventLine::Notice(Notice::Control(c)) => {
            ext.extend(epoch_ms(&c.time).map(|t| ("rt", t)));
            ext.push(("dvchost", local_host()));
            ext.push(("act", c.action.clone()));
            ext.push(("suser", c.user.clone()));
            ext.push(("suid", c.uid.to_string()));
            ext.extend(c.pid.map(|p| ("spid", p.to_string())));
            ext.push(("sproc", c.command.clone()));
            ext.push(("cs1Label", "request".into()));
            ext.push(("cs1", c.what.clone()));
            ext.push(("msg", c.result.clone()));
            (
                format!("control:{}", c.action),
                format!("control request {}", c.action),
                if c.action == "refused" { 6 } else { 3 },
            )
        }
        EventLine::Missed { missed_events } => {
            ext.push(("cnt", missed_events.to_string()));
            ("missed".into(), "events missed by this client".into(), 5)
        }
    };
    let ext: Vec<String> = ext
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", cef_value(v)))
        .collect();
    format!(
        "CEF:0|zcfw|zcfw|{}|{}|{}|{severity}|{}",
        cef_header(env!("CARGO_PKG_VERSION")),
        cef_header(&signature),
        cef_header(&name),
        ext.join(" ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> EventLine {
        serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"))
    }

    const MODBUS: &str = r#"{"time": "2026-12-07T08:12:40.310021999Z", "event_type": "drop",
        "action": "reset", "reason": "modbus_address", "class": "inspection", "host": "gw1",
        "interface": "gw-dmz", "conduit": "historian", "generation": 3,
        "policy_sha256": "ab12", "len": 80, "src_zone": "dmz", "dst_zone": "control",
        "proto": "tcp", "src": "10.20.0.2", "dst": "10.30.0.2",
        "community_id": "1:wCb3OG7yAFWelaUydu0D+125CLM=", "flow_id": 42,
        "src_port": 40512, "dst_port": 502, "protocol": "modbus",
        "modbus": {"unit": 1, "function": 3, "function_name": "read_holding_registers",
                   "address": 500}}"#;

    #[test]
    fn syslog_lines_are_rfc5424() {
        let line = syslog(&parse(MODBUS));
        assert_eq!(
            line,
            "<132>1 2026-12-07T08:12:40.310021Z gw1 zcfw - drop [zcfw@32473 \
             event_type=\"drop\" action=\"reset\" reason=\"modbus_address\" \
             class=\"inspection\" interface=\"gw-dmz\" conduit=\"historian\" \
             generation=\"3\" policy_sha256=\"ab12\" len=\"80\" src_zone=\"dmz\" \
             dst_zone=\"control\" proto=\"tcp\" src=\"10.20.0.2\" src_port=\"40512\" \
             dst=\"10.30.0.2\" dst_port=\"502\" \
             community_id=\"1:wCb3OG7yAFWelaUydu0D+125CLM=\" flow_id=\"42\" \
             detail=\"modbus unit 1 function 3 (read_holding_registers) address 500\"] \
             reset modbus_address tcp 10.20.0.2:40512 -> 10.30.0.2:502 via historian"
        );
        // Escaping inside a parameter value; an alert is a notice (severity 5).
        let tricky = MODBUS
            .replace(r#""historian""#, r#""a\"b]c\\d""#)
            .replace(r#""event_type": "drop""#, r#""event_type": "alert""#);
        let line = syslog(&parse(&tricky));
        assert!(line.starts_with("<133>1 "), "{line}");
        assert!(line.contains(r#"conduit="a\"b\]c\\d""#), "{line}");
    }

    #[test]
    fn cef_lines_escape_header_and_extension() {
        let line = cef(&parse(MODBUS));
        let version = env!("CARGO_PKG_VERSION");
        assert!(
            line.starts_with(&format!(
                "CEF:0|zcfw|zcfw|{version}|modbus_address|drop modbus_address|7|rt=1796631160310 act=reset cat=inspection dvchost=gw1"
            )),
            "{line}"
        );
        for part in [
            " src=10.20.0.2 dst=10.30.0.2 spt=40512 dpt=502 ",
            " proto=TCP ",
            " cs4Label=communityId cs4=1:wCb3OG7yAFWelaUydu0D+125CLM\\= ",
            " cn1Label=flowId cn1=42 ",
            " cs6Label=detail cs6=modbus unit 1 function 3 (read_holding_registers) address 500",
        ] {
            assert!(line.contains(part), "{part:?} not in {line}");
        }
        // Pipes are escaped in the header only; = and \ in values; line breaks as \n.
        let weird = MODBUS
            .replace(r#""reason": "modbus_address""#, r#""reason": "a|b""#)
            .replace(r#""historian""#, r#""x=y\\z\nw|v""#);
        let line = cef(&parse(&weird));
        assert!(line.contains(r"|a\|b|drop a\|b|"), "{line}");
        assert!(line.contains(r"cs1=x\=y\\z\nw|v "), "{line}");
    }

    #[test]
    fn ipv6_and_notices_have_their_own_fields() {
        let v6 = MODBUS
            .replace("10.20.0.2", "fd00:20::2")
            .replace("10.30.0.2", "fd00:30::2");
        let line = cef(&parse(&v6));
        assert!(
            line.contains("c6a2Label=srcIPv6 c6a2=fd00:20::2 c6a3Label=dstIPv6 c6a3=fd00:30::2"),
            "{line}"
        );
        assert!(!line.contains(" src="), "{line}");
        let line = syslog(&parse(&v6));
        assert!(line.ends_with("[fd00:20::2]:40512 -> [fd00:30::2]:502 via historian"));
        let control = parse(
            r#"{"time": "2026-12-07T08:00:00.000000000Z", "kind": "control",
            "action": "refused", "what": "reload", "result": "refused: not in zcfw-admin",
            "uid": 1001, "user": "alice", "pid": 4711, "command": "zcfw reload"}"#,
        );
        let line = cef(&control);
        assert!(
            line.contains("|control:refused|control request refused|6|rt=1796630400000 "),
            "{line}"
        );
        assert!(line.contains(" suser=alice suid=1001 spid=4711 sproc=zcfw reload "));
        let line = syslog(&control);
        assert!(
            line.starts_with("<132>1 2026-12-07T08:00:00.000000Z "),
            "{line}"
        );
        assert!(line.contains(" zcfw - control [zcfw@32473 action=\"refused\""));
        let missed = parse(r#"{"missed_events": 7}"#);
        assert!(cef(&missed).ends_with("|missed|events missed by this client|5|cnt=7"));
        assert!(syslog(&missed).contains(" zcfw - missed [zcfw@32473 missed_events=\"7\"]"));
    }
}
