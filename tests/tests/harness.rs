//! The harness itself, with no zcfw attached: the plant routes everything between all
//! zones, the traffic helpers see it, forged and spoofed frames get through (so when the
//! e2e tests see them dropped, zcfw dropped them), and every guard cleans up, also on panic.

use std::{
    net::SocketAddr,
    panic::{AssertUnwindSafe, catch_unwind},
    time::Duration,
};

use zcfw_harness::{
    Family, Names, Netns, Plant, Zone,
    netns::exists,
    packet::{PacketSocket, Transport, build_frame, tcp_flags},
    traffic::{EchoServices, UdpPeer, pattern, ping, tcp_echo, udp_request},
};

const T: Duration = Duration::from_secs(3);

#[test]
fn plant_routes_every_zone_pair_without_xdp() {
    let plant = Plant::new(Names::unique("harness_routes")).expect("plant");
    assert_eq!(
        plant
            .gateway()
            .sysctl_get("net.ipv4.ip_forward")
            .expect("read"),
        "1"
    );
    assert_eq!(
        plant
            .gateway()
            .sysctl_get("net.ipv6.conf.all.forwarding")
            .expect("read"),
        "1"
    );
    // The sysctl went to the namespace, not to the namespace the test runs in.
    assert_ne!(
        plant
            .host(Zone::Dmz)
            .ns
            .sysctl_get("net.ipv4.ip_forward")
            .expect("read"),
        "1"
    );
    let _servers: Vec<EchoServices> = plant
        .hosts()
        .iter()
        .map(|h| {
            EchoServices::start(
                &h.ns,
                &[h.addr(Family::V4), h.addr(Family::V6)],
                &[8080],
                &[9000],
            )
            .expect("servers")
        })
        .collect();
    let payload = pattern(256 * 1024);
    for from in Zone::ALL {
        for to in Zone::ALL.into_iter().filter(|&z| z != from) {
            for family in Family::ALL {
                let src = &plant.host(from).ns;
                let dst = to.host(family);
                let what = format!("{from} -> {to} {}", family.label());
                assert_eq!(ping(src, dst, 2, T).expect("ping"), 2, "ping {what}");
                tcp_echo(src, SocketAddr::new(dst, 8080), &payload, T)
                    .unwrap_or_else(|e| panic!("tcp {what}: {e:#}"));
                let reply = udp_request(src, SocketAddr::new(dst, 9000), b"hello", T)
                    .unwrap_or_else(|e| panic!("udp {what}: {e:#}"));
                assert_eq!(reply, b"hello");
            }
        }
    }
}

#[test]
fn ping_to_nowhere_counts_nothing() {
    let plant = Plant::new(Names::unique("harness_noping")).expect("plant");
    let ns = &plant.host(Zone::Enterprise).ns;
    // An address of the dmz network where no host lives: the gateway forwards, nobody answers.
    let nobody = Zone::Dmz.addr(Family::V4, 99);
    assert_eq!(
        ping(ns, nobody, 1, Duration::from_millis(500)).expect("ping"),
        0
    );
    let err = udp_request(
        ns,
        SocketAddr::new(Zone::Dmz.host(Family::V4), 9999),
        b"x",
        Duration::from_millis(500),
    );
    assert!(err.is_err(), "no server on 9999, yet a reply");
}

#[test]
fn forged_and_spoofed_frames_are_delivered_without_xdp() {
    let plant = Plant::new(Names::unique("harness_forge")).expect("plant");
    let dmz = plant.host(Zone::Dmz);
    for family in Family::ALL {
        // A SYN-ACK "from" the control host's port 5020 that no connection asked for.
        let capture = PacketSocket::open(&dmz.ns, &dmz.ifname).expect("capture");
        let (src_mac, dst_mac) = plant.macs_to_gateway(Zone::Control).expect("macs");
        let ctl = plant.host(Zone::Control);
        let sender = PacketSocket::open(&ctl.ns, &ctl.ifname).expect("sender");
        let frame = build_frame(
            src_mac,
            dst_mac,
            Zone::Control.host(family),
            Zone::Dmz.host(family),
            &Transport::Tcp {
                src_port: 5020,
                dst_port: 40100,
                seq: 1000,
                ack: 2000,
                flags: tcp_flags::SYN | tcp_flags::ACK,
                payload: Vec::new(),
            },
        );
        sender.send(&frame).expect("send");
        let got = capture.capture(T, |p| p.src_port == 5020 && p.dst_port == 40100);
        let got = got.unwrap_or_else(|| panic!("forged SYN-ACK not forwarded ({family:?})"));
        assert_eq!(got.src, Zone::Control.host(family));
        assert_eq!(got.tcp_flags, tcp_flags::SYN | tcp_flags::ACK);

        // A UDP datagram from the enterprise host with a dmz source address.
        let peer = UdpPeer::bind(&dmz.ns, SocketAddr::new(dmz.addr(family), 9000)).expect("bind");
        let (src_mac, dst_mac) = plant.macs_to_gateway(Zone::Enterprise).expect("macs");
        let ent = plant.host(Zone::Enterprise);
        let sender = PacketSocket::open(&ent.ns, &ent.ifname).expect("sender");
        let spoofed = Zone::Dmz.addr(family, 77);
        sender
            .send(&build_frame(
                src_mac,
                dst_mac,
                spoofed,
                dmz.addr(family),
                &Transport::Udp {
                    src_port: 4444,
                    dst_port: 9000,
                    payload: b"spoofed".to_vec(),
                },
            ))
            .expect("send");
        let (from, data) = peer
            .recv_within(T)
            .expect("recv")
            .unwrap_or_else(|| panic!("spoofed datagram not forwarded ({family:?})"));
        assert_eq!(from, SocketAddr::new(spoofed, 4444));
        assert_eq!(data, b"spoofed");
    }
}

#[test]
fn guards_clean_up_on_drop_and_on_panic() {
    let names = Names::unique("harness_cleanup");
    let all: Vec<String> = ["gw", "ent", "dmz", "ctl"]
        .iter()
        .map(|r| names.netns(r))
        .collect();
    {
        let _plant = Plant::new(names.clone()).expect("plant");
        assert!(all.iter().all(|n| exists(n)), "namespaces were not created");
    }
    assert!(all.iter().all(|n| !exists(n)), "namespaces left after drop");

    let names = Names::unique("harness_panic");
    let all: Vec<String> = ["gw", "ent", "dmz", "ctl"]
        .iter()
        .map(|r| names.netns(r))
        .collect();
    let result = catch_unwind(AssertUnwindSafe(|| {
        let _plant = Plant::new(names.clone()).expect("plant");
        let lone = Netns::create(&names.netns("extra")).expect("netns");
        assert!(exists(lone.name()));
        panic!("a failing test");
    }));
    assert!(result.is_err());
    assert!(
        all.iter().all(|n| !exists(n)),
        "namespaces left after panic"
    );
    assert!(!exists(&names.netns("extra")));
}
