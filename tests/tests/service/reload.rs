//! 1. Reloads under continuous traffic.

use std::{collections::HashSet, thread, time::Duration};

use zcfw_harness::{
    XdpMode, Zone,
    service::{
        Captured, Delivery, Live, PingStream, TcpCounters, TcpFlow, UdpSink, UdpSource, now,
    },
};

use crate::fixture::*;

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
    let tcp_before = (
        TcpCounters::of(dmz).expect("tcp counters"),
        TcpCounters::of(ctl).expect("tcp counters"),
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
    let tcp_after = (
        TcpCounters::of(dmz).expect("tcp counters"),
        TcpCounters::of(ctl).expect("tcp counters"),
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
    // A segment the data path dropped is retransmitted and not reported back as a
    // duplicate; a spurious retransmission (a tail loss probe when an ACK is late on a loaded
    // machine) is.
    let lost = (
        tcp_after
            .0
            .lost_since(tcp_before.0, tcp_after.1, tcp_before.1),
        tcp_after
            .1
            .lost_since(tcp_before.1, tcp_after.0, tcp_before.0),
    );
    let retransmitted = (
        tcp_after.0.retransmitted - tcp_before.0.retransmitted,
        tcp_after.1.retransmitted - tcp_before.1.retransmitted,
    );
    c.check(
        enough(tcp_report.sent, 100, secs)
            && tcp_report.echoed == tcp_report.sent
            && tcp_report.out_of_order == 0
            && tcp_report.clean_close
            && lost == (0, 0),
        || {
            format!(
                "dmz → control tcp/5020, one connection across all reloads: {tcp_report}; \
                 lost segments (dmz, control): {lost:?} (retransmitted: {retransmitted:?}, \
                 less those the receiver reported as duplicates)"
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

#[test]
fn reloads_under_traffic_native() {
    reload_storm(XdpMode::Native);
}

#[test]
fn reloads_under_traffic_skb() {
    reload_storm(XdpMode::Skb);
}
