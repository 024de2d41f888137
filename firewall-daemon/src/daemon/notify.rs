//! What systemd hears from the daemon (`Type=notify`, the `sd-notify` crate): READY=1 once the
//! policy is live, RELOADING=1 / READY=1 around a SIGHUP reload, STOPPING=1 on the way out,
//! and, when the unit sets `WatchdogSec=`, WATCHDOG=1 at half the interval systemd gives.
//!
//! The watchdog pings come from the daemon's main loop (the one that handles signals and
//! checks the XDP attachments), and only while the control socket server and the event
//! reader still run and the shared state can be locked: a wedged daemon stops pinging, and
//! systemd restarts it (the new one adopts the pinned policy: nothing stops being enforced).
//! Nothing is sent when the daemon does not run under systemd (no `NOTIFY_SOCKET`).

use std::time::Duration;

use sd_notify::NotifyState;
use tokio::time::{Interval, MissedTickBehavior};
use tracing::{info, warn};

fn send(states: &[NotifyState]) {
    if let Err(err) = sd_notify::notify(states) {
        warn!(error = %err, "cannot notify systemd");
    }
}

/// The policy is live: `systemctl start` returns.
pub fn ready() {
    send(&[NotifyState::Ready]);
}

/// A reload has started; [`ready`] ends it.
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(_) => send(&[NotifyState::Reloading]),
    }
}

/// The daemon is shutting down.
pub fn stopping() {
    send(&[NotifyState::Stopping]);
}

/// The daemon is alive; see [`Watchdog`].
pub fn watchdog_ping() {
    send(&[NotifyState::Watchdog]);
}

/// When to ping the watchdog: every half of `WATCHDOG_USEC`, when systemd asks for pings
/// (`WatchdogSec=` in the unit) of this process.
pub struct Watchdog(Option<Interval>);

impl Watchdog {
    pub fn from_env() -> Self {
        let Some(timeout) = sd_notify::watchdog_enabled().filter(|t| !t.is_zero()) else {
            return Watchdog(None);
        };
        let every = (timeout / 2).max(Duration::from_millis(1));
        info!(
            timeout_ms = timeout.as_millis() as u64,
            every_ms = every.as_millis() as u64,
            "systemd watchdog on: pinging it"
        );
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Watchdog(Some(interval))
    }

    /// The next time to ping; never, without a watchdog.
    pub async fn tick(&mut self) {
        match &mut self.0 {
            Some(interval) => {
                interval.tick().await;
            }
            None => std::future::pending().await,
        }
    }
}
