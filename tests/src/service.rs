//! zcfw run like a production gateway service: pinned state that outlives the daemon, the
//! daemon killed, restarted, reloaded and detached, and continuous traffic that counts
//! every packet while that happens.
//!
//! - [`test_bpffs`]: a BPF filesystem mounted once in the *root* mount namespace, outside
//!   `/sys` (`/run/zcfw-test-bpffs`). `ip netns exec` gives the daemon a private mount
//!   namespace with `/sys` remounted, so pins under `/sys/fs/bpf` would die with the daemon;
//!   pins here survive it, which is the point of the fail-closed tests.
//! - [`Service`]: one installed zcfw instance on a gateway (policy file, socket, log, its own
//!   pin directory); daemons come and go (`start`, `kill`, `terminate`, `run_to_exit`), and
//!   dropping it kills the daemon and runs `zcfw detach --pin-dir`, also on panic.
//! - Streams that run while the gateway changes under them: [`UdpSource`] → [`UdpSink`]
//!   (sequence-numbered, time-stamped datagrams), [`PingStream`] (echo requests at a fixed
//!   rate, like `ping -i 0.01`), [`TcpFlow`] (a paced, sequence-checked echo over one
//!   connection), [`XdpWatch`] (samples `ip -d link` to catch an XDP gap).

use std::{
    fs::{File, OpenOptions},
    io::{ErrorKind, Read, Write},
    net::{IpAddr, Shutdown, SocketAddr, TcpStream, UdpSocket},
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicBool, AtomicU16, AtomicU32, AtomicU64, Ordering},
    },
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, anyhow, bail};
use nix::{
    fcntl::{Flock, FlockArg},
    mount::{MsFlags, mount},
    sys::{
        signal::{Signal, kill},
        statfs::{BPF_FS_MAGIC, statfs},
    },
    unistd::Pid,
};
use socket2::{Domain, Protocol, SockAddr, SockRef, Socket, Type};

use crate::{
    daemon::{Stats, has_xdp, wait_until_ready, zcfw_bin},
    netns::Netns,
    packet::checksum,
    plant::Plant,
    tempdir::TempDir,
    traffic,
};

/// Where the tests' shared BPF filesystem is mounted (root mount namespace, outside `/sys`).
pub const TEST_BPFFS: &str = "/run/zcfw-test-bpffs";

/// How long a `zcfw` client command (reload, status, island, detach) may take.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(15);

/// Mounts a BPF filesystem at [`TEST_BPFFS`] unless one is there already, and returns the
/// path. Serialised within the process (a mutex) and across processes (`flock` on a lock
/// file): two mounts stacked on each other would hide the first one's pins.
pub fn test_bpffs() -> Result<&'static Path> {
    static DONE: Mutex<bool> = Mutex::new(false);
    let mut done = DONE.lock().unwrap_or_else(|p| p.into_inner());
    let path = Path::new(TEST_BPFFS);
    if *done {
        return Ok(path);
    }
    let lock_path = format!("{TEST_BPFFS}.lock");
    let file = File::create(&lock_path).with_context(|| format!("creating {lock_path}"))?;
    let _lock = Flock::lock(file, FlockArg::LockExclusive)
        .map_err(|(_, e)| anyhow!("flock {lock_path}: {e}"))?;
    std::fs::create_dir_all(path).with_context(|| format!("creating {TEST_BPFFS}"))?;
    if !is_bpffs(path)? {
        mount(
            Some("bpf"),
            path,
            Some("bpf"),
            MsFlags::empty(),
            None::<&str>,
        )
        .with_context(|| format!("mount -t bpf bpf {TEST_BPFFS} (are you root?)"))?;
    }
    *done = true;
    Ok(path)
}

fn is_bpffs(path: &Path) -> Result<bool> {
    let fs = statfs(path).with_context(|| format!("statfs {}", path.display()))?;
    Ok(fs.filesystem_type() == BPF_FS_MAGIC)
}

/// What a finished command printed.
#[derive(Debug, Clone)]
pub struct Captured {
    /// Exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// Wall time from spawn to exit.
    pub wall: Duration,
}

impl Captured {
    /// Whether it exited 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// Everything it printed, for messages.
    pub fn output(&self) -> String {
        format!(
            "exit {:?}\nstdout:\n{}\nstderr:\n{}",
            self.code,
            self.stdout.trim_end(),
            self.stderr.trim_end()
        )
    }
}

/// Runs `cmd` to completion (killed after `timeout`) and captures its exit code and output,
/// whatever the exit code.
pub fn capture(cmd: &mut Command, timeout: Duration) -> Result<Captured> {
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("failed to spawn {}", crate::cmd::describe(cmd)))?;
    let mut out_pipe = child.stdout.take().context("stdout not piped")?;
    let mut err_pipe = child.stderr.take().context("stderr not piped")?;
    let out = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out_pipe.read_to_end(&mut v);
        v
    });
    let err = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err_pipe.read_to_end(&mut v);
        v
    });
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() >= timeout {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "{} did not finish within {timeout:?}",
                crate::cmd::describe(cmd)
            );
        }
        thread::sleep(Duration::from_millis(2));
    };
    let wall = started.elapsed();
    Ok(Captured {
        code: status.code(),
        stdout: String::from_utf8_lossy(&out.join().unwrap_or_default()).into_owned(),
        stderr: String::from_utf8_lossy(&err.join().unwrap_or_default()).into_owned(),
        wall,
    })
}

/// What `zcfw status --json` prints.
pub use zcfw::control::status::Status;

/// What `zcfw reload` printed when the policy went live:
/// `policy NAME (sha256 HASH) is live: generation N, loaded in X ms`.
#[derive(Clone, Debug, PartialEq)]
pub struct Live {
    pub name: String,
    pub hash_prefix: String,
    pub generation: u64,
    pub load_ms: f64,
}

impl Live {
    /// Parses the success line of `zcfw reload`.
    pub fn parse(stdout: &str) -> Option<Live> {
        let line = stdout.lines().find(|l| l.starts_with("policy "))?;
        let rest = line.strip_prefix("policy ")?;
        let (name, rest) = rest.split_once(" (sha256 ")?;
        let (hash, rest) = rest.split_once(") is live: generation ")?;
        let (generation, rest) = rest.split_once(", loaded in ")?;
        let load_ms = rest.strip_suffix(" ms")?;
        Some(Live {
            name: name.to_string(),
            hash_prefix: hash.to_string(),
            generation: generation.trim().parse().ok()?,
            load_ms: load_ms.trim().parse().ok()?,
        })
    }
}

/// One zcfw instance installed on a gateway: a policy file, a control socket, a log and a
/// pin directory of its own on [`test_bpffs`]. Daemons are started and stopped explicitly;
/// pinned state persists between them. On drop the daemon (if any) is killed and
/// `zcfw detach --pin-dir` removes every link and map; if the test is failing, the daemon's
/// log is printed.
#[derive(Debug)]
pub struct Service<'a> {
    child: Option<Child>,
    gateway: &'a Netns,
    interfaces: Vec<String>,
    bin: PathBuf,
    pin_dir: PathBuf,
    socket: PathBuf,
    log: PathBuf,
    runs: u32,
    /// More arguments of `zcfw run` (e.g. `--metrics-listen`).
    run_args: Vec<String>,
    /// A program `zcfw run` is started through (e.g. `prlimit --nofile=1024:1024 --`).
    wrapper: Vec<String>,
    // Last: removed after the detach in drop.
    dir: TempDir,
}

impl<'a> Service<'a> {
    /// An instance on `plant`'s gateway, attaching to all of its interfaces.
    pub fn new(plant: &'a Plant) -> Result<Service<'a>> {
        Service::on(
            plant.gateway(),
            &plant.gateway_interfaces(),
            plant.names().file_stem(),
        )
    }

    /// An instance in `gateway` whose policies attach to `interfaces`; `stem` names its pin
    /// directory and temp directory (unique per test: see `Names::file_stem`).
    pub fn on(gateway: &'a Netns, interfaces: &[String], stem: &str) -> Result<Service<'a>> {
        let bin = zcfw_bin()?;
        // bpffs refuses dots in names.
        let pin_dir = test_bpffs()?.join(stem.replace('.', "_"));
        if pin_dir.exists() {
            // A leftover of an interrupted run with the same pid and counter.
            let out = capture(
                Command::new(&bin)
                    .arg("detach")
                    .arg("--pin-dir")
                    .arg(&pin_dir),
                CLIENT_TIMEOUT,
            )?;
            if !out.success() {
                bail!(
                    "cannot remove leftover pins {}: {}",
                    pin_dir.display(),
                    out.output()
                );
            }
        }
        let dir = TempDir::new(&format!("{stem}-svc"))?;
        Ok(Service {
            child: None,
            gateway,
            interfaces: interfaces.to_vec(),
            bin,
            pin_dir,
            socket: dir.join("zcfw.sock"),
            log: dir.join("zcfw.log"),
            runs: 0,
            run_args: Vec::new(),
            wrapper: Vec::new(),
            dir,
        })
    }

    /// The policy file `zcfw run` is given.
    pub fn policy_path(&self) -> PathBuf {
        self.dir.join("policy.yaml")
    }

    /// Replaces the policy file (atomically: written aside, then renamed over it).
    pub fn write_policy(&self, text: &str) -> Result<PathBuf> {
        let path = self.policy_path();
        let tmp = self.dir.join(".policy.yaml.new");
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, &path)?;
        Ok(path)
    }

    /// Writes another file (e.g. a policy to reload to) into the instance's directory.
    pub fn write_file(&self, name: &str, text: &str) -> Result<PathBuf> {
        let path = self.dir.join(name);
        std::fs::write(&path, text)?;
        Ok(path)
    }

    /// Passes `args` to every later `zcfw run` of this instance, after the usual ones.
    pub fn set_run_args(&mut self, args: &[&str]) {
        self.run_args = args.iter().map(|a| a.to_string()).collect();
    }

    /// Starts later daemons through `wrapper` (a command that execs its arguments, such as
    /// `prlimit --nofile=1024:1024 --`), inside the gateway namespace.
    pub fn set_wrapper(&mut self, wrapper: &[&str]) {
        self.wrapper = wrapper.iter().map(|a| a.to_string()).collect();
    }

    /// Pins under `dir` instead (e.g. under `/sys/fs/bpf`, which `ip netns exec` hides, so
    /// the daemon mounts its own bpffs there).
    pub fn set_pin_dir(&mut self, dir: PathBuf) {
        self.pin_dir = dir;
    }

    /// The pin directory.
    pub fn pin_dir(&self) -> &Path {
        &self.pin_dir
    }

    /// The control socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The gateway's interfaces the policies attach to.
    pub fn interfaces(&self) -> &[String] {
        &self.interfaces
    }

    /// The gateway namespace.
    pub fn gateway(&self) -> &'a Netns {
        self.gateway
    }

    /// Starts `zcfw run --policy POLICY --socket SOCK --pin-dir DIR` and waits until it
    /// answers `status` with XDP on every interface.
    pub fn start(&mut self) -> Result<()> {
        self.spawn()?;
        self.wait_ready()
    }

    /// Starts the daemon without waiting for it.
    pub fn spawn(&mut self) -> Result<()> {
        if let Some(child) = self.child.as_mut()
            && child.try_wait()?.is_none()
        {
            bail!("a zcfw daemon of this instance is still running");
        }
        self.runs += 1;
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        writeln!(
            log,
            "===== run {}: zcfw run --policy {} --socket {} --pin-dir {} =====",
            self.runs,
            self.policy_path().display(),
            self.socket.display(),
            self.pin_dir.display()
        )?;
        let mut command = match self.wrapper.split_first() {
            Some((program, args)) => {
                let mut c = self.gateway.command(program);
                c.args(args).arg(&self.bin);
                c
            }
            None => self.gateway.command(&self.bin),
        };
        let child = command
            .arg("run")
            .arg("--policy")
            .arg(self.policy_path())
            .arg("--socket")
            .arg(&self.socket)
            .arg("--pin-dir")
            .arg(&self.pin_dir)
            .args(&self.run_args)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .spawn()
            .with_context(|| format!("failed to start {}", self.bin.display()))?;
        self.child = Some(child);
        Ok(())
    }

    /// Waits until the daemon answers `status` and every interface carries XDP.
    pub fn wait_ready(&mut self) -> Result<()> {
        let mut child = self.child.take();
        let ready = wait_until_ready(
            &mut child,
            Duration::from_millis(20),
            || match self.status() {
                Ok(_) => {
                    let missing: Vec<&String> = self
                        .interfaces
                        .iter()
                        .filter(|i| {
                            !self
                                .gateway
                                .link_details(i)
                                .map(|d| has_xdp(&d))
                                .unwrap_or(false)
                        })
                        .collect();
                    (!missing.is_empty())
                        .then(|| format!("status answers, but no XDP on {missing:?}"))
                }
                Err(e) => Some(format!("{e:#}")),
            },
            || self.log_tail(40),
        );
        self.child = child;
        ready
    }

    /// Starts the daemon and waits up to `timeout` for it to exit by itself (for a start
    /// that must fail); returns its exit status and what this run logged. A daemon still
    /// running after `timeout` is an error (and is killed).
    pub fn run_to_exit(&mut self, timeout: Duration) -> Result<(ExitStatus, String)> {
        let before = std::fs::read_to_string(&self.log).unwrap_or_default().len();
        self.spawn()?;
        let deadline = Instant::now() + timeout;
        let mut child = self.child.take().expect("just spawned");
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "zcfw run was still running after {timeout:?}; log:\n{}",
                    self.log_tail(40)
                );
            }
            thread::sleep(Duration::from_millis(20));
        };
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        Ok((status, log.get(before..).unwrap_or_default().to_string()))
    }

    /// Whether a daemon of this instance is running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// The running daemon's pid.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILL: the daemon gets no chance to clean up.
    pub fn kill(&mut self) -> Result<()> {
        let mut child = self.child.take().context("no daemon running")?;
        // `ip netns exec` execs zcfw, so the child's pid is zcfw's.
        kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL)?;
        child.wait()?;
        Ok(())
    }

    /// SIGTERM, and waits (up to 10 s) for the exit status.
    pub fn terminate(&mut self) -> Result<ExitStatus> {
        let mut child = self.child.take().context("no daemon running")?;
        kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM)?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "zcfw did not exit within 10 s of SIGTERM; killed; log:\n{}",
                    self.log_tail(40)
                );
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGHUP: the daemon reloads its policy file.
    pub fn sighup(&self) -> Result<()> {
        let child = self.child.as_ref().context("no daemon running")?;
        kill(Pid::from_raw(child.id() as i32), Signal::SIGHUP)?;
        Ok(())
    }

    fn client(&self, args: &[&str]) -> Result<Captured> {
        capture(
            Command::new(&self.bin)
                .args(args)
                .arg("--socket")
                .arg(&self.socket),
            CLIENT_TIMEOUT,
        )
    }

    /// `zcfw reload [--policy FILE] --socket SOCK`, whatever its exit code.
    pub fn reload(&self, policy: Option<&Path>) -> Result<Captured> {
        let mut args = vec!["reload".to_string()];
        if let Some(p) = policy {
            args.push("--policy".into());
            args.push(p.display().to_string());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.client(&args)
    }

    /// `zcfw status --json`, parsed.
    pub fn status(&self) -> Result<Status> {
        let out = self.client(&["status", "--json"])?;
        if !out.success() {
            bail!("zcfw status failed: {}", out.output());
        }
        serde_json::from_str(out.stdout.trim())
            .with_context(|| format!("zcfw status --json printed something else:\n{}", out.stdout))
    }

    /// `zcfw stats --json`, parsed.
    pub fn stats(&self) -> Result<Stats> {
        let out = self.client(&["stats", "--json"])?;
        if !out.success() {
            bail!("zcfw stats failed: {}", out.output());
        }
        serde_json::from_str(out.stdout.trim())
            .with_context(|| format!("zcfw stats --json printed something else:\n{}", out.stdout))
    }

    /// `zcfw island on|off`.
    pub fn island(&self, on: bool) -> Result<()> {
        let out = self.client(&["island", if on { "on" } else { "off" }])?;
        if !out.success() {
            bail!("zcfw island failed: {}", out.output());
        }
        Ok(())
    }

    /// `zcfw detach --pin-dir DIR` (in the root namespaces: pins are files, not per netns).
    pub fn detach(&self) -> Result<Captured> {
        capture(
            Command::new(&self.bin)
                .arg("detach")
                .arg("--pin-dir")
                .arg(&self.pin_dir),
            CLIENT_TIMEOUT,
        )
    }

    /// Per interface, the id of the XDP program attached to it (`ip -d link`), if any.
    pub fn xdp_prog_ids(&self) -> Result<Vec<(String, Option<u32>)>> {
        self.interfaces
            .iter()
            .map(|i| Ok((i.clone(), xdp_prog_id(&self.gateway.link_details(i)?))))
            .collect()
    }

    /// Everything every daemon of this instance logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last `lines` lines of [`Service::log`].
    pub fn log_tail(&self, lines: usize) -> String {
        let text = self.log();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for Service<'_> {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if thread::panicking() {
            eprintln!(
                "--- zcfw log ({}), last lines ---\n{}\n---",
                self.log.display(),
                self.log_tail(80)
            );
        }
        if self.pin_dir.exists() {
            match self.detach() {
                Ok(out) if out.success() => {}
                Ok(out) => eprintln!(
                    "warning: zcfw detach --pin-dir {} failed: {}",
                    self.pin_dir.display(),
                    out.output()
                ),
                Err(e) => eprintln!("warning: {e:#}"),
            }
        }
    }
}

/// The program id in `ip -d link show` output (`prog/xdp id N`), if any.
pub fn xdp_prog_id(details: &str) -> Option<u32> {
    let mut words = details.split_whitespace();
    while let Some(w) = words.next() {
        if w == "prog/xdp" && words.next() == Some("id") {
            return words.next()?.parse().ok();
        }
    }
    None
}

/// Ids of the loaded BPF programs named `name` (`bpftool prog show --json`).
pub fn bpf_prog_ids(name: &str) -> Result<Vec<u32>> {
    let out = capture(
        Command::new("bpftool").args(["prog", "show", "--json"]),
        CLIENT_TIMEOUT,
    )?;
    if !out.success() {
        bail!("bpftool prog show failed: {}", out.output());
    }
    let progs: Vec<serde_json::Value> = serde_json::from_str(out.stdout.trim())
        .with_context(|| format!("bpftool printed something else:\n{}", out.stdout))?;
    Ok(progs
        .iter()
        .filter(|p| p["name"].as_str() == Some(name))
        .filter_map(|p| p["id"].as_u64().map(|id| id as u32))
        .collect())
}

/// TCP segments retransmitted in `ns` so far (`RetransSegs` of `/proc/net/snmp`).
pub fn tcp_retransmits(ns: &Netns) -> Result<u64> {
    let text = ns
        .run(|| std::fs::read_to_string("/proc/thread-self/net/snmp"))
        .context("reading /proc/net/snmp")?;
    let mut tcp = text.lines().filter(|l| l.starts_with("Tcp:"));
    let (names, values) = (tcp.next(), tcp.next());
    let (Some(names), Some(values)) = (names, values) else {
        bail!("no Tcp lines in /proc/net/snmp");
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == "RetransSegs")
        .and_then(|(_, v)| v.parse().ok())
        .context("no RetransSegs in /proc/net/snmp")
}

// ---------------------------------------------------------------------------------------
// Streams

static EPOCH: OnceLock<Instant> = OnceLock::new();
static STREAM_ID: AtomicU32 = AtomicU32::new(1);
static PING_ID: AtomicU16 = AtomicU16::new(0);

/// Time since a process-wide epoch: every stream stamps its packets with it, so send times,
/// receive times and the times of the test's own actions compare directly.
pub fn now() -> Duration {
    EPOCH.get_or_init(Instant::now).elapsed()
}

const MAGIC: &[u8; 4] = b"ZCFW";
const DATAGRAM_LEN: usize = 24;

/// Sleeps until `t` (on the [`now`] clock), if it is in the future.
fn sleep_until(t: Duration) {
    if let Some(d) = t.checked_sub(now()) {
        thread::sleep(d);
    }
}

/// What a stream sent: the send time of every sequence number.
#[derive(Clone, Debug, Default)]
pub struct Sent {
    /// `times[seq]`: when datagram / request `seq` was sent.
    pub times: Vec<Duration>,
    /// Sends that failed (with the error of the first).
    pub errors: u64,
    pub first_error: Option<String>,
}

impl Sent {
    pub fn count(&self) -> u64 {
        self.times.len() as u64
    }
}

/// Sends sequence-numbered, time-stamped UDP datagrams at a fixed rate from `src` (bound in
/// the source namespace) to `dst`, until stopped or until `count` were sent.
#[derive(Debug)]
pub struct UdpSource {
    id: u32,
    src: SocketAddr,
    dst: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Sent>>,
}

impl UdpSource {
    /// Starts sending `pps` datagrams per second (paced against the clock, so the rate holds
    /// on average even when a sleep overshoots); `count`: stop after that many.
    pub fn start(
        ns: &Netns,
        src: SocketAddr,
        dst: SocketAddr,
        pps: u32,
        count: Option<u64>,
    ) -> Result<UdpSource> {
        let sock = ns
            .run(|| {
                let s = Socket::new(Domain::for_address(src), Type::DGRAM, Some(Protocol::UDP))?;
                s.set_reuse_address(true)?;
                s.bind(&src.into())?;
                s.set_send_buffer_size(1 << 20)?;
                Ok::<_, std::io::Error>(UdpSocket::from(s))
            })
            .with_context(|| format!("binding UDP {src} in {}", ns.name()))?;
        let id = STREAM_ID.fetch_add(1, Ordering::Relaxed);
        let stop = Arc::new(AtomicBool::new(false));
        let interval = Duration::from_secs(1) / pps.max(1);
        let thread = {
            let stop = stop.clone();
            thread::Builder::new()
                .name(format!("udp source {src} -> {dst}"))
                .spawn(move || {
                    let mut sent = Sent::default();
                    let start = now();
                    // Attempts, for pacing and `count`; a failed send reuses its sequence
                    // number, so `seq` indexes `sent.times`.
                    let mut n: u64 = 0;
                    while !stop.load(Ordering::Relaxed) && count.is_none_or(|c| n < c) {
                        sleep_until(start + interval * n as u32);
                        n += 1;
                        let seq = sent.times.len() as u64;
                        let t = now();
                        let mut msg = Vec::with_capacity(DATAGRAM_LEN);
                        msg.extend_from_slice(MAGIC);
                        msg.extend_from_slice(&id.to_be_bytes());
                        msg.extend_from_slice(&seq.to_be_bytes());
                        msg.extend_from_slice(&(t.as_nanos() as u64).to_be_bytes());
                        match sock.send_to(&msg, dst) {
                            Ok(_) => sent.times.push(t),
                            Err(e) => {
                                sent.errors += 1;
                                sent.first_error.get_or_insert_with(|| e.to_string());
                            }
                        }
                    }
                    sent
                })?
        };
        Ok(UdpSource {
            id,
            src,
            dst,
            stop,
            thread: Some(thread),
        })
    }

    /// The stream id carried in every datagram.
    pub fn id(&self) -> u32 {
        self.id
    }

    pub fn src(&self) -> SocketAddr {
        self.src
    }

    pub fn dst(&self) -> SocketAddr {
        self.dst
    }

    /// Stops sending and returns what was sent.
    pub fn stop(mut self) -> Sent {
        self.stop.store(true, Ordering::Relaxed);
        self.join()
    }

    /// Waits until `count` datagrams were sent (see [`UdpSource::start`]).
    pub fn wait(mut self) -> Sent {
        self.join()
    }

    fn join(&mut self) -> Sent {
        self.thread
            .take()
            .map(|t| t.join().unwrap_or_default())
            .unwrap_or_default()
    }
}

impl Drop for UdpSource {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.join();
    }
}

/// One datagram a [`UdpSink`] received.
#[derive(Clone, Debug)]
pub struct Arrival {
    pub from: SocketAddr,
    pub stream: u32,
    pub seq: u64,
    /// When it was sent and received, on the [`now`] clock.
    pub sent: Duration,
    pub received: Duration,
}

/// Receives the datagrams of [`UdpSource`]s (any number) on one address and records them.
#[derive(Debug)]
pub struct UdpSink {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    arrivals: Arc<Mutex<Vec<Arrival>>>,
    thread: Option<JoinHandle<()>>,
}

impl UdpSink {
    /// Binds `addr` in `ns` (with a large receive buffer: nothing is lost to a busy test
    /// machine) and records everything that arrives.
    pub fn start(ns: &Netns, addr: SocketAddr) -> Result<UdpSink> {
        let sock = ns
            .run(|| {
                let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
                s.set_reuse_address(true)?;
                s.set_recv_buffer_size(4 << 20)?;
                s.bind(&addr.into())?;
                Ok::<_, std::io::Error>(UdpSocket::from(s))
            })
            .with_context(|| format!("binding UDP {addr} in {}", ns.name()))?;
        sock.set_read_timeout(Some(Duration::from_millis(20)))?;
        let stop = Arc::new(AtomicBool::new(false));
        let arrivals = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let stop = stop.clone();
            let arrivals = arrivals.clone();
            thread::Builder::new()
                .name(format!("udp sink {addr}"))
                .spawn(move || {
                    let mut buf = [0u8; 2048];
                    while !stop.load(Ordering::Relaxed) {
                        let Ok((n, from)) = sock.recv_from(&mut buf) else {
                            continue;
                        };
                        let received = now();
                        let m = &buf[..n];
                        if n != DATAGRAM_LEN || &m[..4] != MAGIC {
                            continue;
                        }
                        let a = Arrival {
                            from,
                            stream: u32::from_be_bytes(m[4..8].try_into().expect("4 bytes")),
                            seq: u64::from_be_bytes(m[8..16].try_into().expect("8 bytes")),
                            sent: Duration::from_nanos(u64::from_be_bytes(
                                m[16..24].try_into().expect("8 bytes"),
                            )),
                            received,
                        };
                        if let Ok(mut v) = arrivals.lock() {
                            v.push(a);
                        }
                    }
                })?
        };
        Ok(UdpSink {
            addr,
            stop,
            arrivals,
            thread: Some(thread),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every datagram received so far.
    pub fn arrivals(&self) -> Vec<Arrival> {
        self.arrivals.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// The datagrams of stream `id` received so far.
    pub fn of(&self, id: u32) -> Vec<Arrival> {
        self.arrivals()
            .into_iter()
            .filter(|a| a.stream == id)
            .collect()
    }
}

impl Drop for UdpSink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Sent vs. received of one stream.
#[derive(Clone, Debug, Default)]
pub struct Delivery {
    pub sent: u64,
    pub delivered: u64,
    pub duplicates: u64,
    /// Sequence numbers sent but not delivered (first 20).
    pub missing: Vec<u64>,
    pub missing_count: u64,
}

impl Delivery {
    /// Compares `sent` with the sequence numbers that arrived.
    pub fn of(sent: &Sent, arrived: impl IntoIterator<Item = u64>) -> Delivery {
        let mut seen = vec![false; sent.times.len()];
        let mut d = Delivery {
            sent: sent.count(),
            ..Delivery::default()
        };
        for seq in arrived {
            match seen.get_mut(seq as usize) {
                Some(s) if *s => d.duplicates += 1,
                Some(s) => {
                    *s = true;
                    d.delivered += 1;
                }
                None => d.duplicates += 1, // never sent: counts as bogus
            }
        }
        for (seq, s) in seen.iter().enumerate() {
            if !s {
                d.missing_count += 1;
                if d.missing.len() < 20 {
                    d.missing.push(seq as u64);
                }
            }
        }
        d
    }

    pub fn lost(&self) -> u64 {
        self.sent - self.delivered
    }
}

impl std::fmt::Display for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} of {} delivered ({} lost, {} duplicate)",
            self.delivered,
            self.sent,
            self.lost(),
            self.duplicates
        )?;
        if !self.missing.is_empty() {
            write!(f, ", missing seq {:?}", self.missing)?;
        }
        Ok(())
    }
}

/// ICMP / ICMPv6 echo requests at a fixed rate from one namespace (like `ping -i 0.01`),
/// with the replies matched by identifier and sequence number.
#[derive(Debug)]
pub struct PingStream {
    dst: IpAddr,
    stop_send: Arc<AtomicBool>,
    stop_recv: Arc<AtomicBool>,
    sender: Option<JoinHandle<Sent>>,
    receiver: Option<JoinHandle<Vec<(u16, Duration)>>>,
}

impl PingStream {
    /// Starts `pps` echo requests per second from `ns` to `dst`.
    pub fn start(ns: &Netns, dst: IpAddr, pps: u32) -> Result<PingStream> {
        let v6 = dst.is_ipv6();
        let sock = ns
            .run(|| {
                if v6 {
                    Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6))
                } else {
                    Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4))
                }
            })
            .context("raw ICMP socket (are you root?)")?;
        sock.set_read_timeout(Some(Duration::from_millis(20)))?;
        sock.set_recv_buffer_size(4 << 20)?;
        let sock = Arc::new(sock);
        let id = (std::process::id() as u16).wrapping_mul(7919)
            ^ 0x5a00
            ^ PING_ID.fetch_add(1, Ordering::Relaxed);
        let interval = Duration::from_secs(1) / pps.max(1);
        let stop_send = Arc::new(AtomicBool::new(false));
        let stop_recv = Arc::new(AtomicBool::new(false));
        let sender = {
            let sock = sock.clone();
            let stop = stop_send.clone();
            thread::Builder::new()
                .name(format!("ping -> {dst}"))
                .spawn(move || {
                    let target = SockAddr::from(SocketAddr::new(dst, 0));
                    let mut sent = Sent::default();
                    let start = now();
                    let mut n: u32 = 0;
                    while !stop.load(Ordering::Relaxed) {
                        sleep_until(start + interval * n);
                        n += 1;
                        let seq = sent.times.len() as u16;
                        let t = now();
                        let mut msg = vec![if v6 { 128 } else { 8 }, 0, 0, 0];
                        msg.extend_from_slice(&id.to_be_bytes());
                        msg.extend_from_slice(&seq.to_be_bytes());
                        msg.extend_from_slice(&(t.as_nanos() as u64).to_be_bytes());
                        msg.extend_from_slice(b"zcfw service ping");
                        if !v6 {
                            let c = checksum(&[&msg]);
                            msg[2..4].copy_from_slice(&c.to_be_bytes());
                        }
                        match sock.send_to(&msg, &target) {
                            Ok(_) => sent.times.push(t),
                            Err(e) => {
                                sent.errors += 1;
                                sent.first_error.get_or_insert_with(|| e.to_string());
                            }
                        }
                    }
                    sent
                })?
        };
        let receiver = {
            let stop = stop_recv.clone();
            thread::Builder::new()
                .name(format!("ping replies <- {dst}"))
                .spawn(move || {
                    let mut replies = Vec::new();
                    let mut buf = [0u8; 2048];
                    while !stop.load(Ordering::Relaxed) {
                        let n = match (&*sock).read(&mut buf) {
                            Ok(n) => n,
                            Err(_) => continue,
                        };
                        let icmp = if v6 {
                            &buf[..n]
                        } else {
                            let ihl = usize::from(buf[0] & 0x0f) * 4;
                            let IpAddr::V4(d) = dst else { continue };
                            if n < ihl + 8 || buf[12..16] != d.octets() {
                                continue;
                            }
                            &buf[ihl..n]
                        };
                        let reply_type = if v6 { 129 } else { 0 };
                        if icmp.len() >= 8
                            && icmp[0] == reply_type
                            && icmp[4..6] == id.to_be_bytes()
                        {
                            replies.push((u16::from_be_bytes([icmp[6], icmp[7]]), now()));
                        }
                    }
                    replies
                })?
        };
        Ok(PingStream {
            dst,
            stop_send,
            stop_recv,
            sender: Some(sender),
            receiver: Some(receiver),
        })
    }

    pub fn dst(&self) -> IpAddr {
        self.dst
    }

    /// Stops sending, waits `grace` for the last replies, and compares. Sequence numbers
    /// are 16 bits: keep a stream below 65536 requests.
    pub fn stop(self, grace: Duration) -> (Sent, Delivery) {
        let (sent, replied) = self.stop_replies(grace);
        let delivery = Delivery::of(&sent, replied.iter().map(|s| *s as u64));
        (sent, delivery)
    }

    /// Like [`PingStream::stop`], but returns the sequence numbers of the replies (in order
    /// of arrival) instead of comparing.
    pub fn stop_replies(mut self, grace: Duration) -> (Sent, Vec<u16>) {
        self.stop_send.store(true, Ordering::Relaxed);
        let sent = self
            .sender
            .take()
            .map(|t| t.join().unwrap_or_default())
            .unwrap_or_default();
        thread::sleep(grace);
        self.stop_recv.store(true, Ordering::Relaxed);
        let replies = self
            .receiver
            .take()
            .map(|t| t.join().unwrap_or_default())
            .unwrap_or_default();
        (sent, replies.into_iter().map(|(s, _)| s).collect())
    }
}

impl Drop for PingStream {
    fn drop(&mut self) {
        self.stop_send.store(true, Ordering::Relaxed);
        self.stop_recv.store(true, Ordering::Relaxed);
        if let Some(t) = self.sender.take() {
            let _ = t.join();
        }
        if let Some(t) = self.receiver.take() {
            let _ = t.join();
        }
    }
}

/// What a [`TcpFlow`] saw.
#[derive(Clone, Debug, Default)]
pub struct TcpReport {
    /// Records written and records echoed back.
    pub sent: u64,
    pub echoed: u64,
    /// Records that came back out of sequence (corruption or loss: TCP is ordered).
    pub out_of_order: u64,
    /// Longest time without an echoed record while records were outstanding.
    pub max_stall: Duration,
    /// The connection ended cleanly (EOF after everything was echoed).
    pub clean_close: bool,
    pub error: Option<String>,
}

impl std::fmt::Display for TcpReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} of {} records echoed, {} out of order, longest stall {:?}, clean close {}{}",
            self.echoed,
            self.sent,
            self.out_of_order,
            self.max_stall,
            self.clean_close,
            self.error
                .as_ref()
                .map(|e| format!(", error: {e}"))
                .unwrap_or_default()
        )
    }
}

#[derive(Debug, Default)]
struct TcpShared {
    out_of_order: u64,
    max_stall: Duration,
    clean_close: bool,
    error: Option<String>,
}

/// One TCP connection to an echo server carrying paced 16-byte records (sequence number,
/// send time) for as long as it runs; the reader checks that every record comes back in
/// sequence.
#[derive(Debug)]
pub struct TcpFlow {
    stream: TcpStream,
    stop: Arc<AtomicBool>,
    stop_reader: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    echoed: Arc<AtomicU64>,
    shared: Arc<Mutex<TcpShared>>,
    writer: Option<JoinHandle<()>>,
    reader: Option<JoinHandle<()>>,
}

const RECORD: usize = 16;

impl TcpFlow {
    /// Connects from `ns` to the echo server `dst` and writes `rate` records per second.
    pub fn start(ns: &Netns, dst: SocketAddr, rate: u32) -> Result<TcpFlow> {
        let stream = traffic::tcp_connect(ns, None, dst, Duration::from_secs(5))?;
        stream.set_nodelay(true)?;
        stream.set_write_timeout(Some(Duration::from_millis(200)))?;
        stream.set_read_timeout(Some(Duration::from_millis(20)))?;
        let stop = Arc::new(AtomicBool::new(false));
        let stop_reader = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let echoed = Arc::new(AtomicU64::new(0));
        let shared = Arc::new(Mutex::new(TcpShared::default()));
        let interval = Duration::from_secs(1) / rate.max(1);
        let writer = {
            let mut w = stream.try_clone()?;
            let stop = stop.clone();
            let sent = sent.clone();
            let shared = shared.clone();
            thread::Builder::new()
                .name(format!("tcp flow -> {dst}"))
                .spawn(move || {
                    let start = now();
                    let mut seq: u64 = 0;
                    'outer: while !stop.load(Ordering::Relaxed) {
                        sleep_until(start + interval * seq as u32);
                        let mut rec = [0u8; RECORD];
                        rec[..8].copy_from_slice(&seq.to_be_bytes());
                        rec[8..].copy_from_slice(&(now().as_nanos() as u64).to_be_bytes());
                        let mut off = 0;
                        while off < RECORD {
                            match w.write(&rec[off..]) {
                                Ok(n) => off += n,
                                Err(e)
                                    if matches!(
                                        e.kind(),
                                        ErrorKind::WouldBlock | ErrorKind::TimedOut
                                    ) =>
                                {
                                    if stop.load(Ordering::Relaxed) && off == 0 {
                                        break 'outer;
                                    }
                                }
                                Err(e) => {
                                    if let Ok(mut s) = shared.lock() {
                                        s.error.get_or_insert_with(|| format!("writing: {e}"));
                                    }
                                    return;
                                }
                            }
                        }
                        seq += 1;
                        sent.store(seq, Ordering::Relaxed);
                    }
                    let _ = w.shutdown(Shutdown::Write);
                })?
        };
        let reader = {
            let mut r = stream.try_clone()?;
            let stop = stop_reader.clone();
            let sent = sent.clone();
            let echoed = echoed.clone();
            let shared = shared.clone();
            thread::Builder::new()
                .name(format!("tcp flow <- {dst}"))
                .spawn(move || {
                    let mut pending = Vec::new();
                    let mut buf = [0u8; 4096];
                    let mut expected: u64 = 0;
                    let mut last_progress = Instant::now();
                    let mut max_stall = Duration::ZERO;
                    let finish = |s: &Mutex<TcpShared>, f: &dyn Fn(&mut TcpShared)| {
                        if let Ok(mut s) = s.lock() {
                            f(&mut s);
                        }
                    };
                    while !stop.load(Ordering::Relaxed) {
                        // Outstanding records and no progress: that is a stall.
                        if sent.load(Ordering::Relaxed) > expected {
                            max_stall = max_stall.max(last_progress.elapsed());
                        } else {
                            last_progress = Instant::now();
                        }
                        match r.read(&mut buf) {
                            Ok(0) => {
                                finish(&shared, &|s| {
                                    s.clean_close = pending.is_empty();
                                    s.max_stall = max_stall;
                                });
                                return;
                            }
                            Ok(n) => {
                                pending.extend_from_slice(&buf[..n]);
                                let whole = pending.len() / RECORD * RECORD;
                                for rec in pending[..whole].chunks(RECORD) {
                                    let seq = u64::from_be_bytes(rec[..8].try_into().expect("8"));
                                    if seq != expected {
                                        finish(&shared, &|s| s.out_of_order += 1);
                                    }
                                    expected = seq + 1;
                                    echoed.fetch_add(1, Ordering::Relaxed);
                                }
                                pending.drain(..whole);
                                max_stall = max_stall.max(last_progress.elapsed());
                                last_progress = Instant::now();
                            }
                            Err(e)
                                if matches!(
                                    e.kind(),
                                    ErrorKind::WouldBlock | ErrorKind::TimedOut
                                ) => {}
                            Err(e) => {
                                finish(&shared, &|s| {
                                    s.error.get_or_insert_with(|| format!("reading: {e}"));
                                    s.max_stall = max_stall;
                                });
                                return;
                            }
                        }
                    }
                    finish(&shared, &|s| s.max_stall = max_stall);
                })?
        };
        Ok(TcpFlow {
            stream,
            stop,
            stop_reader,
            sent,
            echoed,
            shared,
            writer: Some(writer),
            reader: Some(reader),
        })
    }

    /// Records written so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Records echoed back so far.
    pub fn echoed(&self) -> u64 {
        self.echoed.load(Ordering::Relaxed)
    }

    /// Waits up to `timeout` until more than `n` records have come back.
    pub fn wait_echoed_beyond(&self, n: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.echoed() > n {
                return true;
            }
            thread::sleep(Duration::from_millis(5));
        }
        self.echoed() > n
    }

    /// Stops writing, closes the write side and waits up to `timeout` for every record and
    /// the server's EOF; a connection that does not finish in time is reset.
    pub fn finish(mut self, timeout: Duration) -> TcpReport {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline && !self.reader.as_ref().is_some_and(|r| r.is_finished()) {
            thread::sleep(Duration::from_millis(5));
        }
        self.stop_reader.store(true, Ordering::Relaxed);
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        let s = self
            .shared
            .lock()
            .map(|mut s| std::mem::take(&mut *s))
            .unwrap_or_default();
        let report = TcpReport {
            sent: self.sent(),
            echoed: self.echoed(),
            out_of_order: s.out_of_order,
            max_stall: s.max_stall,
            clean_close: s.clean_close,
            error: s.error,
        };
        if !report.clean_close {
            let _ = SockRef::from(&self.stream).set_linger(Some(Duration::ZERO));
        }
        report
    }
}

impl Drop for TcpFlow {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.stop_reader.store(true, Ordering::Relaxed);
        if self.writer.is_some() || self.reader.is_some() {
            // Not finished: reset rather than leave a socket retransmitting.
            let _ = SockRef::from(&self.stream).set_linger(Some(Duration::ZERO));
            let _ = self.stream.shutdown(Shutdown::Both);
        }
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}

/// Samples `ip -d link` of the gateway's interfaces as fast as `ip` runs, to catch any
/// moment in which one of them carries no XDP program.
#[derive(Debug)]
pub struct XdpWatch {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<XdpSamples>>,
}

/// What an [`XdpWatch`] saw.
#[derive(Clone, Debug, Default)]
pub struct XdpSamples {
    /// Samples taken (one `ip` call each, covering every interface).
    pub samples: u64,
    /// Samples in which an interface had no XDP: (time, interface).
    pub gaps: Vec<(Duration, String)>,
    /// Every distinct program id seen, in order of first sight.
    pub prog_ids: Vec<u32>,
    pub errors: Vec<String>,
}

impl XdpWatch {
    pub fn start(gateway: &Netns, interfaces: &[String]) -> Result<XdpWatch> {
        let ns = gateway.name().to_string();
        let interfaces = interfaces.to_vec();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            thread::Builder::new()
                .name(format!("xdp watch {ns}"))
                .spawn(move || {
                    let mut s = XdpSamples::default();
                    while !stop.load(Ordering::Relaxed) {
                        let out = crate::cmd::run(
                            Command::new("ip").args(["-n", &ns, "-d", "-o", "link", "show"]),
                        );
                        let t = now();
                        let text = match out {
                            Ok(t) => t,
                            Err(e) => {
                                if s.errors.len() < 5 {
                                    s.errors.push(format!("{e:#}"));
                                }
                                continue;
                            }
                        };
                        s.samples += 1;
                        for ifname in &interfaces {
                            // `-o`: one line per link, "N: name@peer: <...> ...".
                            let line = text.lines().find(|l| {
                                l.split_whitespace().nth(1).is_some_and(|n| {
                                    n.trim_end_matches(':').split('@').next() == Some(ifname)
                                })
                            });
                            match line {
                                Some(l) if has_xdp(l) => {
                                    if let Some(id) = xdp_prog_id(l)
                                        && !s.prog_ids.contains(&id)
                                    {
                                        s.prog_ids.push(id);
                                    }
                                }
                                _ => s.gaps.push((t, ifname.clone())),
                            }
                        }
                    }
                    s
                })?
        };
        Ok(XdpWatch {
            stop,
            thread: Some(thread),
        })
    }

    pub fn stop(mut self) -> XdpSamples {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .map(|t| t.join().unwrap_or_default())
            .unwrap_or_default()
    }
}

impl Drop for XdpWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reload_output_parses() {
        let live = Live::parse(
            "policy svc-a (sha256 0123456789ab) is live: generation 17, loaded in 3.4 ms\n",
        )
        .expect("parses");
        assert_eq!(live.name, "svc-a");
        assert_eq!(live.hash_prefix, "0123456789ab");
        assert_eq!(live.generation, 17);
        assert!((live.load_ms - 3.4).abs() < 1e-9);
        assert_eq!(Live::parse("reload refused"), None);
    }

    #[test]
    fn prog_id_parses() {
        assert_eq!(
            xdp_prog_id(
                "2: ga@if2: <UP> mtu 1500 xdp qdisc noqueue\n    prog/xdp id 101 name zcfw_xdp tag 6"
            ),
            Some(101)
        );
        assert_eq!(xdp_prog_id("2: ga@if2: <UP> mtu 1500 qdisc noqueue"), None);
    }

    #[test]
    fn delivery_counts_missing_and_duplicates() {
        let sent = Sent {
            times: vec![Duration::ZERO; 5],
            ..Sent::default()
        };
        let d = Delivery::of(&sent, [0, 1, 1, 3, 9]);
        assert_eq!((d.sent, d.delivered, d.duplicates), (5, 3, 2));
        assert_eq!(d.missing, vec![2, 4]);
        assert_eq!(d.lost(), 2);
    }
}
