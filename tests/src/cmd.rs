//! Running external commands (`ip`, `zcfw`, the Python peers) with errors that carry their
//! output, and every wait on a child process bounded: [`run_with_timeout`] and
//! [`wait_or_kill`] (built on `wait-timeout`), [`LineChild`] for a child whose stdout lines a
//! test reads one at a time.

use std::{
    io::{BufRead, BufReader, Read},
    process::{Child, Command, ExitStatus, Output, Stdio},
    sync::mpsc::{self, Receiver, RecvTimeoutError},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use wait_timeout::ChildExt;

/// Runs `cmd` to completion; returns its stdout, or an error with the command line, exit
/// status and stderr.
pub fn run(cmd: &mut Command) -> Result<String> {
    let output = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("failed to spawn {}", describe(cmd)))?;
    check(cmd, &output)
}

/// Like [`run`], but kills the command and fails if it has not finished after `timeout`.
pub fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> Result<String> {
    let (output, _) = output_with_timeout(cmd, timeout)?;
    check(cmd, &output)
}

/// Runs `cmd` (stdin closed) to completion and returns what it printed, its exit status and
/// how long it ran, whatever the exit status; kills it and fails if it has not finished
/// after `timeout`.
pub fn output_with_timeout(cmd: &mut Command, timeout: Duration) -> Result<(Output, Duration)> {
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("failed to spawn {}", describe(cmd)))?;
    // Drain both pipes on threads so a chatty command cannot block on a full pipe.
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
    let Some(status) = wait_or_kill(&mut child, timeout)? else {
        bail!("{} did not finish within {timeout:?}", describe(cmd));
    };
    let wall = started.elapsed();
    let output = Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    };
    Ok((output, wall))
}

/// Waits up to `timeout` for `child` to exit; if it has not, kills and reaps it and returns
/// `None`.
pub fn wait_or_kill(child: &mut Child, timeout: Duration) -> Result<Option<ExitStatus>> {
    if let Some(status) = child.wait_timeout(timeout).context("waiting for a child")? {
        return Ok(Some(status));
    }
    let _ = child.kill();
    let _ = child.wait();
    Ok(None)
}

/// A child process whose stdout lines arrive on a channel, read one at a time with a
/// timeout; killed (and reaped) on drop.
#[derive(Debug)]
pub struct LineChild {
    what: String,
    child: Child,
    lines: Receiver<String>,
}

impl LineChild {
    /// Spawns `cmd` with stdout piped (stdin and stderr as `cmd` sets them); `what` names it
    /// in errors.
    pub fn spawn(cmd: &mut Command, what: String) -> Result<LineChild> {
        let mut child = cmd
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("failed to start {what}"))?;
        let stdout = child.stdout.take().context("stdout not piped")?;
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(LineChild { what, child, lines })
    }

    /// The next stdout line within `timeout`: `Ok(None)` when none came, an error (with the
    /// exit status) when the child closed its stdout.
    pub fn next_line(&mut self, timeout: Duration) -> Result<Option<String>> {
        match self.lines.recv_timeout(timeout) {
            Ok(line) => Ok(Some(line)),
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => {
                let status = wait_or_kill(&mut self.child, Duration::from_secs(5))?;
                bail!(
                    "{} exited ({})",
                    self.what,
                    status.map_or("still running with its stdout closed; killed".into(), |s| {
                        s.to_string()
                    })
                )
            }
        }
    }

    /// Every stdout line that has arrived, without waiting.
    pub fn lines_so_far(&mut self) -> Vec<String> {
        self.lines.try_iter().collect()
    }

    /// The child's stdin, if it was piped.
    pub fn stdin(&mut self) -> Option<std::process::ChildStdin> {
        self.child.stdin.take()
    }

    pub fn what(&self) -> &str {
        &self.what
    }
}

impl Drop for LineChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn check(cmd: &Command, output: &Output) -> Result<String> {
    if !output.status.success() {
        bail!(
            "{} failed ({}): {}{}",
            describe(cmd),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim(),
            String::from_utf8_lossy(&output.stdout).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// `ip ARGS...` in the current (root) network namespace.
pub fn ip(args: &[&str]) -> Result<String> {
    run(Command::new("ip").args(args))
}

/// The command line of `cmd`, for error messages.
pub fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        s.push(' ');
        s.push_str(&arg.to_string_lossy());
    }
    s
}
