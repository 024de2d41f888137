//! 8. Upgrade: pins left by a zcfw build with another map layout.

use std::{path::Path, thread, time::Duration};

use firewall_common::maps::{Control, names};
use zcfw_harness::{
    Zone, pinned,
    service::{TcpFlow, UdpSink, UdpSource},
};

use crate::fixture::*;

/// The layout version recorded in the pinned ABI map.
fn pinned_abi(pin_dir: &Path) -> u32 {
    pinned::read_array::<u32>(pin_dir, names::ABI, 0).expect("the pinned ABI map")
}

/// Makes the maps pinned under `pin_dir` look like those of another build: the layout
/// version in the ABI map becomes `abi`. The old program goes on enforcing its policy, as a
/// real one of another build does.
fn set_pinned_abi(pin_dir: &Path, abi: u32) {
    pinned::write_array(pin_dir, names::ABI, 0, &abi).expect("write the pinned ABI map");
}

/// Makes the maps pinned under `pin_dir` look like those of a build from before the ABI map
/// (layout 5 and older): the ABI map is unpinned and the version is the first field of
/// CONTROL (as it is in every build), set to `abi`. That also makes the old program, this
/// same code, drop everything until the takeover.
fn make_pins_pre_abi_map(pin_dir: &Path, abi: u32) {
    std::fs::remove_file(pinned::map_path(pin_dir, names::ABI)).expect("unpin the ABI map");
    let mut control: Control =
        pinned::read_array(pin_dir, names::CONTROL, 0).expect("the pinned CONTROL map");
    control.abi_version = abi;
    pinned::write_array(pin_dir, names::CONTROL, 0, &control).expect("write CONTROL");
}

/// How long a TCP flow may take to resume after the simulated old program's blackout (see
/// [`takes_over_pins_of_another_layout_version`]): the exponential retransmission back-off
/// after a blackout of up to 30 s.
const TCP_BACKOFF_WINDOW: Duration = Duration::from_secs(70);

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
        tcp.wait_echoed_beyond(echoed_before + 20, TCP_BACKOFF_WINDOW),
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

    // The simulated old program dropped everything while the new daemon verified its
    // programs (up to ~20 s on a loaded machine), so the sender's retransmission timer has
    // backed off exponentially: its next try can come as late as twice the blackout after
    // it began. The window covers that; a healthy flow finishes at once.
    let report = tcp.finish(TCP_BACKOFF_WINDOW);
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
