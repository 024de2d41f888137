//! Running `zcfw` (and other commands) to completion with a timeout, output captured.

use std::{
    io::Read,
    process::{Command, Stdio},
    thread::{self},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

/// How long a `zcfw` client command (reload, status, island, detach) may take.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(15);

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
