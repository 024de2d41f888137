//! `zcfw-demo` (run it with `cargo xtask demo`): a three-zone plant in network namespaces
//! behind a zcfw gateway, with allowed and denied traffic narrated one line each, then the
//! counters. Needs root. Usage: `zcfw-demo [POLICY]` (default `policies/demo-plant.yaml`,
//! whose interface names `gw-ent`, `gw-dmz`, `gw-ctl` are the ones the demo creates).

use std::{
    io::{IsTerminal, Write},
    net::SocketAddr,
    path::PathBuf,
    process::{Command, ExitCode},
    sync::atomic::{AtomicBool, Ordering},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use nix::{
    sys::signal::{SigHandler, Signal, kill, signal},
    unistd::{Pid, geteuid},
};
use zcfw_harness::{
    Daemon, Family, Names, Plant, Stats, Zone, cmd,
    netns::exists,
    packet::{PacketSocket, Transport, build_frame, tcp_flags},
    traffic::{EchoServices, UdpPeer, pattern, ping, tcp_echo, udp_request},
    zcfw_bin,
};

/// Names of everything the demo creates: namespaces `zcfw-demo-*`, interfaces `gw-*`.
const TAG: &str = "demo";
const PASS: Duration = Duration::from_secs(3);
const DENY: Duration = Duration::from_secs(1);

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: i32) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("zcfw-demo: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<bool> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!(
            "usage: zcfw-demo [POLICY]\n\nBuilds a three-zone plant in network namespaces \
             (zcfw-demo-*), runs zcfw on its gateway with POLICY\n(default \
             policies/demo-plant.yaml), sends allowed and denied traffic and prints the \
             counters.\nNeeds root. ZCFW_BIN selects the zcfw binary."
        );
        return Ok(true);
    }
    if !geteuid().is_root() {
        bail!("the demo creates network namespaces and attaches XDP: run it as root");
    }
    let policy = match args.first() {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../policies/demo-plant.yaml"
        )),
    };
    let policy = policy
        .canonicalize()
        .with_context(|| format!("policy {}", policy.display()))?;
    let bin = zcfw_bin()?;
    // SAFETY: the handler only stores to an atomic.
    unsafe { signal(Signal::SIGINT, SigHandler::Handler(on_sigint)) }?;

    let names = Names::fixed(TAG);
    remove_leftovers(&names)?;
    let ui = Ui::new();

    println!(
        "{}",
        ui.bold("zcfw demo: IEC 62443 zones and conduits, enforced in XDP")
    );
    println!(
        "
   enterprise host 10.10.0.2 ── gw-ent ─┐
   dmz host        10.20.0.2 ── gw-dmz ─┼─ gateway: routes, zcfw attached to its three interfaces
   control host    10.30.0.2 ── gw-ctl ─┘   (namespaces zcfw-demo-ent, -dmz, -ctl and -gw)
"
    );
    println!("policy:  {}", policy.display());
    println!("binary:  {}", bin.display());
    progress("building the plant ... ");
    let plant = Plant::new(names)?;
    let servers: Vec<EchoServices> = plant
        .hosts()
        .iter()
        .map(|h| {
            EchoServices::start(
                &h.ns,
                &[h.addr(Family::V4), h.addr(Family::V6)],
                &[8080, 5020, 22],
                &[9000],
            )
        })
        .collect::<Result<_>>()?;
    println!("done");
    progress(&format!("starting zcfw in {} ... ", plant.gateway().name()));
    let daemon = Daemon::start(plant.gateway(), &policy, &plant.gateway_interfaces())?;
    let stats = daemon.stats()?;
    println!(
        "policy \"{}\" loaded (sha256 {}), XDP attached",
        stats.policy.name,
        &stats.policy.hash[..stats.policy.hash.len().min(12)]
    );

    let mut demo = Demo {
        plant: &plant,
        daemon: &daemon,
        ui,
        checks: 0,
        surprises: 0,
    };
    let completed = demo.script();
    let (checks, surprises) = (demo.checks, demo.surprises);

    println!(
        "\n{}",
        ui.bold(&format!(
            "zcfw stats --socket {}",
            daemon.socket().display()
        ))
    );
    match daemon.stats_text() {
        Ok(text) => println!("{text}"),
        Err(e) => println!("(could not read the counters: {e:#})"),
    }
    // What an operator sees of the denies: the events (last ones), then what an auditor sees
    // of the policy: the IEC 62443-3-3 report.
    println!(
        "{}",
        ui.bold(&format!(
            "zcfw events --socket {} (last 8)",
            daemon.socket().display()
        ))
    );
    match zcfw_harness::cmd::run_with_timeout(
        std::process::Command::new(&bin)
            .arg("events")
            .arg("--socket")
            .arg(daemon.socket()),
        std::time::Duration::from_secs(5),
    ) {
        Ok(text) => {
            let lines: Vec<&str> = text.lines().collect();
            for line in &lines[lines.len().saturating_sub(8)..] {
                println!("  {line}");
            }
        }
        Err(e) => println!("(could not read the events: {e:#})"),
    }
    println!(
        "\n{}",
        ui.bold(&format!("zcfw audit {} (summary)", policy.display()))
    );
    match zcfw_harness::cmd::run_with_timeout(
        std::process::Command::new(&bin).arg("audit").arg(&policy),
        std::time::Duration::from_secs(10),
    ) {
        Ok(text) => {
            for line in text.lines().take(30) {
                println!("  {line}");
            }
            println!(
                "  ... (`zcfw audit {} --format markdown` for the whole report)",
                policy.display()
            );
        }
        Err(e) => println!("(could not run the audit: {e:#})"),
    }
    progress("cleaning up: stopping zcfw ... ");
    let stopped = daemon.stop();
    drop(servers);
    match &stopped {
        Ok(()) => println!("XDP detached from gw-ent, gw-dmz, gw-ctl"),
        Err(e) => println!("{}", ui.red(&format!("problem: {e:#}"))),
    }
    progress("removing the namespaces ... ");
    drop(plant);
    println!("done");

    if !completed {
        println!("\ninterrupted after {checks} checks");
        return Ok(false);
    }
    if surprises == 0 && stopped.is_ok() {
        println!(
            "\n{}",
            ui.green(&format!("All {checks} checks behaved as the policy says."))
        );
        println!(
            "Next: read policies/demo-plant.yaml, change a conduit and run the demo again; \
             `cargo xtask test` runs the full end-to-end matrix."
        );
        Ok(true)
    } else {
        println!(
            "\n{}",
            ui.red(&format!(
                "{surprises} of {checks} checks did NOT behave as the policy says (marked ⚠ above)."
            ))
        );
        Ok(false)
    }
}

/// Prints `msg` without a newline, at once.
fn progress(msg: &str) {
    print!("{msg}");
    let _ = std::io::stdout().flush();
}

/// One narrated step: label, expectation, and the traffic (true if it got through).
type Step<'a> = (String, Expect, Box<dyn Fn() -> bool + 'a>);

/// What the policy says should happen.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Expect {
    Pass,
    Deny,
}

struct Demo<'a> {
    plant: &'a Plant,
    daemon: &'a Daemon<'a>,
    ui: Ui,
    checks: u32,
    surprises: u32,
}

impl Demo<'_> {
    /// The narrated steps; false if interrupted.
    fn script(&mut self) -> bool {
        use Expect::{Deny, Pass};
        use Zone::{Control as Ctl, Dmz, Enterprise as Ent};
        let v4 = Family::V4;
        let v6 = Family::V6;
        let p = self.plant;

        self.section("Conduits open these paths");
        let steps: Vec<Step<'_>> = vec![
            (
                "enterprise → dmz tcp/8080 (office opens the historian's web UI)".into(),
                Pass,
                Box::new(move || tcp(p, Ent, Dmz, v4, 8080, Pass)),
            ),
            (
                "enterprise → dmz tcp/8080 over IPv6".into(),
                Pass,
                Box::new(move || tcp(p, Ent, Dmz, v6, 8080, Pass)),
            ),
            (
                "enterprise → dmz icmp echo (office pings the historian)".into(),
                Pass,
                Box::new(move || icmp(p, Ent, Dmz, v4, Pass)),
            ),
            (
                "dmz → control tcp/5020 (historian polls PLC)".into(),
                Pass,
                Box::new(move || tcp(p, Dmz, Ctl, v4, 5020, Pass)),
            ),
            (
                "dmz → control udp/9000 (historian reads PLC status)".into(),
                Pass,
                Box::new(move || udp(p, Dmz, Ctl, v4, 9000, Pass)),
            ),
        ];
        if !self.run_steps(steps) {
            return false;
        }

        self.section("Everything else is denied");
        let steps: Vec<Step<'_>> = vec![
            (
                "enterprise → control tcp/5020 (office PC talks straight to a PLC)".into(),
                Deny,
                Box::new(move || tcp(p, Ent, Ctl, v4, 5020, Deny)),
            ),
            (
                "enterprise → control icmp echo (office pings a PLC)".into(),
                Deny,
                Box::new(move || icmp(p, Ent, Ctl, v4, Deny)),
            ),
            (
                "dmz → control tcp/22 (ssh to a PLC: not in the conduit)".into(),
                Deny,
                Box::new(move || tcp(p, Dmz, Ctl, v4, 22, Deny)),
            ),
            (
                "control → dmz tcp/8080 (a PLC opens a connection upwards)".into(),
                Deny,
                Box::new(move || tcp(p, Ctl, Dmz, v4, 8080, Deny)),
            ),
            (
                "dmz → enterprise tcp/8080 over IPv6 (the DMZ reaches into the office)".into(),
                Deny,
                Box::new(move || tcp(p, Dmz, Ent, v6, 8080, Deny)),
            ),
        ];
        if !self.run_steps(steps) {
            return false;
        }

        self.section("Stateful: replies of allowed flows pass, look-alikes do not");
        let historian = match UdpPeer::bind(&p.host(Dmz).ns, SocketAddr::new(Dmz.host(v4), 40000)) {
            Ok(h) => h,
            Err(e) => {
                println!("  (could not bind the historian's socket: {e:#})");
                self.surprises += 1;
                return true;
            }
        };
        let historian = &historian;
        let steps: Vec<Step<'_>> = vec![
            (
                "control:9000 → dmz:40000 udp, the PLC's reply to the historian's poll".into(),
                Pass,
                Box::new(move || {
                    historian
                        .request(SocketAddr::new(Ctl.host(v4), 9000), b"status?", PASS)
                        .is_ok()
                }),
            ),
            (
                "control:9001 → dmz:40000 udp, a datagram from another PLC port".into(),
                Deny,
                Box::new(move || {
                    let Ok(plc) =
                        UdpPeer::bind(&p.host(Ctl).ns, SocketAddr::new(Ctl.host(v4), 9001))
                    else {
                        return false;
                    };
                    plc.send_to(SocketAddr::new(Dmz.host(v4), 40000), b"unsolicited")
                        .is_ok()
                        && matches!(historian.recv_within(DENY), Ok(Some(_)))
                }),
            ),
            (
                "control:5020 → dmz:40100 forged TCP SYN-ACK, no connection behind it".into(),
                Deny,
                Box::new(move || {
                    forge(
                        p,
                        Ctl,
                        Ctl.host(v4),
                        Dmz,
                        Transport::Tcp {
                            src_port: 5020,
                            dst_port: 40100,
                            seq: 1,
                            ack: 1,
                            flags: tcp_flags::SYN | tcp_flags::ACK,
                            payload: Vec::new(),
                        },
                    )
                }),
            ),
        ];
        if !self.run_steps(steps) {
            return false;
        }

        self.section("Anti-spoofing: gw-ent accepts only enterprise sources");
        let steps: Vec<Step<'_>> = vec![(
            "enterprise host forges dmz source 10.20.0.77 → control tcp/5020".into(),
            Deny,
            Box::new(move || {
                forge(
                    p,
                    Ent,
                    Dmz.addr(v4, 77),
                    Ctl,
                    Transport::Tcp {
                        src_port: 40200,
                        dst_port: 5020,
                        seq: 1,
                        ack: 0,
                        flags: tcp_flags::SYN,
                        payload: Vec::new(),
                    },
                )
            }),
        )];
        self.run_steps(steps)
    }

    fn section(&self, title: &str) {
        println!("\n{}", self.ui.bold(title));
    }

    /// Runs each step (`f` returns whether the traffic got through), narrates it with the
    /// counters that moved, and counts surprises. False if interrupted.
    fn run_steps(&mut self, steps: Vec<Step<'_>>) -> bool {
        for (label, expect, f) in steps {
            if INTERRUPTED.load(Ordering::SeqCst) {
                return false;
            }
            self.checks += 1;
            let before = self.daemon.stats().ok();
            let passed = f();
            // Let the last packets of the exchange be counted.
            thread::sleep(Duration::from_millis(50));
            let after = self.daemon.stats().ok();
            let why = match (&before, &after) {
                (Some(b), Some(a)) => explain(b, a, passed),
                _ => "counters unavailable".to_string(),
            };
            let line = match (passed, expect) {
                (true, Expect::Pass) => {
                    format!("{} {label}: passed ({why})", self.ui.green("✔"))
                }
                (false, Expect::Deny) => {
                    format!("{} {label}: denied ({why})", self.ui.red("✘"))
                }
                (true, Expect::Deny) => {
                    self.surprises += 1;
                    self.ui.red(&format!(
                        "⚠ {label}: PASSED, but the policy denies it ({why})"
                    ))
                }
                (false, Expect::Pass) => {
                    self.surprises += 1;
                    self.ui.red(&format!(
                        "⚠ {label}: BLOCKED, but the policy allows it ({why})"
                    ))
                }
            };
            println!("  {line}");
        }
        !INTERRUPTED.load(Ordering::SeqCst)
    }
}

/// Which counters moved: the conduit (for passes) or the drop reason (for denies).
fn explain(before: &Stats, after: &Stats, passed: bool) -> String {
    if passed {
        let conduits = after.conduits_since(before);
        if conduits.is_empty() {
            return "no conduit counted it".to_string();
        }
        conduits
            .iter()
            .map(|(c, n)| format!("conduit {c}, {n} packets"))
            .collect::<Vec<_>>()
            .join("; ")
    } else {
        let reasons: Vec<String> = after
            .drops_since(before)
            .into_iter()
            .map(|(r, _)| r)
            .collect();
        if reasons.is_empty() {
            "no drop counted".to_string()
        } else {
            reasons.join(", ")
        }
    }
}

fn timeout(expect: Expect) -> Duration {
    match expect {
        Expect::Pass => PASS,
        Expect::Deny => DENY,
    }
}

fn tcp(p: &Plant, from: Zone, to: Zone, family: Family, port: u16, expect: Expect) -> bool {
    let dst = SocketAddr::new(to.host(family), port);
    tcp_echo(&p.host(from).ns, dst, &pattern(64 * 1024), timeout(expect)).is_ok()
}

fn udp(p: &Plant, from: Zone, to: Zone, family: Family, port: u16, expect: Expect) -> bool {
    let dst = SocketAddr::new(to.host(family), port);
    udp_request(&p.host(from).ns, dst, b"status?", timeout(expect)).is_ok()
}

fn icmp(p: &Plant, from: Zone, to: Zone, family: Family, expect: Expect) -> bool {
    let count = if expect == Expect::Pass { 3 } else { 1 };
    ping(&p.host(from).ns, to.host(family), count, timeout(expect)).is_ok_and(|n| n == count)
}

/// Sends a hand-built frame from `from`'s host with source `src` to `to`'s host; whether it
/// arrived there.
fn forge(p: &Plant, from: Zone, src: std::net::IpAddr, to: Zone, l4: Transport) -> bool {
    let attempt = || -> Result<bool> {
        let dst = to.host(if src.is_ipv6() {
            Family::V6
        } else {
            Family::V4
        });
        let to_host = p.host(to);
        let capture = PacketSocket::open(&to_host.ns, &to_host.ifname)?;
        let from_host = p.host(from);
        let sender = PacketSocket::open(&from_host.ns, &from_host.ifname)?;
        let (smac, dmac) = p.macs_to_gateway(from)?;
        sender.send(&build_frame(smac, dmac, src, dst, &l4))?;
        let sport = match &l4 {
            Transport::Tcp { src_port, .. } | Transport::Udp { src_port, .. } => *src_port,
        };
        Ok(capture
            .capture(DENY, |f| {
                f.src == src && f.dst == dst && f.src_port == sport
            })
            .is_some())
    };
    attempt().unwrap_or(false)
}

/// Removes what an interrupted earlier demo left: zcfw processes in its gateway namespace
/// (stopped with SIGTERM, so they detach XDP) and the `zcfw-demo-*` namespaces.
fn remove_leftovers(names: &Names) -> Result<()> {
    let roles = ["gw", "ent", "dmz", "ctl"];
    if !roles.iter().any(|r| exists(&names.netns(r))) {
        return Ok(());
    }
    println!("removing leftovers of an earlier demo run ...");
    for role in roles {
        let ns = names.netns(role);
        if !exists(&ns) {
            continue;
        }
        let pids = cmd::run(Command::new("ip").args(["netns", "pids", &ns])).unwrap_or_default();
        for pid in pids
            .split_whitespace()
            .filter_map(|p| p.parse::<i32>().ok())
        {
            let pid = Pid::from_raw(pid);
            let _ = kill(pid, Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(5);
            while kill(pid, None).is_ok() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(50));
            }
            let _ = kill(pid, Signal::SIGKILL);
        }
        cmd::ip(&["netns", "del", &ns])?;
    }
    Ok(())
}

/// Terminal styling, only when stdout is a terminal.
#[derive(Clone, Copy)]
struct Ui {
    color: bool,
}

impl Ui {
    fn new() -> Ui {
        Ui {
            color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn bold(&self, text: &str) -> String {
        self.paint("1", text)
    }

    fn green(&self, text: &str) -> String {
        self.paint("32", text)
    }

    fn red(&self, text: &str) -> String {
        self.paint("31", text)
    }
}
