//! IEC 60870-5-104 deep inspection end to end, with a stack nobody here wrote: c104 2.2.1
//! (lib60870) as the controlled station in the control zone (common address 1, points in
//! `zcfw_harness::iec104`) and as controlling stations in the dmz and the enterprise zone,
//! plus hand-made APDUs on plain TCP connections for what c104 will not send.
//!
//! Policy (below): the dmz SCADA may interrogate and read (`read_only: true`, violations
//! reset the connection); engineering in the enterprise zone may also send single commands to
//! common address 1 (violations dropped).
//!
//! Every dangerous operation is checked from three sides: the client (no confirmation), the
//! server (no command callback ran, no clock was set, point values unchanged, the APDU never
//! reached it: `iec104_server.py` records everything it receives) and zcfw (`zcfw stats
//! --json`: the reason in total and for the conduit; `zcfw events --json`: the event).
//!
//! `peers_without_zcfw` (the gateway only routes) and `peers_through_port_level_conduits`
//! (zcfw with `protocol: tcp` conduits) run the same cases: there the server must act on each
//! (those marked `acts`), which proves that the "no effect" checks of the inspected runs can
//! see an effect.

use std::{
    net::SocketAddr,
    thread,
    time::{Duration, Instant},
};

use serde_json::Value;
use zcfw_harness::{
    Daemon, Family, Plant, XdpMode, Zone,
    iec104::{
        self, C_SC_DIRECT_IOA, C_SC_SELECT_IOA, C_SE_IOA, CA, Iec104Client, Iec104Server,
        M_ME_NC_IOA, type_id,
    },
    inspection::{ExpectedDeny, Failures, drops_since},
    modbus::{StatsJson, ZcfwView},
};

const INSPECTED: &str = r#"# tests/tests/iec104.rs (a template: the harness fills in names and the XDP mode)
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
  - name: scada-reads-rtu
    from: dmz
    to: control
    on_violation: reset
    rules:
      - protocol: iec104
        iec104: { read_only: true }
  - name: engineering-operates-rtu
    from: enterprise
    to: control
    on_violation: drop
    rules:
      - protocol: iec104
        iec104: { type_ids: [C_IC_NA_1, C_RD_NA_1, C_SC_NA_1], common_addresses: [1] }
"#;

/// The same plant with port-level conduits: everything on tcp/2404 passes.
const PORT_LEVEL: &str = r#"# tests/tests/iec104.rs, without inspection
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
  - name: scada-reads-rtu
    from: dmz
    to: control
    rules:
      - { protocol: tcp, ports: [2404] }
  - name: engineering-operates-rtu
    from: enterprise
    to: control
    rules:
      - { protocol: tcp, ports: [2404] }
"#;

const SCADA: &str = "scada-reads-rtu";
const ENGINEERING: &str = "engineering-operates-rtu";
/// How long a c104 client waits for a confirmation.
const TIMEOUT: Duration = Duration::from_millis(1500);
/// Pause between the segments of a split APDU.
const PAUSE: Duration = Duration::from_millis(40);
/// How long a raw connection waits for answers.
const WAIT: Duration = Duration::from_millis(600);
/// Every reason an IEC 104 inspection deny is counted under.
const REASONS: [&str; 6] = [
    "iec104_type_id",
    "iec104_common_address",
    "iec104_cause",
    "iec104_direction",
    "iec104_not_started",
    "iec104_malformed",
];

/// The values c104's station reports on interrogation.
fn station_values() -> Vec<(&'static str, Value)> {
    vec![
        ("100", Value::from(true)),
        ("101", Value::from(12.5)),
        ("102", Value::from(1234.0)),
    ]
}

/// What a case does.
#[derive(Clone, Debug)]
enum Op {
    /// c104 client: C_SC_NA_1 (select and execute when `select`).
    Command { ioa: u32, on: bool, select: bool },
    /// c104 client: C_SE_NC_1.
    Setpoint { ioa: u32, value: f32 },
    /// c104 client: C_CS_NA_1.
    ClockSync,
    /// Hand-made bytes on a plain connection (after STARTDT when `startdt`).
    Raw {
        segments: Vec<Vec<u8>>,
        startdt: bool,
    },
}

/// A dangerous operation that the inspected policy denies.
#[derive(Clone, Debug)]
struct Case {
    label: String,
    zone: Zone,
    op: Op,
    reason: &'static str,
    conduit: &'static str,
    /// The type id the event names (None: the head does not decide one, e.g. bad framing).
    type_id: Option<u8>,
    /// Type id that must never reach the server.
    forbidden: Option<u8>,
    /// Without inspection the server acts on it (executes, or receives `forbidden`).
    acts: bool,
}

impl Case {
    fn action(&self) -> &'static str {
        if self.conduit == SCADA {
            "reset"
        } else {
            "drop"
        }
    }
}

fn cases() -> Vec<Case> {
    let scada = |label: &str, op: Op, reason, type_id: Option<u8>, acts| Case {
        label: label.to_owned(),
        zone: Zone::Dmz,
        op,
        reason,
        conduit: SCADA,
        type_id,
        forbidden: type_id.or(Some(type_id::C_SC_NA_1)),
        acts,
    };
    let raw = |segments: Vec<Vec<u8>>| Op::Raw {
        segments,
        startdt: true,
    };
    let command = iec104::single_command(0, CA, C_SC_DIRECT_IOA, true, false);
    let mut v = vec![
        scada(
            "C_SC_NA_1 direct execute (c104)",
            Op::Command {
                ioa: C_SC_DIRECT_IOA,
                on: true,
                select: false,
            },
            "iec104_type_id",
            Some(type_id::C_SC_NA_1),
            true,
        ),
        scada(
            "C_SC_NA_1 select and execute (c104)",
            Op::Command {
                ioa: C_SC_SELECT_IOA,
                on: true,
                select: true,
            },
            "iec104_type_id",
            Some(type_id::C_SC_NA_1),
            true,
        ),
        scada(
            "C_SE_NC_1 set point (c104)",
            Op::Setpoint {
                ioa: C_SE_IOA,
                value: 42.5,
            },
            "iec104_type_id",
            Some(type_id::C_SE_NC_1),
            true,
        ),
        scada(
            "C_CS_NA_1 clock sync, not listed (c104)",
            Op::ClockSync,
            "iec104_type_id",
            Some(type_id::C_CS_NA_1),
            true,
        ),
        scada(
            "C_RP_NA_1 reset process (hand-made)",
            raw(vec![iec104::reset_process(0, CA)]),
            "iec104_type_id",
            Some(type_id::C_RP_NA_1),
            true,
        ),
        scada(
            "C_SC_NA_1 second in a segment after C_IC_NA_1",
            raw(vec![
                [
                    iec104::interrogation(0, CA),
                    iec104::single_command(1, CA, C_SC_DIRECT_IOA, true, false),
                ]
                .concat(),
            ]),
            "iec104_type_id",
            Some(type_id::C_SC_NA_1),
            true,
        ),
    ];
    // The command split after every byte of its decisive head (APCI + ASDU header: 12).
    // lib60870 itself discards an APDU whose first segment is the start byte alone (seen in
    // `peers_without_zcfw`), so that cut acts on nothing without a firewall either.
    for k in 1..12 {
        v.push(scada(
            &format!("C_SC_NA_1 split after byte {k}"),
            raw(vec![command[..k].to_vec(), command[k..].to_vec()]),
            "iec104_type_id",
            Some(type_id::C_SC_NA_1),
            k != 1,
        ));
    }
    // Without a firewall lib60870 receives each of the next three, and executes the command
    // in the APDU of length 254 (it reads the announced bytes and ignores the surplus).
    v.push(Case {
        forbidden: Some(type_id::C_SC_NA_1),
        ..scada(
            "C_SC_NA_1 before STARTDT con",
            Op::Raw {
                segments: vec![command.clone()],
                startdt: false,
            },
            "iec104_not_started",
            None,
            true,
        )
    });
    let mut too_long = command.clone();
    too_long[1] = 254;
    too_long.resize(256, 0);
    v.push(Case {
        forbidden: Some(type_id::C_SC_NA_1),
        ..scada(
            "APDU length 254 (over 253)",
            raw(vec![too_long]),
            "iec104_malformed",
            None,
            true,
        )
    });
    let mut miscounted = command.clone();
    miscounted[7] = 2;
    v.push(Case {
        forbidden: Some(type_id::C_SC_NA_1),
        ..scada(
            "C_SC_NA_1 announcing 2 objects, carrying 1",
            raw(vec![miscounted]),
            "iec104_malformed",
            None,
            true,
        )
    });

    let engineering = |label: &str, segments: Vec<Vec<u8>>, reason, type_id: u8| Case {
        label: label.to_owned(),
        zone: Zone::Enterprise,
        op: raw(segments),
        reason,
        conduit: ENGINEERING,
        type_id: Some(type_id),
        forbidden: Some(type_id),
        acts: true,
    };
    v.push(engineering(
        "C_SC_NA_1 to common address 2",
        vec![iec104::single_command(0, 2, C_SC_DIRECT_IOA, true, false)],
        "iec104_common_address",
        type_id::C_SC_NA_1,
    ));
    v.push(engineering(
        "C_SE_NC_1 set point, not listed",
        vec![iec104::setpoint(0, CA, C_SE_IOA, 7.0)],
        "iec104_type_id",
        type_id::C_SE_NC_1,
    ));
    v.push(engineering(
        "C_SC_NA_1 with cause spontaneous",
        vec![iec104::i_frame(
            0,
            0,
            type_id::C_SC_NA_1,
            iec104::cot::SPONTANEOUS,
            CA,
            C_SC_DIRECT_IOA,
            &[1],
        )],
        "iec104_cause",
        type_id::C_SC_NA_1,
    ));
    v.push(engineering(
        "M_SP_NA_1 sent by the controlling station",
        vec![iec104::i_frame(
            0,
            0,
            type_id::M_SP_NA_1,
            iec104::cot::SPONTANEOUS,
            CA,
            100,
            &[0],
        )],
        "iec104_direction",
        type_id::M_SP_NA_1,
    ));
    v
}

/// What the server has done so far.
#[derive(Clone, Debug, PartialEq)]
struct ServerView {
    commands: usize,
    clock_syncs: usize,
    received: usize,
    points: Vec<(String, Value)>,
}

struct Env<'p> {
    plant: &'p Plant,
    daemon: Option<Daemon<'p>>,
    /// None without zcfw.
    server: Iec104Server,
    view: Option<ZcfwView>,
    mode: XdpMode,
    inspect: bool,
    failures: Failures,
}

impl<'p> Env<'p> {
    fn start(plant: &'p Plant, mode: XdpMode, firewall: Firewall) -> Env<'p> {
        let inspect = firewall == Firewall::Inspected;
        let ctl = plant.host(Zone::Control);
        let server = Iec104Server::start(&ctl.ns, iec104::PORT, None)
            .unwrap_or_else(|e| panic!("starting the c104 server: {e:#}"));
        let name = format!("iec104-e2e-{firewall:?}-{}", mode.as_str()).to_lowercase();
        let template = if inspect { INSPECTED } else { PORT_LEVEL };
        let (daemon, view) = if firewall == Firewall::Off {
            (None, None)
        } else {
            let policy = plant.render_policy(template, &name, mode);
            let daemon = Daemon::start_on(plant, &policy).unwrap_or_else(|e| panic!("{e:#}"));
            let view = ZcfwView::new(daemon.socket()).expect("zcfw binary");
            let stats = view.stats().expect("zcfw stats");
            assert_eq!(stats.0["policy"]["name"], name.as_str());
            (Some(daemon), Some(view))
        };
        Env {
            plant,
            daemon,
            server,
            view,
            mode,
            inspect,
            failures: Failures::new(mode, inspect),
        }
    }

    fn fail(&mut self, msg: String) {
        self.failures.fail(msg);
    }

    /// `zcfw stats --json` (empty without zcfw).
    fn stats(&self) -> StatsJson {
        match &self.view {
            Some(view) => view.stats().unwrap_or_else(|e| panic!("zcfw stats: {e:#}")),
            None => StatsJson(serde_json::json!({})),
        }
    }

    fn server_addr(&self) -> SocketAddr {
        SocketAddr::new(Zone::Control.host(Family::V4), iec104::PORT)
    }

    fn client(&self, zone: Zone) -> Iec104Client {
        Iec104Client::start(&self.plant.host(zone).ns, self.server_addr(), TIMEOUT, None)
            .unwrap_or_else(|e| panic!("starting a c104 client in {zone}: {e:#}"))
    }

    fn server_view(&mut self) -> ServerView {
        let points = self
            .server
            .points()
            .unwrap_or_else(|e| panic!("the server's state: {e:#}"));
        ServerView {
            commands: self.server.commands().len(),
            clock_syncs: self.server.clock_syncs().len(),
            received: self.server.received().len(),
            points: points.into_iter().collect(),
        }
    }

    /// A client in `zone` connects, interrogates and reads: the station's values come back.
    fn reads(&mut self, client: &mut Iec104Client, what: &str) {
        let before = self.stats();
        // c104 sometimes reports a command whose confirmation did arrive as failed (a race in
        // its wait for the response): what counts is the values.
        match client.interrogation(CA) {
            Ok(r) => {
                let values = r.values.clone().unwrap_or_default();
                for (ioa, want) in station_values() {
                    if values.get(ioa) != Some(&want) {
                        self.fail(format!(
                            "{what}: interrogation should report IOA {ioa} = {want}, got {}",
                            r.describe()
                        ));
                    }
                }
            }
            Err(e) => self.fail(format!("{what}: interrogation: {e:#}")),
        }
        match client.read(CA, M_ME_NC_IOA, "M_ME_NC_1") {
            Ok(r) if r.values.as_ref().and_then(|v| v.get("101")) == Some(&Value::from(12.5)) => {}
            Ok(r) => self.fail(format!(
                "{what}: C_RD_NA_1 of IOA 101 should read 12.5: {}",
                r.describe()
            )),
            Err(e) => self.fail(format!("{what}: read: {e:#}")),
        }
        thread::sleep(Duration::from_millis(50));
        let after = self.stats();
        let drops = drops_since(&after, &before);
        if !drops.is_empty() {
            self.fail(format!(
                "{what}: allowed reads, but packets were dropped: {drops:?}"
            ));
        }
    }

    /// Runs `case` once; checks what the inspected or the port-level policy must do.
    fn case(&mut self, case: &Case) {
        let what = format!("{} → {}: {}", case.zone, self.server_addr(), case.label);
        let before = self.stats();
        let seen = self.server_view();
        let (client_ok, src_port, detail) = self.perform(case);
        // Let the server process what reached it (c104 ticks every 50 ms).
        thread::sleep(Duration::from_millis(300));
        let after = self.stats();
        let now = self.server_view();
        let received = self.server.received();
        let reached: Vec<String> = received[seen.received.min(received.len())..]
            .iter()
            .filter(|a| a.type_id().is_some() && a.type_id() == case.forbidden)
            .map(|a| zcfw_harness::modbus::hex_encode(&a.bytes))
            .collect();
        let mut effects = Vec::new();
        if now.commands > seen.commands {
            effects.push(format!(
                "{} command callback(s) ran: {:?}",
                now.commands - seen.commands,
                &self.server.commands()[seen.commands..]
            ));
        }
        if now.clock_syncs > seen.clock_syncs {
            effects.push("the clock was set".to_owned());
        }
        if now.points != seen.points {
            effects.push(format!(
                "points changed from {:?} to {:?}",
                seen.points, now.points
            ));
        }
        if !reached.is_empty() {
            effects.push(format!("the server received {reached:?}"));
        }
        if !self.inspect {
            eprintln!(
                "[{}] {what}: {detail}; server: {effects:?}",
                self.mode.as_str()
            );
            if case.acts && effects.is_empty() {
                self.fail(format!(
                    "{what}: without inspection the server should act on it (the harness must \
                     see effects), but nothing changed ({detail})"
                ));
            }
            let drops = drops_since(&after, &before);
            if !drops.is_empty() {
                self.fail(format!(
                    "{what}: port-level conduit, but dropped: {drops:?}"
                ));
            }
            return;
        }
        if !effects.is_empty() {
            self.fail(format!(
                "{what}: denied ({}), but {}",
                case.reason,
                effects.join("; ")
            ));
        }
        if client_ok {
            self.fail(format!("{what}: the client got a confirmation ({detail})"));
        }
        let expected = ExpectedDeny {
            reason: case.reason,
            conduit: case.conduit,
            action: case.action(),
            proto: "tcp",
            src: self.plant.host(case.zone).addr(Family::V4),
            src_port,
            dst: self.server_addr(),
            detail: case.type_id.map(|t| ("type_id", u64::from(t))),
        };
        let Some(view) = &self.view else {
            return;
        };
        for f in expected.check(view, &before, &after, &REASONS) {
            self.fail(format!("{what}: {f}"));
        }
    }

    /// Performs a case: whether the client saw success, its port (raw connections), and a
    /// description of what it saw.
    fn perform(&mut self, case: &Case) -> (bool, Option<u16>, String) {
        let mut client = self.client(case.zone);
        if !matches!(case.op, Op::Raw { .. }) {
            match client.connect() {
                Ok(r) if r.ok => {}
                other => {
                    self.fail(format!(
                        "{}: the client could not start: {other:?}",
                        case.label
                    ));
                    return (false, None, String::new());
                }
            }
        }
        let reply = match &case.op {
            Op::Command { ioa, on, select } => client.command(CA, *ioa, *on, *select),
            Op::Setpoint { ioa, value } => client.setpoint(CA, *ioa, *value),
            Op::ClockSync => client.clock_sync(CA),
            Op::Raw { segments, startdt } => {
                return match client.raw(segments, *startdt, PAUSE, WAIT) {
                    Ok((r, received)) => {
                        let confirmed = iec104::split_apdus(&received)
                            .iter()
                            .any(|a| a.len() > 8 && a[8] & 0x3F == iec104::cot::ACTIVATION_CON);
                        (
                            confirmed,
                            r.local_port,
                            format!(
                                "started {:?}, received {}",
                                r.started,
                                zcfw_harness::modbus::hex_encode(&received)
                            ),
                        )
                    }
                    Err(e) => {
                        self.fail(format!("{}: raw connection: {e:#}", case.label));
                        (false, None, String::new())
                    }
                };
            }
        };
        match reply {
            Ok(r) => (r.ok, None, r.describe()),
            Err(e) => {
                self.fail(format!("{}: the client failed: {e:#}", case.label));
                (false, None, String::new())
            }
        }
    }

    fn finish(mut self) {
        let daemon = self.daemon.take();
        let server = &self.server;
        self.failures.finish(daemon, "c104 server", || server.log());
    }
}

/// Allowed reads, every dangerous case, an allowed command from engineering, and the station
/// still serving afterwards.
fn run(env: &mut Env<'_>) {
    let started = Instant::now();
    let mut scada = env.client(Zone::Dmz);
    match scada.connect() {
        Ok(r) if r.ok => {}
        other => env.fail(format!(
            "the SCADA client could not start its connection: {other:?}"
        )),
    }
    env.reads(&mut scada, "dmz SCADA (c104)");

    for case in cases() {
        env.case(&case);
    }

    // Engineering may operate: c104's direct command executes (judged by the server: c104's
    // own success flag is unreliable, see `reads`).
    let before = env.server_view();
    let mut engineering = env.client(Zone::Enterprise);
    let r = engineering
        .connect()
        .and_then(|_| engineering.command(CA, C_SC_DIRECT_IOA, false, false));
    thread::sleep(Duration::from_millis(300));
    let after = env.server_view();
    let executed = env.server.commands()[before.commands..]
        .iter()
        .any(|c| c["ioa"] == C_SC_DIRECT_IOA && c["value"] == false);
    if !executed {
        env.fail(format!(
            "engineering C_SC_NA_1 OFF to IOA 200 should execute: client {r:?}, server commands \
             {} → {}",
            before.commands, after.commands
        ));
    }

    // After every denial the station still serves: the long-lived SCADA connection and a new
    // one.
    env.reads(&mut scada, "dmz SCADA after the denials (same connection)");
    let mut fresh = env.client(Zone::Dmz);
    match fresh.connect() {
        Ok(r) if r.ok => env.reads(&mut fresh, "dmz SCADA after the denials (new connection)"),
        other => env.fail(format!(
            "a new SCADA connection after the denials: {other:?}"
        )),
    }
    eprintln!(
        "[{}] {} cases in {:.1}s",
        env.mode.as_str(),
        cases().len(),
        started.elapsed().as_secs_f64()
    );
}

/// Which firewall the gateway runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Firewall {
    /// None: the gateway only routes (the peers and the harness's effect checks on their own).
    Off,
    /// zcfw with port-level conduits (`protocol: tcp`).
    PortLevel,
    /// zcfw with the inspected policy.
    Inspected,
}

/// Without any firewall every case acts on the server: the peers work and the harness sees
/// each effect that the inspected runs must prevent.
#[test]
fn peers_without_zcfw() {
    let plant = Plant::for_test("iec104_off");
    let mut env = Env::start(&plant, XdpMode::Native, Firewall::Off);
    run(&mut env);
    env.finish();
}

/// zcfw with port-level conduits carries everything (nothing is inspected).
#[test]
fn peers_through_port_level_conduits() {
    let plant = Plant::for_test("iec104_port");
    let mut env = Env::start(&plant, XdpMode::Native, Firewall::PortLevel);
    run(&mut env);
    env.finish();
}

#[test]
fn inspected_native() {
    let plant = Plant::for_test("iec104_native");
    let mut env = Env::start(&plant, XdpMode::Native, Firewall::Inspected);
    run(&mut env);
    env.finish();
}

#[test]
fn inspected_skb() {
    let plant = Plant::for_test("iec104_skb");
    let mut env = Env::start(&plant, XdpMode::Skb, Firewall::Inspected);
    run(&mut env);
    env.finish();
}
