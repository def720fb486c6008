//! Connections: administrator-defined targets and who may use them. A
//! grant taken away (or the connection deleted) ends the live sessions that
//! depended on it at once.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use gatehouse_access::{
    ConnectionInfo, ConnectionUpdateRequest, NewConnectionRequest, TargetSecret,
};
use gatehouse_audit::{Event, action};
use gatehouse_domain::{ConnectionId, ConnectionName, Protocol, RoleName, TargetAddr, Username};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value, json};

use crate::AppState;
use crate::auth::Caller;
use crate::enforce;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery};

fn default_port() -> u16 {
    22
}

fn default_protocol() -> Protocol {
    Protocol::Ssh
}

/// A connection to create. Give exactly one of `password` and `private_key`;
/// neither is ever returned.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateConnection {
    /// Unique name users see: letters, digits, `.`, `_`, `-`.
    #[schema(value_type = String)]
    name: ConnectionName,
    /// Only `ssh` for now.
    #[serde(default = "default_protocol")]
    protocol: Protocol,
    /// Target host name or IP address.
    host: String,
    /// Target port (default 22).
    #[serde(default = "default_port")]
    port: u16,
    /// Account on the target.
    username: String,
    /// Password for the account.
    #[schema(value_type = Option<String>, format = Password)]
    password: Option<SecretString>,
    /// Unencrypted OpenSSH private key for the account.
    #[schema(value_type = Option<String>, format = Password)]
    private_key: Option<SecretString>,
    /// The target's host key (`ssh-ed25519 AAAA…`). Without it, the key
    /// seen on first connection is pinned.
    host_key: Option<String>,
    /// Let native SSH clients forward ports through it (`ssh -L`, `-R`);
    /// refused by default.
    #[serde(default)]
    allow_forwarding: bool,
    /// Users granted the connection.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    users: Vec<Username>,
    /// Roles granted the connection.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    roles: Vec<RoleName>,
}

/// Create a connection and grant it.
#[utoipa::path(post, operation_id = "create_connection", path = "/connections", tag = "connections", request_body = CreateConnection,
    responses((status = 201, description = "The connection was created", body = ConnectionInfo), (status = 400, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateConnection>,
) -> Result<(StatusCode, Json<ConnectionInfo>), ApiError> {
    let target =
        TargetAddr::new(&req.host, req.port).map_err(|e| ApiError::invalid(e.to_string()))?;
    let username = target_username(&req.username)?;
    let secret = target_secret(req.password, req.private_key)?
        .ok_or_else(|| ApiError::invalid("give exactly one of password and private_key"))?;
    let host_key = req
        .host_key
        .as_deref()
        .map(gatehouse_ssh::parse_host_key)
        .transpose()
        .map_err(ApiError::invalid)?;
    let record = state
        .access
        .create_connection(
            &caller.principal,
            NewConnectionRequest {
                name: req.name,
                protocol: req.protocol,
                target,
                username,
                secret,
                host_key,
                allow_forwarding: req.allow_forwarding,
                users: req.users,
                roles: req.roles,
            },
        )
        .await?;
    let info = state
        .access
        .connection_info(&caller.principal, &record)
        .await?;
    state
        .audit
        .record(
            Event::new(action::CONNECTION_CREATE)
                .actor(caller.name())
                .target(record.name.as_str())
                .client_addr(&caller.client_addr)
                .details(json!({
                    "id": record.id,
                    "target": format!("{}:{}", record.host, record.port),
                    "allow_forwarding": record.allow_forwarding,
                    "users": info.users,
                    "roles": info.roles,
                })),
        )
        .await;
    Ok((StatusCode::CREATED, Json(info)))
}

/// The account on the target, trimmed: 1–128 printable characters.
fn target_username(username: &str) -> Result<String, ApiError> {
    let username = username.trim();
    if username.is_empty() || username.len() > 128 || username.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "username must be 1–128 printable characters",
        ));
    }
    Ok(username.to_owned())
}

/// The secret from at most one of a password and a private key (checked
/// to be usable); `None` if neither was given.
fn target_secret(
    password: Option<SecretString>,
    private_key: Option<SecretString>,
) -> Result<Option<TargetSecret>, ApiError> {
    match (password, private_key) {
        (None, None) => Ok(None),
        (Some(p), None) if !p.expose_secret().is_empty() => Ok(Some(TargetSecret::Password(p))),
        (None, Some(k)) => {
            gatehouse_ssh::check_private_key(k.expose_secret()).map_err(ApiError::invalid)?;
            Ok(Some(TargetSecret::PrivateKey(k)))
        }
        (Some(_), None) => Err(ApiError::invalid("password must not be empty")),
        (Some(_), Some(_)) => Err(ApiError::invalid(
            "give only one of password and private_key",
        )),
    }
}

/// Tells a field that is absent (`None`) from one that is `null` (`Some(None)`).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// Changes to a connection; give any subset of the fields. At most one of
/// `password` and `private_key` replaces the stored secret; neither is ever
/// returned.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateConnection {
    /// A new unique name.
    #[schema(value_type = Option<String>)]
    name: Option<ConnectionName>,
    /// A new target host name or IP address.
    host: Option<String>,
    /// A new target port.
    port: Option<u16>,
    /// A new account on the target.
    username: Option<String>,
    /// A new password for the account (replaces the stored secret).
    #[schema(value_type = Option<String>, format = Password)]
    password: Option<SecretString>,
    /// A new unencrypted OpenSSH private key (replaces the stored secret).
    #[schema(value_type = Option<String>, format = Password)]
    private_key: Option<SecretString>,
    /// A host key string pins that key as given by the administrator;
    /// `null` forgets the pinned key, so the next session pins the key it
    /// sees on first use.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable)]
    host_key: Option<Option<String>>,
    /// Allows (`true`) or refuses port forwarding by native SSH clients.
    allow_forwarding: Option<bool>,
    /// Replaces the users granted the connection.
    #[schema(value_type = Option<Vec<String>>)]
    users: Option<Vec<Username>>,
    /// Replaces the roles granted the connection.
    #[schema(value_type = Option<Vec<String>>)]
    roles: Option<Vec<RoleName>>,
}

/// Change a connection: its settings, its secret, its host key or its
/// grants. The next session uses the new values. Live sessions go on,
/// except those whose owner no longer holds a grant on the connection
/// (directly or through a role): they end at once as `access_revoked`.
#[utoipa::path(patch, operation_id = "update_connection", path = "/connections/{id}", tag = "connections", request_body = UpdateConnection,
    params(("id" = uuid::Uuid, Path, description = "Connection id")),
    responses((status = 200, description = "The connection as changed", body = ConnectionInfo), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ConnectionId>,
    ApiJson(req): ApiJson<UpdateConnection>,
) -> Result<Json<ConnectionInfo>, ApiError> {
    let username = req.username.as_deref().map(target_username).transpose()?;
    let secret = target_secret(req.password, req.private_key)?;
    let host_key = match req.host_key {
        Some(Some(key)) => Some(Some(
            gatehouse_ssh::parse_host_key(&key).map_err(ApiError::invalid)?,
        )),
        other => other,
    };
    let mut details = Map::new();
    details.insert("id".into(), json!(id));
    if let Some(name) = &req.name {
        details.insert("name".into(), json!(name));
    }
    if let Some(host) = &req.host {
        details.insert("host".into(), json!(host.trim()));
    }
    if let Some(port) = req.port {
        details.insert("port".into(), json!(port));
    }
    if let Some(username) = &username {
        details.insert("username".into(), json!(username));
    }
    if let Some(secret) = &secret {
        details.insert("secret_changed".into(), json!(true));
        let auth = match secret {
            TargetSecret::Password(_) => "password",
            TargetSecret::PrivateKey(_) => "private_key",
        };
        details.insert("auth".into(), json!(auth));
    }
    if let Some(key) = &host_key {
        let fingerprint = key.as_deref().and_then(gatehouse_access::fingerprint);
        details.insert("host_key_fingerprint".into(), json!(fingerprint));
    }
    if let Some(allow) = req.allow_forwarding {
        details.insert("allow_forwarding".into(), json!(allow));
    }
    if let Some(users) = &req.users {
        details.insert("users".into(), json!(users));
    }
    if let Some(roles) = &req.roles {
        details.insert("roles".into(), json!(roles));
    }
    let grants_changed = req.users.is_some() || req.roles.is_some();
    let record = state
        .access
        .update_connection(
            &caller.principal,
            id,
            ConnectionUpdateRequest {
                name: req.name,
                host: req.host,
                port: req.port,
                username,
                secret,
                host_key,
                allow_forwarding: req.allow_forwarding,
                users: req.users,
                roles: req.roles,
            },
        )
        .await?;
    let info = state
        .access
        .connection_info(&caller.principal, &record)
        .await?;
    // An empty change (only the id in the details) is not worth an event.
    if details.len() > 1 {
        state
            .audit
            .record(
                Event::new(action::CONNECTION_UPDATE)
                    .actor(caller.name())
                    .target(record.name.as_str())
                    .client_addr(&caller.client_addr)
                    .details(Value::Object(details)),
            )
            .await;
    }
    if grants_changed {
        enforce::revoke_unauthorized(&state, &caller).await?;
    }
    Ok(Json(info))
}

/// Delete a connection and its grants. Live sessions on it end at once
/// (`access_revoked`); history keeps the sessions that used it.
#[utoipa::path(delete, operation_id = "delete_connection", path = "/connections/{id}", tag = "connections",
    params(("id" = uuid::Uuid, Path, description = "Connection id")),
    responses((status = 204, description = "The connection was deleted"), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ConnectionId>,
) -> Result<StatusCode, ApiError> {
    let record = state
        .access
        .delete_connection(&caller.principal, id)
        .await?;
    state
        .audit
        .record(
            Event::new(action::CONNECTION_DELETE)
                .actor(caller.name())
                .target(record.name.as_str())
                .client_addr(&caller.client_addr)
                .details(json!({
                    "id": record.id,
                    "target": format!("{}:{}", record.host, record.port),
                })),
        )
        .await;
    enforce::revoke_unauthorized(&state, &caller).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Which connections to list.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListConnections {
    /// `true` lists every connection, granted to the caller or not
    /// (needs `connections.manage`); by default only those the caller may open.
    #[serde(default)]
    all: bool,
}

/// The connections the caller may open.
#[utoipa::path(get, operation_id = "list_connections", path = "/connections", tag = "connections", params(ListConnections),
    responses((status = 200, description = "The connections", body = Vec<ConnectionInfo>), (status = 401, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListConnections>,
) -> Result<Json<Vec<ConnectionInfo>>, ApiError> {
    let records = if query.all {
        state.access.all_connections(&caller.principal).await?
    } else {
        state.access.connections_for(&caller.principal).await?
    };
    let mut out = Vec::with_capacity(records.len());
    for r in &records {
        out.push(state.access.connection_info(&caller.principal, r).await?);
    }
    Ok(Json(out))
}
