//! Accounts: create, list and change users (`users.manage`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use gatehouse_access::UserUpdate;
use gatehouse_audit::{Event, action};
use gatehouse_domain::{Permission, RoleName, UserId, Username};
use gatehouse_store::UserRecord;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ApiPath};

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

/// Changes to a user; give any subset of the fields.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    /// Replaces the user's roles; each must exist.
    #[schema(value_type = Option<Vec<String>>)]
    roles: Option<Vec<RoleName>>,
    /// `true` disables the account (its logins end at once), `false` re-enables it.
    disabled: Option<bool>,
    /// A new password (at least 8 characters); the user's logins end at once.
    #[schema(value_type = Option<String>, format = Password)]
    password: Option<SecretString>,
}

/// Change a user's roles, disabled flag or password. Disabling a user or
/// changing their password ends all of their logins (tokens and cookies);
/// a change that would leave no enabled user with the `admin` role is refused.
#[utoipa::path(patch, path = "/users/{id}", tag = "users", request_body = UpdateUser,
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, body = UserRecord), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<UserId>,
    ApiJson(req): ApiJson<UpdateUser>,
) -> Result<Json<UserRecord>, ApiError> {
    let mut details = Map::new();
    if let Some(roles) = &req.roles {
        details.insert("roles".into(), json!(roles));
    }
    if let Some(disabled) = req.disabled {
        details.insert("disabled".into(), json!(disabled));
    }
    if req.password.is_some() {
        details.insert("password_changed".into(), json!(true));
    }
    let update = UserUpdate {
        roles: req.roles,
        disabled: req.disabled,
        password: req.password,
    };
    let user = state
        .access
        .update_user(&caller.principal, id, update)
        .await?;
    if !details.is_empty() {
        state
            .audit
            .record(
                Event::new(action::USER_UPDATE)
                    .actor(caller.name())
                    .target(user.username.as_str())
                    .client_addr(&caller.client_addr)
                    .details(Value::Object(details)),
            )
            .await;
    }
    Ok(Json(user))
}
