//! The clock every stream stamps its packets with, and stream ids.

use std::{
    sync::{OnceLock, atomic::AtomicU32},
    thread::{self},
    time::{Duration, Instant},
};

static EPOCH: OnceLock<Instant> = OnceLock::new();
pub(super) static STREAM_ID: AtomicU32 = AtomicU32::new(1);

/// Time since a process-wide epoch: every stream stamps its packets with it, so send times,
/// receive times and the times of the test's own actions compare directly.
pub fn now() -> Duration {
    EPOCH.get_or_init(Instant::now).elapsed()
}

/// Sleeps until `t` (on the [`now`] clock), if it is in the future.
pub(super) fn sleep_until(t: Duration) {
    if let Some(d) = t.checked_sub(now()) {
        thread::sleep(d);
    }
}
