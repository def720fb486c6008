//! The registry's shared state (`Inner`): the table of live sessions and
//! the channels its changes are published on. Handles, watchers and forward
//! guards hold it to take their session off and tell the feeds.

use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

use gatehouse_domain::Protocol;
use gatehouse_recording::RecordingConfig;
use time::OffsetDateTime;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::time::Instant;

use crate::end::EndRequest;
use crate::entry::Entry;
use crate::locks::{lock, read, write};
use crate::table::Table;
use crate::{EndedSession, Lifecycle, SessionEvent};

/// What the registry shares with every handle, watcher and forward guard.
pub(crate) struct Inner {
    pub(crate) node: String,
    pub(crate) sessions: RwLock<Table>,
    pub(crate) events: broadcast::Sender<SessionEvent>,
    pub(crate) lifecycle: mpsc::UnboundedSender<Lifecycle>,
    /// How many sessions are live, for `Registry::wait_until_empty`.
    pub(crate) count: watch::Sender<usize>,
    pub(crate) recordings: Option<RecordingConfig>,
    /// Recordings whose file is still being written.
    pub(crate) recorders: watch::Sender<usize>,
    /// The runtime the registry was made on, where recordings are written.
    /// Not the opening front end's: a runtime that ends with its
    /// connections (an SSH shard at shutdown) would drop a recording
    /// half-written.
    pub(crate) runtime: Option<tokio::runtime::Handle>,
    /// Bytes from and to clients of the sessions that ended, per
    /// [`Protocol::ALL`] entry (for [`Registry::tally`](crate::Registry::tally)).
    pub(crate) ended_bytes: [[AtomicU64; 2]; Protocol::ALL.len()],
}

impl Inner {
    /// Tells live feeds about a change now (participants), not at the next tick.
    /// Nothing is published once the session has ended: a watcher or a
    /// forward let go after the end must not bring the session back to
    /// the feeds. Sent under the lock [`Inner::remove`] takes to publish
    /// the end, so an update never follows it.
    pub(crate) fn publish_updated(&self, entry: &Entry) {
        let sessions = read(&self.sessions);
        if sessions.get(&entry.id).is_some() {
            let _ = self.events.send(SessionEvent::Updated(
                entry.view(&self.node, Instant::now()),
            ));
        }
    }

    /// Removes a session and publishes its end. Called once, by the handle's drop.
    pub(crate) fn remove(&self, entry: &Entry, fallback: EndRequest) {
        let request = entry.end.get_or_init(|| fallback).clone();
        entry.cancel.cancel();
        if let Some(recorder) = &entry.recorder {
            recorder.finish();
        }
        let mut session = entry.view(&self.node, Instant::now());
        // History names everyone who took part, not only who was there at the end.
        session.participants = lock(&entry.everyone).clone();
        let ended = EndedSession {
            session,
            ended_at: OffsetDateTime::now_utc(),
            end_reason: request.reason,
            ended_by: request.by,
            end_message: request.message,
        };
        let mut sessions = write(&self.sessions);
        if sessions.remove(&entry.id).is_none() {
            return;
        }
        if let Some(i) = Protocol::ALL.iter().position(|p| *p == entry.protocol) {
            let [from, to] = &self.ended_bytes[i];
            from.fetch_add(ended.session.bytes_from_client, Ordering::Relaxed);
            to.fetch_add(ended.session.bytes_to_client, Ordering::Relaxed);
        }
        // The end is queued before the count drops, so whoever waits for an
        // empty registry and then flushes the lifecycle sees it written.
        let _ = self.lifecycle.send(Lifecycle::Ended(ended.clone()));
        let _ = self.events.send(SessionEvent::Ended(ended));
        self.count.send_replace(sessions.len());
        drop(sessions);
        tracing::info!(session = %entry.id, reason = %request.reason, "session ended");
    }
}
