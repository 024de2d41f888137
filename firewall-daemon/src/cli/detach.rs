//! `zcfw detach`: remove every pinned program, link and map of an instance.
//!
//! Refused while a daemon runs on the pin directory (it holds the directory's lock, see
//! [`crate::dataplane::pinlock`]): detaching under it would leave it reporting a policy as
//! enforced that no longer is. `--force` stops that daemon first (SIGTERM), then detaches.

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, anyhow, bail};
use nix::{
    sys::signal::{Signal, kill},
    unistd::Pid,
};

use super::{DEFAULT_PIN_DIR, EXIT_ERROR, EXIT_OK, print_error};
use crate::dataplane::{
    self,
    pinlock::{PinLock, PinLockError},
};

/// How long `--force` waits for the daemon to stop after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, clap::Args)]
pub struct DetachArgs {
    /// Pin directory of the instance to remove (as given to `zcfw run --pin-dir`).
    #[arg(long, value_name = "DIR", default_value = DEFAULT_PIN_DIR, env = "ZCFW_PIN_DIR")]
    pub pin_dir: PathBuf,
    /// Stop the daemon running on these pins first (SIGTERM, then wait for it), then detach.
    /// Without it, detach refuses while a daemon runs.
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: &DetachArgs) -> u8 {
    if !args.pin_dir.exists() {
        println!(
            "nothing pinned under {}: nothing to detach",
            args.pin_dir.display()
        );
        return EXIT_OK;
    }
    match detach(&args.pin_dir, args.force) {
        Ok(removed) => {
            let links = if removed.links.is_empty() {
                "no interface".to_owned()
            } else {
                removed.links.join(", ")
            };
            println!(
                "detached from {links}; removed {} pinned maps and {}",
                removed.maps,
                args.pin_dir.display()
            );
            EXIT_OK
        }
        Err(err) => {
            print_error(&err.context(format!("cannot detach {}", args.pin_dir.display())));
            EXIT_ERROR
        }
    }
}

fn detach(pin_dir: &Path, force: bool) -> Result<dataplane::RemovedPins> {
    // Held until the pins are gone: no daemon can start on them meanwhile.
    let _lock = match PinLock::acquire(pin_dir) {
        Ok(lock) => lock,
        Err(PinLockError::Held { pid, .. }) if !force => {
            let who = pid.map_or("a zcfw daemon".to_owned(), |p| {
                format!("a zcfw daemon (pid {p})")
            });
            bail!(
                "{who} is running on {dir}: detaching under it would stop enforcement while it \
                 reports the policy as enforced. Stop it first (`systemctl stop zcfw`) and detach \
                 again, or run `zcfw detach --force --pin-dir {dir}` to stop it and detach",
                dir = pin_dir.display()
            );
        }
        Err(PinLockError::Held { pid: Some(pid), .. }) => stop(pin_dir, pid)?,
        Err(PinLockError::Held { pid: None, .. }) => unnamed_holder(pin_dir)?,
        Err(other) => return Err(other.into()),
    };
    dataplane::remove_pins(pin_dir).map_err(anyhow::Error::new)
}

/// The lock of `pin_dir` is held by a process `/proc/locks` does not name: one exiting at this
/// moment (a service manager's SIGTERM just before `zcfw detach --force`: its lock goes with
/// it), or one in another pid namespace. Waits for the lock as long as a stop may take.
fn unnamed_holder(pin_dir: &Path) -> Result<PinLock> {
    let deadline = Instant::now() + STOP_TIMEOUT;
    loop {
        match PinLock::acquire(pin_dir) {
            Ok(lock) => return Ok(lock),
            Err(PinLockError::Held { pid: Some(pid), .. }) => return stop(pin_dir, pid),
            Err(PinLockError::Held { pid: None, .. }) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(PinLockError::Held { pid: None, .. }) => bail!(
                "a zcfw daemon holds {} but its pid cannot be found (another pid namespace?) \
                 and it did not let go within {} s; stop it where it runs and detach again",
                pin_dir.display(),
                STOP_TIMEOUT.as_secs()
            ),
            Err(other) => return Err(other.into()),
        }
    }
}

/// SIGTERM to the daemon `pid` holding `pin_dir`, then waits for its lock.
fn stop(pin_dir: &Path, pid: u32) -> Result<PinLock> {
    let target = i32::try_from(pid).map_err(|_| anyhow!("pid {pid} out of range"))?;
    kill(Pid::from_raw(target), Signal::SIGTERM)
        .with_context(|| format!("cannot stop the zcfw daemon (pid {pid}) with SIGTERM"))?;
    eprintln!(
        "stopping the zcfw daemon (pid {pid}) running on {}",
        pin_dir.display()
    );
    let deadline = Instant::now() + STOP_TIMEOUT;
    loop {
        match PinLock::acquire(pin_dir) {
            Ok(lock) => return Ok(lock),
            Err(PinLockError::Held { .. }) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(PinLockError::Held { .. }) => bail!(
                "the zcfw daemon (pid {pid}) did not stop within {} s of SIGTERM; nothing was \
                 detached. Stop it (`kill -9 {pid}`) and detach again",
                STOP_TIMEOUT.as_secs()
            ),
            Err(other) => return Err(other.into()),
        }
    }
}
