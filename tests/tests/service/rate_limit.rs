//! 6. Rate limits.

use std::{net::IpAddr, thread, time::Duration};

use zcfw_harness::{
    XdpMode, Zone,
    service::{PingStream, UdpSink, UdpSource, capture},
    zcfw_bin,
};

use crate::fixture::*;

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
