//! The `reload` answer, and why a reload did not go live.

use serde::{Deserialize, Serialize};

use super::status::NotEnforced;

/// What `zcfw reload --json` prints when the new policy is live.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reloaded {
    pub name: String,
    pub hash: String,
    pub generation: u64,
    pub load_ms: f64,
    pub path: String,
    /// The policy compiles to exactly what runs now: nothing was written, the generation
    /// stays (absent from older daemons: `false`).
    #[serde(default)]
    pub unchanged: bool,
}

/// Why a policy did not go live (at a reload, or at start). At a reload, except for
/// [`ReloadError::NotEnforced`], the running policy stays as it was.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "reload_error", rename_all = "snake_case")]
pub enum ReloadError {
    /// Validation or compilation refused the policy: the diagnostics, as `zcfw check` prints
    /// them (file, line, column, what to change).
    #[error("{diagnostics}")]
    InvalidPolicy { diagnostics: String },
    /// The policy file could not be read (missing, unreadable, too large).
    #[error("cannot load the policy {path}: {why}")]
    Unreadable { path: String, why: String },
    /// An interface of the policy does not exist on this host.
    #[error("{why}")]
    Interfaces { why: String },
    /// Writing the kernel maps or attaching XDP failed.
    #[error("{why} (see the daemon's log: `journalctl -u zcfw`)")]
    Dataplane { why: String },
    /// The new policy is in the maps, but XDP is not attached on these interfaces.
    #[error(
        "the new policy is in the maps, but XDP is not attached on {}: those interfaces are NOT \
         ENFORCED; see the daemon's log and `zcfw status`, fix the interface, then reload again",
        list(.interfaces)
    )]
    NotEnforced { interfaces: Vec<NotEnforced> },
    /// The daemon could not finish the reload (a task it ran stopped).
    #[error("the reload stopped inside the daemon: {why}")]
    Internal { why: String },
}

fn list(lost: &[NotEnforced]) -> String {
    lost.iter()
        .map(|n| format!("{} ({})", n.interface, n.why))
        .collect::<Vec<_>>()
        .join(", ")
}

impl ReloadError {
    /// Whether the policy that was running before is still the one in force.
    pub fn running_policy_stays(&self) -> bool {
        !matches!(self, ReloadError::NotEnforced { .. })
    }
}
