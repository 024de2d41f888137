//! `on_violation: exception` end to end (issue 13): a pymodbus client in the dmz talks to the
//! pymodbus server in the control zone through zcfw, native and generic (skb) XDP mode, IPv4
//! and IPv6, on ONE connection throughout:
//! - an allowed read is answered with the server's values;
//! - a write (the conduit is read-only) is answered with Modbus exception 01 (illegal
//!   function) by zcfw in the server's name; the server never receives it;
//! - the next read on the same connection returns the server's value of the register the
//!   write aimed at, unchanged;
//! - a read out of the allowed range gets exception 02 (illegal data address);
//! - more reads on the same connection are still answered (the sequence numbers of both
//!   directions are shifted by what zcfw swallowed and injected);
//! - zcfw counts the exceptions (`conduits[].actions.exception`) and reports them
//!   (`zcfw events`: action `exception`);
//! - what each end saw on its own wire (tcpdump on the client's and on the server's
//!   interface, read with tshark): every IP and TCP checksum valid, including the frames zcfw
//!   rewrote or wrote; no TCP analysis finding (lost or unseen segment, retransmission,
//!   duplicate ACK); the server never saw a denied request nor sent an exception; the client
//!   got the exceptions; and the bytes add up: the client sent exactly the denied requests'
//!   bytes more than the server received, and received exactly the exceptions' bytes more
//!   than the server sent.

use std::{net::SocketAddr, time::Duration};

use zcfw_harness::{
    Daemon, Family, Names, Plant, TempDir, XdpMode, Zone,
    modbus::{ModbusClient, ModbusServer, Reply, Request, ZcfwView},
    pcap::{BAD_CHECKSUM, TCP_TROUBLE, Tcpdump, tshark_count, tshark_sum},
};

/// Bytes of each request zcfw answers here (a write single register and a read of one
/// holding register: MBAP header and a 5-byte PDU) and of each exception it writes (MBAP
/// header, function | 0x80, exception code).
const DENIED_REQUEST_BYTES: u64 = 12;
const EXCEPTION_BYTES: u64 = 9;

const POLICY: &str = r#"# tests/tests/exception.rs (a template: the harness fills in names and the XDP mode)
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
    on_violation: exception
    rules:
      - protocol: modbus
        modbus: { unit_ids: [1], read_only: true, addresses: ["0-99"] }
"#;

const HISTORIAN: &str = "historian-reads-plc";
const PORT: u16 = 502;
const TIMEOUT: Duration = Duration::from_secs(3);

/// Holding register `address` of unit 1 on the pymodbus server.
fn register(address: u16) -> u64 {
    1000 + address as u64
}

struct Run {
    mode: XdpMode,
    failures: Vec<String>,
}

impl Run {
    fn fail(&mut self, msg: String) {
        eprintln!("FAILED [{}] {msg}", self.mode.as_str());
        self.failures.push(msg);
    }

    /// Sends `request`; checks the values (`Ok`) or the exception code (`Err`) and that the
    /// client stayed on `port` (the same connection). Returns the client's port.
    fn expect(
        &mut self,
        what: &str,
        client: &mut ModbusClient,
        request: &Request,
        want: Result<Vec<u64>, u8>,
        port: Option<u16>,
    ) -> Option<u16> {
        let reply: Reply = match client.call(request) {
            Ok(r) => r,
            Err(e) => {
                self.fail(format!("{what}: the client failed: {e:#}"));
                return port;
            }
        };
        match &want {
            Ok(values) if reply.values.as_ref() != Some(values) => self.fail(format!(
                "{what}: expected values {values:?}, got {}",
                reply.describe()
            )),
            Err(code) if reply.exception != Some(*code) => self.fail(format!(
                "{what}: expected Modbus exception {code}, got {}",
                reply.describe()
            )),
            _ => eprintln!("[{}] {what}: {}", self.mode.as_str(), reply.describe()),
        }
        if let (Some(before), Some(now)) = (port, reply.local_port)
            && before != now
        {
            self.fail(format!(
                "{what}: the client reconnected (port {before} -> {now}): the connection did \
                 not stay usable"
            ));
        }
        reply.local_port.or(port)
    }
}

fn exceptions_keep_the_connection(mode: XdpMode) {
    let plant = Plant::new(Names::unique(&format!("exception_{}", mode.as_str())))
        .unwrap_or_else(|e| panic!("building the plant: {e:#}"));
    if mode == XdpMode::Native {
        // A native-mode veth wakes its peer for XDP_TX frames only when the peer runs an XDP
        // program (`zcfw_harness::xdp_pass`); real NICs need nothing of the kind.
        for host in plant.hosts() {
            zcfw_harness::xdp_pass::attach(&host.ns, &host.ifname)
                .unwrap_or_else(|e| panic!("{e:#}"));
        }
    }
    let server = ModbusServer::start(&plant.host(Zone::Control).ns, PORT, &[1])
        .unwrap_or_else(|e| panic!("starting the pymodbus server: {e:#}"));
    let name = format!("exception-e2e-{}", mode.as_str());
    let daemon = Daemon::start_on(&plant, &plant.render_policy(POLICY, &name, mode))
        .unwrap_or_else(|e| panic!("{e:#}"));
    let view = ZcfwView::new(daemon.socket()).expect("zcfw binary");
    let mut run = Run {
        mode,
        failures: Vec::new(),
    };
    // Both ends capture on their own interface. Checksum offload off on the hosts, so every
    // frame on the wire carries its real checksum (a veth otherwise hands on a partial one,
    // which tshark would call bad whatever zcfw did).
    let dir = TempDir::new(&format!("zcfw-exception-pcap-{}", mode.as_str())).expect("temp dir");
    let mut dumps = Vec::new();
    for zone in [Zone::Dmz, Zone::Control] {
        let host = plant.host(zone);
        let out = host
            .ns
            .command("ethtool")
            .args(["-K", &host.ifname, "tx", "off"])
            .output()
            .expect("ethtool");
        assert!(
            out.status.success(),
            "ethtool -K {} tx off: {out:?}",
            host.ifname
        );
        let path = dir.join(&format!("{}.pcap", zone.short()));
        dumps.push(
            Tcpdump::start(&host.ns, &host.ifname, &format!("tcp port {PORT}"), &path)
                .unwrap_or_else(|e| panic!("{e:#}")),
        );
    }
    let families = [Family::V4, Family::V6];
    for family in families {
        let f = format!("{family:?}");
        let addr = SocketAddr::new(Zone::Control.host(family), PORT);
        let mut client = ModbusClient::start(&plant.host(Zone::Dmz).ns, addr, TIMEOUT)
            .unwrap_or_else(|e| panic!("starting a pymodbus client: {e:#}"));
        let read = |address: u16, count: u16| Request::ReadHolding {
            unit: 1,
            address,
            count,
        };
        let port = run.expect(
            &format!("{f}: allowed read"),
            &mut client,
            &read(0, 4),
            Ok((0..4).map(register).collect()),
            None,
        );
        let seen = server.received().len();
        let write = Request::WriteRegister {
            unit: 1,
            address: 5,
            value: 4242,
        };
        let port = run.expect(
            &format!("{f}: denied write"),
            &mut client,
            &write,
            Err(0x01),
            port,
        );
        if write.reached(&server, seen) {
            run.fail(format!("{f}: the server received the denied write"));
        }
        let port = run.expect(
            &format!("{f}: read of the register the write aimed at, same connection"),
            &mut client,
            &read(5, 1),
            Ok(vec![register(5)]),
            port,
        );
        let port = run.expect(
            &format!("{f}: read beyond the allowed addresses"),
            &mut client,
            &read(100, 1),
            Err(0x02),
            port,
        );
        let mut port = port;
        for i in 0..3u16 {
            port = run.expect(
                &format!("{f}: read {i} after two exceptions"),
                &mut client,
                &read(10 + i, 2),
                Ok(vec![register(10 + i), register(11 + i)]),
                port,
            );
        }
        if port.is_none() {
            run.fail(format!("{f}: the client never reported its port"));
        }
    }
    let mut pcaps = dumps
        .into_iter()
        .map(|d| d.stop().unwrap_or_else(|e| panic!("{e:#}")));
    let (client_pcap, server_pcap) = (pcaps.next().expect("client"), pcaps.next().expect("server"));
    check_wire(&mut run, &client_pcap, &server_pcap, families.len() as u64);
    let stats = view.stats().expect("zcfw stats");
    let exceptions = stats.0["conduits"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["name"] == HISTORIAN)
        .and_then(|c| c["actions"]["exception"]["packets"].as_u64())
        .unwrap_or(0);
    // Two per family; a retransmission answered again would add to it.
    if exceptions < 4 {
        run.fail(format!(
            "zcfw should count at least 4 exceptions on {HISTORIAN}, counted {exceptions}: {}",
            stats.0["conduits"]
        ));
    }
    let events = view.events().unwrap_or_default();
    for reason in ["modbus_function", "modbus_address"] {
        let n = events
            .iter()
            .filter(|e| e["action"] == "exception" && e["reason"] == reason)
            .count();
        if n < 2 {
            run.fail(format!(
                "zcfw events should show {reason} with action exception for both families, \
                 got {n}: {events:?}"
            ));
        }
    }
    assert!(
        run.failures.is_empty(),
        "[{}] {} failure(s):\n{}",
        mode.as_str(),
        run.failures.len(),
        run.failures.join("\n")
    );
}

/// What the two captures must show after `sessions` runs of the session above (two answered
/// requests each).
fn check_wire(run: &mut Run, client: &std::path::Path, server: &std::path::Path, sessions: u64) {
    let count = |pcap: &std::path::Path, filter: &str| {
        tshark_count(pcap, filter).unwrap_or_else(|e| panic!("{e:#}"))
    };
    let bytes = |pcap: &std::path::Path, filter: &str| {
        tshark_sum(pcap, filter, "tcp.len").unwrap_or_else(|e| panic!("{e:#}"))
    };
    for (side, pcap) in [("client", client), ("server", server)] {
        let frames = count(pcap, "tcp");
        if frames < 20 {
            let size = std::fs::metadata(pcap).map_or(0, |m| m.len());
            let log = std::fs::read_to_string(pcap.with_extension("log")).unwrap_or_default();
            run.fail(format!(
                "{side} capture {} ({size} bytes) holds {frames} TCP frames: the capture missed \
                 the session; tcpdump said: {log}",
                pcap.display()
            ));
        }
        let bad = count(pcap, BAD_CHECKSUM);
        if bad != 0 {
            run.fail(format!(
                "{side} saw {bad} frame(s) with a wrong IP or TCP checksum"
            ));
        }
        let trouble = count(pcap, TCP_TROUBLE);
        if trouble != 0 {
            run.fail(format!(
                "{side} saw {trouble} frame(s) of a broken stream (tshark: {TCP_TROUBLE})"
            ));
        }
    }
    let server_exceptions = count(server, "modbus.exception_code");
    let server_writes = count(server, "modbus.func_code == 6");
    if server_exceptions != 0 || server_writes != 0 {
        run.fail(format!(
            "the server's wire carried {server_writes} write(s) and {server_exceptions} exception(s)"
        ));
    }
    let client_exceptions = count(client, "modbus.exception_code");
    if client_exceptions as u64 != 2 * sessions {
        run.fail(format!(
            "the client's wire carried {client_exceptions} exception(s), expected {}",
            2 * sessions
        ));
    }
    let requests = format!("tcp.dstport == {PORT}");
    let replies = format!("tcp.srcport == {PORT}");
    let (sent, received) = (bytes(client, &requests), bytes(server, &requests));
    let swallowed = 2 * sessions * DENIED_REQUEST_BYTES;
    if sent != received + swallowed {
        run.fail(format!(
            "the client sent {sent} bytes, the server received {received}: expected exactly the \
             {swallowed} bytes of the denied requests less"
        ));
    }
    let (answered, got) = (bytes(server, &replies), bytes(client, &replies));
    let injected = 2 * sessions * EXCEPTION_BYTES;
    if got != answered + injected {
        run.fail(format!(
            "the server sent {answered} bytes, the client received {got}: expected exactly the \
             {injected} bytes of the exceptions more"
        ));
    }
}

#[test]
fn exceptions_keep_the_connection_native() {
    exceptions_keep_the_connection(XdpMode::Native);
}

#[test]
fn exceptions_keep_the_connection_skb() {
    exceptions_keep_the_connection(XdpMode::Skb);
}
