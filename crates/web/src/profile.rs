//! The caller's own profile: the public keys they log in with from a native
//! SSH client, and how to reach the gateway's SSH listener.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use gatehouse_audit::{Event, action};
use gatehouse_domain::SshKeyId;
use gatehouse_store::SshKeyRecord;
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ApiPath};

/// A registered public key. The key itself is public, so it is shown.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SshKey {
    /// Its id.
    #[schema(value_type = String)]
    id: SshKeyId,
    /// The owner's label for it.
    name: String,
    /// OpenSSH public-key format.
    public_key: String,
    /// SHA-256 fingerprint, as `ssh-keygen -lf` prints it.
    fingerprint: String,
    /// When it was added.
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    /// When it last logged in.
    #[serde(with = "time::serde::rfc3339::option")]
    last_used_at: Option<OffsetDateTime>,
}

impl From<SshKeyRecord> for SshKey {
    fn from(k: SshKeyRecord) -> Self {
        Self {
            id: k.id,
            name: k.name,
            public_key: k.public_key,
            fingerprint: k.fingerprint,
            created_at: k.created_at,
            last_used_at: k.last_used_at,
        }
    }
}

/// A key to register.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddSshKey {
    /// A label, 1–64 characters ("laptop").
    name: String,
    /// One line of `~/.ssh/id_ed25519.pub` (or another OpenSSH public key).
    public_key: String,
}

/// The keys you log in with from a native SSH client.
#[utoipa::path(get, path = "/profile/keys", tag = "auth",
    responses((status = 200, description = "The caller's SSH public keys", body = Vec<SshKey>), (status = 401, body = crate::error::ErrorBody)))]
pub async fn keys(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<SshKey>>, ApiError> {
    let keys = state.access.ssh_keys(&caller.principal).await?;
    Ok(Json(keys.into_iter().map(SshKey::from).collect()))
}

/// Register a public key for native SSH logins. A key belongs to one user:
/// registering one somebody already has is `409`.
#[utoipa::path(post, path = "/profile/keys", tag = "auth", request_body = AddSshKey,
    responses((status = 201, description = "The key was added", body = SshKey), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn add_key(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<AddSshKey>,
) -> Result<(StatusCode, Json<SshKey>), ApiError> {
    let public_key = gatehouse_ssh::parse_public_key(&req.public_key).map_err(ApiError::invalid)?;
    let key = state
        .access
        .add_ssh_key(&caller.principal, &req.name, &public_key)
        .await?;
    state
        .audit
        .record(
            Event::new(action::SSH_KEY_ADD)
                .actor(caller.name())
                .target(caller.name())
                .client_addr(&caller.client_addr)
                .details(json!({ "name": key.name, "fingerprint": key.fingerprint })),
        )
        .await;
    Ok((StatusCode::CREATED, Json(key.into())))
}

/// Remove one of your keys; it stops working at once for new logins.
#[utoipa::path(delete, path = "/profile/keys/{id}", tag = "auth",
    params(("id" = uuid::Uuid, Path, description = "Key id")),
    responses((status = 204, description = "The key was removed"), (status = 401, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn remove_key(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<SshKeyId>,
) -> Result<StatusCode, ApiError> {
    state.access.remove_ssh_key(&caller.principal, id).await?;
    state
        .audit
        .record(
            Event::new(action::SSH_KEY_REMOVE)
                .actor(caller.name())
                .target(caller.name())
                .client_addr(&caller.client_addr)
                .details(json!({ "id": id })),
        )
        .await;
    Ok(StatusCode::NO_CONTENT)
}

/// The gateway's SSH listener, for users to verify and reach it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct SshListener {
    /// Its port.
    pub port: u16,
    /// Its host key, OpenSSH format, for `known_hosts`.
    pub host_key: String,
    /// The host key's SHA-256 fingerprint, as `ssh` shows it on first connect.
    pub host_key_fingerprint: String,
}

/// How to reach the SSH listener: `{ "ssh": null }` when it is off.
#[derive(Serialize, utoipa::ToSchema)]
pub struct GatewayInfo {
    /// The SSH listener, if it runs.
    ssh: Option<SshListener>,
}

/// The gateway's SSH listener address and host key fingerprint.
#[utoipa::path(get, path = "/gateway", tag = "auth",
    responses((status = 200, description = "How to reach this gateway", body = GatewayInfo), (status = 401, body = crate::error::ErrorBody)))]
pub async fn gateway(State(state): State<AppState>, _caller: Caller) -> Json<GatewayInfo> {
    Json(GatewayInfo {
        ssh: state.config.ssh.clone(),
    })
}
