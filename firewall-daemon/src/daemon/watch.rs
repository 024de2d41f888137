//! Whether XDP is really attached: asked of the kernel (not the daemon's memory) when the
//! policy goes live, after every reload and every [`CHECK_INTERVAL`]. A removed pin is pinned
//! again and a detached link replaced (fail closed, see `Dataplane::verify_attachments`);
//! each repair is an event, counted in `zcfw_xdp_repairs_total`; an interface that could not
//! be repaired is reported by `status` (and the metrics) as not enforced, never as enforced.

use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};

use super::{State, events};
use crate::{
    control::event::{AttachmentNotice, Notice},
    dataplane::Repair,
};

/// How often the attachments are checked: a lost attachment is back within this (plus the
/// time one check takes, well under a millisecond per interface).
pub const CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// What the checks found so far.
#[derive(Debug, Default)]
pub struct AttachmentHealth {
    /// When the attachments were last checked.
    pub checked_at: Option<SystemTime>,
    /// Pins put back and links attached again since the daemon started.
    pub repairs: u64,
    /// Interfaces not enforced at the last check, and why.
    pub not_enforced: Vec<(String, String)>,
}

impl AttachmentHealth {
    /// Whether `iface` was enforced at the last check.
    pub fn enforced(&self, iface: &str) -> bool {
        !self.not_enforced.iter().any(|(i, _)| i == iface)
    }
}

/// Checks (and repairs) the attachments of `state`, records the outcome and publishes an
/// event per repair and per newly lost interface. Returns the interfaces not enforced.
pub fn check(state: &mut State) -> Vec<(String, String)> {
    let repairs = state.dataplane.verify_attachments();
    let hub: Arc<events::EventHub> = state.events.clone();
    let health = &mut state.health;
    let before = std::mem::take(&mut health.not_enforced);
    health.checked_at = Some(SystemTime::now());
    for repair in repairs {
        let (action, detail) = match &repair {
            Repair::Repinned { .. } => {
                health.repairs += 1;
                (
                    "xdp_repinned",
                    "the pin of the link was removed; pinned again".to_owned(),
                )
            }
            Repair::Reattached { why, .. } => {
                health.repairs += 1;
                ("xdp_reattached", format!("{why}; attached again"))
            }
            Repair::Failed { iface, why } => {
                health.not_enforced.push((iface.clone(), why.clone()));
                if before.iter().any(|(i, _)| i == iface) {
                    continue; // already reported
                }
                ("xdp_lost", format!("{why}; NOT ENFORCED"))
            }
        };
        hub.publish_notice(Notice::Attachment(AttachmentNotice {
            time: events::now_rfc3339(),
            action: action.to_owned(),
            interface: repair.iface().to_owned(),
            detail,
        }));
    }
    health.not_enforced.clone()
}
