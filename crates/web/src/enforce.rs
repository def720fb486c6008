//! The core's access policies (`gatehouse_connect::policy`) applied to an
//! API caller's change.

use gatehouse_connect::policy::{self, Actor};
use gatehouse_domain::{SessionId, UserId};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;

fn actor(caller: &Caller) -> Actor<'_> {
    Actor {
        name: caller.name(),
        client_addr: &caller.client_addr,
    }
}

/// Ends every live session of `user` at once as `user_locked`, ended by the
/// caller with `message` shown to the user; see [`policy::end_user_sessions`].
/// Other nodes end theirs too (told, not waited for).
pub(crate) async fn end_user_sessions(
    state: &AppState,
    user: UserId,
    caller: &Caller,
    message: String,
) -> Vec<SessionId> {
    if let Some(cluster) = &state.cluster {
        cluster
            .user_locked(user, caller.name(), &caller.client_addr, &message)
            .await;
    }
    policy::end_user_sessions(&state.registry, user, &actor(caller), message)
}

/// Ends the sessions whose owner lost their grant, ended by the caller; see
/// [`policy::revoke_unauthorized`]. Other nodes re-check theirs too.
pub(crate) async fn revoke_unauthorized(
    state: &AppState,
    caller: &Caller,
) -> Result<Vec<SessionId>, ApiError> {
    revoke_unauthorized_as(state, &actor(caller)).await
}

/// [`revoke_unauthorized`] for a change no API caller made (a single
/// sign-on login that changed its user's roles).
pub(crate) async fn revoke_unauthorized_as(
    state: &AppState,
    actor: &Actor<'_>,
) -> Result<Vec<SessionId>, ApiError> {
    if let Some(cluster) = &state.cluster {
        cluster.access_revoked(actor.name, actor.client_addr).await;
    }
    Ok(policy::revoke_unauthorized(&state.access, &state.registry, &state.audit, actor).await?)
}
