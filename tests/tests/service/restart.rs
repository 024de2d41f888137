//! 2. SIGKILL, restart, detach.

use std::{thread, time::Duration};

use zcfw_harness::{
    XdpMode, Zone,
    daemon::has_xdp,
    service::{Delivery, PingStream, TcpFlow, UdpSink, UdpSource, XdpWatch, now},
};

use crate::fixture::*;

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
        format!("programs {left:?} of this test still loaded after detach (loaded BPF programs)")
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
