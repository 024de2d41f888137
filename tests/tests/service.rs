//! zcfw run like a production gateway service: reloads under continuous traffic, SIGKILL and
//! restart (fail closed, adoption without a gap), invalid policies on reload and at start,
//! island mode, per-source rate limits, several instances side by side, and `zcfw detach`
//! leaving nothing behind.
//!
//! Pinned state lives on a BPF filesystem mounted in the root mount namespace
//! ([`zcfw_harness::service::test_bpffs`]), one pin directory per test; every guard cleans
//! up on drop, also when a test fails.
//!
//! Traffic in every test, and what it proves:
//! - allowed: dmz → control udp/9000-9001 and tcp/5020, enterprise → dmz ICMP echo (and
//!   tcp/8080); policy "A" of the reload test also enterprise → dmz udp/7000-7001;
//! - denied: enterprise → control (no conduit at all), control → dmz.

use std::{
    collections::HashSet,
    net::{IpAddr, SocketAddr},
    path::Path,
    thread,
    time::{Duration, Instant},
};

use zcfw_harness::{
    Family, Names, Plant, XdpMode, Zone,
    daemon::has_xdp,
    netns::Netns,
    service::{
        Captured, Delivery, Live, PingStream, Sent, Service, Status, TcpFlow, UdpSink, UdpSource,
        XdpWatch, bpf_prog_ids, capture, now, tcp_retransmits,
    },
    traffic::{EchoServices, ping, tcp_connect, udp_request},
    zcfw_bin,
};

/// Allowed probes get this long.
const PASS: Duration = Duration::from_secs(3);
/// Denied probes are given up on after this long.
const DENY: Duration = Duration::from_secs(1);
/// The name of zcfw's XDP program (`bpftool prog show`).
const PROGRAM: &str = "zcfw_xdp";

/// The policy of these tests. `${NAME}`, `${XDP_MODE}` and `${IF_*}` are the plant's
/// placeholders; `${ENT_DMZ_EXTRA}` (more rules of enterprise → dmz) and
/// `${DMZ_CTL_EXTRA}` (more keys of the dmz → control conduit) are filled in here first.
const TEMPLATE: &str = r#"version: 1
name: ${NAME}
defaults: { action: deny, log: denied, mode: enforce }
interfaces:
  - { name: ${IF_ENTERPRISE}, zones: [enterprise], xdp_mode: ${XDP_MODE} }
  - { name: ${IF_DMZ}, zones: [dmz], xdp_mode: ${XDP_MODE} }
  - { name: ${IF_CONTROL}, zones: [control], xdp_mode: ${XDP_MODE} }
zones:
  enterprise: { security_level: 1, networks: [10.10.0.0/24, "fd00:10::/64"] }
  dmz: { security_level: 2, networks: [10.20.0.0/24, "fd00:20::/64"] }
  control: { security_level: 3, networks: [10.30.0.0/24, "fd00:30::/64"], intra_zone: allow }
conduits:
  - name: enterprise-to-dmz
    from: enterprise
    to: dmz
    rules:
      - { protocol: icmp, types: [echo-request] }
      - { protocol: icmpv6, types: [echo-request] }
      - { protocol: tcp, ports: [8080] }
${ENT_DMZ_EXTRA}
  - name: dmz-to-control
    from: dmz
    to: control
    rules:
      - { protocol: tcp, ports: [5020] }
      - { protocol: udp, ports: [9000, 9001] }
${DMZ_CTL_EXTRA}
"#;

/// The "second flow" that only policy A of the reload test allows.
const SECOND_FLOW: &str = "      - { protocol: udp, ports: [7000, 7001] }";

fn policy(plant: &Plant, name: &str, mode: XdpMode, ent_dmz: &str, dmz_ctl: &str) -> String {
    let t = TEMPLATE
        .replace("${ENT_DMZ_EXTRA}\n", &line(ent_dmz))
        .replace("${DMZ_CTL_EXTRA}\n", &line(dmz_ctl));
    plant.render_policy(&t, name, mode)
}

fn line(s: &str) -> String {
    if s.is_empty() {
        String::new()
    } else {
        format!("{s}\n")
    }
}

fn plant(test: &str) -> Plant {
    Plant::new(Names::unique(test)).unwrap_or_else(|e| panic!("building the plant: {e:#}"))
}

fn service<'a>(plant: &'a Plant, policy: &str) -> Service<'a> {
    let svc = Service::new(plant).unwrap_or_else(|e| panic!("{e:#}"));
    svc.write_policy(policy).expect("policy file");
    svc
}

/// Echo servers on every host (IPv4 and IPv6): UDP 9000 and 7000, TCP 5020 and 8080.
/// A pinned daemon with the test policy (no extra rules, native mode), started.
fn started<'a>(plant: &'a Plant, name: &str) -> Service<'a> {
    let mut svc = service(plant, &policy(plant, name, XdpMode::Native, "", ""));
    svc.start().unwrap_or_else(|e| panic!("{e:#}"));
    svc
}

fn echo_servers(plant: &Plant) -> Vec<EchoServices> {
    plant
        .hosts()
        .iter()
        .map(|h| {
            EchoServices::start(
                &h.ns,
                &[h.addr(Family::V4), h.addr(Family::V6)],
                &[5020, 8080],
                &[9000, 7000],
            )
            .expect("echo servers")
        })
        .collect()
}

/// The namespaces of the enterprise, dmz and control hosts.
fn hosts(plant: &Plant) -> (&Netns, &Netns, &Netns) {
    (
        &plant.host(Zone::Enterprise).ns,
        &plant.host(Zone::Dmz).ns,
        &plant.host(Zone::Control).ns,
    )
}

fn v4(zone: Zone) -> IpAddr {
    zone.host(Family::V4)
}

fn v6(zone: Zone) -> IpAddr {
    zone.host(Family::V6)
}

fn sa(ip: IpAddr, port: u16) -> SocketAddr {
    SocketAddr::new(ip, port)
}

/// Failed checks of a test, reported together at the end.
#[derive(Default)]
struct Checks {
    failures: Vec<String>,
}

impl Checks {
    fn check(&mut self, ok: bool, msg: impl FnOnce() -> String) {
        if !ok {
            let m = msg();
            eprintln!("FAILED: {m}");
            self.failures.push(m);
        }
    }

    /// A UDP request/reply from `from`'s host to `to`'s host `port` (IPv4) passes or not.
    fn udp(&mut self, plant: &Plant, when: &str, from: Zone, to: Zone, port: u16, pass: bool) {
        let dst = sa(v4(to), port);
        let got = udp_request(
            &plant.host(from).ns,
            dst,
            b"probe",
            if pass { PASS } else { DENY },
        );
        let what = format!("{when}: {from} → {to} udp/{port}");
        match (pass, got) {
            (true, Ok(r)) if r == b"probe" => {}
            (true, other) => self.check(false, || format!("{what} should pass: {other:?}")),
            (false, Ok(_)) => self.check(false, || format!("{what} should be denied, but passed")),
            (false, Err(_)) => {}
        }
    }

    fn finish(self, test: &str) {
        assert!(
            self.failures.is_empty(),
            "{test}: {} failed check(s):\n  {}",
            self.failures.len(),
            self.failures.join("\n  ")
        );
    }
}

fn status(svc: &Service) -> Status {
    svc.status()
        .unwrap_or_else(|e| panic!("zcfw status: {e:#}"))
}

fn stats(svc: &Service) -> zcfw_harness::Stats {
    svc.stats().unwrap_or_else(|e| panic!("zcfw stats: {e:#}"))
}

/// The id of the one program attached to every interface (all carry the same program).
fn attached_prog(svc: &Service) -> u32 {
    let ids = svc.xdp_prog_ids().expect("ip link");
    let first = ids[0].1;
    assert!(
        first.is_some() && ids.iter().all(|(_, id)| *id == first),
        "every gateway interface should carry the same XDP program: {ids:?}"
    );
    first.expect("checked")
}

/// Waits up to `timeout` until none of `ids` is a loaded program any more.
fn wait_programs_gone(ids: &[u32], timeout: Duration) -> Vec<u32> {
    let deadline = Instant::now() + timeout;
    loop {
        let loaded = bpf_prog_ids(PROGRAM).expect("bpftool");
        let left: Vec<u32> = ids.iter().copied().filter(|i| loaded.contains(i)).collect();
        if left.is_empty() || Instant::now() >= deadline {
            return left;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

// ---------------------------------------------------------------------------------------
// 1. Reloads under continuous traffic

/// The bound on allowed packets lost across the whole reload storm is ZERO. A reload writes
/// the new policy into the inactive generation and flips one index: a packet sees the old
/// policy or the new one, both of which allow these flows, and conntrack entries of the old
/// generation are re-judged (and kept) under the new one. Nothing else on the path drops
/// (veths, no qdisc limits reached at these rates, 4 MiB receive buffers in the sinks), so
/// any loss is a data-path bug, not noise.
const RELOADS: usize = 50;
/// Pause between reloads: a reload takes a few ms, so each policy stays live long enough
/// for a dozen datagrams of every stream.
const RELOAD_PAUSE: Duration = Duration::from_millis(100);

/// Whether a stream of `rate` per second sent at least 80% of what it should in `secs`.
fn enough(sent: u64, rate: u32, secs: f64) -> bool {
    sent as f64 >= f64::from(rate) * secs * 0.8
}

/// Which of the two policies.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Ab {
    A,
    B,
}

/// One reload: to which policy, when `zcfw reload` was spawned and when it returned.
struct Reload {
    to: Ab,
    spawned: Duration,
    returned: Duration,
    out: Captured,
    live: Option<Live>,
}

/// Which policy was certainly live at time `t`, if one was: from the return of a reload
/// (it returns once the policy is live) to the spawn of the next one.
fn live_at(initial: Ab, reloads: &[Reload], t: Duration) -> Option<Ab> {
    let mut current = Some(initial);
    for r in reloads {
        if t < r.spawned {
            return current;
        }
        if t < r.returned {
            return None; // in transition
        }
        current = Some(r.to);
    }
    current
}

fn reload_storm(mode: XdpMode) {
    let plant = plant(&format!("reload_{}", mode.as_str()));
    let (ent, dmz, ctl) = hosts(&plant);
    let name_a = format!("svc-reload-{}-a", mode.as_str());
    let name_b = format!("svc-reload-{}-b", mode.as_str());
    let a = policy(&plant, &name_a, mode, SECOND_FLOW, "");
    let b = policy(&plant, &name_b, mode, "", "");
    let mut svc = service(&plant, &a);
    let path_a = svc.write_file("a.yaml", &a).expect("a.yaml");
    let path_b = svc.write_file("b.yaml", &b).expect("b.yaml");
    svc.start().unwrap_or_else(|e| panic!("{e:#}"));
    let mut c = Checks::default();
    let gen0 = status(&svc).policy.generation;

    let _servers = echo_servers(&plant);
    let sink_ctl = UdpSink::start(ctl, sa(v4(Zone::Control), 9001)).expect("sink");
    let sink_ctl6 = UdpSink::start(ctl, sa(v6(Zone::Control), 9001)).expect("sink");
    let sink_dmz = UdpSink::start(dmz, sa(v4(Zone::Dmz), 7001)).expect("sink");
    let retrans_before = (
        tcp_retransmits(dmz).expect("snmp"),
        tcp_retransmits(ctl).expect("snmp"),
    );
    let before = stats(&svc);

    // Allowed by A and B.
    let udp4 =
        UdpSource::start(dmz, sa(v4(Zone::Dmz), 41000), sink_ctl.addr(), 200, None).expect("udp4");
    let udp6 =
        UdpSource::start(dmz, sa(v6(Zone::Dmz), 41000), sink_ctl6.addr(), 200, None).expect("udp6");
    let pings = PingStream::start(ent, v4(Zone::Dmz), 100).expect("ping");
    let tcp = TcpFlow::start(dmz, sa(v4(Zone::Control), 5020), 100).expect("tcp");
    // Allowed by A only.
    let second = UdpSource::start(
        ent,
        sa(v4(Zone::Enterprise), 41001),
        sink_dmz.addr(),
        200,
        None,
    )
    .expect("second");
    // Denied by both.
    let denied_ent = UdpSource::start(
        ent,
        sa(v4(Zone::Enterprise), 41002),
        sink_ctl.addr(),
        200,
        None,
    )
    .expect("denied");
    let denied_ctl = UdpSource::start(
        ctl,
        sa(v4(Zone::Control), 41003),
        sink_dmz.addr(),
        200,
        None,
    )
    .expect("denied");
    let started = now();
    thread::sleep(Duration::from_millis(300));

    let mut reloads: Vec<Reload> = Vec::new();
    for i in 0..RELOADS {
        let (to, path, name) = if i % 2 == 0 {
            (Ab::B, &path_b, &name_b)
        } else {
            (Ab::A, &path_a, &name_a)
        };
        let spawned = now();
        let out = svc
            .reload(Some(path))
            .unwrap_or_else(|e| panic!("zcfw reload: {e:#}"));
        let returned = now();
        let live = Live::parse(&out.stdout);
        let want_gen = gen0 + i as u64 + 1;
        c.check(
            out.success()
                && live
                    .as_ref()
                    .is_some_and(|l| &l.name == name && l.generation == want_gen),
            || {
                format!(
                    "reload {i} to {to:?}: expected exit 0 and `policy {name} ... is live: \
                     generation {want_gen}`, got {}",
                    out.output()
                )
            },
        );
        reloads.push(Reload {
            to,
            spawned,
            returned,
            out,
            live,
        });
        thread::sleep(RELOAD_PAUSE);
    }
    thread::sleep(Duration::from_millis(300));

    // Stop the senders, then give the last packets time to arrive.
    let secs = (now() - started).as_secs_f64();
    let sent4 = udp4.stop();
    let sent6 = udp6.stop();
    let sent_second = second.stop();
    let sent_denied_ent = denied_ent.stop();
    let sent_denied_ctl = denied_ctl.stop();
    let tcp_report = tcp.finish(Duration::from_secs(5));
    let (_, ping_delivery) = pings.stop(Duration::from_millis(300));
    thread::sleep(Duration::from_millis(200));
    let after = stats(&svc);
    let retrans_after = (
        tcp_retransmits(dmz).expect("snmp"),
        tcp_retransmits(ctl).expect("snmp"),
    );

    // Reload latency, as the daemon reports it and as `zcfw reload` takes end to end.
    let mut load: Vec<f64> = reloads
        .iter()
        .filter_map(|r| r.live.as_ref().map(|l| l.load_ms))
        .collect();
    let mut wall: Vec<f64> = reloads
        .iter()
        .map(|r| r.out.wall.as_secs_f64() * 1000.0)
        .collect();
    load.sort_by(f64::total_cmp);
    wall.sort_by(f64::total_cmp);
    println!(
        "[{}] {} reloads: daemon load time (ms) min {:.2} median {:.2} p95 {:.2} max {:.2}; \
         `zcfw reload` wall time (ms) min {:.1} median {:.1} p95 {:.1} max {:.1}",
        mode.as_str(),
        reloads.len(),
        load.first().copied().unwrap_or(f64::NAN),
        percentile(&load, 0.5),
        percentile(&load, 0.95),
        load.last().copied().unwrap_or(f64::NAN),
        wall.first().copied().unwrap_or(f64::NAN),
        percentile(&wall, 0.5),
        percentile(&wall, 0.95),
        wall.last().copied().unwrap_or(f64::NAN),
    );

    // Allowed by both policies: nothing lost.
    let d4 = Delivery::of(
        &sent4,
        sink_ctl.of(sent_id(&sink_ctl, 41000)).iter().map(|a| a.seq),
    );
    let d6 = Delivery::of(
        &sent6,
        sink_ctl6
            .of(sent_id(&sink_ctl6, 41000))
            .iter()
            .map(|a| a.seq),
    );
    println!(
        "[{}] during {RELOADS} reloads: udp4 {d4}; udp6 {d6}; ping {ping_delivery}; tcp {tcp_report}",
        mode.as_str()
    );
    for (what, d, rate) in [
        ("dmz → control udp/9001 IPv4", &d4, 200),
        ("dmz → control udp/9001 IPv6", &d6, 200),
        ("enterprise → dmz ICMP echo", &ping_delivery, 100),
    ] {
        c.check(
            enough(d.sent, rate, secs) && d.lost() == 0 && d.duplicates == 0,
            || format!("{what}, allowed by both policies: {d} in {secs:.1} s (bound: 0 lost)"),
        );
    }
    c.check(sent4.errors == 0 && sent6.errors == 0, || {
        format!(
            "send errors: {:?} {:?}",
            sent4.first_error, sent6.first_error
        )
    });
    let retrans = (
        retrans_after.0 - retrans_before.0,
        retrans_after.1 - retrans_before.1,
    );
    c.check(
        enough(tcp_report.sent, 100, secs)
            && tcp_report.echoed == tcp_report.sent
            && tcp_report.out_of_order == 0
            && tcp_report.clean_close
            && retrans == (0, 0),
        || {
            format!(
                "dmz → control tcp/5020, one connection across all reloads: {tcp_report}; \
                 retransmitted segments (dmz, control): {retrans:?} (a lost segment shows as one)"
            )
        },
    );

    // Allowed by A only: delivered while A was live, never while B was.
    let arrived: Vec<_> = sink_dmz.of(sent_id(&sink_dmz, 41001));
    let mut in_b = Vec::new();
    let (mut a_sent, mut a_lost, mut b_sent, mut transition) = (0, Vec::new(), 0, 0);
    let delivered: HashSet<u64> = arrived.iter().map(|a| a.seq).collect();
    for (seq, &t) in sent_second.times.iter().enumerate() {
        let seq = seq as u64;
        match live_at(Ab::A, &reloads, t) {
            Some(Ab::A) => {
                a_sent += 1;
                if !delivered.contains(&seq) {
                    a_lost.push((seq, t));
                }
            }
            Some(Ab::B) => {
                b_sent += 1;
                if delivered.contains(&seq) {
                    in_b.push((seq, t));
                }
            }
            None => transition += 1,
        }
    }
    println!(
        "[{}] enterprise → dmz udp/7001 (A only): {a_sent} sent while A was live, {} of them lost; \
         {b_sent} sent while B was live, {} of them delivered; {transition} sent during reloads",
        mode.as_str(),
        a_lost.len(),
        in_b.len()
    );
    c.check(
        enough(a_sent + b_sent + transition, 200, secs) && a_sent > 200 && b_sent > 200,
        || format!("too few datagrams of the second flow: {a_sent} under A, {b_sent} under B"),
    );
    c.check(in_b.is_empty(), || {
        format!(
            "enterprise → dmz udp/7001 was delivered while policy B (which denies it) was live: \
             {} datagrams, first (seq, sent at): {:?}",
            in_b.len(),
            &in_b[..in_b.len().min(10)]
        )
    });
    c.check(a_lost.is_empty(), || {
        format!(
            "enterprise → dmz udp/7001 lost while policy A (which allows it) was live: {} \
             datagrams, first (seq, sent at): {:?}; reloads (to, spawned, returned): {:?}",
            a_lost.len(),
            &a_lost[..a_lost.len().min(10)],
            reloads
                .iter()
                .map(|r| (r.to, r.spawned, r.returned))
                .take(6)
                .collect::<Vec<_>>()
        )
    });

    // Denied by both: never delivered.
    let leaked_ent = sink_ctl.of(sent_id(&sink_ctl, 41002)).len();
    let leaked_ctl = sink_dmz.of(sent_id(&sink_dmz, 41003)).len();
    c.check(
        leaked_ent == 0 && leaked_ctl == 0 && enough(sent_denied_ent.count(), 200, secs),
        || {
            format!(
                "denied by both policies, delivered anyway: enterprise → control udp/9001 \
                 {leaked_ent} of {}, control → dmz udp/7001 {leaked_ctl} of {}",
                sent_denied_ent.count(),
                sent_denied_ctl.count()
            )
        },
    );

    // The counters agree: denials only as default_deny, never "no policy loaded".
    let drops = after.drops_since(&before);
    c.check(drops.iter().all(|(r, _)| r == "default_deny"), || {
        format!("drops other than default_deny during the reloads: {drops:?}")
    });
    let st = status(&svc);
    c.check(
        st.policy.name == name_a && st.policy.generation == gen0 + RELOADS as u64,
        || format!("after the reloads: status {:?}", st.policy),
    );
    c.finish(&format!("reload storm ({})", mode.as_str()));
}

/// The stream id of the datagrams a sink got from source port `port` (each source has one
/// port and one id); 0 (matching nothing) if none arrived.
fn sent_id(sink: &UdpSink, port: u16) -> u32 {
    sink.arrivals()
        .iter()
        .find(|a| a.from.port() == port)
        .map_or(0, |a| a.stream)
}

#[test]
fn reloads_under_traffic_native() {
    reload_storm(XdpMode::Native);
}

#[test]
fn reloads_under_traffic_skb() {
    reload_storm(XdpMode::Skb);
}

// ---------------------------------------------------------------------------------------
// 2. SIGKILL, restart, detach

fn kill_restart_detach(mode: XdpMode) {
    let plant = plant(&format!("kill_{}", mode.as_str()));
    let (ent, dmz, ctl) = hosts(&plant);
    let name = format!("svc-kill-{}", mode.as_str());
    let mut svc = service(&plant, &policy(&plant, &name, mode, "", ""));
    svc.start().unwrap_or_else(|e| panic!("{e:#}"));
    let mut c = Checks::default();
    let first = status(&svc);
    c.check(
        first.pin_dir.as_deref() == Some(&*svc.pin_dir().to_string_lossy()),
        || {
            format!(
                "status pin_dir {:?}, expected {}",
                first.pin_dir,
                svc.pin_dir().display()
            )
        },
    );
    let prog1 = attached_prog(&svc);

    let _servers = echo_servers(&plant);
    let sink = UdpSink::start(ctl, sa(v4(Zone::Control), 9001)).expect("sink");
    let udp = UdpSource::start(dmz, sa(v4(Zone::Dmz), 41000), sink.addr(), 200, None).expect("udp");
    let denied = UdpSource::start(ent, sa(v4(Zone::Enterprise), 41002), sink.addr(), 200, None)
        .expect("denied");
    let pings = PingStream::start(ent, v4(Zone::Dmz), 100).expect("ping");
    let tcp = TcpFlow::start(dmz, sa(v4(Zone::Control), 5020), 100).expect("tcp");
    let watch = XdpWatch::start(plant.gateway(), &plant.gateway_interfaces()).expect("watch");
    thread::sleep(Duration::from_millis(300));
    let before_kill = stats(&svc);

    // SIGKILL: no chance to clean up. The pinned links keep the program attached.
    let t_kill = now();
    svc.kill().expect("SIGKILL");
    let echoed_at_kill = tcp.echoed();
    thread::sleep(Duration::from_secs(1));
    let t_dead = now();
    for (ifname, id) in svc.xdp_prog_ids().expect("ip link") {
        c.check(id == Some(prog1), || {
            format!("{ifname} after SIGKILL: XDP program {id:?}, expected {prog1} still attached")
        });
    }
    let link_dir = svc.pin_dir().join("links").join(mode.as_str());
    for ifname in plant.gateway_interfaces() {
        c.check(link_dir.join(&ifname).exists(), || {
            format!(
                "no pinned link {} after SIGKILL",
                link_dir.join(&ifname).display()
            )
        });
    }
    c.check(tcp.echoed() > echoed_at_kill + 50, || {
        format!(
            "the established TCP connection made no progress with the daemon dead: {} → {}",
            echoed_at_kill,
            tcp.echoed()
        )
    });
    c.udp(
        &plant,
        "daemon killed",
        Zone::Dmz,
        Zone::Control,
        9000,
        true,
    );
    c.udp(
        &plant,
        "daemon killed",
        Zone::Enterprise,
        Zone::Control,
        9000,
        false,
    );
    c.udp(
        &plant,
        "daemon killed",
        Zone::Control,
        Zone::Dmz,
        9000,
        false,
    );

    // Restart with the same pin dir: adopts the maps, swaps its program into the links.
    let t_restart = now();
    svc.start().unwrap_or_else(|e| panic!("restart: {e:#}"));
    let t_ready = now();
    let second = status(&svc);
    c.check(
        second.policy.generation == first.policy.generation + 1
            && second.policy.name == name
            && second.policy.hash == first.policy.hash,
        || {
            format!(
                "after the restart: status {:?}; before the kill: {:?} (generation should continue)",
                second.policy, first.policy
            )
        },
    );
    let prog2 = attached_prog(&svc);
    c.check(prog2 != prog1, || {
        format!("the restarted daemon did not swap its program into the links (still {prog1})")
    });
    let left = wait_programs_gone(&[prog1], Duration::from_secs(3));
    c.check(left.is_empty(), || {
        format!("the killed daemon's program {prog1} is still loaded after the swap")
    });
    let after_restart = stats(&svc);
    c.check(
        after_restart.reason("allowed_conntrack") >= before_kill.reason("allowed_conntrack")
            && after_restart.reason("default_deny") >= before_kill.reason("default_deny"),
        || {
            format!(
                "counters were not adopted: allowed_conntrack {} → {}, default_deny {} → {}",
                before_kill.reason("allowed_conntrack"),
                after_restart.reason("allowed_conntrack"),
                before_kill.reason("default_deny"),
                after_restart.reason("default_deny")
            )
        },
    );
    thread::sleep(Duration::from_millis(300));

    let samples = watch.stop();
    let sent = udp.stop();
    let sent_denied = denied.stop();
    let tcp_report = tcp.finish(Duration::from_secs(5));
    let (_, ping_delivery) = pings.stop(Duration::from_millis(300));
    thread::sleep(Duration::from_millis(100));
    let udp_id = sent_id(&sink, 41000);
    let d = Delivery::of(&sent, sink.of(udp_id).iter().map(|a| a.seq));
    let across_kill = sink
        .of(udp_id)
        .iter()
        .filter(|a| a.sent > t_kill && a.sent < t_dead)
        .count();
    let across_restart = sink
        .of(udp_id)
        .iter()
        .filter(|a| a.sent > t_restart && a.sent < t_ready)
        .count();
    println!(
        "[{}] kill + restart: udp {d} ({across_kill} sent while the daemon was dead, \
         {across_restart} while the new one started, {:?}); ping {ping_delivery}; tcp {tcp_report}; \
         xdp watch: {} samples, programs {:?}",
        mode.as_str(),
        t_ready - t_restart,
        samples.samples,
        samples.prog_ids
    );
    c.check(
        d.lost() == 0 && across_kill > 100 && across_restart > 0,
        || format!("dmz → control udp/9001 across SIGKILL and restart: {d}"),
    );
    c.check(ping_delivery.lost() == 0, || {
        format!("enterprise → dmz ICMP echo across SIGKILL and restart: {ping_delivery}")
    });
    c.check(
        tcp_report.echoed == tcp_report.sent
            && tcp_report.out_of_order == 0
            && tcp_report.clean_close,
        || format!("dmz → control tcp/5020 across SIGKILL and restart: {tcp_report}"),
    );
    let leaked = sink.of(sent_id(&sink, 41002)).len();
    c.check(leaked == 0 && sent_denied.count() > 200, || {
        format!(
            "enterprise → control udp/9001 (denied) delivered {leaked} of {} across SIGKILL and restart",
            sent_denied.count()
        )
    });
    c.check(samples.gaps.is_empty() && samples.samples > 10, || {
        format!(
            "XDP gaps seen by `ip -d link` ({} samples): {:?}; errors {:?}",
            samples.samples,
            &samples.gaps[..samples.gaps.len().min(10)],
            samples.errors
        )
    });
    c.check(samples.prog_ids == vec![prog1, prog2], || {
        format!(
            "programs seen on the links: {:?}, expected [{prog1}, {prog2}]",
            samples.prog_ids
        )
    });

    // SIGTERM: exits 0, still attached (fail closed).
    let code = svc.terminate().expect("SIGTERM");
    c.check(code.success(), || {
        format!("zcfw exited with {code} after SIGTERM")
    });
    c.check(
        svc.xdp_prog_ids()
            .expect("ip link")
            .iter()
            .all(|(_, id)| *id == Some(prog2)),
        || "XDP not attached after SIGTERM".to_string(),
    );
    c.udp(
        &plant,
        "after SIGTERM",
        Zone::Enterprise,
        Zone::Control,
        9000,
        false,
    );

    // Detach: nothing left.
    let out = svc.detach().expect("zcfw detach");
    c.check(out.success(), || format!("zcfw detach: {}", out.output()));
    for ifname in plant.gateway_interfaces() {
        let details = plant.gateway().link_details(&ifname).expect("ip link");
        c.check(!has_xdp(&details), || {
            format!("XDP still on {ifname} after detach:\n{details}")
        });
    }
    c.check(!svc.pin_dir().exists(), || {
        format!("{} still exists after detach", svc.pin_dir().display())
    });
    let left = wait_programs_gone(&[prog1, prog2], Duration::from_secs(3));
    c.check(left.is_empty(), || {
        format!("programs {left:?} of this test still loaded after detach (bpftool prog show)")
    });
    // And the gateway routes everything again.
    c.udp(
        &plant,
        "after detach",
        Zone::Enterprise,
        Zone::Control,
        9000,
        true,
    );
    c.finish(&format!("kill/restart/detach ({})", mode.as_str()));
}

#[test]
fn sigkill_fails_closed_restart_adopts_detach_cleans_native() {
    kill_restart_detach(XdpMode::Native);
}

#[test]
fn sigkill_fails_closed_restart_adopts_detach_cleans_skb() {
    kill_restart_detach(XdpMode::Skb);
}

// ---------------------------------------------------------------------------------------
// 3. and 4. Invalid policies

/// `text` with `from` replaced by `to`, and the 1-based line and column in it of `mark`
/// (the offending value, part of `to`).
fn broken(text: &str, from: &str, to: &str, mark: &str) -> (String, usize, usize) {
    let out = text.replacen(from, to, 1);
    let at = out.find(to).expect("replaced") + to.find(mark).expect("mark is part of `to`");
    let line = out[..at].matches('\n').count() + 1;
    let col = at - out[..at].rfind('\n').map_or(0, |i| i + 1) + 1;
    (out, line, col)
}

/// Whether diagnostics name `file:line:col` (or, with `line` 0, `file:` followed by a
/// line and column).
fn names_position(diag: &str, file: &Path, line: usize, col: usize) -> bool {
    let file = file.display().to_string();
    if line > 0 {
        return diag.contains(&format!("{file}:{line}:{col}"));
    }
    diag.match_indices(&format!("{file}:")).any(|(i, m)| {
        let rest = &diag[i + m.len()..];
        let mut parts = rest.splitn(3, ':');
        let l = parts.next().unwrap_or_default();
        let c = parts.next().unwrap_or_default();
        !l.is_empty()
            && l.chars().all(|ch| ch.is_ascii_digit())
            && !c.is_empty()
            && c.chars().all(|ch| ch.is_ascii_digit())
    })
}

/// The invalid variants of `good`: (what, text, line, col); line 0: any position.
fn invalid_variants(good: &str) -> Vec<(&'static str, String, usize, usize)> {
    let (cidr, l1, c1) = broken(good, "10.30.0.0/24", "10.30.0.0/40", "10.30.0.0/40");
    let (zone, l2, c2) = broken(good, "to: control", "to: kontrol", "kontrol");
    let (yaml, _, _) = broken(good, "ports: [5020] }", "ports: [5020 }", "}");
    vec![
        ("a bad network", cidr, l1, c1),
        ("a conduit to an unknown zone", zone, l2, c2),
        ("a YAML syntax error", yaml, 0, 0),
    ]
}

#[test]
fn invalid_policy_on_reload_is_refused_and_the_old_one_stays() {
    let plant = plant("bad_reload");
    let good = policy(&plant, "svc-bad-reload", XdpMode::Native, "", "");
    let mut svc = service(&plant, &good);
    svc.start().unwrap_or_else(|e| panic!("{e:#}"));
    let _servers = echo_servers(&plant);
    let mut c = Checks::default();
    let st0 = status(&svc);
    let prog = attached_prog(&svc);
    c.udp(&plant, "good policy", Zone::Dmz, Zone::Control, 9000, true);
    c.udp(
        &plant,
        "good policy",
        Zone::Enterprise,
        Zone::Control,
        9000,
        false,
    );

    for (i, (what, text, line, col)) in invalid_variants(&good).into_iter().enumerate() {
        let file = svc
            .write_file(&format!("bad-{i}.yaml"), &text)
            .expect("write");
        let out = svc.reload(Some(&file)).expect("zcfw reload");
        c.check(
            out.code == Some(1)
                && names_position(&out.stderr, &file, line, col)
                && out.stderr.contains("reload refused")
                && !out.stdout.contains("is live"),
            || {
                format!(
                    "reload to a policy with {what}: expected exit 1 with diagnostics naming \
                     {}:{line}:{col}, got {}",
                    file.display(),
                    out.output()
                )
            },
        );
        let st = status(&svc);
        c.check(
            st.policy.generation == st0.policy.generation
                && st.policy.hash == st0.policy.hash
                && st.policy.path == st0.policy.path,
            || {
                format!(
                    "after the refused reload ({what}): status {:?}, before {:?}",
                    st.policy, st0.policy
                )
            },
        );
        let when = format!("after the refused reload ({what})");
        c.udp(&plant, &when, Zone::Dmz, Zone::Control, 9000, true);
        c.udp(&plant, &when, Zone::Enterprise, Zone::Control, 9000, false);
        c.udp(&plant, &when, Zone::Control, Zone::Dmz, 9000, false);
        match ping(&plant.host(Zone::Enterprise).ns, v4(Zone::Dmz), 1, PASS) {
            Ok(1) => {}
            other => c.check(false, || {
                format!("{when}: enterprise → dmz ping: {other:?}")
            }),
        }
    }
    c.check(attached_prog(&svc) == prog, || {
        "the XDP program changed".into()
    });

    // SIGHUP re-reads the policy file: broken, it is refused; fixed, it goes live.
    let (bad, _, _) = broken(&good, "10.30.0.0/24", "10.30.0.0/40", "10.30.0.0/40");
    svc.write_policy(&bad).expect("write");
    svc.sighup().expect("SIGHUP");
    thread::sleep(Duration::from_millis(500));
    let st = status(&svc);
    c.check(
        st.policy.generation == st0.policy.generation && svc.is_running(),
        || {
            format!(
                "SIGHUP with a broken policy file: status {:?}, running {}",
                st.policy,
                svc.is_running()
            )
        },
    );
    c.check(svc.log().contains("reload refused"), || {
        format!(
            "SIGHUP with a broken file: nothing in the log:\n{}",
            svc.log_tail(20)
        )
    });
    c.udp(
        &plant,
        "after a refused SIGHUP",
        Zone::Dmz,
        Zone::Control,
        9000,
        true,
    );
    c.udp(
        &plant,
        "after a refused SIGHUP",
        Zone::Enterprise,
        Zone::Control,
        9000,
        false,
    );
    let fixed = policy(
        &plant,
        "svc-bad-reload-fixed",
        XdpMode::Native,
        "",
        "",
    )
    .replace(
        "  - name: dmz-to-control",
        "  - name: enterprise-to-control\n    from: enterprise\n    to: control\n    rules:\n      - { protocol: udp, ports: [9000] }\n  - name: dmz-to-control",
    );
    svc.write_policy(&fixed).expect("write");
    svc.sighup().expect("SIGHUP");
    let deadline = Instant::now() + Duration::from_secs(5);
    while status(&svc).policy.generation == st0.policy.generation && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    let st = status(&svc);
    c.check(
        st.policy.generation == st0.policy.generation + 1
            && st.policy.name == "svc-bad-reload-fixed",
        || format!("SIGHUP with a fixed policy file: status {:?}", st.policy),
    );
    c.udp(
        &plant,
        "after SIGHUP with the fixed file",
        Zone::Enterprise,
        Zone::Control,
        9000,
        true,
    );
    c.finish("invalid policy on reload");
}

#[test]
fn invalid_policy_at_start_keeps_the_pinned_policy() {
    let plant = plant("bad_start");
    let good = policy(&plant, "svc-bad-start", XdpMode::Native, "", "");
    let mut svc = service(&plant, &good);
    svc.start().unwrap_or_else(|e| panic!("{e:#}"));
    let _servers = echo_servers(&plant);
    let mut c = Checks::default();
    let st0 = status(&svc);
    let prog = attached_prog(&svc);
    let code = svc.terminate().expect("SIGTERM");
    c.check(code.success(), || {
        format!("zcfw exited with {code} after SIGTERM")
    });
    c.udp(
        &plant,
        "daemon stopped",
        Zone::Dmz,
        Zone::Control,
        9000,
        true,
    );
    c.udp(
        &plant,
        "daemon stopped",
        Zone::Enterprise,
        Zone::Control,
        9000,
        false,
    );

    for (what, text, line, col) in invalid_variants(&good) {
        let file = svc.write_policy(&text).expect("write");
        let (code, log) = svc
            .run_to_exit(Duration::from_secs(20))
            .unwrap_or_else(|e| panic!("zcfw run with {what}: {e:#}"));
        c.check(
            code.code() == Some(1)
                && names_position(&log, &file, line, col)
                && log.contains("previously loaded policy stays enforced"),
            || {
                format!(
                    "zcfw run with {what} over existing pins: expected exit 1, diagnostics naming \
                     {}:{line}:{col} and that the previous policy stays; got {code}, log:\n{log}",
                    file.display()
                )
            },
        );
        for (ifname, id) in svc.xdp_prog_ids().expect("ip link") {
            c.check(id == Some(prog), || {
                format!(
                    "{ifname} after the refused start ({what}): program {id:?}, expected {prog}"
                )
            });
        }
        let when = format!("after the refused start ({what})");
        c.udp(&plant, &when, Zone::Dmz, Zone::Control, 9000, true);
        c.udp(&plant, &when, Zone::Enterprise, Zone::Control, 9000, false);
        c.udp(&plant, &when, Zone::Control, Zone::Dmz, 9000, false);
    }

    // A valid policy again: the daemon starts, adopts, and the generation continues.
    svc.write_policy(&good).expect("write");
    svc.start().unwrap_or_else(|e| panic!("{e:#}"));
    let st = status(&svc);
    c.check(
        st.policy.generation == st0.policy.generation + 1 && st.policy.hash == st0.policy.hash,
        || {
            format!(
                "after the refused starts, a good one: status {:?}, first {:?}",
                st.policy, st0.policy
            )
        },
    );
    c.udp(&plant, "restarted", Zone::Dmz, Zone::Control, 9000, true);
    c.udp(
        &plant,
        "restarted",
        Zone::Enterprise,
        Zone::Control,
        9000,
        false,
    );
    c.finish("invalid policy at start");
}

// ---------------------------------------------------------------------------------------
// 5. Island mode

/// A sequence number and when it was sent.
type Stamped = (u64, Duration);

/// An island-mode period: when `zcfw island on` was spawned and returned, and when
/// `zcfw island off` was spawned and returned.
#[derive(Clone, Copy, Debug)]
struct IslandWindow {
    on_spawned: Duration,
    on_returned: Duration,
    off_spawned: Duration,
    off_returned: Duration,
}

/// Echo requests sent while island mode was certainly on that got replies, and requests
/// sent while it was certainly off (`margin` away from any switch) that did not, as
/// (seq, sent at).
fn ping_windows(
    sent: &Sent,
    replied: &HashSet<u64>,
    windows: &[IslandWindow],
    margin: Duration,
) -> (Vec<Stamped>, Vec<Stamped>) {
    let (mut leaked, mut lost) = (Vec::new(), Vec::new());
    for (seq, &t) in sent.times.iter().enumerate() {
        let seq = seq as u64;
        let on = windows
            .iter()
            .any(|w| t >= w.on_returned && t <= w.off_spawned);
        let near = windows
            .iter()
            .any(|w| t + margin >= w.on_spawned && t <= w.off_returned + margin);
        if on && replied.contains(&seq) {
            leaked.push((seq, t));
        }
        if !near && !replied.contains(&seq) {
            lost.push((seq, t));
        }
    }
    (leaked, lost)
}

#[test]
fn island_mode_stops_crossing_traffic_and_survives_a_restart() {
    let plant = plant("island");
    let (ent, dmz, ctl) = hosts(&plant);
    let mut svc = started(&plant, "svc-island");
    let _servers = echo_servers(&plant);
    let mut c = Checks::default();

    let tcp = TcpFlow::start(dmz, sa(v4(Zone::Control), 5020), 50).expect("tcp");
    // Crossing zones: enterprise → dmz. Inside a zone: control host → the gateway's control
    // address (control has `intra_zone: allow`).
    let crossing = PingStream::start(ent, v4(Zone::Dmz), 50).expect("ping");
    let intra = PingStream::start(ctl, Zone::Control.gateway(Family::V4), 50).expect("ping");
    thread::sleep(Duration::from_millis(500));
    c.check(tcp.echoed() > 10, || {
        format!("the TCP flow did not get going: {}", tcp.echoed())
    });
    let before = stats(&svc);

    let mut windows = Vec::new();
    // (spawned, returned) of `zcfw island on|off`, checked against `zcfw status`.
    let island = |svc: &Service, c: &mut Checks, on: bool| -> (Duration, Duration) {
        let spawned = now();
        svc.island(on).unwrap_or_else(|e| panic!("{e:#}"));
        let returned = now();
        let st = status(svc);
        c.check(st.island == on, || {
            format!("status says island {} after `island {on}`", st.island)
        });
        (spawned, returned)
    };
    let window = |on: (Duration, Duration), off: (Duration, Duration)| IslandWindow {
        on_spawned: on.0,
        on_returned: on.1,
        off_spawned: off.0,
        off_returned: off.1,
    };

    // On: the established connection stalls, new connections and datagrams fail.
    let on = island(&svc, &mut c, true);
    thread::sleep(Duration::from_millis(100));
    let stalled_at = tcp.echoed();
    c.udp(&plant, "island on", Zone::Dmz, Zone::Control, 9000, false);
    let connect = tcp_connect(dmz, None, sa(v4(Zone::Control), 5020), DENY);
    c.check(connect.is_err(), || {
        "island on: a new dmz → control TCP connection opened".into()
    });
    drop(connect);
    c.check(tcp.echoed() == stalled_at, || {
        format!(
            "island on: the established TCP connection kept flowing ({} → {} records)",
            stalled_at,
            tcp.echoed()
        )
    });
    let mid = stats(&svc);
    c.check(
        mid.reason("island_mode") > before.reason("island_mode"),
        || {
            format!(
                "island on: nothing counted as island_mode: {:?}",
                mid.drops_since(&before)
            )
        },
    );
    let off = island(&svc, &mut c, false);
    windows.push(window(on, off));
    // Off: the same connection resumes (its conntrack entry was kept), new traffic passes.
    c.check(
        tcp.wait_echoed_beyond(stalled_at, Duration::from_secs(10)),
        || "island off: the established TCP connection did not resume".into(),
    );
    c.udp(&plant, "island off", Zone::Dmz, Zone::Control, 9000, true);
    c.udp(
        &plant,
        "island off",
        Zone::Enterprise,
        Zone::Control,
        9000,
        false,
    );

    // On again, then restart the daemon: island mode is pinned state and survives.
    let on = island(&svc, &mut c, true);
    let code = svc.terminate().expect("SIGTERM");
    c.check(code.success(), || {
        format!("zcfw exited with {code} after SIGTERM")
    });
    c.udp(
        &plant,
        "island on, daemon stopped",
        Zone::Dmz,
        Zone::Control,
        9000,
        false,
    );
    svc.start().unwrap_or_else(|e| panic!("restart: {e:#}"));
    let st = status(&svc);
    c.check(st.island, || {
        "island mode did not survive the restart (status)".into()
    });
    thread::sleep(Duration::from_millis(100));
    let stalled_at = tcp.echoed();
    c.udp(
        &plant,
        "island on, restarted",
        Zone::Dmz,
        Zone::Control,
        9000,
        false,
    );
    c.check(tcp.echoed() == stalled_at, || {
        "island on after the restart: the established TCP connection flows".into()
    });
    let off = island(&svc, &mut c, false);
    windows.push(window(on, off));
    c.check(
        tcp.wait_echoed_beyond(stalled_at, Duration::from_secs(15)),
        || "island off after the restart: the established TCP connection did not resume".into(),
    );
    c.udp(
        &plant,
        "island off after the restart",
        Zone::Dmz,
        Zone::Control,
        9000,
        true,
    );
    thread::sleep(Duration::from_millis(300));

    let report = tcp.finish(Duration::from_secs(15));
    let (crossing_sent, replied) = crossing.stop_replies(Duration::from_millis(300));
    let crossing_d: HashSet<u64> = replied.iter().map(|&s| u64::from(s)).collect();
    let (intra_sent, intra_d) = intra.stop(Duration::from_millis(300));
    let (leaked, lost) = ping_windows(
        &crossing_sent,
        &crossing_d,
        &windows,
        Duration::from_millis(20),
    );
    println!(
        "island: tcp {report}; enterprise → dmz pings: {} sent, {} replied inside island windows, \
         {} unanswered outside them; control → gateway pings: {intra_d}",
        crossing_sent.count(),
        leaked.len(),
        lost.len()
    );
    c.check(leaked.is_empty(), || {
        format!("enterprise → dmz echo requests answered during island mode: {leaked:?}")
    });
    c.check(lost.is_empty(), || {
        format!("enterprise → dmz echo requests unanswered outside island mode: {lost:?}")
    });
    c.check(intra_d.lost() == 0 && intra_sent.count() > 100, || {
        format!("control → gateway (inside the zone) pings lost during island mode: {intra_d}")
    });
    c.check(
        report.echoed == report.sent && report.out_of_order == 0 && report.clean_close,
        || format!("the TCP connection across island on/off: {report}"),
    );
    c.finish("island mode");
}

// ---------------------------------------------------------------------------------------
// 6. Rate limits

#[test]
fn rate_limit_per_source_holds_the_configured_rate() {
    const PPS: u32 = 50;
    const BURST: u32 = 10;
    const SEND_PPS: u32 = 500;
    const SECONDS: u32 = 4;
    let plant = plant("rate_limit");
    let (ent, dmz, ctl) = hosts(&plant);
    let text = policy(
        &plant,
        "svc-rate-limit",
        XdpMode::Native,
        "",
        &format!("    rate_limit: {{ pps: {PPS}, burst: {BURST} }}"),
    );
    let svc = service(&plant, &text);
    let check = capture(
        std::process::Command::new(zcfw_bin().expect("zcfw"))
            .arg("check")
            .arg(svc.policy_path()),
        Duration::from_secs(10),
    )
    .expect("zcfw check");
    assert!(
        check.success(),
        "BLOCKED: the policy validator refuses `rate_limit` on a conduit, so the rate limit \
         cannot be configured:\n{}",
        check.output()
    );
    let mut svc = svc;
    svc.start().unwrap_or_else(|e| panic!("{e:#}"));
    let mut c = Checks::default();
    // A second source in the dmz: its own token bucket.
    dmz.ip(&[
        "addr",
        "add",
        "10.20.0.3/24",
        "dev",
        &plant.host(Zone::Dmz).ifname,
    ])
    .expect("second address");
    let src2: IpAddr = "10.20.0.3".parse().expect("addr");
    let sink = UdpSink::start(ctl, sa(v4(Zone::Control), 9001)).expect("sink");
    let before = stats(&svc);
    let count = u64::from(SEND_PPS * SECONDS);
    let s1 = UdpSource::start(
        dmz,
        sa(v4(Zone::Dmz), 42000),
        sink.addr(),
        SEND_PPS,
        Some(count),
    )
    .expect("source 1");
    let s2 = UdpSource::start(dmz, sa(src2, 42001), sink.addr(), SEND_PPS, Some(count))
        .expect("source 2");
    // Another conduit, without a rate limit, is not affected.
    let pings = PingStream::start(ent, v4(Zone::Dmz), 200).expect("ping");
    let (id1, id2) = (s1.id(), s2.id());
    let sent1 = s1.wait();
    let sent2 = s2.wait();
    let (_, ping_d) = pings.stop(Duration::from_millis(300));
    thread::sleep(Duration::from_millis(200));
    let after = stats(&svc);
    let mut total_delivered = 0;
    for (what, id, sent) in [("10.20.0.2", id1, &sent1), ("10.20.0.3", id2, &sent2)] {
        let got = sink.of(id).len() as f64;
        total_delivered += got as u64;
        let span = match (sent.times.first(), sent.times.last()) {
            (Some(a), Some(b)) => (*b - *a).as_secs_f64(),
            _ => 0.0,
        };
        let expected = f64::from(PPS) * span + f64::from(BURST);
        println!(
            "rate limit {PPS} pps, burst {BURST}: source {what} sent {} in {span:.2} s, {got} delivered \
             (expected {expected:.0} ± 25%)",
            sent.count()
        );
        c.check(
            sent.count() == count && (got - expected).abs() <= expected * 0.25,
            || {
                format!(
                    "source {what}: {got} of {} datagrams delivered in {span:.2} s, expected \
                     {expected:.0} ± 25% ({PPS} pps × {span:.2} s + burst {BURST})",
                    sent.count()
                )
            },
        );
    }
    let limited = after.reason("rate_limited") - before.reason("rate_limited");
    let dropped = sent1.count() + sent2.count() - total_delivered;
    c.check(limited.abs_diff(dropped) <= dropped / 20 + 5, || {
        format!("{dropped} datagrams did not arrive, but rate_limited counted {limited}")
    });
    c.check(ping_d.lost() == 0, || {
        format!("enterprise → dmz pings (no rate limit on that conduit): {ping_d}")
    });
    c.finish("rate limit");
}

// ---------------------------------------------------------------------------------------
// 7. Several instances

#[test]
fn parallel_instances_do_not_collide_and_a_restart_loads_the_changed_policy() {
    let plant1 = plant("parallel_1");
    let plant2 = plant("parallel_2");
    // Instance 1 denies enterprise → control; instance 2 allows it.
    let p1 = policy(&plant1, "svc-parallel-1", XdpMode::Native, "", "");
    let ent_ctl = "  - name: enterprise-to-control\n    from: enterprise\n    to: control\n    rules:\n      - { protocol: udp, ports: [9000] }\n  - name: dmz-to-control";
    let p2 = policy(&plant2, "svc-parallel-2", XdpMode::Skb, "", "")
        .replace("  - name: dmz-to-control", ent_ctl);
    let mut svc1 = service(&plant1, &p1);
    let mut svc2 = service(&plant2, &p2);
    svc1.start().unwrap_or_else(|e| panic!("{e:#}"));
    svc2.start().unwrap_or_else(|e| panic!("{e:#}"));
    let _servers1 = echo_servers(&plant1);
    let _servers2 = echo_servers(&plant2);
    let mut c = Checks::default();
    c.check(
        svc1.pin_dir() != svc2.pin_dir() && svc1.socket() != svc2.socket(),
        || "both instances share a pin dir or socket".into(),
    );
    let (s1, s2) = (status(&svc1), status(&svc2));
    c.check(
        s1.policy.name == "svc-parallel-1"
            && s2.policy.name == "svc-parallel-2"
            && s1
                .interfaces
                .iter()
                .map(|i| &i.name)
                .eq(plant1.gateway_interfaces().iter())
            && s2
                .interfaces
                .iter()
                .map(|i| &i.name)
                .eq(plant2.gateway_interfaces().iter())
            && s1.pin_dir.as_deref() == Some(&*svc1.pin_dir().to_string_lossy())
            && s2.pin_dir.as_deref() == Some(&*svc2.pin_dir().to_string_lossy()),
        || format!("statuses mixed up:\n{s1:?}\n{s2:?}"),
    );
    c.check(
        s2.interfaces.iter().all(|i| i.xdp_mode == "skb")
            && s1.interfaces.iter().all(|i| i.xdp_mode == "native"),
        || format!("xdp modes: {s1:?} {s2:?}"),
    );
    c.udp(
        &plant1,
        "instance 1",
        Zone::Enterprise,
        Zone::Control,
        9000,
        false,
    );
    c.udp(
        &plant2,
        "instance 2",
        Zone::Enterprise,
        Zone::Control,
        9000,
        true,
    );
    c.udp(&plant1, "instance 1", Zone::Dmz, Zone::Control, 9000, true);
    c.udp(&plant2, "instance 2", Zone::Dmz, Zone::Control, 9000, true);

    // Reloading and islanding one leaves the other alone.
    let out = svc1.reload(None).expect("reload");
    c.check(out.success(), || {
        format!("reload of instance 1: {}", out.output())
    });
    svc1.island(true).expect("island");
    let s2b = status(&svc2);
    c.check(
        s2b.policy.generation == s2.policy.generation && !s2b.island,
        || format!("instance 2 changed when instance 1 was reloaded and islanded: {s2b:?}"),
    );
    c.udp(
        &plant2,
        "instance 1 in island mode",
        Zone::Dmz,
        Zone::Control,
        9000,
        true,
    );
    c.udp(
        &plant1,
        "instance 1 in island mode",
        Zone::Dmz,
        Zone::Control,
        9000,
        false,
    );
    svc1.island(false).expect("island");

    // Instance 1 stopped; its policy changed meanwhile; started again: the new one is live.
    let code = svc1.terminate().expect("SIGTERM");
    c.check(code.success(), || format!("instance 1 exited with {code}"));
    let p1b = p1
        .replace("name: svc-parallel-1", "name: svc-parallel-1-changed")
        .replace("  - name: dmz-to-control", ent_ctl);
    svc1.write_policy(&p1b).expect("write");
    c.udp(
        &plant1,
        "instance 1 down, policy file changed",
        Zone::Enterprise,
        Zone::Control,
        9000,
        false,
    );
    let gen_before = status(&svc2).policy.generation;
    svc1.start().unwrap_or_else(|e| panic!("{e:#}"));
    let s1c = status(&svc1);
    c.check(
        s1c.policy.name == "svc-parallel-1-changed"
            && s1c.policy.hash != s1.policy.hash
            && s1c.policy.generation == s1.policy.generation + 2,
        || {
            format!(
                "instance 1 restarted with a changed policy: status {:?}, before {:?}",
                s1c.policy, s1.policy
            )
        },
    );
    c.udp(
        &plant1,
        "instance 1 restarted with the changed policy",
        Zone::Enterprise,
        Zone::Control,
        9000,
        true,
    );
    c.check(status(&svc2).policy.generation == gen_before, || {
        "instance 2 changed when instance 1 restarted".into()
    });

    // Instance 2 killed and detached: instance 1 keeps enforcing.
    svc2.kill().expect("SIGKILL");
    let out = svc2.detach().expect("detach");
    c.check(out.success() && !svc2.pin_dir().exists(), || {
        format!("detach of instance 2: {}", out.output())
    });
    for ifname in plant2.gateway_interfaces() {
        let d = plant2.gateway().link_details(&ifname).expect("ip link");
        c.check(!has_xdp(&d), || {
            format!("XDP still on {ifname} of instance 2:\n{d}")
        });
    }
    c.check(svc1.pin_dir().join("maps").exists(), || {
        "instance 1 lost its pins".into()
    });
    for ifname in plant1.gateway_interfaces() {
        let d = plant1.gateway().link_details(&ifname).expect("ip link");
        c.check(has_xdp(&d), || {
            format!("XDP gone from {ifname} of instance 1:\n{d}")
        });
    }
    c.udp(
        &plant1,
        "instance 2 detached",
        Zone::Control,
        Zone::Dmz,
        9000,
        false,
    );
    c.udp(
        &plant1,
        "instance 2 detached",
        Zone::Dmz,
        Zone::Control,
        9000,
        true,
    );
    c.check(
        status(&svc1).policy.name == "svc-parallel-1-changed",
        || "instance 1 status changed".into(),
    );
    c.finish("parallel instances");
}

// ---------------------------------------------------------------------------------------
// 7. Upgrade: pins left by a zcfw build with another map layout

/// Entry 0 of the pinned array map `map` under `pin_dir`, as bpftool shows it.
fn pinned_value(pin_dir: &Path, map: &str) -> Vec<u8> {
    let path = pin_dir.join("maps").join(map);
    let out = capture(
        std::process::Command::new("bpftool")
            .args(["-j", "map", "lookup", "pinned"])
            .arg(&path)
            .args(["key", "0", "0", "0", "0"]),
        Duration::from_secs(10),
    )
    .expect("bpftool map lookup");
    assert!(out.success(), "bpftool map lookup: {}", out.output());
    let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("bpftool JSON");
    json["value"]
        .as_array()
        .expect("a value array")
        .iter()
        .map(|b| u8::from_str_radix(b.as_str().expect("hex byte").trim_start_matches("0x"), 16))
        .collect::<Result<_, _>>()
        .expect("hex bytes")
}

/// Writes entry 0 of the pinned array map `map` under `pin_dir`.
fn set_pinned_value(pin_dir: &Path, map: &str, value: &[u8]) {
    let out = capture(
        std::process::Command::new("bpftool")
            .args(["map", "update", "pinned"])
            .arg(pin_dir.join("maps").join(map))
            .args(["key", "0", "0", "0", "0", "value"])
            .args(value.iter().map(u8::to_string)),
        Duration::from_secs(10),
    )
    .expect("bpftool map update");
    assert!(out.success(), "bpftool map update: {}", out.output());
}

/// The layout version recorded in the pinned ABI map.
fn pinned_abi(pin_dir: &Path) -> u32 {
    u32::from_le_bytes(
        pinned_value(pin_dir, "ABI")[..]
            .try_into()
            .expect("4 bytes"),
    )
}

/// Makes the maps pinned under `pin_dir` look like those of another build: the layout
/// version in the ABI map becomes `abi`. The old program goes on enforcing its policy, as a
/// real one of another build does.
fn set_pinned_abi(pin_dir: &Path, abi: u32) {
    set_pinned_value(pin_dir, "ABI", &abi.to_le_bytes());
}

/// Makes the maps pinned under `pin_dir` look like those of a build from before the ABI map
/// (layout 5 and older): the ABI map is unpinned and the version is the first field of
/// CONTROL (as it is in every build), set to `abi`. That also makes the old program, this
/// same code, drop everything until the takeover.
fn make_pins_pre_abi_map(pin_dir: &Path, abi: u32) {
    std::fs::remove_file(pin_dir.join("maps").join("ABI")).expect("unpin the ABI map");
    let mut control = pinned_value(pin_dir, "CONTROL");
    control[..4].copy_from_slice(&abi.to_le_bytes());
    set_pinned_value(pin_dir, "CONTROL", &control);
}

fn retired_dirs(pin_dir: &Path) -> Vec<String> {
    std::fs::read_dir(pin_dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("retired"))
                .collect()
        })
        .unwrap_or_default()
}

/// A daemon of this build finds the pins of a build with the previous map layout (simulated:
/// the pinned layout version is set back by one). It must take over without `zcfw detach`:
/// its program replaces the old one behind the pinned links, the established TCP connection
/// goes on (its conntrack entry is carried over; without it the replies would be denied),
/// denied traffic stays denied, island mode is carried over, the old maps are unpinned and
/// `detach` leaves nothing. The second round finds pins from before the ABI map (layout 5:
/// no ABI map, the version in CONTROL), which must be taken over the same way.
#[test]
fn takes_over_pins_of_another_layout_version() {
    let plant = plant("upgrade");
    let (ent, dmz, ctl) = hosts(&plant);
    let mut svc = started(&plant, "svc-upgrade");
    let _servers = echo_servers(&plant);
    let mut c = Checks::default();
    let layout = pinned_abi(svc.pin_dir());
    let prog1 = attached_prog(&svc);

    let tcp = TcpFlow::start(dmz, sa(v4(Zone::Control), 5020), 50).expect("tcp");
    let sink = UdpSink::start(ctl, sa(v4(Zone::Control), 9001)).expect("sink");
    let denied = UdpSource::start(ent, sa(v4(Zone::Enterprise), 41002), sink.addr(), 200, None)
        .expect("denied");
    thread::sleep(Duration::from_millis(500));
    c.check(tcp.echoed() > 10, || {
        format!("the TCP flow did not get going: {}", tcp.echoed())
    });

    // Round 1: the old daemon dies, its pins say "previous layout"; a new daemon starts.
    svc.kill().expect("SIGKILL");
    set_pinned_abi(svc.pin_dir(), layout - 1);
    let echoed_before = tcp.echoed();
    svc.start()
        .unwrap_or_else(|e| panic!("start over pins of layout {}: {e:#}", layout - 1));
    let log = svc.log();
    c.check(
        log.contains("taking over") && log.contains("flows carried over"),
        || format!("no takeover in the log:\n{}", svc.log_tail(20)),
    );
    let prog2 = attached_prog(&svc);
    c.check(prog2 != prog1, || {
        format!("the old program {prog1} is still behind the links")
    });
    let left = wait_programs_gone(&[prog1], Duration::from_secs(3));
    c.check(left.is_empty(), || {
        format!("the old program {prog1} is still loaded after the takeover")
    });
    c.check(retired_dirs(svc.pin_dir()).is_empty(), || {
        format!(
            "retired maps left in {}: {:?}",
            svc.pin_dir().display(),
            retired_dirs(svc.pin_dir())
        )
    });
    let now_layout = pinned_abi(svc.pin_dir());
    c.check(now_layout == layout, || {
        format!("pinned layout after the takeover: {now_layout}, expected {layout}")
    });
    c.check(
        tcp.wait_echoed_beyond(echoed_before + 20, Duration::from_secs(10)),
        || {
            format!(
                "the established TCP connection did not go on after the takeover ({} → {} records)",
                echoed_before,
                tcp.echoed()
            )
        },
    );
    let st = stats(&svc);
    c.check(st.reason("allowed_conntrack") > 0, || {
        "replies of the carried-over connection were not passed by conntrack".into()
    });
    c.udp(
        &plant,
        "after the takeover",
        Zone::Dmz,
        Zone::Control,
        9000,
        true,
    );
    c.udp(
        &plant,
        "after the takeover",
        Zone::Enterprise,
        Zone::Control,
        9000,
        false,
    );
    c.udp(
        &plant,
        "after the takeover",
        Zone::Control,
        Zone::Dmz,
        9000,
        false,
    );

    // Round 2: pins from before the ABI map; island mode on in them is on after the takeover.
    svc.island(true).unwrap_or_else(|e| panic!("{e:#}"));
    svc.kill().expect("SIGKILL");
    make_pins_pre_abi_map(svc.pin_dir(), 5);
    let log_before = svc.log().len();
    svc.start()
        .unwrap_or_else(|e| panic!("second takeover: {e:#}"));
    let log = svc.log();
    let round2 = log.get(log_before..).unwrap_or_default();
    c.check(
        round2.contains("taking over") && round2.contains("from_layout=5"),
        || {
            format!(
                "no takeover of the layout 5 pins in the log:\n{}",
                svc.log_tail(20)
            )
        },
    );
    let now_layout = pinned_abi(svc.pin_dir());
    c.check(now_layout == layout, || {
        format!("pinned layout after the second takeover: {now_layout}, expected {layout}")
    });
    c.check(status(&svc).island, || {
        "island mode was not carried over from the old pins".into()
    });
    c.udp(
        &plant,
        "island carried over",
        Zone::Dmz,
        Zone::Control,
        9000,
        false,
    );
    svc.island(false).unwrap_or_else(|e| panic!("{e:#}"));
    c.udp(&plant, "island off", Zone::Dmz, Zone::Control, 9000, true);

    let report = tcp.finish(Duration::from_secs(10));
    let sent_denied = denied.stop();
    thread::sleep(Duration::from_millis(100));
    let leaked = sink.of(sent_id(&sink, 41002)).len();
    c.check(leaked == 0 && sent_denied.count() > 100, || {
        format!(
            "enterprise → control udp/9001 (denied) delivered {leaked} of {} across the takeovers",
            sent_denied.count()
        )
    });
    c.check(
        report.echoed == report.sent && report.out_of_order == 0 && report.clean_close,
        || format!("dmz → control tcp/5020 across the takeovers: {report}"),
    );

    let prog3 = attached_prog(&svc);
    svc.terminate().expect("SIGTERM");
    let out = svc.detach().expect("zcfw detach");
    c.check(out.success(), || format!("zcfw detach: {}", out.output()));
    c.check(!svc.pin_dir().exists(), || {
        format!("{} still exists after detach", svc.pin_dir().display())
    });
    let left = wait_programs_gone(&[prog2, prog3], Duration::from_secs(3));
    c.check(left.is_empty(), || {
        format!("programs {left:?} of this test still loaded after detach")
    });
    c.finish("takeover of pins of another layout version");
}
