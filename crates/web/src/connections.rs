//! Connections: administrator-defined targets and who may use them.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use gatehouse_access::{ConnectionInfo, NewConnectionRequest, TargetSecret};
use gatehouse_audit::{Event, action};
use gatehouse_domain::{ConnectionName, Protocol, RoleName, TargetAddr, Username};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ApiQuery};

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
#[utoipa::path(post, path = "/connections", tag = "connections", request_body = CreateConnection,
    responses((status = 201, body = ConnectionInfo), (status = 400, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateConnection>,
) -> Result<(StatusCode, Json<ConnectionInfo>), ApiError> {
    let target =
        TargetAddr::new(&req.host, req.port).map_err(|e| ApiError::invalid(e.to_string()))?;
    let username = req.username.trim().to_owned();
    if username.is_empty() || username.len() > 128 || username.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "username must be 1–128 printable characters",
        ));
    }
    let secret = match (req.password, req.private_key) {
        (Some(p), None) if !p.expose_secret().is_empty() => TargetSecret::Password(p),
        (None, Some(k)) => {
            gatehouse_ssh::check_private_key(k.expose_secret()).map_err(ApiError::invalid)?;
            TargetSecret::PrivateKey(k)
        }
        _ => {
            return Err(ApiError::invalid(
                "give exactly one of password and private_key",
            ));
        }
    };
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
                    "users": info.users,
                    "roles": info.roles,
                })),
        )
        .await;
    Ok((StatusCode::CREATED, Json(info)))
}

/// Which connections to list.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListConnections {
    /// `true` lists every connection, granted to the caller or not
    /// (needs `connections.manage`); by default only those the caller may open.
    #[serde(default)]
    all: bool,
}

/// The connections the caller may open.
#[utoipa::path(get, path = "/connections", tag = "connections", params(ListConnections),
    responses((status = 200, body = Vec<ConnectionInfo>), (status = 401, body = crate::error::ErrorBody),
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
