//! `zcfw run` inside the gateway namespace, and its counters.

use std::{
    fs::File,
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use nix::{
    sys::signal::{Signal, kill},
    unistd::Pid,
};
use serde::Deserialize;
use zcfw::control;

use crate::{cmd, netns::Netns, plant::Plant, tempdir::TempDir};

/// How long `zcfw run` may take until `zcfw stats` answers. The kernel verifies eight
/// programs at start (the main one, the inspectors and the fast path: about 3 million
/// instructions, 15-20 s of one core on this 2-core machine); two tests of a file starting
/// daemons at once, with other work on the machine, made 60 s too short (bacnet's broadcast
/// tests beside a CI run). A readiness wait, not a timing requirement: a healthy start
/// ends it at once.
pub const START_TIMEOUT: Duration = Duration::from_secs(180);

/// Polls a starting `zcfw run` every `poll` until `not_ready` has nothing to say (it answers
/// `Some(why)` while it is not ready), failing when the process exits first (`child` is then
/// `None`) or after [`START_TIMEOUT`], with the last reason and the log's tail.
pub(crate) fn wait_until_ready(
    child: &mut Option<Child>,
    poll: Duration,
    mut not_ready: impl FnMut() -> Option<String>,
    log_tail: impl Fn() -> String,
) -> Result<()> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Some(running) = child.as_mut()
            && let Some(status) = running.try_wait()?
        {
            *child = None;
            bail!(
                "zcfw run exited with {status} before it was ready; log:\n{}",
                log_tail()
            );
        }
        let Some(why) = not_ready() else {
            return Ok(());
        };
        if Instant::now() >= deadline {
            bail!(
                "zcfw was not ready within {START_TIMEOUT:?} ({why}); log:\n{}",
                log_tail()
            );
        }
        thread::sleep(poll);
    }
}
/// How long the daemon may take to exit after SIGTERM before it gets SIGKILL.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// Every reason name of the stats contract, in slot order.
pub const REASONS: [&str; 19] = [
    "allowed_conduit",
    "allowed_conntrack",
    "allowed_intra_zone",
    "allowed_l2",
    "allowed_neighbor_discovery",
    "allowed_fragment",
    "default_deny",
    "unknown_zone",
    "spoofed_source",
    "l2_denied",
    "malformed_ethernet",
    "malformed_vlan",
    "malformed_ipv4",
    "malformed_ipv6",
    "malformed_tcp",
    "malformed_udp",
    "malformed_icmp",
    "fragment_no_flow",
    "no_policy",
];

/// The zcfw binary: `$ZCFW_BIN`, else the workspace's `target/release/zcfw`.
pub fn zcfw_bin() -> Result<PathBuf> {
    resolve_bin(std::env::var_os("ZCFW_BIN"))
}

/// [`zcfw_bin`] with the value of `$ZCFW_BIN` given.
pub fn resolve_bin(zcfw_bin_var: Option<std::ffi::OsString>) -> Result<PathBuf> {
    let path = match zcfw_bin_var {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/zcfw"),
    };
    if !path.is_file() {
        bail!(
            "zcfw binary not found at {}: build it with `cargo xtask build` (or set ZCFW_BIN \
             to the zcfw binary)",
            path.display()
        );
    }
    Ok(path.canonicalize().unwrap_or(path))
}

/// A running `zcfw run --policy FILE --socket SOCK` in the gateway namespace.
///
/// On drop (or [`Daemon::stop`]) it gets SIGTERM (SIGKILL after [`STOP_TIMEOUT`]), and then
/// no gateway interface may still carry an XDP program. If the test is failing, the tail
/// of the daemon's log is printed.
#[derive(Debug)]
pub struct Daemon<'a> {
    gateway: &'a Netns,
    interfaces: Vec<String>,
    bin: PathBuf,
    child: Option<Child>,
    socket: PathBuf,
    log: PathBuf,
    dir: TempDir,
}

impl<'a> Daemon<'a> {
    /// Starts zcfw on every gateway interface of `plant` with the policy text `policy`
    /// (written to a file next to the daemon's socket and log).
    pub fn start_on(plant: &'a Plant, policy: &str) -> Result<Daemon<'a>> {
        let dir = TempDir::new(&format!("{}-zcfw", plant.names().file_stem()))?;
        let file = dir.join("policy.yaml");
        std::fs::write(&file, policy)?;
        Daemon::start_in(
            dir,
            plant.gateway(),
            &file,
            &plant.gateway_interfaces(),
            &[],
        )
    }

    /// Starts zcfw in `gateway` with the policy file `policy`; `interfaces` are those the
    /// policy attaches to (checked for XDP after start and after stop).
    pub fn start(gateway: &'a Netns, policy: &Path, interfaces: &[String]) -> Result<Daemon<'a>> {
        let dir = TempDir::new(&format!("{}-zcfw", gateway.name()))?;
        Daemon::start_in(dir, gateway, policy, interfaces, &[])
    }

    /// Starts zcfw in `gateway` with the policy file `policy`, its socket and log in `dir`,
    /// and `extra` flags after the standard ones (`--event-rate`, `--audit-log`, ...).
    pub fn start_in(
        dir: TempDir,
        gateway: &'a Netns,
        policy: &Path,
        interfaces: &[String],
        extra: &[std::ffi::OsString],
    ) -> Result<Daemon<'a>> {
        let bin = zcfw_bin()?;
        let socket = dir.join("zcfw.sock");
        let log = dir.join("zcfw.log");
        let log_file = File::create(&log)?;
        let child = gateway
            .command(&bin)
            .arg("run")
            // Nothing pinned: the guard's Drop checks that SIGTERM detaches everything.
            .arg("--ephemeral")
            .arg("--policy")
            .arg(policy)
            .arg("--socket")
            .arg(&socket)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            // Own process group: a Ctrl-C in the terminal reaches the harness, which stops
            // the daemon in order, instead of both at once.
            .process_group(0)
            .spawn()
            .with_context(|| format!("failed to start {}", bin.display()))?;
        let mut daemon = Daemon {
            gateway,
            interfaces: interfaces.to_vec(),
            bin,
            child: Some(child),
            socket,
            log,
            dir,
        };
        if let Err(e) = daemon.wait_ready() {
            // Stop it here, so that drop has nothing left to complain about.
            return Err(match daemon.shutdown() {
                Ok(()) => e,
                Err(stop) => e.context(format!("also, stopping it: {stop:#}")),
            });
        }
        Ok(daemon)
    }

    /// Waits until `zcfw stats` answers and XDP is on every interface.
    fn wait_ready(&mut self) -> Result<()> {
        let mut child = self.child.take();
        let ready = wait_until_ready(
            &mut child,
            Duration::from_millis(100),
            || match self.stats() {
                Ok(_) => {
                    let missing: Vec<&String> = self
                        .interfaces
                        .iter()
                        .filter(|i| !self.has_xdp(i).unwrap_or(false))
                        .collect();
                    (!missing.is_empty())
                        .then(|| format!("stats answer, but no XDP yet on {missing:?}"))
                }
                Err(e) => Some(format!("{e:#}")),
            },
            || self.log_tail(40),
        );
        self.child = child;
        ready
    }

    /// The control socket.
    /// The zcfw binary this daemon runs.
    pub fn bin(&self) -> &Path {
        &self.bin
    }

    /// The gateway namespace it runs in.
    pub fn gateway(&self) -> &'a Netns {
        self.gateway
    }

    /// Whether the daemon process is still running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The directory holding the policy copy, socket and log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The last `lines` lines of the daemon's log.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// `zcfw stats --json --socket SOCK`, parsed.
    pub fn stats(&self) -> Result<Stats> {
        let out = cmd::run_with_timeout(
            Command::new(&self.bin)
                .arg("stats")
                .arg("--json")
                .arg("--socket")
                .arg(&self.socket),
            Duration::from_secs(5),
        )?;
        serde_json::from_str(out.trim())
            .with_context(|| format!("zcfw stats --json printed something else:\n{out}"))
    }

    /// `zcfw stats --socket SOCK` (the human format).
    pub fn stats_text(&self) -> Result<String> {
        cmd::run_with_timeout(
            Command::new(&self.bin)
                .arg("stats")
                .arg("--socket")
                .arg(&self.socket),
            Duration::from_secs(5),
        )
    }

    /// Whether `ifname` in the gateway namespace carries an XDP program (any mode).
    pub fn has_xdp(&self, ifname: &str) -> Result<bool> {
        Ok(has_xdp(&self.gateway.link_details(ifname)?))
    }

    /// `ip -d link show` of `ifname` in the gateway namespace.
    pub fn link_details(&self, ifname: &str) -> Result<String> {
        self.gateway.link_details(ifname)
    }

    /// Stops the daemon (SIGTERM, SIGKILL after [`STOP_TIMEOUT`]) and checks that XDP is
    /// gone from every interface; the error says what is left.
    pub fn stop(mut self) -> Result<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<()> {
        let Some(child) = self.child.take() else {
            return Ok(());
        };
        stop_and_check(child, self.gateway, &self.interfaces, || self.log_tail(40))
    }
}

/// Stops a `zcfw run` child (SIGTERM, SIGKILL after [`STOP_TIMEOUT`]) started with
/// `--ephemeral` in `gateway`, and checks that XDP is gone from `interfaces`; the error says
/// what is left, with the tail of the daemon's log.
pub fn stop_and_check(
    mut child: std::process::Child,
    gateway: &Netns,
    interfaces: &[String],
    log_tail: impl Fn() -> String,
) -> Result<()> {
    let pid = Pid::from_raw(child.id() as i32);
    let mut problems = Vec::new();
    if child.try_wait()?.is_some() {
        problems.push("zcfw had exited before it was told to stop".to_string());
    } else {
        // `ip netns exec` execs zcfw, so the child's pid is zcfw's.
        let _ = kill(pid, Signal::SIGTERM);
        match crate::cmd::wait_or_kill(&mut child, STOP_TIMEOUT)? {
            Some(status) if !status.success() => {
                problems.push(format!("zcfw exited with {status} after SIGTERM"));
            }
            Some(_) => {}
            None => problems.push(format!(
                "zcfw did not exit within {STOP_TIMEOUT:?} of SIGTERM; killed"
            )),
        }
    }
    for ifname in interfaces {
        match gateway.link_details(ifname) {
            Ok(details) if has_xdp(&details) => {
                problems.push(format!("XDP still attached to {ifname}:\n{details}"))
            }
            Ok(_) => {}
            Err(e) => problems.push(format!("{e:#}")),
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        bail!("{}\nzcfw log:\n{}", problems.join("\n"), log_tail())
    }
}

impl Drop for Daemon<'_> {
    fn drop(&mut self) {
        let result = self.shutdown();
        if thread::panicking() {
            eprintln!(
                "--- zcfw log ({}), last lines ---\n{}\n---",
                self.log.display(),
                self.log_tail(60)
            );
            if let Err(e) = result {
                eprintln!("also, stopping zcfw: {e:#}");
            }
        } else if let Err(e) = result {
            panic!("stopping zcfw: {e:#}");
        }
    }
}

/// Whether `ip -d link show` output shows an XDP program.
pub fn has_xdp(details: &str) -> bool {
    details.contains("prog/xdp") || details.split_whitespace().any(|w| w.starts_with("xdp"))
}

/// What `zcfw stats --json` prints ([`control::stats::Stats`]), with the lookups tests make.
#[derive(Clone, Debug, Deserialize)]
#[serde(transparent)]
pub struct Stats(pub control::stats::Stats);

impl std::ops::Deref for Stats {
    type Target = control::stats::Stats;

    fn deref(&self) -> &control::stats::Stats {
        &self.0
    }
}

impl Stats {
    /// Packets counted under `reason` (0 if not listed). Panics on a name that is not in
    /// the contract, to catch typos in tests.
    pub fn reason(&self, reason: &str) -> u64 {
        assert!(
            REASONS.contains(&reason) || self.reasons.iter().any(|r| r.reason == reason),
            "unknown reason name {reason}"
        );
        self.packets(reason)
    }

    fn packets(&self, reason: &str) -> u64 {
        self.reason_packets(reason)
    }

    /// Packets admitted by the conduit named `name`. Panics if there is no such conduit.
    pub fn conduit(&self, name: &str) -> u64 {
        self.0
            .conduit(name)
            .unwrap_or_else(|| panic!("no conduit {name} in stats: {:?}", self.conduits))
            .packets
    }

    /// Per-reason packet increase since `before`, only reasons that grew.
    pub fn reasons_since(&self, before: &Stats) -> Vec<(String, u64)> {
        self.reasons
            .iter()
            .filter_map(|r| {
                let d = r.packets.saturating_sub(before.packets(&r.reason));
                (d > 0).then(|| (r.reason.clone(), d))
            })
            .collect()
    }

    /// Per-reason packet increase since `before` of the reasons that drop packets.
    pub fn drops_since(&self, before: &Stats) -> Vec<(String, u64)> {
        self.reasons_since(before)
            .into_iter()
            .filter(|(name, _)| self.reasons.iter().any(|r| &r.reason == name && !r.passes))
            .collect()
    }

    /// Per-conduit packet increase since `before`, only conduits that grew.
    pub fn conduits_since(&self, before: &Stats) -> Vec<(String, u64)> {
        self.conduits
            .iter()
            .filter_map(|c| {
                let old = before
                    .conduits
                    .iter()
                    .find(|o| o.name == c.name)
                    .map_or(0, |o| o.packets);
                let d = c.packets.saturating_sub(old);
                (d > 0).then(|| (c.name.clone(), d))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xdp_detection_matches_ip_output() {
        assert!(has_xdp(
            "2: ga@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 xdp qdisc noqueue\n    \
             prog/xdp id 101 name xdp_pass tag 614b434cd8324ecc jited"
        ));
        assert!(has_xdp(
            "2: ga@if2: <UP> mtu 1500 xdpgeneric qdisc noqueue\n    prog/xdp id 3"
        ));
        assert!(!has_xdp(
            "2: ga@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP\n    \
             veth addrgenmode eui64 numtxqueues 2"
        ));
    }

    #[test]
    fn missing_binary_says_how_to_build_it() {
        let err = resolve_bin(Some("/nonexistent/zcfw".into())).expect_err("missing");
        let msg = format!("{err:#}");
        assert!(
            msg.contains("/nonexistent/zcfw") && msg.contains("cargo xtask build"),
            "{msg}"
        );
    }

    #[test]
    fn stats_contract_parses() {
        let s: Stats = serde_json::from_str(
            r#"{"events":{"sent":0,"rate_limited":0,"ring_full":0},"interfaces":[],
                "policy":{"name":"p","hash":"ab","generation":1},
                "reasons":[{"reason":"allowed_conduit","passes":true,"packets":3,"bytes":180},
                           {"reason":"default_deny","passes":false,"packets":1,"bytes":60}],
                "conduits":[{"id":1,"name":"c","from":"dmz","to":"control","on_violation":"drop",
                             "packets":3,"bytes":180,"denied":{},"actions":{}}]}"#,
        )
        .expect("parses");
        assert_eq!(s.reason("default_deny"), 1);
        assert_eq!(s.reason("spoofed_source"), 0);
        assert_eq!(s.conduit("c"), 3);
    }
}
