//! `zcfw audit --running`: the state of the daemon that enforces the audited policy, taken
//! from its `status` answer, and the findings that state adds (an interface the program is
//! not attached to; monitor mode of the whole policy).

use serde::Serialize;

use super::{Finding, Severity, rules};
use crate::{
    control::status::{EnforcementMode, Status},
    policy::ValidatedPolicy,
};

/// One interface of the running policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RunningInterface {
    pub name: String,
    /// `native` or `skb`.
    pub xdp_mode: String,
    /// Whether the kernel reported the program attached at the daemon's last check.
    pub enforced: bool,
    /// Why not, when the daemon knows.
    pub why: Option<String>,
}

/// What the daemon enforced when the report was written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RunningState {
    /// The control socket asked.
    pub socket: String,
    /// The policy file the daemon loaded (its bytes hash to the report's policy SHA-256).
    pub policy_path: String,
    /// The hash the daemon reports for the policy it enforces.
    pub policy_sha256: String,
    pub generation: u64,
    /// When the policy in force was loaded, Unix seconds.
    pub loaded_at_unix: u64,
    /// Island mode (SR 5.2 RE2): nothing crosses a zone boundary.
    pub island: bool,
    /// `enforce`, or `monitor` when the whole policy only reports its denies.
    pub mode: &'static str,
    /// Conduits in monitor mode.
    pub monitor_conduits: Vec<String>,
    pub interfaces: Vec<RunningInterface>,
    /// Whether the program and maps are pinned (fail close, SR 5.2 RE3); `false`:
    /// `zcfw run --ephemeral`.
    pub pinned: bool,
    /// Seconds since the daemon's last check of the XDP attachments (`None`: not yet).
    pub checked_s_ago: Option<u64>,
}

impl RunningState {
    /// The state from the daemon's `status` answer on `socket`.
    pub fn from_status(socket: &str, status: &Status) -> Self {
        RunningState {
            socket: socket.to_owned(),
            policy_path: status.policy.path.clone(),
            policy_sha256: status.policy.hash.clone(),
            generation: status.policy.generation,
            loaded_at_unix: status.policy.loaded_at_unix,
            island: status.island,
            mode: match status.mode {
                EnforcementMode::Enforce => "enforce",
                EnforcementMode::Monitor => "monitor",
            },
            monitor_conduits: status.monitor_conduits.clone(),
            interfaces: status
                .interfaces
                .iter()
                .map(|i| RunningInterface {
                    name: i.name.clone(),
                    xdp_mode: i.xdp_mode.clone(),
                    enforced: i.enforced,
                    why: status
                        .xdp_check
                        .not_enforced
                        .iter()
                        .find(|n| n.interface == i.name)
                        .map(|n| n.why.clone()),
                })
                .collect(),
            pinned: status.pin_dir.is_some(),
            checked_s_ago: status.xdp_check.last_s_ago.map(|s| s as u64),
        }
    }
}

/// Findings of the running state: every policy interface not enforced (ZCFW-A022), and the
/// whole policy in monitor mode (ZCFW-A031, once; conduits in monitor mode are already
/// reported from the policy).
pub(super) fn findings(policy: &ValidatedPolicy, running: &RunningState) -> Vec<Finding> {
    let high = super::max_security_level(policy) >= 3;
    let finding = |id: &'static str, severity: Severity, message: String| {
        let info = rules::rule(id);
        Finding {
            id,
            severity,
            title: info.map_or("", |r| r.title),
            message,
            zone: None,
            conduit: None,
            interface: None,
            key: None,
            position: None,
            requirements: info.map_or_else(Vec::new, |r| r.requirements.to_vec()),
            remediation: String::new(),
        }
    };
    let mut out = Vec::new();
    for i in running.interfaces.iter().filter(|i| !i.enforced) {
        let mut f = finding(
            rules::NOT_ENFORCED,
            if high {
                Severity::High
            } else {
                Severity::Medium
            },
            format!(
                "the daemon reports interface \"{}\" not enforced{}: its traffic is not filtered",
                i.name,
                i.why
                    .as_deref()
                    .map(|w| format!(" ({w})"))
                    .unwrap_or_default()
            ),
        );
        f.interface = Some(i.name.clone());
        f.key = policy
            .interfaces()
            .iter()
            .position(|p| p.name == i.name)
            .map(|n| format!("interfaces[{n}]"));
        f.remediation = "check `zcfw status` and the daemon's log (`journalctl -u zcfw`): bring the interface up or fix its driver; the daemon re-attaches at its next check".into();
        out.push(f);
    }
    if running.mode == "monitor" {
        let mut f = finding(
            rules::MONITOR_MODE,
            Severity::Medium,
            "the daemon runs the whole policy in monitor mode: every would-be deny passes".into(),
        );
        f.remediation = "restart the daemon without monitor mode once its alerts (`zcfw events`) show only traffic you mean to block".into();
        out.push(f);
    }
    out
}

/// Why the policy file the daemon names cannot stand for what it enforces, if it cannot:
/// its bytes must hash to the hash the daemon reports.
pub fn file_mismatch(status_hash: &str, file_hash: &str, path: &str) -> Option<String> {
    (!status_hash.eq_ignore_ascii_case(file_hash)).then(|| {
        format!(
            "the policy file {path} changed since the daemon loaded it (the daemon enforces \
             sha256 {status_hash}, the file now hashes to {file_hash}): this report would not \
             show what runs. Reload the daemon (`zcfw reload`) to enforce the file, or audit \
             the file itself with `zcfw audit {path}`"
        )
    })
}

/// Adds what the running state shows to the requirements it bears on: island mode at audit
/// time (SR 5.2 RE2), pinning (SR 5.2 RE3: an ephemeral daemon is not fail-closed),
/// attachments (SR 3.3).
pub(super) fn annotate(requirements: &mut [super::Requirement], running: &RunningState) {
    for r in requirements.iter_mut() {
        match r.id {
            "SR 5.2 RE2" => r.evidence.push(format!(
                "At audit time island mode was {} (daemon on {}).",
                if running.island { "ON" } else { "off" },
                running.socket
            )),
            "SR 5.2 RE3" if running.pinned => r.evidence.push(
                "At audit time the daemon's program, links and maps were pinned: the policy stays enforced if the daemon stops.".into(),
            ),
            "SR 5.2 RE3" => {
                r.status = super::Status::NotMet;
                r.evidence.push(
                    "At audit time the daemon ran with --ephemeral: nothing is pinned, and the policy is gone when the daemon stops.".into(),
                );
            }
            "SR 3.3" => {
                let off: Vec<&str> = running
                    .interfaces
                    .iter()
                    .filter(|i| !i.enforced)
                    .map(|i| i.name.as_str())
                    .collect();
                r.evidence.push(if off.is_empty() {
                    format!(
                        "At audit time the kernel reported the program attached to every interface of the policy ({}), generation {}.",
                        running.interfaces.len(),
                        running.generation
                    )
                } else {
                    format!("At audit time these interfaces were not enforced: {}.", off.join(", "))
                });
            }
            _ => {}
        }
    }
}
