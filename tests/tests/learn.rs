//! Learning mode end to end (`zcfw learn`, docs/learn.md), with real peers in the routed
//! plant: a pymodbus client in the dmz polling a pymodbus server in the control zone with
//! reads, a plain TCP service (an echo server on 2222, SSH-like) reached from the enterprise
//! zone, and ping from the enterprise zone.
//!
//! 1. `zcfw learn --policy DRAFT` (zones and interfaces, no conduit) runs on the gateway
//!    while the peers talk and while the dmz floods the control zone with SYNs to 20,000
//!    random ports. The learning daemon's memory stays bounded, the proposal is small,
//!    capped and says why (a warning), passes `zcfw check` and `zcfw audit --fail-on high`.
//! 2. zcfw enforces the proposal: the same traffic passes, while a Modbus write (which the
//!    learned rule does not cover, no write was seen) is denied before it reaches the server.

use std::{
    io::Read,
    net::SocketAddr,
    process::{Child, Stdio},
    time::{Duration, Instant},
};

use zcfw_harness::{
    Daemon, Family, Names, Plant, TempDir, XdpMode, Zone,
    iec104::{self, Iec104Client, Iec104Server},
    modbus::{ModbusClient, ModbusServer, Request},
    traffic::{TcpEchoServer, ping, tcp_echo},
    zcfw_bin,
};

const DRAFT: &str = r#"# tests/tests/learn.rs: a draft with zones and interfaces only
version: 1
name: ${NAME}
interfaces:
  - { name: ${IF_ENTERPRISE}, zones: [enterprise], xdp_mode: ${XDP_MODE} }
  - { name: ${IF_DMZ}, zones: [dmz], xdp_mode: ${XDP_MODE} }
  - { name: ${IF_CONTROL}, zones: [control], xdp_mode: ${XDP_MODE} }
zones:
  enterprise: { security_level: 1, networks: [10.10.0.0/24, "fd00:10::/64"] }
  dmz: { security_level: 2, networks: [10.20.0.0/24, "fd00:20::/64"] }
  control: { security_level: 3, networks: [10.30.0.0/24, "fd00:30::/64"] }
conduits: []
"#;

const ECHO_PORT: u16 = 2222;
const MODBUS_PORT: u16 = 502;
const TIMEOUT: Duration = Duration::from_millis(1500);
/// How long `zcfw learn` learns (the peers talk within it).
const LEARN_SECONDS: u64 = 25;

fn reads() -> Vec<Request> {
    vec![
        Request::ReadHolding {
            unit: 1,
            address: 0,
            count: 10,
        },
        Request::ReadCoils {
            unit: 1,
            address: 100,
            count: 16,
        },
    ]
}

/// One round of the plant's normal traffic; the failures, in words.
fn normal_traffic(plant: &Plant, modbus: &mut ModbusClient, echo: SocketAddr) -> Vec<String> {
    let mut failures = Vec::new();
    // SCADA in the enterprise zone interrogates the IEC 104 station (a connection each time).
    let station = SocketAddr::new(plant.host(Zone::Control).addr(Family::V4), iec104::PORT);
    match Iec104Client::start(&plant.host(Zone::Enterprise).ns, station, TIMEOUT, None) {
        Ok(mut scada) => {
            match scada.connect() {
                Ok(r) if r.ok => match scada.interrogation(iec104::CA) {
                    Ok(r) if r.ok => {}
                    Ok(r) => failures.push(format!("iec104 interrogation: {}", r.describe())),
                    Err(e) => failures.push(format!("iec104 interrogation: {e:#}")),
                },
                Ok(r) => failures.push(format!("iec104 connect: {}", r.describe())),
                Err(e) => failures.push(format!("iec104 connect: {e:#}")),
            }
            let _ = scada.close();
        }
        Err(e) => failures.push(format!("iec104 client: {e:#}")),
    }
    for r in reads() {
        match modbus.call(&r) {
            Ok(reply) if reply.ok => {}
            Ok(reply) => failures.push(format!("modbus {r:?}: {}", reply.describe())),
            Err(e) => failures.push(format!("modbus {r:?}: {e:#}")),
        }
    }
    let ent = plant.host(Zone::Enterprise);
    if let Err(e) = tcp_echo(&ent.ns, echo, b"ssh-like session", TIMEOUT) {
        failures.push(format!("tcp echo to {echo}: {e:#}"));
    }
    let ctl = plant.host(Zone::Control).addr(Family::V4);
    match ping(&ent.ns, ctl, 1, TIMEOUT) {
        Ok(1) => {}
        Ok(n) => failures.push(format!("ping {ctl}: {n} replies")),
        Err(e) => failures.push(format!("ping {ctl}: {e:#}")),
    }
    failures
}

/// SYNs from the dmz host to `count` pseudo-random ports of the control host (non-blocking
/// connects, closed at once: the control host answers with resets).
fn syn_flood(plant: &Plant, count: u32) {
    use socket2::{Domain, Protocol, SockAddr, Socket, Type};
    let dmz = plant.host(Zone::Dmz);
    let ctl = plant.host(Zone::Control).addr(Family::V4);
    dmz.ns.run(|| {
        let mut x: u32 = 0x2545_f491;
        for _ in 0..count {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let port = 1024 + (x % 60_000) as u16;
            let Ok(s) = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)) else {
                continue;
            };
            let _ = s.set_nonblocking(true);
            let _ = s.connect(&SockAddr::from(SocketAddr::new(ctl, port)));
        }
    });
}

/// Resident memory of `pid` in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The learning daemon `zcfw learn` started: its child process.
fn learning_daemon(learn: &Child) -> Option<u32> {
    let pid = learn.id();
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).ok()?;
    children.split_whitespace().next()?.parse().ok()
}

fn zcfw(gateway: &zcfw_harness::Netns, args: &[&str]) -> (i32, String) {
    let out = gateway
        .command(zcfw_bin().expect("zcfw binary"))
        .args(args)
        .output()
        .expect("running zcfw");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn learn_then_enforce() {
    let plant = Plant::new(Names::unique("learn")).unwrap_or_else(|e| panic!("plant: {e:#}"));
    let ctl = plant.host(Zone::Control);
    let server = ModbusServer::start(&ctl.ns, MODBUS_PORT, &[1, 2])
        .unwrap_or_else(|e| panic!("pymodbus server: {e:#}"));
    let echo_addr = SocketAddr::new(ctl.addr(Family::V4), ECHO_PORT);
    let _echo = TcpEchoServer::start(&ctl.ns, echo_addr).expect("echo server");
    let modbus_addr = SocketAddr::new(ctl.addr(Family::V4), MODBUS_PORT);
    let mut station =
        Iec104Server::start(&ctl.ns, iec104::PORT, None).expect("c104 IEC 104 station");

    let dir = TempDir::new(&format!("{}-learn", plant.names().file_stem())).expect("tempdir");
    let draft = dir.join("draft.yaml");
    let proposal = dir.join("proposal.yaml");
    std::fs::write(
        &draft,
        plant.render_policy(DRAFT, "learn-draft", XdpMode::Native),
    )
    .expect("draft");

    // 1. Learn.
    let mut learn = plant
        .gateway()
        .command(zcfw_bin().expect("zcfw binary"))
        .args(["learn", "--policy"])
        .arg(&draft)
        .args(["--duration", &LEARN_SECONDS.to_string(), "--out"])
        .arg(&proposal)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("zcfw learn");
    let started = Instant::now();
    // Learning once XDP is on every gateway interface.
    loop {
        let attached = plant.gateway_interfaces().iter().all(|i| {
            plant
                .gateway()
                .link_details(i)
                .is_ok_and(|d| zcfw_harness::daemon::has_xdp(&d))
        });
        if attached {
            break;
        }
        assert!(
            learn.try_wait().expect("wait").is_none(),
            "zcfw learn ended before learning"
        );
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no XDP after 60 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let daemon_pid = learning_daemon(&learn).expect("the learning daemon");
    let mut modbus = ModbusClient::start(&plant.host(Zone::Dmz).ns, modbus_addr, TIMEOUT)
        .expect("pymodbus client");
    let mut failures = Vec::new();
    for _ in 0..3 {
        failures.extend(normal_traffic(&plant, &mut modbus, echo_addr));
    }
    assert!(
        failures.is_empty(),
        "monitor mode must pass everything: {failures:?}"
    );
    std::thread::sleep(Duration::from_secs(2));
    let rss_before = rss_kib(daemon_pid).expect("rss");
    syn_flood(&plant, 20_000);
    std::thread::sleep(Duration::from_secs(3));
    let rss_after = rss_kib(daemon_pid).expect("rss");
    for _ in 0..2 {
        failures.extend(normal_traffic(&plant, &mut modbus, echo_addr));
    }
    let _ = modbus.close();
    let status = learn
        .wait_timeout_or_kill(Duration::from_secs(LEARN_SECONDS + 60))
        .expect("zcfw learn ends");
    let mut out = String::new();
    let mut err = String::new();
    if let Some(mut s) = learn.stdout.take() {
        let _ = s.read_to_string(&mut out);
    }
    if let Some(mut s) = learn.stderr.take() {
        let _ = s.read_to_string(&mut err);
    }
    eprintln!("zcfw learn stdout:\n{out}\nstderr:\n{err}");
    assert!(status, "zcfw learn failed:\n{out}\n{err}");
    let text = std::fs::read_to_string(&proposal).expect("the proposal");
    eprintln!("proposal:\n{text}");
    assert!(failures.is_empty(), "traffic while learning: {failures:?}");

    // Bounded: the daemon's memory did not grow with 20,000 ports, the proposal is small,
    // the flood is a warning and no rule of its ports.
    eprintln!("learning daemon RSS: {rss_before} KiB before the flood, {rss_after} KiB after");
    assert!(
        rss_after < rss_before + 16 * 1024,
        "the learning daemon grew from {rss_before} to {rss_after} KiB during the flood"
    );
    assert!(text.lines().count() < 200, "proposal too long:\n{text}");
    assert!(
        out.contains("warning:") && out.contains("distinct TCP ports"),
        "no flood warning:\n{out}"
    );
    assert!(text.contains("WARNING"), "no warning in the file:\n{text}");
    assert!(text.contains("name: learned-dmz-to-control"), "{text}");
    assert!(
        text.contains("name: learned-enterprise-to-control"),
        "{text}"
    );
    assert!(
        out.contains("zcfw diff") && out.contains("zcfw audit"),
        "{out}"
    );

    let proposal_arg = proposal.to_str().expect("utf-8 path");
    let (code, check) = zcfw(plant.gateway(), &["check", proposal_arg]);
    assert_eq!(code, 0, "zcfw check:\n{check}");
    let (code, audit) = zcfw(
        plant.gateway(),
        &["audit", "--fail-on", "high", proposal_arg],
    );
    assert_eq!(code, 0, "zcfw audit --fail-on high:\n{audit}");
    let (code, diff) = zcfw(
        plant.gateway(),
        &["diff", draft.to_str().expect("utf-8"), proposal_arg],
    );
    assert_eq!(code, 1, "zcfw diff shows what opens:\n{diff}");

    // 2. Enforce the proposal.
    let daemon = Daemon::start(plant.gateway(), &proposal, &plant.gateway_interfaces())
        .unwrap_or_else(|e| panic!("enforcing the proposal: {e:#}"));
    let mut modbus = ModbusClient::start(&plant.host(Zone::Dmz).ns, modbus_addr, TIMEOUT)
        .expect("pymodbus client");
    let failures = normal_traffic(&plant, &mut modbus, echo_addr);
    assert!(
        failures.is_empty(),
        "the learned traffic must pass under the proposal: {failures:?}\n{}",
        daemon.log_tail(30)
    );
    let before = server.received().len();
    let write = Request::WriteRegister {
        unit: 1,
        address: 5,
        value: 42,
    };
    let reply = modbus.call(&write).expect("client answers");
    assert!(
        !reply.ok,
        "a write the learned rule does not cover passed: {}",
        reply.describe()
    );
    let reached = server.received()[before..]
        .iter()
        .any(|adu| adu.function == 6);
    assert!(!reached, "the denied write reached the server");
    let ent = plant.host(Zone::Enterprise);
    let stats = daemon.stats().expect("stats");
    assert!(
        stats.reason("modbus_function") >= 1,
        "the write is not counted as modbus_function"
    );
    // The learned IEC 104 rule allows the interrogation it saw, not a command.
    assert!(text.contains("- C_IC_NA_1"), "{text}");
    let station_addr = SocketAddr::new(ctl.addr(Family::V4), iec104::PORT);
    let mut scada = Iec104Client::start(&ent.ns, station_addr, TIMEOUT, None).expect("client");
    let connected = scada.connect().expect("connect");
    assert!(connected.ok, "{}", connected.describe());
    let command = scada
        .command(iec104::CA, iec104::C_SC_DIRECT_IOA, true, false)
        .expect("client answers");
    assert!(
        !command.ok,
        "an IEC 104 command passed: {}",
        command.describe()
    );
    assert!(
        station.commands().is_empty(),
        "the denied command reached the station"
    );
    let _ = scada.close();
    // A port nothing learned stays closed (not passed as the flood's "many ports").
    let closed = SocketAddr::new(ctl.addr(Family::V4), 2223);
    assert!(
        zcfw_harness::traffic::tcp_connect(&ent.ns, None, closed, Duration::from_millis(500))
            .is_err(),
        "an unlearned port is reachable"
    );
    let _ = modbus.close();

    // 3. Learn from the running daemon (its policy stays enforced) and merge into the
    // proposal: what the proposal holds stays, the new port is added.
    let merged = dir.join("merged.yaml");
    let mut again = plant
        .gateway()
        .command(zcfw_bin().expect("zcfw binary"))
        .args(["learn", "--from-daemon", "--socket"])
        .arg(daemon.socket())
        .args(["--duration", "6", "--merge"])
        .arg(&proposal)
        .arg("--out")
        .arg(&merged)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("zcfw learn --from-daemon");
    std::thread::sleep(Duration::from_millis(1500));
    for _ in 0..2 {
        let _ = zcfw_harness::traffic::tcp_connect(
            &ent.ns,
            None,
            SocketAddr::new(ctl.addr(Family::V4), 2223),
            Duration::from_millis(300),
        );
    }
    let ok = again
        .wait_timeout_or_kill(Duration::from_secs(60))
        .expect("ends");
    let mut out = String::new();
    if let Some(mut s) = again.stdout.take() {
        let _ = s.read_to_string(&mut out);
    }
    if let Some(mut s) = again.stderr.take() {
        let _ = s.read_to_string(&mut out);
    }
    assert!(ok, "zcfw learn --from-daemon failed:\n{out}");
    let text2 = std::fs::read_to_string(&merged).expect("merged proposal");
    eprintln!("merged:\n{text2}");
    for line in text
        .lines()
        .filter(|l| !l.trim_start().starts_with("# zcfw learn:"))
    {
        assert!(text2.contains(line), "--merge lost {line:?}:\n{text2}");
    }
    assert!(
        text2.contains("name: learned-enterprise-to-control-2") && text2.contains("- 2223"),
        "the port learned from the daemon is not added:\n{text2}"
    );
    let (code, check) = zcfw(
        plant.gateway(),
        &["check", merged.to_str().expect("utf-8 path")],
    );
    assert_eq!(code, 0, "zcfw check of the merged proposal:\n{check}");
    daemon.stop().expect("stop");
}

trait WaitOrKill {
    fn wait_timeout_or_kill(&mut self, limit: Duration) -> Option<bool>;
}

impl WaitOrKill for Child {
    /// Whether the process exited successfully within `limit` (killed otherwise).
    fn wait_timeout_or_kill(&mut self, limit: Duration) -> Option<bool> {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if let Ok(Some(status)) = self.try_wait() {
                return Some(status.success());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.kill();
        let _ = self.wait();
        Some(false)
    }
}
