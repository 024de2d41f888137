//! Reloads. Reading, validating and compiling a policy can take a while (and is bounded by
//! [`crate::policy::limits`]); it runs on a blocking thread *without* the state lock, so
//! `status`, `stats`, `events` and the metrics answer meanwhile. Only writing the maps and
//! flipping the generation takes the lock. One reload runs at a time (others wait their turn).
//!
//! A reload asked for over the control socket either reports its outcome to that client or is
//! abandoned, never both: if the client goes away before the new policy is written (it gave
//! up waiting), nothing is installed and the running policy stays.

use std::{
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Instant,
};

use tokio::net::unix::OwnedReadHalf;
use tracing::warn;

use super::{State, commit_reload, load_policy, lock};
use crate::control::reload::{ReloadError, Reloaded};

/// Lets one reload run at a time.
#[derive(Default)]
pub struct Reloads {
    gate: tokio::sync::Mutex<()>,
}

/// How a reload ended.
pub enum Outcome {
    /// The new policy is live (the answer for the client).
    Live(Reloaded),
    /// Refused or failed; the running policy stays (unless XDP was lost: see the error).
    Refused(ReloadError),
    /// The client went away first; nothing was installed.
    Abandoned,
}

/// Reloads the policy at `path` (default: the current file). With a `client`, the reload is
/// abandoned if that client disconnects before the new policy is installed.
pub async fn reload(
    state: &Arc<Mutex<State>>,
    reloads: &Reloads,
    path: Option<PathBuf>,
    client: Option<&OwnedReadHalf>,
) -> Outcome {
    let outcome = reload_once(state, reloads, path, client).await;
    match &outcome {
        Outcome::Live(_) => lock(state).reload_stats.record(true),
        Outcome::Refused(_) => lock(state).reload_stats.record(false),
        Outcome::Abandoned => {}
    }
    give_back_memory();
    outcome
}

/// Returns the heap a reload freed to the kernel. Compiling a large policy allocates tens of
/// megabytes for a moment, on whichever thread ran it; glibc keeps freed memory in each
/// thread's arena, so without this the daemon's resident memory grew by the peak of a reload
/// per arena (46 MB to 90+ MB over 50 reloads) and stayed there.
pub(super) fn give_back_memory() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only releases free memory of the allocator; it touches no live
    // allocation and may be called from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

async fn reload_once(
    state: &Arc<Mutex<State>>,
    reloads: &Reloads,
    path: Option<PathBuf>,
    client: Option<&OwnedReadHalf>,
) -> Outcome {
    let turn = async {
        let guard = reloads.gate.lock().await;
        let started = Instant::now();
        let (path, limits) = {
            let state = lock(state);
            (
                path.unwrap_or_else(|| state.policy_path.clone()),
                state.limits,
            )
        };
        let loaded = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || load_policy(&path, &limits))
        };
        let policy = match loaded.await {
            Ok(result) => result,
            Err(join) => Err(ReloadError::Internal {
                why: format!("the policy loader stopped: {join}"),
            }),
        };
        (guard, started, path, policy)
    };
    let (_guard, started, path, policy) = match client {
        Some(client) => tokio::select! {
            done = turn => done,
            () = gone(client) => return abandoned(),
        },
        None => turn.await,
    };
    let policy = match policy {
        Ok(policy) => policy,
        Err(err) => return Outcome::Refused(err),
    };
    // The client may have left while the policy was compiled: then it is not installed.
    if client.is_some_and(has_left) {
        return abandoned();
    }
    let mut state = lock(state);
    match commit_reload(&mut state, path, policy, started) {
        Ok(answer) => Outcome::Live(answer),
        Err(err) => Outcome::Refused(err),
    }
}

fn abandoned() -> Outcome {
    warn!(
        "reload abandoned: the client went away before the new policy was installed; the running \
         policy stays"
    );
    Outcome::Abandoned
}

/// Resolves once the client closes its end (or its socket fails).
async fn gone(client: &OwnedReadHalf) {
    loop {
        if client.readable().await.is_err() || has_left(client) {
            return;
        }
        // Readable with data: a client sends one line per connection, ignore the rest.
        tokio::task::yield_now().await;
    }
}

/// Whether the client closed its end: a read that returns end of file (bytes sent after the
/// request are read and ignored).
fn has_left(client: &OwnedReadHalf) -> bool {
    let mut buf = [0u8; 256];
    loop {
        match client.try_read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(_) => return true,
        }
    }
}

/// `Result` of a reload without a client (SIGHUP): abandoned cannot happen.
pub fn into_result(outcome: Outcome) -> Result<Reloaded, ReloadError> {
    match outcome {
        Outcome::Live(answer) => Ok(answer),
        Outcome::Refused(err) => Err(err),
        Outcome::Abandoned => Err(ReloadError::Internal {
            why: "reload abandoned".into(),
        }),
    }
}
