//! The owner's side of the internal channel: what another node may ask of
//! the sessions and recordings this node holds, on its behalf of a caller
//! it already checked. Nothing here reads a login; [`FromNode`] is the gate.

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::{SinkExt, StreamExt};
use gatehouse_domain::SessionId;
use gatehouse_sessions::WatchEvent;
use serde::Deserialize;
use serde_json::json;
use tokio::io::AsyncReadExt;
use tokio_util::io::ReaderStream;

use super::FromNode;
use crate::AppState;
use crate::error::{ApiError, ApiPath, ApiQuery};
use crate::terminal::{MAX_MESSAGE, ended_message, farewell};

/// The internal routes (not part of the public API, nor its OpenAPI
/// document: only other nodes may call them).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/internal/v1/sessions/{id}/watch", get(watch))
        .route("/internal/v1/recordings/{id}", get(recording))
}

/// Who watches, as the asking node vouches (the query of an internal watch).
#[derive(Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Watching {
    /// The watcher's user name (shown among the participants).
    pub user: String,
    /// Where the watcher connects from (to the asking node).
    pub client_addr: String,
}

/// A watch stream of a session this node relays, for another node's
/// watcher: the same messages as `/api/v1/sessions/{id}/watch`.
async fn watch(
    State(state): State<AppState>,
    from: FromNode,
    ApiPath(id): ApiPath<SessionId>,
    ApiQuery(who): ApiQuery<Watching>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    if state.registry.get(id).is_none() {
        return Err(ApiError::not_found(format!("no live session {id}")));
    }
    let ws = ws.map_err(|r| ApiError::new(r.status(), "websocket_required", r.body_text()))?;
    tracing::info!(node = %from.node, user = %who.user, session = %id, "watched from another node");
    Ok(ws
        .max_message_size(MAX_MESSAGE)
        .on_upgrade(move |socket| stream(state, id, who, socket)))
}

/// Relays the session to the asking node until it ends, the watcher is
/// removed, the asking node hangs up, or this gateway stops.
async fn stream(state: AppState, id: SessionId, who: Watching, socket: WebSocket) {
    let (mut tx, mut rx) = socket.split();
    let Some(mut watcher) = state.registry.watch(id, &who.user, &who.client_addr) else {
        let gone =
            json!({ "type": "error", "code": "not_found", "message": "the session has ended" });
        farewell(&mut tx, gone, 1000, "not_found").await;
        return;
    };
    let protocol = state.registry.get(id).map(|s| s.protocol);
    let hello = json!({
        "type": "watching", "id": id, "user": watcher.owner(), "mode": watcher.mode(),
        "cols": watcher.cols, "rows": watcher.rows, "protocol": protocol,
    });
    let screen = std::mem::take(&mut watcher.screen);
    let typist = watcher.typist();
    let mut out = vec![text(hello), Message::Binary(screen.into())];
    loop {
        // Written while the end stays audible: an asking node that stopped
        // reading holds back only its own watcher (who is repainted later).
        for message in out.drain(..) {
            let send = tx.send(message);
            tokio::pin!(send);
            tokio::select! {
                sent = &mut send => if sent.is_err() { return },
                _ = typist.gone() => break,
                _ = state.shutdown.cancelled() => return,
            }
        }
        out = tokio::select! {
            ev = watcher.next() => match ev {
                WatchEvent::Output(data) => vec![Message::Binary(data)],
                WatchEvent::Repaint { screen, cols, rows } => {
                    let repaint = json!({ "type": "repaint", "cols": cols, "rows": rows });
                    vec![text(repaint), Message::Binary(screen.into())]
                }
                WatchEvent::Ended(request) => {
                    drop(watcher);
                    let (msg, _) = ended_message(&request);
                    farewell(&mut tx, msg, 1000, request.reason.as_str()).await;
                    return;
                }
                WatchEvent::Removed { by } => {
                    drop(watcher);
                    farewell(&mut tx, json!({ "type": "removed", "by": by }), 1000, "removed").await;
                    return;
                }
            },
            msg = rx.next() => match msg {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => continue,
            },
            _ = state.shutdown.cancelled() => return,
        };
    }
}

fn text(value: serde_json::Value) -> Message {
    Message::Text(value.to_string().into())
}

/// A recording this node wrote, for another node's History (which checked
/// `audit.view` and records the replay in the audit log).
async fn recording(
    State(state): State<AppState>,
    _from: FromNode,
    ApiPath(id): ApiPath<SessionId>,
) -> Result<Response, ApiError> {
    let (file, bytes) = open_recording(&state, id).await?;
    Ok((
        [(header::CONTENT_LENGTH, HeaderValue::from(bytes))],
        Body::from_stream(ReaderStream::new(file.take(bytes))),
    )
        .into_response())
}

/// This node's file of session `id`'s recording and its length now.
async fn open_recording(
    state: &AppState,
    id: SessionId,
) -> Result<(tokio::fs::File, u64), ApiError> {
    let missing = || ApiError::not_found(format!("no recording of session {id} on this node"));
    let row = state
        .access
        .store()
        .history_entry(id)
        .await?
        .ok_or_else(missing)?;
    let info = row.recording.ok_or_else(missing)?;
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
    Ok((file, bytes))
}
