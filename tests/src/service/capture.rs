//! Running `zcfw` (and other commands) to completion with a timeout, output captured
//! whatever the exit code (on [`crate::cmd::output_with_timeout`]).

use std::{process::Command, time::Duration};

use anyhow::Result;

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
    let (output, wall) = crate::cmd::output_with_timeout(cmd, timeout)?;
    Ok(Captured {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        wall,
    })
}
