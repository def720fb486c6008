//! The registry's record of one live session, shared between the registry's
//! map and the session's handle. Hot counters are atomics so relaying never
//! takes a lock; the participant list is a short std mutex never held across
//! an `.await`. Activity is kept on tokio's monotonic clock (so policies can
//! be tested with a paused clock) and shown as wall-clock time.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use gatehouse_domain::{EndReason, Protocol, SessionId, UserId};
use time::OffsetDateTime;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::end::EndRequest;
use crate::limits::Warning;
use crate::locks::lock;
use crate::screen::Screen;
use crate::{ConnectionRef, Participant, ParticipantMode, SessionLimits, SessionView};

/// Which warnings have been given (bits), so each is given once.
pub(crate) const WARNED_IDLE: u8 = 1;
pub(crate) const WARNED_MAX: u8 = 2;

pub(crate) struct Entry {
    pub(crate) id: SessionId,
    pub(crate) user: String,
    pub(crate) user_id: UserId,
    pub(crate) connection: ConnectionRef,
    pub(crate) protocol: Protocol,
    pub(crate) client_addr: String,
    pub(crate) target: String,
    pub(crate) started_at: OffsetDateTime,
    pub(crate) started: Instant,
    /// The session's recorder, when it is recorded.
    pub(crate) recorder: Option<gatehouse_recording::Recorder>,
    pub(crate) limits: SessionLimits,
    /// Lowercased searchable fields joined by NUL, so a query never matches
    /// across two fields.
    pub(crate) haystack: String,
    /// Milliseconds after `started` of the last input.
    pub(crate) activity_ms: AtomicU64,
    pub(crate) bytes_from_client: AtomicU64,
    pub(crate) bytes_to_client: AtomicU64,
    /// Everyone taking part, the owner first; receivers learn of changes.
    pub(crate) participants: watch::Sender<Vec<Participant>>,
    /// Everyone who ever took part, for history.
    pub(crate) everyone: Mutex<Vec<Participant>>,
    /// Port forwards open through the session.
    pub(crate) forwards: Mutex<Vec<crate::Forward>>,
    /// Enough recent output to paint the current screen for a watcher.
    pub(crate) screen: Mutex<Screen>,
    /// The front end's own detail, shown as it is (see `SessionView::detail`).
    pub(crate) detail: Mutex<serde_json::Map<String, serde_json::Value>>,
    /// Live output for watchers (only sent while someone watches).
    pub(crate) output: broadcast::Sender<Bytes>,
    /// Who the owner shared the session with, and how.
    pub(crate) invites: Mutex<HashMap<UserId, ParticipantMode>>,
    /// Keystrokes of interactive participants, for the front end to relay.
    pub(crate) input: mpsc::Sender<Bytes>,
    pub(crate) input_rx: Mutex<Option<mpsc::Receiver<Bytes>>>,
    /// Each joined participant's removal signal and who removed them.
    pub(crate) removals: Mutex<HashMap<Uuid, Removal>>,
    /// Set when activity changed since the last `Updated` event.
    pub(crate) dirty: AtomicBool,
    pub(crate) warned: AtomicU8,
    /// The policy warning the front end should show, if any.
    pub(crate) warning: watch::Sender<Option<Warning>>,
    pub(crate) cancel: CancellationToken,
    /// The first end request wins; later ones are ignored.
    pub(crate) end: OnceLock<EndRequest>,
}

/// How a participant is told they were removed.
#[derive(Clone, Default)]
pub(crate) struct Removal {
    pub(crate) signal: CancellationToken,
    pub(crate) by: Arc<OnceLock<String>>,
    /// The invited user, when they joined through the owner's invitation
    /// (a watcher with `sessions.watch` was not invited).
    pub(crate) invited: Option<UserId>,
}

impl Removal {
    /// Tells the participant they were removed by `by`.
    pub(crate) fn remove(&self, by: &str) {
        let _ = self.by.set(by.to_owned());
        self.signal.cancel();
    }
}

pub(crate) fn ms(d: Duration) -> u64 {
    d.as_millis().min(u128::from(u64::MAX)) as u64
}

impl Entry {
    pub(crate) fn activity_ms(&self) -> u64 {
        self.activity_ms.load(Ordering::Relaxed)
    }

    /// Time since the last input.
    pub(crate) fn idle(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.started)
            .saturating_sub(Duration::from_millis(self.activity_ms()))
    }

    /// Counts and records keystrokes from any interactive participant,
    /// and marks the session active.
    pub(crate) fn record_input(&self, data: &[u8]) {
        self.bytes_from_client
            .fetch_add(data.len() as u64, Ordering::Relaxed);
        self.touch();
        if let Some(recorder) = &self.recorder {
            recorder.input(data);
        }
    }

    /// Records input now; withdraws an idle warning.
    pub(crate) fn touch(&self) {
        let at = ms(Instant::now().saturating_duration_since(self.started));
        self.activity_ms.fetch_max(at, Ordering::Relaxed);
        self.dirty.store(true, Ordering::Relaxed);
        if self.warned.fetch_and(!WARNED_IDLE, Ordering::Relaxed) & WARNED_IDLE != 0 {
            self.warning.send_if_modified(|w| {
                let idle = matches!(w, Some(w) if w.reason == EndReason::IdleTimeout);
                if idle {
                    *w = None;
                }
                idle
            });
        }
    }

    /// Seconds until a policy ends the session, if one will.
    fn ends_in(&self, now: Instant) -> Option<u64> {
        let idle = self
            .limits
            .idle_timeout
            .as_ref()
            .map(|l| l.after.saturating_sub(self.idle(now)));
        let age = now.saturating_duration_since(self.started);
        let max = self
            .limits
            .max_duration
            .as_ref()
            .map(|l| l.after.saturating_sub(age));
        idle.into_iter().chain(max).min().map(|d| d.as_secs())
    }

    pub(crate) fn view(&self, node: &str, now: Instant) -> SessionView {
        let activity = Duration::from_millis(self.activity_ms());
        SessionView {
            id: self.id,
            user: self.user.clone(),
            user_id: self.user_id,
            connection: self.connection.clone(),
            protocol: self.protocol,
            client_addr: self.client_addr.clone(),
            target: self.target.clone(),
            started_at: self.started_at,
            last_activity_at: self.started_at + activity,
            idle_seconds: self.idle(now).as_secs(),
            idle_timeout_seconds: self.limits.idle_timeout.as_ref().map(|l| l.after.as_secs()),
            max_duration_seconds: self.limits.max_duration.as_ref().map(|l| l.after.as_secs()),
            ends_in_seconds: self.ends_in(now),
            bytes_from_client: self.bytes_from_client.load(Ordering::Relaxed),
            bytes_to_client: self.bytes_to_client.load(Ordering::Relaxed),
            participants: self.participants.borrow().clone(),
            forwards: lock(&self.forwards).clone(),
            recording: self.recorder.is_some(),
            detail: lock(&self.detail).clone(),
            node: node.to_owned(),
        }
    }
}
