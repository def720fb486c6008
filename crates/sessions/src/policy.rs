//! The registry's clockwork: live-feed updates for activity, and the idle
//! and maximum-duration policies, each run on an interval.

use std::sync::atomic::Ordering;
use std::time::Duration;

use gatehouse_domain::EndReason;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::end::EndRequest;
use crate::entry::{WARNED_IDLE, WARNED_MAX};
use crate::limits::{Warning, human};
use crate::locks::read;
use crate::{Registry, SessionEvent};

impl Registry {
    /// Publishes an `Updated` event for every session whose activity changed
    /// since the last call. Run it on an interval ([`Registry::spawn_updates`]).
    pub fn publish_updates(&self) -> usize {
        let changed: Vec<_> = read(&self.inner.sessions)
            .values()
            .filter(|e| e.dirty.swap(false, Ordering::Relaxed))
            .cloned()
            .collect();
        let now = Instant::now();
        for entry in &changed {
            let _ = self
                .inner
                .events
                .send(SessionEvent::Updated(entry.view(&self.inner.node, now)));
        }
        changed.len()
    }

    /// Applies every session's idle and duration limits now: ends the
    /// sessions past a limit, and warns (once per limit, and again after new
    /// input for the idle limit) those within `warn_before` of one. Returns
    /// how many sessions it ended. Run it on an interval ([`Registry::spawn_policies`]).
    pub fn enforce(&self, warn_before: Duration) -> usize {
        let limited: Vec<_> = read(&self.inner.sessions)
            .values()
            .filter(|e| e.limits.idle_timeout.is_some() || e.limits.max_duration.is_some())
            .cloned()
            .collect();
        let now = Instant::now();
        let mut ended = 0;
        for e in &limited {
            let age = now.saturating_duration_since(e.started);
            let checks = [
                (
                    &e.limits.idle_timeout,
                    e.idle(now),
                    EndReason::IdleTimeout,
                    WARNED_IDLE,
                ),
                (
                    &e.limits.max_duration,
                    age,
                    EndReason::MaxDuration,
                    WARNED_MAX,
                ),
            ];
            for (limit, spent, reason, flag) in checks {
                let Some(limit) = limit else { continue };
                if spent >= limit.after {
                    let message = match reason {
                        EndReason::IdleTimeout => format!(
                            "no input for {} (idle limit set by {})",
                            human(limit.after),
                            limit.set_by
                        ),
                        _ => format!(
                            "the session reached its maximum duration of {} (set by {})",
                            human(limit.after),
                            limit.set_by
                        ),
                    };
                    let _ = e.end.set(EndRequest {
                        reason,
                        by: None,
                        message: Some(message),
                    });
                    e.cancel.cancel();
                    ended += 1;
                    break;
                }
                if spent + warn_before >= limit.after
                    && e.warned.fetch_or(flag, Ordering::Relaxed) & flag == 0
                {
                    let left = limit.after - spent;
                    e.warning.send_replace(Some(Warning {
                        reason,
                        seconds_left: left.as_secs().max(1),
                    }));
                    e.dirty.store(true, Ordering::Relaxed);
                }
            }
        }
        ended
    }

    /// Enforces limits every `every` until `stop` is cancelled.
    pub fn spawn_policies(
        &self,
        every: Duration,
        warn_before: Duration,
        stop: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        self.spawn_ticker(every, stop, move |r| {
            r.enforce(warn_before);
        })
    }

    /// Publishes activity updates every `every` until `stop` is cancelled.
    pub fn spawn_updates(
        &self,
        every: Duration,
        stop: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        self.spawn_ticker(every, stop, |r| {
            r.publish_updates();
        })
    }

    fn spawn_ticker(
        &self,
        every: Duration,
        stop: CancellationToken,
        work: impl Fn(&Registry) + Send + 'static,
    ) -> tokio::task::JoinHandle<()> {
        let registry = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tick.tick() => work(&registry),
                }
            }
        })
    }
}
