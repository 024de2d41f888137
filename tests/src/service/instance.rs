//! [`Service`]: one zcfw instance installed on a gateway, daemons that come and go.

use std::{
    fs::OpenOptions,
    io::Write,
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    thread::{self},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use nix::{
    sys::signal::{Signal, kill},
    unistd::Pid,
};
/// What `zcfw status --json` prints.
pub use zcfw::control::status::Status;

use super::{CLIENT_TIMEOUT, Captured, capture, test_bpffs, xdp_prog_id};
use crate::{
    daemon::{Stats, has_xdp, wait_until_ready, zcfw_bin},
    netns::Netns,
    plant::Plant,
    tempdir::TempDir,
};

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
}
