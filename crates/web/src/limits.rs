//! Session limits per role and per connection (the gateway-wide ones come
//! from the configuration); the strictest of all levels applies to a session.

use axum::Json;
use axum::extract::State;
use gatehouse_audit::{Event, action};
use gatehouse_domain::{ConnectionId, RoleName};
use gatehouse_store::{LimitSettings, RoleRecord};
use serde_json::json;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ApiPath};

/// The longest limit accepted: ten years. Anything longer is no limit in
/// practice (send `0` for none); the OpenAPI schema of `LimitSettings` says
/// the same, and an unbounded u64 did not fit its int64.
const MAX_LIMIT_SECONDS: u64 = 10 * 365 * 24 * 3600;

fn check(limits: &LimitSettings) -> Result<(), ApiError> {
    let fields = [limits.idle_timeout_seconds, limits.max_session_seconds];
    if fields.into_iter().flatten().any(|s| s > MAX_LIMIT_SECONDS) {
        return Err(ApiError::invalid(format!(
            "a limit may be at most {MAX_LIMIT_SECONDS} seconds (ten years); 0 or null means none"
        )));
    }
    Ok(())
}

/// Every role with its permissions and session limits (`users.manage`).
#[utoipa::path(get, path = "/roles", tag = "users",
    responses((status = 200, description = "Every role with its permissions and limits", body = Vec<RoleRecord>), (status = 403, body = crate::error::ErrorBody)))]
pub async fn roles(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<RoleRecord>>, ApiError> {
    Ok(Json(state.access.roles(&caller.principal).await?))
}

/// Set a role's session limits (`users.manage`). `null` or `0` removes a limit.
#[utoipa::path(put, path = "/roles/{name}/limits", tag = "users", request_body = LimitSettings,
    params(("name" = RoleName, Path, description = "Role name")),
    responses((status = 200, description = "The role's limits as stored", body = LimitSettings), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn set_role_limits(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<RoleName>,
    ApiJson(limits): ApiJson<LimitSettings>,
) -> Result<Json<LimitSettings>, ApiError> {
    check(&limits)?;
    state
        .access
        .set_role_limits(&caller.principal, &name, limits)
        .await?;
    record(&state, &caller, &format!("role {name}"), limits).await;
    Ok(Json(limits))
}

/// A connection's session limits (`connections.manage`).
#[utoipa::path(get, path = "/connections/{id}/limits", tag = "connections",
    params(("id" = uuid::Uuid, Path, description = "Connection id")),
    responses((status = 200, description = "The connection's limits", body = LimitSettings), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn connection_limits(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ConnectionId>,
) -> Result<Json<LimitSettings>, ApiError> {
    Ok(Json(
        state
            .access
            .connection_limits(&caller.principal, id)
            .await?,
    ))
}

/// Set a connection's session limits (`connections.manage`). `null` or `0` removes a limit.
#[utoipa::path(put, path = "/connections/{id}/limits", tag = "connections", request_body = LimitSettings,
    params(("id" = uuid::Uuid, Path, description = "Connection id")),
    responses((status = 200, description = "The connection's limits as stored", body = LimitSettings), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn set_connection_limits(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ConnectionId>,
    ApiJson(limits): ApiJson<LimitSettings>,
) -> Result<Json<LimitSettings>, ApiError> {
    check(&limits)?;
    state
        .access
        .set_connection_limits(&caller.principal, id, limits)
        .await?;
    record(&state, &caller, &format!("connection {id}"), limits).await;
    Ok(Json(limits))
}

async fn record(state: &AppState, caller: &Caller, target: &str, limits: LimitSettings) {
    state
        .audit
        .record(
            Event::new(action::LIMITS_UPDATE)
                .actor(caller.name())
                .target(target)
                .client_addr(&caller.client_addr)
                .details(json!(limits)),
        )
        .await;
}
