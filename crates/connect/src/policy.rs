//! Policies that end live sessions when who may use what changes: a locked
//! or deleted user loses every session at once, and a session whose owner
//! lost the grant it was opened under (a changed or deleted connection, a
//! removed role) does not outlive it. They live in the core, not in a front
//! end, so every session obeys them whichever front end relays it.

use std::collections::HashMap;

use gatehouse_access::Access;
use gatehouse_audit::{Audit, Event, action};
use gatehouse_domain::{ConnectionId, EndReason, SessionId, UserId};
use gatehouse_sessions::{EndRequest, Registry};
use gatehouse_store::StoreError;
use serde_json::json;

/// Who changed access, as recorded with the sessions it ended.
#[derive(Clone, Copy, Debug)]
pub struct Actor<'a> {
    /// Their username.
    pub name: &'a str,
    /// Where they made the change from.
    pub client_addr: &'a str,
}

/// Ends every live session of `user` at once as `user_locked`, ended by the
/// caller with `message` shown to the user, and returns their ids. The
/// history writer records each end (and its `session.end` audit event).
pub fn end_user_sessions(
    registry: &Registry,
    user: UserId,
    actor: &Actor<'_>,
    message: String,
) -> Vec<SessionId> {
    registry.end_where(
        |owner, _| owner == user,
        EndRequest {
            reason: EndReason::UserLocked,
            by: Some(actor.name.to_owned()),
            message: Some(message),
        },
    )
}

/// Re-checks the grant of every live session and ends, as `access_revoked`
/// (ended by the caller), those whose owner may no longer use the
/// connection — directly or through any role — or whose connection is
/// gone. Sessions whose grant still holds are untouched. Each ended session
/// gets a `session.access_revoked` audit event. Call it after any change
/// that can remove a grant.
///
/// Every grant is checked before anything ends, so a store failure ends
/// nothing and the change can be retried.
pub async fn revoke_unauthorized(
    access: &Access,
    registry: &Registry,
    audit: &Audit,
    actor: &Actor<'_>,
) -> Result<Vec<SessionId>, StoreError> {
    let store = access.store();
    let mut may_use: HashMap<(UserId, ConnectionId), bool> = HashMap::new();
    let mut revoked = Vec::new();
    for (session, user, connection) in registry.owners() {
        let allowed = match may_use.get(&(user, connection)) {
            Some(allowed) => *allowed,
            None => {
                let allowed = store.user_may_use(user, connection).await?;
                may_use.insert((user, connection), allowed);
                allowed
            }
        };
        if !allowed {
            revoked.push((session, connection));
        }
    }
    let mut deleted: HashMap<ConnectionId, bool> = HashMap::new();
    for (_, connection) in &revoked {
        if !deleted.contains_key(connection) {
            let gone = store.connection(*connection).await?.is_none();
            deleted.insert(*connection, gone);
        }
    }

    let mut ended = Vec::with_capacity(revoked.len());
    for (id, connection) in revoked {
        // Ended meanwhile by its own course: nothing to revoke.
        let Some(session) = registry.get(id) else {
            continue;
        };
        let name = &session.connection.name;
        let message = if deleted.get(&connection).copied().unwrap_or(false) {
            format!("connection {name} was deleted")
        } else {
            format!("access to {name} was revoked")
        };
        let request = EndRequest {
            reason: EndReason::AccessRevoked,
            by: Some(actor.name.to_owned()),
            message: Some(message.clone()),
        };
        if !registry.end(id, request) {
            continue;
        }
        tracing::info!(session = %id, user = %session.user, connection = %name, "access revoked");
        audit
            .record(
                Event::new(action::SESSION_ACCESS_REVOKED)
                    .actor(actor.name)
                    .target(id.to_string())
                    .client_addr(actor.client_addr)
                    .details(json!({
                        "owner": session.user,
                        "connection": name,
                        "message": message,
                    })),
            )
            .await;
        ended.push(id);
    }
    Ok(ended)
}
