//! Other nodes' sessions, cached in memory: re-read from `live_sessions`
//! when a node announces a change (and every few seconds in case a notice
//! was missed), and compared with the last picture to feed the live feed.
//! Reading the table on every list or search would put PostgreSQL on the
//! path of every dashboard refresh; the cache keeps them as fast as the
//! local registry and searched with exactly its semantics.

use std::collections::HashMap;
use std::sync::{RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use gatehouse_domain::{EndReason, SessionId};
use gatehouse_sessions::{EndedSession, SessionEvent, SessionView, Visibility};
use time::OffsetDateTime;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::{Cluster, lock};

/// How often the cache is re-read without being told to: a missed notice
/// (a reconnect of the listening connection) heals within this.
const REREAD: Duration = Duration::from_secs(3);

impl Cluster {
    /// Other nodes' live sessions `visibility` allows, idle times brought
    /// up to now.
    pub fn remote_sessions(&self, visibility: Visibility) -> Vec<SessionView> {
        let now = OffsetDateTime::now_utc();
        read(&self.inner.remote)
            .values()
            .filter(|s| visibility.allows(s.user_id))
            .map(|s| fresh(s, now))
            .collect()
    }

    /// One session another node relays, if it is live.
    pub fn remote_session(&self, id: SessionId) -> Option<SessionView> {
        let now = OffsetDateTime::now_utc();
        read(&self.inner.remote).get(&id).map(|s| fresh(s, now))
    }

    /// Other nodes' sessions `visibility` allows, and a feed of their
    /// changes after that picture (none missed or repeated).
    pub fn subscribe(
        &self,
        visibility: Visibility,
    ) -> (Vec<SessionView>, broadcast::Receiver<SessionEvent>) {
        let remote = read(&self.inner.remote);
        let rx = self.inner.events.subscribe();
        let now = OffsetDateTime::now_utc();
        let snapshot = remote
            .values()
            .filter(|s| visibility.allows(s.user_id))
            .map(|s| fresh(s, now))
            .collect();
        (snapshot, rx)
    }

    /// Re-reads other nodes' sessions and publishes what changed.
    pub(crate) async fn refresh(&self) {
        let rows = match self
            .inner
            .store
            .live_sessions_elsewhere(&self.inner.node)
            .await
        {
            Ok(rows) => rows,
            // The last picture stays: dashboards keep what they show.
            Err(e) => {
                tracing::warn!(error = %e, "could not read other nodes' sessions");
                if e.is_unavailable() {
                    self.database_failed();
                }
                return;
            }
        };
        let mut now: HashMap<SessionId, SessionView> = HashMap::with_capacity(rows.len());
        for (node, view) in rows {
            match serde_json::from_str::<SessionView>(&view) {
                Ok(view) => {
                    now.insert(view.id, view);
                }
                Err(e) => tracing::warn!(node, error = %e, "unreadable published session"),
            }
        }
        let ended_at = OffsetDateTime::now_utc();
        let mut remote = write(&self.inner.remote);
        let mut notes = lock(&self.inner.notes);
        for (id, old) in remote.iter() {
            if now.contains_key(id) {
                continue;
            }
            // A row gone without its notice (the notice is late or was
            // missed): the owner's history has the true reason.
            let note = notes.remove(id);
            let ended = EndedSession {
                session: old.clone(),
                ended_at: note.as_ref().map_or(ended_at, |n| n.ended_at),
                end_reason: note.as_ref().map_or(EndReason::NodeLost, |n| n.reason),
                ended_by: note.as_ref().and_then(|n| n.by.clone()),
                end_message: note.and_then(|n| n.message),
            };
            let _ = self.inner.events.send(SessionEvent::Ended(ended));
        }
        for (id, view) in &now {
            match remote.get(id) {
                None => {
                    let _ = self.inner.events.send(SessionEvent::Started(view.clone()));
                }
                Some(old) if old != view => {
                    let _ = self.inner.events.send(SessionEvent::Updated(view.clone()));
                }
                Some(_) => {}
            }
        }
        // Notes about sessions never seen here (started and ended between
        // two reads) have nothing to end.
        notes.retain(|id, _| now.contains_key(id));
        *remote = now;
    }
}

/// Refreshes when told to, and every [`REREAD`] regardless, until `stop`.
pub(crate) async fn run(cluster: Cluster, stop: CancellationToken) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = cluster.inner.refresh.notified() => {}
            _ = tokio::time::sleep(REREAD) => {}
        }
        cluster.refresh().await;
    }
}

/// `s` with its idle time as of `now` (it was published up to a second ago).
fn fresh(s: &SessionView, now: OffsetDateTime) -> SessionView {
    let mut s = s.clone();
    s.idle_seconds = u64::try_from((now - s.last_activity_at).whole_seconds()).unwrap_or(0);
    s
}

fn read<T>(l: &std::sync::RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(l: &std::sync::RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}
