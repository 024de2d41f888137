//! Modbus/TCP deep inspection end to end, with a Modbus stack nobody here wrote: a pymodbus
//! server in the control zone (units 1 and 2, tables described in `zcfw_harness::modbus`),
//! pymodbus clients in the dmz and the enterprise zone, zcfw on the gateway in native and in
//! generic (skb) XDP mode.
//!
//! Policy (below): dmz → control may read unit 1, addresses 0-99 (`read_only: true`);
//! enterprise → control may read units 1-2 at 0-199 and write registers 100-149.
//!
//! Every check is made from the client's side (the values an application gets, or that it
//! gets no answer), from the server's side (whether the request reached the PLC at all) and
//! from zcfw's (`zcfw stats --json`: `reasons[]` and `conduits[].denied.<reason>`;
//! `zcfw events --json`: reason, conduit, addresses, ports, unit, function, address). A test
//! runs every case and then fails with the list of every check that went wrong.
//!
//! Both conduits here opt into `on_violation: drop` (the default `reset` is tested in
//! `tests/reset.rs`): inspection is judged on exactly the segments the client sent, and the
//! drop's own behaviour stays covered. Dropping a request leaves the client's TCP stream with
//! data the server never acknowledges: a client that keeps using that connection gets no
//! answers until it reconnects. The denied cases therefore use a fresh connection each and
//! end it with a reset; `same_client_after_a_denied_request` shows what a pymodbus
//! application sees when it goes on.

use std::{
    net::SocketAddr,
    thread,
    time::{Duration, Instant},
};

use Request::{
    ReadCoils, ReadDiscreteInputs, ReadHolding, ReadInput, WriteRegister, WriteRegisters,
};
use zcfw_harness::{
    Daemon, Family, Plant, XdpMode, Zone,
    modbus::{
        ExpectedEvent, ModbusClient, ModbusServer, Request, StatsJson, ZcfwView, hex_encode,
        split_adus,
    },
};

const POLICY: &str = r#"# tests/tests/modbus.rs (a template: the harness fills in names and the XDP mode)
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
  - name: historian-reads-plc
    from: dmz
    to: control
    on_violation: drop
    rules:
      - protocol: modbus
        modbus:
          unit_ids: [1]
          read_only: true
          addresses: ["0-99"]
  - name: engineering-tunes-plc
    from: enterprise
    to: control
    on_violation: drop
    rules:
      - protocol: modbus
        modbus:
          unit_ids: [1, 2]
          functions: [read_holding_registers, write_single_register, write_multiple_registers]
          addresses:
            read_holding_registers: ["0-199"]
            write_holding_registers: ["100-149"]
"#;

const HISTORIAN: &str = "historian-reads-plc";
const ENGINEERING: &str = "engineering-tunes-plc";
/// `protocol: modbus` implies tcp/502.
const PORT: u16 = 502;
/// pymodbus client timeout (retries 0): how long a client waits for an answer.
const TIMEOUT: Duration = Duration::from_millis(1500);
/// How long an event may take from the ring buffer to `zcfw events`.
const EVENT_TIMEOUT: Duration = Duration::from_secs(3);
/// Every reason a Modbus inspection deny is counted under.
const MODBUS_REASONS: [&str; 5] = [
    "modbus_function",
    "modbus_unit_id",
    "modbus_address",
    "modbus_malformed",
    "modbus_split",
];

/// A plant with the pymodbus server in the control zone and zcfw on the gateway.
struct Env<'p> {
    plant: &'p Plant,
    daemon: Option<Daemon<'p>>,
    server: ModbusServer,
    view: ZcfwView,
    mode: XdpMode,
    failures: Vec<String>,
}

impl<'p> Env<'p> {
    fn start(plant: &'p Plant, mode: XdpMode) -> Env<'p> {
        let ctl = plant.host(Zone::Control);
        let server = ModbusServer::start(&ctl.ns, PORT, &[1, 2])
            .unwrap_or_else(|e| panic!("starting the pymodbus server: {e:#}"));
        let name = format!("modbus-e2e-{}", mode.as_str());
        let policy = plant.render_policy(POLICY, &name, mode);
        let daemon = Daemon::start_on(plant, &policy).unwrap_or_else(|e| panic!("{e:#}"));
        for ifname in plant.gateway_interfaces() {
            let details = daemon.link_details(&ifname).expect("ip link");
            let first = details.lines().next().unwrap_or_default();
            assert!(
                first.split_whitespace().any(|w| w == mode.ip_link_flag()),
                "{ifname} should carry XDP in {} mode:\n{details}",
                mode.as_str()
            );
        }
        let view = ZcfwView::new(daemon.socket()).expect("zcfw binary");
        let stats = view.stats().expect("zcfw stats");
        assert_eq!(stats.0["policy"]["name"], name.as_str());
        eprintln!("[{}] server: {}", mode.as_str(), server.banner);
        Env {
            plant,
            daemon: Some(daemon),
            server,
            view,
            mode,
            failures: Vec::new(),
        }
    }

    fn fail(&mut self, msg: String) {
        eprintln!("FAILED [{}] {msg}", self.mode.as_str());
        self.failures.push(msg);
    }

    fn stats(&self) -> StatsJson {
        self.view
            .stats()
            .unwrap_or_else(|e| panic!("zcfw stats: {e:#}"))
    }

    /// The server's address in `family`.
    fn server_addr(&self, family: Family) -> SocketAddr {
        SocketAddr::new(Zone::Control.host(family), PORT)
    }

    /// A new pymodbus client on `zone`'s host.
    fn client(&self, zone: Zone, family: Family) -> ModbusClient {
        ModbusClient::start(&self.plant.host(zone).ns, self.server_addr(family), TIMEOUT)
            .unwrap_or_else(|e| panic!("starting a pymodbus client in {zone}: {e:#}"))
    }

    fn counted(after: &StatsJson, before: &StatsJson) -> String {
        format!(
            "counted: reasons {:?}, inspection denies {:?}",
            after.reasons_since(before),
            after.denied_since(before)
        )
    }

    /// `request` from `client` passes: the client gets the server's values (or its write is
    /// acknowledged), the conduit counts it, and nothing is dropped meanwhile.
    fn allowed(&mut self, client: &mut ModbusClient, request: &Request, conduit: &str) -> bool {
        let what = format!("{} → {}: {}", conduit, client.server(), request.label());
        let before = self.stats();
        let reply = match client.call(request) {
            Ok(r) => r,
            Err(e) => {
                self.fail(format!("{what}: the client failed: {e:#}"));
                return false;
            }
        };
        // The ACK of the answer is counted a moment later.
        thread::sleep(Duration::from_millis(30));
        let after = self.stats();
        let counted = Self::counted(&after, &before);
        let mut good = true;
        match (reply.ok, request.expected()) {
            (true, Some(expected)) if reply.values.as_ref() != Some(&expected) => {
                self.fail(format!(
                    "{what}: should read {expected:?}, but got {}; {counted}",
                    reply.describe()
                ));
                good = false;
            }
            (true, _) => {}
            (false, _) => {
                self.fail(format!(
                    "{what}: should pass, but the client got {}; {counted}",
                    reply.describe()
                ));
                return false;
            }
        }
        let grew = after.conduit_packets(conduit) - before.conduit_packets(conduit);
        if grew < 2 {
            self.fail(format!(
                "{what}: passed, but conduit {conduit} counted {grew} packets (request and answer \
                 at least); {counted}"
            ));
            good = false;
        }
        let drops: Vec<(String, u64)> = after
            .reasons_since(&before)
            .into_iter()
            .filter(|(r, _)| {
                after.0["reasons"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|x| x["reason"] == r.as_str() && x["passes"] == false)
            })
            .collect();
        if !drops.is_empty() {
            self.fail(format!(
                "{what}: passed, but packets were dropped meanwhile ({drops:?}); {counted}"
            ));
            good = false;
        }
        good
    }

    /// `request` from a new client on `zone`'s host (a connection of its own) gets no answer,
    /// never reaches the server, is counted under `reason` (in total and for `conduit`) and
    /// reported as an event with the unit, function and, for address denies, the address.
    fn denied(
        &mut self,
        zone: Zone,
        family: Family,
        request: &Request,
        reason: &'static str,
        conduit: &'static str,
    ) {
        let mut client = self.client(zone, family);
        let what = format!(
            "{zone} → {} {}: {}",
            client.server(),
            family.label(),
            request.label()
        );
        let seen = self.server.received().len();
        let before = self.stats();
        let reply = client.call(request);
        let after = self.stats();
        let counted = Self::counted(&after, &before);
        let reply = match reply {
            Ok(r) => r,
            Err(e) => {
                self.fail(format!("{what}: the client failed: {e:#}; {counted}"));
                return;
            }
        };
        if reply.ok || reply.exception.is_some() {
            self.fail(format!(
                "{what}: should get no answer ({reason}), but got {}; {counted}",
                reply.describe()
            ));
        }
        if request.reached(&self.server, seen) {
            self.fail(format!(
                "{what}: denied ({reason}), but the server received it; {counted}"
            ));
        }
        if after.reason(reason) <= before.reason(reason) {
            self.fail(format!(
                "{what}: not counted under reasons[{reason}]; {counted}"
            ));
        }
        if after.conduit_denied(conduit, reason) <= before.conduit_denied(conduit, reason) {
            self.fail(format!(
                "{what}: not counted under conduits[{conduit}].denied.{reason}; {counted}"
            ));
        }
        for other in MODBUS_REASONS.iter().filter(|r| **r != reason) {
            if after.reason(other) > before.reason(other) {
                self.fail(format!(
                    "{what}: counted under {other} as well as {reason}; {counted}"
                ));
            }
        }
        let Some(port) = reply.local_port else {
            self.fail(format!(
                "{what}: the client had no connection (so no event to look for): {}",
                reply.describe()
            ));
            return;
        };
        let src = SocketAddr::new(self.plant.host(zone).addr(family), port);
        let expected = ExpectedEvent {
            reason,
            conduit,
            src,
            dst: client.server(),
            unit: Some(request.unit()),
            function: Some(request.function()),
            address: (reason == "modbus_address").then(|| request.address()),
        };
        self.expect_event(&what, &expected);
        let _ = client.abort();
    }

    /// `zcfw events --json` reports `expected` (within [`EVENT_TIMEOUT`]).
    fn expect_event(&mut self, what: &str, expected: &ExpectedEvent) {
        match self.view.wait_event(EVENT_TIMEOUT, |e| expected.matches(e)) {
            Ok(Ok(_)) => {}
            Ok(Err(events)) => {
                let near: Vec<String> = events
                    .iter()
                    .filter(|e| e["src_port"].as_u64() == Some(u64::from(expected.src.port())))
                    .map(ToString::to_string)
                    .collect();
                self.fail(format!(
                    "{what}: no event {expected:?} in zcfw events --json ({} events; those of \
                     this connection: {near:?})",
                    events.len()
                ));
            }
            Err(e) => self.fail(format!("{what}: zcfw events: {e:#}")),
        }
    }

    /// Stops zcfw (which must leave no XDP behind) and fails with every failed check.
    fn finish(mut self) {
        if let Some(daemon) = self.daemon.take()
            && let Err(e) = daemon.stop()
        {
            self.fail(format!("stopping zcfw: {e:#}"));
        }
        if !self.failures.is_empty() {
            eprintln!("--- pymodbus server log ---\n{}", self.server.log());
        }
        assert!(
            self.failures.is_empty(),
            "{} failed check(s) in {} mode:\n  {}",
            self.failures.len(),
            self.mode.as_str(),
            self.failures.join("\n  ")
        );
    }
}

/// The reads the historian's profile allows (unit 1, addresses 0-99, FC 1-4), edges included.
fn historian_reads() -> Vec<Request> {
    vec![
        ReadHolding {
            unit: 1,
            address: 0,
            count: 10,
        },
        ReadHolding {
            unit: 1,
            address: 90,
            count: 10,
        },
        ReadInput {
            unit: 1,
            address: 0,
            count: 5,
        },
        ReadInput {
            unit: 1,
            address: 99,
            count: 1,
        },
        ReadCoils {
            unit: 1,
            address: 0,
            count: 16,
        },
        ReadCoils {
            unit: 1,
            address: 96,
            count: 4,
        },
        ReadDiscreteInputs {
            unit: 1,
            address: 0,
            count: 8,
        },
    ]
}

/// What the historian's profile refuses, with the reason.
fn historian_denials() -> Vec<(Request, &'static str)> {
    vec![
        (
            WriteRegister {
                unit: 1,
                address: 10,
                value: 4242,
            },
            "modbus_function",
        ),
        (
            WriteRegisters {
                unit: 1,
                address: 20,
                values: vec![7, 8, 9],
            },
            "modbus_function",
        ),
        (
            ReadHolding {
                unit: 2,
                address: 0,
                count: 3,
            },
            "modbus_unit_id",
        ),
        (
            ReadHolding {
                unit: 1,
                address: 95,
                count: 10,
            },
            "modbus_address",
        ),
        (
            ReadHolding {
                unit: 1,
                address: 150,
                count: 1,
            },
            "modbus_address",
        ),
        (
            ReadInput {
                unit: 1,
                address: 100,
                count: 1,
            },
            "modbus_address",
        ),
        (
            ReadCoils {
                unit: 1,
                address: 98,
                count: 3,
            },
            "modbus_address",
        ),
    ]
}

/// The historian (dmz) reads what it may, is refused the rest, and its established session
/// is unaffected by the refusals.
fn historian(env: &mut Env<'_>) {
    // One long-lived client: every allowed read on one connection.
    let mut historian = env.client(Zone::Dmz, Family::V4);
    for request in historian_reads() {
        env.allowed(&mut historian, &request, HISTORIAN);
    }
    let port = historian
        .call(&historian_reads()[0])
        .ok()
        .and_then(|r| r.local_port);

    // Over IPv6 too.
    let mut v6 = env.client(Zone::Dmz, Family::V6);
    env.allowed(&mut v6, &historian_reads()[0], HISTORIAN);
    drop(v6);

    // Each refused request on a connection of its own.
    for (request, reason) in historian_denials() {
        env.denied(Zone::Dmz, Family::V4, &request, reason, HISTORIAN);
    }
    env.denied(
        Zone::Dmz,
        Family::V6,
        &WriteRegister {
            unit: 1,
            address: 11,
            value: 4243,
        },
        "modbus_function",
        HISTORIAN,
    );
    env.denied(
        Zone::Dmz,
        Family::V6,
        &ReadHolding {
            unit: 1,
            address: 120,
            count: 2,
        },
        "modbus_address",
        HISTORIAN,
    );

    // The long-lived session, idle meanwhile, still answers on the same connection.
    for request in historian_reads() {
        env.allowed(&mut historian, &request, HISTORIAN);
    }
    let after = historian
        .call(&historian_reads()[0])
        .ok()
        .and_then(|r| r.local_port);
    if port.is_none() || port != after {
        env.fail(format!(
            "the historian's session should have kept its connection through the denials of \
             other connections, but its local port went from {port:?} to {after:?}"
        ));
    }
}

/// A pymodbus application whose request was dropped, and goes on with the same client.
///
/// zcfw drops the segment and keeps the connection (`on_violation: drop`, opted into by this
/// file's policy). The server never acknowledges the dropped bytes, so everything the client
/// sends after them on that connection waits behind a hole in the TCP stream and never
/// reaches the server; retransmissions of the dropped bytes are dropped again. pymodbus 3.x's
/// sync client keeps the connection after timeouts (its "CLOSING CONNECTION" after
/// `retries + 3` silent requests does not close the socket of the sync client), so the
/// application gets no answer until it closes the client itself; the next request reconnects
/// and is answered at once.
fn same_client_after_a_denied_request(env: &mut Env<'_>) {
    let mut client = env.client(Zone::Dmz, Family::V4);
    let baseline = ReadHolding {
        unit: 1,
        address: 0,
        count: 4,
    };
    env.allowed(&mut client, &baseline, HISTORIAN);
    let first_port = client.call(&baseline).ok().and_then(|r| r.local_port);

    let seen = env.server.received().len();
    let write = WriteRegister {
        unit: 1,
        address: 12,
        value: 4244,
    };
    match client.call(&write) {
        Ok(r) if !r.ok && r.exception.is_none() => {}
        other => env.fail(format!(
            "same client: {} should get no answer, got {other:?}",
            write.label()
        )),
    }
    // An address no other case reads, to tell these reads apart at the server.
    let read = ReadHolding {
        unit: 1,
        address: 41,
        count: 2,
    };
    for attempt in 1..=3 {
        match client.call(&read) {
            Ok(r) if !r.ok && r.exception.is_none() => {}
            other => env.fail(format!(
                "same client, read {attempt} after the dropped write on the same connection \
                 (port {first_port:?}): expected no answer (it waits behind the dropped bytes), \
                 got {other:?}"
            )),
        }
    }
    if write.reached(&env.server, seen) || read.reached(&env.server, seen) {
        env.fail(format!(
            "same client: the server received something sent on the connection after the \
             dropped write: {:?}",
            &env.server.received()[seen..]
        ));
    }

    // The application closes the client (with a reset, as everywhere here: an orphaned
    // socket would retransmit the dropped write into the counters of later checks); the
    // next request reconnects and is answered.
    if let Err(e) = client.abort() {
        env.fail(format!("same client: close: {e:#}"));
    }
    let started = Instant::now();
    if env.allowed(&mut client, &read, HISTORIAN) {
        let port = client.call(&read).ok().and_then(|r| r.local_port);
        eprintln!(
            "[{}] same client after closing: answered in {:.2}s on port {port:?} \
             (was {first_port:?})",
            env.mode.as_str(),
            started.elapsed().as_secs_f64()
        );
    }
    let _ = client.abort();
}

/// The engineering station (enterprise) may do what the historian may not: the refusals
/// above were the policy's, not the server's; and no refused write changed a register.
fn engineering(env: &mut Env<'_>) {
    let mut eng = env.client(Zone::Enterprise, Family::V4);
    // Unit 2 and address 150 answer (refused to the historian).
    env.allowed(
        &mut eng,
        &ReadHolding {
            unit: 2,
            address: 0,
            count: 3,
        },
        ENGINEERING,
    );
    env.allowed(
        &mut eng,
        &ReadHolding {
            unit: 1,
            address: 150,
            count: 1,
        },
        ENGINEERING,
    );
    // The historian's refused writes (10, 11, 12, 13, 20-22) never reached the registers.
    let untouched = ReadHolding {
        unit: 1,
        address: 10,
        count: 13,
    };
    env.allowed(&mut eng, &untouched, ENGINEERING);
    // Writes in 100-149 pass and take effect.
    let write = WriteRegister {
        unit: 1,
        address: 120,
        value: 777,
    };
    if env.allowed(&mut eng, &write, ENGINEERING) {
        match eng.call(&ReadHolding {
            unit: 1,
            address: 120,
            count: 1,
        }) {
            Ok(r) if r.values == Some(vec![777]) => {}
            other => env.fail(format!(
                "engineering: register 120 should read 777 after the write, got {other:?}"
            )),
        }
    }
    let writes = WriteRegisters {
        unit: 1,
        address: 130,
        values: vec![31, 32],
    };
    if env.allowed(&mut eng, &writes, ENGINEERING) {
        match eng.call(&ReadHolding {
            unit: 1,
            address: 130,
            count: 2,
        }) {
            Ok(r) if r.values == Some(vec![31, 32]) => {}
            other => env.fail(format!(
                "engineering: registers 130-131 should read [31, 32] after the write, got {other:?}"
            )),
        }
    }
    let _ = eng.abort();
    // Outside its own profile: a write below 100, a function it does not list.
    env.denied(
        Zone::Enterprise,
        Family::V4,
        &WriteRegister {
            unit: 1,
            address: 10,
            value: 4246,
        },
        "modbus_address",
        ENGINEERING,
    );
    env.denied(
        Zone::Enterprise,
        Family::V4,
        &ReadInput {
            unit: 1,
            address: 0,
            count: 1,
        },
        "modbus_function",
        ENGINEERING,
    );
    env.denied(
        Zone::Enterprise,
        Family::V4,
        &ReadHolding {
            unit: 3,
            address: 0,
            count: 1,
        },
        "modbus_unit_id",
        ENGINEERING,
    );
}

/// Several ADUs in one segment (pipelining) and ADUs split across segments, sent on plain
/// TCP connections with ADUs that pymodbus encodes.
fn segments(env: &mut Env<'_>) {
    let mut client = env.client(Zone::Dmz, Family::V4);
    let server = client.server();
    let src_ip = env.plant.host(Zone::Dmz).addr(Family::V4);
    let reads = [
        ReadHolding {
            unit: 1,
            address: 0,
            count: 2,
        },
        ReadCoils {
            unit: 1,
            address: 0,
            count: 8,
        },
        ReadInput {
            unit: 1,
            address: 10,
            count: 2,
        },
    ];

    // Three allowed requests in one segment pass whole.
    let tid = 0x7a01;
    let adus = client.encode(&reads, tid).expect("encode");
    let before = env.stats();
    let what = "dmz: 3 allowed ADUs in one segment";
    match client.raw(&[adus], Duration::ZERO, TIMEOUT, 13) {
        Ok((answer, _)) => {
            let reached: Vec<u16> = env
                .server
                .received()
                .iter()
                .map(|a| a.transaction_id)
                .filter(|t| (tid..tid + 3).contains(t))
                .collect();
            if reached.len() != 3 {
                env.fail(format!(
                    "{what}: the server received transaction ids {reached:04x?} of \
                     {tid:04x}..{:04x}; {}",
                    tid + 2,
                    Env::counted(&env.stats(), &before)
                ));
            }
            // pymodbus's server answers the first ADU of a read and keeps the rest until
            // more data comes, so only the first answer is certain.
            let answers = split_adus(&answer);
            if answers.first().map(|a| (a.transaction_id, a.function)) != Some((tid, 3))
                || answers[0].data != [4, 0x03, 0xe8, 0x03, 0xe9]
            {
                env.fail(format!(
                    "{what}: expected the answer 1000, 1001 to transaction {tid:04x}, got {}",
                    hex_encode(&answer)
                ));
            }
        }
        Err(e) => env.fail(format!("{what}: {e:#}")),
    }
    let after = env.stats();
    let modbus_drops: u64 = MODBUS_REASONS
        .iter()
        .map(|r| after.reason(r) - before.reason(r))
        .sum();
    if modbus_drops > 0 {
        env.fail(format!(
            "{what}: passed, but Modbus denies were counted; {}",
            Env::counted(&after, &before)
        ));
    }

    // One write among them: the whole segment is dropped.
    let tid = 0x7b01;
    let mut mixed = reads[..2].to_vec();
    mixed.push(WriteRegister {
        unit: 1,
        address: 14,
        value: 4247,
    });
    let adus = client.encode(&mixed, tid).expect("encode");
    let before = env.stats();
    let what = "dmz: 2 reads and a write in one segment";
    match client.raw(&[adus], Duration::ZERO, TIMEOUT, 1) {
        Ok((answer, port)) => {
            let after = env.stats();
            let counted = Env::counted(&after, &before);
            if !answer.is_empty() {
                env.fail(format!(
                    "{what}: should get no answer, got {}; {counted}",
                    hex_encode(&answer)
                ));
            }
            if env
                .server
                .received()
                .iter()
                .any(|a| (tid..tid + 3).contains(&a.transaction_id))
            {
                env.fail(format!(
                    "{what}: part of the segment reached the server; {counted}"
                ));
            }
            if after.conduit_denied(HISTORIAN, "modbus_function")
                <= before.conduit_denied(HISTORIAN, "modbus_function")
            {
                env.fail(format!(
                    "{what}: not counted under modbus_function; {counted}"
                ));
            }
            let expected = ExpectedEvent {
                reason: "modbus_function",
                conduit: HISTORIAN,
                src: SocketAddr::new(src_ip, port),
                dst: server,
                unit: Some(1),
                function: Some(6),
                address: None,
            };
            env.expect_event(what, &expected);
        }
        Err(e) => env.fail(format!("{what}: {e:#}")),
    }

    // An ADU cut after its function code, its fields in the next segment (issue 14: Modbus on
    // the stream position): an allowed read is judged when its fields arrive and reaches the
    // server whole; a write is denied in the segment that carries its function code.
    let tid = 0x7c01;
    let adu = client.encode(&reads[..1], tid).expect("encode");
    let before = env.stats();
    let what = "dmz: a read cut after its function code";
    let pieces = [adu[..8].to_vec(), adu[8..].to_vec()];
    match client.raw(&pieces, Duration::from_millis(50), TIMEOUT, 13) {
        Ok((answer, _)) => {
            let after = env.stats();
            let answers = split_adus(&answer);
            if answers.first().map(|a| (a.transaction_id, a.function)) != Some((tid, 3))
                || answers[0].data != [4, 0x03, 0xe8, 0x03, 0xe9]
            {
                env.fail(format!(
                    "{what}: expected the answer 1000, 1001 to transaction {tid:04x}, got {}; {}",
                    hex_encode(&answer),
                    Env::counted(&after, &before)
                ));
            }
            let modbus_drops: u64 = MODBUS_REASONS
                .iter()
                .map(|r| after.reason(r) - before.reason(r))
                .sum();
            if modbus_drops > 0 {
                env.fail(format!(
                    "{what}: passed, but Modbus denies were counted; {}",
                    Env::counted(&after, &before)
                ));
            }
        }
        Err(e) => env.fail(format!("{what}: {e:#}")),
    }

    let tid = 0x7d01;
    let write = [WriteRegister {
        unit: 1,
        address: 14,
        value: 4247,
    }];
    let adu = client.encode(&write, tid).expect("encode");
    let before = env.stats();
    let what = "dmz: a write cut after its function code";
    let pieces = [adu[..8].to_vec(), adu[8..].to_vec()];
    match client.raw(&pieces, Duration::from_millis(50), TIMEOUT, 1) {
        Ok((answer, port)) => {
            let after = env.stats();
            let counted = Env::counted(&after, &before);
            if !answer.is_empty() {
                env.fail(format!(
                    "{what}: should get no answer, got {}; {counted}",
                    hex_encode(&answer)
                ));
            }
            if env
                .server
                .received_raw()
                .iter()
                .any(|chunk| chunk.starts_with(&adu[..2]))
            {
                env.fail(format!(
                    "{what}: part of the write reached the server; {counted}"
                ));
            }
            if after.conduit_denied(HISTORIAN, "modbus_function")
                <= before.conduit_denied(HISTORIAN, "modbus_function")
            {
                env.fail(format!(
                    "{what}: not counted under modbus_function; {counted}"
                ));
            }
            let expected = ExpectedEvent {
                reason: "modbus_function",
                conduit: HISTORIAN,
                src: SocketAddr::new(src_ip, port),
                dst: server,
                unit: Some(1),
                function: Some(6),
                address: None,
            };
            env.expect_event(what, &expected);
        }
        Err(e) => env.fail(format!("{what}: {e:#}")),
    }
}

fn modbus_e2e(mode: XdpMode) {
    let plant = Plant::for_test(&format!("modbus_{}", mode.as_str()));
    let mut env = Env::start(&plant, mode);
    historian(&mut env);
    same_client_after_a_denied_request(&mut env);
    engineering(&mut env);
    segments(&mut env);
    env.finish();
}

#[test]
fn modbus_native() {
    modbus_e2e(XdpMode::Native);
}

#[test]
fn modbus_skb() {
    modbus_e2e(XdpMode::Skb);
}
