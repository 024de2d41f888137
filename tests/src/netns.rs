//! Named network namespaces and running code inside them.

use std::{
    fs::File,
    path::{Path, PathBuf},
    process::Command,
    thread,
};

use anyhow::{Context, Result, anyhow};
use nix::sched::{CloneFlags, setns};

use crate::cmd;

/// A network namespace created with `ip netns add NAME` (so `/run/netns/NAME` exists and
/// `ip -n NAME` works), deleted on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates the namespace and brings its loopback up.
    pub fn create(name: &str) -> Result<Netns> {
        cmd::ip(&["netns", "add", name]).with_context(|| {
            format!("failed to create network namespace {name} (are you root?)")
        })?;
        let ns = Netns {
            name: name.to_string(),
        };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// The namespace name (as `ip netns list` shows it).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `/run/netns/NAME`, the bind mount that keeps the namespace alive.
    pub fn path(&self) -> PathBuf {
        netns_path(&self.name)
    }

    /// `ip -n NAME ARGS...`; returns stdout.
    pub fn ip(&self, args: &[&str]) -> Result<String> {
        let mut c = Command::new("ip");
        c.arg("-n").arg(&self.name).args(args);
        cmd::run(&mut c)
    }

    /// A command that runs `program` inside the namespace (`ip netns exec NAME program`).
    /// Note that `ip netns exec` gives the program its own mount namespace with a `/sys`
    /// (and `/sys/fs/bpf`) of its own.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.arg("netns").arg("exec").arg(&self.name).arg(program);
        c
    }

    /// Runs `f` on a thread that has entered this namespace, and returns its result (a panic
    /// in `f` is propagated). Network namespaces are per thread, so the caller's own thread
    /// is untouched; sockets created in `f` stay in this namespace wherever they are used
    /// afterwards.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let path = self.path();
        thread::scope(|s| {
            let handle = thread::Builder::new()
                .name(format!("netns {}", self.name))
                .spawn_scoped(s, move || {
                    if let Err(e) = enter(&path) {
                        panic!("{e:#}");
                    }
                    f()
                })
                .expect("failed to spawn a thread");
            match handle.join() {
                Ok(v) => v,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }

    /// Writes a sysctl of this namespace, e.g. `net.ipv4.ip_forward` = `1`.
    pub fn sysctl(&self, key: &str, value: &str) -> Result<()> {
        let file = PathBuf::from("/proc/sys").join(key.replace('.', "/"));
        self.run(|| std::fs::write(&file, value))
            .with_context(|| format!("failed to set {key}={value} in {}", self.name))
    }

    /// Reads a sysctl of this namespace.
    pub fn sysctl_get(&self, key: &str) -> Result<String> {
        let file = PathBuf::from("/proc/sys").join(key.replace('.', "/"));
        let v = self
            .run(|| std::fs::read_to_string(&file))
            .with_context(|| format!("failed to read {key} in {}", self.name))?;
        Ok(v.trim().to_string())
    }

    /// The MAC address of interface `ifname` in this namespace.
    pub fn mac(&self, ifname: &str) -> Result<[u8; 6]> {
        let json = self.ip(&["-j", "link", "show", "dev", ifname])?;
        let v: serde_json::Value = serde_json::from_str(&json)?;
        let text = v[0]["address"]
            .as_str()
            .ok_or_else(|| anyhow!("no address for {ifname} in {}: {json}", self.name))?;
        parse_mac(text)
    }

    /// `bridge -n NAME ARGS...` (iproute2's bridge tool); returns stdout.
    pub fn ip_bridge(&self, args: &[&str]) -> Result<String> {
        let mut c = Command::new("bridge");
        c.arg("-n").arg(&self.name).args(args);
        cmd::run(&mut c)
    }

    /// `ip -d link show dev IFNAME` in this namespace.
    pub fn link_details(&self, ifname: &str) -> Result<String> {
        self.ip(&["-d", "link", "show", "dev", ifname])
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Err(e) = cmd::ip(&["netns", "del", &self.name]) {
            eprintln!("warning: {e:#}");
        }
    }
}

/// `/run/netns/NAME`.
pub fn netns_path(name: &str) -> PathBuf {
    Path::new("/run/netns").join(name)
}

/// Whether a named namespace exists.
pub fn exists(name: &str) -> bool {
    netns_path(name).exists()
}

/// Moves the calling thread into the network namespace bound at `path`.
pub fn enter(path: &Path) -> Result<()> {
    let file = File::open(path).with_context(|| format!("failed to open {}", path.display()))?;
    setns(&file, CloneFlags::CLONE_NEWNET)
        .with_context(|| format!("setns({}) failed (are you root?)", path.display()))
}

/// Parses `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(text: &str) -> Result<[u8; 6]> {
    let mut mac = [0u8; 6];
    let parts: Vec<&str> = text.split(':').collect();
    if parts.len() != 6 {
        return Err(anyhow!("not a MAC address: {text}"));
    }
    for (byte, part) in mac.iter_mut().zip(parts) {
        *byte = u8::from_str_radix(part, 16).with_context(|| format!("bad MAC {text}"))?;
    }
    Ok(mac)
}
