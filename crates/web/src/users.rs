//! Accounts: create and list users (`users.manage`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use gatehouse_audit::{Event, action};
use gatehouse_domain::{Permission, RoleName, Username};
use gatehouse_store::UserRecord;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson};

/// A user to create.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// Login name: letters, digits, `.`, `_`, `-`; stored lowercase.
    #[schema(value_type = String)]
    username: Username,
    /// At least 8 characters.
    #[schema(value_type = String, format = Password)]
    password: SecretString,
    /// Roles: `admin`, `auditor`, `user`, or a custom role.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    roles: Vec<RoleName>,
}

/// Create a user.
#[utoipa::path(post, path = "/users", tag = "users", request_body = CreateUser,
    responses((status = 201, body = UserRecord), (status = 400, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateUser>,
) -> Result<(StatusCode, Json<UserRecord>), ApiError> {
    caller.principal.require(Permission::UsersManage)?;
    let user = state
        .access
        .create_user(req.username, req.password, req.roles)
        .await?;
    state
        .audit
        .record(
            Event::new(action::USER_CREATE)
                .actor(caller.name())
                .target(user.username.as_str())
                .client_addr(&caller.client_addr)
                .details(json!({ "roles": user.roles })),
        )
        .await;
    Ok((StatusCode::CREATED, Json(user)))
}

/// List users.
#[utoipa::path(get, path = "/users", tag = "users",
    responses((status = 200, body = Vec<UserRecord>), (status = 403, body = crate::error::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<UserRecord>>, ApiError> {
    caller.principal.require(Permission::UsersManage)?;
    Ok(Json(state.access.list_users().await?))
}
