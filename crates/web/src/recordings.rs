//! Recordings: each connection's recording settings, and a session's
//! recording for replay or download. Recordings are audit evidence: only
//! holders of `audit.view` replay or download them (owners included — a
//! user sees their own sessions in History, not their recordings), and
//! every replay and download is an audit event.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use gatehouse_audit::{Event, action};
use gatehouse_domain::{ConnectionId, Permission, SessionId};
use gatehouse_store::RecordingSettings;
use serde::Deserialize;
use serde_json::json;
use tokio::io::AsyncReadExt;
use tokio_util::io::ReaderStream;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery};

/// The content type of asciicast files.
const CAST_TYPE: &str = "application/x-asciicast";

/// Whether a connection's sessions are recorded (`connections.manage`).
#[utoipa::path(get, path = "/connections/{id}/recording", tag = "connections",
    params(("id" = uuid::Uuid, Path, description = "Connection id")),
    responses((status = 200, description = "The connection's recording settings", body = RecordingSettings), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn settings(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ConnectionId>,
) -> Result<Json<RecordingSettings>, ApiError> {
    caller.principal.require(Permission::ConnectionsManage)?;
    Ok(Json(state.access.store().connection_recording(id).await?))
}

/// Turn recording, and keystroke recording, on or off for a connection's
/// future sessions (`connections.manage`).
#[utoipa::path(put, path = "/connections/{id}/recording", tag = "connections", request_body = RecordingSettings,
    params(("id" = uuid::Uuid, Path, description = "Connection id")),
    responses((status = 200, description = "The recording settings as stored", body = RecordingSettings), (status = 400, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn set_settings(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ConnectionId>,
    ApiJson(settings): ApiJson<RecordingSettings>,
) -> Result<Json<RecordingSettings>, ApiError> {
    caller.principal.require(Permission::ConnectionsManage)?;
    let store = state.access.store();
    let connection = store
        .connection(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no connection {id}")))?;
    if store.connection_recording(id).await? == settings {
        return Ok(Json(settings));
    }
    store.set_connection_recording(id, settings).await?;
    state
        .audit
        .record(
            Event::new(action::CONNECTION_UPDATE)
                .actor(caller.name())
                .target(connection.name.as_str())
                .client_addr(&caller.client_addr)
                .details(json!({ "recording": settings })),
        )
        .await;
    Ok(Json(settings))
}

/// How to hand out a recording.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RecordingParams {
    /// `true` to download it as a `.cast` attachment (audited as a
    /// download); otherwise it is served for the replay page (audited as a replay).
    download: Option<bool>,
}

/// A session's recording, asciicast v2 (`audit.view`).
#[utoipa::path(get, path = "/history/{id}/recording", tag = "audit", params(
        ("id" = uuid::Uuid, Path, description = "Session id"), RecordingParams),
    responses((status = 200, description = "The recording (asciicast v2, one JSON value per line)",
               content_type = "application/x-asciicast", body = String),
              (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn recording(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<SessionId>,
    ApiQuery(p): ApiQuery<RecordingParams>,
) -> Result<Response, ApiError> {
    caller.principal.require(Permission::AuditView)?;
    let missing = || ApiError::not_found(format!("no recording of session {id}"));
    let row = state
        .access
        .store()
        .history_entry(id)
        .await?
        .ok_or_else(missing)?;
    let info = row.recording.as_ref().ok_or_else(missing)?;
    let (bytes, body) = if state.cluster.is_some() && row.node != state.registry.node() {
        // Written by another node, into its own folder: fetched from it (issue 20).
        crate::nodes::fetch_recording(&state, &row.node, id).await?
    } else {
        let dir = state.config.recordings_dir.as_ref().ok_or_else(missing)?;
        // The path comes from our own database, but never leave the folder.
        if info.path.contains("..") || info.path.starts_with('/') {
            return Err(ApiError::internal(
                "a recording path is not inside the recordings folder",
            ));
        }
        let file = match tokio::fs::File::open(dir.join(&info.path)).await {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(missing()),
            Err(e) => return Err(ApiError::internal(e)),
        };
        let bytes = file.metadata().await.map_err(ApiError::internal)?.len();
        // Streamed: a recording may be as large as the size limit allows. A
        // live session's file still grows: send what it held when opened, so
        // the body matches its length.
        (
            bytes,
            Body::from_stream(ReaderStream::new(file.take(bytes))),
        )
    };
    let download = p.download.unwrap_or(false);
    let what = if download {
        action::RECORDING_DOWNLOAD
    } else {
        action::RECORDING_REPLAY
    };
    state
        .audit
        .record(
            Event::new(what)
                .actor(caller.name())
                .target(id.to_string())
                .client_addr(&caller.client_addr)
                .details(
                    json!({ "user": row.user, "connection": row.connection.name, "bytes": bytes }),
                ),
        )
        .await;
    let mut response = (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(CAST_TYPE)),
            (header::CONTENT_LENGTH, HeaderValue::from(bytes)),
        ],
        body,
    )
        .into_response();
    if download {
        let name = format!("attachment; filename=\"gatehouse-{id}.cast\"");
        if let Ok(value) = HeaderValue::from_str(&name) {
            response
                .headers_mut()
                .insert(header::CONTENT_DISPOSITION, value);
        }
    }
    Ok(response)
}
