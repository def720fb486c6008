//! Reaping dead nodes: every [`EVERY`], the survivors look for nodes whose
//! heartbeat is stale. The database lets exactly one of them reap each
//! (`Store::reap_dead_nodes`); that one records the ends in the audit log
//! and tells the others, whose dashboards drop the sessions.

use std::time::Duration;

use gatehouse_audit::{Event, action};
use gatehouse_domain::EndReason;
use serde_json::json;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::Cluster;
use crate::messages::EndNote;

/// How often survivors look: with a 10 s stale time, a dead node's
/// sessions are `node_lost` at most 10 + 2 s after its last heartbeat.
pub(crate) const EVERY: Duration = Duration::from_secs(2);

pub(crate) async fn run(cluster: Cluster, stop: CancellationToken) {
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        cluster.reap().await;
    }
}

impl Cluster {
    async fn reap(&self) {
        let inner = &self.inner;
        if !self.database_steady() {
            tracing::debug!(
                "the database was unreachable a moment ago: not counting stale heartbeats yet"
            );
            return;
        }
        let now = OffsetDateTime::now_utc();
        let reaped = match inner
            .store
            .reap_dead_nodes(now - inner.stale_after, now)
            .await
        {
            Ok(reaped) => reaped,
            Err(e) => {
                tracing::warn!(error = %e, "could not look for dead nodes");
                if e.is_unavailable() {
                    self.database_failed();
                }
                return;
            }
        };
        for node in reaped {
            tracing::warn!(
                node = %node.name,
                sessions = node.sessions.len(),
                "a node stopped heartbeating: its sessions are recorded as node_lost"
            );
            let events = node
                .sessions
                .iter()
                .map(|id| {
                    Event::new(action::SESSION_END)
                        .target(id.to_string())
                        .details(json!({
                            "end_reason": EndReason::NodeLost,
                            "node": node.name,
                            "reaped_by": inner.node,
                        }))
                })
                .collect();
            inner.audit.record_all(events).await;
            let notes = node
                .sessions
                .iter()
                .map(|id| EndNote {
                    id: *id,
                    ended_at: now,
                    reason: EndReason::NodeLost,
                    by: None,
                    message: None,
                })
                .collect();
            self.announce_changed_for(&node.name, notes, None).await;
        }
    }
}
