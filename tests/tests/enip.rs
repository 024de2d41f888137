//! EtherNet/IP-CIP deep inspection end to end, with a stack nobody here wrote: cpppo 5.2.5's
//! Logix simulator as the controller in the control zone (tags `SCADA` INT\[10\] and `SP` DINT,
//! also Message Router attributes 0x02/1/1 and 0x02/1/2) and pycomm3 1.2.16 as the client in the
//! dmz (`CIPDriver`, unconnected messaging: SendRRData) and in the enterprise zone
//! (`LogixDriver`, connected messaging: Large Forward_Open, then SendUnitData), plus hand-made
//! PDUs on plain connections for what pycomm3 will not send (a second PDU in a segment, splits).
//!
//! Policy (below): the dmz HMI may read (`read_only: true`: unconnected reads, no connected
//! messaging); engineering in the enterprise zone may read and write tags over a connection
//! (`commands`, `services` with write_tag but no set_attribute_single, `classes` without the
//! TCP/IP object 0xF5). Violations reset the connection (`on_violation: reset`: the client
//! fails at once instead of waiting out its timeout, and the controller's side is closed too).
//!
//! Every dangerous operation is checked from three sides: the client (no success), the
//! controller (the tags unchanged and no write executed: `enip_server.py` records every write
//! cpppo makes to a tag, whatever service asked for it) and zcfw (the reason in total and for
//! the conduit, the event with the service, class and nesting level).
//! `peers_through_port_level_conduits` runs the same cases with `protocol: tcp` conduits:
//! there each must act on the controller (or be served), which proves that the "no effect"
//! checks can see one.

use std::{
    net::SocketAddr,
    thread,
    time::{Duration, Instant},
};

use firewall_common::pktgen::enip as pdu;
use zcfw_harness::{
    Daemon, Family, Plant, XdpMode, Zone,
    enip::{self, ClientReply, EnipServer, EnipState},
    inspection::{EVENT_TIMEOUT, ExpectedDeny, Failures, Outcome, drops_since, has_detail},
    modbus::{StatsJson, ZcfwView},
    xdp_pass,
};

const INSPECTED: &str = r#"# tests/tests/enip.rs (a template: the harness fills in names and the XDP mode)
version: 1
name: ${NAME}
defaults: { action: deny, log: denied, mode: enforce }
interfaces:
  - { name: ${IF_ENTERPRISE}, zones: [enterprise], xdp_mode: ${XDP_MODE} }
  - { name: ${IF_DMZ}, zones: [dmz], xdp_mode: ${XDP_MODE} }
  - { name: ${IF_CONTROL}, zones: [control], xdp_mode: ${XDP_MODE} }
zones:
  enterprise: { security_level: 1, networks: [10.10.0.0/24, "fd00:10::/64"] }
  dmz: { security_level: 2, networks: [10.20.0.0/24, "fd00:20::/64"] }
  control: { security_level: 3, networks: [10.30.0.0/24, "fd00:30::/64"] }
conduits:
  - name: hmi-reads-plc
    from: dmz
    to: control
    on_violation: reset
    rules:
      - protocol: enip
        enip: { read_only: true }
  - name: engineering-writes-tags
    from: enterprise
    to: control
    on_violation: reset
    rules:
      - protocol: enip
        enip:
          commands: [register_session, unregister_session, list_identity, send_rr_data, send_unit_data]
          services: [get_attributes_all, get_attribute_single, read_tag, write_tag, forward_open,
                     large_forward_open, forward_close, unconnected_send, multiple_service_packet]
          classes: [0x01, 0x02, 0x06, 0x64, 0x6b]
"#;

/// The same plant with port-level conduits: everything on tcp/44818 passes.
const PORT_LEVEL: &str = r#"# tests/tests/enip.rs, without inspection
version: 1
name: ${NAME}
defaults: { action: deny, log: denied, mode: enforce }
interfaces:
  - { name: ${IF_ENTERPRISE}, zones: [enterprise], xdp_mode: ${XDP_MODE} }
  - { name: ${IF_DMZ}, zones: [dmz], xdp_mode: ${XDP_MODE} }
  - { name: ${IF_CONTROL}, zones: [control], xdp_mode: ${XDP_MODE} }
zones:
  enterprise: { security_level: 1, networks: [10.10.0.0/24, "fd00:10::/64"] }
  dmz: { security_level: 2, networks: [10.20.0.0/24, "fd00:20::/64"] }
  control: { security_level: 3, networks: [10.30.0.0/24, "fd00:30::/64"] }
conduits:
  - name: hmi-reads-plc
    from: dmz
    to: control
    rules:
      - { protocol: tcp, ports: [44818] }
  - name: engineering-writes-tags
    from: enterprise
    to: control
    rules:
      - { protocol: tcp, ports: [44818] }
"#;

const HMI: &str = "hmi-reads-plc";
const ENGINEERING: &str = "engineering-writes-tags";
/// Pause between the segments of a split request.
const PAUSE: Duration = Duration::from_millis(40);
/// How long a raw connection waits for answers.
const WAIT: Duration = Duration::from_millis(600);
/// Every reason an EtherNet/IP inspection deny is counted under.
const REASONS: [&str; 6] = [
    "enip_malformed",
    "enip_command",
    "enip_service",
    "enip_class",
    "enip_direction",
    "enip_session",
];
/// Where the CIP request of a SendRRData built by `pdu::send_rr` starts: the encapsulation
/// header (24), the CPF head (8), the null address item (4), the data item's head (4).
const CIP_AT: usize = 40;

/// What a case does.
#[derive(Clone, Debug)]
enum Op {
    /// `enip_client.py OP ARGS` (pycomm3).
    Pycomm3(&'static str, Vec<String>),
    /// Hand-made PDUs in a registered session, cut at the offsets.
    Raw { stream: Vec<u8>, cuts: Vec<usize> },
}

/// How the case would show on the controller, had it got through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Effect {
    /// A write to a tag.
    Write,
    /// Nothing changes (a read, a connection): only the client being served.
    Served,
}

#[derive(Clone, Debug)]
struct Case {
    label: String,
    zone: Zone,
    op: Op,
    reason: &'static str,
    conduit: &'static str,
    /// A detail the event must carry (`service`, `class`).
    detail: (&'static str, u64),
    /// The nesting level the event must name (for service and class denials).
    level: Option<u64>,
    effect: Effect,
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| (*s).to_owned()).collect()
}

/// `n` INTs of value `v`, little endian, hex (Set_Attribute_Single data for `SCADA`).
fn ints_hex(v: i16, n: usize) -> String {
    v.to_le_bytes()
        .repeat(n)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Write Tag of INTs to `tag` (element type 0xC3).
fn write_tag_int(tag: &str, values: &[i16]) -> Vec<u8> {
    let mut d = vec![0xC3, 0x00];
    d.extend_from_slice(&(values.len() as u16).to_le_bytes());
    for v in values {
        d.extend_from_slice(&v.to_le_bytes());
    }
    pdu::request(0x4D, &pdu::symbolic_path(tag), &d)
}

fn cases() -> Vec<Case> {
    let hmi = |label: &str, op: Op, detail, level| Case {
        label: label.to_owned(),
        zone: Zone::Dmz,
        op,
        reason: "enip_service",
        conduit: HMI,
        detail,
        level,
        effect: Effect::Write,
    };
    let service = |code: u64| ("service", code);
    // Each write sets values nobody else writes, so an effect shows in the values too.
    let mut value = 900i16;
    let mut next = || {
        value += 1;
        value
    };
    let set = |wrap: &str, v: i16| {
        Op::Pycomm3(
            "set_attr",
            args(&[
                "--path",
                enip::SCADA_ATTRIBUTE,
                "--data",
                &ints_hex(v, 10),
                "--wrap",
                wrap,
            ]),
        )
    };
    let mut v = vec![
        hmi(
            "Write Tag SCADA[2] (pycomm3, SendRRData)",
            Op::Pycomm3(
                "write_tag",
                args(&["--tag", "SCADA[2]", "--values", &next().to_string()]),
            ),
            service(0x4D),
            Some(0),
        ),
        hmi(
            "Write Tag SCADA[3] in Unconnected Send (pycomm3)",
            Op::Pycomm3(
                "write_tag",
                args(&[
                    "--tag",
                    "SCADA[3]",
                    "--values",
                    &next().to_string(),
                    "--wrap",
                    "us",
                ]),
            ),
            service(0x4D),
            Some(1),
        ),
        hmi(
            "Set_Attribute_Single 0x02/1/1 (pycomm3)",
            set("direct", next()),
            service(0x10),
            Some(0),
        ),
        hmi(
            "Set_Attribute_Single 0x02/1/1 in Unconnected Send (pycomm3)",
            set("us", next()),
            service(0x10),
            Some(1),
        ),
        hmi(
            "Set_Attribute_Single 0x02/1/1 in Unconnected Send → Multiple Service Packet (pycomm3)",
            set("us_msp", next()),
            service(0x10),
            Some(2),
        ),
        Case {
            effect: Effect::Served,
            ..hmi(
                "LogixDriver read: Large Forward_Open (connected messaging is not read-only)",
                Op::Pycomm3("logix_read", args(&["--tags", "SCADA{10},SP"])),
                service(0x5B),
                Some(0),
            )
        },
        hmi(
            "Write Tag second in a segment after Read Tag (hand-made)",
            Op::Raw {
                stream: [
                    pdu::send_rr(&pdu::read_tag("SCADA", 10)),
                    pdu::send_rr(&write_tag_int("SCADA", &[next()])),
                ]
                .concat(),
                cuts: vec![],
            },
            service(0x4D),
            Some(0),
        ),
    ];
    // A Write Tag split after header octets (command, length, session, context, options),
    // CPF and item octets, the service, the path size and inside the symbolic path.
    for k in [
        1,
        3,
        4,
        12,
        23,
        24,
        30,
        36,
        CIP_AT,
        CIP_AT + 1,
        CIP_AT + 2,
        CIP_AT + 5,
        CIP_AT + 9,
    ] {
        v.push(hmi(
            &format!("Write Tag split after octet {k} (hand-made)"),
            Op::Raw {
                stream: pdu::send_rr(&write_tag_int("SCADA", &[next()])),
                cuts: vec![k],
            },
            service(0x4D),
            Some(0),
        ));
    }
    // Set_Attribute_Single in Unconnected Send → Multiple Service Packet, cut inside its own
    // path and again inside its data.
    let inner = pdu::set_attribute_single(2, 1, 1, &next().to_le_bytes().repeat(10));
    let stream = pdu::send_rr(&pdu::unconnected_send(&pdu::multiple_service_packet(
        std::slice::from_ref(&inner),
    )));
    let at = stream
        .windows(inner.len())
        .position(|w| w == inner.as_slice())
        .expect("the nested request in its PDU");
    v.push(hmi(
        "Set_Attribute_Single in Unconnected Send → Multiple Service Packet, split inside its path (hand-made)",
        Op::Raw {
            stream,
            cuts: vec![at + 3, at + 9],
        },
        service(0x10),
        Some(2),
    ));
    let engineering = |label: &str, op, reason, detail, effect| Case {
        label: label.to_owned(),
        zone: Zone::Enterprise,
        op,
        reason,
        conduit: ENGINEERING,
        detail,
        level: Some(0),
        effect,
    };
    v.push(engineering(
        "Set_Attribute_Single 0x02/1/1 over a connection (SendUnitData), not in services",
        set("connected", next()),
        "enip_service",
        service(0x10),
        Effect::Write,
    ));
    v.push(engineering(
        "Get_Attribute_Single of the TCP/IP object 0xF5 over a connection, not in classes",
        Op::Pycomm3(
            "get_attr",
            args(&["--path", "0xf5/1/1", "--wrap", "connected"]),
        ),
        "enip_class",
        ("class", 0xF5),
        Effect::Served,
    ));
    v
}

struct Env<'p> {
    plant: &'p Plant,
    daemon: Option<Daemon<'p>>,
    server: EnipServer,
    view: ZcfwView,
    mode: XdpMode,
    inspect: bool,
    failures: Failures,
}

impl<'p> Env<'p> {
    fn start(plant: &'p Plant, mode: XdpMode, inspect: bool) -> Env<'p> {
        if mode == XdpMode::Native {
            // A native-mode veth wakes its peer for XDP_TX frames (the RST a client gets for
            // its retransmitted request) only when the peer runs an XDP program
            // (`zcfw_harness::xdp_pass`); without one the client waits out its timeout and
            // its orphaned socket retransmits into the next cases' counters.
            for host in plant.hosts() {
                xdp_pass::attach(&host.ns, &host.ifname).unwrap_or_else(|e| panic!("{e:#}"));
            }
        }
        let ctl = plant.host(Zone::Control);
        let server = EnipServer::start(&ctl.ns, Self::server_addr())
            .unwrap_or_else(|e| panic!("starting the cpppo server: {e:#}"));
        let name = format!("enip-e2e-{}-{}", inspect, mode.as_str()).to_lowercase();
        let template = if inspect { INSPECTED } else { PORT_LEVEL };
        let policy = plant.render_policy(template, &name, mode);
        let daemon = Daemon::start_on(plant, &policy).unwrap_or_else(|e| panic!("{e:#}"));
        let view = ZcfwView::new(daemon.socket()).expect("zcfw binary");
        Env {
            plant,
            daemon: Some(daemon),
            server,
            view,
            mode,
            inspect,
            failures: Failures::new(mode, inspect),
        }
    }

    fn server_addr() -> SocketAddr {
        SocketAddr::new(Zone::Control.host(Family::V4), enip::PORT)
    }

    fn fail(&mut self, msg: String) {
        self.failures.fail(msg);
    }

    fn stats(&self) -> StatsJson {
        self.view
            .stats()
            .unwrap_or_else(|e| panic!("zcfw stats: {e:#}"))
    }

    fn state(&mut self) -> EnipState {
        self.server
            .state()
            .unwrap_or_else(|e| panic!("the controller's state: {e:#}"))
    }

    fn client(&self, zone: Zone, op: &str, args: &[&str]) -> ClientReply {
        enip::client(&self.plant.host(zone).ns, Self::server_addr(), op, args)
            .unwrap_or_else(|e| panic!("the pycomm3 client in {zone}: {e:#}"))
    }

    /// The dmz HMI reads with unconnected messaging: the identity, Read Tag of SCADA as is, in
    /// Unconnected Send and from an element on, Get_Attribute_Single of its attribute as is
    /// and in Unconnected Send → Multiple Service Packet. The controller's values come back,
    /// nothing is dropped.
    fn hmi_reads(&mut self, what: &str) {
        let before = self.stats();
        let state = self.state();
        let scada: Vec<serde_json::Value> = state.scada().iter().map(|v| (*v).into()).collect();
        let r = self.client(Zone::Dmz, "identity", &[]);
        if !r.ok {
            self.fail(format!(
                "{what}: ListIdentity and the Identity object should pass: {r:?}"
            ));
        }
        for wrap in ["direct", "us"] {
            let r = self.client(
                Zone::Dmz,
                "read_tag",
                &["--tag", "SCADA", "--count", "10", "--wrap", wrap],
            );
            if !r.ok || r.values.as_deref() != Some(&scada) {
                self.fail(format!(
                    "{what}: Read Tag SCADA ({wrap}) should return {:?}: {r:?}",
                    state.scada()
                ));
            }
        }
        let r = self.client(
            Zone::Dmz,
            "read_tag",
            &["--tag", "SCADA[3]", "--count", "2"],
        );
        if !r.ok || r.values.as_deref() != Some(&scada[3..5]) {
            self.fail(format!(
                "{what}: Read Tag SCADA[3] of 2 should return {:?}: {r:?}",
                &state.scada()[3..5]
            ));
        }
        for wrap in ["direct", "us_msp"] {
            let r = self.client(
                Zone::Dmz,
                "get_attr",
                &["--path", enip::SCADA_ATTRIBUTE, "--wrap", wrap],
            );
            if !r.ok || r.data.as_deref() != Some(state.scada_hex().as_str()) {
                self.fail(format!(
                    "{what}: Get_Attribute_Single 0x02/1/1 ({wrap}) should return {}: {r:?}",
                    state.scada_hex()
                ));
            }
        }
        self.no_drops(what, &before);
    }

    /// Engineering reads both tags over a connection (LogixDriver): the controller's values.
    fn engineering_reads(&mut self, what: &str) {
        let before = self.stats();
        let state = self.state();
        let want = serde_json::json!([state.scada(), state.sp()]);
        let r = self.client(Zone::Enterprise, "logix_read", &["--tags", "SCADA{10},SP"]);
        if !r.ok || r.values.as_ref().map(|v| serde_json::json!(v)) != Some(want.clone()) {
            self.fail(format!(
                "{what}: reading SCADA and SP should return {want}: {r:?}"
            ));
        }
        self.no_drops(what, &before);
    }

    /// Engineering writes both tags over a connection (one Multiple Service Packet in a
    /// SendUnitData): the controller executes both.
    fn engineering_writes(&mut self) {
        let what = "engineering (LogixDriver) writes SCADA[4] and SP over a connection";
        let before = self.stats();
        let seen = self.state();
        let r = self.client(
            Zone::Enterprise,
            "logix_write",
            &["--tags", "SCADA[4]=444,SP=5555"],
        );
        let now = self.state();
        if !r.ok || now.scada().get(4) != Some(&444) || now.sp() != Some(5555) {
            self.fail(format!(
                "{what}: should take effect: client {r:?}, controller {now:?}"
            ));
        }
        if now.writes.len() != seen.writes.len() + 2 {
            self.fail(format!(
                "{what}: the controller should have executed 2 writes: {:?}",
                &now.writes[seen.writes.len().min(now.writes.len())..]
            ));
        }
        self.no_drops(what, &before);
    }

    fn no_drops(&mut self, what: &str, before: &StatsJson) {
        thread::sleep(Duration::from_millis(50));
        let drops = drops_since(&self.stats(), before);
        if !drops.is_empty() {
            self.fail(format!(
                "{what}: allowed, but packets were dropped: {drops:?}"
            ));
        }
    }

    fn case(&mut self, case: &Case) {
        let what = format!("{} → {}: {}", case.zone, Self::server_addr(), case.label);
        let seen = self.state();
        let before = self.stats();
        let started = Instant::now();
        let reply = match &case.op {
            Op::Pycomm3(op, a) => {
                let a: Vec<&str> = a.iter().map(String::as_str).collect();
                self.client(case.zone, op, &a)
            }
            Op::Raw { stream, cuts } => enip::raw(
                &self.plant.host(case.zone).ns,
                Self::server_addr(),
                stream,
                cuts,
                PAUSE,
                WAIT,
            )
            .unwrap_or_else(|e| panic!("{what}: raw connection: {e:#}")),
        };
        let took = started.elapsed();
        thread::sleep(Duration::from_millis(200));
        let after = self.stats();
        let now = self.state();
        eprintln!(
            "[{} {}] {what}: {took:.1?}, {reply:?}; counted {:?}",
            self.mode.as_str(),
            if self.inspect {
                "inspected"
            } else {
                "port level"
            },
            after.reasons_since(&before)
        );
        // A raw client is served when anything came back after RegisterSession.
        let served = match &case.op {
            Op::Pycomm3(..) => reply.ok,
            Op::Raw { .. } => reply.received.as_deref().is_some_and(|r| !r.is_empty()),
        };
        let mut effects = Vec::new();
        let executed = &now.writes[seen.writes.len().min(now.writes.len())..];
        if !executed.is_empty() {
            effects.push(format!("the controller executed {executed:?}"));
        }
        if seen.tags != now.tags {
            effects.push(format!(
                "the tags went from {:?} to {:?}",
                seen.tags, now.tags
            ));
        }
        if case.effect == Effect::Served && served {
            effects.push("the client was served".into());
        }
        let outcome = Outcome {
            what: &what,
            peer: "controller",
            reply: &reply,
            effects,
            acted: match case.effect {
                Effect::Write => !executed.is_empty() && seen.tags != now.tags,
                Effect::Served => served,
            },
            served,
        };
        let expected = ExpectedDeny {
            reason: case.reason,
            conduit: case.conduit,
            action: "reset",
            proto: "tcp",
            src: self.plant.host(case.zone).addr(Family::V4),
            src_port: reply.local_port,
            dst: Self::server_addr(),
            detail: Some(case.detail),
        };
        let stats = (&before, &after);
        if !self
            .failures
            .judge(&outcome, &expected, &self.view, stats, &REASONS)
        {
            return;
        }
        if let Some(level) = case.level {
            let found = self.view.wait_event(EVENT_TIMEOUT, |e| {
                expected.matches(e) && has_detail(e, "level", level)
            });
            if !matches!(found, Ok(Ok(_))) {
                self.fail(format!(
                    "{what}: no event of this deny names nesting level {level}"
                ));
            }
        }
    }

    fn finish(mut self) {
        let daemon = self.daemon.take();
        let server = &self.server;
        self.failures
            .finish(daemon, "cpppo server", || server.log());
    }
}

/// Allowed reads from both zones, every dangerous case, engineering's allowed write, and the
/// controller still serving both afterwards.
fn run(env: &mut Env<'_>) {
    let state = env.state();
    if state.scada() != enip::SCADA || state.sp() != Some(enip::SP) || !state.writes.is_empty() {
        env.fail(format!(
            "the controller should start with SCADA {:?}, SP {} and no writes: {state:?}",
            enip::SCADA,
            enip::SP
        ));
    }
    env.hmi_reads("dmz HMI (pycomm3 CIPDriver, unconnected)");
    env.engineering_reads("engineering (pycomm3 LogixDriver, connected)");
    for case in cases() {
        env.case(&case);
    }
    env.engineering_writes();
    env.hmi_reads("dmz HMI after the denials");
    env.engineering_reads("engineering after the denials");
}

/// zcfw with port-level conduits carries everything: every case acts on the controller.
#[test]
fn peers_through_port_level_conduits() {
    let plant = Plant::for_test("enip_port");
    let mut env = Env::start(&plant, XdpMode::Native, false);
    run(&mut env);
    env.finish();
}

#[test]
fn inspected_native() {
    let plant = Plant::for_test("enip_native");
    let mut env = Env::start(&plant, XdpMode::Native, true);
    run(&mut env);
    env.finish();
}

#[test]
fn inspected_skb() {
    let plant = Plant::for_test("enip_skb");
    let mut env = Env::start(&plant, XdpMode::Skb, true);
    run(&mut env);
    env.finish();
}
