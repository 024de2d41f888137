//! What the control socket and the metrics listener do about clients that come in numbers or
//! never speak. Out of file descriptors, `accept` fails at once and keeps failing: the loops
//! pause instead of spinning, and say so once in a while, not once per failure. Connections
//! are capped (beyond the cap a client is told so and closed), a client must send its request
//! within [`REQUEST_TIMEOUT`], and a request may be at most so long.

use std::{
    io,
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::{info, warn};

/// How long a client may take to send its request after connecting.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an `accept` loop pauses when the process is out of file descriptors (or memory).
const EXHAUSTED_PAUSE: Duration = Duration::from_millis(100);
/// How long it pauses after another `accept` error.
const ERROR_PAUSE: Duration = Duration::from_millis(10);
/// At most one log line per this long about failing accepts (with the count).
const WARN_EVERY: Duration = Duration::from_secs(10);

/// Connections served at once, with a slot per connection.
#[derive(Clone)]
pub struct Slots(Arc<Semaphore>);

impl Slots {
    pub fn new(max: usize) -> Self {
        Slots(Arc::new(Semaphore::new(max)))
    }

    /// A slot for one more connection, if there is one.
    pub fn take(&self) -> Option<OwnedSemaphorePermit> {
        self.0.clone().try_acquire_owned().ok()
    }
}

/// Pauses and rate-limited warnings for a failing `accept`.
pub struct Backoff {
    what: &'static str,
    last_warning: Option<Instant>,
    suppressed: u64,
}

impl Backoff {
    pub fn new(what: &'static str) -> Self {
        Backoff {
            what,
            last_warning: None,
            suppressed: 0,
        }
    }

    /// After a failed `accept`: waits (longer when out of descriptors) and warns at most once
    /// per [`WARN_EVERY`], counting the failures in between.
    pub async fn failed(&mut self, err: &io::Error) {
        let exhausted = matches!(
            err.raw_os_error(),
            Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
        );
        let due = self.last_warning.is_none_or(|t| t.elapsed() >= WARN_EVERY);
        if due {
            let hint = if exhausted {
                "; out of file descriptors: too many clients (raise LimitNOFILE, or look for \
                 clients that connect and never close)"
            } else {
                ""
            };
            warn!(
                error = %err,
                failures_since_last_warning = self.suppressed,
                "{} accept failed{hint}; pausing",
                self.what
            );
            self.last_warning = Some(Instant::now());
            self.suppressed = 0;
        } else {
            self.suppressed += 1;
        }
        tokio::time::sleep(if exhausted {
            EXHAUSTED_PAUSE
        } else {
            ERROR_PAUSE
        })
        .await;
    }
}

/// Raises this process's soft limit of open files to its hard limit (systemd's default soft
/// limit is 1,024; the unit sets `LimitNOFILE=`), so clients run it out later.
pub fn raise_open_files_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => info!(from = soft, to = hard, "open files limit raised"),
            Err(err) => warn!(error = %err, soft, hard, "cannot raise the open files limit"),
        },
        Ok(_) => {}
        Err(err) => warn!(error = %err, "cannot read the open files limit"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn exhausted_descriptors_pause_and_warn_rarely() {
        let mut backoff = Backoff::new("test");
        let emfile = io::Error::from_raw_os_error(libc::EMFILE);
        let started = tokio::time::Instant::now();
        for _ in 0..50 {
            backoff.failed(&emfile).await;
        }
        // 50 failures take 5 s of pauses (no spinning), and one warning covers them.
        assert!(started.elapsed() >= Duration::from_secs(5));
        assert_eq!(backoff.suppressed, 49);
    }

    #[test]
    fn slots_run_out() {
        let slots = Slots::new(2);
        let a = slots.take().expect("first");
        let _b = slots.take().expect("second");
        assert!(slots.take().is_none());
        drop(a);
        assert!(slots.take().is_some());
    }
}
