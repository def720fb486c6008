//! Publishing this node's sessions: at once on a start or an end, and a
//! roll-up every [`ROLL_UP`] of those whose activity, bytes or participants
//! changed. A keystroke is never a write: it changes counters the next
//! roll-up carries.

use std::collections::HashMap;
use std::time::Duration;

use gatehouse_domain::SessionId;
use gatehouse_sessions::{SessionEvent, SessionView, Visibility};
use time::OffsetDateTime;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use crate::Cluster;
use crate::messages::EndNote;

/// How often activity is rolled up to the shared table.
pub(crate) const ROLL_UP: Duration = Duration::from_secs(1);

/// How long an ended session's tombstone stays for the readers: they read
/// every node's changes at least every few seconds (and from scratch after
/// any failure), so a minute is ample.
const TOMBSTONE_KEEP_MICROS: i64 = 60_000_000;

/// What this node last published.
#[derive(Default)]
struct Published {
    sessions: HashMap<SessionId, SessionView>,
    /// Ends seen on the registry's feed, not yet published.
    ended: HashMap<SessionId, EndNote>,
    /// The change sequence of the last publish.
    seq: i64,
}

impl Published {
    /// The next change sequence: the clock in microseconds, so a
    /// restarted node's changes follow its previous run's, and always past
    /// the last (the clock may step back).
    fn next_seq(&self) -> i64 {
        let now = OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000;
        i64::try_from(now).unwrap_or(i64::MAX).max(self.seq + 1)
    }
}

/// Publishes until `stop`, then once more (the registry has drained).
pub(crate) async fn run(cluster: Cluster, stop: CancellationToken) {
    let mut events = cluster.inner.registry.subscribe(Visibility::All).1;
    let mut published = Published::default();
    let mut tick = tokio::time::interval(ROLL_UP);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tick.tick() => {}
            got = events.recv() => {
                match got {
                    // Roll-ups carry activity.
                    Ok(SessionEvent::Updated(_)) => continue,
                    Ok(ev) => note(&mut published, ev),
                    Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => break,
                }
                // A burst of starts and ends is one write.
                loop {
                    match events.try_recv() {
                        Ok(ev) => note(&mut published, ev),
                        Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => {}
                        Err(_) => break,
                    }
                }
            }
        }
        publish(&cluster, &mut published).await;
    }
    while let Ok(ev) = events.try_recv() {
        note(&mut published, ev);
    }
    publish(&cluster, &mut published).await;
    if let Err(e) = cluster
        .inner
        .store
        .unpublish_node(&cluster.inner.node)
        .await
    {
        tracing::warn!(error = %e, "could not withdraw this node's sessions");
    }
    // The tombstones went too: readers drop whatever they still hold.
    cluster.announce_changed(Vec::new(), None).await;
}

fn note(published: &mut Published, ev: SessionEvent) {
    if let SessionEvent::Ended(e) = ev {
        published.ended.insert(
            e.session.id,
            EndNote {
                id: e.session.id,
                ended_at: e.ended_at,
                reason: e.end_reason,
                by: e.ended_by,
                message: e.end_message,
            },
        );
    }
}

/// Writes what changed since the last call, in one transaction, and tells
/// the other nodes. On failure nothing is forgotten: the next call retries.
async fn publish(cluster: &Cluster, published: &mut Published) {
    let (live, _) = cluster.inner.registry.subscribe(Visibility::All);
    let live: HashMap<SessionId, SessionView> = live.into_iter().map(|s| (s.id, s)).collect();
    let everything = cluster.take_republish();
    let mut upserts = Vec::new();
    for (id, view) in &live {
        if !everything
            && published
                .sessions
                .get(id)
                .is_some_and(|old| same(old, view))
        {
            continue;
        }
        match serde_json::to_string(view) {
            Ok(json) => upserts.push((id.to_string(), json)),
            Err(e) => tracing::error!(session = %id, error = %e, "could not encode a session"),
        }
    }
    let removed: Vec<SessionId> = published
        .sessions
        .keys()
        .filter(|id| !live.contains_key(id))
        .copied()
        .collect();
    if upserts.is_empty() && removed.is_empty() {
        // Ends of sessions never published (gone within one roll-up).
        published.ended.clear();
        return;
    }
    let removed_text: Vec<String> = removed.iter().map(ToString::to_string).collect();
    let now = OffsetDateTime::now_utc();
    let seq = published.next_seq();
    if let Err(e) = cluster
        .inner
        .store
        .publish_live_sessions(
            &cluster.inner.node,
            &upserts,
            &removed_text,
            now,
            seq,
            seq - TOMBSTONE_KEEP_MICROS,
        )
        .await
    {
        tracing::warn!(error = %e, "could not publish this node's sessions");
        if e.is_unavailable() {
            cluster.database_failed();
        }
        if everything {
            cluster.republish_all();
        }
        return;
    }
    let notes = removed
        .iter()
        .filter_map(|id| published.ended.remove(id))
        .collect();
    published.ended.clear();
    published.sessions = live;
    published.seq = seq;
    cluster.announce_changed(notes, Some(seq)).await;
}

/// Whether two pictures of a session differ only by the passing of time
/// (the idle and remaining seconds the readers work out themselves).
fn same(a: &SessionView, b: &SessionView) -> bool {
    let (mut a, mut b) = (a.clone(), b.clone());
    a.idle_seconds = 0;
    b.idle_seconds = 0;
    a.ends_in_seconds = None;
    b.ends_in_seconds = None;
    a == b
}
