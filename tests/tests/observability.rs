//! What operators and auditors see of zcfw at work: the events of denied packets
//! (`zcfw events --json`, `--follow`, the `--audit-log` file), monitor mode (policy-wide and
//! per conduit: would-be denies pass and are reported as alerts), the Prometheus endpoint
//! against `zcfw stats --json`, and the event rate limit under a flood.
//!
//! Each test builds its own plant (unique names) and runs `zcfw run` with the flags it needs
//! (`zcfw_harness::observe::Observed`); traffic is real (sockets in the host namespaces) or
//! hand-built frames sent with `AF_PACKET` where exactly one packet must be seen.

use std::{
    net::{IpAddr, SocketAddr},
    sync::atomic::{AtomicBool, Ordering},
    thread,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use serde_json::{Value, json};
use zcfw_harness::{
    Family, Names, Plant, XdpMode, Zone,
    observe::{Metrics, Observed, RunOptions, parse_rfc3339, possible_cpus, unix_now},
    packet::{PacketSocket, Transport, build_frame, tcp_flags},
    traffic::{TcpEchoServer, UdpEchoServer, UdpPeer, echo_over, ping, tcp_connect, udp_request},
};

/// Enterprise may reach the DMZ (tcp/8080, echo requests); the DMZ reads PLCs over Modbus;
/// nothing else crosses; every interface accepts only the sources of its own zone.
const POLICY: &str = r#"
version: 1
name: ${NAME}
defaults: { action: deny, log: denied, mode: enforce }
interfaces:
  - { name: ${IF_ENTERPRISE}, zones: [enterprise] }
  - { name: ${IF_DMZ}, zones: [dmz] }
  - { name: ${IF_CONTROL}, zones: [control] }
zones:
  enterprise: { security_level: 1, networks: [10.10.0.0/24, "fd00:10::/64"] }
  dmz: { security_level: 2, networks: [10.20.0.0/24, "fd00:20::/64"] }
  control: { security_level: 3, networks: [10.30.0.0/24, "fd00:30::/64"] }
conduits:
  - name: enterprise-to-dmz
    from: enterprise
    to: dmz
    rules:
      - { protocol: tcp, ports: [8080] }
      - { protocol: icmp, types: [echo-request] }
      - { protocol: icmpv6, types: [echo-request] }
  - name: historian-reads-plcs
    from: dmz
    to: control
    rules:
      - protocol: modbus
        modbus: { unit_ids: [1], functions: [read_holding_registers], addresses: ["0-99"] }
"#;

/// Enforcing, with two conduits in monitor mode (a rate limit and a Modbus profile) and one
/// enforcing conduit with the same rate limit, to tell them apart.
const MONITOR_CONDUITS_POLICY: &str = r#"
version: 1
name: ${NAME}
defaults: { action: deny, log: denied, mode: enforce }
interfaces:
  - { name: ${IF_ENTERPRISE}, zones: [enterprise] }
  - { name: ${IF_DMZ}, zones: [dmz] }
  - { name: ${IF_CONTROL}, zones: [control] }
zones:
  enterprise: { security_level: 1, networks: [10.10.0.0/24, "fd00:10::/64"] }
  dmz: { security_level: 2, networks: [10.20.0.0/24, "fd00:20::/64"] }
  control: { security_level: 3, networks: [10.30.0.0/24, "fd00:30::/64"] }
conduits:
  - name: enterprise-polls-control
    from: enterprise
    to: control
    rules:
      - { protocol: udp, ports: [9000] }
    rate_limit: { pps: 1, burst: 1 }
    mode: monitor
  - name: enterprise-writes-plcs
    from: enterprise
    to: control
    rules:
      - protocol: modbus
        modbus: { unit_ids: [1], functions: [read_holding_registers], addresses: ["0-99"] }
    mode: monitor
  - name: enterprise-feeds-dmz
    from: enterprise
    to: dmz
    rules:
      - { protocol: udp, ports: [9000] }
    rate_limit: { pps: 1, burst: 1 }
"#;

/// How long events may take from the XDP program to `zcfw events`.
const EVENT_WAIT: Duration = Duration::from_secs(5);

fn plant(tag: &str) -> Plant {
    Plant::new(Names::unique(tag)).unwrap_or_else(|e| panic!("plant: {e:#}"))
}

fn start<'p>(plant: &'p Plant, policy: &str, opts: &RunOptions) -> Observed<'p> {
    Observed::start(plant, policy, opts).unwrap_or_else(|e| panic!("{e:#}"))
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("address literal")
}

/// Sends one hand-built frame from `zone`'s host to the gateway; returns its length.
fn send_frame(plant: &Plant, zone: Zone, src: IpAddr, dst: IpAddr, l4: &Transport) -> usize {
    plant.send_frame(zone, src, dst, l4).expect("send frame")
}

fn syn(src_port: u16, dst_port: u16) -> Transport {
    Transport::syn(src_port, dst_port)
}

fn udp(src_port: u16, dst_port: u16, payload: &[u8]) -> Transport {
    Transport::Udp {
        src_port,
        dst_port,
        payload: payload.to_vec(),
    }
}

/// A Modbus/TCP request ADU: write single register (FC 6) `value` at `address` of `unit`.
fn modbus_write_single_register(unit: u8, address: u16, value: u16) -> Vec<u8> {
    let mut adu = vec![0x00, 0x01, 0x00, 0x00, 0x00, 0x06, unit, 0x06];
    adu.extend_from_slice(&address.to_be_bytes());
    adu.extend_from_slice(&value.to_be_bytes());
    adu
}

/// A Modbus/TCP request ADU: read holding registers (FC 3), `quantity` from `address`.
fn modbus_read_holding_registers(unit: u8, address: u16, quantity: u16) -> Vec<u8> {
    let mut adu = vec![0x00, 0x02, 0x00, 0x00, 0x00, 0x06, unit, 0x03];
    adu.extend_from_slice(&address.to_be_bytes());
    adu.extend_from_slice(&quantity.to_be_bytes());
    adu
}

/// Packets counted under `reason` in a `zcfw stats --json` value.
fn reason_packets(stats: &Value, reason: &str) -> u64 {
    let row = stats["reasons"]
        .as_array()
        .and_then(|rs| rs.iter().find(|r| r["reason"] == reason))
        .unwrap_or_else(|| panic!("no reason {reason} in stats: {stats}"));
    row["packets"].as_u64().expect("packets")
}

/// Packets of every dropping reason.
fn dropped_packets(stats: &Value) -> u64 {
    stats["reasons"]
        .as_array()
        .expect("reasons")
        .iter()
        .filter(|r| r["passes"] == false)
        .map(|r| r["packets"].as_u64().expect("packets"))
        .sum()
}

fn event_counter(stats: &Value, outcome: &str) -> u64 {
    stats["events"][outcome]
        .as_u64()
        .unwrap_or_else(|| panic!("no events.{outcome} in stats: {stats}"))
}

/// Polls `zcfw events --json` until `done` holds (or `timeout`), then reads once more after a
/// short pause, so that a duplicate that was still on its way is seen too.
fn await_events(zcfw: &Observed, timeout: Duration, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + timeout;
    loop {
        let events = zcfw.events().unwrap_or_else(|e| panic!("{e:#}"));
        if done(&events) || Instant::now() >= deadline {
            break;
        }
        thread::sleep(Duration::from_millis(100));
    }
    thread::sleep(Duration::from_millis(300));
    zcfw.events().unwrap_or_else(|e| panic!("{e:#}"))
}

/// Whether `ev` has every field of `fields` with that value.
fn has(ev: &Value, fields: &Value) -> bool {
    fields
        .as_object()
        .expect("an object of fields")
        .iter()
        .all(|(k, v)| ev.get(k) == Some(v))
}

fn count(events: &[Value], fields: &Value) -> usize {
    events.iter().filter(|e| has(e, fields)).count()
}

/// What differs between `ev` and `expected` (every field of it), fields of `absent` that are
/// there, and a `time` that is not RFC 3339 UTC within `window` (Unix seconds).
fn mismatches(ev: &Value, expected: &Value, absent: &[&str], window: (f64, f64)) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in expected.as_object().expect("an object of fields") {
        match ev.get(k) {
            Some(got) if got == v => {}
            Some(got) => out.push(format!("{k} is {got}, expected {v}")),
            None => out.push(format!("{k} is absent, expected {v}")),
        }
    }
    for k in absent {
        if let Some(got) = ev.get(*k) {
            out.push(format!("{k} should be absent, is {got}"));
        }
    }
    match ev["time"].as_str().map(|t| (t, parse_rfc3339(t))) {
        Some((_, Some(t))) if t >= window.0 - 2.0 && t <= window.1 + 2.0 => {}
        Some((text, Some(_))) => out.push(format!(
            "time {text} is not when the packet was sent (between {:.3} and {:.3})",
            window.0, window.1
        )),
        Some((text, None)) => out.push(format!("time {text:?} is not RFC 3339 UTC")),
        None => out.push("time is missing or not a string".to_string()),
    }
    out
}

/// How the `modbus` detail of an event must give the address.
#[derive(Clone, Copy, Debug)]
enum Address {
    /// Exactly this (the checker denied the address).
    Exact(u64),
    /// This if present: the checker may deny the function before it reads the address
    /// ("each key only when known").
    IfKnown(u64),
}

/// What is wrong with the `modbus` detail of `ev`.
fn modbus_mismatches(
    ev: &Value,
    unit: u64,
    function: u64,
    name: &str,
    address: Address,
) -> Vec<String> {
    let m = &ev["modbus"];
    let mut out = Vec::new();
    if !m.is_object() {
        return vec![format!("modbus detail is {m}, expected an object")];
    }
    for (k, want) in [
        ("unit", json!(unit)),
        ("function", json!(function)),
        ("function_name", json!(name)),
    ] {
        if m[k] != want {
            out.push(format!("modbus.{k} is {}, expected {want}", m[k]));
        }
    }
    match (address, m.get("address")) {
        (Address::Exact(a) | Address::IfKnown(a), Some(got)) if *got != json!(a) => {
            out.push(format!("modbus.address is {got}, expected {a}"))
        }
        (Address::Exact(a), None) => out.push(format!("modbus.address is absent, expected {a}")),
        _ => {}
    }
    out
}

/// One expected event: how to find it among all, and what it must say.
struct Expected {
    what: String,
    key: Value,
    fields: Value,
    absent: &'static [&'static str],
    /// The `modbus` detail: unit, function, function name, address.
    modbus: Option<(u64, u64, &'static str, Address)>,
}

const L4_ONLY: &[&str] = &["icmp", "protocol", "modbus"];
const ICMP_ONLY: &[&str] = &["src_port", "dst_port", "protocol", "modbus"];

#[test]
fn denied_packets_are_reported_as_exact_events_and_audited() {
    let plant = plant("obs_events");
    let policy = plant.render_policy(POLICY, "obs-events", XdpMode::Native);
    let t0 = unix_now();
    let zcfw = start(
        &plant,
        &policy,
        &RunOptions {
            audit_log: true,
            ..RunOptions::default()
        },
    );
    let generation = zcfw.stats().expect("stats")["policy"]["generation"].clone();
    assert!(generation.as_u64().is_some(), "stats carry the generation");
    let if_ent = plant.host(Zone::Enterprise).gateway_ifname.clone();
    let if_dmz = plant.host(Zone::Dmz).gateway_ifname.clone();
    let mut expected = Vec::new();

    // A TCP SYN enterprise → control:5020: no conduit from enterprise to control.
    for (family, src, dst, sport) in [
        (Family::V4, "10.10.0.2", "10.30.0.2", 41001),
        (Family::V6, "fd00:10::2", "fd00:30::2", 41002),
    ] {
        let len = send_frame(
            &plant,
            Zone::Enterprise,
            ip(src),
            ip(dst),
            &syn(sport, 5020),
        );
        expected.push(Expected {
            what: format!("{} TCP SYN enterprise → control:5020", family.label()),
            key: json!({ "src": src, "src_port": sport }),
            fields: json!({
                "action": "drop", "reason": "default_deny", "interface": if_ent,
                "conduit": "default", "generation": generation, "len": len,
                "src_zone": "enterprise", "dst_zone": "control", "proto": "tcp",
                "src": src, "dst": dst, "src_port": sport, "dst_port": 5020,
            }),
            absent: L4_ONLY,
            modbus: None,
        });
    }

    // An echo request in the wrong direction (the conduit is enterprise → dmz), by a real
    // ping: 25 bytes of payload, so the frame is 14 + IP header + 8 + 25 bytes.
    for (family, src, dst, icmp_type, proto, len) in [
        (
            Family::V4,
            "10.20.0.2",
            "10.10.0.2",
            8,
            "icmp",
            14 + 20 + 33,
        ),
        (
            Family::V6,
            "fd00:20::2",
            "fd00:10::2",
            128,
            "icmpv6",
            14 + 40 + 33,
        ),
    ] {
        let replies = ping(
            &plant.host(Zone::Dmz).ns,
            ip(dst),
            1,
            Duration::from_secs(1),
        )
        .unwrap_or_else(|e| panic!("ping: {e:#}"));
        assert_eq!(
            replies,
            0,
            "{} ping dmz → enterprise must be denied",
            family.label()
        );
        expected.push(Expected {
            what: format!("{} echo request dmz → enterprise", family.label()),
            key: json!({ "src": src, "dst": dst, "proto": proto }),
            fields: json!({
                "action": "drop", "reason": "default_deny", "interface": if_dmz,
                "conduit": "default", "generation": generation, "len": len,
                "src_zone": "dmz", "dst_zone": "enterprise", "proto": proto,
                "src": src, "dst": dst, "icmp": { "type": icmp_type, "code": 0 },
            }),
            absent: ICMP_ONLY,
            modbus: None,
        });
    }

    // Spoofed sources on the enterprise interface: another zone's address, and one in no
    // zone at all (its zone is null).
    for (what, src, dst, src_zone, sport) in [
        (
            "IPv4 spoofed control source",
            "10.30.0.99",
            "10.20.0.2",
            json!("control"),
            41003,
        ),
        (
            "IPv6 spoofed control source",
            "fd00:30::99",
            "fd00:20::2",
            json!("control"),
            41004,
        ),
        (
            "IPv4 source in no zone",
            "192.0.2.7",
            "10.20.0.2",
            Value::Null,
            41005,
        ),
    ] {
        let len = send_frame(
            &plant,
            Zone::Enterprise,
            ip(src),
            ip(dst),
            &udp(sport, 9000, b"spoofed"),
        );
        expected.push(Expected {
            what: format!("{what} arriving from enterprise"),
            key: json!({ "src": src, "src_port": sport }),
            fields: json!({
                "action": "drop", "reason": "spoofed_source", "interface": if_ent,
                "conduit": "default", "generation": generation, "len": len,
                "src_zone": src_zone, "dst_zone": "dmz", "proto": "udp",
                "src": src, "dst": dst, "src_port": sport, "dst_port": 9000,
            }),
            absent: L4_ONLY,
            modbus: None,
        });
    }

    // Modbus on the read-only conduit, one forged segment each: a write (function denied)
    // and a read outside the allowed addresses 0-99 (address denied).
    for (what, sport, adu, reason, detail) in [
        (
            "Modbus write_single_register",
            41006,
            modbus_write_single_register(1, 10, 1),
            "modbus_function",
            (1, 6, "write_single_register", Address::IfKnown(10)),
        ),
        (
            "Modbus read_holding_registers at 500",
            41007,
            modbus_read_holding_registers(1, 500, 2),
            "modbus_address",
            (1, 3, "read_holding_registers", Address::Exact(500)),
        ),
    ] {
        let len = send_frame(
            &plant,
            Zone::Dmz,
            ip("10.20.0.2"),
            ip("10.30.0.2"),
            &Transport::Tcp {
                src_port: sport,
                dst_port: 502,
                seq: 1000,
                ack: 1,
                flags: tcp_flags::PSH | tcp_flags::ACK,
                payload: adu,
            },
        );
        expected.push(Expected {
            what: format!("{what} dmz → control on a read-only conduit"),
            key: json!({ "src": "10.20.0.2", "src_port": sport }),
            fields: json!({
                // The conduit's default `on_violation: reset`: the segment became a RST.
                "action": "reset", "reason": reason, "interface": if_dmz,
                "conduit": "historian-reads-plcs", "generation": generation, "len": len,
                "src_zone": "dmz", "dst_zone": "control", "proto": "tcp",
                "src": "10.20.0.2", "dst": "10.30.0.2", "src_port": sport, "dst_port": 502,
                "protocol": "modbus",
            }),
            absent: &["icmp"],
            modbus: Some(detail),
        });
    }

    // Allowed traffic makes no event (log: denied).
    let replies = ping(
        &plant.host(Zone::Enterprise).ns,
        ip("10.20.0.2"),
        1,
        Duration::from_secs(3),
    )
    .unwrap_or_else(|e| panic!("ping: {e:#}"));
    assert_eq!(replies, 1, "ping enterprise → dmz is allowed");

    let events = await_events(&zcfw, EVENT_WAIT, |evs| {
        expected.iter().all(|x| count(evs, &x.key) >= 1)
    });
    let t1 = unix_now();
    let mut failures = Vec::new();
    for x in &expected {
        let found: Vec<&Value> = events.iter().filter(|e| has(e, &x.key)).collect();
        match found.as_slice() {
            [ev] => {
                let mut wrong = mismatches(ev, &x.fields, x.absent, (t0, t1));
                if let Some((unit, function, name, address)) = x.modbus {
                    wrong.extend(modbus_mismatches(ev, unit, function, name, address));
                } else if ev.get("modbus").is_some() || ev.get("protocol").is_some() {
                    wrong.push("has a modbus detail".to_string());
                }
                if !wrong.is_empty() {
                    failures.push(format!("{}: {}\n    event: {ev}", x.what, wrong.join("; ")));
                }
            }
            [] => failures.push(format!("{}: no event", x.what)),
            many => failures.push(format!(
                "{}: {} events for one packet: {many:?}",
                x.what,
                many.len()
            )),
        }
    }
    let allowed = count(&events, &json!({ "src": "10.10.0.2", "dst": "10.20.0.2" }));
    if allowed != 0 {
        failures.push(format!("the allowed ping made {allowed} event(s)"));
    }

    // The human format shows the same event.
    let text = zcfw.events_text().expect("zcfw events");
    if !text
        .lines()
        .any(|l| l.contains("default_deny") && l.contains("10.10.0.2:41001 → 10.30.0.2:5020"))
    {
        failures.push(format!("zcfw events (text) lacks the SYN to 5020:\n{text}"));
    }

    // The audit log holds exactly the events `zcfw events` lists, in order.
    let deadline = Instant::now() + Duration::from_secs(3);
    let (listed, audited) = loop {
        let listed = zcfw.events().expect("zcfw events");
        let audited = zcfw.audit_events().expect("audit log");
        if listed == audited || Instant::now() >= deadline {
            break (listed, audited);
        }
        thread::sleep(Duration::from_millis(100));
    };
    if listed != audited {
        failures.push(format!(
            "the audit log differs from zcfw events:\n  listed:  {listed:?}\n  audited: {audited:?}"
        ));
    }
    for x in &expected {
        if count(&audited, &x.fields) != 1 {
            failures.push(format!("{}: not in the audit log exactly once", x.what));
        }
    }

    assert!(
        failures.is_empty(),
        "{} problem(s):\n- {}\nall events: {events:#?}",
        failures.len(),
        failures.join("\n- ")
    );
}

#[test]
fn events_follow_streams_new_events() {
    let plant = plant("obs_follow");
    let policy = plant.render_policy(POLICY, "obs-follow", XdpMode::Native);
    let zcfw = start(&plant, &policy, &RunOptions::default());
    let (src, dst) = (ip("10.10.0.2"), ip("10.30.0.2"));

    // A first event, so that the follower shows it has connected by printing it.
    send_frame(&plant, Zone::Enterprise, src, dst, &syn(42001, 5020));
    let marker = json!({ "src": "10.10.0.2", "src_port": 42001 });
    let events = await_events(&zcfw, EVENT_WAIT, |evs| count(evs, &marker) > 0);
    assert_eq!(count(&events, &marker), 1, "the first event: {events:?}");

    let mut follower = zcfw.follow().expect("zcfw events --follow");
    let mut skipped = Vec::new();
    let first = follower
        .next_matching(EVENT_WAIT, &mut skipped, |v| has(v, &marker))
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert!(
        first.is_some(),
        "zcfw events --follow did not print the recent event first; printed {skipped:?}"
    );

    // A packet denied after the follower started.
    let t0 = unix_now();
    let len = send_frame(&plant, Zone::Enterprise, src, dst, &syn(42002, 5021));
    let new = json!({ "src": "10.10.0.2", "src_port": 42002 });
    let ev = follower
        .next_matching(EVENT_WAIT, &mut skipped, |v| has(v, &new))
        .unwrap_or_else(|e| panic!("{e:#}"))
        .unwrap_or_else(|| {
            panic!("zcfw events --follow did not stream the new event; printed {skipped:?}")
        });
    let wrong = mismatches(
        &ev,
        &json!({
            "action": "drop", "reason": "default_deny", "conduit": "default", "len": len,
            "interface": plant.host(Zone::Enterprise).gateway_ifname,
            "src_zone": "enterprise", "dst_zone": "control", "proto": "tcp",
            "src": "10.10.0.2", "dst": "10.30.0.2", "src_port": 42002, "dst_port": 5021,
        }),
        L4_ONLY,
        (t0, unix_now()),
    );
    assert!(
        wrong.is_empty(),
        "streamed event: {}\n{ev}",
        wrong.join("; ")
    );
    // Streamed once, and the follower keeps running.
    let again = follower
        .next_matching(Duration::from_millis(500), &mut skipped, |v| has(v, &new))
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert!(again.is_none(), "the new event was streamed twice");
}

#[test]
fn monitor_mode_passes_would_be_denies_as_alerts() {
    let plant = plant("obs_monitor");
    let policy = plant.render_policy(
        &POLICY.replace("mode: enforce", "mode: monitor"),
        "obs-monitor",
        XdpMode::Native,
    );
    let ctl = &plant.host(Zone::Control).ns;
    let dmz = &plant.host(Zone::Dmz).ns;
    let servers = [
        UdpEchoServer::start(ctl, "10.30.0.2:9000".parse().expect("addr")).expect("server"),
        UdpEchoServer::start(ctl, "[fd00:30::2]:9000".parse().expect("addr")).expect("server"),
        UdpEchoServer::start(dmz, "10.20.0.2:9000".parse().expect("addr")).expect("server"),
    ];
    // With --log-events: each alert is in the daemon's log too.
    let zcfw = start(
        &plant,
        &policy,
        &RunOptions {
            log_events: true,
            ..RunOptions::default()
        },
    );

    let status = zcfw.status().expect("status");
    assert_eq!(status["mode"], "monitor", "status --json: {status}");
    assert_eq!(
        status["monitor_conduits"],
        json!([]),
        "status --json: {status}"
    );

    let before = zcfw.stats().expect("stats");
    let t0 = unix_now();
    // No conduit from enterprise to control: both the request and the reply would be denied.
    let ent = &plant.host(Zone::Enterprise).ns;
    for (i, server) in servers[..2].iter().enumerate() {
        let reply = udp_request(
            ent,
            server.addr(),
            b"would-be-denied",
            Duration::from_secs(3),
        )
        .unwrap_or_else(|e| panic!("monitor mode must pass {}: {e:#}", server.addr()));
        assert_eq!(reply, b"would-be-denied");
        let got = server.received();
        assert!(
            got.iter()
                .any(|(from, d)| from.ip() == ent_addr(i) && d == b"would-be-denied"),
            "{} did not receive the datagram: {got:?}",
            server.addr()
        );
    }
    // A spoofed source passes too.
    send_frame(
        &plant,
        Zone::Enterprise,
        ip("10.30.0.99"),
        ip("10.20.0.2"),
        &udp(43001, 9000, b"spoofed"),
    );
    let deadline = Instant::now() + Duration::from_secs(3);
    while !servers[2]
        .received()
        .iter()
        .any(|(from, _)| *from == "10.30.0.99:43001".parse::<SocketAddr>().expect("addr"))
    {
        assert!(
            Instant::now() < deadline,
            "the spoofed datagram did not arrive in monitor mode: {:?}",
            servers[2].received()
        );
        thread::sleep(Duration::from_millis(20));
    }

    let expect = [
        (
            "IPv4 request enterprise → control",
            json!({ "reason": "default_deny", "src": "10.10.0.2", "dst": "10.30.0.2",
                    "dst_port": 9000, "proto": "udp", "src_zone": "enterprise",
                    "dst_zone": "control", "conduit": "default",
                    "interface": plant.host(Zone::Enterprise).gateway_ifname }),
        ),
        (
            "IPv4 reply control → enterprise",
            json!({ "reason": "default_deny", "src": "10.30.0.2", "dst": "10.10.0.2",
                    "src_port": 9000, "proto": "udp", "src_zone": "control",
                    "dst_zone": "enterprise", "conduit": "default",
                    "interface": plant.host(Zone::Control).gateway_ifname }),
        ),
        (
            "IPv6 request enterprise → control",
            json!({ "reason": "default_deny", "src": "fd00:10::2", "dst": "fd00:30::2",
                    "dst_port": 9000, "proto": "udp" }),
        ),
        (
            "spoofed source",
            json!({ "reason": "spoofed_source", "src": "10.30.0.99", "src_port": 43001,
                    "dst": "10.20.0.2", "src_zone": "control", "dst_zone": "dmz" }),
        ),
    ];
    let alert = |fields: &Value| {
        let mut f = fields.clone();
        f["action"] = json!("alert");
        f
    };
    let events = await_events(&zcfw, EVENT_WAIT, |evs| {
        expect.iter().all(|(_, f)| count(evs, &alert(f)) >= 1)
    });
    let t1 = unix_now();
    let after = zcfw.stats().expect("stats");
    let mut failures = Vec::new();
    for (what, fields) in &expect {
        match events.iter().find(|e| has(e, &alert(fields))) {
            Some(ev) => {
                let wrong = mismatches(ev, &alert(fields), &[], (t0, t1));
                if !wrong.is_empty() {
                    failures.push(format!("{what}: {}", wrong.join("; ")));
                }
            }
            None => failures.push(format!("{what}: no alert event")),
        }
    }
    // Logged by the reader task as it publishes: the events are read, so are their lines.
    let logged = zcfw.log_tail(100_000);
    if !logged.contains("packet alerted (monitor mode)") {
        failures.push("--log-events: no alert in the daemon's log".into());
    }
    let drops: Vec<&Value> = events.iter().filter(|e| e["action"] != "alert").collect();
    if !drops.is_empty() {
        failures.push(format!("monitor mode dropped: {drops:?}"));
    }
    let alert_row = after["reasons"]
        .as_array()
        .and_then(|rs| rs.iter().find(|r| r["reason"] == "alert"))
        .cloned()
        .unwrap_or_default();
    if alert_row["passes"] != true {
        failures.push(format!(
            "stats lists alert as a dropping reason: {alert_row}"
        ));
    }
    let alerts = reason_packets(&after, "alert") - reason_packets(&before, "alert");
    // Two requests, two replies and the spoofed datagram at least.
    if alerts < 5 {
        failures.push(format!("alert counted {alerts} packets, expected >= 5"));
    }
    for reason in ["default_deny", "spoofed_source"] {
        let d = reason_packets(&after, reason) - reason_packets(&before, reason);
        if d != 0 {
            failures.push(format!("{reason} counted {d} drops in monitor mode"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} problem(s):\n- {}\nall events: {events:#?}",
        failures.len(),
        failures.join("\n- ")
    );
}

fn ent_addr(i: usize) -> IpAddr {
    Zone::Enterprise.host(if i == 0 { Family::V4 } else { Family::V6 })
}

#[test]
fn monitor_conduits_pass_rate_limit_and_modbus_denies_as_alerts() {
    const MONITORED: &str = "enterprise-polls-control";
    const MODBUS: &str = "enterprise-writes-plcs";
    const ENFORCED: &str = "enterprise-feeds-dmz";
    const N: usize = 20;
    let plant = plant("obs_monconds");
    let policy = plant.render_policy(
        MONITOR_CONDUITS_POLICY,
        "obs-monitor-conduits",
        XdpMode::Native,
    );
    let ctl = &plant.host(Zone::Control).ns;
    let ent = &plant.host(Zone::Enterprise).ns;
    let monitored =
        UdpEchoServer::start(ctl, "10.30.0.2:9000".parse().expect("addr")).expect("server");
    let closed =
        UdpEchoServer::start(ctl, "10.30.0.2:9001".parse().expect("addr")).expect("server");
    let enforced = UdpEchoServer::start(
        &plant.host(Zone::Dmz).ns,
        "10.20.0.2:9000".parse().expect("addr"),
    )
    .expect("server");
    let plc = TcpEchoServer::start(ctl, "10.30.0.2:502".parse().expect("addr")).expect("server");
    // With --log-events: each alert is in the daemon's log too.
    let zcfw = start(
        &plant,
        &policy,
        &RunOptions {
            log_events: true,
            ..RunOptions::default()
        },
    );

    let status = zcfw.status().expect("status");
    assert_eq!(status["mode"], "enforce", "status --json: {status}");
    let mut listed: Vec<String> = status["monitor_conduits"]
        .as_array()
        .unwrap_or_else(|| panic!("no monitor_conduits in {status}"))
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_string())
        .collect();
    listed.sort();
    assert_eq!(listed, [MONITORED, MODBUS], "status --json: {status}");

    let before = zcfw.stats().expect("stats");
    let any = SocketAddr::from(([0, 0, 0, 0], 0));
    let send_burst = |dst: SocketAddr| {
        let peer = UdpPeer::bind(ent, any).expect("bind");
        for i in 0..N {
            peer.send_to(dst, format!("datagram {i}").as_bytes())
                .expect("send");
        }
        peer
    };
    let from_peer = |server: &UdpEchoServer, peer: &UdpPeer| {
        let port = peer.local_addr().port();
        server
            .received()
            .iter()
            .filter(|(from, _)| from.port() == port)
            .count()
    };
    // The monitored conduit: 20 datagrams at once, far over 1 pps with a burst of 1.
    let peer_m = send_burst(monitored.addr());
    // The enforcing conduit with the same limit.
    let peer_e = send_burst(enforced.addr());
    // No conduit: enforced whatever the conduits' modes.
    let peer_c = UdpPeer::bind(ent, any).expect("bind");
    peer_c.send_to(closed.addr(), b"closed").expect("send");
    // A Modbus write on the monitored read-only conduit: the echo server answers it as a
    // PLC would (the response of FC 6 repeats the request).
    let adu = modbus_write_single_register(1, 10, 1);
    let stream = tcp_connect(ent, None, plc.addr(), Duration::from_secs(3))
        .unwrap_or_else(|e| panic!("Modbus TCP connect: {e:#}"));
    let modbus_port = stream.local_addr().expect("local addr").port();
    let modbus_result = echo_over(&stream, &adu, Duration::from_secs(5));

    let deadline = Instant::now() + Duration::from_secs(3);
    while from_peer(&monitored, &peer_m) < N && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    thread::sleep(Duration::from_millis(500));
    let mut failures = Vec::new();
    let arrived_m = from_peer(&monitored, &peer_m);
    if arrived_m != N {
        failures.push(format!(
            "{MONITORED} (monitor): {arrived_m} of {N} datagrams arrived, expected all"
        ));
    }
    let arrived_e = from_peer(&enforced, &peer_e);
    if !(1..=2).contains(&arrived_e) {
        failures.push(format!(
            "{ENFORCED} (enforce, 1 pps burst 1): {arrived_e} of {N} datagrams arrived, \
             expected 1 or 2"
        ));
    }
    if !closed.received().is_empty() {
        failures.push("a datagram without conduit arrived".to_string());
    }
    if let Err(e) = modbus_result {
        failures.push(format!(
            "the Modbus write did not pass the monitored conduit: {e:#}"
        ));
    }

    let m_port = peer_m.local_addr().port();
    let e_port = peer_e.local_addr().port();
    let alert_m = json!({ "action": "alert", "reason": "rate_limited", "conduit": MONITORED,
                          "src": "10.10.0.2", "src_port": m_port, "dst": "10.30.0.2",
                          "dst_port": 9000, "proto": "udp", "src_zone": "enterprise",
                          "dst_zone": "control" });
    let drop_e = json!({ "action": "drop", "reason": "rate_limited", "conduit": ENFORCED,
                         "src": "10.10.0.2", "src_port": e_port, "dst": "10.20.0.2",
                         "dst_port": 9000 });
    let drop_c = json!({ "action": "drop", "reason": "default_deny", "conduit": "default",
                         "src_port": peer_c.local_addr().port(), "dst_port": 9001 });
    let alert_modbus = json!({ "action": "alert", "reason": "modbus_function", "conduit": MODBUS,
                               "src": "10.10.0.2", "src_port": modbus_port, "dst_port": 502,
                               "protocol": "modbus" });
    let dropped_e = N - arrived_e;
    let events = await_events(&zcfw, EVENT_WAIT, |evs| {
        count(evs, &alert_m) >= N - 2
            && count(evs, &drop_e) >= dropped_e
            && count(evs, &drop_c) >= 1
            && count(evs, &alert_modbus) >= 1
    });
    let after = zcfw.stats().expect("stats");
    let n_alert_m = count(&events, &alert_m);
    // 20 sent back to back: the first takes the one token, a second only if a second passed.
    if !(N - 2..=N - 1).contains(&n_alert_m) {
        failures.push(format!(
            "{n_alert_m} rate_limited alerts of {MONITORED}, expected {} or {}",
            N - 2,
            N - 1
        ));
    }
    let n_drop_e = count(&events, &drop_e);
    if n_drop_e != dropped_e {
        failures.push(format!(
            "{n_drop_e} rate_limited drop events of {ENFORCED}, but {dropped_e} datagrams \
             did not arrive"
        ));
    }
    if count(&events, &drop_c) != 1 {
        failures.push("no default_deny drop event for the datagram without conduit".into());
    }
    let modbus_alerts: Vec<&Value> = events.iter().filter(|e| has(e, &alert_modbus)).collect();
    match modbus_alerts.as_slice() {
        [ev] => {
            let wrong = modbus_mismatches(ev, 1, 6, "write_single_register", Address::IfKnown(10));
            if !wrong.is_empty() {
                failures.push(format!("the modbus_function alert: {}", wrong.join("; ")));
            }
        }
        other => failures.push(format!(
            "{} modbus_function alerts of {MODBUS}, expected 1: {other:?}",
            other.len()
        )),
    }
    let alerts = reason_packets(&after, "alert") - reason_packets(&before, "alert");
    let alert_events = events.iter().filter(|e| e["action"] == "alert").count() as u64;
    if alerts != alert_events {
        failures.push(format!(
            "stats count {alerts} alerts, zcfw events lists {alert_events}"
        ));
    }
    let rate_drops =
        reason_packets(&after, "rate_limited") - reason_packets(&before, "rate_limited");
    if rate_drops != dropped_e as u64 {
        failures.push(format!(
            "rate_limited counted {rate_drops} drops; only {ENFORCED} enforces, and it \
             dropped {dropped_e}"
        ));
    }
    assert!(
        failures.is_empty(),
        "{} problem(s):\n- {}\nall events: {events:#?}",
        failures.len(),
        failures.join("\n- ")
    );
}

#[test]
fn metrics_endpoint_matches_stats() {
    let plant = plant("obs_metrics");
    let policy = plant.render_policy(POLICY, "obs-metrics", XdpMode::Native);
    let listen: SocketAddr = "127.0.0.1:9469".parse().expect("addr");
    let zcfw = start(
        &plant,
        &policy,
        &RunOptions {
            metrics_listen: Some(listen),
            ..RunOptions::default()
        },
    );
    let if_ent = plant.host(Zone::Enterprise).gateway_ifname.clone();
    let before = zcfw.stats().expect("stats");

    // Known traffic: 3 allowed pings, 4 SYNs without conduit, 1 spoofed source, 1 Modbus
    // write on a read-only conduit.
    let replies = ping(
        &plant.host(Zone::Enterprise).ns,
        ip("10.20.0.2"),
        3,
        Duration::from_secs(3),
    )
    .unwrap_or_else(|e| panic!("ping: {e:#}"));
    assert_eq!(replies, 3, "pings enterprise → dmz are allowed");
    for sport in 44001..44005 {
        send_frame(
            &plant,
            Zone::Enterprise,
            ip("10.10.0.2"),
            ip("10.30.0.2"),
            &syn(sport, 5020),
        );
    }
    send_frame(
        &plant,
        Zone::Enterprise,
        ip("10.30.0.99"),
        ip("10.20.0.2"),
        &udp(44005, 9000, b"spoofed"),
    );
    send_frame(
        &plant,
        Zone::Dmz,
        ip("10.20.0.2"),
        ip("10.30.0.2"),
        &Transport::Tcp {
            src_port: 44006,
            dst_port: 502,
            seq: 1,
            ack: 1,
            flags: tcp_flags::PSH | tcp_flags::ACK,
            payload: modbus_write_single_register(1, 10, 1),
        },
    );
    thread::sleep(Duration::from_millis(200));

    // Scrape between two equal stats readings, so nothing moved meanwhile.
    let (stats, metrics) = {
        let mut tries = 0;
        loop {
            let a = zcfw.stats().expect("stats");
            let m = zcfw.metrics().unwrap_or_else(|e| panic!("scrape: {e:#}"));
            let b = zcfw.stats().expect("stats");
            tries += 1;
            if a == b || tries == 10 {
                assert_eq!(a, b, "counters kept moving; cannot compare");
                break (a, m);
            }
            thread::sleep(Duration::from_millis(200));
        }
    };

    let mut failures = Vec::new();
    let mut spurious = Vec::new();
    let mut expect =
        |name: &str, labels: &[(&str, &str)], want: u64| match metrics.get(name, labels) {
            Some(v) if v == want as f64 => {}
            Some(v) => failures.push(format!("{name}{labels:?} is {v}, stats say {want}")),
            None => failures.push(format!("{name}{labels:?} missing (stats say {want})")),
        };
    for c in stats["conduits"].as_array().expect("conduits") {
        let name = c["name"].as_str().expect("name");
        let labels = [
            ("conduit", name),
            ("from", c["from"].as_str().expect("from")),
            ("to", c["to"].as_str().expect("to")),
        ];
        expect(
            "zcfw_conduit_packets_total",
            &labels,
            c["packets"].as_u64().expect("n"),
        );
        expect(
            "zcfw_conduit_bytes_total",
            &labels,
            c["bytes"].as_u64().expect("n"),
        );
        if let Some(denied) = c["denied"].as_object() {
            for (reason, d) in denied {
                expect(
                    "zcfw_conduit_denied_packets_total",
                    &[("conduit", name), ("reason", reason)],
                    d["packets"].as_u64().expect("n"),
                );
            }
        }
        let actions = c["actions"].as_object().expect("actions");
        assert_eq!(
            actions.keys().map(String::as_str).collect::<Vec<_>>(),
            ["alert", "drop", "exception", "reset"],
            "{name}: actions"
        );
        // Metrics list the actions a conduit's inspection can take (and any with a count).
        let inspects = c["denied"].as_object().is_some_and(|d| !d.is_empty());
        let possible: &[&str] = match (inspects, c["on_violation"].as_str()) {
            (false, _) => &[],
            (true, Some("drop")) => &["drop"],
            (true, Some("exception")) => &["drop", "exception", "reset"],
            (true, _) => &["drop", "reset"],
        };
        for (action, d) in actions {
            let labels = [("conduit", name), ("action", action.as_str())];
            let n = d["packets"].as_u64().expect("n");
            if possible.contains(&action.as_str()) || n != 0 {
                expect("zcfw_conduit_violation_actions_packets_total", &labels, n);
            } else if let Some(v) =
                metrics.get("zcfw_conduit_violation_actions_packets_total", &labels)
            {
                spurious.push(format!("{name}: action {action} ({v}) cannot count here"));
            }
        }
    }
    // The Modbus write was reset (the conduit's default `on_violation: reset`).
    let historian = stats["conduits"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["name"] == "historian-reads-plcs")
        .expect("historian-reads-plcs in stats");
    assert_eq!(
        (
            historian["on_violation"].as_str(),
            historian["actions"]["reset"]["packets"].as_u64(),
            historian["actions"]["drop"]["packets"].as_u64(),
        ),
        (Some("reset"), Some(1), Some(0)),
        "{historian}"
    );
    for r in stats["reasons"].as_array().expect("reasons") {
        let reason = r["reason"].as_str().expect("reason");
        let verdict = if r["passes"] == true { "pass" } else { "drop" };
        let labels = [("reason", reason), ("verdict", verdict)];
        expect(
            "zcfw_packets_total",
            &labels,
            r["packets"].as_u64().expect("n"),
        );
        expect("zcfw_bytes_total", &labels, r["bytes"].as_u64().expect("n"));
    }
    let interfaces = stats["interfaces"].as_array().expect("interfaces");
    for i in interfaces {
        let name = i["name"].as_str().expect("name");
        for (verdict, key) in [("pass", "passed"), ("drop", "dropped")] {
            let labels = [("interface", name), ("verdict", verdict)];
            expect(
                "zcfw_interface_packets_total",
                &labels,
                i[key]["packets"].as_u64().expect("n"),
            );
            expect(
                "zcfw_interface_bytes_total",
                &labels,
                i[key]["bytes"].as_u64().expect("n"),
            );
        }
    }
    for outcome in ["sent", "rate_limited", "ring_full"] {
        expect(
            "zcfw_events_total",
            &[("outcome", outcome)],
            event_counter(&stats, outcome),
        );
    }
    let generation = stats["policy"]["generation"].as_u64().expect("generation");
    expect("zcfw_policy_generation", &[], generation);
    let name = stats["policy"]["name"].as_str().expect("name").to_string();
    let hash = stats["policy"]["hash"].as_str().expect("hash").to_string();
    expect("zcfw_policy_info", &[("name", &name), ("hash", &hash)], 1);

    // The known traffic is in there.
    let delta = |f: &dyn Fn(&Value) -> u64| f(&stats) - f(&before);
    let conduit = |s: &Value, n: &str| {
        s["conduits"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["name"] == n))
            .map_or(0, |c| c["packets"].as_u64().unwrap_or(0))
    };
    let ent_to_dmz = delta(&|s| conduit(s, "enterprise-to-dmz"));
    if ent_to_dmz < 6 {
        failures.push(format!(
            "enterprise-to-dmz counted {ent_to_dmz} packets for 3 pings"
        ));
    }
    let deny = delta(&|s| reason_packets(s, "default_deny"));
    if deny < 4 {
        failures.push(format!("default_deny counted {deny} for 4 SYNs"));
    }
    let spoofed = delta(&|s| reason_packets(s, "spoofed_source"));
    if spoofed < 1 {
        failures.push("spoofed_source did not count the spoofed datagram".into());
    }
    let modbus_denied = stats["conduits"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["name"] == "historian-reads-plcs"))
        .map(|c| c["denied"]["modbus_function"]["packets"].clone());
    if modbus_denied != Some(json!(1)) {
        failures.push(format!(
            "historian-reads-plcs denied modbus_function: {modbus_denied:?}, expected 1"
        ));
    }
    let ent_if = |s: &Value, key: &str| {
        s["interfaces"]
            .as_array()
            .and_then(|is| is.iter().find(|i| i["name"] == if_ent.as_str()))
            .map_or(0, |i| i[key]["packets"].as_u64().unwrap_or(0))
    };
    let (ent_pass, ent_drop) = (
        delta(&|s| ent_if(s, "passed")),
        delta(&|s| ent_if(s, "dropped")),
    );
    if ent_pass < 3 || ent_drop < 5 {
        failures.push(format!(
            "{if_ent} counted {ent_pass} passed / {ent_drop} dropped, expected >= 3 / >= 5"
        ));
    }
    match metrics.get("zcfw_policy_load_seconds", &[]) {
        Some(v) if v > 0.0 && v < 60.0 => {}
        other => failures.push(format!("zcfw_policy_load_seconds is {other:?}")),
    }
    let up = zcfw.started().elapsed().as_secs_f64() + 1.0;
    match metrics.get("zcfw_uptime_seconds", &[]) {
        Some(v) if (0.0..=up).contains(&v) => {}
        other => failures.push(format!(
            "zcfw_uptime_seconds is {other:?}, expected <= {up}"
        )),
    }

    failures.extend(spurious);
    failures.extend(daemon_series_problems(&zcfw, &metrics, 0, 0));

    // Other paths are not metrics.
    match zcfw.scrape("/nothing") {
        Ok(r) if r.status == 404 => {}
        Ok(r) => failures.push(format!("GET /nothing answered {}", r.status)),
        Err(e) => failures.push(format!("GET /nothing: {e:#}")),
    }
    let r = zcfw.scrape("/metrics").expect("scrape");
    let ctype = r.headers.get("content-type").cloned().unwrap_or_default();
    if ctype != "text/plain; version=0.0.4; charset=utf-8" {
        failures.push(format!(
            "GET /metrics (Accept: */*) has content type {ctype:?}"
        ));
    }
    if !r.body.contains("# TYPE zcfw_packets_total counter\n") || r.body.contains("# EOF") {
        failures.push(
            "the Prometheus text format names counter families x_total, without # EOF".into(),
        );
    }
    failures.extend(negotiation_problems(&zcfw, &r.body));
    failures.extend(promtool_problems(&r.body));

    // A reload that goes live, one that is refused, and island mode: counted and shown.
    let before_reloads = SystemTime::now();
    if let Err(e) = zcfw.zcfw(&["reload"], Duration::from_secs(30)) {
        failures.push(format!("zcfw reload: {e:#}"));
    }
    let broken = zcfw.dir().join("broken-policy.yaml");
    std::fs::write(&broken, "version: 1\nname: broken\n").expect("write a broken policy");
    let broken = broken.to_string_lossy();
    if zcfw
        .zcfw(&["reload", "--policy", &broken], Duration::from_secs(30))
        .is_ok()
    {
        failures.push("a reload of an invalid policy was not refused".into());
    }
    zcfw.zcfw(&["island", "on"], Duration::from_secs(10))
        .expect("island on");
    let after = zcfw.metrics().unwrap_or_else(|e| panic!("scrape: {e:#}"));
    zcfw.zcfw(&["island", "off"], Duration::from_secs(10))
        .expect("island off");
    failures.extend(daemon_series_problems(&zcfw, &after, 1, 1));
    for (name, want) in [("zcfw_island_mode", 1.0), ("zcfw_reload_last_success", 0.0)] {
        if after.get(name, &[]) != Some(want) {
            failures.push(format!(
                "after the reloads and island on: {name} is {:?}, expected {want}",
                after.get(name, &[])
            ));
        }
    }
    let since = |t: SystemTime| {
        t.duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64())
    };
    match after.get("zcfw_reload_last_timestamp_seconds", &[]) {
        Some(t) if t >= since(before_reloads).floor() && t <= since(SystemTime::now()) => {}
        other => failures.push(format!("zcfw_reload_last_timestamp_seconds is {other:?}, expected the time of the refused reload")),
    }
    assert!(
        failures.is_empty(),
        "{} problem(s):\n- {}\nstats: {stats:#}\nmetrics:\n{}",
        failures.len(),
        failures.join("\n- "),
        r.body
    );
}

/// The daemon's own series: build, process start, island and monitor state (off), conntrack
/// fill, reloads (`ok` live, `refused`).
fn daemon_series_problems(
    zcfw: &Observed,
    metrics: &Metrics,
    ok: u64,
    refused: u64,
) -> Vec<String> {
    let mut failures = Vec::new();
    let build = metrics.all("zcfw_build_info");
    let labelled = |k: &str| {
        build
            .first()
            .and_then(|b| b.labels.get(k))
            .is_some_and(|v| !v.is_empty())
    };
    if build.len() != 1 || build[0].value != 1.0 || !labelled("version") || !labelled("abi") {
        failures.push(format!(
            "zcfw_build_info: {:?}",
            build
                .iter()
                .map(|b| (&b.labels, b.value))
                .collect::<Vec<_>>()
        ));
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    let up = zcfw.started().elapsed().as_secs_f64();
    match metrics.get("process_start_time_seconds", &[]) {
        Some(t) if t <= now && t >= now - up - 5.0 => {}
        other => failures.push(format!(
            "process_start_time_seconds is {other:?}, now {now}, up {up} s"
        )),
    }
    for (name, want) in [
        ("zcfw_monitor_mode", 0.0),
        ("zcfw_monitor_conduits", 0.0),
        ("zcfw_conntrack_capacity", 131_072.0),
    ] {
        if metrics.get(name, &[]) != Some(want) {
            failures.push(format!(
                "{name} is {:?}, expected {want}",
                metrics.get(name, &[])
            ));
        }
    }
    match metrics.get("zcfw_conntrack_entries", &[]) {
        Some(n) if (0.0..=131_072.0).contains(&n) => {}
        other => failures.push(format!("zcfw_conntrack_entries is {other:?}")),
    }
    for (result, want) in [("ok", ok), ("refused", refused)] {
        let got = metrics.get("zcfw_reloads_total", &[("result", result)]);
        if got != Some(want as f64) {
            failures.push(format!(
                "zcfw_reloads_total{{result={result}}} is {got:?}, expected {want}"
            ));
        }
    }
    failures
}

/// `promtool check metrics` on a scrape in the Prometheus text format: it must pass with
/// nothing to say. Without promtool (Debian package `prometheus`, `cargo xtask setup`) a
/// problem under CI, a skip with a message elsewhere.
fn promtool_problems(text: &str) -> Vec<String> {
    use std::{io::Write, process::Stdio};
    let mut child = match std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if std::env::var_os("CI").is_some() {
                return vec!["promtool is not installed (apt-get install prometheus)".into()];
            }
            eprintln!(
                "SKIPPED promtool check metrics: promtool is not installed (apt-get install prometheus, or `cargo xtask setup`)"
            );
            return Vec::new();
        }
        Err(e) => return vec![format!("cannot run promtool: {e}")],
    };
    if let Err(e) = child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
    {
        return vec![format!("cannot write to promtool: {e}")];
    }
    let out = match child.wait_with_output() {
        Ok(out) => out,
        Err(e) => return vec![format!("promtool: {e}")],
    };
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() && said.trim().is_empty() {
        Vec::new()
    } else {
        vec![format!("promtool check metrics ({}):\n{said}", out.status)]
    }
}

/// What Prometheus 3 sends.
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";

/// OpenMetrics for Prometheus, with the samples of the text format `text`; HEAD like GET
/// without a body; other methods refused.
fn negotiation_problems(zcfw: &Observed, text: &str) -> Vec<String> {
    let mut failures = Vec::new();
    let om = match zcfw.request("GET", "/metrics", PROMETHEUS_ACCEPT) {
        Ok(r) => r,
        Err(e) => return vec![format!("GET with Prometheus' Accept: {e:#}")],
    };
    let ctype = om.headers.get("content-type").map(String::as_str);
    if om.status != 200
        || ctype != Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    {
        failures.push(format!("Prometheus' Accept got {} {ctype:?}", om.status));
    }
    if !om.body.ends_with("# EOF\n") || !om.body.contains("# TYPE zcfw_packets counter\n") {
        failures.push(format!("not OpenMetrics:\n{}", om.body));
    }
    // The same samples (names and labels) in both formats.
    let names = |body: &str| -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = Metrics::parse(body)
            .map(|m| m.samples)
            .unwrap_or_default()
            .into_iter()
            .filter(|s| s.name != "zcfw_uptime_seconds")
            .map(|s| (s.name, format!("{:?}", s.labels)))
            .collect();
        v.sort();
        v
    };
    if names(&om.body) != names(text) || names(text).is_empty() {
        failures.push("OpenMetrics and the text format hold different samples".into());
    }
    match zcfw.request("HEAD", "/metrics", "*/*") {
        Ok(head) => {
            let length: usize = head
                .headers
                .get("content-length")
                .and_then(|l| l.parse().ok())
                .unwrap_or(0);
            // The length GET would have (the uptime may have gained a digit).
            if head.status != 200 || !head.body.is_empty() || length.abs_diff(text.len()) > 4 {
                failures.push(format!(
                    "HEAD /metrics: {} with {} body bytes, Content-Length {length}",
                    head.status,
                    head.body.len()
                ));
            }
        }
        Err(e) => failures.push(format!("HEAD /metrics: {e:#}")),
    }
    match zcfw.request("DELETE", "/metrics", "*/*") {
        Ok(r) if r.status == 405 => {}
        Ok(r) => failures.push(format!("DELETE /metrics answered {}", r.status)),
        Err(e) => failures.push(format!("DELETE /metrics: {e:#}")),
    }
    failures
}

#[test]
fn event_flood_is_rate_limited_counted_and_survived() {
    const RATE: u64 = 100;
    const FLOOD: u16 = 5000;
    let plant = plant("obs_flood");
    let policy = plant.render_policy(POLICY, "obs-flood", XdpMode::Native);
    let zcfw = start(
        &plant,
        &policy,
        &RunOptions {
            event_rate: Some(RATE as u32),
            ..RunOptions::default()
        },
    );
    let cpus = u64::from(possible_cpus().expect("possible CPUs"));
    let before = zcfw.stats().expect("stats");

    // Flood from the enterprise host while the daemon is asked for its status all along.
    let host = plant.host(Zone::Enterprise);
    let sock = PacketSocket::open(&host.ns, &host.ifname).expect("packet socket");
    let (src_mac, dst_mac) = plant.macs_to_gateway(Zone::Enterprise).expect("macs");
    let done = AtomicBool::new(false);
    let mut slowest = Duration::ZERO;
    let mut answers = 0;
    thread::scope(|s| {
        let sender = s.spawn(|| {
            for i in 0..FLOOD {
                let frame = build_frame(
                    src_mac,
                    dst_mac,
                    ip("10.10.0.2"),
                    ip("10.30.0.2"),
                    &syn(10000 + i, 5020),
                );
                sock.send(&frame).expect("send");
                if i % 200 == 199 {
                    // Let the veth's ring drain, so that the program sees the whole flood.
                    thread::sleep(Duration::from_millis(2));
                }
            }
            done.store(true, Ordering::Relaxed);
        });
        while !done.load(Ordering::Relaxed) || answers == 0 {
            let t = Instant::now();
            zcfw.status()
                .unwrap_or_else(|e| panic!("status during the flood: {e:#}"));
            slowest = slowest.max(t.elapsed());
            answers += 1;
        }
        sender.join().expect("sender");
    });

    // Counters settle: every drop is an event sent, suppressed or lost, never nothing.
    let deadline = Instant::now() + Duration::from_secs(3);
    let stats = loop {
        let s = zcfw.stats().expect("stats");
        let accounted = event_counter(&s, "sent")
            + event_counter(&s, "rate_limited")
            + event_counter(&s, "ring_full");
        if accounted == dropped_packets(&s) || Instant::now() >= deadline {
            break s;
        }
        thread::sleep(Duration::from_millis(100));
    };
    let elapsed = zcfw.started().elapsed().as_secs_f64();
    let (sent, limited, ring_full) = (
        event_counter(&stats, "sent"),
        event_counter(&stats, "rate_limited"),
        event_counter(&stats, "ring_full"),
    );
    let drops = dropped_packets(&stats);
    let flood_seen =
        reason_packets(&stats, "default_deny") - reason_packets(&before, "default_deny");
    // Every CPU's bucket starts full (burst = rate) and refills at `rate` per second.
    let bound = cpus * (RATE * (elapsed.ceil() as u64) + RATE + 1);
    eprintln!(
        "flood: {FLOOD} frames sent, {flood_seen} seen as default_deny; events sent {sent}, \
         rate_limited {limited}, ring_full {ring_full}; {drops} drops; bound {bound} \
         ({cpus} CPUs, {elapsed:.1} s); status answered {answers} times, slowest {slowest:?}"
    );
    let mut failures = Vec::new();
    if flood_seen < u64::from(FLOOD) / 2 {
        failures.push(format!(
            "only {flood_seen} of {FLOOD} flood frames reached the program"
        ));
    }
    if limited == 0 {
        failures.push("events.rate_limited stayed 0 during the flood".into());
    }
    if sent > bound {
        failures.push(format!(
            "events.sent is {sent}, over {RATE}/s per CPU plus the burst ({bound})"
        ));
    }
    if sent + limited + ring_full != drops {
        failures.push(format!(
            "sent {sent} + rate_limited {limited} + ring_full {ring_full} != {drops} drops"
        ));
    }
    if slowest > Duration::from_secs(2) {
        failures.push(format!("zcfw status took {slowest:?} during the flood"));
    }
    // The daemon kept every event it was sent (fewer than it keeps).
    if sent <= 1000 && ring_full == 0 {
        let deadline = Instant::now() + Duration::from_secs(3);
        let listed = loop {
            let n = zcfw.events().expect("events").len() as u64;
            if n == sent || Instant::now() >= deadline {
                break n;
            }
            thread::sleep(Duration::from_millis(100));
        };
        if listed != sent {
            failures.push(format!(
                "zcfw events lists {listed} events, stats say {sent} sent"
            ));
        }
    }

    // Once the buckets refilled, a new deny is reported again.
    thread::sleep(Duration::from_millis(1200));
    send_frame(
        &plant,
        Zone::Enterprise,
        ip("10.10.0.2"),
        ip("10.30.0.2"),
        &syn(65000, 5020),
    );
    let probe = json!({ "action": "drop", "src": "10.10.0.2", "src_port": 65000 });
    let events = await_events(&zcfw, EVENT_WAIT, |evs| count(evs, &probe) > 0);
    if count(&events, &probe) != 1 {
        failures.push("after the flood, a new deny made no event".into());
    }
    let t = Instant::now();
    zcfw.stats().expect("stats after the flood");
    if t.elapsed() > Duration::from_secs(1) {
        failures.push(format!("zcfw stats took {:?} after the flood", t.elapsed()));
    }
    let mut zcfw = zcfw;
    if !zcfw.is_running() {
        failures.push("the daemon exited".into());
    }
    // Without --log-events, thousands of events left no line in the daemon's log.
    let logged = zcfw.log_tail(100_000);
    let event_lines = logged
        .lines()
        .filter(|l| l.contains("packet denied") || l.contains("packet alerted"))
        .count();
    if event_lines != 0 {
        failures.push(format!(
            "{event_lines} event(s) logged without --log-events"
        ));
    }
    assert!(
        failures.is_empty(),
        "{} problem(s):\n- {}\nlog:\n{}",
        failures.len(),
        failures.join("\n- "),
        zcfw.log_tail(20)
    );
}

/// A rate limit of 1 pps on UDP/9000 enterprise → dmz, Modbus read-only dmz → control.
const CLASSES_POLICY: &str = r#"
version: 1
name: ${NAME}
defaults: { action: deny, log: denied, mode: enforce }
interfaces:
  - { name: ${IF_ENTERPRISE}, zones: [enterprise] }
  - { name: ${IF_DMZ}, zones: [dmz] }
  - { name: ${IF_CONTROL}, zones: [control] }
zones:
  enterprise: { security_level: 1, networks: [10.10.0.0/24, "fd00:10::/64"] }
  dmz: { security_level: 2, networks: [10.20.0.0/24, "fd00:20::/64"] }
  control: { security_level: 3, networks: [10.30.0.0/24, "fd00:30::/64"] }
conduits:
  - name: enterprise-feeds-dmz
    from: enterprise
    to: dmz
    rules:
      - { protocol: udp, ports: [9000] }
    rate_limit: { pps: 1, burst: 1 }
  - name: historian-reads-plcs
    from: dmz
    to: control
    rules:
      - protocol: modbus
        modbus: { unit_ids: [1], functions: [read_holding_registers], addresses: ["0-99"] }
"#;

/// docs/events.schema.json, compiled.
fn event_schema() -> (boon::Schemas, boon::SchemaIndex) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/events.schema.json");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let schema: Value = serde_json::from_str(&text).expect("the schema is JSON");
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    compiler.enable_format_assertions();
    compiler
        .add_resource("urn:zcfw:schema:events:1", schema)
        .expect("schema resource");
    let index = compiler
        .compile("urn:zcfw:schema:events:1", &mut schemas)
        .unwrap_or_else(|e| panic!("the schema does not compile: {e:#}"));
    (schemas, index)
}

/// A forged Modbus write (function denied) from the DMZ historian to the PLC.
fn modbus_write(plant: &Plant, src_port: u16) {
    send_frame(
        plant,
        Zone::Dmz,
        ip("10.20.0.2"),
        ip("10.30.0.2"),
        &Transport::Tcp {
            src_port,
            dst_port: 502,
            seq: 1000,
            ack: 1,
            flags: tcp_flags::PSH | tcp_flags::ACK,
            payload: modbus_write_single_register(1, 10, 1),
        },
    );
}

#[test]
fn a_flood_of_rate_limited_events_does_not_hide_an_inspection_deny() {
    const RATE: u32 = 1500;
    const FLOOD: u16 = 6000;
    const RECENT: usize = 1000;
    let plant = plant("obs_classes");
    let policy = plant.render_policy(CLASSES_POLICY, "obs-classes", XdpMode::Native);
    let zcfw = start(
        &plant,
        &policy,
        &RunOptions {
            event_rate: Some(RATE),
            ..RunOptions::default()
        },
    );
    // A Modbus deny before the flood, then the flood: thousands of rate_limited drops from
    // one enterprise source, then a Modbus deny right after it.
    modbus_write(&plant, 41100);
    let host = plant.host(Zone::Enterprise);
    let sock = PacketSocket::open(&host.ns, &host.ifname).expect("packet socket");
    let (src_mac, dst_mac) = plant.macs_to_gateway(Zone::Enterprise).expect("macs");
    for i in 0..FLOOD {
        let frame = build_frame(
            src_mac,
            dst_mac,
            ip("10.10.0.2"),
            ip("10.20.0.2"),
            &udp(20000 + i, 9000, b"flood"),
        );
        sock.send(&frame).expect("send");
        if i % 500 == 499 {
            thread::sleep(Duration::from_millis(1));
        }
    }
    modbus_write(&plant, 41101);

    let deny = |port: u16| json!({ "reason": "modbus_function", "src_port": port });
    let events = await_events(&zcfw, EVENT_WAIT, |evs| count(evs, &deny(41101)) == 1);
    let stats = zcfw.stats().expect("stats");
    let mut failures = Vec::new();
    let flood_listed = count(&events, &json!({ "reason": "rate_limited" }));
    let flood_limited = reason_packets(&stats, "rate_limited");
    let suppressed = &stats["events"]["suppressed"];
    eprintln!(
        "classes: {flood_limited} rate_limited drops, {flood_listed} listed; events {}",
        stats["events"]
    );
    // The flood filled its own ring: more than it keeps were sent.
    if flood_listed != RECENT {
        failures.push(format!(
            "{flood_listed} rate_limited events listed, expected the ring's {RECENT} (of \
             {flood_limited} rate_limited drops)"
        ));
    }
    for port in [41100, 41101] {
        if count(&events, &deny(port)) != 1 {
            failures.push(format!(
                "the Modbus deny from port {port} is not listed once after the flood"
            ));
        }
    }
    for e in events
        .iter()
        .filter(|e| has(e, &json!({ "reason": "rate_limited" })))
    {
        if e["class"] != "flood" || e["event_type"] != "drop" {
            failures.push(format!("a rate_limited event of another class: {e}"));
            break;
        }
    }
    // The flood emptied its own bucket, not the inspection one.
    if suppressed["flood"].as_u64().unwrap_or(0) == 0 {
        failures.push(format!("no flood event suppressed: {}", stats["events"]));
    }
    if suppressed["inspection"].as_u64() != Some(0) {
        failures.push(format!("inspection events suppressed: {}", stats["events"]));
    }
    let total: u64 = ["inspection", "policy", "flood"]
        .iter()
        .map(|c| suppressed[c].as_u64().unwrap_or(0))
        .sum();
    if total != event_counter(&stats, "rate_limited") {
        failures.push(format!(
            "suppressed per class does not add up to rate_limited: {}",
            stats["events"]
        ));
    }

    // Every real line validates against the documented schema.
    let (schemas, index) = event_schema();
    for e in &events {
        if let Err(err) = schemas.validate(e, index) {
            failures.push(format!("{e}\n  does not validate: {err:#}"));
            break;
        }
    }
    // Both directions of a flow share the Community ID; the deny carries it.
    let d = events
        .iter()
        .find(|e| has(e, &deny(41101)))
        .cloned()
        .unwrap_or_default();
    if !d["community_id"]
        .as_str()
        .is_some_and(|c| c.starts_with("1:"))
        || !d["flow_id"].is_u64()
    {
        failures.push(format!("the deny has no community_id or flow_id: {d}"));
    }

    // Filters and formats against the running daemon.
    let cli = |args: &[&str]| zcfw.zcfw(args, Duration::from_secs(10));
    let lines = |args: &[&str]| -> Vec<Value> {
        cli(args)
            .map_err(|e| format!("{e:#}"))
            .and_then(|out| zcfw_harness::observe::parse_lines(&out).map_err(|e| format!("{e:#}")))
            .unwrap_or_else(|e| panic!("zcfw {args:?}: {e}"))
    };
    let last = lines(&["events", "--json", "--reason", "modbus_function", "-n", "1"]);
    if last.len() != 1 || !has(&last[0], &deny(41101)) {
        failures.push(format!("--reason modbus_function -n 1 gave {last:?}"));
    }
    let inspection = lines(&["events", "--json", "--class", "inspection"]);
    if inspection.len() != 2 {
        failures.push(format!(
            "--class inspection gave {} events",
            inspection.len()
        ));
    }
    let flood = lines(&["events", "--json", "--conduit", "enterprise-feeds-dmz"]);
    if flood.len() != RECENT {
        failures.push(format!(
            "--conduit enterprise-feeds-dmz gave {}",
            flood.len()
        ));
    }
    let control = lines(&["events", "--json", "--zone", "control", "--since", "10m"]);
    if control.len() != 2 {
        failures.push(format!("--zone control --since 10m gave {}", control.len()));
    }
    let future = lines(&["events", "--json", "--since", "2999-01-01T00:00:00Z"]);
    if !future.is_empty() {
        failures.push(format!("--since in the future gave {}", future.len()));
    }
    for (args, want) in [
        (
            &["events", "--conduit", "historian"][..],
            "unknown conduit `historian`",
        ),
        (
            &["events", "--zone", "contrl"][..],
            "did you mean `control`?",
        ),
        (
            &["events", "--reason", "modbus"][..],
            "unknown reason `modbus`",
        ),
    ] {
        match cli(args) {
            Ok(out) => failures.push(format!("zcfw {args:?} succeeded: {out}")),
            Err(e) if format!("{e:#}").contains(want) => {}
            Err(e) => failures.push(format!("zcfw {args:?}: {e:#} (expected {want:?})")),
        }
    }
    let cef = cli(&["events", "--format", "cef", "--reason", "modbus_function"]).expect("cef");
    let cef: Vec<&str> = cef.lines().collect();
    if cef.len() != 2
        || !cef.iter().all(|l| {
            l.starts_with("CEF:0|zcfw|zcfw|")
                && l.contains("|modbus_function|drop modbus_function|7|")
                && l.contains(" src=10.20.0.2 dst=10.30.0.2 ")
        })
    {
        failures.push(format!("--format cef: {cef:?}"));
    }
    let syslog = cli(&[
        "events",
        "--format",
        "syslog",
        "-n",
        "1",
        "--reason",
        "modbus_function",
    ])
    .expect("syslog");
    if !(syslog.starts_with("<132>1 ")
        && syslog.contains(" zcfw - drop [zcfw@32473 event_type=\"drop\" action=\"reset\" reason=\"modbus_function\"")
        && syslog.lines().count() == 1)
    {
        failures.push(format!("--format syslog: {syslog}"));
    }
    assert!(
        failures.is_empty(),
        "{} problem(s):\n- {}\nlog:\n{}",
        failures.len(),
        failures.join("\n- "),
        zcfw.log_tail(20)
    );
}
