//! Shared sessions: the owner invites another user (read-only or
//! interactive), the invitee finds it under "shared with me" and joins
//! ([`crate::watch::join`]); the owner or an administrator removes a
//! participant without ending the session, which withdraws their invitation,
//! or withdraws an invitation nobody has used yet (*un-share*).

use axum::Json;
use axum::extract::State;
use gatehouse_audit::{Event, action};
use gatehouse_domain::{Permission, SessionId, Username};
use gatehouse_sessions::{ParticipantMode, SessionView};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery};

/// Whom to share a session with, and how.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShareRequest {
    /// The user to invite.
    #[schema(value_type = String)]
    user: Username,
    /// `observer` (read-only) or `interactive` (may type).
    mode: ParticipantMode,
}

/// Share your live session with another user (only the owner may).
#[utoipa::path(post, path = "/sessions/{id}/share", tag = "sessions", request_body = ShareRequest,
    params(("id" = uuid::Uuid, Path, description = "Session id")),
    responses((status = 204, description = "The session is shared with the user"), (status = 400, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn share(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<SessionId>,
    ApiJson(req): ApiJson<ShareRequest>,
) -> Result<axum::http::StatusCode, ApiError> {
    let session = visible(&state, &caller, id)?;
    if session.user_id != caller.principal.user_id {
        return Err(ApiError::forbidden("only the session's owner may share it"));
    }
    if req.mode == ParticipantMode::Owner {
        return Err(ApiError::invalid("mode must be observer or interactive"));
    }
    let user = state
        .access
        .store()
        .user_by_name(&req.user)
        .await?
        .filter(|u| !u.disabled)
        .ok_or_else(|| ApiError::not_found(format!("user {} not found", req.user)))?;
    if !state.registry.share(id, user.id, req.mode) {
        return Err(ApiError::not_found(format!("no live session {id}")));
    }
    state
        .audit
        .record(
            Event::new(action::SESSION_SHARE)
                .actor(caller.name())
                .target(id.to_string())
                .client_addr(&caller.client_addr)
                .details(json!({ "with": user.username, "mode": req.mode })),
        )
        .await;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// The shortest prefix that is looked up: one character would page through
/// the directory too easily.
const MIN_PREFIX: usize = 2;
/// The most names one lookup answers: enough to pick from while typing, too
/// few to read the directory out.
const MAX_SUGGESTIONS: i64 = 10;

/// What the owner has typed so far.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SuggestionParams {
    /// The start of a user name, at least 2 characters (case-insensitive).
    #[param(
        min_length = 2,
        max_length = 64,
        pattern = "^[A-Za-z0-9][A-Za-z0-9._-]*$"
    )]
    q: String,
}

/// Names to share a session with.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ShareSuggestions {
    /// Up to 10 names of active (not locked) users starting with the prefix,
    /// by name; never the caller.
    #[schema(value_type = Vec<String>)]
    users: Vec<Username>,
}

/// Names to suggest while the owner types whom to share their live session
/// with: only the session's owner may ask (as only they may share it), and
/// the answer is at most 10 names of active users that start with 2 or more
/// typed characters — names only, never ids or other fields, and never the
/// whole directory.
#[utoipa::path(get, path = "/sessions/{id}/share/suggestions", tag = "sessions",
    params(("id" = uuid::Uuid, Path, description = "Session id"), SuggestionParams),
    responses((status = 200, description = "Names starting with the prefix", body = ShareSuggestions),
              (status = 400, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn suggestions(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<SessionId>,
    ApiQuery(p): ApiQuery<SuggestionParams>,
) -> Result<Json<ShareSuggestions>, ApiError> {
    let session = visible(&state, &caller, id)?;
    if session.user_id != caller.principal.user_id {
        return Err(ApiError::forbidden("only the session's owner may share it"));
    }
    let prefix = Username::parse(&p.q)
        .ok()
        .filter(|q| q.as_str().len() >= MIN_PREFIX)
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "q must be the first {MIN_PREFIX} or more characters of a user name"
            ))
        })?;
    let users = state
        .access
        .store()
        .enabled_usernames_starting_with(&prefix, caller.principal.user_id, MAX_SUGGESTIONS)
        .await?;
    Ok(Json(ShareSuggestions { users }))
}

/// Whose invitation to withdraw.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnshareRequest {
    /// The invited user.
    #[schema(value_type = String)]
    user: Username,
}

/// Withdraw an invitation to your live session (the owner, or anyone with
/// `sessions.end`): the user can no longer join it, it leaves their "shared
/// with me" list, and if they already joined they are removed (told
/// `removed`). `404` if the session is not shared with them.
#[utoipa::path(post, path = "/sessions/{id}/unshare", tag = "sessions", request_body = UnshareRequest,
    params(("id" = uuid::Uuid, Path, description = "Session id")),
    responses((status = 204, description = "The user may no longer join the session"), (status = 400, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn unshare(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<SessionId>,
    ApiJson(req): ApiJson<UnshareRequest>,
) -> Result<axum::http::StatusCode, ApiError> {
    let session = visible(&state, &caller, id)?;
    if session.user_id != caller.principal.user_id && !caller.principal.has(Permission::SessionsEnd)
    {
        return Err(ApiError::forbidden(
            "withdrawing an invitation needs the sessions.end permission or owning the session",
        ));
    }
    let not_shared =
        || ApiError::not_found(format!("session {id} is not shared with {}", req.user));
    let user = state
        .access
        .store()
        .user_by_name(&req.user)
        .await?
        .ok_or_else(not_shared)?;
    if !state.registry.unshare(id, user.id, caller.name()) {
        return Err(not_shared());
    }
    state
        .audit
        .record(
            Event::new(action::SESSION_UNSHARE)
                .actor(caller.name())
                .target(id.to_string())
                .client_addr(&caller.client_addr)
                .details(json!({ "with": user.username })),
        )
        .await;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// A session shared with the caller.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SharedSession {
    /// The session.
    session: SessionView,
    /// How the caller may join it.
    mode: ParticipantMode,
}

/// Live sessions shared with the caller.
#[utoipa::path(get, path = "/sessions/shared", tag = "sessions",
    responses((status = 200, description = "Sessions shared with the caller", body = Vec<SharedSession>), (status = 401, body = crate::error::ErrorBody)))]
pub async fn shared(State(state): State<AppState>, caller: Caller) -> Json<Vec<SharedSession>> {
    let mut list: Vec<_> = state
        .registry
        .shared_with(caller.principal.user_id)
        .into_iter()
        .map(|(session, mode)| SharedSession { session, mode })
        .collect();
    list.sort_by_key(|s| std::cmp::Reverse(s.session.started_at));
    Json(list)
}

/// Remove one participant from a session without ending it: the owner, or
/// anyone with `sessions.end` (only they remove a participant who holds
/// `sessions.watch`, such as an administrator watching). Their view closes and says who removed them.
/// A participant who joined through an invitation loses it (and any other
/// view they opened with it), so they cannot join again unless the owner
/// shares the session with them anew.
#[utoipa::path(post, path = "/sessions/{id}/participants/{participant}/remove", tag = "sessions",
    params(("id" = uuid::Uuid, Path, description = "Session id"),
           ("participant" = uuid::Uuid, Path, description = "Participant id")),
    responses((status = 204, description = "The participant was removed"), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn remove_participant(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, participant)): ApiPath<(SessionId, Uuid)>,
) -> Result<axum::http::StatusCode, ApiError> {
    let session = visible(&state, &caller, id)?;
    let owner = session.user_id == caller.principal.user_id;
    if !owner && !caller.principal.has(Permission::SessionsEnd) {
        return Err(ApiError::forbidden(
            "removing a participant needs the sessions.end permission or owning the session",
        ));
    }
    let who = session.participants.iter().find(|p| p.id == participant);
    let Some(who) = who.filter(|p| p.mode != ParticipantMode::Owner) else {
        return Err(ApiError::not_found(
            "no such participant (the owner is removed by ending the session)",
        ));
    };
    // A supervisor watching a session is not the watched user's to send
    // away: only someone who may end sessions removes a participant who
    // holds sessions.watch.
    if !caller.principal.has(Permission::SessionsEnd)
        && state
            .access
            .user_holds(&who.user, Permission::SessionsWatch)
            .await?
    {
        return Err(ApiError::forbidden(
            "a participant who holds sessions.watch is removed only by someone with sessions.end",
        ));
    }
    if !state
        .registry
        .remove_participant(id, participant, caller.name())
    {
        return Err(ApiError::not_found("the participant has left"));
    }
    state
        .audit
        .record(
            Event::new(action::PARTICIPANT_REMOVE)
                .actor(caller.name())
                .target(id.to_string())
                .client_addr(&caller.client_addr)
                .details(json!({ "participant": who.user, "mode": who.mode })),
        )
        .await;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

fn visible(state: &AppState, caller: &Caller, id: SessionId) -> Result<SessionView, ApiError> {
    state
        .registry
        .get(id)
        .filter(|s| {
            caller.principal.has(Permission::SessionsView) || s.user_id == caller.principal.user_id
        })
        .ok_or_else(|| ApiError::not_found(format!("no live session {id}")))
}
