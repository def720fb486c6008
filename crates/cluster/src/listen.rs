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

/// Who ends what a catch-up after a gap in listening finds unauthorized.
const CATCH_UP_ACTOR: &str = "gatehouse";

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

/// How long to wait between attempts to listen again.
const RELISTEN_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// Acts on notices until `stop`. When the listening connection is lost
/// (the database restarted, a failover), this node is marked not
/// listening — `/readyz` says so, as End Sessions calls and access changes
/// sent meanwhile do not reach it — and it connects and listens again, then
/// catches up on what it may have missed.
pub(crate) async fn run(cluster: Cluster, mut listener: PgListener, stop: CancellationToken) {
    loop {
        // `try_recv` says `None` when the connection was lost: sqlx would
        // reconnect on the next call by itself, silently, and what was sent
        // in between would be missed without anyone knowing.
        let notice = tokio::select! {
            _ = stop.cancelled() => return,
            got = listener.try_recv() => got,
        };
        match notice {
            Ok(Some(notice)) => cluster.dispatch(&notice),
            Ok(None) | Err(_) => {
                if let Err(e) = notice {
                    tracing::warn!(error = %e, "lost the cluster's LISTEN connection; reconnecting");
                } else {
                    tracing::warn!("lost the cluster's LISTEN connection; reconnecting");
                }
                cluster.set_listening(false);
                // Whatever this node published may have been lost with the
                // database (a failover): it is written again in full.
                cluster.database_failed();
                cluster.republish_all();
                let Some(again) = relisten(&cluster, &stop).await else {
                    return;
                };
                listener = again;
                cluster.set_listening(true);
                tracing::info!("listening to the cluster again");
                cluster.catch_up().await;
            }
        }
    }
}

/// Connects and listens again, retrying until it works or `stop`.
async fn relisten(cluster: &Cluster, stop: &CancellationToken) -> Option<PgListener> {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return None,
            _ = tokio::time::sleep(RELISTEN_EVERY) => {}
        }
        match connect(cluster).await {
            Ok(listener) => return Some(listener),
            Err(e) => {
                tracing::debug!(error = %e, "could not listen to the cluster yet");
                cluster.database_failed();
            }
        }
    }
}

impl Cluster {
    /// After a gap in listening: reads every other node's sessions again,
    /// and re-checks this node's sessions against the access rules as they
    /// stand now, since a lock or a revoked grant announced during the gap
    /// was not heard. Sessions whose owner is now locked or deleted end as
    /// `user_locked`, those that lost their grant as `access_revoked`.
    async fn catch_up(&self) {
        self.want_all();
        let inner = &self.inner;
        inner.access.changed_elsewhere(None);
        let actor = Actor {
            name: CATCH_UP_ACTOR,
            client_addr: "",
        };
        let mut owners: Vec<_> = inner
            .registry
            .owners()
            .into_iter()
            .map(|(_, user, _)| user)
            .collect();
        owners.sort_unstable();
        owners.dedup();
        for user in owners {
            let message = match inner.access.store().user_by_id(user).await {
                Ok(Some(record)) if !record.disabled => continue,
                Ok(Some(_)) => "your account was locked",
                Ok(None) => "your account was deleted",
                Err(e) => {
                    tracing::warn!(error = %e, "could not re-check a user after listening again");
                    return;
                }
            };
            let ended =
                policy::end_user_sessions(&inner.registry, user, &actor, message.to_owned());
            tracing::info!(
                count = ended.len(),
                "ended a locked user's sessions on catching up"
            );
        }
        if let Err(e) =
            policy::revoke_unauthorized(&inner.access, &inner.registry, &inner.audit, &actor).await
        {
            tracing::warn!(error = %e, "could not re-check grants after listening again");
        }
    }

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
