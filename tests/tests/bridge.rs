//! Transparent bridge mode end to end (issue 22): zcfw attached to the member ports of a Linux
//! bridge, in native and in generic (skb) XDP mode, hosts of one subnet split into two zones by
//! address range (`zcfw_harness::bridge`, policy `tests/policies/bridge.yaml`).
//!
//! The routed matrix of `e2e.rs`, `modbus.rs` and `reset.rs`, on the bridge:
//! - `traffic_*`: allowed and denied ports both ways, both families, untagged and in VLAN 100
//!   (judged by the inner IP); ARP and neighbour discovery pass (and are zcfw's to stop: a
//!   reload without them breaks address resolution); stateful replies, forged replies (no
//!   flow, wrong host, ACK without a SYN); a spoofed source from the wrong port; STP BPDUs and
//!   LLDP denied unless listed; `zcfw status` names the bridge of each port. Finally zcfw stops
//!   and what it denied goes through the bridge: every deny above was zcfw's.
//! - `traffic_native_with_the_fast_path`: the same with `fast_path: true` on every port
//!   (allowed frames of tracked flows switched in XDP by the mirror of the bridge's
//!   forwarding database): the same verdicts, and the frames were forwarded in XDP.
//! - `modbus_*`: a pymodbus PLC (plc1) and a one-connection PLC (plc2) in the cell: reads
//!   pass, a write is denied and has no effect (and takes effect once zcfw is gone);
//!   `on_violation: reset` resets both ends, each through its own port (and nothing reaches
//!   the third port), untagged and in QinQ frames with both tags kept; `on_violation:
//!   exception` answers the write in plc1's name and the connection goes on.
//!
//! Every check is made from the hosts' side and from zcfw's counters; a test runs all of its
//! cases and then fails with the list of every case that went wrong.

use std::{
    collections::BTreeMap,
    io::{ErrorKind, Read, Write},
    net::{IpAddr, SocketAddr, TcpStream},
    process::Command,
    thread,
    time::{Duration, Instant},
};

use firewall_common::packet::ethertype;
use zcfw_harness::{
    Daemon, Family, Names, Stats, XdpMode,
    bridge::{
        BridgePlant, Station, VLAN_ID, address, captured, captured_tagged, lldp, ports, stp_bpdu,
        syn, syn_ack, tagged,
    },
    cmd,
    modbus::{ModbusClient, ModbusServer, Request, ZcfwView},
    one_connection::{OneConnectionServer, ServerEvent},
    packet::{PacketSocket, Parsed, Transport, build_frame, tcp_flags},
    tempdir::TempDir,
    traffic::{
        EchoServices, UdpPeer, echo_over, pattern, ping, tcp_connect, tcp_echo, udp_request,
    },
    xdp_pass,
};

const POLICY: &str = include_str!("../policies/bridge.yaml");
const CONDUIT: &str = "plant-to-cell";
const TCP_PORTS: [u16; 2] = [5020, 5021];
const UDP_PORTS: [u16; 3] = [9000, 9105, 9111];
const PASS_TIMEOUT: Duration = Duration::from_secs(5);
const DENY_TIMEOUT: Duration = Duration::from_secs(1);
const BULK: usize = 256 * 1024;
const MODBUS_PORT: u16 = 502;

use Station::{Hmi, Plc1, Plc2};

#[derive(Clone, Copy, Debug)]
enum Probe {
    Ping,
    Tcp(u16),
    Udp(u16),
}

#[derive(Clone, Copy, Debug)]
enum Expect {
    Pass,
    Deny(&'static str),
}

fn plant(test: &str) -> BridgePlant {
    BridgePlant::new(Names::unique(test)).unwrap_or_else(|e| panic!("building the bridge: {e:#}"))
}

fn start_daemon<'p>(plant: &'p BridgePlant, policy: &str) -> Daemon<'p> {
    let dir = TempDir::new(&format!("{}-zcfw", plant.names().file_stem())).expect("temp dir");
    let file = dir.join("policy.yaml");
    std::fs::write(&file, policy).expect("write the policy");
    Daemon::start_in(dir, plant.gateway(), &file, &plant.ports(), &[])
        .unwrap_or_else(|e| panic!("{e:#}"))
}

/// `zcfw CMD ARGS --socket SOCK` of `daemon`; stdout.
fn zcfw(daemon: &Daemon<'_>, args: &[&str]) -> anyhow::Result<String> {
    cmd::run_with_timeout(
        Command::new(daemon.bin())
            .args(args)
            .arg("--socket")
            .arg(daemon.socket()),
        Duration::from_secs(20),
    )
}

/// The plant with zcfw on the bridge ports and echo servers on every host.
struct Env<'p> {
    plant: &'p BridgePlant,
    daemon: Option<Daemon<'p>>,
    _servers: Vec<EchoServices>,
    mode: XdpMode,
    /// `fast_path: true` on every port (docs/fast-path.md, "Bridge mode").
    fast: bool,
    failures: Vec<String>,
}

/// The bridge policy named `name`, with `fast_path: true` on every port when `fast`.
fn policy(plant: &BridgePlant, name: &str, mode: XdpMode, fast: bool) -> String {
    let text = plant.render_policy(POLICY, name, mode);
    if !fast {
        return text;
    }
    let plain = format!("xdp_mode: {} }}", mode.as_str());
    assert_eq!(text.matches(&plain).count(), 3, "three ports in:\n{text}");
    text.replace(
        &plain,
        &format!("xdp_mode: {}, fast_path: true }}", mode.as_str()),
    )
}

impl<'p> Env<'p> {
    fn start(plant: &'p BridgePlant, mode: XdpMode, fast: bool) -> Env<'p> {
        if fast {
            // As in fast_path.rs: a veth takes redirected frames only while its peer (the
            // host's end) runs an XDP program, and frames forwarded in XDP must carry their
            // checksums (docs/fast-path.md, "Requirements").
            for h in plant.hosts() {
                xdp_pass::attach(&h.ns, &h.ifname).expect("XDP_PASS on the host's veth end");
                h.ns.run(|| cmd::run(Command::new("ethtool").args(["-K", &h.ifname, "tx", "off"])))
                    .expect("ethtool -K tx off");
            }
        }
        let servers = plant
            .hosts()
            .iter()
            .map(|h| {
                let addrs: Vec<IpAddr> = Family::ALL.iter().map(|f| h.station.addr(*f)).collect();
                EchoServices::start(&h.ns, &addrs, &TCP_PORTS, &UDP_PORTS).expect("echo servers")
            })
            .collect();
        let name = format!("bridge-{}", mode.as_str());
        let daemon = start_daemon(plant, &policy(plant, &name, mode, fast));
        for port in plant.ports() {
            let details = daemon.link_details(&port).expect("ip link");
            let first = details.lines().next().unwrap_or_default();
            assert!(
                first.split_whitespace().any(|w| w == mode.ip_link_flag()),
                "port {port} should carry XDP in {} mode:\n{details}",
                mode.as_str()
            );
        }
        let bridge = plant
            .gateway()
            .link_details(plant.bridge())
            .expect("ip link");
        assert!(
            !zcfw_harness::daemon::has_xdp(&bridge),
            "zcfw attaches to the ports, not to the bridge:\n{bridge}"
        );
        Env {
            plant,
            daemon: Some(daemon),
            _servers: servers,
            mode,
            fast,
            failures: Vec::new(),
        }
    }

    fn daemon(&self) -> &Daemon<'p> {
        self.daemon.as_ref().expect("zcfw runs")
    }

    fn stats(&self) -> Stats {
        self.daemon()
            .stats()
            .unwrap_or_else(|e| panic!("zcfw stats: {e:#}"))
    }

    fn fail(&mut self, msg: String) {
        let fast = if self.fast { ", fast path" } else { "" };
        eprintln!("FAILED [bridge {}{fast}] {msg}", self.mode.as_str());
        self.failures.push(msg);
    }

    /// What `probe` from `from` to `to` does now: Ok when it got its answer.
    fn probe(
        &self,
        from: Station,
        to: Station,
        family: Family,
        probe: Probe,
        timeout: Duration,
    ) -> Result<(), String> {
        let src = &self.plant.host(from).ns;
        let dst = to.addr(family);
        let bulk = timeout == PASS_TIMEOUT;
        match probe {
            Probe::Ping => {
                let n = if bulk { 3 } else { 1 };
                match ping(src, dst, n, timeout) {
                    Ok(got) if got == n => Ok(()),
                    Ok(got) => Err(format!("{got}/{n} echo replies")),
                    Err(e) => Err(format!("{e:#}")),
                }
            }
            Probe::Tcp(port) => {
                let payload = if bulk {
                    pattern(BULK)
                } else {
                    b"hello".to_vec()
                };
                tcp_echo(src, SocketAddr::new(dst, port), &payload, timeout)
                    .map_err(|e| format!("{e:#}"))
            }
            Probe::Udp(port) => {
                match udp_request(src, SocketAddr::new(dst, port), b"hi", timeout) {
                    Ok(r) if r == b"hi" => Ok(()),
                    Ok(r) => Err(format!("wrong reply {r:?}")),
                    Err(e) => Err(format!("{e:#}")),
                }
            }
        }
    }

    /// Sends `probe` and checks delivery and counters.
    fn case(&mut self, from: Station, to: Station, family: Family, probe: Probe, expect: Expect) {
        let what = format!("{from} → {to} {} {probe:?}", family.label());
        let before = self.stats();
        let timeout = match expect {
            Expect::Pass => PASS_TIMEOUT,
            Expect::Deny(_) => DENY_TIMEOUT,
        };
        let outcome = self.probe(from, to, family, probe, timeout);
        if matches!(expect, Expect::Pass) {
            thread::sleep(Duration::from_millis(50));
        }
        let after = self.stats();
        let counted = format!(
            "counted: reasons {:?}, conduits {:?}",
            after.reasons_since(&before),
            after.conduits_since(&before)
        );
        match expect {
            Expect::Pass => {
                if let Err(e) = outcome {
                    self.fail(format!("{what}: should pass, but {e}; {counted}"));
                    return;
                }
                if after.conduit(CONDUIT) <= before.conduit(CONDUIT)
                    || after.reason("allowed_conntrack") <= before.reason("allowed_conntrack")
                {
                    self.fail(format!(
                        "{what}: passed, but not through {CONDUIT} and conntrack; {counted}"
                    ));
                }
                let dropped = after.drops_since(&before);
                if !dropped.is_empty() {
                    self.fail(format!(
                        "{what}: passed, but packets were dropped on the way ({dropped:?}); {counted}"
                    ));
                }
            }
            Expect::Deny(reason) => {
                if outcome.is_ok() {
                    self.fail(format!(
                        "{what}: should be denied, but got through; {counted}"
                    ));
                    return;
                }
                if after.reason(reason) <= before.reason(reason) {
                    self.fail(format!(
                        "{what}: blocked, but not counted under {reason}; {counted}"
                    ));
                }
                if after.reason("allowed_conduit") > before.reason("allowed_conduit") {
                    self.fail(format!(
                        "{what}: blocked, but a conduit admitted a new flow meanwhile; {counted}"
                    ));
                }
            }
        }
    }

    fn expect_counted(&mut self, before: &Stats, reason: &str, what: &str) {
        let after = self.stats();
        if after.reason(reason) <= before.reason(reason) {
            self.fail(format!(
                "{what}: not counted under {reason}; counted: reasons {:?}",
                after.reasons_since(before)
            ));
        }
    }

    /// Sends a hand-built frame from `from`'s host, source address `src`, to `dst` at `to`'s
    /// host, with the VLAN `tags` (outermost first; none: untagged), and reports whether it
    /// arrived there within `timeout`.
    #[expect(clippy::too_many_arguments, reason = "one forged frame, spelled out")]
    fn forge(
        &self,
        from: Station,
        src: IpAddr,
        to: Station,
        dst: IpAddr,
        tags: &[(u16, u16)],
        l4: Transport,
        timeout: Duration,
    ) -> bool {
        let to_host = self.plant.host(to);
        let from_host = self.plant.host(from);
        let capture = PacketSocket::open(&to_host.ns, &to_host.ifname).expect("capture");
        let sender = PacketSocket::open(&from_host.ns, &from_host.ifname).expect("sender");
        let (smac, dmac) = self.plant.macs(from, to).expect("macs");
        let frame = tagged(&build_frame(smac, dmac, src, dst, &l4), tags);
        sender.send(&frame).expect("send frame");
        let (sport, dport) = ports(&l4);
        captured(&capture, timeout, |p| {
            p.src == src && p.dst == dst && p.src_port == sport && p.dst_port == dport
        })
        .is_some()
    }

    /// Sends the raw L2 `frame` from the hmi and reports whether plc1 received it.
    fn l2_frame_arrives(&self, frame: &[u8], timeout: Duration) -> bool {
        let hmi = self.plant.host(Hmi);
        let plc1 = self.plant.host(Plc1);
        let capture = PacketSocket::open(&plc1.ns, &plc1.ifname).expect("capture");
        let sender = PacketSocket::open(&hmi.ns, &hmi.ifname).expect("sender");
        sender.send(frame).expect("send frame");
        let deadline = Instant::now() + timeout;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match capture.recv(left) {
                Some(got) if got.starts_with(&frame[..frame.len().min(60)]) => return true,
                Some(_) => {}
                None => return false,
            }
        }
        false
    }

    /// Writes `policy` next to the daemon's and reloads it.
    fn reload(&mut self, policy: &str, what: &str) {
        let file = self.daemon().dir().join(format!("{what}.yaml"));
        std::fs::write(&file, policy).expect("write the policy");
        let path = file.display().to_string();
        if let Err(e) = zcfw(self.daemon(), &["reload", "--policy", &path]) {
            self.fail(format!("reloading {what}: {e:#}"));
        }
    }

    /// Stops zcfw (which must leave no XDP behind on the ports).
    fn stop(&mut self) {
        if let Some(daemon) = self.daemon.take()
            && let Err(e) = daemon.stop()
        {
            self.fail(format!("stopping zcfw: {e:#}"));
        }
    }

    fn finish(mut self) {
        self.stop();
        assert!(
            self.failures.is_empty(),
            "{} failed check(s) on the bridge in {} mode:\n  {}",
            self.failures.len(),
            self.mode.as_str(),
            self.failures.join("\n  ")
        );
    }
}

fn traffic(mode: XdpMode, fast: bool) {
    use Expect::{Deny, Pass};
    use Probe::{Ping, Tcp, Udp};
    const DD: Expect = Deny("default_deny");
    let fast_tag = if fast { "_fast" } else { "" };
    let plant = plant(&format!("br_traffic_{}{fast_tag}", mode.as_str()));
    let mut env = Env::start(&plant, mode, fast);

    // `zcfw status` says which bridge each port belongs to.
    match zcfw(env.daemon(), &["status", "--json"]) {
        Ok(out) => {
            let status: serde_json::Value = serde_json::from_str(&out).expect("status json");
            for port in plant.ports() {
                let entry = status["interfaces"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|i| i["name"] == port.as_str());
                if entry.and_then(|i| i["bridge"].as_str()) != Some(plant.bridge()) {
                    env.fail(format!(
                        "zcfw status --json should name bridge {} for port {port}: {entry:?}",
                        plant.bridge()
                    ));
                }
            }
        }
        Err(e) => env.fail(format!("zcfw status: {e:#}")),
    }
    match zcfw(env.daemon(), &["status"]) {
        Ok(out) if out.contains(&format!("port of bridge {}", plant.bridge())) => {}
        other => env.fail(format!(
            "zcfw status should say the ports are ports of bridge {}: {other:?}",
            plant.bridge()
        )),
    }

    // ARP and neighbour discovery pass: with empty neighbour caches, the first ping needs them.
    for host in plant.hosts() {
        host.ns.ip(&["neigh", "flush", "all"]).expect("flush");
    }
    for (family, reason) in [
        (Family::V4, "allowed_l2"),
        (Family::V6, "allowed_neighbor_discovery"),
    ] {
        let before = env.stats();
        env.case(Hmi, Plc1, family, Ping, Pass);
        env.expect_counted(
            &before,
            reason,
            &format!("{} address resolution hmi ↔ plc1", family.label()),
        );
    }

    for family in Family::ALL {
        let cases = [
            (Hmi, Plc1, Ping, Pass),
            (Hmi, Plc1, Tcp(5020), Pass),
            (Hmi, Plc1, Tcp(5021), DD),
            (Hmi, Plc2, Udp(9000), Pass),
            (Hmi, Plc2, Udp(9105), Pass),
            (Hmi, Plc2, Udp(9111), DD),
            // Nothing the other way.
            (Plc1, Hmi, Tcp(5020), DD),
            (Plc2, Hmi, Udp(9000), DD),
            (Plc1, Hmi, Ping, DD),
            // Two ports of the same zone: no `intra_zone: allow`, so nothing.
            (Plc1, Plc2, Tcp(5020), DD),
        ];
        for (from, to, probe, expect) in cases {
            env.case(from, to, family, probe, expect);
        }
    }

    // Tagged frames (802.1Q, and QinQ: 802.1ad outside 802.1Q) are judged by their inner IP.
    for family in Family::ALL {
        for tags in [
            &[(ethertype::VLAN, VLAN_ID)][..],
            &[(ethertype::QINQ, 200), (ethertype::VLAN, VLAN_ID)][..],
        ] {
            let what = format!("{} in {} tag(s)", family.label(), tags.len());
            let hmi = Hmi.vlan_addr(family);
            let plc1 = Plc1.vlan_addr(family);
            let plc2 = Plc2.vlan_addr(family);
            let sport = 40300 + tags.len() as u16 * 10;
            let cases = [
                (
                    Hmi,
                    hmi,
                    Plc1,
                    plc1,
                    syn(sport, 5020),
                    None,
                    "SYN hmi → plc1:5020",
                ),
                (
                    Hmi,
                    hmi,
                    Plc1,
                    plc1,
                    syn(sport + 1, 5021),
                    Some("default_deny"),
                    "SYN hmi → plc1:5021",
                ),
                // The reply of the flow the first SYN opened; then one to a port without a flow.
                (
                    Plc1,
                    plc1,
                    Hmi,
                    hmi,
                    syn_ack(5020, sport),
                    None,
                    "SYN-ACK plc1:5020 → hmi (reply)",
                ),
                (
                    Plc1,
                    plc1,
                    Hmi,
                    hmi,
                    syn_ack(5020, sport + 2),
                    Some("default_deny"),
                    "SYN-ACK plc1:5020 → hmi (no flow)",
                ),
                (
                    Plc1,
                    plc1,
                    Hmi,
                    hmi,
                    syn(sport + 3, 5020),
                    Some("default_deny"),
                    "SYN plc1 → hmi:5020",
                ),
                (
                    Plc1,
                    plc1,
                    Plc2,
                    plc2,
                    syn(sport + 4, 5020),
                    Some("default_deny"),
                    "SYN plc1 → plc2:5020",
                ),
                // A plant address from plc1's port.
                (
                    Plc1,
                    hmi,
                    Plc2,
                    plc2,
                    syn(sport + 5, 5020),
                    Some("spoofed_source"),
                    "SYN from the hmi's address on plc1's port",
                ),
            ];
            for (from, src, to, dst, l4, deny, case) in cases {
                let before = env.stats();
                let timeout = if deny.is_some() {
                    DENY_TIMEOUT
                } else {
                    PASS_TIMEOUT
                };
                let arrived = env.forge(from, src, to, dst, tags, l4, timeout);
                let after = env.stats();
                let counted = after.reasons_since(&before);
                match deny {
                    None if !arrived => env.fail(format!(
                        "{what}: {case} should pass, but did not arrive; counted {counted:?}"
                    )),
                    None => {}
                    Some(reason) => {
                        if arrived {
                            env.fail(format!("{what}: {case} should be denied, but arrived"));
                        }
                        if after.reason(reason) <= before.reason(reason) {
                            env.fail(format!(
                                "{what}: {case}: not counted under {reason}; counted {counted:?}"
                            ));
                        }
                    }
                }
            }
        }
    }

    for family in Family::ALL {
        let f = family.label();
        let hmi = plant.host(Hmi);
        let hmi_ip = Hmi.addr(family);
        let plc1_ip = Plc1.addr(family);
        let plc2_ip = Plc2.addr(family);

        // UDP: hmi:40000 → plc1:9000 opens a flow; its reply comes back.
        let client = UdpPeer::bind(&hmi.ns, SocketAddr::new(hmi_ip, 40000)).expect("bind");
        match client.request(SocketAddr::new(plc1_ip, 9000), b"poll", PASS_TIMEOUT) {
            Ok(r) if r == b"poll" => {}
            other => env.fail(format!("{f} hmi:40000 → plc1:9000 udp: no echo: {other:?}")),
        }
        let udp = |sport, dport| Transport::Udp {
            src_port: sport,
            dst_port: dport,
            payload: b"reply?".to_vec(),
        };
        // Forged replies: to a port without a flow, and from the wrong host (plc2, with its
        // own address, port 9000) to the flow's port.
        for (from, src, dport, what) in [
            (Plc1, plc1_ip, 40001, "plc1:9000 → hmi:40001 (no flow)"),
            (
                Plc2,
                plc2_ip,
                40000,
                "plc2:9000 → hmi:40000 (the flow is plc1's)",
            ),
        ] {
            let before = env.stats();
            if env.forge(from, src, Hmi, hmi_ip, &[], udp(9000, dport), DENY_TIMEOUT) {
                env.fail(format!("{f} forged udp {what} was delivered"));
            }
            env.expect_counted(&before, "default_deny", &format!("{f} forged udp {what}"));
        }
        // The same forged datagram from plc1 to the flow's own port is a reply and passes:
        // the forging works, what stopped the others was zcfw.
        if !env.forge(
            Plc1,
            plc1_ip,
            Hmi,
            hmi_ip,
            &[],
            udp(9000, 40000),
            PASS_TIMEOUT,
        ) {
            env.fail(format!(
                "{f} forged udp plc1:9000 → hmi:40000 (the open flow) was not delivered"
            ));
        }
        drop(client);

        // TCP: an open hmi → plc1:5020 connection; forged segments from plc1:5020 to hmi
        // ports without a flow (an ACK without a SYN among them) are dropped.
        let conn = match tcp_connect(&hmi.ns, None, SocketAddr::new(plc1_ip, 5020), PASS_TIMEOUT) {
            Ok(c) => Some(c),
            Err(e) => {
                env.fail(format!("{f} hmi → plc1 tcp/5020 connect: {e:#}"));
                None
            }
        };
        for (flags, dport, name) in [
            (tcp_flags::SYN | tcp_flags::ACK, 40100, "SYN-ACK"),
            (tcp_flags::ACK, 40101, "ACK without a SYN"),
            (tcp_flags::ACK | tcp_flags::PSH, 40102, "PSH-ACK with data"),
        ] {
            let seg = Transport::Tcp {
                src_port: 5020,
                dst_port: dport,
                seq: 0x1000,
                ack: 0x2000,
                flags,
                payload: if flags & tcp_flags::PSH != 0 {
                    b"data".to_vec()
                } else {
                    Vec::new()
                },
            };
            let before = env.stats();
            if env.forge(Plc1, plc1_ip, Hmi, hmi_ip, &[], seg, DENY_TIMEOUT) {
                env.fail(format!(
                    "{f} forged {name} plc1:5020 → hmi:{dport} was delivered"
                ));
            }
            env.expect_counted(
                &before,
                "default_deny",
                &format!("{f} forged {name} plc1:5020 → hmi:{dport}"),
            );
        }
        if let Some(conn) = conn
            && let Err(e) = echo_over(&conn, &pattern(64 * 1024), PASS_TIMEOUT)
        {
            env.fail(format!(
                "{f} hmi → plc1 tcp/5020 on the open connection: {e:#}"
            ));
        }

        // Anti-spoofing by port: a plant address sent from plc1's port is spoofed; the same
        // datagram from the hmi's port passes.
        let plant_src = address(50, family, 0x177, true);
        let before = env.stats();
        if env.forge(
            Plc1,
            plant_src,
            Plc2,
            plc2_ip,
            &[],
            udp(40200, 9000),
            DENY_TIMEOUT,
        ) {
            env.fail(format!(
                "{f} udp {plant_src} → plc2:9000 from plc1's port was delivered"
            ));
        }
        env.expect_counted(
            &before,
            "spoofed_source",
            &format!("{f} plant source on plc1's port"),
        );
        if !env.forge(
            Hmi,
            plant_src,
            Plc2,
            plc2_ip,
            &[],
            udp(40201, 9000),
            PASS_TIMEOUT,
        ) {
            env.fail(format!(
                "{f} udp {plant_src} → plc2:9000 from the hmi's port was not delivered"
            ));
        }
        thread::sleep(Duration::from_millis(100));
    }

    // L2: an STP BPDU and an LLDP frame from the hmi stop at its port.
    let hmi_mac = plant
        .host(Hmi)
        .ns
        .mac(&plant.host(Hmi).ifname)
        .expect("mac");
    for (name, frame) in [("STP BPDU", stp_bpdu(hmi_mac)), ("LLDP", lldp(hmi_mac))] {
        let before = env.stats();
        if env.l2_frame_arrives(&frame, DENY_TIMEOUT) {
            env.fail(format!("{name} from the hmi crossed the bridge"));
        }
        env.expect_counted(&before, "l2_denied", &format!("{name} from the hmi"));
    }

    // A policy whose l2.allow lists LLDP only: LLDP crosses, ARP no longer does.
    let name = format!("bridge-{}", mode.as_str());
    let lldp_only =
        policy(&plant, &name, mode, fast).replace("conduits:", "l2: { allow: [lldp] }\nconduits:");
    env.reload(&lldp_only, "lldp-only");
    if !env.l2_frame_arrives(&lldp(hmi_mac), PASS_TIMEOUT) {
        env.fail("with `l2: { allow: [lldp] }`, LLDP from the hmi did not reach plc1".into());
    }
    for host in plant.hosts() {
        host.ns.ip(&["neigh", "flush", "all"]).expect("flush");
    }
    let before = env.stats();
    if env.probe(Hmi, Plc1, Family::V4, Ping, DENY_TIMEOUT).is_ok() {
        env.fail("without arp in l2.allow, hmi → plc1 ping still resolved plc1".into());
    }
    env.expect_counted(&before, "l2_denied", "ARP without arp in l2.allow");
    let before = env.stats();
    if env.probe(Hmi, Plc1, Family::V6, Ping, DENY_TIMEOUT).is_ok() {
        env.fail("without nd in l2.allow, hmi → plc1 ping6 still resolved plc1".into());
    }
    let after = env.stats();
    if after.reason("allowed_neighbor_discovery") > before.reason("allowed_neighbor_discovery") {
        env.fail(format!(
            "without nd in l2.allow, neighbour discovery still passed: {:?}",
            after.reasons_since(&before)
        ));
    }
    // A policy that lists the bridge device itself: zcfw attaches (generic XDP) but warns
    // that it sees none of the bridged traffic there, and `zcfw status` says so.
    let with_bridge = policy(&plant, &name, mode, fast).replace(
        "interfaces:\n",
        &format!(
            "interfaces:\n  - {{ name: {}, xdp_mode: skb }}\n",
            plant.bridge()
        ),
    );
    env.reload(&with_bridge, "with-bridge-device");
    let status = zcfw(env.daemon(), &["status", "--json"])
        .ok()
        .and_then(|out| serde_json::from_str::<serde_json::Value>(&out).ok());
    let entry = status.as_ref().and_then(|s| {
        s["interfaces"]
            .as_array()?
            .iter()
            .find(|i| i["name"] == plant.bridge())
            .cloned()
    });
    if entry.as_ref().map(|i| (&i["is_bridge"], &i["bridge"]))
        != Some((&serde_json::Value::Bool(true), &serde_json::Value::Null))
    {
        env.fail(format!(
            "zcfw status --json should mark {} as a bridge device: {entry:?}",
            plant.bridge()
        ));
    }
    let log = env.daemon().log_tail(200);
    if !log.contains(&format!("{} is a bridge device", plant.bridge())) {
        env.fail(format!(
            "zcfw should warn that {} is a bridge device; log:\n{log}",
            plant.bridge()
        ));
    }
    env.reload(&policy(&plant, &name, mode, fast), "back");
    if fast {
        fast_path_was_used(&mut env);
    }
    let bridge = plant
        .gateway()
        .link_details(plant.bridge())
        .expect("ip link");
    if zcfw_harness::daemon::has_xdp(&bridge) {
        env.fail(format!(
            "the reload without the bridge device should detach it:\n{bridge}"
        ));
    }

    // Without zcfw, the bridge forwards everything zcfw denied above.
    env.stop();
    for (from, to, probe) in [
        (Plc1, Hmi, Tcp(5020)),
        (Hmi, Plc1, Tcp(5021)),
        (Plc1, Plc2, Tcp(5020)),
    ] {
        if let Err(e) = env.probe(from, to, Family::V4, probe, PASS_TIMEOUT) {
            env.fail(format!(
                "without zcfw, {from} → {to} {probe:?} should pass: {e}"
            ));
        }
    }
    let (hmi, plc1) = (Hmi.vlan_addr(Family::V4), Plc1.vlan_addr(Family::V4));
    let tag = [(ethertype::VLAN, VLAN_ID)];
    if !env.forge(Plc1, plc1, Hmi, hmi, &tag, syn(40399, 5020), PASS_TIMEOUT) {
        env.fail("without zcfw, the tagged SYN plc1 → hmi:5020 should arrive".into());
    }
    if !env.l2_frame_arrives(&stp_bpdu(hmi_mac), PASS_TIMEOUT) {
        env.fail("without zcfw, the STP BPDU should cross the bridge".into());
    }
    let spoofed = address(50, Family::V4, 0x177, true);
    let udp = Transport::Udp {
        src_port: 40202,
        dst_port: 9000,
        payload: b"x".to_vec(),
    };
    if !env.forge(
        Plc1,
        spoofed,
        Plc2,
        Plc2.addr(Family::V4),
        &[],
        udp,
        PASS_TIMEOUT,
    ) {
        env.fail("without zcfw, the spoofed datagram from plc1's port should arrive".into());
    }
    env.finish();
}

/// With the fast path on: every port's fast path is active, the bridged TCP, UDP and ICMP
/// of the allowed flows were forwarded in XDP (the matrix above had the same verdicts as
/// without it), frames the mirror cannot switch went to the bridge, and the daemon mirrored
/// the bridge's forwarding database.
fn fast_path_was_used(env: &mut Env<'_>) {
    let status = match zcfw(env.daemon(), &["status", "--json"]) {
        Ok(out) => serde_json::from_str::<serde_json::Value>(&out).expect("status json"),
        Err(e) => return env.fail(format!("zcfw status: {e:#}")),
    };
    let mut forwarded = 0;
    for port in env.plant.ports() {
        let fast = status["interfaces"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|i| i["name"] == port.as_str())
            .map(|i| i["fast_path"].clone())
            .unwrap_or_default();
        if fast["active"] != true {
            env.fail(format!(
                "the fast path of bridge port {port} should be active: {fast}"
            ));
        }
        forwarded += fast["forwarded"]["packets"].as_u64().unwrap_or(0);
        println!("fast path of {port}: {fast}");
    }
    // Hundreds of KiB of TCP echo each way and every ping reply of the matrix.
    if forwarded < 100 {
        env.fail(format!(
            "bridged packets of allowed flows should be forwarded in XDP: {forwarded} were"
        ));
    }
    let log = env.daemon().log_tail(400);
    if !log.contains("forwarding database mirrored") {
        env.fail(format!(
            "the daemon should mirror the bridge's forwarding database; log:\n{log}"
        ));
    }

    // plc1's MAC address moves to plc2's port (a gratuitous ARP from there: the bridge learns
    // it there), then back: the mirror follows the bridge both times.
    let plc1_port = env.plant.host(Plc1).port.clone();
    let plc2_port = env.plant.host(Plc2).port.clone();
    let before = mirrored(env);
    let plc1 = env.plant.host(Plc1);
    let plc1_mac = plc1.ns.mac(&plc1.ifname).expect("mac");
    let moved = |now: &BTreeMap<String, u64>| {
        now.get(&plc2_port).copied() == before.get(&plc2_port).map(|n| n + 1)
            && now.get(&plc1_port).copied() == before.get(&plc1_port).map(|n| n.saturating_sub(1))
    };
    for (from, back) in [(Plc2, false), (Plc1, true)] {
        let host = env.plant.host(from);
        let sender = PacketSocket::open(&host.ns, &host.ifname).expect("sender");
        sender
            .send(&gratuitous_arp(plc1_mac, Plc1.addr(Family::V4)))
            .expect("send the gratuitous ARP");
        let settled = |now: &BTreeMap<String, u64>| if back { *now == before } else { moved(now) };
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut now = mirrored(env);
        while !settled(&now) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(100));
            now = mirrored(env);
        }
        if !settled(&now) {
            env.fail(format!(
                "after plc1's MAC address was learned on {}'s port, the mirror should have it \
                 there: addresses per port before {before:?}, now {now:?}",
                from
            ));
        }
    }
}

/// MAC addresses behind each bridge port in the daemon's mirror (`zcfw status --json`).
fn mirrored(env: &Env<'_>) -> BTreeMap<String, u64> {
    let out = zcfw(env.daemon(), &["status", "--json"]).expect("zcfw status");
    let status: serde_json::Value = serde_json::from_str(&out).expect("status json");
    status["interfaces"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| {
            let n = i["fast_path"]["mirrored_addresses"].as_u64()?;
            Some((i["name"].as_str()?.to_owned(), n))
        })
        .collect()
}

/// A gratuitous ARP request (broadcast) announcing `ip` at `mac`.
fn gratuitous_arp(mac: [u8; 6], ip: IpAddr) -> Vec<u8> {
    let IpAddr::V4(ip) = ip else {
        panic!("ARP announces an IPv4 address")
    };
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&mac);
    f.extend_from_slice(&ethertype::ARP.to_be_bytes());
    // Ethernet, IPv4, address lengths 6 and 4, request.
    f.extend_from_slice(&[0, 1, 0x08, 0, 6, 4, 0, 1]);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&ip.octets());
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&ip.octets());
    f.resize(60, 0);
    f
}

#[test]
fn traffic_native() {
    traffic(XdpMode::Native, false);
}

#[test]
fn traffic_skb() {
    traffic(XdpMode::Skb, false);
}

#[test]
fn traffic_native_with_the_fast_path() {
    traffic(XdpMode::Native, true);
}

/// Read holding registers (FC 3), unit 1.
fn read_request(tid: u16, address: u16, count: u16) -> Vec<u8> {
    let mut b = tid.to_be_bytes().to_vec();
    b.extend_from_slice(&[0, 0, 0, 6, 1, 3]);
    b.extend_from_slice(&address.to_be_bytes());
    b.extend_from_slice(&count.to_be_bytes());
    b
}

/// Sends `request` and reads `len` bytes of answer within `within`.
fn exchange(
    stream: &mut TcpStream,
    request: &[u8],
    len: usize,
    within: Duration,
) -> Result<Vec<u8>, String> {
    stream
        .write_all(request)
        .map_err(|e| format!("send: {e}"))?;
    read_answer(stream, len, within)
}

fn read_answer(stream: &mut TcpStream, len: usize, within: Duration) -> Result<Vec<u8>, String> {
    stream
        .set_read_timeout(Some(within))
        .map_err(|e| e.to_string())?;
    let mut answer = vec![0u8; len];
    stream
        .read_exact(&mut answer)
        .map_err(|e| format!("no answer within {within:?}: {e}"))?;
    Ok(answer)
}

/// Waits for ECONNRESET on `stream`.
fn reset_within(stream: &mut TcpStream, within: Duration) -> Result<(), String> {
    stream
        .set_read_timeout(Some(within))
        .map_err(|e| e.to_string())?;
    let mut buf = [0u8; 64];
    match stream.read(&mut buf) {
        Err(e) if e.kind() == ErrorKind::ConnectionReset => Ok(()),
        Err(e) => Err(format!("expected a reset, got {e}")),
        Ok(n) => Err(format!("expected a reset, got {n} bytes")),
    }
}

fn normalized(a: SocketAddr) -> SocketAddr {
    match a {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(v4.into(), v6.port()),
            None => a,
        },
        v4 => v4,
    }
}

/// Captures TCP resets on every host while a violation is handled.
struct ResetWatch {
    sockets: Vec<(Station, PacketSocket)>,
}

impl ResetWatch {
    fn open(plant: &BridgePlant) -> ResetWatch {
        let sockets = plant
            .hosts()
            .iter()
            .map(|h| {
                let socket = PacketSocket::open(&h.ns, &h.ifname).expect("capture");
                (h.station, socket)
            })
            .collect();
        ResetWatch { sockets }
    }

    /// The hosts that received a RST between `a` and `b` (either direction), within `wait`.
    fn hosts_reset(&self, a: SocketAddr, b: SocketAddr, wait: Duration) -> Vec<Station> {
        let (a, b) = (normalized(a), normalized(b));
        let pair = |p: &Parsed| {
            let src = normalized(SocketAddr::new(p.src, p.src_port));
            let dst = normalized(SocketAddr::new(p.dst, p.dst_port));
            p.tcp_flags & tcp_flags::RST != 0 && ((src, dst) == (a, b) || (src, dst) == (b, a))
        };
        self.sockets
            .iter()
            .filter(|(_, s)| captured(s, wait, pair).is_some())
            .map(|(station, _)| *station)
            .collect()
    }
}

fn modbus(mode: XdpMode) {
    let plant = plant(&format!("br_modbus_{}", mode.as_str()));
    if mode == XdpMode::Native {
        // A native-mode veth wakes its peer for XDP_TX frames only when the peer runs an XDP
        // program (see tests/reset.rs); real NICs need nothing of the kind.
        for host in plant.hosts() {
            zcfw_harness::xdp_pass::attach(&host.ns, &host.ifname)
                .unwrap_or_else(|e| panic!("{e:#}"));
        }
    }
    let plc1 = ModbusServer::start(&plant.host(Plc1).ns, MODBUS_PORT, &[1])
        .unwrap_or_else(|e| panic!("starting the pymodbus server: {e:#}"));
    let mut plc2 = OneConnectionServer::start(&plant.host(Plc2).ns, MODBUS_PORT)
        .unwrap_or_else(|e| panic!("starting the one-connection server: {e:#}"));
    let name = format!("bridge-modbus-{}", mode.as_str());
    let daemon = start_daemon(&plant, &plant.render_policy(POLICY, &name, mode));
    let view = ZcfwView::new(daemon.socket()).expect("zcfw binary");
    let mut failures: Vec<String> = Vec::new();
    let mut fail = |msg: String| {
        eprintln!("FAILED [bridge modbus {}] {msg}", mode.as_str());
        failures.push(msg);
    };
    let hmi = plant.host(Hmi);

    // pymodbus: reads pass, a write is denied (reset) and the register keeps its value.
    for family in Family::ALL {
        let server = SocketAddr::new(Plc1.addr(family), MODBUS_PORT);
        let read = Request::ReadHolding {
            unit: 1,
            address: 10,
            count: 4,
        };
        let mut client = ModbusClient::start(&hmi.ns, server, Duration::from_millis(1500))
            .expect("pymodbus client");
        match client.call(&read) {
            Ok(r) if r.values == read.expected() => {}
            other => fail(format!("{family:?} read of plc1: {other:?}")),
        }
        let seen = plc1.received().len();
        let write = Request::WriteRegister {
            unit: 1,
            address: 10,
            value: 4242,
        };
        let before = view.stats().expect("stats");
        match client.call(&write) {
            Ok(r) if !r.ok && r.exception.is_none() => {}
            other => fail(format!(
                "{family:?} write to plc1 should get no answer (reset): {other:?}"
            )),
        }
        let after = view.stats().expect("stats");
        if after.reason("modbus_function") <= before.reason("modbus_function") {
            fail(format!(
                "{family:?} write to plc1: not counted as modbus_function"
            ));
        }
        if write.reached(&plc1, seen) {
            fail(format!("{family:?} the denied write reached plc1"));
        }
        let _ = client.abort();
        let mut again = ModbusClient::start(&hmi.ns, server, Duration::from_millis(1500))
            .expect("pymodbus client");
        match again.call(&read) {
            Ok(r) if r.values == read.expected() => {}
            other => fail(format!(
                "{family:?} plc1's registers after the denied write should be unchanged: {other:?}"
            )),
        }
        let _ = again.close();
    }

    // The one-connection PLC: A is served, B waits behind it; A's denied read resets both
    // ends of A's connection, each through its own port, and B is served at once.
    let mut tid = 1u16;
    let mut resets = 0;
    for family in Family::ALL {
        let what = family.label();
        let dst = SocketAddr::new(Plc2.addr(family), MODBUS_PORT);
        let connect = || {
            let s = tcp_connect(&hmi.ns, None, dst, Duration::from_secs(3))
                .unwrap_or_else(|e| panic!("{what}: connecting to {dst}: {e:#}"));
            s.set_nodelay(true).expect("nodelay");
            s
        };
        let mut a = connect();
        if let Err(e) = exchange(&mut a, &read_request(tid, 0, 2), 13, Duration::from_secs(2)) {
            fail(format!("{what}: A's allowed read of plc2: {e}"));
        }
        let a_addr = a.local_addr().expect("address");
        let mut b = connect();
        b.write_all(&read_request(tid + 1, 10, 2)).expect("B sends");
        let watch = ResetWatch::open(&plant);
        // Address 100: one past what the conduit allows.
        a.write_all(&read_request(tid + 2, 100, 1))
            .expect("A sends");
        if let Err(e) = read_answer(&mut b, 13, Duration::from_secs(1)) {
            fail(format!(
                "{what}: B should be served within 1 s of A's denied read: {e}"
            ));
        }
        if let Err(e) = reset_within(&mut a, Duration::from_secs(3)) {
            fail(format!("{what}: A: {e}"));
        }
        resets += 1;
        let reset_at = watch.hosts_reset(a_addr, dst, Duration::from_millis(300));
        if reset_at != [Hmi, Plc2] {
            fail(format!(
                "{what}: the resets should reach the hmi and plc2 (each through its own port) \
                 and nobody else; they reached {reset_at:?}"
            ));
        }
        let peer = normalized(a_addr);
        if plc2
            .wait_for(Duration::from_secs(1), |e| {
                matches!(e, ServerEvent::Closed(p, how) if normalized(*p) == peer && how == "reset")
            })
            .is_none()
        {
            fail(format!(
                "{what}: plc2 should have seen A's connection reset: {:?}",
                plc2.events()
            ));
        }
        let denied_seen = plc2.events().iter().any(|e| {
            matches!(e, ServerEvent::Request(p, adu) if normalized(*p) == peer && adu[..2] == (tid + 2).to_be_bytes())
        });
        if denied_seen {
            fail(format!("{what}: plc2 received A's denied read"));
        }
        match plc2.established_peers(&plant.host(Plc2).ns) {
            Ok(peers) if peers.iter().any(|p| normalized(*p) == peer) => {
                fail(format!("{what}: plc2 still has A's connection: {peers:?}"))
            }
            Ok(_) => {}
            Err(e) => fail(format!("{what}: ss: {e:#}")),
        }
        drop(b);
        tid += 3;
    }
    // The same in QinQ frames (hand-built: no 802.1Q devices in the test kernel): a handshake,
    // then a denied read. plc2's port gets the RST in place of the request, the retransmission
    // gets a RST back out of the hmi's port; both keep both tags, and plc1 sees nothing.
    for family in Family::ALL {
        let what = format!("{} in QinQ", family.label());
        let tags = [(ethertype::QINQ, 200), (ethertype::VLAN, VLAN_ID)];
        let (hmi_ip, plc2_ip) = (Hmi.vlan_addr(family), Plc2.vlan_addr(family));
        let (hmi_mac, plc2_mac) = plant.macs(Hmi, Plc2).expect("macs");
        let sport = 40500 + u16::from(family == Family::V6);
        let segment = |seq, ack, flags, payload: &[u8]| Transport::Tcp {
            src_port: sport,
            dst_port: MODBUS_PORT,
            seq,
            ack,
            flags,
            payload: payload.to_vec(),
        };
        let to_plc2 =
            |l4: &Transport| tagged(&build_frame(hmi_mac, plc2_mac, hmi_ip, plc2_ip, l4), &tags);
        let syn_ack = Transport::Tcp {
            src_port: MODBUS_PORT,
            dst_port: sport,
            seq: 5000,
            ack: 1001,
            flags: tcp_flags::SYN | tcp_flags::ACK,
            payload: Vec::new(),
        };
        let from_plc2 = tagged(
            &build_frame(plc2_mac, hmi_mac, plc2_ip, hmi_ip, &syn_ack),
            &tags,
        );
        let hmi_tx = PacketSocket::open(&hmi.ns, &hmi.ifname).expect("socket");
        let plc2_host = plant.host(Plc2);
        let plc2_tx = PacketSocket::open(&plc2_host.ns, &plc2_host.ifname).expect("socket");
        let watch = ResetWatch::open(&plant);
        hmi_tx
            .send(&to_plc2(&segment(1000, 0, tcp_flags::SYN, b"")))
            .expect("send");
        plc2_tx.send(&from_plc2).expect("send");
        hmi_tx
            .send(&to_plc2(&segment(1001, 5001, tcp_flags::ACK, b"")))
            .expect("send");
        let denied = segment(
            1001,
            5001,
            tcp_flags::ACK | tcp_flags::PSH,
            &read_request(77, 100, 1),
        );
        let before = view.stats().expect("stats");
        hmi_tx.send(&to_plc2(&denied)).expect("send");
        thread::sleep(Duration::from_millis(50));
        hmi_tx
            .send(&to_plc2(&denied))
            .expect("send the retransmission");
        let (a, b) = (
            SocketAddr::new(hmi_ip, sport),
            SocketAddr::new(plc2_ip, MODBUS_PORT),
        );
        for (station, socket) in &watch.sockets {
            let rst = captured_tagged(socket, Duration::from_millis(300), |p| {
                p.tcp_flags & tcp_flags::RST != 0
                    && p.src_port != p.dst_port
                    && [p.src_port, p.dst_port].contains(&sport)
            });
            match (station, rst) {
                (Plc1, None) => {}
                (Plc1, Some(r)) => fail(format!("{what}: plc1 received a reset: {r:02x?}")),
                (_, None) => fail(format!("{what}: {station} received no reset")),
                (_, Some((p, vids, macs))) => {
                    let (from, to) = if *station == Hmi { (b, a) } else { (a, b) };
                    let (own, other) = if *station == Hmi {
                        (hmi_mac, plc2_mac)
                    } else {
                        (plc2_mac, hmi_mac)
                    };
                    if macs[..6] != own || macs[6..] != other {
                        fail(format!(
                            "{what}: the reset to {station} should go from {other:02x?} to its MAC \
                             {own:02x?}, it went {:02x?} → {:02x?}",
                            &macs[6..],
                            &macs[..6]
                        ));
                    }
                    if (
                        SocketAddr::new(p.src, p.src_port),
                        SocketAddr::new(p.dst, p.dst_port),
                    ) != (from, to)
                    {
                        fail(format!(
                            "{what}: {station} received a reset {p:?}, expected {from} → {to}"
                        ));
                    }
                    // The outer tag is in the packet socket's aux data; the inner is left.
                    if vids != [VLAN_ID] {
                        fail(format!(
                            "{what}: the reset to {station} should keep both tags (inner VLAN {VLAN_ID} \
                             left in the data), it shows {vids:?}"
                        ));
                    }
                }
            }
        }
        let after = view.stats().expect("stats");
        if after.reason("modbus_address") <= before.reason("modbus_address") {
            fail(format!(
                "{what}: the read of address 100 was not counted as modbus_address"
            ));
        }
        resets += 1;
    }

    let stats = view.stats().expect("stats");
    let counted = stats.0["conduits"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["name"] == CONDUIT)
        .and_then(|c| c["actions"]["reset"]["packets"].as_u64())
        .unwrap_or(0);
    // Two pymodbus writes and the one-connection PLC's denials.
    if counted != resets + 2 {
        fail(format!(
            "zcfw should count {} resets on {CONDUIT}, counted {counted}",
            resets + 2
        ));
    }
    // `on_violation: exception`: the Modbus exception reply goes back out of the hmi's port
    // (XDP_TX), the write never reaches plc1, and the connection stays usable.
    let exception_policy = plant.render_policy(POLICY, &name, mode).replace(
        "    to: cell\n",
        "    to: cell\n    on_violation: exception\n",
    );
    let file = daemon.dir().join("exception.yaml");
    std::fs::write(&file, exception_policy).expect("write the policy");
    let path = file.display().to_string();
    if let Err(e) = zcfw(&daemon, &["reload", "--policy", &path]) {
        fail(format!("reloading with on_violation: exception: {e:#}"));
    }
    for family in Family::ALL {
        let server = SocketAddr::new(Plc1.addr(family), MODBUS_PORT);
        let mut client = ModbusClient::start(&hmi.ns, server, Duration::from_millis(1500))
            .expect("pymodbus client");
        let seen = plc1.received().len();
        let write = Request::WriteRegister {
            unit: 1,
            address: 10,
            value: 4343,
        };
        match client.call(&write) {
            Ok(r) if r.exception == Some(1) => {}
            other => fail(format!(
                "{family:?} write to plc1 should be answered with exception 01: {other:?}"
            )),
        }
        if write.reached(&plc1, seen) {
            fail(format!(
                "{family:?} the write answered with an exception reached plc1"
            ));
        }
        let read = Request::ReadHolding {
            unit: 1,
            address: 10,
            count: 1,
        };
        match client.call(&read) {
            Ok(r) if r.values == read.expected() => {}
            other => fail(format!(
                "{family:?} the same connection should read plc1's unchanged register after \
                 the exception: {other:?}"
            )),
        }
        let _ = client.close();
    }
    if let Err(e) = daemon.stop() {
        fail(format!("stopping zcfw: {e:#}"));
    }
    // Without zcfw the same write goes through and changes the register: what kept it
    // unchanged above was zcfw.
    let server = SocketAddr::new(Plc1.addr(Family::V4), MODBUS_PORT);
    let mut client =
        ModbusClient::start(&hmi.ns, server, Duration::from_millis(1500)).expect("pymodbus client");
    let write = Request::WriteRegister {
        unit: 1,
        address: 10,
        value: 4242,
    };
    let read = Request::ReadHolding {
        unit: 1,
        address: 10,
        count: 1,
    };
    match (client.call(&write), client.call(&read)) {
        (Ok(w), Ok(r)) if w.ok && r.values == Some(vec![4242]) => {}
        other => fail(format!(
            "without zcfw, the write to plc1 should take effect: {other:?}"
        )),
    }
    let _ = client.close();
    assert!(
        failures.is_empty(),
        "{} failed check(s) on the bridge in {} mode:\n  {}",
        failures.len(),
        mode.as_str(),
        failures.join("\n  ")
    );
}

#[test]
fn modbus_native() {
    modbus(XdpMode::Native);
}

#[test]
fn modbus_skb() {
    modbus(XdpMode::Skb);
}
