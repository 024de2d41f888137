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
use tracing::{info, warn};

use super::{State, commit_reload, load_policy, lock};
use crate::control::{
    reload::{ReloadError, Reloaded},
    status::NotEnforced,
};

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
        let (path, limits, monitor_only) = {
            let state = lock(state);
            (
                path.unwrap_or_else(|| state.policy_path.clone()),
                state.limits,
                state.monitor_only,
            )
        };
        let loaded = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || load_policy(&path, &limits, monitor_only))
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
    if let Some(outcome) = unchanged(&mut state, &path, &policy, started) {
        return outcome;
    }
    match commit_reload(&mut state, path, policy, started) {
        Ok(answer) => Outcome::Live(answer),
        Err(err) => Outcome::Refused(err),
    }
}

/// A policy that compiles to exactly what runs (only comments, key order or spelling of the
/// file changed, or the same file again): nothing is written and the generation stays. The
/// file's hash and path are taken over, and the XDP attachments are checked (and repaired)
/// as a reload would. `None`: the policy differs, install it.
fn unchanged(
    state: &mut State,
    path: &std::path::Path,
    policy: &crate::compile::CompiledPolicy,
    started: Instant,
) -> Option<Outcome> {
    if !same_enforcement(&state.policy, policy) {
        return None;
    }
    state.policy.hash.clone_from(&policy.hash);
    state.policy_path = path.to_owned();
    let generation = state.dataplane.generation();
    info!(
        policy = policy.name,
        hash = policy.hash,
        generation,
        "policy reloaded unchanged: it compiles to what runs; nothing written, generation stays"
    );
    let lost = super::watch::check(state);
    if !lost.is_empty() {
        return Some(Outcome::Refused(ReloadError::NotEnforced {
            interfaces: lost
                .into_iter()
                .map(|(interface, why)| NotEnforced { interface, why })
                .collect(),
        }));
    }
    Some(Outcome::Live(Reloaded {
        name: policy.name.clone(),
        hash: policy.hash.clone(),
        generation: generation.into(),
        load_ms: started.elapsed().as_secs_f64() * 1000.0,
        path: path.display().to_string(),
        unchanged: true,
    }))
}

/// Whether two compiled policies enforce the same: equal in everything but the hash of the
/// source text (comments and formatting do not reach the kernel).
pub(super) fn same_enforcement(
    running: &crate::compile::CompiledPolicy,
    new: &crate::compile::CompiledPolicy,
) -> bool {
    running.hash == new.hash || {
        let mut new = new.clone();
        new.hash.clone_from(&running.hash);
        *running == new
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

#[cfg(test)]
mod tests {
    use super::same_enforcement;
    use crate::{compile, policy};

    fn compiled(src: &str) -> compile::CompiledPolicy {
        compile::compile(&policy::load_str(src, "p.yaml").expect("valid")).expect("compiles")
    }

    #[test]
    fn identical_enforcement_is_recognised() {
        let src = include_str!("../../../policies/purdue-plant.yaml");
        let running = compiled(src);
        assert!(same_enforcement(&running, &compiled(src)));
        // A comment changes the hash, not what is enforced.
        let commented = format!("# reviewed\n{src}");
        let again = compiled(&commented);
        assert_ne!(again.hash, running.hash);
        assert!(same_enforcement(&running, &again));
        // One more port is a different policy.
        let more = src.replacen("ports: [443]", "ports: [443, 8443]", 1);
        assert_ne!(more, src, "the test policy has the rule it edits");
        assert!(!same_enforcement(&running, &compiled(&more)));
    }
}
