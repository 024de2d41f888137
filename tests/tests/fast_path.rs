//! The XDP fast path (`fast_path: true`, docs/fast-path.md) in the routed plant: the same
//! allow/deny matrix with the fast path off and on gives the same verdicts, and with it on
//! allowed packets of tracked flows are forwarded in XDP (the forwarder's counters in
//! `zcfw status` rise); a reload that removes a conduit and island mode stop an established
//! flow at once; the receiver sees the TTL decremented (and a valid IPv4 checksum), and a
//! packet with TTL 1 goes to the stack, which answers with ICMP time exceeded.
//!
//! The hosts' ends of the veths run an `XDP_PASS` program: a veth delivers frames redirected
//! into it (`ndo_xdp_xmit`) only to a peer that runs XDP itself (docs/fast-path.md,
//! "Requirements"). Both runs of the matrix use the same plant setup.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    process::Command,
    thread,
    time::{Duration, Instant},
};

use zcfw::control::status::{FastPathStatus, Status};
use zcfw_harness::{
    Daemon, Family, Names, Plant, Stats, XdpMode, Zone, cmd,
    packet::{PacketSocket, Transport, build_frame},
    traffic::{EchoServices, UdpPeer, pattern, ping, tcp_connect, tcp_echo, udp_request},
    xdp_pass,
};

const POLICY: &str = include_str!("../policies/e2e.yaml");
const ENT_DMZ: &str = "enterprise-to-dmz";
const TCP_PORTS: [u16; 4] = [8080, 8081, 5020, 5021];
const UDP_PORTS: [u16; 3] = [9000, 9105, 9111];
const PASS_TIMEOUT: Duration = Duration::from_secs(5);
const DENY_TIMEOUT: Duration = Duration::from_secs(1);
const BULK: usize = 256 * 1024;

/// The e2e policy, with `fast_path: true` on every interface when `fast`.
fn policy(plant: &Plant, name: &str, mode: XdpMode, fast: bool) -> String {
    let text = plant.render_policy(POLICY, name, mode);
    if fast {
        let with = text.replace(
            &format!("xdp_mode: {} }}", mode.as_str()),
            &format!("xdp_mode: {}, fast_path: true }}", mode.as_str()),
        );
        assert_eq!(with.matches("fast_path: true").count(), 3, "{with}");
        with
    } else {
        text
    }
}

/// A plant whose hosts run `XDP_PASS` on their veth ends and echo servers.
fn plant(test: &str) -> (Plant, Vec<EchoServices>) {
    let plant =
        Plant::new(Names::unique(test)).unwrap_or_else(|e| panic!("building the plant: {e:#}"));
    for h in plant.hosts() {
        xdp_pass::attach(&h.ns, &h.ifname).expect("XDP_PASS on the host's veth end");
        // The hosts compute their checksums: a veth otherwise hands on TCP and UDP with
        // the checksum left to offload (CHECKSUM_PARTIAL), which a frame forwarded in XDP
        // loses (docs/fast-path.md, "Requirements").
        h.ns.run(|| {
            cmd::run(std::process::Command::new("ethtool").args(["-K", &h.ifname, "tx", "off"]))
        })
        .expect("ethtool -K tx off");
    }
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
    (plant, servers)
}

/// `zcfw status --json` of `daemon`.
fn status(daemon: &Daemon<'_>) -> Status {
    let out = cmd::run_with_timeout(
        Command::new(daemon.bin())
            .args(["status", "--json", "--socket"])
            .arg(daemon.socket()),
        Duration::from_secs(5),
    )
    .expect("zcfw status");
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("status JSON: {e}\n{out}"))
}

/// The fast path of `ifname` in `status`.
fn fast_path<'s>(status: &'s Status, ifname: &str) -> Option<&'s FastPathStatus> {
    status
        .interfaces
        .iter()
        .find(|i| i.name == ifname)
        .unwrap_or_else(|| panic!("status lists {ifname}"))
        .fast_path
        .as_ref()
}

/// Packets forwarded in XDP, all interfaces.
fn forwarded(status: &Status) -> u64 {
    status
        .interfaces
        .iter()
        .filter_map(|i| i.fast_path.as_ref())
        .map(|f| f.forwarded.packets)
        .sum()
}

/// Packets of `cause` handed to the stack on `ifname`.
fn fallback(status: &Status, ifname: &str, cause: &str) -> u64 {
    fast_path(status, ifname)
        .expect("fast path on")
        .to_stack
        .iter()
        .find(|f| f.cause == cause)
        .unwrap_or_else(|| panic!("cause {cause} listed"))
        .packets
}

#[derive(Clone, Copy, Debug)]
enum Probe {
    Ping,
    Tcp(u16),
    Udp(u16),
}

/// Whether `probe` from `from`'s host reaches `to`'s host (and its answer comes back).
fn probe(plant: &Plant, from: Zone, to: Zone, family: Family, probe: Probe, pass: bool) -> bool {
    let timeout = if pass { PASS_TIMEOUT } else { DENY_TIMEOUT };
    let src = &plant.host(from).ns;
    let dst = to.host(family);
    match probe {
        Probe::Ping => ping(src, dst, 3, timeout).is_ok_and(|n| n == 3),
        Probe::Tcp(port) => {
            let payload = if pass { pattern(BULK) } else { b"x".to_vec() };
            tcp_echo(src, SocketAddr::new(dst, port), &payload, timeout).is_ok()
        }
        Probe::Udp(port) => udp_request(src, SocketAddr::new(dst, port), b"hello", timeout)
            .is_ok_and(|r| r == b"hello"),
    }
}

/// The e2e conduit matrix: (from, to, probe, allowed).
fn matrix() -> Vec<(Zone, Zone, Probe, bool)> {
    use Probe::{Ping, Tcp, Udp};
    use Zone::{Control as Ctl, Dmz, Enterprise as Ent};
    vec![
        (Ent, Dmz, Ping, true),
        (Ent, Dmz, Tcp(8080), true),
        (Ent, Dmz, Tcp(8081), false),
        (Ent, Dmz, Udp(9000), false),
        (Dmz, Ent, Tcp(8080), false),
        (Dmz, Ent, Ping, false),
        (Dmz, Ctl, Tcp(5020), true),
        (Dmz, Ctl, Udp(9000), true),
        (Dmz, Ctl, Udp(9105), true),
        (Dmz, Ctl, Udp(9111), false),
        (Dmz, Ctl, Tcp(5021), false),
        (Dmz, Ctl, Ping, false),
        (Ctl, Dmz, Tcp(5020), false),
        (Ctl, Dmz, Udp(9000), false),
        (Ent, Ctl, Tcp(5020), false),
        (Ent, Ctl, Ping, false),
        (Ctl, Ent, Tcp(8080), false),
    ]
}

/// Runs the matrix with the fast path `fast`; returns one line per case with its outcome,
/// and the packets the fast path forwarded meanwhile.
fn run_matrix(mode: XdpMode, fast: bool) -> (Vec<String>, u64, Stats) {
    let tag = format!("fp_{}_{}", mode.as_str(), if fast { "on" } else { "off" });
    let (plant, _servers) = plant(&tag);
    let text = policy(&plant, &tag.replace('_', "-"), mode, fast);
    let daemon = Daemon::start_on(&plant, &text).unwrap_or_else(|e| panic!("{e:#}"));
    let before = status(&daemon);
    for i in &before.interfaces {
        assert_eq!(
            i.fast_path.as_ref().map(|f| f.active),
            fast.then_some(true),
            "status shows the fast path of {} as the policy says",
            i.name
        );
    }
    let mut outcomes = Vec::new();
    for family in Family::ALL {
        for (from, to, p, pass) in matrix() {
            let got = probe(&plant, from, to, family, p, pass);
            outcomes.push(format!(
                "{from} -> {to} {} {p:?}: {}",
                family.label(),
                if got { "passes" } else { "denied" }
            ));
        }
    }
    thread::sleep(Duration::from_millis(100));
    let after = status(&daemon);
    let stats = daemon.stats().expect("stats");
    let text = cmd::run_with_timeout(
        Command::new(daemon.bin())
            .args(["status", "--socket"])
            .arg(daemon.socket()),
        Duration::from_secs(5),
    )
    .expect("zcfw status");
    if fast {
        assert!(
            text.contains("fast path on:"),
            "status text shows the fast path:\n{text}"
        );
    } else {
        assert!(text.contains("fast path off"), "{text}");
    }
    daemon.stop().expect("stop");
    (outcomes, forwarded(&after) - forwarded(&before), stats)
}

/// The matrix gives the same verdicts with the fast path off and on, the verdicts the policy
/// says; with it on, the bulk of the allowed traffic is forwarded in XDP.
#[test]
fn the_matrix_has_the_same_verdicts_with_the_fast_path_on_and_off() {
    let expected: Vec<String> = Family::ALL
        .iter()
        .flat_map(|&family| {
            matrix().into_iter().map(move |(from, to, p, pass)| {
                format!(
                    "{from} -> {to} {} {p:?}: {}",
                    family.label(),
                    if pass { "passes" } else { "denied" }
                )
            })
        })
        .collect();
    let (off, off_forwarded, off_stats) = run_matrix(XdpMode::Native, false);
    let (on, on_forwarded, on_stats) = run_matrix(XdpMode::Native, true);
    assert_eq!(
        off, expected,
        "fast path off: verdicts differ from the policy"
    );
    assert_eq!(
        on, expected,
        "fast path on: verdicts differ from the policy"
    );
    assert_eq!(
        off_forwarded, 0,
        "nothing forwarded in XDP with the fast path off"
    );
    // Six allowed cases per family; bulk TCP alone is hundreds of segments.
    assert!(
        on_forwarded >= 200,
        "fast path on: only {on_forwarded} packets forwarded in XDP"
    );
    // The data path counted the same kinds of decisions.
    for reason in ["allowed_conduit", "allowed_conntrack", "default_deny"] {
        assert!(off_stats.reason(reason) > 0, "off: {reason} counted");
        assert!(on_stats.reason(reason) > 0, "on: {reason} counted");
    }
}

/// Same in generic (skb) XDP mode, where the redirect goes through the kernel's generic path.
#[test]
fn the_matrix_passes_in_skb_mode_with_the_fast_path_on() {
    let (on, forwarded, _) = run_matrix(XdpMode::Skb, true);
    let expected: Vec<bool> = Family::ALL
        .iter()
        .flat_map(|_| matrix().into_iter().map(|c| c.3))
        .collect();
    let got: Vec<bool> = on.iter().map(|l| l.ends_with("passes")).collect();
    assert_eq!(got, expected, "{on:#?}");
    assert!(
        forwarded >= 200,
        "only {forwarded} packets forwarded in XDP"
    );
}

/// Sends `payload` over an open connection to an echo server and reads it back.
fn exchange(stream: &mut TcpStream, payload: &[u8], timeout: Duration) -> bool {
    let _ = stream.set_write_timeout(Some(timeout));
    let _ = stream.set_read_timeout(Some(timeout));
    if stream.write_all(payload).is_err() {
        return false;
    }
    let mut got = vec![0u8; payload.len()];
    stream.read_exact(&mut got).is_ok() && got == payload
}

/// An established enterprise → dmz connection on the fast path; `close` then ends what
/// allows it (a reload, island mode); the next segment must not pass.
fn established_flow_stops(test: &str, close: impl FnOnce(&Plant, &Daemon<'_>), reason: &str) {
    let (plant, _servers) = plant(test);
    let text = policy(&plant, &test.replace('_', "-"), XdpMode::Native, true);
    let daemon = Daemon::start_on(&plant, &text).unwrap_or_else(|e| panic!("{e:#}"));
    let ent = plant.host(Zone::Enterprise);
    let dst = SocketAddr::new(Zone::Dmz.host(Family::V4), 8080);
    let mut stream = tcp_connect(&ent.ns, None, dst, PASS_TIMEOUT).expect("connect");
    let before = status(&daemon);
    assert!(
        exchange(&mut stream, &pattern(64 * 1024), PASS_TIMEOUT),
        "the established connection echoes"
    );
    let during = status(&daemon);
    let on_ent = |s: &Status| {
        fast_path(s, &ent.gateway_ifname)
            .expect("fast path on")
            .forwarded
            .packets
    };
    assert!(
        on_ent(&during) > on_ent(&before),
        "the connection's segments were forwarded in XDP"
    );
    close(&plant, &daemon);
    let stats_before: Stats = daemon.stats().expect("stats");
    assert!(
        !exchange(&mut stream, b"after", DENY_TIMEOUT),
        "a segment of the closed flow passed"
    );
    let stats_after = daemon.stats().expect("stats");
    assert!(
        stats_after.reason(reason) > stats_before.reason(reason),
        "the next segment was counted under {reason}: {:?}",
        stats_after.reasons_since(&stats_before)
    );
    // Abort the connection: its retransmissions would otherwise go on.
    let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
    drop(stream);
    daemon.stop().expect("stop");
}

/// A reload whose policy no longer has the conduit closes the flow on the fast path at once.
#[test]
fn a_reload_that_removes_the_conduit_stops_a_fast_path_flow() {
    established_flow_stops(
        "fp_reload",
        |plant, daemon| {
            let text = policy(plant, "fp-reload", XdpMode::Native, true);
            let start = text.find("  - name: enterprise-to-dmz").expect("conduit");
            let end = text.find("  - name: dmz-to-control").expect("next conduit");
            let without = format!("{}{}", &text[..start], &text[end..]);
            assert!(!without.contains(ENT_DMZ));
            std::fs::write(daemon.dir().join("policy.yaml"), without).expect("write policy");
            let out = cmd::run_with_timeout(
                Command::new(daemon.bin())
                    .args(["reload", "--socket"])
                    .arg(daemon.socket()),
                Duration::from_secs(10),
            )
            .expect("zcfw reload");
            assert!(
                !out.contains("unchanged"),
                "the reload changed the policy: {out}"
            );
        },
        "default_deny",
    );
}

/// Island mode stops a fast-path flow at once.
#[test]
fn island_mode_stops_a_fast_path_flow() {
    established_flow_stops(
        "fp_island",
        |_, daemon| {
            cmd::run_with_timeout(
                Command::new(daemon.bin())
                    .args(["island", "on", "--socket"])
                    .arg(daemon.socket()),
                Duration::from_secs(10),
            )
            .expect("zcfw island on");
        },
        "island_mode",
    );
}

/// The receiver of a packet forwarded in XDP sees its TTL decremented and a valid IPv4
/// header checksum; a packet with TTL 1 goes to the stack, which answers ICMP time exceeded.
#[test]
fn forwarded_packets_have_their_ttl_decremented() {
    let (plant, _servers) = plant("fp_ttl");
    let text = policy(&plant, "fp-ttl", XdpMode::Native, true);
    let daemon = Daemon::start_on(&plant, &text).unwrap_or_else(|e| panic!("{e:#}"));
    let dmz = plant.host(Zone::Dmz);
    let ctl = plant.host(Zone::Control);
    let (src, dst) = (dmz.addr(Family::V4), ctl.addr(Family::V4));
    // Open the flow dmz:40100 → control:9000 through the stack (its first packet).
    let client = UdpPeer::bind(&dmz.ns, SocketAddr::new(src, 40100)).expect("bind");
    let reply = client
        .request(SocketAddr::new(dst, 9000), b"open", PASS_TIMEOUT)
        .expect("the flow opens");
    assert_eq!(reply, b"open");
    let (smac, gw_mac) = plant.macs_to_gateway(Zone::Dmz).expect("macs");
    let sender = PacketSocket::open(&dmz.ns, &dmz.ifname).expect("sender");
    let frame = |ttl: u8, payload: &[u8]| {
        let mut f = build_frame(
            smac,
            gw_mac,
            src,
            dst,
            &Transport::Udp {
                src_port: 40100,
                dst_port: 9000,
                payload: payload.to_vec(),
            },
        );
        f[14 + 8] = ttl;
        f[14 + 10..14 + 12].copy_from_slice(&[0, 0]);
        let c = firewall_common::pktgen::checksum(&f[14..34]);
        f[14 + 10..14 + 12].copy_from_slice(&c.to_be_bytes());
        f
    };
    let is_ours = |f: &[u8], payload: &[u8]| {
        f.len() >= 42
            && f[12..14] == [0x08, 0x00]
            && f[14 + 9] == 17
            && f[26..30] == [10, 20, 0, 2]
            && f[30..34] == [10, 30, 0, 2]
            && f.ends_with(payload)
    };

    let capture = PacketSocket::open(&ctl.ns, &ctl.ifname).expect("capture");
    let before = status(&daemon);
    sender.send(&frame(9, b"ttl-nine")).expect("send");
    let deadline = Instant::now() + PASS_TIMEOUT;
    let mut seen = None;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match capture.recv(left) {
            Some(f) if is_ours(&f, b"ttl-nine") => {
                seen = Some(f);
                break;
            }
            Some(_) => {}
            None => break,
        }
    }
    let got = seen.expect("the datagram reached the control host");
    assert_eq!(got[14 + 8], 8, "TTL decremented by one");
    assert_eq!(
        firewall_common::pktgen::checksum(&got[14..34]),
        0,
        "the IPv4 header checksum verifies"
    );
    assert_eq!(
        got[0..6],
        ctl.ns.mac(&ctl.ifname).expect("mac"),
        "destination MAC"
    );
    assert_eq!(
        got[6..12],
        plant.gateway().mac(&ctl.gateway_ifname).expect("mac"),
        "source MAC: the gateway's egress interface"
    );
    let after = status(&daemon);
    let on_dmz = |s: &Status| {
        fast_path(s, &dmz.gateway_ifname)
            .expect("fast path")
            .forwarded
            .packets
    };
    assert_eq!(
        on_dmz(&after) - on_dmz(&before),
        1,
        "the datagram was forwarded in XDP"
    );

    // TTL 1: to the stack, which sends ICMP time exceeded back to the sender.
    let icmp = PacketSocket::open(&dmz.ns, &dmz.ifname).expect("capture");
    let before = status(&daemon);
    sender.send(&frame(1, b"ttl-one")).expect("send");
    let time_exceeded = icmp
        .capture(PASS_TIMEOUT, |p| {
            p.proto == 1 && p.payload.first() == Some(&11) && p.dst == src
        })
        .is_some();
    assert!(time_exceeded, "ICMP time exceeded came back");
    let after = status(&daemon);
    assert_eq!(
        fallback(&after, &dmz.gateway_ifname, "ttl")
            - fallback(&before, &dmz.gateway_ifname, "ttl"),
        1,
        "counted as handed to the stack for its TTL"
    );
    daemon.stop().expect("stop");
}
