//! Sessions that a directory (LDAP) login took roles away from end, as
//! after an administrator's role change: `access_revoked`, on every node.

use gatehouse_connect::policy::{self, Actor};
use gatehouse_web::AppState;
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;

/// Who ends those sessions, in their history and the message shown.
const BY: &str = "ldap";

/// Listens for logins whose directory groups gave fewer roles than before
/// and ends the live sessions that lost their grant, until shutdown.
pub(crate) fn spawn_revoker(state: AppState) -> JoinHandle<()> {
    let mut narrowed = state.access.subscribe_narrowed();
    tokio::spawn(async move {
        loop {
            let next = tokio::select! {
                next = narrowed.recv() => next,
                () = state.shutdown.cancelled() => return,
            };
            let user = match next {
                Ok(user) => Some(user),
                // Missed some: check everyone's (it checks every session anyway).
                Err(RecvError::Lagged(_)) => None,
                Err(RecvError::Closed) => return,
            };
            if let Some(cluster) = &state.cluster {
                cluster.access_revoked(BY, "").await;
            }
            let actor = Actor {
                name: BY,
                client_addr: "",
            };
            match policy::revoke_unauthorized(&state.access, &state.registry, &state.audit, &actor)
                .await
            {
                Ok(ended) if !ended.is_empty() => {
                    tracing::info!(
                        ?user,
                        count = ended.len(),
                        "ended sessions whose roles the directory took away"
                    )
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = %e, "could not re-check sessions after an LDAP role change")
                }
            }
        }
    })
}
