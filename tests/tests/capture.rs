//! `zcfw capture`: the frames XDP denied, as pcapng that tshark reads, with what zcfw did and
//! why in each packet's comment; and nothing copied while no capture client is connected.
//!
//! Frames are hand-built and sent with `AF_PACKET` from the plant's hosts, so each one is seen
//! exactly once; the captured file is read back with `tshark` (Wireshark 4).

use std::{
    io::{BufRead, BufReader},
    net::IpAddr,
    process::{Command, Stdio},
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use serde_json::Value;
use zcfw_harness::{
    Names, Plant, XdpMode, Zone, cmd,
    daemon::zcfw_bin,
    observe::{Observed, RunOptions},
    packet::{Transport, tcp_flags},
};

/// Enterprise may reach the DMZ on tcp/8080; the DMZ reads PLCs over Modbus (read-only);
/// nothing else crosses.
const POLICY: &str = r#"
version: 1
name: ${NAME}
defaults: { action: deny, log: denied, mode: enforce }
interfaces:
  - { name: ${IF_ENTERPRISE}, zones: [enterprise] }
  - { name: ${IF_DMZ}, zones: [dmz] }
  - { name: ${IF_CONTROL}, zones: [control] }
zones:
  enterprise: { security_level: 1, networks: [10.10.0.0/24, "fd00:10::/64"] }
  dmz: { security_level: 2, networks: [10.20.0.0/24, "fd00:20::/64"] }
  control: { security_level: 3, networks: [10.30.0.0/24, "fd00:30::/64"] }
conduits:
  - name: enterprise-to-dmz
    from: enterprise
    to: dmz
    rules:
      - { protocol: tcp, ports: [8080] }
  - name: historian-reads-plcs
    from: dmz
    to: control
    rules:
      - protocol: modbus
        modbus: { unit_ids: [1], functions: [read_holding_registers], addresses: ["0-99"] }
"#;

fn ip(s: &str) -> IpAddr {
    s.parse().expect("address literal")
}

/// Sends one hand-built frame from `zone`'s host to the gateway; returns its length.
fn send_frame(plant: &Plant, zone: Zone, src: IpAddr, dst: IpAddr, l4: &Transport) -> usize {
    plant.send_frame(zone, src, dst, l4).expect("send frame")
}

fn syn(src_port: u16, dst_port: u16) -> Transport {
    Transport::syn(src_port, dst_port)
}

/// A Modbus/TCP write single register (FC 6) of unit 1, in one PSH|ACK segment.
fn modbus_write(src_port: u16) -> Transport {
    Transport::Tcp {
        src_port,
        dst_port: 502,
        seq: 1000,
        ack: 1,
        flags: tcp_flags::PSH | tcp_flags::ACK,
        payload: vec![
            0x00, 0x01, 0x00, 0x00, 0x00, 0x06, 0x01, 0x06, 0x00, 0x0a, 0x00, 0x01,
        ],
    }
}

fn captured(stats: &Value) -> u64 {
    stats["capture"]["sent"]
        .as_u64()
        .unwrap_or_else(|| panic!("no capture.sent in stats: {stats}"))
}

/// A running `zcfw capture` whose stderr is read line by line.
struct Capture {
    child: std::process::Child,
    stderr: mpsc::Receiver<String>,
}

impl Capture {
    /// Starts `sh -c SCRIPT` (a `zcfw capture` command line) and waits until the capture
    /// says it is copying (the daemon has turned the data path's flag on by then).
    fn start(script: &str) -> Capture {
        let mut child = Command::new("sh")
            .args(["-c", script])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn zcfw capture");
        let (tx, stderr) = mpsc::channel();
        let err = child.stderr.take().expect("stderr");
        thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match stderr.recv_timeout(left) {
                Ok(line) if line.contains("copying denied frames") => break,
                Ok(_) => {}
                Err(_) => panic!("`{script}` did not start capturing within 10 s"),
            }
        }
        Capture { child, stderr }
    }

    /// Waits for the command to end; its stdout.
    fn finish(mut self, what: &str) -> String {
        let status = cmd::wait_or_kill(&mut self.child, Duration::from_secs(10))
            .expect("wait for zcfw capture");
        let stderr: Vec<String> = self.stderr.try_iter().collect();
        let mut out = String::new();
        if let Some(mut stdout) = self.child.stdout.take() {
            use std::io::Read;
            let _ = stdout.read_to_string(&mut out);
        }
        assert!(
            status.is_some_and(|s| s.success()),
            "{what}: exit {status:?}, stderr:\n{}",
            stderr.join("\n")
        );
        out
    }
}

fn tshark_fields(file: &str, fields: &[&str]) -> Vec<Vec<String>> {
    let mut args = vec![
        "-r",
        file,
        "-T",
        "fields",
        "-E",
        "separator=|",
        "-E",
        "occurrence=f",
    ];
    for f in fields {
        args.extend(["-e", f]);
    }
    let out = cmd::run_with_timeout(Command::new("tshark").args(&args), Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("tshark -r {file}: {e:#}"));
    out.lines()
        .map(|l| l.split('|').map(str::to_owned).collect())
        .collect()
}

#[test]
fn denied_frames_are_written_as_pcapng_with_their_reason() {
    let plant = Plant::new(Names::unique("cap")).unwrap_or_else(|e| panic!("plant: {e:#}"));
    let policy = plant.render_policy(POLICY, "capture", XdpMode::Native);
    let obs = Observed::start(&plant, &policy, &RunOptions::default())
        .unwrap_or_else(|e| panic!("{e:#}"));
    let if_ent = plant.host(Zone::Enterprise).gateway_ifname.clone();
    let if_dmz = plant.host(Zone::Dmz).gateway_ifname.clone();
    let bin = zcfw_bin().expect("zcfw binary");
    let socket = obs.socket().display().to_string();

    // No client: a denied frame is not copied (the flag is off), only counted as denied.
    send_frame(
        &plant,
        Zone::Enterprise,
        ip("10.10.0.2"),
        ip("10.30.0.2"),
        &syn(43000, 22),
    );
    thread::sleep(Duration::from_millis(300));
    let stats = obs.stats().expect("stats");
    assert_eq!(
        captured(&stats),
        0,
        "nothing copied without a client: {stats}"
    );

    let file = obs.dir().join("denied.pcapng");
    let file = file.display().to_string();
    let capture = Capture::start(&format!(
        "exec {} capture -w {file} --count 3 --socket {socket}",
        bin.display()
    ));
    // Three denies: no conduit (IPv4), no conduit (IPv6), and a Modbus write on the
    // read-only conduit (its segment is reset; the frame is captured as it arrived).
    let len_v4 = send_frame(
        &plant,
        Zone::Enterprise,
        ip("10.10.0.2"),
        ip("10.30.0.2"),
        &syn(43001, 22),
    );
    let len_v6 = send_frame(
        &plant,
        Zone::Enterprise,
        ip("fd00:10::2"),
        ip("fd00:30::2"),
        &syn(43002, 23),
    );
    let len_modbus = send_frame(
        &plant,
        Zone::Dmz,
        ip("10.20.0.2"),
        ip("10.30.0.2"),
        &modbus_write(43003),
    );
    capture.finish("zcfw capture -w FILE --count 3");

    let rows = tshark_fields(
        &file,
        &[
            "frame.comment",
            "frame.len",
            "frame.cap_len",
            "ip.src",
            "ipv6.src",
            "tcp.dstport",
            "modbus.func_code",
            "frame.interface_name",
        ],
    );
    let want = [
        (
            format!(
                "zcfw drop reason=default_deny from=enterprise to=control interface={if_ent} generation=1"
            ),
            len_v4,
            "10.10.0.2",
            "",
            "22",
            "",
            if_ent.as_str(),
        ),
        (
            format!(
                "zcfw drop reason=default_deny from=enterprise to=control interface={if_ent} generation=1"
            ),
            len_v6,
            "",
            "fd00:10::2",
            "23",
            "",
            if_ent.as_str(),
        ),
        (
            format!(
                "zcfw reset reason=modbus_function conduit=historian-reads-plcs from=dmz to=control interface={if_dmz} generation=1"
            ),
            len_modbus,
            "10.20.0.2",
            "",
            "502",
            "6",
            if_dmz.as_str(),
        ),
    ];
    assert_eq!(rows.len(), 3, "three frames in {file}: {rows:?}");
    for (row, (comment, len, src4, src6, port, func, iface)) in rows.iter().zip(&want) {
        let expect: Vec<String> = [
            comment.as_str(),
            &len.to_string(),
            &len.to_string(),
            src4,
            src6,
            port,
            func,
            iface,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(row, &expect, "frame in {file}");
    }
    let stats = obs.stats().expect("stats");
    assert_eq!(captured(&stats), 3, "three frames copied: {stats}");

    // `-w -` is pure pcapng on stdout, for `| tshark -r -`; --reason filters and --snaplen
    // cuts.
    let capture = Capture::start(&format!(
        "{} capture -w - --count 1 --reason modbus_function --snaplen 64 --socket {socket} \
         | tshark -r - -T fields -E separator='|' -e frame.comment -e frame.len -e frame.cap_len",
        bin.display()
    ));
    send_frame(
        &plant,
        Zone::Enterprise,
        ip("10.10.0.2"),
        ip("10.30.0.2"),
        &syn(43004, 22),
    );
    let len_modbus = send_frame(
        &plant,
        Zone::Dmz,
        ip("10.20.0.2"),
        ip("10.30.0.2"),
        &modbus_write(43005),
    );
    let out = capture.finish("zcfw capture -w - | tshark -r -");
    assert_eq!(
        out.trim(),
        format!(
            "zcfw reset reason=modbus_function conduit=historian-reads-plcs from=dmz to=control interface={if_dmz} generation=1|{len_modbus}|64"
        ),
        "the Modbus deny only, cut at 64 bytes"
    );

    // The clients are gone: copying stopped with the last one.
    let before = captured(&obs.stats().expect("stats"));
    send_frame(
        &plant,
        Zone::Enterprise,
        ip("10.10.0.2"),
        ip("10.30.0.2"),
        &syn(43006, 22),
    );
    thread::sleep(Duration::from_millis(300));
    let stats = obs.stats().expect("stats");
    assert_eq!(
        captured(&stats),
        before,
        "nothing copied after the clients left: {stats}"
    );
    assert!(
        obs.log_tail(200).contains("last capture client gone"),
        "{}",
        obs.log_tail(40)
    );
    obs.stop().expect("stop");
}

/// Per-rule counters over real traffic: `zcfw stats --json` credits the rule that matched, and
/// the text form marks rules without hits unused.
#[test]
fn stats_count_packets_per_rule() {
    let plant = Plant::new(Names::unique("rule")).unwrap_or_else(|e| panic!("plant: {e:#}"));
    let policy = plant.render_policy(POLICY, "rules", XdpMode::Native);
    let obs = Observed::start(&plant, &policy, &RunOptions::default())
        .unwrap_or_else(|e| panic!("{e:#}"));
    for port in [44000, 44001] {
        send_frame(
            &plant,
            Zone::Enterprise,
            ip("10.10.0.2"),
            ip("10.20.0.2"),
            &syn(port, 8080),
        );
    }
    thread::sleep(Duration::from_millis(300));
    let stats = obs.stats().expect("stats");
    let rules = |conduit: &str| -> Vec<(u64, u64)> {
        stats["conduits"]
            .as_array()
            .expect("conduits")
            .iter()
            .find(|c| c["name"] == conduit)
            .unwrap_or_else(|| panic!("no conduit {conduit}: {stats}"))["rules"]
            .as_array()
            .expect("rules")
            .iter()
            .map(|r| {
                (
                    r["id"].as_u64().expect("id"),
                    r["packets"].as_u64().expect("packets"),
                )
            })
            .collect()
    };
    assert_eq!(rules("enterprise-to-dmz"), [(1, 2)], "{stats}");
    assert_eq!(rules("historian-reads-plcs"), [(2, 0)], "{stats}");
    let text = obs
        .zcfw(&["stats"], Duration::from_secs(5))
        .expect("zcfw stats");
    // The RULE table: id, conduit, match..., packets, bytes (or `unused`).
    let columns = |id: &str| -> Vec<String> {
        text.lines()
            .find(|l| l.split_whitespace().next() == Some(id))
            .unwrap_or_else(|| panic!("no rule {id} in:\n{text}"))
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    };
    let one = columns("1");
    assert_eq!(
        one[one.len() - 2],
        "2",
        "rule 1 matched two packets:\n{text}"
    );
    assert_ne!(one[one.len() - 1], "unused", "{text}");
    let two = columns("2");
    assert_eq!(
        &two[two.len() - 2..],
        ["0", "unused"],
        "rule 2 marked unused:\n{text}"
    );
    obs.stop().expect("stop");
}
