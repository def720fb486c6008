//! Other nodes' sessions, cached in memory and kept up to date
//! incrementally: each node's rows carry its change sequence, and a notice
//! (`NOTIFY`) says which node wrote which change, so a reader fetches only
//! that node's rows changed since its last read — an end is a tombstone
//! row read the same way. A full re-read happens only at start, after the
//! listening connection or a read failed (notices may have been lost), and
//! for one node when it starts afresh or is reaped (its rows were deleted,
//! not tombstoned). Every [`REREAD`] the latest change of every node is
//! compared with the last read, in case a notice was missed.
//!
//! Reading the table on every list or search would put PostgreSQL on the
//! path of every dashboard refresh; the cache keeps them as fast as the
//! local registry and searched with exactly its semantics.

use std::collections::{HashMap, HashSet};
use std::sync::{RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use gatehouse_domain::{EndReason, SessionId};
use gatehouse_sessions::{EndedSession, SessionEvent, SessionView, Visibility};
use gatehouse_store::LiveRow;
use time::OffsetDateTime;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::{Cluster, lock};

/// How often the readers check every node's latest change without being
/// told to: a missed notice heals within this.
const REREAD: Duration = Duration::from_secs(3);

/// What the refresher was told to read.
#[derive(Default)]
pub(crate) struct Wanted {
    /// Everything, from scratch.
    full: bool,
    /// These nodes' rows, from scratch (they were deleted, not tombstoned).
    reset: HashSet<String>,
    /// These nodes wrote a change up to this seq.
    changed: HashMap<String, i64>,
}

/// Which rows a read covers, for telling the ends it implies.
enum Scope<'a> {
    /// Every other node's: what is cached and not read ended.
    All,
    /// One node's.
    Node(&'a str),
    /// Only the rows read (an incremental read).
    Rows,
}

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

    /// Asks the refresher to read node `node`'s changes up to `seq`
    /// (`None`: all its rows, from scratch).
    pub(crate) fn want(&self, node: &str, seq: Option<i64>) {
        let mut wanted = lock(&self.inner.wanted);
        match seq {
            Some(seq) => {
                let at = wanted.changed.entry(node.to_owned()).or_default();
                *at = (*at).max(seq);
            }
            None => {
                wanted.reset.insert(node.to_owned());
            }
        }
        drop(wanted);
        self.inner.refresh.notify_one();
    }

    /// Asks the refresher to read everything from scratch.
    pub(crate) fn want_all(&self) {
        lock(&self.inner.wanted).full = true;
        self.inner.refresh.notify_one();
    }

    /// Reads every other node's rows from scratch (at start).
    pub(crate) async fn read_everything(&self) {
        lock(&self.inner.wanted).full = true;
        self.refresh(false).await;
    }

    /// Reads what was asked for (`poll`: and every node whose latest change
    /// is past the last read) and publishes what changed. On a failure the
    /// next refresh reads everything.
    pub(crate) async fn refresh(&self, poll: bool) {
        let wanted = std::mem::take(&mut *lock(&self.inner.wanted));
        if let Err(e) = self.read(wanted, poll).await {
            tracing::warn!(error = %e, "could not read other nodes' sessions");
            if e.is_unavailable() {
                self.database_failed();
            }
            // The last picture stays: dashboards keep what they show.
            lock(&self.inner.wanted).full = true;
        }
    }

    async fn read(&self, wanted: Wanted, poll: bool) -> Result<(), gatehouse_store::StoreError> {
        let store = &self.inner.store;
        let me = self.inner.node.as_str();
        if wanted.full {
            let rows = store.live_sessions_full(me, None).await?;
            *lock(&self.inner.marks) = HashMap::new();
            self.take_in(rows, Scope::All);
            return Ok(());
        }
        for node in &wanted.reset {
            let rows = store.live_sessions_full(me, Some(node)).await?;
            lock(&self.inner.marks).remove(node);
            self.take_in(rows, Scope::Node(node));
        }
        let mut changed = wanted.changed;
        if poll {
            let marks = store.live_session_marks(me).await?;
            let present: HashSet<&str> = marks.iter().map(|(n, _)| n.as_str()).collect();
            // A node with no rows left was deleted whole (reaped, or it
            // stopped): whatever is cached of it is gone.
            let gone: Vec<String> = lock(&self.inner.marks)
                .keys()
                .filter(|n| !present.contains(n.as_str()))
                .cloned()
                .collect();
            for node in gone {
                lock(&self.inner.marks).remove(&node);
                self.take_in(Vec::new(), Scope::Node(&node));
            }
            for (node, seq) in marks {
                let at = changed.entry(node).or_default();
                *at = (*at).max(seq);
            }
        }
        for (node, seq) in changed {
            if wanted.reset.contains(&node) {
                continue;
            }
            let after = lock(&self.inner.marks).get(&node).copied();
            if after.is_some_and(|after| after >= seq) {
                continue;
            }
            // A node never read (or reset) is read whole.
            let rows = match after {
                Some(after) => store.live_session_changes(&node, after).await?,
                None => store.live_sessions_full(me, Some(&node)).await?,
            };
            let scope = if after.is_some() {
                Scope::Rows
            } else {
                Scope::Node(&node)
            };
            self.take_in(rows, scope);
        }
        Ok(())
    }

    /// Applies rows read to the cache and the live feed: tombstones and,
    /// for a whole `scope`, cached sessions not read end; the others start
    /// or update. Each node's mark moves to the latest change read.
    fn take_in(&self, rows: Vec<LiveRow>, scope: Scope<'_>) {
        let mut marks = lock(&self.inner.marks);
        let mut live: HashMap<SessionId, SessionView> = HashMap::new();
        let mut ended: HashSet<SessionId> = HashSet::new();
        for row in rows {
            let mark = marks.entry(row.node.clone()).or_insert(row.seq);
            *mark = (*mark).max(row.seq);
            let Ok(id) = row.id.parse::<SessionId>() else {
                tracing::warn!(node = row.node, "unreadable published session id");
                continue;
            };
            let Some(view) = row.view else {
                ended.insert(id);
                continue;
            };
            match serde_json::from_str::<SessionView>(&view) {
                Ok(view) => {
                    live.insert(view.id, view);
                }
                Err(e) => {
                    tracing::warn!(node = row.node, error = %e, "unreadable published session")
                }
            }
        }
        drop(marks);
        let ended_at = OffsetDateTime::now_utc();
        let mut remote = write(&self.inner.remote);
        let mut notes = lock(&self.inner.notes);
        let gone: Vec<SessionId> = remote
            .iter()
            .filter(|(id, old)| {
                !live.contains_key(id)
                    && (ended.contains(id)
                        || match scope {
                            Scope::All => true,
                            Scope::Node(node) => old.node == node,
                            Scope::Rows => false,
                        })
            })
            .map(|(id, _)| *id)
            .collect();
        for id in gone {
            let Some(old) = remote.remove(&id) else {
                continue;
            };
            // Ended without its notice (late or missed): the owner's
            // history has the true reason.
            let note = notes.remove(&id);
            let ended = EndedSession {
                session: old,
                ended_at: note.as_ref().map_or(ended_at, |n| n.ended_at),
                end_reason: note.as_ref().map_or(EndReason::NodeLost, |n| n.reason),
                ended_by: note.as_ref().and_then(|n| n.by.clone()),
                end_message: note.and_then(|n| n.message),
            };
            let _ = self.inner.events.send(SessionEvent::Ended(ended));
        }
        for (id, view) in live {
            match remote.get(&id) {
                None => {
                    let _ = self.inner.events.send(SessionEvent::Started(view.clone()));
                }
                Some(old) if *old != view => {
                    let _ = self.inner.events.send(SessionEvent::Updated(view.clone()));
                }
                Some(_) => continue,
            }
            remote.insert(id, view);
        }
        // Notes about sessions never seen here (started and ended between
        // two reads) have nothing to end.
        notes.retain(|id, _| remote.contains_key(id));
    }
}

/// Refreshes when told to, and polls every [`REREAD`], until `stop`.
pub(crate) async fn run(cluster: Cluster, stop: CancellationToken) {
    let mut poll = tokio::time::interval(REREAD);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = cluster.inner.refresh.notified() => cluster.refresh(false).await,
            _ = poll.tick() => cluster.refresh(true).await,
        }
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
