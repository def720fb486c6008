//! This node's row in a shared database: claimed at start (waiting out a
//! dead predecessor's heartbeat), heartbeat while running, given up at a
//! clean stop. Only with PostgreSQL: a SQLite file has one node.

use std::time::Duration;

use anyhow::Context;
use gatehouse_store::{Backend, Store};
use time::OffsetDateTime;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How often a node heartbeats its row.
pub const HEARTBEAT: Duration = Duration::from_secs(3);

/// A row not heartbeat for this long belongs to a dead node: three missed
/// beats, and short enough that survivors can act within the 15 s the
/// issue allows for `node_lost`.
pub const STALE_AFTER: Duration = Duration::from_secs(10);

/// This process's hold on its node's row.
#[derive(Clone, Debug)]
pub struct NodeLease {
    store: Store,
    name: String,
    /// Random per process run.
    instance: String,
}

impl NodeLease {
    /// Claims `name` in a shared database: if another process holds it, it
    /// is given [`STALE_AFTER`] (and a beat more) to show it is alive,
    /// which a process killed moments ago does not. `None` on SQLite.
    pub async fn claim(store: &Store, name: &str) -> anyhow::Result<Option<NodeLease>> {
        if store.backend() != Backend::Postgres {
            return Ok(None);
        }
        let instance = uuid::Uuid::new_v4().to_string();
        let deadline = tokio::time::Instant::now() + STALE_AFTER + HEARTBEAT;
        let mut warned = false;
        loop {
            let now = OffsetDateTime::now_utc();
            if store
                .claim_node(name, &instance, now, STALE_AFTER)
                .await
                .context("claiming this node's row")?
            {
                let store = store.clone();
                let name = name.to_owned();
                return Ok(Some(NodeLease {
                    store,
                    name,
                    instance,
                }));
            }
            if tokio::time::Instant::now() >= deadline {
                anyhow::bail!(
                    "another running gateway uses the node name {name:?} on this database: give each node its own --node"
                );
            }
            if !warned {
                tracing::warn!(
                    node = name,
                    "another process heartbeats this node's name; waiting to see whether it is alive"
                );
                warned = true;
            }
            tokio::time::sleep(HEARTBEAT / 3).await;
        }
    }

    /// Heartbeats until `stop` is cancelled.
    pub fn spawn_heartbeat(&self, stop: CancellationToken) -> JoinHandle<()> {
        let lease = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(HEARTBEAT);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tick.tick() => {}
                }
                let now = OffsetDateTime::now_utc();
                match lease
                    .store
                    .node_heartbeat(&lease.name, &lease.instance, now)
                    .await
                {
                    Ok(true) => {}
                    Ok(false) => tracing::error!(
                        node = %lease.name,
                        "this node's row was taken over: another process runs under its name, or this one was counted dead"
                    ),
                    // The database may be restarting: beat again next time.
                    Err(e) => {
                        tracing::warn!(node = %lease.name, error = %e, "node heartbeat failed")
                    }
                }
            }
        })
    }

    /// Gives the row up (a clean stop).
    pub async fn release(&self) {
        if let Err(e) = self.store.release_node(&self.name, &self.instance).await {
            tracing::warn!(node = %self.name, error = %e, "could not release this node's row");
        }
    }
}
