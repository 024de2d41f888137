//! docs/events.schema.json against what the daemon writes: every kind of event line, decoded
//! from kernel records as the daemon decodes them, validates; and the fields the schema
//! declares are exactly those the lines carry (a field added to the code or removed from it
//! without the schema, or the other way round, fails here).

use std::collections::BTreeSet;

use firewall_common::{
    event::{Event, action, detail},
    flow::proto,
    reason::Reason,
};
use serde_json::Value;

use super::{encode, record_in};
use crate::{
    compile::{self, CompiledPolicy},
    control::event::{AttachmentNotice, ControlNotice, EventLine, Notice},
    policy,
};

const SCHEMA: &str = include_str!("../../../docs/events.schema.json");
const SCHEMA_ID: &str = "urn:zcfw:schema:events:1";

const POLICY: &str = "
version: 1
name: schema-test
defaults: { action: deny, log: denied, mode: enforce }
interfaces:
  - { name: eth0, zones: [a] }
  - { name: eth1, zones: [b] }
zones:
  a: { security_level: 1, networks: [10.1.0.0/24, 'fd00:1::/64'] }
  b: { security_level: 2, networks: [10.2.0.0/24, 'fd00:2::/64'] }
conduits:
  - name: reads
    from: a
    to: b
    rules: [{ protocol: modbus, modbus: { unit_ids: [1], read_only: true } }]
";

fn compiled() -> CompiledPolicy {
    let validated = policy::load_str(POLICY, "schema-test.yaml")
        .unwrap_or_else(|e| panic!("invalid test policy:\n{e}"));
    compile::compile(&validated).unwrap_or_else(|e| panic!("compile: {e}"))
}

fn v4(a: [u8; 4]) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..4].copy_from_slice(&a);
    out
}

/// Kernel records of every shape: each protocol's inspection deny, a plain TCP deny, an
/// ICMP and an IPv6 one, an alert, a non-IP frame, a protocol without ports.
fn records(conduit: u16) -> Vec<Event> {
    let tcp = Event {
        timestamp_ns: 1_000_000_123,
        src: v4([10, 1, 0, 2]),
        dst: v4([10, 2, 0, 2]),
        ifindex: 2,
        generation: 3,
        src_port: 40000,
        dst_port: 502,
        src_zone: 1,
        dst_zone: 2,
        conduit_id: conduit,
        reason: Reason::ModbusAddress as u8,
        action: action::RESET,
        family: 4,
        proto: proto::TCP,
        scope: 1,
        code: 3,
        address: 500,
        detail: detail::IP | detail::SCOPE | detail::CODE | detail::ADDRESS,
        len: 80,
        ..Event::default()
    };
    let all = detail::IP | detail::SCOPE | detail::CODE | detail::ADDRESS;
    vec![
        tcp,
        Event {
            reason: Reason::Iec104Cause as u8,
            scope: 6 | 0x40,
            code: 45,
            address: 1,
            detail: all,
            dst_port: 2404,
            ..tcp
        },
        Event {
            reason: Reason::Dnp3Function as u8,
            code: 13,
            address: 10,
            detail: detail::IP | detail::CODE | detail::ADDRESS,
            dst_port: 20000,
            ..tcp
        },
        Event {
            reason: Reason::BacnetService as u8,
            scope: 0,
            code: 15,
            address: 77,
            detail: all,
            proto: proto::UDP,
            dst_port: 47808,
            ..tcp
        },
        Event {
            reason: Reason::BacnetBvlc as u8,
            code: 4,
            detail: detail::IP | detail::CODE,
            proto: proto::UDP,
            dst_port: 47808,
            ..tcp
        },
        Event {
            reason: Reason::BacnetNetwork as u8,
            code: 0,
            detail: detail::IP | detail::CODE,
            proto: proto::UDP,
            dst_port: 47808,
            ..tcp
        },
        Event {
            reason: Reason::BacnetDirection as u8,
            scope: 2,
            detail: detail::IP | detail::SCOPE,
            proto: proto::UDP,
            dst_port: 47808,
            ..tcp
        },
        Event {
            reason: Reason::OpcuaService as u8,
            scope: 5,
            code: 22,
            address: 673,
            detail: all,
            dst_port: 4840,
            ..tcp
        },
        Event {
            reason: Reason::OpcuaSecurityPolicy as u8,
            scope: 4,
            code: 0,
            detail: detail::IP | detail::SCOPE | detail::CODE,
            dst_port: 4840,
            ..tcp
        },
        Event {
            reason: Reason::OpcuaEncrypted as u8,
            scope: 5,
            address: 0xFFFF,
            detail: detail::IP | detail::SCOPE | detail::ADDRESS,
            dst_port: 4840,
            ..tcp
        },
        Event {
            reason: Reason::OpcuaDirection as u8,
            scope: 1,
            detail: detail::IP | detail::SCOPE,
            dst_port: 4840,
            ..tcp
        },
        Event {
            reason: Reason::S7commAddress as u8,
            scope: 0x84,
            code: 5,
            address: 7,
            detail: all,
            dst_port: 102,
            ..tcp
        },
        Event {
            reason: Reason::S7commFunction as u8,
            scope: 4,
            code: 2,
            detail: detail::IP | detail::SCOPE | detail::CODE,
            dst_port: 102,
            ..tcp
        },
        Event {
            reason: Reason::S7commTsap as u8,
            address: 0x0103,
            detail: detail::IP | detail::ADDRESS,
            dst_port: 102,
            ..tcp
        },
        Event {
            reason: Reason::S7commDirection as u8,
            code: 0xE0,
            detail: detail::IP | detail::CODE,
            dst_port: 102,
            ..tcp
        },
        Event {
            reason: Reason::EnipService as u8,
            scope: 2,
            code: 0x10,
            address: 1,
            detail: all,
            dst_port: 44818,
            ..tcp
        },
        Event {
            reason: Reason::EnipService as u8,
            scope: 0,
            code: 0x4D,
            detail: detail::IP | detail::SCOPE | detail::CODE,
            dst_port: 44818,
            ..tcp
        },
        Event {
            reason: Reason::EnipCommand as u8,
            code: 0x70,
            detail: detail::IP | detail::CODE,
            dst_port: 44818,
            ..tcp
        },
        Event {
            reason: Reason::EnipDirection as u8,
            code: 0x8E,
            detail: detail::IP | detail::CODE,
            dst_port: 44818,
            ..tcp
        },
        Event {
            reason: Reason::DefaultDeny as u8,
            action: action::DROP,
            conduit_id: 0,
            detail: detail::IP,
            dst_port: 22,
            ..tcp
        },
        Event {
            reason: Reason::RateLimited as u8,
            action: action::ALERT,
            proto: proto::UDP,
            detail: detail::IP,
            ..tcp
        },
        Event {
            reason: Reason::DefaultDeny as u8,
            action: action::DROP,
            proto: proto::ICMP,
            icmp_type: 8,
            src_zone: 0,
            detail: detail::IP,
            ..tcp
        },
        Event {
            reason: Reason::SpoofedSource as u8,
            action: action::DROP,
            family: 6,
            src: "fd00:1::2"
                .parse::<std::net::Ipv6Addr>()
                .expect("v6")
                .octets(),
            dst: "fd00:2::2"
                .parse::<std::net::Ipv6Addr>()
                .expect("v6")
                .octets(),
            proto: proto::UDP,
            detail: detail::IP,
            ..tcp
        },
        Event {
            reason: Reason::DefaultDeny as u8,
            action: action::DROP,
            proto: 47,
            detail: detail::IP,
            ..tcp
        },
        Event {
            reason: Reason::L2Denied as u8,
            action: action::DROP,
            conduit_id: 0,
            ifindex: 9,
            detail: 0,
            ..Event::default()
        },
    ]
}

/// Every kind of line the daemon writes, as it writes them.
fn lines() -> Vec<Value> {
    let policy = compiled();
    let conduit = policy
        .conduits
        .iter()
        .find(|c| c.name == "reads")
        .expect("conduit")
        .id;
    let iface = |i: u32| (i == 2).then(|| "eth0".to_owned());
    let mut lines: Vec<Value> = records(conduit)
        .iter()
        .map(|ev| record_in(ev, &policy, iface, 1_765_000_000_000_000_000))
        .map(|p| EventLine::Packet(Box::new(p)))
        .chain([
            EventLine::Notice(Notice::Attachment(AttachmentNotice {
                time: super::now_rfc3339(),
                action: "xdp_reattached".into(),
                interface: "eth0".into(),
                detail: "attached again".into(),
            })),
            EventLine::Notice(Notice::Control(ControlNotice {
                time: super::now_rfc3339(),
                action: "refused".into(),
                what: "reload".into(),
                result: "refused".into(),
                uid: 1000,
                user: "alice".into(),
                pid: None,
                command: "zcfw".into(),
            })),
            EventLine::Missed { missed_events: 3 },
        ])
        .map(|line| serde_json::from_str(&encode(&line)).expect("JSON"))
        .collect();
    // The `pid` of a control notice is a number when the kernel named the peer.
    let mut with_pid = lines[lines.len() - 2].clone();
    with_pid["pid"] = 4711.into();
    lines.push(with_pid);
    lines
}

fn validator() -> (boon::Schemas, boon::SchemaIndex) {
    let schema: Value = serde_json::from_str(SCHEMA).expect("docs/events.schema.json is JSON");
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    compiler.enable_format_assertions();
    compiler
        .add_resource(SCHEMA_ID, schema)
        .expect("schema resource");
    let index = compiler
        .compile(SCHEMA_ID, &mut schemas)
        .unwrap_or_else(|e| panic!("docs/events.schema.json does not compile: {e:#}"));
    (schemas, index)
}

/// Validates `line` against docs/events.schema.json.
pub(crate) fn schema_errors(line: &Value) -> Option<String> {
    let (schemas, index) = validator();
    schemas
        .validate(line, index)
        .err()
        .map(|e| format!("{e:#}"))
}

#[test]
fn every_kind_of_event_line_validates_against_the_schema() {
    for line in lines() {
        if let Some(err) = schema_errors(&line) {
            panic!("{line}\ndoes not validate against docs/events.schema.json:\n{err}");
        }
    }
}

#[test]
fn the_schema_rejects_what_it_must() {
    let (schemas, index) = validator();
    let packet = lines().into_iter().next().expect("a packet line");
    let mut bad = Vec::new();
    let mut extra = packet.clone();
    extra["undocumented"] = 1.into();
    bad.push(("an undocumented field", extra));
    let mut no_host = packet.clone();
    no_host.as_object_mut().expect("object").remove("host");
    bad.push(("no host", no_host));
    let mut short_time = packet.clone();
    short_time["time"] = "2026-12-07T08:12:40.31Z".into();
    bad.push(("a time without nine fractional digits", short_time));
    let mut bad_id = packet.clone();
    bad_id["community_id"] = "2:abc".into();
    bad.push(("a malformed community id", bad_id));
    for (what, line) in bad {
        assert!(
            schemas.validate(&line, index).is_err(),
            "the schema accepts {what}: {line}"
        );
    }
}

/// Object keys by path (`packet.modbus.unit`): every key of every object, the path naming
/// the kind of line at the top.
fn keys_of(kind: &str, v: &Value, out: &mut BTreeSet<String>) {
    if let Value::Object(map) = v {
        for (k, v) in map {
            let path = format!("{kind}.{k}");
            keys_of(&path, v, out);
            out.insert(path);
        }
    }
}

fn kind_of(line: &Value) -> &'static str {
    match line.get("kind").and_then(Value::as_str) {
        Some("attachment") => "attachment",
        Some("control") => "control",
        _ if line.get("missed_events").is_some() => "missed",
        _ => "packet",
    }
}

/// The properties the schema declares, by the same paths.
fn declared(kind: &str, def: &Value, out: &mut BTreeSet<String>) {
    if let Some(props) = def.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            let path = format!("{kind}.{k}");
            declared(&path, v, out);
            out.insert(path);
        }
    }
}

#[test]
fn the_schema_declares_exactly_the_fields_the_daemon_writes() {
    let schema: Value = serde_json::from_str(SCHEMA).expect("JSON");
    let mut want = BTreeSet::new();
    for kind in ["packet", "attachment", "control", "missed"] {
        declared(kind, &schema["$defs"][kind], &mut want);
    }
    let mut seen = BTreeSet::new();
    for line in lines() {
        keys_of(kind_of(&line), &line, &mut seen);
    }
    let undeclared: Vec<_> = seen.difference(&want).collect();
    let unwritten: Vec<_> = want.difference(&seen).collect();
    assert!(
        undeclared.is_empty() && unwritten.is_empty(),
        "docs/events.schema.json and the event lines differ: written but not declared \
         {undeclared:?}; declared but never written {unwritten:?} (update the schema, its \
         version and docs/events.md together)"
    );
}

/// The fields of each `--log-events` record (journal fields `ZCFW_<NAME>` under systemd,
/// docs/events.md "The journal"), collected by a layer of the test's own.
#[derive(Clone, Default)]
struct Fields(std::sync::Arc<std::sync::Mutex<Vec<BTreeSet<String>>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Fields {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Names(BTreeSet<String>);
        impl tracing::field::Visit for Names {
            fn record_debug(&mut self, field: &tracing::field::Field, _: &dyn std::fmt::Debug) {
                self.0.insert(field.name().to_owned());
            }
        }
        if event.metadata().target() == "zcfw::event" {
            let mut names = Names(BTreeSet::new());
            event.record(&mut names);
            self.0.lock().expect("fields").push(names.0);
        }
    }
}

#[test]
fn logged_events_carry_the_documented_journal_fields() {
    use tracing_subscriber::layer::SubscriberExt;
    let fields = Fields::default();
    let subscriber = tracing_subscriber::registry().with(fields.clone());
    let policy = compiled();
    tracing::subscriber::with_default(subscriber, || {
        for ev in records(1) {
            super::log(&record_in(&ev, &policy, |_| None, 0));
        }
    });
    let logged = fields.0.lock().expect("fields");
    assert_eq!(logged.len(), records(1).len());
    let docs = include_str!("../../../docs/events.md");
    for names in logged.iter() {
        for name in names.iter().filter(|n| *n != "message") {
            let journal = format!("`ZCFW_{}`", name.to_uppercase());
            assert!(
                docs.contains(&journal),
                "docs/events.md does not name the journal field {journal}"
            );
        }
        for required in [
            "reason",
            "action",
            "class",
            "conduit",
            "community_id",
            "policy_sha256",
        ] {
            assert!(names.contains(required), "no {required} in {names:?}");
        }
    }
}
