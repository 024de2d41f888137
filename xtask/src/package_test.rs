//! `cargo xtask package-test`: the Debian package on a clean Debian 12 root, end to end.
//!
//! 1. builds the package twice (`cargo xtask package`), the second with a higher version
//!    (`VERSION+pkgtest1`), to upgrade to;
//! 2. extracts a clean bookworm root (mmdebstrap `--variant=minbase --include=systemd`, cached
//!    as `target/debian/root-bookworm-ARCH.tar`, so only the first run downloads) and mounts
//!    /proc, /sys, /dev and a bpffs instance of its own at ROOT/sys/fs/bpf (pins of the test
//!    never meet the host's);
//! 3. `dpkg -i` (which stops on the missing `adduser`) and `apt-get -f install`; checks the
//!    files, the conffiles, the groups, that nothing was enabled, and `systemd-analyze verify`
//!    of the installed unit;
//! 4. a plant of three network namespaces (client, gateway with `eth0`/`eth1`, server) and the
//!    daemon started the way systemd starts it: in the chroot, ExecStart= of the installed
//!    unit with /etc/default/zcfw read as its EnvironmentFile=, in the gateway namespace;
//! 5. the shipped policy cuts nothing: SSH (tcp 22) to the gateway and through it connects;
//! 6. an enforcing policy (the administrator's edit of the conffile) through ExecReload=;
//! 7. upgrade while traffic flows: `dpkg -i` of the newer package with the daemon running,
//!    then the restart postinst asks systemd for (stop, start from ExecStart=): an allowed
//!    connection echoes throughout and not one connection to a denied port succeeds;
//! 8. `dpkg -r` (after the stop systemd would do): enforcement ends (no XDP, denied port
//!    reachable, pins gone), conffiles kept; `dpkg -P`: configuration gone, groups kept.

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail, ensure};

use crate::{
    Ctx,
    exec::{self, fail},
    package::{self, Built, Options},
};

const SUITE: &str = "bookworm";
/// The Debian mirror of the clean root, unless `ZCFW_DEBIAN_MIRROR` names another.
const MIRROR: &str = "http://deb.debian.org/debian";
const SYSTEM_PYTHON: &str = "/usr/bin/python3";

/// The echo server (port 8000), the leak detector (8001: anything that connects gets an answer
/// and is counted) and an SSH stand-in (22); one per namespace that needs it.
const SERVER_PY: &str = include_str!("pkgtest/server.py");

/// `connect HOST PORT`: exit 0 when a banner arrives within 2 s.
const CONNECT_PY: &str = include_str!("pkgtest/connect.py");

/// Traffic while the package is upgraded: one long-lived connection to the echo port (a line
/// every 50 ms, each echo awaited) and a connection attempt to the denied port every 100 ms,
/// until STOPFILE exists. Prints `echoes errors probes leaks`.
const TRAFFIC_PY: &str = include_str!("pkgtest/traffic.py");

/// Stand-in for systemd's `systemctl` and `deb-systemd-invoke` (in /usr/local/sbin, first on
/// PATH): /run/systemd/system exists in the root, so the maintainer scripts take their systemd
/// branches; the calls are logged, and `stop` does what systemd would (SIGTERM to the daemon).
const SYSTEMD_STUB: &str = r#"#!/bin/sh
echo "${0##*/} $*" >> /run/zcfw-pkgtest-systemd.log
if [ "${0##*/}" = deb-systemd-invoke ] && [ "$1" = stop ] && [ -r /run/zcfw-pkgtest.pid ]; then
    kill -TERM "$(cat /run/zcfw-pkgtest.pid)" 2>/dev/null || true
fi
"#;

/// `metrics URL`: exit 0 when the Prometheus text at URL has zcfw's counters.
const METRICS_PY: &str = include_str!("pkgtest/metrics.py");

/// The administrator's /etc/default/zcfw: two options in ZCFW_OPTS (word splitting as systemd
/// does it), one of them the metrics listener.
const DEFAULT_WITH_OPTS: &str = "ZCFW_OPTS=\"--metrics-listen 127.0.0.1:9469 --event-rate 500\"\n";

/// The administrator's enforcing policy: client and server zones, one conduit to port 8000.
const ENFORCING_POLICY: &str = "\
version: 1
name: pkgtest-enforcing
interfaces:
  - { name: eth0, zones: [clients] }
  - { name: eth1, zones: [servers] }
zones:
  clients: { security_level: 1, networks: [10.91.1.0/24] }
  servers: { security_level: 1, networks: [10.91.2.0/24] }
conduits:
  - name: clients-to-echo
    from: clients
    to: servers
    rules:
      - { protocol: tcp, ports: [8000] }
";

pub fn cmd_package_test(ctx: &Ctx) -> Result<()> {
    if !ctx.is_root {
        return Err(fail(
            2,
            "`cargo xtask package-test` needs root (chroot, mounts, network namespaces, XDP)",
        ));
    }
    for tool in ["mmdebstrap", "ip", "tar", "chroot", "mount", "umount"] {
        if exec::find_program(tool, &[]).is_none() {
            return Err(fail(
                1,
                format!("{tool} not found: `cargo xtask setup` installs what package-test needs"),
            ));
        }
    }
    let v1 = package::cmd_package(ctx, &Options::default())?;
    let v2 = package::cmd_package(
        ctx,
        &Options {
            version: Some(format!("{}+pkgtest1", v1.version)),
            ..Options::default()
        },
    )?;
    lintian(&v1.deb)?;
    let base = base_root(ctx, &v1.arch)?;
    let mut world = World::new(ctx, &base)?;
    let result = world.run(&v1, &v2);
    if result.is_err() {
        println!("--- daemon log ---\n{}", world.daemon_log());
    }
    drop(world);
    result?;
    println!("package-test: every check passed");
    Ok(())
}

/// lintian: any error or warning fails (overrides, with their reasons, are in
/// packaging/debian/lintian-overrides); pedantic and info tags are shown.
pub fn lintian(deb: &Path) -> Result<()> {
    if exec::find_program("lintian", &[]).is_none() {
        return Err(fail(
            1,
            "lintian not found: `cargo xtask setup` installs it",
        ));
    }
    exec::run(
        Command::new("lintian")
            .args(["--info", "--pedantic", "--fail-on", "error,warning"])
            .arg(deb),
    )
}

/// The cached clean root, made by mmdebstrap on the first run.
fn base_root(ctx: &Ctx, arch: &str) -> Result<PathBuf> {
    let dir = ctx.target_dir().join("debian");
    let tar = dir.join(format!("root-{SUITE}-{arch}.tar"));
    if tar.is_file() {
        println!(
            "clean root: {} (cached; delete it to rebuild)",
            tar.display()
        );
        return Ok(tar);
    }
    fs::create_dir_all(&dir)?;
    let partial = dir.join(format!(".root-{SUITE}-{arch}.partial.tar"));
    exec::run(
        Command::new("mmdebstrap")
            .args(["--variant=minbase", "--include=systemd"])
            .arg(format!("--architectures={arch}"))
            .arg(SUITE)
            .arg(&partial)
            .arg(std::env::var("ZCFW_DEBIAN_MIRROR").unwrap_or_else(|_| MIRROR.to_owned())),
    )?;
    fs::rename(&partial, &tar)?;
    Ok(tar)
}

/// The chroot, its mounts, the plant and the processes; torn down on drop.
struct World {
    root: PathBuf,
    logs: PathBuf,
    mounts: Vec<PathBuf>,
    ns: [String; 3],
    daemon: Option<Child>,
    daemon_runs: u32,
    /// Test servers and the client traffic: killed on drop, whatever happened.
    servers: Vec<Child>,
}

const CLIENT: usize = 0;
const GATEWAY: usize = 1;
const SERVER: usize = 2;

impl World {
    fn new(ctx: &Ctx, base: &Path) -> Result<World> {
        let root = ctx.target_dir().join("debian/pkgtest-root");
        let logs = ctx.target_dir().join("debian/pkgtest-logs");
        // A root left mounted by a killed run is unmounted before it is removed.
        for sub in ["sys/fs/bpf", "sys", "proc", "dev"] {
            let _ = Command::new("umount")
                .arg("-l")
                .arg(root.join(sub))
                .stderr(Stdio::null())
                .status();
        }
        for dir in [&root, &logs] {
            match fs::remove_dir_all(dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).with_context(|| format!("cannot clear {}", dir.display())),
            }
            fs::create_dir_all(dir)?;
        }
        exec::run(
            Command::new("tar")
                .arg("-xf")
                .arg(base)
                .arg("-C")
                .arg(&root),
        )?;
        fs::copy("/etc/resolv.conf", root.join("etc/resolv.conf"))
            .context("copying /etc/resolv.conf into the root (apt needs the mirror)")?;
        let pid = std::process::id();
        let mut world = World {
            root,
            logs,
            mounts: Vec::new(),
            ns: [
                format!("zcfw-pkt-c-{pid}"),
                format!("zcfw-pkt-g-{pid}"),
                format!("zcfw-pkt-s-{pid}"),
            ],
            daemon: None,
            daemon_runs: 0,
            servers: Vec::new(),
        };
        world.mount(&["-t", "proc", "proc"], "proc")?;
        world.mount(&["-t", "sysfs", "sysfs"], "sys")?;
        // A bpffs instance of its own: the daemon's default pin dir, isolated from the host.
        world.mount(&["-t", "bpf", "-o", "mode=0700", "bpf"], "sys/fs/bpf")?;
        world.mount(&["--bind", "/dev"], "dev")?;
        world.plant()?;
        Ok(world)
    }

    fn mount(&mut self, args: &[&str], at: &str) -> Result<()> {
        let target = self.root.join(at);
        fs::create_dir_all(&target)?;
        exec::run(Command::new("mount").args(args).arg(&target))?;
        self.mounts.push(target);
        Ok(())
    }

    fn ip(&self, args: &[&str]) -> Result<()> {
        exec::run(Command::new("ip").args(args))
    }

    /// client (10.91.1.2) ─ eth0 [gateway] eth1 ─ server (10.91.2.2).
    fn plant(&self) -> Result<()> {
        let [c, g, s] = &self.ns;
        for ns in &self.ns {
            self.ip(&["netns", "add", ns])?;
            self.ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        for (peer, ifname, gw_addr, peer_addr) in [
            (c, "eth0", "10.91.1.1/24", "10.91.1.2/24"),
            (s, "eth1", "10.91.2.1/24", "10.91.2.2/24"),
        ] {
            self.ip(&[
                "-n", g, "link", "add", ifname, "type", "veth", "peer", "name", "veth0", "netns",
                peer,
            ])?;
            self.ip(&["-n", g, "addr", "add", gw_addr, "dev", ifname])?;
            self.ip(&["-n", g, "link", "set", ifname, "up"])?;
            self.ip(&["-n", peer, "addr", "add", peer_addr, "dev", "veth0"])?;
            self.ip(&["-n", peer, "link", "set", "veth0", "up"])?;
            let via = gw_addr.split('/').next().unwrap_or_default();
            self.ip(&["-n", peer, "route", "add", "default", "via", via])?;
        }
        exec::run(Command::new("ip").args([
            "netns",
            "exec",
            g,
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=1",
        ]))
    }

    /// `chroot ROOT ARGS` in the gateway namespace, output captured; fails on a non-zero exit.
    fn chroot(&self, args: &[&str]) -> Result<String> {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.ns[GATEWAY], "chroot"])
            .arg(&self.root)
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .env("PATH", "/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin");
        let line = exec::shown(&command);
        println!("$ {line}");
        exec::flush();
        let out = command
            .output()
            .with_context(|| format!("running `{line}`"))?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if !out.status.success() {
            bail!("`{line}` failed ({}):\n{text}", out.status);
        }
        Ok(text)
    }

    fn exists(&self, path: &str) -> bool {
        self.root
            .join(path.trim_start_matches('/'))
            .symlink_metadata()
            .is_ok()
    }

    fn python(&self, ns: usize, script: &str, args: &[&str]) -> Command {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.ns[ns], SYSTEM_PYTHON, "-c", script])
            .args(args);
        command
    }

    fn start_servers(&mut self) -> Result<()> {
        for ns in [GATEWAY, SERVER] {
            let mut child = self
                .python(ns, SERVER_PY, &[])
                .stdout(Stdio::piped())
                .spawn()
                .context("starting the test server")?;
            let mut ready = String::new();
            use std::io::BufRead;
            std::io::BufReader::new(child.stdout.take().context("server stdout")?)
                .read_line(&mut ready)?;
            self.servers.push(child);
            ensure!(ready.trim() == "ready", "the test server did not start");
        }
        Ok(())
    }

    /// Whether the client reaches HOST:PORT (a banner comes back).
    fn connects(&self, host: &str, port: u16) -> Result<bool> {
        let status = self
            .python(CLIENT, CONNECT_PY, &[host, &port.to_string()])
            .status()
            .context("running the client")?;
        Ok(status.success())
    }

    /// The unit's ExecStart= / ExecReload= command as installed.
    fn unit_command(&self, key: &str) -> Result<String> {
        let unit = fs::read_to_string(self.root.join(package::UNIT.trim_start_matches('/')))?;
        unit.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .map(str::to_owned)
            .with_context(|| format!("the installed unit has no {key}="))
    }

    /// Starts the daemon as systemd would: RuntimeDirectory=, EnvironmentFile=, ExecStart=
    /// (`$ZCFW_OPTS` split into words, as systemd does for an unquoted `$VAR`); waits until
    /// `zcfw status` answers.
    fn start_daemon(&mut self) -> Result<()> {
        let exec_start = self.unit_command("ExecStart")?;
        let env_file = self.unit_command("EnvironmentFile")?;
        let env_file = env_file.trim_start_matches('-');
        fs::create_dir_all(self.root.join("run/zcfw"))?;
        self.daemon_runs += 1;
        let log = self.logs.join(format!("daemon-{}.log", self.daemon_runs));
        let script =
            format!("set -a; [ -r {env_file} ] && . {env_file}; set +a; exec {exec_start}");
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.ns[GATEWAY], "chroot"])
            .arg(&self.root)
            .args(["/bin/sh", "-c", &script])
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .stdout(fs::File::create(&log)?)
            .stderr(fs::File::create(log.with_extension("err"))?);
        println!("$ {} (log: {})", exec::shown(&command), log.display());
        let child = command.spawn().context("starting the daemon")?;
        // For the systemd stand-in's `stop` (ip, chroot and sh exec: this is zcfw's pid).
        fs::write(
            self.root.join("run/zcfw-pkgtest.pid"),
            child.id().to_string(),
        )?;
        self.daemon = Some(child);
        let start = Instant::now();
        loop {
            if self.chroot(&["/usr/sbin/zcfw", "status"]).is_ok() {
                return Ok(());
            }
            if let Some(status) = self
                .daemon
                .as_mut()
                .and_then(|d| d.try_wait().ok().flatten())
            {
                bail!("the daemon exited before it was ready ({status})");
            }
            ensure!(
                start.elapsed() < Duration::from_secs(60),
                "the daemon was not ready within 60 s"
            );
            thread::sleep(Duration::from_millis(300));
        }
    }

    /// SIGTERM, as `systemctl stop` sends; waits for the exit.
    fn stop_daemon(&mut self) -> Result<()> {
        let Some(mut child) = self.daemon.take() else {
            return Ok(());
        };
        exec::run(Command::new("kill").args(["-TERM", &child.id().to_string()]))?;
        let start = Instant::now();
        while child.try_wait()?.is_none() {
            if start.elapsed() > Duration::from_secs(30) {
                let _ = child.kill();
                bail!("the daemon did not exit within 30 s of SIGTERM (TimeoutStopSec=30s)");
            }
            thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }

    /// What the maintainer scripts asked of systemd since the last call.
    fn systemd_calls(&self) -> Result<String> {
        let log = self.root.join("run/zcfw-pkgtest-systemd.log");
        let calls = fs::read_to_string(&log).unwrap_or_default();
        fs::write(&log, "")?;
        Ok(calls)
    }

    fn xdp_attached(&self) -> Result<bool> {
        let out = Command::new("ip")
            .args(["-n", &self.ns[GATEWAY], "-d", "link", "show"])
            .output()?;
        Ok(String::from_utf8_lossy(&out.stdout).contains("prog/xdp"))
    }

    fn daemon_log(&self) -> String {
        let mut text = String::new();
        for n in 1..=self.daemon_runs {
            for ext in ["log", "err"] {
                let path = self.logs.join(format!("daemon-{n}.{ext}"));
                text.push_str(&fs::read_to_string(&path).unwrap_or_default());
            }
        }
        text
    }

    fn run(&mut self, v1: &Built, v2: &Built) -> Result<()> {
        let debs = self.root.join("tmp");
        for built in [v1, v2] {
            let name = built.deb.file_name().context("deb name")?;
            fs::copy(&built.deb, debs.join(name))?;
        }
        let deb = |b: &Built| {
            format!(
                "/tmp/{}",
                b.deb.file_name().unwrap_or_default().to_string_lossy()
            )
        };

        fs::create_dir_all(self.root.join("run/systemd/system"))?;
        for name in ["systemctl", "deb-systemd-invoke"] {
            package_stub(&self.root.join("usr/local/sbin").join(name), SYSTEMD_STUB)?;
        }

        step("install: dpkg -i, then apt-get -f install for the dependencies");
        // dpkg -i stops on a missing dependency; apt-get -f install resolves it. (adduser,
        // which postinst runs, is in every root with apt: apt depends on it; Depends names it
        // anyway, checked below.)
        if self.chroot(&["dpkg", "-i", &deb(v1)]).is_err() {
            self.chroot(&["apt-get", "update", "-q"])?;
            self.chroot(&["apt-get", "-f", "install", "-y", "-q"])?;
        }
        let depends = self.chroot(&["dpkg-query", "-W", "-f=${Depends}", "zcfw"])?;
        ensure!(
            depends.contains("adduser") && depends.contains("libc6 (>="),
            "Depends lacks adduser or libc6: {depends}"
        );
        let status = self.chroot(&["dpkg-query", "-W", "-f=${Status} ${Version}", "zcfw"])?;
        ensure!(
            status == format!("install ok installed {}", v1.version),
            "zcfw is not installed: {status}"
        );
        let calls = self.systemd_calls()?;
        ensure!(
            calls.contains("systemctl --system daemon-reload")
                && !calls.contains("deb-systemd-invoke"),
            "a fresh install must reload systemd and start nothing; it called:\n{calls}"
        );

        step("files in place, groups, nothing enabled or started");
        for path in [
            package::BIN,
            package::UNIT,
            "/etc/zcfw/policy.yaml",
            "/etc/default/zcfw",
            "/usr/share/man/man8/zcfw.8.gz",
            "/usr/share/man/man8/zcfw-run.8.gz",
            "/usr/share/man/man8/zcfw-detach.8.gz",
            "/usr/share/man/man5/zcfw-policy.5.gz",
            "/usr/share/bash-completion/completions/zcfw",
            "/usr/share/zsh/vendor-completions/_zcfw",
            "/usr/share/fish/vendor_completions.d/zcfw.fish",
            "/usr/share/doc/zcfw/copyright",
            "/usr/share/doc/zcfw/changelog.Debian.gz",
            "/usr/share/doc/zcfw/examples/minimal.yaml",
            "/usr/share/doc/zcfw/examples/metrics.conf",
        ] {
            ensure!(self.exists(path), "{path} is not installed");
        }
        let conffiles = self.chroot(&["dpkg-query", "-W", "-f=${Conffiles}", "zcfw"])?;
        for conffile in ["/etc/zcfw/policy.yaml", "/etc/default/zcfw"] {
            ensure!(
                conffiles.contains(conffile),
                "{conffile} is not a conffile: {conffiles}"
            );
        }
        self.chroot(&["getent", "group", "zcfw", "zcfw-admin"])?;
        ensure!(
            !self.exists("/etc/systemd/system/multi-user.target.wants/zcfw.service"),
            "the package enabled zcfw.service on install"
        );
        ensure!(
            !self.xdp_attached()?,
            "something is attached before the daemon runs"
        );
        self.chroot(&["/usr/sbin/zcfw", "check", "/etc/zcfw/policy.yaml"])?;

        step("systemd-analyze verify of the installed unit");
        let said = self.chroot(&["systemd-analyze", "verify", "--man=no", package::UNIT])?;
        ensure!(
            said.trim().is_empty(),
            "systemd-analyze verify complained:\n{said}"
        );
        // The documented metrics drop-in, read with the unit (the unit path makes
        // systemd-analyze load drop-ins from /etc/systemd/system/zcfw.service.d).
        let dropin_dir = self.root.join("etc/systemd/system/zcfw.service.d");
        fs::create_dir_all(&dropin_dir)?;
        fs::copy(
            self.root.join("usr/share/doc/zcfw/examples/metrics.conf"),
            dropin_dir.join("metrics.conf"),
        )?;
        let said = self.chroot(&[
            "env",
            "SYSTEMD_UNIT_PATH=/etc/systemd/system:/lib/systemd/system",
            "systemd-analyze",
            "verify",
            "--man=no",
            "zcfw.service",
        ])?;
        ensure!(
            said.trim().is_empty(),
            "systemd-analyze verify complained about the unit with the metrics drop-in:\n{said}"
        );
        fs::remove_dir_all(&dropin_dir)?;

        step("the daemon from ExecStart= with the shipped policy: SSH is not cut");
        self.start_servers()?;
        self.start_daemon()?;
        ensure!(self.xdp_attached()?, "no XDP program on the gateway");
        ensure!(
            self.connects("10.91.1.1", 22)?,
            "SSH to the gateway is cut by the shipped policy"
        );
        ensure!(
            self.connects("10.91.2.2", 22)?,
            "SSH through the gateway is cut by the shipped policy"
        );
        // ...and not because the policy allowed it: the data path judged it a would-be deny.
        // (Events are not logged unless `--log-events`: ask the daemon for them.)
        let events = self.chroot(&["/usr/sbin/zcfw", "events", "--json"])?;
        ensure!(
            events.contains("\"action\":\"alert\""),
            "the shipped policy reported no alert for SSH from an address in no zone: {events}"
        );

        step("an enforcing policy through ExecReload=");
        fs::write(self.root.join("etc/zcfw/policy.yaml"), ENFORCING_POLICY)?;
        let reload = self.unit_command("ExecReload")?;
        let words: Vec<&str> = reload.split_whitespace().collect();
        self.chroot(&words)?;
        ensure!(
            self.connects("10.91.2.2", 8001).map(|c| !c)?,
            "the denied port is reachable"
        );

        step("upgrade while traffic flows");
        let stop = self.logs.join("traffic.stop");
        let mut traffic = self
            .python(CLIENT, TRAFFIC_PY, &["10.91.2.2", &stop.to_string_lossy()])
            .stdout(Stdio::piped())
            .spawn()
            .context("starting the traffic")?;
        let traffic_out = traffic.stdout.take().context("traffic stdout")?;
        self.servers.push(traffic);
        thread::sleep(Duration::from_secs(2));
        // The administrator also turned metrics on (a conffile change the upgrade keeps).
        fs::write(self.root.join("etc/default/zcfw"), DEFAULT_WITH_OPTS)?;
        self.chroot(&["dpkg", "--force-confdef", "--force-confold", "-i", &deb(v2)])?;
        let calls = self.systemd_calls()?;
        ensure!(
            calls.contains("deb-systemd-invoke try-restart zcfw.service")
                && !calls.contains(" stop "),
            "an upgrade must try-restart zcfw and stop nothing; it called:\n{calls}"
        );
        // What postinst's `deb-systemd-invoke try-restart` makes systemd do.
        self.stop_daemon()?;
        ensure!(
            self.xdp_attached()?,
            "stopping the daemon detached the firewall"
        );
        thread::sleep(Duration::from_secs(1));
        self.start_daemon()?;
        thread::sleep(Duration::from_secs(2));
        fs::write(&stop, "")?;
        let mut summary = String::new();
        std::io::Read::read_to_string(&mut { traffic_out }, &mut summary)
            .context("reading the traffic summary")?;
        let summary = summary.trim().to_owned();
        let nums: Vec<u64> = summary
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        ensure!(nums.len() == 4, "traffic summary unreadable: {summary:?}");
        let (echoes, errors, probes, leaks) = (nums[0], nums[1], nums[2], nums[3]);
        println!(
            "traffic during the upgrade: {echoes} echoes, {errors} errors, {probes} probes of the \
             denied port, {leaks} got through"
        );
        ensure!(
            errors == 0,
            "the allowed connection broke during the upgrade"
        );
        ensure!(echoes > 20, "too few echoes ({echoes}) to prove anything");
        ensure!(probes > 10, "too few probes ({probes}) to prove anything");
        ensure!(
            leaks == 0,
            "{leaks} connections to the denied port got through"
        );
        let status = self.chroot(&["dpkg-query", "-W", "-f=${Version}", "zcfw"])?;
        ensure!(status == v2.version, "the upgrade left version {status}");
        ensure!(
            fs::read_to_string(self.root.join("etc/zcfw/policy.yaml"))? == ENFORCING_POLICY,
            "the upgrade changed the administrator's policy"
        );
        ensure!(
            fs::read_to_string(self.root.join("etc/default/zcfw"))? == DEFAULT_WITH_OPTS,
            "the upgrade changed /etc/default/zcfw"
        );
        let metrics = self
            .python(GATEWAY, METRICS_PY, &["http://127.0.0.1:9469/metrics"])
            .status()?;
        ensure!(
            metrics.success(),
            "no metrics at 127.0.0.1:9469: ZCFW_OPTS from /etc/default/zcfw did not reach ExecStart="
        );
        let adopted = self.daemon_log();
        ensure!(
            adopted.contains("adopted the pinned policy of an earlier daemon"),
            "the daemon after the upgrade did not adopt the pinned policy:\n{adopted}"
        );
        println!("daemon after the upgrade is up; policy kept, pins adopted");
        ensure!(
            self.chroot(&["/usr/sbin/zcfw", "status"])?
                .contains("pkgtest-enforcing"),
            "the new daemon does not enforce the administrator's policy:\n{adopted}"
        );

        step("remove: enforcement ends, conffiles stay");
        // prerm's `deb-systemd-invoke stop` (the stand-in sends SIGTERM), then detach.
        self.chroot(&["dpkg", "-r", "zcfw"])?;
        let calls = self.systemd_calls()?;
        ensure!(
            calls.contains("deb-systemd-invoke stop zcfw.service"),
            "remove did not stop the service; it called:\n{calls}"
        );
        let mut daemon = self.daemon.take().context("no daemon")?;
        let start = Instant::now();
        while daemon.try_wait()?.is_none() {
            ensure!(
                start.elapsed() < Duration::from_secs(5),
                "the daemon still runs after dpkg -r"
            );
            thread::sleep(Duration::from_millis(100));
        }
        ensure!(!self.xdp_attached()?, "XDP is still attached after remove");
        ensure!(
            self.connects("10.91.2.2", 8001)?,
            "the denied port is still blocked after remove"
        );
        ensure!(!self.exists("/sys/fs/bpf/zcfw"), "pins left after remove");
        ensure!(
            !self.exists(package::BIN),
            "the binary is still there after remove"
        );
        ensure!(
            self.exists("/etc/zcfw/policy.yaml"),
            "remove deleted the policy (a conffile)"
        );

        step("purge: configuration gone, groups kept");
        self.chroot(&["dpkg", "-P", "zcfw"])?;
        ensure!(
            !self.exists("/etc/zcfw"),
            "/etc/zcfw is still there after purge"
        );
        ensure!(
            !self.exists("/etc/default/zcfw"),
            "/etc/default/zcfw is still there after purge"
        );
        self.chroot(&["getent", "group", "zcfw", "zcfw-admin"])?;
        Ok(())
    }
}

fn package_stub(path: &Path, text: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::create_dir_all(path.parent().context("stub dir")?)?;
    fs::write(path, text)?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))?;
    Ok(())
}

fn step(title: &str) {
    println!();
    println!("--> {title}");
    exec::flush();
}

impl Drop for World {
    fn drop(&mut self) {
        if let Some(mut child) = self.daemon.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        for mut child in self.servers.drain(..) {
            let _ = child.kill();
            let _ = child.wait();
        }
        // Deleting the namespaces deletes the veths and with them any XDP attachment.
        for ns in &self.ns {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
        for target in self.mounts.iter().rev() {
            let _ = Command::new("umount").arg("-l").arg(target).status();
        }
    }
}
