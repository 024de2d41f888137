//! Learning mode in the daemon (`zcfw run --learn`, `zcfw learn`): the data path's learning
//! maps are sampled every second into a bounded [`Summary`], which `learn read` returns.

use std::time::{SystemTime, UNIX_EPOCH};

use tracing::{info, warn};

use super::State;
use crate::{
    control::Failure,
    learn::{LearnAction, Observations, Summary, ZoneNames},
};

/// What the daemon learned, while it learns and after.
#[derive(Debug, Default)]
pub struct Learning {
    /// Whether the data path is learning now.
    pub active: bool,
    /// What was learned since learning last started (`None`: never started).
    pub summary: Option<Summary>,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn mono_now_ns() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).map_or(0, |t| {
        t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64
    })
}

fn zone_names(state: &State) -> ZoneNames {
    let mut names = vec![String::new(); state.policy.zones.len()];
    for z in &state.policy.zones {
        if let Some(slot) = (z.id as usize)
            .checked_sub(1)
            .and_then(|i| names.get_mut(i))
        {
            *slot = z.name.clone();
        }
    }
    ZoneNames(names)
}

/// Starts learning: empties the maps and the summary, sets the data path's flag.
pub fn start(state: &mut State) -> Result<(), String> {
    state
        .dataplane
        .set_learning(true)
        .map_err(|e| format!("cannot turn learning on: {e}"))?;
    state.learning = Learning {
        active: true,
        summary: Some(Summary::new(unix_now())),
    };
    info!("learning on: what crosses the zones is summarised for `zcfw learn`");
    Ok(())
}

/// At start: learning on for `zcfw run --learn`; otherwise a `LEARN` flag an earlier daemon
/// left in the adopted pins is cleared, so normal operation writes nothing for learning.
pub fn at_start(state: &mut State, learn: bool) -> Result<(), String> {
    if learn {
        return start(state);
    }
    if state.dataplane.learning().unwrap_or(false) {
        state
            .dataplane
            .set_learning(false)
            .map_err(|e| format!("cannot turn off the learning an earlier daemon left on: {e}"))?;
        info!("learning was left on by the previous daemon: turned off");
    }
    Ok(())
}

/// One sample of the data path's maps folded into the summary (while learning).
pub fn sample(state: &mut State) {
    if !state.learning.active {
        return;
    }
    let zones = zone_names(state);
    match state.dataplane.learned() {
        Ok((entries, hosts)) => {
            if let Some(summary) = state.learning.summary.as_mut() {
                summary.absorb(&entries, &hosts, &zones, unix_now(), mono_now_ns());
            }
        }
        Err(err) => warn!("cannot read the learning maps: {err}"),
    }
}

/// The answer to `learn start|stop|read`.
pub fn answer(state: &mut State, action: LearnAction) -> Result<Observations, Failure> {
    let failed = |why: String| Failure::Failed { why };
    match action {
        LearnAction::Start => start(state).map_err(failed)?,
        LearnAction::Stop => {
            sample(state);
            state
                .dataplane
                .set_learning(false)
                .map_err(|e| failed(format!("cannot turn learning off: {e}")))?;
            state.learning.active = false;
            info!("learning off");
        }
        LearnAction::Read => sample(state),
    }
    Ok(match &state.learning.summary {
        Some(s) => s.observations(state.learning.active),
        None => Observations::default(),
    })
}
