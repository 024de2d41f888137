//! S7comm deep inspection end to end, with a stack nobody here wrote: python-snap7 3.3.0's
//! `snap7.Server` as the PLC in the control zone (DB1 and MK, CPU in RUN) and `snap7.Client`
//! in the dmz and the enterprise zone, plus hand-made TPDUs on plain connections for what
//! snap7 will not send (splits, a second PDU in a segment, the COTP fragment trick).
//!
//! Policy (below): the dmz HMI may read (`read_only: true`) through TSAP 0x0102 (rack 0,
//! slot 2); engineering in the enterprise zone may also write DB1 (`areas: [db]`,
//! `db_numbers: [1]`) and compress the PLC's memory (`pi_service` with `pi_services:
//! [compress]`), but not restart it or delete blocks. Violations reset the connection.
//!
//! Every dangerous operation is checked from three sides: the client (no success), the PLC
//! (DB1 and MK unchanged, the CPU state unchanged, the request never processed:
//! `s7_server.py` records every PDU it processes) and zcfw (stats and the event).
//! `peers_through_port_level_conduits` runs the same cases with `protocol: tcp` conduits:
//! there each must act on the PLC, which proves that the "no effect" checks can see one.

use std::{net::SocketAddr, thread, time::Duration};

use firewall_common::pktgen::s7comm as s7;
use zcfw_harness::{
    Daemon, Family, Plant, XdpMode, Zone,
    inspection::{ExpectedDeny, Failures, drops_since},
    modbus::{StatsJson, ZcfwView, hex_encode},
    s7comm::{self, ClientReply, S7Server, S7State, job_function, userdata_function},
    xdp_pass,
};

const INSPECTED: &str = r#"# tests/tests/s7comm.rs (a template: the harness fills in names and the XDP mode)
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
      - protocol: s7comm
        s7comm: { read_only: true, tsaps: [0x0102] }
  - name: engineering-writes-db1
    from: enterprise
    to: control
    on_violation: reset
    rules:
      - protocol: s7comm
        s7comm: { functions: [setup_communication, read_var, write_var, pi_service], pi_services: [compress], userdata: [szl_read], areas: [db], db_numbers: [1] }
"#;

/// The same plant with port-level conduits: everything on tcp/102 passes.
const PORT_LEVEL: &str = r#"# tests/tests/s7comm.rs, without inspection
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
      - { protocol: tcp, ports: [102] }
  - name: engineering-writes-db1
    from: enterprise
    to: control
    rules:
      - { protocol: tcp, ports: [102] }
"#;

const HMI: &str = "hmi-reads-plc";
const ENGINEERING: &str = "engineering-writes-db1";
/// Pause between the segments of a split request.
const PAUSE: Duration = Duration::from_millis(40);
/// How long a raw connection waits for answers.
const WAIT: Duration = Duration::from_millis(600);
/// Every reason an S7comm inspection deny is counted under.
const REASONS: [&str; 6] = [
    "s7comm_malformed",
    "s7comm_function",
    "s7comm_address",
    "s7comm_tsap",
    "s7comm_plus",
    "s7comm_direction",
];

/// What a case does.
#[derive(Clone, Debug)]
enum Op {
    /// `s7_client.py OP ARGS` (snap7's client).
    Snap7(&'static str, Vec<&'static str>),
    /// Hand-made segments after a connection setup.
    Raw(Vec<Vec<u8>>),
}

/// What must never reach the PLC.
#[derive(Clone, Copy, Debug)]
enum Forbidden {
    Job(u8),
    Userdata(u8, u8),
    /// Nothing the PLC processes tells (a connection request): only the client's success.
    Nothing,
}

#[derive(Clone, Debug)]
struct Case {
    label: String,
    zone: Zone,
    op: Op,
    reason: &'static str,
    conduit: &'static str,
    detail: Option<(&'static str, u64)>,
    forbidden: Forbidden,
    /// The CPU is put in STOP first (a PI service starts it).
    stopped: bool,
    /// The event's `s7comm.pi_service` (a PI service refused by `pi_services`).
    pi: Option<&'static str>,
}

fn cases() -> Vec<Case> {
    let hmi = |label: &str, op: Op, reason, detail, forbidden| Case {
        label: label.to_owned(),
        zone: Zone::Dmz,
        op,
        reason,
        conduit: HMI,
        detail,
        forbidden,
        stopped: false,
        pi: None,
    };
    // Engineering may compress (`pi_services: [compress]`); each case starts from STOP, so
    // a PI service that reaches python-snap7's PLC shows (it starts the CPU on anything but
    // compress and copy RAM to ROM).
    let engineering = |label: &str, op: Op, reason, pi: Option<&'static str>| Case {
        label: label.to_owned(),
        zone: Zone::Enterprise,
        op,
        reason,
        conduit: ENGINEERING,
        detail: if pi.is_some() {
            Some(("function", 0x28))
        } else {
            None
        },
        forbidden: Forbidden::Job(0x28),
        stopped: true,
        pi,
    };
    let step7_delete = s7::dt(
        &s7::pi_service_with(
            &[1, 0, b'0', b'A', b'0', b'0', b'0', b'0', b'1', b'P'],
            b"_DELE",
        ),
        true,
    );
    let stop = s7::plc_stop();
    let stop_tpdu = s7::dt(&stop, true);
    let function = |code: u8| Some(("function", u64::from(code)));
    let mut v = vec![
        hmi(
            "write_var DB1 (snap7)",
            Op::Snap7("write", vec!["--db", "1", "--start", "0", "--data", "ffee"]),
            "s7comm_function",
            function(0x05),
            Forbidden::Job(0x05),
        ),
        hmi(
            "PLC stop (snap7)",
            Op::Snap7("stop", vec![]),
            "s7comm_function",
            function(0x29),
            Forbidden::Job(0x29),
        ),
        Case {
            stopped: true,
            ..hmi(
                "PI service hot start P_PROGRAM (snap7), CPU in STOP",
                Op::Snap7("hot_start", vec![]),
                "s7comm_function",
                function(0x28),
                Forbidden::Job(0x28),
            )
        },
        hmi(
            "request download (hand-made)",
            Op::Raw(vec![s7::dt(
                &s7::job(
                    &[
                        0x1A, 0, 1, 0, 0, 0, 0, 0, 9, b'_', b'0', b'B', b'0', b'0', b'0', b'0',
                        b'1', b'P', 0,
                    ],
                    &[],
                ),
                true,
            )]),
            "s7comm_function",
            function(0x1A),
            Forbidden::Job(0x1A),
        ),
        hmi(
            "set clock (hand-made userdata, group 7 subfunction 2)",
            Op::Raw(vec![s7::dt(
                &s7::userdata(7, 2, &[0x00, 0x19, 0x20, 0x01, 0x01, 0, 0, 0, 0, 4]),
                true,
            )]),
            "s7comm_function",
            Some(("userdata_subfunction", 2)),
            Forbidden::Userdata(7, 2),
        ),
        hmi(
            "PLC stop second in a segment after read_var",
            Op::Raw(vec![
                [
                    s7::dt(&s7::read_var(&[s7::item(0x84, 1, 0, 4)]), true),
                    stop_tpdu.clone(),
                ]
                .concat(),
            ]),
            "s7comm_function",
            function(0x29),
            Forbidden::Job(0x29),
        ),
        hmi(
            "COTP fragment trick: PLC stop with its function in a second data TPDU",
            Op::Raw(vec![s7::dt(&stop[..10], false), s7::dt(&stop[10..], true)]),
            "s7comm_function",
            function(0x29),
            Forbidden::Job(0x29),
        ),
        hmi(
            "COTP fragment trick in one segment, three data TPDUs",
            Op::Raw(vec![
                [
                    s7::dt(&stop[..3], false),
                    s7::dt(&stop[3..11], false),
                    s7::dt(&stop[11..], true),
                ]
                .concat(),
            ]),
            "s7comm_function",
            function(0x29),
            Forbidden::Job(0x29),
        ),
        hmi(
            "connection to TSAP 0x0103, rack 0 slot 3 (snap7 read)",
            Op::Snap7(
                "read",
                vec!["--slot", "3", "--db", "1", "--start", "0", "--size", "4"],
            ),
            "s7comm_tsap",
            Some(("tsap", 0x0103)),
            Forbidden::Nothing,
        ),
    ];
    // The stop split after every byte of its TPDU up to the function (octet 17).
    for k in 1..=17 {
        v.push(hmi(
            &format!("PLC stop split after TPDU byte {k}"),
            Op::Raw(vec![stop_tpdu[..k].to_vec(), stop_tpdu[k..].to_vec()]),
            "s7comm_function",
            function(0x29),
            Forbidden::Job(0x29),
        ));
    }
    v.push(Case {
        label: "write_var to the flags (MK), engineering may write DB1 only".into(),
        zone: Zone::Enterprise,
        op: Op::Raw(vec![s7::dt(
            &s7::write_var(0x83, 0, 0, &[0x55, 0x66]),
            true,
        )]),
        reason: "s7comm_address",
        conduit: ENGINEERING,
        detail: Some(("area", 0x83)),
        forbidden: Forbidden::Job(0x05),
        stopped: false,
        pi: None,
    });
    // First, before any HMI denial: a retransmission of a denied segment of an earlier
    // connection must not fall into their windows (what the counters are compared over).
    v.splice(
        0..0,
        [
            engineering(
                "PI cold start P_PROGRAM (snap7), engineering may only compress",
                Op::Snap7("cold_start", vec![]),
                "s7comm_function",
                Some("p_program"),
            ),
            engineering(
                "PI hot start P_PROGRAM (snap7), engineering may only compress",
                Op::Snap7("hot_start", vec![]),
                "s7comm_function",
                Some("p_program"),
            ),
            engineering(
                "PI delete DB1 in Step 7's layout, its name split over two segments",
                Op::Raw(vec![
                    step7_delete[..step7_delete.len() - 2].to_vec(),
                    step7_delete[step7_delete.len() - 2..].to_vec(),
                ]),
                "s7comm_function",
                Some("delete"),
            ),
            // python-snap7 3.3.0's `Client.delete(Block.DB, 1)`, byte for byte, on a raw
            // connection (which ends with a RST: a snap7 client's FIN after a denial leaves
            // the kernel retransmitting the denied job into later cases' counters).
            engineering(
                "PI delete DB1 (snap7 3.3.0's bytes, lengths in the unknown octets)",
                Op::Raw(vec![s7::dt(
                    &s7::job(
                        &[[0x28, 0, 0, 0, 0, 0, 8, 5, 0].as_slice(), b"4100001P_DELE"].concat(),
                        &[],
                    ),
                    true,
                )]),
                "s7comm_malformed",
                None,
            ),
        ],
    );
    v
}

struct Env<'p> {
    plant: &'p Plant,
    daemon: Option<Daemon<'p>>,
    server: S7Server,
    view: Option<ZcfwView>,
    inspect: bool,
    failures: Failures,
}

impl<'p> Env<'p> {
    fn start(plant: &'p Plant, mode: XdpMode, inspect: bool) -> Env<'p> {
        if mode == XdpMode::Native {
            // A native-mode veth wakes its peer for XDP_TX frames (the RST a client gets for
            // its retransmitted request) only when the peer runs an XDP program
            // (`zcfw_harness::xdp_pass`); without one the client never sees the reset and its
            // orphaned socket retransmits the denied job into the next cases' counters.
            for host in plant.hosts() {
                xdp_pass::attach(&host.ns, &host.ifname).unwrap_or_else(|e| panic!("{e:#}"));
            }
        }
        let ctl = plant.host(Zone::Control);
        let server = S7Server::start(&ctl.ns, s7comm::PORT)
            .unwrap_or_else(|e| panic!("starting the snap7 server: {e:#}"));
        let name = format!("s7-e2e-{}-{}", inspect, mode.as_str()).to_lowercase();
        let template = if inspect { INSPECTED } else { PORT_LEVEL };
        let policy = plant.render_policy(template, &name, mode);
        let daemon = Daemon::start_on(plant, &policy).unwrap_or_else(|e| panic!("{e:#}"));
        let view = ZcfwView::new(daemon.socket()).expect("zcfw binary");
        Env {
            plant,
            daemon: Some(daemon),
            server,
            view: Some(view),
            inspect,
            failures: Failures::new(mode, inspect),
        }
    }

    fn fail(&mut self, msg: String) {
        self.failures.fail(msg);
    }

    fn stats(&self) -> StatsJson {
        match &self.view {
            Some(view) => view.stats().unwrap_or_else(|e| panic!("zcfw stats: {e:#}")),
            None => StatsJson(serde_json::json!({})),
        }
    }

    fn server_addr(&self) -> SocketAddr {
        SocketAddr::new(Zone::Control.host(Family::V4), s7comm::PORT)
    }

    fn state(&mut self) -> S7State {
        self.server
            .state()
            .unwrap_or_else(|e| panic!("the PLC's state: {e:#}"))
    }

    fn client(&self, zone: Zone, op: &str, args: &[&str]) -> ClientReply {
        s7comm::client(&self.plant.host(zone).ns, self.server_addr(), op, args)
            .unwrap_or_else(|e| panic!("the snap7 client in {zone}: {e:#}"))
    }

    /// A client reads DB1 and an SZL through snap7: the PLC's values come back, nothing is
    /// dropped.
    fn reads(&mut self, zone: Zone, what: &str) {
        let before = self.stats();
        let db1 = self.state().db1;
        let r = self.client(zone, "read", &["--db", "1", "--start", "0", "--size", "8"]);
        if !r.ok || r.data.as_deref() != Some(&db1[..16]) {
            self.fail(format!(
                "{what}: read of DB1 0-7 should return {}: {r:?}",
                &db1[..16]
            ));
        }
        let r = self.client(zone, "szl", &[]);
        if !r.ok {
            self.fail(format!("{what}: SZL read (userdata) should pass: {r:?}"));
        }
        thread::sleep(Duration::from_millis(50));
        let drops = drops_since(&self.stats(), &before);
        if !drops.is_empty() {
            self.fail(format!(
                "{what}: allowed reads, but packets were dropped: {drops:?}"
            ));
        }
    }

    fn case(&mut self, case: &Case) {
        let what = format!("{} → {}: {}", case.zone, self.server_addr(), case.label);
        let mut seen = if case.stopped {
            self.server.set_running(false).expect("CPU to STOP")
        } else {
            self.state()
        };
        if seen.cpu != "RUN" && !case.stopped {
            seen = self.server.set_running(true).expect("CPU to RUN");
        }
        let before = self.stats();
        let reply = match &case.op {
            Op::Snap7(op, args) => self.client(case.zone, op, args),
            Op::Raw(segments) => s7comm::raw(
                &self.plant.host(case.zone).ns,
                self.server_addr(),
                segments,
                PAUSE,
                WAIT,
            )
            .unwrap_or_else(|e| panic!("{what}: raw connection: {e:#}")),
        };
        thread::sleep(Duration::from_millis(200));
        let after = self.stats();
        let now = self.state();
        let reached: Vec<String> = now
            .received_since(seen.rx.len())
            .into_iter()
            .filter(|pdu| match case.forbidden {
                Forbidden::Job(f) => job_function(pdu) == Some(f),
                Forbidden::Userdata(g, s) => userdata_function(pdu) == Some((g, s)),
                Forbidden::Nothing => false,
            })
            .map(|pdu| hex_encode(&pdu))
            .collect();
        let mut effects = Vec::new();
        for (area, a, b) in [("DB1", &seen.db1, &now.db1), ("MK", &seen.mk, &now.mk)] {
            if a != b {
                effects.push(format!("{area} changed from {a} to {b}"));
            }
        }
        if seen.cpu != now.cpu {
            effects.push(format!("the CPU went from {} to {}", seen.cpu, now.cpu));
        }
        if !reached.is_empty() {
            effects.push(format!("the PLC processed {reached:?}"));
        }
        // A raw client succeeds when an ack-data came back for the denied request.
        let answered = match &case.op {
            Op::Snap7(..) => reply.ok,
            Op::Raw(_) => reply.received.as_deref().is_some_and(|r| !r.is_empty()),
        };
        if matches!(case.forbidden, Forbidden::Nothing) && answered {
            effects.push("the client was served".into());
        }
        if !self.inspect {
            eprintln!("[port level] {what}: {reply:?}; PLC: {effects:?}");
            if effects.is_empty() {
                self.fail(format!(
                    "{what}: without inspection the PLC should act on it (the harness must see \
                     effects), but nothing changed ({reply:?})"
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
            self.fail(format!("{what}: the client was answered ({reply:?})"));
        }
        let expected = ExpectedDeny {
            reason: case.reason,
            conduit: case.conduit,
            action: "reset",
            proto: "tcp",
            src: self.plant.host(case.zone).addr(Family::V4),
            src_port: reply.local_port,
            dst: self.server_addr(),
            detail: case.detail,
        };
        let Some(view) = &self.view else {
            return;
        };
        let mut failures: Vec<String> = expected
            .check(view, &before, &after, &REASONS)
            .into_iter()
            .map(|f| format!("{what}: {f}"))
            .collect();
        if let Some(pi) = case.pi {
            let found = view
                .wait_event(Duration::from_secs(3), |e| {
                    expected.matches(e) && e["s7comm"]["pi_service"] == pi
                })
                .unwrap_or_else(|e| panic!("zcfw events: {e:#}"));
            if let Err(events) = found {
                failures.push(format!(
                    "{what}: no event with s7comm.pi_service {pi:?}; last events: {:?}",
                    events.iter().rev().take(3).collect::<Vec<_>>()
                ));
            }
        }
        for f in failures {
            self.fail(f);
        }
    }

    fn finish(mut self) {
        let daemon = self.daemon.take();
        let server = &self.server;
        self.failures
            .finish(daemon, "snap7 server", || server.log());
    }
}

/// Allowed reads, every dangerous case, an allowed write from engineering, and the PLC still
/// serving afterwards.
fn run(env: &mut Env<'_>) {
    if env.state().db1 != hex_encode(&s7comm::db1()) {
        env.fail("DB1 does not hold the server's initial values".into());
    }
    env.reads(Zone::Dmz, "dmz HMI (snap7)");
    for case in cases() {
        env.case(&case);
    }
    env.server.set_running(true).expect("CPU to RUN");
    // Engineering may compress: snap7's compress is served and reaches the PLC.
    let seen = env.state().rx.len();
    let r = env.client(Zone::Enterprise, "compress", &[]);
    let garb = env
        .state()
        .received_since(seen)
        .iter()
        .any(|pdu| job_function(pdu) == Some(0x28) && pdu.ends_with(b"_GARB"));
    if !r.ok || !garb {
        env.fail(format!(
            "engineering's compress (_GARB) should pass and reach the PLC: {r:?}, reached: {garb}"
        ));
    }
    // Engineering may write DB1 (bytes 4-5).
    let r = env.client(
        Zone::Enterprise,
        "write",
        &["--db", "1", "--start", "4", "--data", "abcd"],
    );
    let db1 = env.state().db1;
    if !r.ok || &db1[8..12] != "abcd" {
        env.fail(format!(
            "engineering's write of DB1 4-5 should take effect: {r:?}, DB1 {db1}"
        ));
    }
    // After every denial the PLC still serves, on new connections.
    let r = env.client(
        Zone::Dmz,
        "read",
        &["--db", "1", "--start", "4", "--size", "2"],
    );
    if !r.ok || r.data.as_deref() != Some("abcd") {
        env.fail(format!("the HMI after the denials should read abcd: {r:?}"));
    }
    env.reads(Zone::Enterprise, "engineering (snap7) after the denials");
    let state = env.state();
    if state.cpu != "RUN" {
        env.fail(format!("the CPU should still be in RUN: {state:?}"));
    }
}

/// zcfw with port-level conduits carries everything: every case acts on the PLC.
#[test]
fn peers_through_port_level_conduits() {
    let plant = Plant::for_test("s7_port");
    let mut env = Env::start(&plant, XdpMode::Native, false);
    run(&mut env);
    env.finish();
}

#[test]
fn inspected_native() {
    let plant = Plant::for_test("s7_native");
    let mut env = Env::start(&plant, XdpMode::Native, true);
    run(&mut env);
    env.finish();
}

#[test]
fn inspected_skb() {
    let plant = Plant::for_test("s7_skb");
    let mut env = Env::start(&plant, XdpMode::Skb, true);
    run(&mut env);
    env.finish();
}
