//! 5. Island mode.

use std::{collections::HashSet, thread, time::Duration};

use zcfw_harness::{
    Family, Zone,
    service::{PingStream, Sent, Service, TcpFlow, now},
    traffic::tcp_connect,
};

use crate::fixture::*;

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
