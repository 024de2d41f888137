//! DNP3 deep inspection end to end, with an outstation nobody here wrote: dnp3-simulation
//! 0.1.2 in the control zone (binary outputs 0-2, `zcfw_harness::dnp3`), masters in the dmz
//! and the enterprise zone that send the simulator's own frames, plus hand-made frames for
//! what the simulator does not implement (select/operate, file and unsolicited functions,
//! split and corrupted frames; their layout is checked against tshark in
//! `tests/peer_frames.rs`).
//!
//! Policy (below): the dmz SCADA master may read (`read_only: true`: read and confirm;
//! violations reset the connection); engineering in the enterprise zone may read and write
//! outstation 1024 (violations dropped).
//!
//! Every dangerous request is checked from three sides: the master (no response), the
//! outstation (no change of its points, nothing in its event log, the frame never reached it:
//! `dnp3_outstation.py` records every frame it receives) and zcfw (`zcfw stats --json`: the
//! reason in total and for the conduit; `zcfw events --json`: the event).
//!
//! `peers_without_zcfw` (the gateway only routes) and `peers_through_port_level_conduits`
//! (zcfw with `protocol: tcp` conduits) run the same cases: there the outstation must act on each
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
    dnp3::{
        self, Dnp3Master, Dnp3Outstation, OUTSTATION, control, crob, function, link_frame, objects,
        request, request_to, write_binary_output,
    },
    inspection::{ExpectedDeny, Failures, drops_since},
    modbus::{StatsJson, ZcfwView, hex_encode},
};

const INSPECTED: &str = r#"# tests/tests/dnp3.rs (a template: the harness fills in names and the XDP mode)
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
  - name: scada-polls-outstation
    from: dmz
    to: control
    on_violation: reset
    rules:
      - protocol: dnp3
        dnp3: { read_only: true }
  - name: engineering-writes-outstation
    from: enterprise
    to: control
    on_violation: drop
    rules:
      - protocol: dnp3
        dnp3: { functions: [read, write], addresses: [1024] }
"#;

/// The same plant with port-level conduits: everything on tcp/20000 passes.
const PORT_LEVEL: &str = r#"# tests/tests/dnp3.rs, without inspection
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
  - name: scada-polls-outstation
    from: dmz
    to: control
    rules:
      - { protocol: tcp, ports: [20000] }
  - name: engineering-writes-outstation
    from: enterprise
    to: control
    rules:
      - { protocol: tcp, ports: [20000] }
"#;

const SCADA: &str = "scada-polls-outstation";
const ENGINEERING: &str = "engineering-writes-outstation";
/// How long a master waits for a response.
const TIMEOUT: Duration = Duration::from_millis(1500);
/// Pause between the segments of a split frame.
const PAUSE: Duration = Duration::from_millis(40);
/// How long a raw connection waits for answers.
const WAIT: Duration = Duration::from_millis(600);
/// Every reason a DNP3 inspection deny is counted under.
const REASONS: [&str; 6] = [
    "dnp3_function",
    "dnp3_address",
    "dnp3_crc",
    "dnp3_direction",
    "dnp3_transport",
    "dnp3_malformed",
];

/// The outstation's binary outputs at start.
fn startup_points() -> Vec<(String, Value)> {
    vec![
        ("0".into(), Value::from(true)),
        ("1".into(), Value::from(false)),
        ("2".into(), Value::from(true)),
    ]
}

/// What a case does.
#[derive(Clone, Debug)]
enum Op {
    /// The simulator's master: FC 5/6 direct operate.
    DirectOperate {
        index: u8,
        operation: &'static str,
        function: u8,
    },
    /// The simulator's master: FC 2.
    Write { index: u8, on: bool },
    /// The simulator's master: FC 13 (`cold`) / 14 (`warm`).
    Restart(&'static str),
    /// Hand-made bytes on a plain connection, one `send()` each.
    Raw(Vec<Vec<u8>>),
}

/// A dangerous request that the inspected policy denies.
#[derive(Clone, Debug)]
struct Case {
    label: String,
    zone: Zone,
    op: Op,
    reason: &'static str,
    conduit: &'static str,
    /// The function code the event names (None: not decided, e.g. a bad header CRC).
    function: Option<u8>,
    /// Function code that must never reach the outstation.
    forbidden: u8,
    /// Without inspection the outstation acts on it (changes a point, logs an event, or
    /// receives `forbidden`).
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
    let scada = |label: &str, op: Op, reason, function: Option<u8>, forbidden, acts| Case {
        label: label.to_owned(),
        zone: Zone::Dmz,
        op,
        reason,
        conduit: SCADA,
        function,
        forbidden,
        acts,
    };
    let fc = |f: u8| ("dnp3_function", Some(f), f);
    let mut v = Vec::new();
    for (label, op, f) in [
        (
            "direct_operate latch_off point 0 (simulator)",
            Op::DirectOperate {
                index: 0,
                operation: "latch_off",
                function: function::DIRECT_OPERATE,
            },
            function::DIRECT_OPERATE,
        ),
        (
            "direct_operate_nr latch_on point 1 (simulator)",
            Op::DirectOperate {
                index: 1,
                operation: "latch_on",
                function: function::DIRECT_OPERATE_NR,
            },
            function::DIRECT_OPERATE_NR,
        ),
        (
            "write point 1 on (simulator)",
            Op::Write { index: 1, on: true },
            function::WRITE,
        ),
        (
            "cold_restart (simulator)",
            Op::Restart("cold"),
            function::COLD_RESTART,
        ),
        (
            "warm_restart (simulator)",
            Op::Restart("warm"),
            function::WARM_RESTART,
        ),
        (
            "select latch_off point 2 (hand-made)",
            Op::Raw(vec![request(0, function::SELECT, &crob(2, 4))]),
            function::SELECT,
        ),
        (
            "operate latch_off point 2 (hand-made)",
            Op::Raw(vec![request(0, function::OPERATE, &crob(2, 4))]),
            function::OPERATE,
        ),
        (
            "enable_unsolicited classes 1-3 (hand-made)",
            Op::Raw(vec![request(
                0,
                function::ENABLE_UNSOLICITED,
                objects::UNSOLICITED_CLASSES,
            )]),
            function::ENABLE_UNSOLICITED,
        ),
        (
            "file_open (hand-made)",
            Op::Raw(vec![request(
                0,
                function::FILE_OPEN,
                &dnp3::file_open_object("/etc/config"),
            )]),
            function::FILE_OPEN,
        ),
        (
            "direct_operate second in a segment after a read",
            Op::Raw(vec![
                [
                    request(0, function::READ, objects::BINARY_OUTPUTS),
                    request(1, function::DIRECT_OPERATE, &crob(0, 4)),
                ]
                .concat(),
            ]),
            function::DIRECT_OPERATE,
        ),
    ] {
        let (reason, function, forbidden) = fc(f);
        v.push(scada(label, op, reason, function, forbidden, true));
    }
    // Direct operate split after every byte up to its function code (header 10, transport,
    // application control, function: byte 13 decides).
    let operate = request(0, function::DIRECT_OPERATE, &crob(0, 4));
    for k in 1..13 {
        v.push(scada(
            &format!("direct_operate split after byte {k}"),
            Op::Raw(vec![operate[..k].to_vec(), operate[k..].to_vec()]),
            "dnp3_function",
            Some(function::DIRECT_OPERATE),
            function::DIRECT_OPERATE,
            true,
        ));
    }
    // A bad header CRC and a bad block CRC on a direct operate: the outstation must never
    // see the frame (the simulator would drop it, but the firewall must not be confused).
    let mut bad_header = operate.clone();
    bad_header[8] ^= 0xFF;
    v.push(scada(
        "direct_operate with a bad header CRC",
        Op::Raw(vec![bad_header]),
        "dnp3_crc",
        None,
        function::DIRECT_OPERATE,
        true,
    ));
    let mut bad_block = request(0, function::READ, objects::BINARY_OUTPUTS);
    let last = bad_block.len() - 1;
    bad_block[last] ^= 0xFF;
    v.push(scada(
        "read with a bad data block CRC",
        Op::Raw(vec![bad_block]),
        "dnp3_crc",
        None,
        function::READ,
        true,
    ));
    v.push(scada(
        "link length 4 (under 5)",
        Op::Raw(vec![{
            let mut f = link_frame(control::MASTER_DATA, OUTSTATION, dnp3::MASTER, &[]);
            f[2] = 4;
            f
        }]),
        "dnp3_malformed",
        None,
        function::READ,
        false,
    ));
    v.push(scada(
        "the simulator's JSON interface on the DNP3 port",
        Op::Raw(vec![
            br#"{"function_code": 5, "controls": [{"index": 0, "operation": "latch_off"}]}"#
                .to_vec()
                .into_iter()
                .chain(*b"\n")
                .collect(),
        ]),
        "dnp3_malformed",
        None,
        function::DIRECT_OPERATE,
        true,
    ));
    v.push(scada(
        "direct_operate continuing no fragment (FIN without FIR)",
        Op::Raw(vec![{
            let mut data = vec![0x80, 0xC0, function::DIRECT_OPERATE];
            data.extend_from_slice(&crob(0, 4));
            link_frame(control::MASTER_DATA, OUTSTATION, dnp3::MASTER, &data)
        }]),
        "dnp3_transport",
        None,
        function::DIRECT_OPERATE,
        true,
    ));
    // A read's first transport segment (FIR, not FIN) and then a direct operate as a new
    // first segment: the transport layer starts a new fragment, judged on its own function.
    v.push(scada(
        "direct_operate as a new fragment after a read's unfinished first segment",
        Op::Raw(vec![
            [
                link_frame(
                    control::MASTER_DATA,
                    OUTSTATION,
                    dnp3::MASTER,
                    &[0x40, 0xC0, function::READ, 10, 2, 0x06],
                ),
                request(1, function::DIRECT_OPERATE, &crob(0, 4)),
            ]
            .concat(),
        ]),
        "dnp3_function",
        Some(function::DIRECT_OPERATE),
        function::DIRECT_OPERATE,
        true,
    ));
    v.push(scada(
        "read without the DIR bit (an outstation's frame from the master)",
        Op::Raw(vec![{
            let data = [0xC0, 0xC0, function::READ, 10, 2, 0x06];
            link_frame(control::OUTSTATION_DATA, OUTSTATION, dnp3::MASTER, &data)
        }]),
        "dnp3_direction",
        None,
        function::READ,
        true,
    ));
    v.push(Case {
        label: "write to outstation 1025 (not listed)".to_owned(),
        zone: Zone::Enterprise,
        op: Op::Raw(vec![request_to(
            1025,
            0,
            function::WRITE,
            &write_binary_output(1, true),
        )]),
        reason: "dnp3_address",
        conduit: ENGINEERING,
        function: None,
        forbidden: function::WRITE,
        acts: true,
    });
    v.push(Case {
        label: "cold_restart from engineering (not listed)".to_owned(),
        zone: Zone::Enterprise,
        op: Op::Restart("cold"),
        reason: "dnp3_function",
        conduit: ENGINEERING,
        function: Some(function::COLD_RESTART),
        forbidden: function::COLD_RESTART,
        acts: true,
    });
    v
}

/// What the outstation has done so far.
#[derive(Clone, Debug, PartialEq)]
struct OutstationView {
    effects: Vec<String>,
    received: usize,
    json: usize,
    points: Vec<(String, Value)>,
}

struct Env<'p> {
    plant: &'p Plant,
    daemon: Option<Daemon<'p>>,
    /// None without zcfw.
    outstation: Dnp3Outstation,
    view: Option<ZcfwView>,
    mode: XdpMode,
    inspect: bool,
    failures: Failures,
}

impl<'p> Env<'p> {
    fn start(plant: &'p Plant, mode: XdpMode, firewall: Firewall) -> Env<'p> {
        let inspect = firewall == Firewall::Inspected;
        let ctl = plant.host(Zone::Control);
        let outstation = Dnp3Outstation::start(&ctl.ns, dnp3::PORT)
            .unwrap_or_else(|e| panic!("starting the dnp3-simulation outstation: {e:#}"));
        let name = format!("dnp3-e2e-{firewall:?}-{}", mode.as_str()).to_lowercase();
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
            outstation,
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
        SocketAddr::new(Zone::Control.host(Family::V4), dnp3::PORT)
    }

    fn master(&self, zone: Zone) -> Dnp3Master {
        Dnp3Master::start(&self.plant.host(zone).ns, self.server_addr(), TIMEOUT)
            .unwrap_or_else(|e| panic!("starting a master in {zone}: {e:#}"))
    }

    fn outstation_view(&mut self) -> OutstationView {
        let state = self
            .outstation
            .state()
            .unwrap_or_else(|e| panic!("the outstation's state: {e:#}"));
        OutstationView {
            effects: state.effects(),
            received: self.outstation.received().len(),
            json: self.outstation.json_connections(),
            points: state.points.into_iter().collect(),
        }
    }

    /// A read of every binary output returns the outstation's values.
    fn reads(&mut self, master: &mut Dnp3Master, what: &str, expected: &[(String, Value)]) {
        let before = self.stats();
        match master.read() {
            Ok(r) if r.ok && r.function_code == Some(function::RESPONSE) => {
                let got: Vec<(String, Value)> = r
                    .points
                    .clone()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, Value::from(v)))
                    .collect();
                if got != expected {
                    self.fail(format!(
                        "{what}: read should return {expected:?}, got {got:?}"
                    ));
                }
            }
            Ok(r) => self.fail(format!("{what}: read failed: {}", r.describe())),
            Err(e) => self.fail(format!("{what}: read: {e:#}")),
        }
        thread::sleep(Duration::from_millis(50));
        let drops = drops_since(&self.stats(), &before);
        if !drops.is_empty() {
            self.fail(format!(
                "{what}: allowed read, but packets were dropped: {drops:?}"
            ));
        }
    }

    fn case(&mut self, case: &Case) {
        let what = format!("{} → {}: {}", case.zone, self.server_addr(), case.label);
        let before = self.stats();
        let seen = self.outstation_view();
        let (answered, src_port, detail) = self.perform(case);
        thread::sleep(Duration::from_millis(200));
        let after = self.stats();
        let now = self.outstation_view();
        let received = self.outstation.received();
        let reached: Vec<String> = received[seen.received.min(received.len())..]
            .iter()
            .filter(|f| f.function() == Some(case.forbidden))
            .map(|f| hex_encode(&f.bytes))
            .collect();
        let mut effects = Vec::new();
        if now.effects.len() > seen.effects.len() {
            effects.push(format!(
                "the outstation logged {:?}",
                &now.effects[seen.effects.len()..]
            ));
        }
        if now.points != seen.points {
            effects.push(format!(
                "points changed from {:?} to {:?}",
                seen.points, now.points
            ));
        }
        if now.json > seen.json {
            effects.push("the outstation served a JSON request".to_owned());
        }
        if !reached.is_empty() {
            effects.push(format!("the outstation received {reached:?}"));
        }
        if !self.inspect {
            eprintln!(
                "[{}] {what}: {detail}; outstation: {effects:?}",
                self.mode.as_str()
            );
            if case.acts && effects.is_empty() {
                self.fail(format!(
                    "{what}: without inspection the outstation should act on it (the harness \
                     must see effects), but nothing changed ({detail})"
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
        if answered {
            self.fail(format!("{what}: the master got a response ({detail})"));
        }
        let expected = ExpectedDeny {
            reason: case.reason,
            conduit: case.conduit,
            action: case.action(),
            proto: "tcp",
            src: self.plant.host(case.zone).addr(Family::V4),
            src_port,
            dst: self.server_addr(),
            detail: case.function.map(|f| ("function", u64::from(f))),
        };
        let Some(view) = &self.view else {
            return;
        };
        for f in expected.check(view, &before, &after, &REASONS) {
            self.fail(format!("{what}: {f}"));
        }
    }

    /// Performs a case on a master of its own: whether a response came, the master's port,
    /// and what it saw.
    fn perform(&mut self, case: &Case) -> (bool, Option<u16>, String) {
        let mut master = self.master(case.zone);
        let reply = match &case.op {
            Op::DirectOperate {
                index,
                operation,
                function,
            } => {
                if *function == function::DIRECT_OPERATE_NR {
                    // No response by design: send it, then ask with a read on the same
                    // connection whether the connection still carries requests.
                    let r = master.direct_operate(*index, operation, *function);
                    let port = r.as_ref().ok().and_then(|r| r.local_port);
                    let read = master.read();
                    let ok = read.as_ref().is_ok_and(|r| r.ok);
                    let _ = master.close();
                    return (false, port, format!("{r:?}; then read ok={ok}"));
                }
                master.direct_operate(*index, operation, *function)
            }
            Op::Write { index, on } => master.write(*index, *on),
            Op::Restart(kind) => master.restart(kind),
            Op::Raw(segments) => {
                return match master.raw(segments, PAUSE, WAIT) {
                    Ok((r, received)) => {
                        let responses = dnp3::split_frames(&received);
                        (
                            !responses.is_empty(),
                            r.local_port,
                            format!("received {}", hex_encode(&received)),
                        )
                    }
                    Err(e) => {
                        self.fail(format!("{}: raw connection: {e:#}", case.label));
                        (false, None, String::new())
                    }
                };
            }
        };
        let _ = master.close();
        match reply {
            Ok(r) => (r.ok, r.local_port, r.describe()),
            Err(e) => {
                self.fail(format!("{}: the master failed: {e:#}", case.label));
                (false, None, String::new())
            }
        }
    }

    fn finish(mut self) {
        let daemon = self.daemon.take();
        let outstation = &self.outstation;
        self.failures
            .finish(daemon, "outstation", || outstation.log());
    }
}

fn run(env: &mut Env<'_>) {
    let started = Instant::now();
    let mut scada = env.master(Zone::Dmz);
    env.reads(&mut scada, "dmz SCADA read", &startup_points());

    for case in cases() {
        env.case(&case);
        if !env.inspect {
            // Without inspection the cases change the outstation: a cold restart puts every
            // point back to its startup value for the next case (the outstation restarts in
            // 100 ms).
            let mut m = env.master(Zone::Dmz);
            let _ = m.restart("cold");
            thread::sleep(Duration::from_millis(200));
        }
    }

    // Engineering may write: the point changes, and a read shows it.
    let mut engineering = env.master(Zone::Enterprise);
    match engineering.write(1, true) {
        Ok(r) if r.ok && r.function_code == Some(function::RESPONSE) => {}
        other => env.fail(format!(
            "engineering write of point 1 should be answered: {other:?}"
        )),
    }
    let mut written = startup_points();
    written[1].1 = Value::from(true);
    env.reads(
        &mut engineering,
        "engineering read after its write",
        &written,
    );
    match engineering.write(1, false) {
        Ok(r) if r.ok => {}
        other => env.fail(format!("engineering write of point 1 back off: {other:?}")),
    }

    // After every denial the outstation still serves: the long-lived SCADA connection and a
    // new one.
    env.reads(
        &mut scada,
        "dmz SCADA after the denials (same connection)",
        &startup_points(),
    );
    let mut fresh = env.master(Zone::Dmz);
    env.reads(
        &mut fresh,
        "dmz SCADA after the denials (new connection)",
        &startup_points(),
    );
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
    let plant = Plant::for_test("dnp3_off");
    let mut env = Env::start(&plant, XdpMode::Native, Firewall::Off);
    run(&mut env);
    env.finish();
}

/// zcfw with port-level conduits carries everything (nothing is inspected).
#[test]
fn peers_through_port_level_conduits() {
    let plant = Plant::for_test("dnp3_port");
    let mut env = Env::start(&plant, XdpMode::Native, Firewall::PortLevel);
    run(&mut env);
    env.finish();
}

#[test]
fn inspected_native() {
    let plant = Plant::for_test("dnp3_native");
    let mut env = Env::start(&plant, XdpMode::Native, Firewall::Inspected);
    run(&mut env);
    env.finish();
}

#[test]
fn inspected_skb() {
    let plant = Plant::for_test("dnp3_skb");
    let mut env = Env::start(&plant, XdpMode::Skb, Firewall::Inspected);
    run(&mut env);
    env.finish();
}
