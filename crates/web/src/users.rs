//! Accounts: create, list, change, lock and delete users (`users.manage`).
//! Locking (or disabling) and deleting a user ends their logins and every
//! live session at once; a role change ends the sessions whose grant came
//! only through a removed role. The user's own watch and join sockets and
//! live feeds close too, each through its [`gatehouse_access::Standing`].

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
use crate::enforce;
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
#[utoipa::path(post, operation_id = "create_user", path = "/users", tag = "users", request_body = CreateUser,
    responses((status = 201, description = "The user was created", body = UserRecord), (status = 400, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody), (status = 404, description = "A role named in `roles` does not exist", body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody), (status = 503, body = crate::error::ErrorBody)))]
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
#[utoipa::path(get, operation_id = "list_users", path = "/users", tag = "users",
    responses((status = 200, description = "Every user", body = Vec<UserRecord>), (status = 403, body = crate::error::ErrorBody)))]
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
    /// `true` disables (locks) the account: its logins and live sessions
    /// end at once; `false` re-enables it.
    disabled: Option<bool>,
    /// A new password (at least 8 characters); the user's logins end at once.
    #[schema(value_type = Option<String>, format = Password)]
    password: Option<SecretString>,
}

/// Change a user's roles, disabled flag or password. Disabling a user or
/// changing their password ends all of their logins (tokens and cookies);
/// disabling also ends every live session of theirs at once (`user_locked`),
/// and a role change ends those whose connection they may no longer use
/// (`access_revoked`). The user's watch and join sockets and live feeds
/// close at once when their login ends, and a watch socket when
/// `sessions.watch` is taken away. A change that would leave no enabled
/// user with the `admin` role is refused.
#[utoipa::path(patch, operation_id = "update_user", path = "/users/{id}", tag = "users", request_body = UpdateUser,
    params(("id" = uuid::Uuid, Path, description = "User id")),
    responses((status = 200, description = "The user as changed", body = UserRecord), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody),
              (status = 503, body = crate::error::ErrorBody)))]
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
    let roles_changed = req.roles.is_some();
    let locks = req.disabled == Some(true);
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
    // Locking first, so the user's own sessions end as `user_locked`.
    if locks {
        let message = format!("account locked by {}", caller.name());
        enforce::end_user_sessions(&state, id, &caller, message).await;
    }
    if roles_changed {
        enforce::revoke_unauthorized(&state, &caller).await?;
    }
    Ok(Json(user))
}

/// Lock a user: the same as disabling them. Their logins (tokens and
/// cookies) and every live session of theirs end at once, the sessions as
/// `user_locked` with the administrator's name, and so do their watch and
/// join sockets and live feeds; logging in with the right
/// password is refused with `403 account_locked` until they are unlocked.
/// Locking the last enabled user with the `admin` role is refused.
#[utoipa::path(post, path = "/users/{id}/lock", tag = "users",
    params(("id" = uuid::Uuid, Path, description = "User id")),
    responses((status = 200, description = "The user, now locked", body = UserRecord), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn lock(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<UserId>,
) -> Result<Json<UserRecord>, ApiError> {
    let update = UserUpdate {
        disabled: Some(true),
        ..UserUpdate::default()
    };
    let user = state
        .access
        .update_user(&caller.principal, id, update)
        .await?;
    let message = format!("account locked by {}", caller.name());
    let ended = enforce::end_user_sessions(&state, id, &caller, message).await;
    state
        .audit
        .record(
            Event::new(action::USER_LOCK)
                .actor(caller.name())
                .target(user.username.as_str())
                .client_addr(&caller.client_addr)
                .details(json!({ "id": user.id, "ended_sessions": ended })),
        )
        .await;
    Ok(Json(user))
}

/// Unlock a user: they may log in again (their old logins stay ended).
#[utoipa::path(post, path = "/users/{id}/unlock", tag = "users",
    params(("id" = uuid::Uuid, Path, description = "User id")),
    responses((status = 200, description = "The user, now unlocked", body = UserRecord), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn unlock(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<UserId>,
) -> Result<Json<UserRecord>, ApiError> {
    let update = UserUpdate {
        disabled: Some(false),
        ..UserUpdate::default()
    };
    let user = state
        .access
        .update_user(&caller.principal, id, update)
        .await?;
    state
        .audit
        .record(
            Event::new(action::USER_UNLOCK)
                .actor(caller.name())
                .target(user.username.as_str())
                .client_addr(&caller.client_addr)
                .details(json!({ "id": user.id })),
        )
        .await;
    Ok(Json(user))
}

/// Delete a user with their roles, logins and direct grants. Every live
/// session of theirs ends at once (`user_locked`), and so do their watch and
/// join sockets and live feeds; history and the audit
/// log keep their name. Deleting the last enabled user with the `admin`
/// role is refused.
#[utoipa::path(delete, operation_id = "delete_user", path = "/users/{id}", tag = "users",
    params(("id" = uuid::Uuid, Path, description = "User id")),
    responses((status = 204, description = "The user was deleted"), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<UserId>,
) -> Result<StatusCode, ApiError> {
    let user = state.access.delete_user(&caller.principal, id).await?;
    let message = format!("account deleted by {}", caller.name());
    let ended = enforce::end_user_sessions(&state, id, &caller, message).await;
    state
        .audit
        .record(
            Event::new(action::USER_DELETE)
                .actor(caller.name())
                .target(user.username.as_str())
                .client_addr(&caller.client_addr)
                .details(json!({ "id": user.id, "roles": user.roles, "ended_sessions": ended })),
        )
        .await;
    Ok(StatusCode::NO_CONTENT)
}
