//! The registry's record of one live session, shared between the registry's
//! map and the session's handle. Hot counters are atomics so relaying never
//! takes a lock; the participant list is a short std mutex never held across
//! an `.await`.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use gatehouse_domain::{Protocol, SessionId, UserId};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::registry::EndRequest;
use crate::{ConnectionRef, Participant, SessionView};

pub(crate) struct Entry {
    pub(crate) id: SessionId,
    pub(crate) user: String,
    pub(crate) user_id: UserId,
    pub(crate) connection: ConnectionRef,
    pub(crate) protocol: Protocol,
    pub(crate) client_addr: String,
    pub(crate) target: String,
    pub(crate) started_at: OffsetDateTime,
    pub(crate) recording: bool,
    /// Lowercased searchable fields joined by NUL, so a query never matches
    /// across two fields.
    pub(crate) haystack: String,
    pub(crate) last_activity_ms: AtomicI64,
    pub(crate) bytes_from_client: AtomicU64,
    pub(crate) bytes_to_client: AtomicU64,
    pub(crate) participants: Mutex<Vec<Participant>>,
    /// Set when activity changed since the last `Updated` event.
    pub(crate) dirty: AtomicBool,
    pub(crate) cancel: CancellationToken,
    /// The first end request wins; later ones are ignored.
    pub(crate) end: OnceLock<EndRequest>,
}

pub(crate) fn unix_ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

fn from_unix_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

impl Entry {
    pub(crate) fn last_activity_ms(&self) -> i64 {
        self.last_activity_ms.load(Ordering::Relaxed)
    }

    pub(crate) fn touch(&self, now: OffsetDateTime) {
        self.last_activity_ms.store(unix_ms(now), Ordering::Relaxed);
        self.dirty.store(true, Ordering::Relaxed);
    }

    pub(crate) fn view(&self, node: &str, now: OffsetDateTime) -> SessionView {
        let last = self.last_activity_ms();
        let idle_ms = (unix_ms(now) - last).max(0);
        SessionView {
            id: self.id,
            user: self.user.clone(),
            user_id: self.user_id,
            connection: self.connection.clone(),
            protocol: self.protocol,
            client_addr: self.client_addr.clone(),
            target: self.target.clone(),
            started_at: self.started_at,
            last_activity_at: from_unix_ms(last),
            idle_seconds: (idle_ms / 1000) as u64,
            bytes_from_client: self.bytes_from_client.load(Ordering::Relaxed),
            bytes_to_client: self.bytes_to_client.load(Ordering::Relaxed),
            participants: self
                .participants
                .lock()
                .map(|p| p.clone())
                .unwrap_or_default(),
            recording: self.recording,
            node: node.to_owned(),
        }
    }
}
