//! Unprivileged users (and groups) created by a test, removed on drop: the attacker on the
//! gateway, or an engineer with read-only access to the firewall.

use std::{
    ffi::OsStr,
    process::{Command, Stdio},
    sync::atomic::{AtomicU32, Ordering},
};

use anyhow::{Context, Result, bail};

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn run(cmd: &mut Command) -> Result<()> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("failed to run {}", crate::cmd::describe(cmd)))?;
    if !out.status.success() {
        bail!(
            "{} failed: {}",
            crate::cmd::describe(cmd),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// A unique name of at most 32 characters (the useradd limit): `zt<tag>-<pid hex><n>`.
fn unique(tag: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let tag: String = tag
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(12)
        .collect();
    format!("zt{tag}-{:x}{n:x}", std::process::id()).to_ascii_lowercase()
}

/// A system group (`groupadd`), deleted on drop.
#[derive(Debug)]
pub struct TestGroup {
    name: String,
}

impl TestGroup {
    /// A new group named after `tag` (unique per process).
    pub fn new(tag: &str) -> Result<TestGroup> {
        let name = unique(tag);
        run(Command::new("groupadd").arg("--system").arg(&name))?;
        Ok(TestGroup { name })
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestGroup {
    fn drop(&mut self) {
        let _ = run(Command::new("groupdel").arg(&self.name));
    }
}

/// A user without a home directory or login shell (`useradd`), deleted on drop.
#[derive(Debug)]
pub struct TestUser {
    name: String,
    uid: u32,
}

impl TestUser {
    /// A new user named after `tag`, member of `groups` (supplementary).
    pub fn new(tag: &str, groups: &[&TestGroup]) -> Result<TestUser> {
        let name = unique(tag);
        let mut cmd = Command::new("useradd");
        cmd.args([
            "--system",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
        ]);
        if !groups.is_empty() {
            let list: Vec<&str> = groups.iter().map(|g| g.name()).collect();
            cmd.arg("--groups").arg(list.join(","));
        }
        run(cmd.arg(&name))?;
        let user = nix::unistd::User::from_name(&name)
            .with_context(|| format!("looking up {name}"))?
            .with_context(|| format!("useradd created {name}, but it cannot be looked up"))?;
        Ok(TestUser {
            name,
            uid: user.uid.as_raw(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn uid(&self) -> u32 {
        self.uid
    }

    /// `program` run as this user (its own uid, primary group and supplementary groups, no
    /// capabilities): `setpriv --reuid U --regid G --init-groups PROGRAM`.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new("setpriv");
        cmd.arg("--reuid")
            .arg(&self.name)
            .arg("--regid")
            .arg(&self.name)
            .arg("--init-groups")
            .arg("--")
            .arg(program);
        cmd
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        let _ = run(Command::new("userdel").arg(&self.name));
    }
}
