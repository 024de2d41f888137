//! `zcfw events`: denied and alerted packets, from the running daemon; filtered by reason,
//! class, conduit, zone and time, and printed as text, JSON lines, RFC 5424 syslog lines or
//! CEF (docs/events.md).

use std::io::Write;

use anyhow::{Context, anyhow};
use firewall_common::{event::class, reason::Reason};

use super::{EXIT_ERROR, EXIT_OK, SocketArgs, print_error};
use crate::{
    control::{
        self,
        event::{EventLine, EventsGreeting, Notice, PacketEvent},
    },
    policy::{did_you_mean, list},
};

#[path = "events_format.rs"]
mod format;

#[derive(Debug, clap::Args)]
pub struct EventsArgs {
    #[command(flatten)]
    pub socket: SocketArgs,
    /// Keep printing new events as they happen (until interrupted).
    #[arg(long, short)]
    pub follow: bool,
    /// Output format: readable `text`, `json` lines (docs/events.schema.json), `syslog`
    /// (RFC 5424 lines) or `cef` (ArcSight CEF:0).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// The same as `--format json`.
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// Only events of these reasons (repeat it or separate them by commas:
    /// `--reason modbus_function,modbus_address`).
    #[arg(long, value_name = "REASON", value_delimiter = ',')]
    pub reason: Vec<String>,
    /// Only events of these classes: `inspection`, `policy`, `flood`.
    #[arg(long, value_name = "CLASS", value_delimiter = ',')]
    pub class: Vec<String>,
    /// Only events decided by these conduits (`default`: by no conduit).
    #[arg(long, value_name = "CONDUIT", value_delimiter = ',')]
    pub conduit: Vec<String>,
    /// Only events from or to these zones.
    #[arg(long, value_name = "ZONE", value_delimiter = ',')]
    pub zone: Vec<String>,
    /// Only events since this time: a duration back from now (`90s`, `10m`, `2h`, `1d`) or an
    /// RFC 3339 time (`2026-12-07T08:00:00Z`).
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Only the last N of the recent events that match (with `--follow`, then every new one).
    #[arg(short = 'n', long = "lines", value_name = "N")]
    pub lines: Option<usize>,
}

/// How `zcfw events` prints each event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Syslog,
    Cef,
}

/// The event filters of a command line, checked against the running policy.
#[derive(Debug, Default)]
pub struct Filter {
    reasons: Vec<String>,
    classes: Vec<String>,
    conduits: Vec<String>,
    zones: Vec<String>,
    /// Unix time in nanoseconds.
    since_ns: Option<i128>,
}

/// Reasons an event can carry: every deny reason (alerts carry the reason they would have
/// been denied for).
fn event_reasons() -> impl Iterator<Item = &'static str> {
    Reason::ALL
        .iter()
        .filter(|r| !r.passes() && **r != Reason::Alert)
        .map(|r| r.name())
}

/// `unknown ...` with the closest name and every valid one.
fn unknown(what: &str, flag: &str, name: &str, valid: &[&str]) -> anyhow::Error {
    let hint = did_you_mean(name, valid.iter().copied())
        .map(|m| format!(" (did you mean `{m}`?)"))
        .unwrap_or_default();
    anyhow!(
        "unknown {what} `{name}` in {flag}{hint}; {}: {}",
        if valid.is_empty() {
            "the running policy has none".to_owned()
        } else {
            format!("valid {what}s")
        },
        list(valid)
    )
}

impl Filter {
    /// The filters of `args`; names are checked against what events can carry and against the
    /// running policy's zones and conduits (`greeting`; an older daemon names none, and then
    /// any name is taken).
    pub fn new(args: &EventsArgs, greeting: &EventsGreeting, now_ns: i128) -> anyhow::Result<Self> {
        let reasons: Vec<&str> = event_reasons().collect();
        for r in &args.reason {
            if !reasons.contains(&r.as_str()) {
                return Err(unknown("reason", "--reason", r, &reasons));
            }
        }
        let classes: Vec<&str> = class::ALL.iter().map(|c| class::name(*c)).collect();
        for c in &args.class {
            if !classes.contains(&c.as_str()) {
                return Err(unknown("class", "--class", c, &classes));
            }
        }
        let known = !greeting.zones.is_empty() || !greeting.conduits.is_empty();
        if known {
            let conduits: Vec<&str> = greeting
                .conduits
                .iter()
                .map(String::as_str)
                .chain(["default"])
                .collect();
            for c in &args.conduit {
                if !conduits.contains(&c.as_str()) {
                    return Err(unknown("conduit", "--conduit", c, &conduits));
                }
            }
            let zones: Vec<&str> = greeting.zones.iter().map(String::as_str).collect();
            for z in &args.zone {
                if !zones.contains(&z.as_str()) {
                    return Err(unknown("zone", "--zone", z, &zones));
                }
            }
        }
        let since_ns = args
            .since
            .as_deref()
            .map(|s| since(s, now_ns))
            .transpose()?;
        Ok(Filter {
            reasons: args.reason.clone(),
            classes: args.class.clone(),
            conduits: args.conduit.clone(),
            zones: args.zone.clone(),
            since_ns,
        })
    }

    fn by_packet_only(&self) -> bool {
        !(self.reasons.is_empty()
            && self.classes.is_empty()
            && self.conduits.is_empty()
            && self.zones.is_empty())
    }

    /// Whether `event` passes every filter. A notice of the daemon passes only a time filter;
    /// a `missed_events` line always passes.
    pub fn matches(&self, event: &EventLine) -> bool {
        let time = match event {
            EventLine::Missed { .. } => return true,
            EventLine::Notice(Notice::Attachment(a)) => &a.time,
            EventLine::Notice(Notice::Control(c)) => &c.time,
            EventLine::Packet(p) => &p.time,
        };
        if let Some(since) = self.since_ns {
            match parse_time(time) {
                Some(t) if t >= since => {}
                _ => return false,
            }
        }
        let EventLine::Packet(p) = event else {
            return !self.by_packet_only();
        };
        let any = |set: &[String], v: &str| set.is_empty() || set.iter().any(|s| s == v);
        let zone = |z: Option<&String>| z.is_some_and(|z| self.zones.contains(z));
        any(&self.reasons, &p.reason)
            && any(&self.classes, &packet_class(p))
            && any(&self.conduits, &p.conduit)
            && (self.zones.is_empty()
                || p.ip
                    .as_ref()
                    .is_some_and(|ip| zone(ip.src_zone.as_ref()) || zone(ip.dst_zone.as_ref())))
    }
}

/// The class of a packet event (from its reason when an older daemon did not say).
fn packet_class(p: &PacketEvent) -> String {
    if !p.class.is_empty() {
        return p.class.clone();
    }
    let reason = Reason::ALL.iter().find(|r| r.name() == p.reason);
    class::name(reason.map_or(class::POLICY, |r| class::of(*r))).to_owned()
}

/// An RFC 3339 time as Unix nanoseconds.
fn parse_time(text: &str) -> Option<i128> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp_nanos())
}

/// `--since`: a duration back from `now_ns` (`90s`, `10m`, `2h`, `1d`, `500ms`) or an RFC 3339
/// time, as Unix nanoseconds.
pub fn since(text: &str, now_ns: i128) -> anyhow::Result<i128> {
    if let Some(t) = parse_time(text) {
        return Ok(t);
    }
    let bad = || {
        anyhow!(
            "cannot read --since `{text}`: give a duration back from now (90s, 10m, 2h, 1d) \
             or an RFC 3339 time (2026-12-07T08:00:00Z)"
        )
    };
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (number, unit) = text.split_at(split);
    let n: i128 = number.parse().map_err(|_| bad())?;
    let unit_ns: i128 = match unit {
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" | "min" => 60 * 1_000_000_000,
        "h" => 3_600 * 1_000_000_000,
        "d" => 86_400 * 1_000_000_000,
        _ => return Err(bad()),
    };
    Ok(now_ns - n * unit_ns)
}

fn now_ns() -> i128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0)
}

pub fn run(args: &EventsArgs) -> u8 {
    match events(args) {
        Ok(()) => EXIT_OK,
        Err(err) => {
            print_error(&err);
            EXIT_ERROR
        }
    }
}

fn events(args: &EventsArgs) -> anyhow::Result<()> {
    let (greeting, mut lines) = control::events(&args.socket.socket, args.follow)
        .map_err(anyhow::Error::new)
        .context("cannot read the daemon's events")?;
    let filter = Filter::new(args, &greeting, now_ns())?;
    let format = if args.json { Format::Json } else { args.format };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut print = |line: &str, event: Option<&EventLine>| -> bool {
        let text = match (format, event) {
            (Format::Json, _) | (_, None) => line.to_owned(),
            (Format::Text, Some(e)) => render(e),
            (Format::Syslog, Some(e)) => format::syslog(e),
            (Format::Cef, Some(e)) => format::cef(e),
        };
        // false: stdout closed (e.g. piped into head).
        writeln!(out, "{text}").and_then(|()| out.flush()).is_ok()
    };
    // A line this build cannot read is shown as it came, unless a filter needs to read it.
    let parse = |line: &str| serde_json::from_str::<EventLine>(line).ok();
    let selected = |event: &Option<EventLine>| match event {
        Some(e) => filter.matches(e),
        None => !filter.by_packet_only() && filter.since_ns.is_none(),
    };
    // The recent events come first (the greeting says how many; an older daemon does not,
    // and then -n applies to everything it sends without --follow): with -n only the last N
    // of those that match.
    let recent_len = greeting
        .recent
        .unwrap_or(if args.follow { 0 } else { usize::MAX });
    let recent: Vec<(String, Option<EventLine>)> = lines
        .by_ref()
        .take(recent_len)
        .map(|line| {
            let event = parse(&line);
            (line, event)
        })
        .filter(|(_, event)| selected(event))
        .collect();
    let skip = args.lines.map_or(0, |n| recent.len().saturating_sub(n));
    for (line, event) in &recent[skip..] {
        if !print(line, event.as_ref()) {
            return Ok(());
        }
    }
    for line in lines {
        let event = parse(&line);
        if selected(&event) && !print(&line, event.as_ref()) {
            return Ok(());
        }
    }
    Ok(())
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
    if let Some(d) = &p.enip {
        line.push_str(&enip_text(d));
    }
    if let Some(d) = &p.opcua {
        line.push_str(&opcua_text(d));
    }
    if let Some(d) = &p.bacnet {
        line.push_str(&bacnet_text(d));
    }
    if p.modbus.is_none()
        && p.iec104.is_none()
        && p.dnp3.is_none()
        && p.s7comm.is_none()
        && p.enip.is_none()
        && p.opcua.is_none()
        && p.bacnet.is_none()
        && let Some(protocol) = &p.protocol
    {
        line.push_str(&format!(" {protocol}"));
    }
    if let Some(i) = ip.and_then(|i| i.icmp) {
        line.push_str(&format!(" icmp type {} code {}", i.icmp_type, i.code));
    }
    line
}

/// ` enip command send_unit_data (0x70)`, ` enip service write_tag (0x4d) level 1`,
/// ` enip service get_attribute_single (0x0e) class 0xf5 level 0`.
fn enip_text(d: &crate::control::event::EnipDetail) -> String {
    let mut out = String::from(" enip");
    if let Some(code) = d.command {
        match &d.command_name {
            Some(name) => out.push_str(&format!(" command {name} ({code:#04x})")),
            None => out.push_str(&format!(" command {code:#04x}")),
        }
    }
    if let Some(code) = d.service {
        match &d.service_name {
            Some(name) => out.push_str(&format!(" service {name} ({code:#04x})")),
            None => out.push_str(&format!(" service {code:#04x}")),
        }
    }
    if let Some(class) = d.class {
        out.push_str(&format!(" class {class:#04x}"));
    }
    if let Some(level) = d.level {
        out.push_str(&format!(" level {level}"));
    }
    out
}

/// ` s7comm function plc_stop (0x29)`, ` s7comm function pi_service (0x28) pi service delete`,
/// ` s7comm userdata clock_set (group 7, subfunction 2)`,
/// ` s7comm function write_var (0x05) area db (0x84) db 3`, ` s7comm tsap 0x0103`.
fn s7comm_text(d: &crate::control::event::S7commDetail) -> String {
    let mut out = String::from(" s7comm");
    if let Some(code) = d.function {
        match &d.function_name {
            Some(name) => out.push_str(&format!(" function {name} ({code:#04x})")),
            None => out.push_str(&format!(" function {code:#04x}")),
        }
    }
    if let Some(pi) = &d.pi_service {
        out.push_str(&format!(" pi service {pi}"));
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

/// ` opcua MSG service write (type id 673)`, ` opcua OPN security policy None`,
/// ` opcua MSG type id unreadable`, ` opcua HEL`.
fn opcua_text(d: &crate::control::event::OpcuaDetail) -> String {
    let mut out = String::from(" opcua");
    if let Some(m) = &d.message_type {
        out.push_str(&format!(" {m}"));
    }
    if let Some(p) = &d.security_policy {
        out.push_str(&format!(" security policy {p}"));
    }
    let id = d.type_id.map(|id| {
        if id == u16::MAX {
            "unreadable".to_owned()
        } else {
            id.to_string()
        }
    });
    match (&d.service, id) {
        (Some(s), Some(id)) => out.push_str(&format!(" service {s} (type id {id})")),
        (Some(s), None) => out.push_str(&format!(" service {s}")),
        (None, Some(id)) => out.push_str(&format!(" type id {id}")),
        (None, None) => {}
    }
    out
}

/// ` bacnet service write_property (15)`, ` bacnet bvlc forwarded_npdu (0x04)`,
/// ` bacnet network message who_is_router_to_network (0x00)`, ` bacnet pdu type 2`.
fn bacnet_text(d: &crate::control::event::BacnetDetail) -> String {
    let mut out = String::from(" bacnet");
    if let Some(s) = d.service {
        let kind = if d.pdu_type == Some(1) {
            "unconfirmed service"
        } else {
            "service"
        };
        match &d.service_name {
            Some(name) => out.push_str(&format!(" {kind} {name} ({s})")),
            None => out.push_str(&format!(" {kind} {s}")),
        }
    } else if let Some(t) = d.pdu_type {
        out.push_str(&format!(" pdu type {t}"));
    }
    if let Some(f) = d.bvlc_function {
        out.push_str(&format!(
            " bvlc {} ({f:#04x})",
            d.bvlc_name.as_deref().unwrap_or("-")
        ));
    }
    if let Some(m) = d.network_message {
        out.push_str(&format!(
            " network message {} ({m:#04x})",
            d.network_message_name.as_deref().unwrap_or("-")
        ));
    }
    if let Some(n) = d.network {
        out.push_str(&format!(" dnet {n}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn args(extra: &[&str]) -> EventsArgs {
        match crate::cli::Cli::try_parse_from(["zcfw", "events"].iter().chain(extra)) {
            Ok(crate::cli::Cli {
                command: crate::cli::Command::Events(a),
                ..
            }) => a,
            Ok(_) => panic!("not events"),
            Err(e) => panic!("{e}"),
        }
    }

    fn greeting() -> EventsGreeting {
        EventsGreeting {
            zones: vec!["dmz".into(), "control".into()],
            conduits: vec!["historian".into()],
            recent: Some(0),
        }
    }

    const NOW: i128 = 1_796_631_160_000_000_000; // 2026-12-07T08:12:40Z

    fn filter(extra: &[&str]) -> anyhow::Result<Filter> {
        Filter::new(&args(extra), &greeting(), NOW)
    }

    fn packet(time: &str, reason: &str, conduit: &str, src_zone: &str) -> EventLine {
        parse(&format!(
            r#"{{"time": "{time}", "action": "drop", "reason": "{reason}", "interface": "gw",
            "src_zone": "{src_zone}", "dst_zone": "control", "conduit": "{conduit}",
            "generation": 1, "len": 80, "proto": "tcp", "src": "10.1.0.2", "src_port": 1,
            "dst": "10.2.0.2", "dst_port": 502}}"#
        ))
    }

    #[test]
    fn unknown_names_are_refused_with_a_hint() {
        for (flags, want) in [
            (
                &["--reason", "modbus_fuction"][..],
                "unknown reason `modbus_fuction` in --reason (did you mean `modbus_function`?)",
            ),
            (
                &["--conduit", "historain"][..],
                "unknown conduit `historain` in --conduit (did you mean `historian`?); valid conduits: default, historian",
            ),
            (
                &["--zone", "ctrl"][..],
                "unknown zone `ctrl` in --zone; valid zones: control, dmz",
            ),
            (
                &["--class", "floods"][..],
                "unknown class `floods` in --class (did you mean `flood`?)",
            ),
            (
                &["--since", "10 minutes"][..],
                "cannot read --since `10 minutes`",
            ),
        ] {
            let err = filter(flags).expect_err("refused").to_string();
            assert!(err.starts_with(want), "{flags:?}: {err}");
        }
        // A pass reason never is an event.
        assert!(filter(&["--reason", "allowed_conduit"]).is_err());
        // An older daemon names no zones or conduits: any name is taken.
        let old = Filter::new(
            &args(&["--zone", "anything"]),
            &EventsGreeting::default(),
            NOW,
        );
        assert!(old.is_ok());
    }

    #[test]
    fn since_reads_durations_and_rfc3339() {
        assert_eq!(since("10m", NOW).expect("10m"), NOW - 600_000_000_000);
        assert_eq!(since("2h", NOW).expect("2h"), NOW - 7_200_000_000_000);
        assert_eq!(since("1d", NOW).expect("1d"), NOW - 86_400_000_000_000);
        assert_eq!(since("90s", NOW).expect("90s"), NOW - 90_000_000_000);
        assert_eq!(
            since("2026-12-07T08:00:00Z", NOW).expect("rfc3339"),
            1_796_630_400_000_000_000
        );
        for bad in ["", "m", "10", "10y", "-5m", "yesterday"] {
            assert!(since(bad, NOW).is_err(), "{bad}");
        }
    }

    #[test]
    fn filters_select_by_reason_class_conduit_zone_and_time() {
        let recent = "2026-12-07T08:12:30.000000000Z";
        let old = "2026-12-07T07:00:00.000000000Z";
        let modbus = packet(recent, "modbus_function", "historian", "dmz");
        let flood = packet(recent, "rate_limited", "historian", "dmz");
        let other_zone = packet(recent, "default_deny", "default", "enterprise");
        let stale = packet(old, "modbus_function", "historian", "dmz");
        let notice = parse(
            r#"{"time": "2026-12-07T08:12:30.000000000Z", "kind": "attachment",
            "action": "xdp_lost", "interface": "e", "detail": "gone"}"#,
        );
        let missed = parse(r#"{"missed_events": 2}"#);
        let all = [&modbus, &flood, &other_zone, &stale, &notice, &missed];
        let selected = |flags: &[&str]| -> Vec<usize> {
            let f = filter(flags).expect("valid filter");
            all.iter()
                .enumerate()
                .filter(|(_, e)| f.matches(e))
                .map(|(i, _)| i)
                .collect()
        };
        assert_eq!(selected(&[]), vec![0, 1, 2, 3, 4, 5]);
        assert_eq!(selected(&["--reason", "modbus_function"]), vec![0, 3, 5]);
        assert_eq!(
            selected(&["--reason", "modbus_function,rate_limited"]),
            vec![0, 1, 3, 5]
        );
        // An event of an older daemon has no class: it is read from the reason.
        assert_eq!(selected(&["--class", "flood"]), vec![1, 5]);
        assert_eq!(selected(&["--class", "inspection"]), vec![0, 3, 5]);
        assert_eq!(selected(&["--conduit", "default"]), vec![2, 5]);
        assert_eq!(selected(&["--zone", "dmz"]), vec![0, 1, 3, 5]);
        // dst_zone counts too.
        assert_eq!(selected(&["--zone", "control"]), vec![0, 1, 2, 3, 5]);
        assert_eq!(selected(&["--since", "10m"]), vec![0, 1, 2, 4, 5]);
        assert_eq!(
            selected(&["--since", "10m", "--reason", "modbus_function"]),
            vec![0, 5]
        );
    }

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
    fn renders_opcua_denies() {
        let line = render(&inspection_event(
            "opcua_service",
            "opcua",
            r#", "opcua": {"message_type": "MSG", "service": "write", "type_id": 673}"#,
        ));
        assert!(
            line.ends_with("10.2.0.2:2404 opcua MSG service write (type id 673)"),
            "{line}"
        );
        let line = render(&inspection_event(
            "opcua_security_policy",
            "opcua",
            r#", "opcua": {"message_type": "OPN", "security_policy": "None"}"#,
        ));
        assert!(line.ends_with(" opcua OPN security policy None"), "{line}");
        assert!(line.contains("opcua_security_policy"), "{line}");
        let line = render(&inspection_event(
            "opcua_encrypted",
            "opcua",
            r#", "opcua": {"message_type": "MSG", "type_id": 65535}"#,
        ));
        assert!(line.ends_with(" opcua MSG type id unreadable"), "{line}");
        let line = render(&inspection_event("opcua_malformed", "opcua", ""));
        assert!(line.ends_with(" opcua"), "{line}");
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
