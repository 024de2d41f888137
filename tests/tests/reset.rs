//! `on_violation: reset` end to end (issue 13): a Modbus server that serves one connection
//! at a time (`zcfw_harness::one_connection`, like libmodbus's server and many PLCs) in the
//! control zone behind zcfw, in native and in generic (skb) XDP mode, IPv4 and IPv6.
//!
//! Client A (dmz) is served, then sends a request the policy denies while client B
//! (enterprise) waits in the server's backlog. With `drop`, A would hold the server for
//! minutes and B would starve; with `reset` (the default):
//! - the server receives a RST in place of A's request and frees the connection: B is
//!   answered within a second of A's denied request;
//! - A receives a RST (for its retransmission) and fails fast, with ECONNRESET;
//! - the server has no connection of A left ESTABLISHED (`ss -tn` in its namespace) and
//!   never saw A's denied request;
//! - five denials in a row change nothing; zcfw counts every one as a reset
//!   (`conduits[].actions.reset`) and reports it (`zcfw events`: action `reset`).
//!
//! Clients are plain sockets of the test (opened in the hosts' namespaces): every byte and
//! every timing is the test's own.

use std::{
    io::{ErrorKind, Read, Write},
    net::{SocketAddr, TcpStream},
    time::{Duration, Instant},
};

use zcfw_harness::{
    Daemon, Family, Names, Plant, XdpMode, Zone,
    modbus::ZcfwView,
    one_connection::{OneConnectionServer, ServerEvent},
    traffic::tcp_connect,
};

const POLICY: &str = r#"# tests/tests/reset.rs (a template: the harness fills in names and the XDP mode)
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
    rules:
      - protocol: modbus
        modbus: { unit_ids: [1], read_only: true, addresses: ["0-99"] }
  - name: operators-read-plc
    from: enterprise
    to: control
    rules:
      - protocol: modbus
        modbus: { unit_ids: [1], read_only: true, addresses: ["0-99"] }
"#;

const HISTORIAN: &str = "historian-reads-plc";
const PORT: u16 = 502;
/// B must be answered this soon after A's denied request.
const SERVED_WITHIN: Duration = Duration::from_secs(1);
/// A must see its connection reset this soon (a retransmission timeout or two).
const RESET_WITHIN: Duration = Duration::from_secs(3);

/// Read holding registers (FC 3): transaction `tid`, unit 1, `count` from `address`.
fn read_request(tid: u16, address: u16, count: u16) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&tid.to_be_bytes());
    b.extend_from_slice(&[0, 0, 0, 6, 1, 3]);
    b.extend_from_slice(&address.to_be_bytes());
    b.extend_from_slice(&count.to_be_bytes());
    b
}

/// Sends a read of `count` registers from `address` and checks the answer (register `a` of
/// unit 1 holds 1000 + a) within `within`.
fn read_answered(
    stream: &mut TcpStream,
    tid: u16,
    address: u16,
    count: u16,
    within: Duration,
) -> Result<(), String> {
    stream
        .write_all(&read_request(tid, address, count))
        .map_err(|e| format!("send: {e}"))?;
    answered(stream, tid, address, count, within)
}

/// Reads the answer to a read sent before.
fn answered(
    stream: &mut TcpStream,
    tid: u16,
    address: u16,
    count: u16,
    within: Duration,
) -> Result<(), String> {
    stream
        .set_read_timeout(Some(within))
        .map_err(|e| e.to_string())?;
    let mut answer = vec![0u8; 9 + 2 * count as usize];
    stream
        .read_exact(&mut answer)
        .map_err(|e| format!("no answer within {within:?}: {e}"))?;
    let mut want = Vec::new();
    want.extend_from_slice(&tid.to_be_bytes());
    want.extend_from_slice(&[0, 0]);
    want.extend_from_slice(&(3 + 2 * count).to_be_bytes());
    want.extend_from_slice(&[1, 3, 2 * count as u8]);
    for a in address..address + count {
        want.extend_from_slice(&(1000 + a).to_be_bytes());
    }
    if answer == want {
        Ok(())
    } else {
        Err(format!("answer {answer:02x?}, expected {want:02x?}"))
    }
}

/// Waits for the connection to be reset (ECONNRESET on read), within `within`.
fn reset_within(stream: &mut TcpStream, within: Duration) -> Result<Duration, String> {
    let started = Instant::now();
    stream
        .set_read_timeout(Some(within))
        .map_err(|e| e.to_string())?;
    let mut buf = [0u8; 64];
    match stream.read(&mut buf) {
        Err(e) if e.kind() == ErrorKind::ConnectionReset => Ok(started.elapsed()),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Err(format!(
            "no reset within {within:?}: the client still waits"
        )),
        Err(e) => Err(format!("expected a reset, got error {e}")),
        Ok(0) => Err("expected a reset, the connection was closed (FIN)".into()),
        Ok(n) => Err(format!(
            "expected a reset, got {n} bytes: {:02x?}",
            &buf[..n]
        )),
    }
}

struct Env<'p> {
    plant: &'p Plant,
    _daemon: Daemon<'p>,
    server: OneConnectionServer,
    view: ZcfwView,
    mode: XdpMode,
    failures: Vec<String>,
}

impl Env<'_> {
    fn fail(&mut self, msg: String) {
        eprintln!("FAILED [{}] {msg}", self.mode.as_str());
        self.failures.push(msg);
    }

    fn connect(&self, zone: Zone, family: Family) -> TcpStream {
        let dst = SocketAddr::new(Zone::Control.host(family), PORT);
        let stream = tcp_connect(&self.plant.host(zone).ns, None, dst, Duration::from_secs(3))
            .unwrap_or_else(|e| panic!("connecting from {zone:?} to {dst}: {e:#}"));
        stream.set_nodelay(true).expect("TCP_NODELAY");
        stream
    }

    fn resets_counted(&self) -> u64 {
        let stats = self.view.stats().expect("zcfw stats");
        stats.0["conduits"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["name"] == HISTORIAN)
            .and_then(|c| c["actions"]["reset"]["packets"].as_u64())
            .unwrap_or(0)
    }

    /// A (dmz) sends `denied` on `a` while B (enterprise) waits for the server; checks
    /// that B is served, A is reset, and the server keeps nothing of A.
    fn deny_while_b_waits(&mut self, what: &str, family: Family, mut a: TcpStream, tid: u16) {
        let a_addr = a.local_addr().expect("local address");
        let mut b = self.connect(Zone::Enterprise, family);
        // B's request waits in the server's socket until the server accepts B.
        if let Err(e) = b.write_all(&read_request(tid, 10, 2)) {
            self.fail(format!("{what}: B could not send: {e}"));
        }
        let denied_at = Instant::now();
        // Address 100: one past what the conduit allows.
        if let Err(e) = a.write_all(&read_request(tid + 1, 100, 1)) {
            self.fail(format!("{what}: A could not send its request: {e}"));
        }
        match answered(&mut b, tid, 10, 2, SERVED_WITHIN) {
            Ok(()) => eprintln!(
                "[{}] {what}: B served {:.0} ms after A's denied request",
                self.mode.as_str(),
                denied_at.elapsed().as_secs_f64() * 1000.0
            ),
            Err(e) => self.fail(format!(
                "{what}: B (waiting behind A) should be served within {SERVED_WITHIN:?} of \
                 A's denied request: {e}"
            )),
        }
        match reset_within(&mut a, RESET_WITHIN) {
            Ok(after) => eprintln!(
                "[{}] {what}: A reset {:.0} ms after its request",
                self.mode.as_str(),
                after.as_secs_f64() * 1000.0
            ),
            Err(e) => self.fail(format!("{what}: A: {e}")),
        }
        let a_peer = normalized(a_addr);
        let closed = self.server.wait_for(Duration::from_secs(1), |e| {
            matches!(e, ServerEvent::Closed(p, how) if normalized(*p) == a_peer && how == "reset")
        });
        if closed.is_none() {
            let events = self.server.events().to_vec();
            self.fail(format!(
                "{what}: the server should have seen A's connection reset; it reported {events:?}"
            ));
        }
        let denied_seen = self.server.events().iter().any(|e| {
            matches!(e, ServerEvent::Request(p, adu) if normalized(*p) == a_peer && adu[..2] == (tid + 1).to_be_bytes())
        });
        if denied_seen {
            self.fail(format!("{what}: the server received A's denied request"));
        }
        match self
            .server
            .established_peers(&self.plant.host(Zone::Control).ns)
        {
            Ok(peers) if peers.iter().any(|p| normalized(*p) == a_peer) => self.fail(format!(
                "{what}: the server still has A's connection {a_addr} ESTABLISHED: {peers:?}"
            )),
            Ok(_) => {}
            Err(e) => self.fail(format!("{what}: ss: {e:#}")),
        }
        // B leaves; the server accepts the next client.
        drop(b);
    }
}

/// An address as the server's side sees it.
fn normalized(a: SocketAddr) -> SocketAddr {
    match a {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(v4.into(), v6.port()),
            None => a,
        },
        v4 => v4,
    }
}

fn one_connection_plc(mode: XdpMode) {
    let plant = Plant::new(Names::unique(&format!("reset_{}", mode.as_str())))
        .unwrap_or_else(|e| panic!("building the plant: {e:#}"));
    if mode == XdpMode::Native {
        // A native-mode veth wakes its peer for XDP_TX frames only when the peer runs an XDP
        // program (`zcfw_harness::xdp_pass`); real NICs need nothing of the kind.
        for host in plant.hosts() {
            zcfw_harness::xdp_pass::attach(&host.ns, &host.ifname)
                .unwrap_or_else(|e| panic!("{e:#}"));
        }
    }
    let server = OneConnectionServer::start(&plant.host(Zone::Control).ns, PORT)
        .unwrap_or_else(|e| panic!("starting the one-connection server: {e:#}"));
    let name = format!("reset-e2e-{}", mode.as_str());
    let daemon = Daemon::start_on(&plant, &plant.render_policy(POLICY, &name, mode))
        .unwrap_or_else(|e| panic!("{e:#}"));
    let view = ZcfwView::new(daemon.socket()).expect("zcfw binary");
    let mut env = Env {
        plant: &plant,
        _daemon: daemon,
        server,
        view,
        mode,
        failures: Vec::new(),
    };
    let mut tid = 1;
    for family in [Family::V4, Family::V6] {
        // A is served first: the policy allows its reads.
        let mut a = env.connect(Zone::Dmz, family);
        if let Err(e) = read_answered(&mut a, tid, 0, 4, Duration::from_secs(2)) {
            env.fail(format!("{family:?}: A's allowed read: {e}"));
        }
        tid += 2;
        env.deny_while_b_waits(
            &format!("{family:?} denial after a served read"),
            family,
            a,
            tid,
        );
        tid += 2;
        for i in 1..=5 {
            let a = env.connect(Zone::Dmz, family);
            env.deny_while_b_waits(&format!("{family:?} denial {i} of 5"), family, a, tid);
            tid += 2;
        }
        // Nothing changed: a client is served at once, and nothing is left behind.
        let mut c = env.connect(Zone::Dmz, family);
        if let Err(e) = read_answered(&mut c, tid, 20, 3, SERVED_WITHIN) {
            env.fail(format!("{family:?}: a client after the five denials: {e}"));
        }
        tid += 2;
        drop(c);
    }
    let resets = env.resets_counted();
    if resets != 12 {
        env.fail(format!(
            "zcfw should count 12 resets on {HISTORIAN} (6 denials × 2 families), counted {resets}"
        ));
    }
    let events = env.view.events().unwrap_or_default();
    let reset_events = events
        .iter()
        .filter(|e| e["action"] == "reset" && e["reason"] == "modbus_address")
        .count();
    if reset_events != 12 {
        env.fail(format!(
            "zcfw events should show 12 modbus_address denials with action reset, got \
             {reset_events}: {events:?}"
        ));
    }
    let failures = std::mem::take(&mut env.failures);
    assert!(
        failures.is_empty(),
        "[{}] {} failure(s):\n{}",
        mode.as_str(),
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn one_connection_plc_native() {
    one_connection_plc(XdpMode::Native);
}

#[test]
fn one_connection_plc_skb() {
    one_connection_plc(XdpMode::Skb);
}
