//! The `LISTEN` side: one connection of this node's pool listens on every
//! channel, and each notice is acted on here.

use gatehouse_connect::policy::{self, Actor};
use gatehouse_domain::SessionId;
use gatehouse_sessions::EndRequest;
use gatehouse_store::StoreError;
use sqlx::postgres::{PgListener, PgNotification};
use tokio_util::sync::CancellationToken;

use crate::messages::{self, Change};
use crate::{Cluster, lock};

/// A listening connection, on every channel.
pub(crate) async fn connect(cluster: &Cluster) -> Result<PgListener, StoreError> {
    let Some(pool) = cluster.inner.store.postgres_pool() else {
        return Err(StoreError::Database(sqlx::Error::Configuration(
            "a cluster needs PostgreSQL".into(),
        )));
    };
    let mut listener = PgListener::connect_with(pool).await?;
    listener
        .listen_all([
            messages::SESSIONS,
            messages::END,
            messages::END_REPLY,
            messages::POLICY,
        ])
        .await?;
    Ok(listener)
}

/// Acts on notices until `stop`.
pub(crate) async fn run(cluster: Cluster, mut listener: PgListener, stop: CancellationToken) {
    loop {
        let notice = tokio::select! {
            _ = stop.cancelled() => return,
            got = listener.recv() => got,
        };
        match notice {
            Ok(notice) => cluster.dispatch(&notice),
            // sqlx reconnects (and listens again) on the next recv; what
            // was sent meanwhile is caught up by a full re-read.
            // Whatever this node published may have been lost with the
            // database (a failover): it is written again in full.
            Err(e) => {
                tracing::warn!(error = %e, "lost the cluster's LISTEN connection; reconnecting");
                cluster.database_failed();
                cluster.republish_all();
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                cluster.want_all();
            }
        }
    }
}

impl Cluster {
    fn dispatch(&self, notice: &PgNotification) {
        let payload = notice.payload();
        let bad = |e: serde_json::Error| {
            tracing::warn!(channel = notice.channel(), error = %e, "unreadable cluster message");
        };
        match notice.channel() {
            messages::SESSIONS => match serde_json::from_str::<messages::Changed>(payload) {
                Ok(changed) if changed.node != self.inner.node => {
                    let mut notes = lock(&self.inner.notes);
                    for note in changed.ended {
                        notes.insert(note.id, note);
                    }
                    drop(notes);
                    self.want(&changed.node, changed.seq);
                }
                Ok(_) => {}
                Err(e) => bad(e),
            },
            messages::END => match serde_json::from_str::<messages::EndCall>(payload) {
                Ok(call) if call.to == self.inner.node => {
                    let cluster = self.clone();
                    tokio::spawn(async move { cluster.end_here(call).await });
                }
                Ok(_) => {}
                Err(e) => bad(e),
            },
            messages::END_REPLY => match serde_json::from_str::<messages::EndReply>(payload) {
                Ok(reply) if reply.to == self.inner.node => {
                    if let Some(tx) = lock(&self.inner.pending).remove(&reply.request) {
                        let _ = tx.send(reply.ended);
                    }
                }
                Ok(_) => {}
                Err(e) => bad(e),
            },
            messages::POLICY => match serde_json::from_str::<messages::Policy>(payload) {
                Ok(policy) if policy.from != self.inner.node => {
                    let cluster = self.clone();
                    tokio::spawn(async move { cluster.apply(policy.change).await });
                }
                Ok(_) => {}
                Err(e) => bad(e),
            },
            _ => {}
        }
    }

    /// Ends the sessions another node asked for and answers which were live.
    async fn end_here(&self, call: messages::EndCall) {
        let request = EndRequest {
            reason: call.reason,
            by: call.by,
            message: call.message,
        };
        let ended: Vec<SessionId> = call
            .ids
            .into_iter()
            .filter(|id| self.inner.registry.end(*id, request.clone()))
            .collect();
        tracing::info!(from = %call.from, count = ended.len(), "ended sessions at another node's request");
        let reply = messages::EndReply {
            to: call.from,
            request: call.request,
            ended,
        };
        self.send(messages::END_REPLY, &reply).await;
    }

    /// Applies an access change made on another node to this node's
    /// sessions and streams.
    async fn apply(&self, change: Change) {
        let inner = &self.inner;
        match change {
            Change::UserLocked {
                user,
                by,
                client_addr,
                message,
            } => {
                let actor = Actor {
                    name: &by,
                    client_addr: &client_addr,
                };
                let ended = policy::end_user_sessions(&inner.registry, user, &actor, message);
                if !ended.is_empty() {
                    tracing::info!(count = ended.len(), %by, "ended a locked user's sessions");
                }
                inner.access.changed_elsewhere(Some(user));
            }
            Change::AccessRevoked { by, client_addr } => {
                let actor = Actor {
                    name: &by,
                    client_addr: &client_addr,
                };
                if let Err(e) = policy::revoke_unauthorized(
                    &inner.access,
                    &inner.registry,
                    &inner.audit,
                    &actor,
                )
                .await
                {
                    tracing::warn!(error = %e, "could not re-check grants after a change on another node");
                }
            }
            Change::AccessChanged { user } => inner.access.changed_elsewhere(user),
        }
    }
}
