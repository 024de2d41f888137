//! What systemd hears from `zcfw run` (`Type=notify`): the daemon runs with `NOTIFY_SOCKET`
//! pointing at a datagram socket this test binds, as systemd would set it, and the test reads
//! what arrives. READY=1 only once XDP is attached, WATCHDOG=1 at half of `WATCHDOG_USEC` (and
//! never when the watchdog is meant for another process), RELOADING=1 then READY=1 around a
//! SIGHUP reload, STOPPING=1 on SIGTERM.

use std::{
    fs::File,
    os::unix::{net::UnixDatagram, process::CommandExt},
    path::Path,
    process::{Child, Stdio},
    time::{Duration, Instant},
};

use nix::{
    sys::signal::{Signal, kill},
    unistd::Pid,
};
use zcfw_harness::{
    Names, Plant, TempDir, XdpMode,
    daemon::{has_xdp, stop_and_check},
    zcfw_bin,
};

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
"#;

/// How long the daemon may take to go live (load, verify, attach) on a busy test machine.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A `zcfw run --ephemeral` in the plant's gateway with the systemd environment `env`, its
/// notifications arriving on `socket`.
struct Notified<'p> {
    plant: &'p Plant,
    dir: TempDir,
    socket: UnixDatagram,
    child: Option<Child>,
}

impl<'p> Notified<'p> {
    fn start(plant: &'p Plant, tag: &str, env: &[(&str, &str)]) -> Notified<'p> {
        let dir = TempDir::new(&format!("{}-notify", plant.names().file_stem()))
            .unwrap_or_else(|e| panic!("temp dir: {e:#}"));
        let policy = dir.join("policy.yaml");
        std::fs::write(
            &policy,
            plant.render_policy(POLICY, &format!("notify-{tag}"), XdpMode::Native),
        )
        .expect("write the policy");
        let notify_path = dir.join("notify.sock");
        let socket = UnixDatagram::bind(&notify_path).expect("bind the notify socket");
        let log = File::create(dir.join("zcfw.log")).expect("log file");
        let bin = zcfw_bin().unwrap_or_else(|e| panic!("{e:#}"));
        let child = plant
            .gateway()
            .command(&bin)
            .args(["run", "--ephemeral", "--policy"])
            .arg(&policy)
            .arg("--socket")
            .arg(dir.join("zcfw.sock"))
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .env("NOTIFY_SOCKET", &notify_path)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
        Notified {
            plant,
            dir,
            socket,
            child: Some(child),
        }
    }

    /// The messages that arrive within `wait` (each datagram split into its lines), with the
    /// time each arrived.
    fn collect(&self, wait: Duration, until: impl Fn(&str) -> bool) -> Vec<(Instant, String)> {
        let deadline = Instant::now() + wait;
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            self.socket
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .expect("read timeout");
            let Ok(n) = self.socket.recv(&mut buf) else {
                break;
            };
            let now = Instant::now();
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            let mut done = false;
            for line in text.lines().filter(|l| !l.is_empty()) {
                done |= until(line);
                got.push((now, line.to_owned()));
            }
            if done {
                break;
            }
        }
        got
    }

    /// Waits for READY=1 and checks what came before it.
    fn await_ready(&self) -> Instant {
        let got = self.collect(START_TIMEOUT, |l| l == "READY=1");
        let Some((at, _)) = got.iter().find(|(_, l)| l == "READY=1") else {
            panic!(
                "no READY=1 within {START_TIMEOUT:?}; got {:?}\nzcfw log:\n{}",
                lines(&got),
                self.log()
            );
        };
        assert_eq!(
            lines(&got),
            ["READY=1"],
            "nothing before READY=1 (no watchdog ping before the policy is live)"
        );
        // READY=1 means the policy is enforced: XDP is on every interface.
        for iface in self.plant.gateway_interfaces() {
            let details = self
                .plant
                .gateway()
                .link_details(&iface)
                .unwrap_or_else(|e| panic!("{e:#}"));
            assert!(
                has_xdp(&details),
                "READY=1 but no XDP on {iface}: {details}"
            );
        }
        *at
    }

    fn signal(&self, signal: Signal) {
        let child = self.child.as_ref().expect("running");
        kill(Pid::from_raw(child.id() as i32), signal).expect("signal zcfw");
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("zcfw.log")).unwrap_or_default()
    }

    /// SIGTERM; the daemon must exit cleanly, detach, and have said STOPPING=1.
    fn stop(mut self) {
        let child = self.child.take().expect("running");
        let log = self.dir.join("zcfw.log");
        stop_and_check(
            child,
            self.plant.gateway(),
            &self.plant.gateway_interfaces(),
            || tail(&log),
        )
        .unwrap_or_else(|e| panic!("{e:#}"));
        let got = self.collect(Duration::from_secs(2), |l| l == "STOPPING=1");
        assert!(
            got.iter().any(|(_, l)| l == "STOPPING=1"),
            "no STOPPING=1 after SIGTERM; got {:?}",
            lines(&got)
        );
    }
}

impl Drop for Notified<'_> {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            eprintln!("--- zcfw log ---\n{}\n---", self.log());
        }
    }
}

fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

fn lines(got: &[(Instant, String)]) -> Vec<&str> {
    got.iter().map(|(_, l)| l.as_str()).collect()
}

fn plant(tag: &str) -> Plant {
    Plant::new(Names::unique(tag)).unwrap_or_else(|e| panic!("plant: {e:#}"))
}

#[test]
fn ready_then_watchdog_pings_then_reload_and_stop() {
    let plant = plant("notify_wd");
    // A 1 s watchdog: pings every 0.5 s.
    let zcfw = Notified::start(&plant, "wd", &[("WATCHDOG_USEC", "1000000")]);
    let ready = zcfw.await_ready();

    let window = Duration::from_secs(3);
    let got = zcfw.collect(window, |_| false);
    let pings: Vec<Instant> = got
        .iter()
        .filter(|(_, l)| l == "WATCHDOG=1")
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(
        pings.len(),
        got.len(),
        "only pings while idle; got {:?}",
        lines(&got)
    );
    // 3 s at one ping per 0.5 s: 6 (7 with the one right after READY=1); fewer than 4 means
    // the period is not half the timeout, more than 9 that it is much shorter.
    assert!(
        (4..=9).contains(&pings.len()),
        "{} pings in {window:?}, expected about 6",
        pings.len()
    );
    // No gap reaches the timeout systemd would kill at.
    let mut last = ready;
    for &t in &pings {
        assert!(
            t - last < Duration::from_secs(1),
            "{:?} without a ping",
            t - last
        );
        last = t;
    }

    // A reload says so, then is ready again; pings go on.
    zcfw.signal(Signal::SIGHUP);
    let got = zcfw.collect(Duration::from_secs(30), |l| l == "READY=1");
    let states: Vec<&str> = lines(&got)
        .into_iter()
        .filter(|l| *l != "WATCHDOG=1")
        .collect();
    assert_eq!(
        states.first(),
        Some(&"RELOADING=1"),
        "got {:?}",
        lines(&got)
    );
    assert!(
        states.iter().any(|l| l.starts_with("MONOTONIC_USEC=")),
        "RELOADING=1 carries MONOTONIC_USEC; got {states:?}"
    );
    assert_eq!(states.last(), Some(&"READY=1"), "got {:?}", lines(&got));
    let after = zcfw.collect(Duration::from_secs(2), |_| false);
    assert!(
        lines(&after).iter().filter(|l| **l == "WATCHDOG=1").count() >= 2,
        "pings after the reload; got {:?}",
        lines(&after)
    );

    zcfw.stop();
}

#[test]
fn no_pings_without_a_watchdog_for_this_process() {
    let plant = plant("notify_nowd");
    // systemd sets WATCHDOG_PID to the process it watches: here another one (pid 1).
    let zcfw = Notified::start(
        &plant,
        "nowd",
        &[("WATCHDOG_USEC", "200000"), ("WATCHDOG_PID", "1")],
    );
    zcfw.await_ready();
    let got = zcfw.collect(Duration::from_millis(1500), |_| false);
    assert!(got.is_empty(), "expected silence, got {:?}", lines(&got));
    zcfw.stop();
}
