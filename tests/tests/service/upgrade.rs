//! 8. Upgrade: pins left by a zcfw build with another map layout.

use std::{path::Path, thread, time::Duration};

use zcfw_harness::{
    Zone,
    service::{TcpFlow, UdpSink, UdpSource, capture},
};

use crate::fixture::*;

/// The value of the pinned CONTROL map under `pin_dir`, as bpftool shows it.
fn pinned_control(pin_dir: &Path) -> Vec<u8> {
    let path = pin_dir.join("maps").join("CONTROL");
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

/// The layout version recorded in the pinned CONTROL map (its first field in every build).
fn pinned_abi(pin_dir: &Path) -> u32 {
    u32::from_le_bytes(pinned_control(pin_dir)[..4].try_into().expect("4 bytes"))
}

/// Makes the maps pinned under `pin_dir` look like those of another build: the layout
/// version (the first field of CONTROL in every build) becomes `abi`.
fn set_pinned_abi(pin_dir: &Path, abi: u32) {
    let mut value = pinned_control(pin_dir);
    value[..4].copy_from_slice(&abi.to_le_bytes());
    let out = capture(
        std::process::Command::new("bpftool")
            .args(["map", "update", "pinned"])
            .arg(pin_dir.join("maps").join("CONTROL"))
            .args(["key", "0", "0", "0", "0", "value"])
            .args(value.iter().map(u8::to_string)),
        Duration::from_secs(10),
    )
    .expect("bpftool map update");
    assert!(out.success(), "bpftool map update: {}", out.output());
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
/// the pinned layout version is set back by one, which also makes the old program, this
/// same code, drop everything until the takeover; a real old program keeps enforcing its
/// policy). It must take over without `zcfw detach`: its program replaces the old one behind
/// the pinned links, the established TCP connection goes on (its conntrack entry is carried
/// over; without it the replies would be denied), denied traffic stays denied, island mode
/// is carried over, the old maps are unpinned and `detach` leaves nothing.
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

    // Round 2: island mode on in the old pins is on after the takeover.
    svc.island(true).unwrap_or_else(|e| panic!("{e:#}"));
    svc.kill().expect("SIGKILL");
    set_pinned_abi(svc.pin_dir(), layout - 1);
    svc.start()
        .unwrap_or_else(|e| panic!("second takeover: {e:#}"));
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
