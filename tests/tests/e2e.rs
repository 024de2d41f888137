//! End to end: real hosts in network namespaces, real traffic through a gateway namespace
//! with `zcfw run` attached to its veths, in native and in generic (skb) XDP mode.
//!
//! The policy is `tests/policies/e2e.yaml`: enterprise → dmz tcp/8080 and ICMP echo,
//! dmz → control tcp/5020 and udp/9000, 9100-9110; interfaces accept only the sources of
//! their own zone. Every case checks what arrived *and* what `zcfw stats --json` counted for
//! it. A test runs all of its cases and then fails with the list of every case that went
//! wrong, so one run shows the whole picture.

use std::{
    net::{IpAddr, SocketAddr},
    thread,
    time::Duration,
};

use zcfw_harness::{
    Daemon, Family, Names, Plant, Stats, XdpMode, Zone,
    packet::{PacketSocket, Parsed, Transport, build_frame, tcp_flags},
    traffic::{
        EchoServices, UdpPeer, echo_over, pattern, ping, tcp_connect, tcp_echo, udp_request,
    },
};

const POLICY: &str = include_str!("../policies/e2e.yaml");
const ENT_DMZ: &str = "enterprise-to-dmz";
const DMZ_CTL: &str = "dmz-to-control";
/// Echo servers on every host, both families: allowed ports and their wrong neighbours.
const TCP_PORTS: [u16; 4] = [8080, 8081, 5020, 5021];
const UDP_PORTS: [u16; 3] = [9000, 9105, 9111];
/// Allowed traffic gets this long (bulk TCP included).
const PASS_TIMEOUT: Duration = Duration::from_secs(5);
/// Denied traffic is given up on after this long.
const DENY_TIMEOUT: Duration = Duration::from_secs(1);
/// Bulk TCP payload: large enough for GSO/GRO to matter.
const BULK: usize = 512 * 1024;

/// What a probe sends.
#[derive(Clone, Copy, Debug)]
enum Probe {
    Ping,
    Tcp(u16),
    Udp(u16),
}

impl Probe {
    fn label(self) -> String {
        match self {
            Probe::Ping => "icmp echo".to_string(),
            Probe::Tcp(p) => format!("tcp/{p}"),
            Probe::Udp(p) => format!("udp/{p}"),
        }
    }

    /// Packets a conduit must at least have counted for a successful probe.
    fn min_packets(self) -> u64 {
        match self {
            Probe::Ping => 6,   // 3 requests, 3 replies
            Probe::Tcp(_) => 7, // handshake, data both ways, two FINs
            Probe::Udp(_) => 2, // request, reply
        }
    }
}

/// What should happen to a probe.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// Passes, counted under this conduit.
    Pass(&'static str),
    /// Dropped, counted under this reason.
    Deny(&'static str),
}

/// A plant with zcfw running and echo servers on every host; collects failed checks.
struct Env<'p> {
    plant: &'p Plant,
    daemon: Option<Daemon<'p>>,
    _servers: Vec<EchoServices>,
    failures: Vec<String>,
    mode: XdpMode,
}

impl<'p> Env<'p> {
    fn start(plant: &'p Plant, name: &str, mode: XdpMode) -> Env<'p> {
        let servers = plant
            .hosts()
            .iter()
            .map(|h| {
                EchoServices::start(
                    &h.ns,
                    &[h.addr(Family::V4), h.addr(Family::V6)],
                    &TCP_PORTS,
                    &UDP_PORTS,
                )
                .expect("echo servers")
            })
            .collect();
        let policy = plant.render_policy(POLICY, name, mode);
        let daemon = Daemon::start_on(plant, &policy).unwrap_or_else(|e| panic!("{e:#}"));
        let env = Env {
            plant,
            daemon: Some(daemon),
            _servers: servers,
            failures: Vec::new(),
            mode,
        };
        // zcfw attached in the mode the policy asked for, on every gateway interface.
        for ifname in plant.gateway_interfaces() {
            let details = env.daemon().link_details(&ifname).expect("ip link");
            let first_line = details.lines().next().unwrap_or_default();
            assert!(
                first_line
                    .split_whitespace()
                    .any(|w| w == mode.ip_link_flag()),
                "{ifname} should carry XDP in {} mode:\n{details}",
                mode.as_str()
            );
        }
        let stats = env.stats();
        assert_eq!(stats.policy.name, name, "stats name the loaded policy");
        assert!(!stats.policy.hash.is_empty(), "stats carry the policy hash");
        env
    }

    fn daemon(&self) -> &Daemon<'p> {
        self.daemon.as_ref().expect("daemon runs until finish")
    }

    fn stats(&self) -> Stats {
        self.daemon()
            .stats()
            .unwrap_or_else(|e| panic!("zcfw stats: {e:#}"))
    }

    fn fail(&mut self, msg: String) {
        eprintln!("FAILED [{}] {msg}", self.mode.as_str());
        self.failures.push(msg);
    }

    /// Sends `probe` from `from`'s host to `to`'s host and checks delivery and counters.
    fn case(&mut self, from: Zone, to: Zone, family: Family, probe: Probe, expect: Expect) {
        let what = format!("{from} → {to} {} {}", family.label(), probe.label());
        let before = self.stats();
        let (timeout, pings) = match expect {
            Expect::Pass(_) => (PASS_TIMEOUT, 3),
            Expect::Deny(_) => (DENY_TIMEOUT, 1),
        };
        let src = &self.plant.host(from).ns;
        let dst = to.host(family);
        let outcome: Result<(), String> = match probe {
            Probe::Ping => match ping(src, dst, pings, timeout) {
                Ok(n) if n == pings => Ok(()),
                Ok(n) => Err(format!("{n}/{pings} echo replies")),
                Err(e) => Err(format!("{e:#}")),
            },
            Probe::Tcp(port) => {
                let payload = match expect {
                    Expect::Pass(_) => pattern(BULK),
                    Expect::Deny(_) => b"hello".to_vec(),
                };
                tcp_echo(src, SocketAddr::new(dst, port), &payload, timeout)
                    .map_err(|e| format!("{e:#}"))
            }
            Probe::Udp(port) => {
                match udp_request(src, SocketAddr::new(dst, port), b"hello", timeout) {
                    Ok(r) if r == b"hello" => Ok(()),
                    Ok(r) => Err(format!("wrong reply {r:?}")),
                    Err(e) => Err(format!("{e:#}")),
                }
            }
        };
        if matches!(expect, Expect::Pass(_)) {
            // Let the last packets of the flow (FIN/ACK) be counted in this case, not the next.
            thread::sleep(Duration::from_millis(50));
        }
        let after = self.stats();
        let counted = format!(
            "counted: reasons {:?}, conduits {:?}",
            after.reasons_since(&before),
            after.conduits_since(&before)
        );
        match expect {
            Expect::Pass(conduit) => {
                if let Err(e) = outcome {
                    self.fail(format!("{what}: should pass, but {e}; {counted}"));
                    return;
                }
                let d = |r: &str| after.reason(r) - before.reason(r);
                let dc = after.conduit(conduit) - before.conduit(conduit);
                if dc < probe.min_packets() {
                    self.fail(format!(
                        "{what}: passed, but conduit {conduit} counted {dc} packets (expected >= {}); {counted}",
                        probe.min_packets()
                    ));
                }
                if d("allowed_conduit") < 1 || d("allowed_conntrack") < 1 {
                    self.fail(format!(
                        "{what}: passed, but allowed_conduit/allowed_conntrack did not both grow; {counted}"
                    ));
                }
                // Retransmissions can hide a dropped segment; the counters cannot.
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
                // Packets of flows that are already open (late retransmissions) may hit
                // conduits meanwhile; what must not happen is a conduit opening a flow.
                if after.reason("allowed_conduit") > before.reason("allowed_conduit") {
                    self.fail(format!(
                        "{what}: blocked, but a conduit admitted a new flow meanwhile; {counted}"
                    ));
                }
            }
        }
    }

    /// Checks that `reason` grew between `before` and now.
    fn expect_counted(&mut self, before: &Stats, reason: &str, what: &str) {
        let after = self.stats();
        if after.reason(reason) <= before.reason(reason) {
            self.fail(format!(
                "{what}: not counted under {reason}; counted: reasons {:?}, conduits {:?}",
                after.reasons_since(before),
                after.conduits_since(before)
            ));
        }
    }

    /// A raw-frame sender on `zone`'s host and the MACs for frames to the gateway.
    fn raw_sender(&self, zone: Zone) -> (PacketSocket, [u8; 6], [u8; 6]) {
        let host = self.plant.host(zone);
        let sock = PacketSocket::open(&host.ns, &host.ifname).expect("packet socket");
        let (src, dst) = self.plant.macs_to_gateway(zone).expect("macs");
        (sock, src, dst)
    }

    /// A capture socket on `zone`'s host.
    fn capture(&self, zone: Zone) -> PacketSocket {
        let host = self.plant.host(zone);
        PacketSocket::open(&host.ns, &host.ifname).expect("packet socket")
    }

    /// Sends a hand-built frame from `from`'s host (source address `src`) to `to`'s host
    /// and reports whether it arrived there within `timeout`.
    fn forge(&self, from: Zone, src: IpAddr, to: Zone, l4: Transport, timeout: Duration) -> bool {
        let dst = to.host(if src.is_ipv6() {
            Family::V6
        } else {
            Family::V4
        });
        let capture = self.capture(to);
        let (sender, smac, dmac) = self.raw_sender(from);
        sender
            .send(&build_frame(smac, dmac, src, dst, &l4))
            .expect("send frame");
        let (sport, dport) = match &l4 {
            Transport::Tcp {
                src_port, dst_port, ..
            }
            | Transport::Udp {
                src_port, dst_port, ..
            } => (*src_port, *dst_port),
        };
        capture
            .capture(timeout, |p: &Parsed| {
                p.src == src && p.dst == dst && p.src_port == sport && p.dst_port == dport
            })
            .is_some()
    }

    /// Stops zcfw (which must leave no XDP behind) and fails with every failed check.
    fn finish(mut self) {
        if let Some(daemon) = self.daemon.take()
            && let Err(e) = daemon.stop()
        {
            self.fail(format!("stopping zcfw: {e:#}"));
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

/// Every conduit rule allowed, its neighbours denied, both families.
fn conduit_matrix(mode: XdpMode) {
    use Expect::{Deny, Pass};
    use Probe::{Ping, Tcp, Udp};
    use Zone::{Control as Ctl, Dmz, Enterprise as Ent};
    const DD: Expect = Deny("default_deny");

    let plant = Plant::for_test(&format!("conduits_{}", mode.as_str()));
    let mut env = Env::start(&plant, &format!("e2e-conduits-{}", mode.as_str()), mode);
    for family in Family::ALL {
        let cases = [
            // enterprise → dmz: tcp/8080 and echo requests only.
            (Ent, Dmz, Ping, Pass(ENT_DMZ)),
            (Ent, Dmz, Tcp(8080), Pass(ENT_DMZ)),
            (Ent, Dmz, Tcp(8081), DD),
            (Ent, Dmz, Udp(9000), DD),
            // ... and nothing the other way.
            (Dmz, Ent, Tcp(8080), DD),
            (Dmz, Ent, Ping, DD),
            // dmz → control: tcp/5020, udp/9000 and 9100-9110.
            (Dmz, Ctl, Tcp(5020), Pass(DMZ_CTL)),
            (Dmz, Ctl, Udp(9000), Pass(DMZ_CTL)),
            (Dmz, Ctl, Udp(9105), Pass(DMZ_CTL)),
            (Dmz, Ctl, Udp(9111), DD),
            (Dmz, Ctl, Tcp(5021), DD),
            (Dmz, Ctl, Ping, DD),
            // ... and nothing the other way.
            (Ctl, Dmz, Tcp(5020), DD),
            (Ctl, Dmz, Udp(9000), DD),
            // No conduit between enterprise and control at all.
            (Ent, Ctl, Tcp(5020), DD),
            (Ent, Ctl, Udp(9000), DD),
            (Ent, Ctl, Ping, DD),
            (Ctl, Ent, Tcp(8080), DD),
        ];
        for (from, to, probe, expect) in cases {
            env.case(from, to, family, probe, expect);
        }
    }
    env.finish();
}

#[test]
fn conduits_native() {
    conduit_matrix(XdpMode::Native);
}

#[test]
fn conduits_skb() {
    conduit_matrix(XdpMode::Skb);
}

/// Replies of allowed flows come back; nothing else does, however reply-like it looks.
fn stateful(mode: XdpMode) {
    let plant = Plant::for_test(&format!("stateful_{}", mode.as_str()));
    let mut env = Env::start(&plant, &format!("e2e-stateful-{}", mode.as_str()), mode);
    let dmz = plant.host(Zone::Dmz);
    let ctl = plant.host(Zone::Control);
    let ent = plant.host(Zone::Enterprise);
    for family in Family::ALL {
        let f = family.label();
        let dmz_ip = dmz.addr(family);
        let ctl_ip = ctl.addr(family);

        // UDP: dmz:40000 → control:9000 opens a flow; its replies come back.
        let client = UdpPeer::bind(&dmz.ns, SocketAddr::new(dmz_ip, 40000)).expect("bind");
        let before = env.stats();
        match client.request(SocketAddr::new(ctl_ip, 9000), b"poll", PASS_TIMEOUT) {
            Ok(r) if r == b"poll" => {}
            other => env.fail(format!(
                "{f} dmz:40000 → control:9000 udp: no echo: {other:?}"
            )),
        }
        env.expect_counted(
            &before,
            "allowed_conntrack",
            &format!("{f} udp reply control:9000 → dmz:40000"),
        );

        // A new datagram from another control port to the flow's dmz port is not a reply.
        let other = UdpPeer::bind(&ctl.ns, SocketAddr::new(ctl_ip, 9001)).expect("bind");
        let before = env.stats();
        other
            .send_to(SocketAddr::new(dmz_ip, 40000), b"sneak")
            .expect("send");
        if let Some((from, _)) = client.recv_within(DENY_TIMEOUT).expect("recv") {
            env.fail(format!(
                "{f} control:9001 → dmz:40000 udp (no flow; only control:9000 has one) was delivered (from {from})"
            ));
        }
        env.expect_counted(
            &before,
            "default_deny",
            &format!("{f} control:9001 → dmz:40000 udp"),
        );

        // A forged reply-looking datagram control:9000 → dmz:40001: no flow for that port.
        let before = env.stats();
        let udp = |dport| Transport::Udp {
            src_port: 9000,
            dst_port: dport,
            payload: b"reply?".to_vec(),
        };
        if env.forge(Zone::Control, ctl_ip, Zone::Dmz, udp(40001), DENY_TIMEOUT) {
            env.fail(format!(
                "{f} forged udp control:9000 → dmz:40001 (no flow) was delivered"
            ));
        }
        env.expect_counted(
            &before,
            "default_deny",
            &format!("{f} forged udp control:9000 → dmz:40001"),
        );
        // The same forged datagram to the flow's own port is a reply, and passes: the
        // forging works, and what stopped the previous one was zcfw.
        if !env.forge(Zone::Control, ctl_ip, Zone::Dmz, udp(40000), PASS_TIMEOUT) {
            env.fail(format!(
                "{f} forged udp control:9000 → dmz:40000 (matches the open flow) was not delivered"
            ));
        }
        drop(client);

        // TCP: an open dmz → control:5020 connection ...
        let conn = tcp_connect(&dmz.ns, None, SocketAddr::new(ctl_ip, 5020), PASS_TIMEOUT);
        let conn = match conn {
            Ok(c) => Some(c),
            Err(e) => {
                env.fail(format!("{f} dmz → control tcp/5020 connect: {e:#}"));
                None
            }
        };
        // ... opens nothing for control → dmz: not a new connection to dmz's tcp/5020 ...
        let before = env.stats();
        if tcp_echo(&ctl.ns, SocketAddr::new(dmz_ip, 5020), b"up", DENY_TIMEOUT).is_ok() {
            env.fail(format!(
                "{f} control → dmz tcp/5020 connected while dmz → control:5020 was open"
            ));
        }
        env.expect_counted(
            &before,
            "default_deny",
            &format!("{f} control → dmz tcp/5020 SYN"),
        );
        // ... nor forged SYN-ACKs or ACKs from control:5020 to dmz ports without a flow.
        for (flags, dport, name) in [
            (tcp_flags::SYN | tcp_flags::ACK, 40100, "SYN-ACK"),
            (tcp_flags::ACK, 40101, "ACK"),
            (tcp_flags::ACK | tcp_flags::PSH, 40102, "PSH-ACK with data"),
            (tcp_flags::RST, 40103, "RST"),
        ] {
            let before = env.stats();
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
            if env.forge(Zone::Control, ctl_ip, Zone::Dmz, seg, DENY_TIMEOUT) {
                env.fail(format!(
                    "{f} forged {name} control:5020 → dmz:{dport} (no flow) was delivered"
                ));
            }
            env.expect_counted(
                &before,
                "default_deny",
                &format!("{f} forged {name} control:5020 → dmz:{dport}"),
            );
        }
        // The open connection still works after all that.
        if let Some(conn) = conn
            && let Err(e) = echo_over(&conn, &pattern(64 * 1024), PASS_TIMEOUT)
        {
            env.fail(format!(
                "{f} dmz → control tcp/5020 echo on the open connection: {e:#}"
            ));
        }

        // ICMP: enterprise pings dmz; dmz may not ping enterprise.
        let before = env.stats();
        match ping(&ent.ns, dmz_ip, 2, PASS_TIMEOUT) {
            Ok(2) => {}
            other => env.fail(format!("{f} enterprise → dmz ping: {other:?}")),
        }
        env.expect_counted(
            &before,
            "allowed_conntrack",
            &format!("{f} echo replies dmz → enterprise"),
        );
        let before = env.stats();
        match ping(&dmz.ns, ent.addr(family), 1, DENY_TIMEOUT) {
            Ok(0) => {}
            other => env.fail(format!("{f} dmz → enterprise ping got replies: {other:?}")),
        }
        env.expect_counted(
            &before,
            "default_deny",
            &format!("{f} dmz → enterprise echo request"),
        );
    }
    env.finish();
}

#[test]
fn stateful_native() {
    stateful(XdpMode::Native);
}

#[test]
fn stateful_skb() {
    stateful(XdpMode::Skb);
}

/// An interface that lists `zones: [enterprise]` drops sources of other zones.
fn anti_spoofing(mode: XdpMode) {
    let plant = Plant::for_test(&format!("spoofing_{}", mode.as_str()));
    let mut env = Env::start(&plant, &format!("e2e-spoofing-{}", mode.as_str()), mode);
    for family in Family::ALL {
        let f = family.label();
        // A dmz address that is not the dmz host. dmz → control udp/9000 is a conduit, so
        // only the ingress interface decides. UDP, so that the control host's answers (to
        // an address nobody has) are one datagram each, not retransmissions that would land
        // in the counters of later checks.
        let dmz_src = Zone::Dmz.addr(family, 77);
        let datagram = |sport| Transport::Udp {
            src_port: sport,
            dst_port: 9000,
            payload: b"spoofed?".to_vec(),
        };
        // Sent from the enterprise side it is spoofed.
        let before = env.stats();
        if env.forge(
            Zone::Enterprise,
            dmz_src,
            Zone::Control,
            datagram(40201),
            DENY_TIMEOUT,
        ) {
            env.fail(format!(
                "{f} udp {dmz_src} → control:9000 arriving on the enterprise interface was delivered"
            ));
        }
        env.expect_counted(
            &before,
            "spoofed_source",
            &format!("{f} dmz source on the enterprise interface"),
        );
        let after = env.stats();
        if after.reason("allowed_conduit") > before.reason("allowed_conduit") {
            env.fail(format!(
                "{f} spoofed udp: a conduit admitted it: {:?}",
                after.conduits_since(&before)
            ));
        }
        // The same datagram sent from the dmz side is legitimate and passes: the forging
        // works, and what stopped it before was the ingress check.
        if !env.forge(
            Zone::Dmz,
            dmz_src,
            Zone::Control,
            datagram(40200),
            PASS_TIMEOUT,
        ) {
            env.fail(format!(
                "{f} udp {dmz_src} → control:9000 sent from the dmz side was not delivered"
            ));
        }
        // Let the echo reply (to nobody) pass before the next check counts.
        thread::sleep(Duration::from_millis(200));
        // A source in no zone at all, on an interface that lists its zones, is dropped too.
        let nowhere: IpAddr = match family {
            Family::V4 => "192.0.2.7".parse().expect("addr"),
            Family::V6 => "2001:db8::7".parse().expect("addr"),
        };
        let before = env.stats();
        if env.forge(
            Zone::Enterprise,
            nowhere,
            Zone::Dmz,
            syn_to(40202, 8080),
            DENY_TIMEOUT,
        ) {
            env.fail(format!(
                "{f} SYN from {nowhere} (no zone) on the enterprise interface was delivered"
            ));
        }
        let after = env.stats();
        let counted = after.reasons_since(&before);
        if !counted
            .iter()
            .any(|(r, _)| r == "spoofed_source" || r == "unknown_zone")
        {
            env.fail(format!(
                "{f} SYN from {nowhere}: counted neither as spoofed_source nor unknown_zone: {counted:?}"
            ));
        }
    }
    env.finish();
}

fn syn_to(sport: u16, dport: u16) -> Transport {
    Transport::Tcp {
        src_port: sport,
        dst_port: dport,
        seq: 1,
        ack: 0,
        flags: tcp_flags::SYN,
        payload: Vec::new(),
    }
}

#[test]
fn anti_spoofing_native() {
    anti_spoofing(XdpMode::Native);
}

#[test]
fn anti_spoofing_skb() {
    anti_spoofing(XdpMode::Skb);
}

/// SIGTERM detaches XDP from every interface and the gateway is a plain router again.
#[test]
fn sigterm_detaches_and_restores_routing() {
    for mode in XdpMode::ALL {
        let plant = Plant::for_test(&format!("detach_{}", mode.as_str()));
        let env = Env::start(&plant, &format!("e2e-detach-{}", mode.as_str()), mode);
        let ent = &plant.host(Zone::Enterprise).ns;
        let ctl_ip = Zone::Control.host(Family::V4);
        assert_eq!(
            ping(ent, ctl_ip, 1, DENY_TIMEOUT).expect("ping"),
            0,
            "enterprise → control is denied while zcfw runs"
        );
        // finish() stops zcfw and checks that no interface carries XDP any more.
        env.finish();
        assert_eq!(
            ping(ent, ctl_ip, 1, PASS_TIMEOUT).expect("ping"),
            1,
            "after zcfw stopped, the gateway should route everything again ({} mode)",
            mode.as_str()
        );
    }
}

/// A policy zcfw refuses makes `Daemon::start` fail at once, with zcfw's diagnostics, and
/// leaves nothing attached.
#[test]
fn refused_policy_fails_fast_with_the_daemon_log() {
    let plant = Plant::for_test("refused");
    let policy = plant
        .render_policy(POLICY, "e2e-refused", XdpMode::Native)
        .replace("conduits:", "bogus_key: 1\nconduits:");
    let started = std::time::Instant::now();
    let err = match Daemon::start_on(&plant, &policy) {
        Ok(_) => panic!("zcfw accepted a policy with an unknown key"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        err.contains("exited") && err.contains("bogus_key"),
        "the error should say zcfw exited and show its diagnostics:\n{err}"
    );
    for ifname in plant.gateway_interfaces() {
        let details = plant.gateway().link_details(&ifname).expect("ip link");
        assert!(!zcfw_harness::daemon::has_xdp(&details), "{details}");
    }
}

/// An interface whose index is past the data path's per-interface arrays is refused at start,
/// with the advice, before anything is attached (its counters would otherwise be lost).
#[test]
fn interface_index_past_the_arrays_is_refused() {
    let names = Names::unique("bigidx");
    let gateway = zcfw_harness::Netns::create(&names.netns("gw")).expect("namespace");
    let ifname = names.gateway_ifname("big");
    // Past `firewall_common::maps::capacity::MAX_IFINDEX` (16,384).
    let index = "20000".to_string();
    gateway
        .ip(&[
            "link", "add", &ifname, "index", &index, "type", "veth", "peer", "name", "peer0",
        ])
        .expect("a veth with a large index");
    gateway.ip(&["link", "set", &ifname, "up"]).expect("up");
    let dir = zcfw_harness::tempdir::TempDir::new(names.file_stem()).expect("temp dir");
    let policy = dir.join("policy.yaml");
    std::fs::write(
        &policy,
        format!(
            "version: 1\nname: big-index\ninterfaces:\n  - {{ name: {ifname}, xdp_mode: skb }}\n\
             zones:\n  a: {{ security_level: 1, networks: [10.1.0.0/24] }}\n  \
             b: {{ security_level: 1, networks: [10.2.0.0/24] }}\nconduits: []\n"
        ),
    )
    .expect("write the policy");
    let err = match Daemon::start(&gateway, &policy, std::slice::from_ref(&ifname)) {
        Ok(_) => panic!("zcfw attached to an interface with index {index}"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        err.contains(&format!("index {index}")) && err.contains("reboot"),
        "the error should name the index and what to do:\n{err}"
    );
    let details = gateway
        .ip(&["-d", "link", "show", &ifname])
        .expect("ip link");
    assert!(!zcfw_harness::daemon::has_xdp(&details), "{details}");
}
