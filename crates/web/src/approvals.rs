//! SSH login approval links: the page's API. A person whose SSH client
//! shows a link opens it here, logged in, sees which login it is and
//! approves or denies it (see `gatehouse_access::Access::request_approval`).
//! Only the login's own user may see or decide it; each is decided once.

use axum::Json;
use axum::extract::State;
use gatehouse_access::ApprovalView;
use gatehouse_audit::{Event, action};
use gatehouse_domain::ApprovalId;
use serde_json::json;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiPath};

/// One of your SSH logins waiting for approval: who, from where, to what,
/// when, and its status (`pending`, `approved`, `denied`, `expired`).
/// Another user's is `403`.
#[utoipa::path(get, operation_id = "get_ssh_approval", path = "/ssh-approvals/{id}", tag = "auth",
    params(("id" = uuid::Uuid, Path, description = "The request's id, from the link")),
    responses((status = 200, description = "The login request", body = ApprovalView),
              (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ApprovalId>,
) -> Result<Json<ApprovalView>, ApiError> {
    Ok(Json(
        state
            .access
            .approval(&caller.principal, &id.to_string())
            .await?,
    ))
}

/// Approve your pending SSH login: the waiting client is let in.
#[utoipa::path(post, operation_id = "approve_ssh_login", path = "/ssh-approvals/{id}/approve", tag = "auth",
    params(("id" = uuid::Uuid, Path, description = "The request's id, from the link")),
    responses((status = 200, description = "Approved", body = ApprovalView),
              (status = 400, description = "Already decided or expired", body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ApprovalId>,
) -> Result<Json<ApprovalView>, ApiError> {
    decide(state, caller, id.to_string(), true).await
}

/// Deny your pending SSH login: the waiting client is refused.
#[utoipa::path(post, operation_id = "deny_ssh_login", path = "/ssh-approvals/{id}/deny", tag = "auth",
    params(("id" = uuid::Uuid, Path, description = "The request's id, from the link")),
    responses((status = 200, description = "Denied", body = ApprovalView),
              (status = 400, description = "Already decided or expired", body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn deny(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ApprovalId>,
) -> Result<Json<ApprovalView>, ApiError> {
    decide(state, caller, id.to_string(), false).await
}

async fn decide(
    state: AppState,
    caller: Caller,
    id: String,
    approve: bool,
) -> Result<Json<ApprovalView>, ApiError> {
    let view = state
        .access
        .decide_approval(&caller.principal, &id, approve)
        .await?;
    let event = if approve {
        action::SSH_LOGIN_APPROVED
    } else {
        action::SSH_LOGIN_DENIED
    };
    state
        .audit
        .record(
            Event::new(event)
                .actor(caller.name())
                .target(&view.id)
                .client_addr(&caller.client_addr)
                .details(json!({
                    "ssh_client_addr": view.client_addr,
                    "connection": view.connection,
                })),
        )
        .await;
    Ok(Json(view))
}
