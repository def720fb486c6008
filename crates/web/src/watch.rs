//! Participants other than the owner: watchers (`sessions.watch`, read-only)
//! and people the owner shared the session with (observer or interactive).
//! Each gets a WebSocket that paints the session's current screen first and
//! then relays every change; only an interactive participant's keystrokes
//! reach the target. A slow participant is repainted, never buffered
//! without bound, and never slows the session.

use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use gatehouse_audit::{Event, action};
use gatehouse_domain::{Permission, SessionId};
use gatehouse_sessions::WatchEvent;
use serde_json::json;
use tokio::time::Instant;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiPath};
use crate::terminal::{MAX_MESSAGE, ended_message, farewell, send_text};

/// Watch a live session read-only, as a WebSocket (`sessions.watch`).
/// Text frames: `watching` (`{id, user, connection, cols, rows}`) first, then
/// binary frames that paint the current screen and every change after it;
/// `repaint` (`{cols, rows}`, followed by the screen) if the watcher fell
/// behind; `ended` when the session ends. Frames sent by the watcher are ignored.
#[utoipa::path(get, path = "/sessions/{id}/watch", tag = "sessions",
    params(("id" = String, Path, description = "Session id")),
    responses((status = 101, description = "Switching to the watch WebSocket"),
              (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn watch(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<SessionId>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    caller.principal.require(Permission::SessionsWatch)?;
    if state.registry.get(id).is_none() {
        return Err(ApiError::not_found(format!("no live session {id}")));
    }
    let ws = ws.map_err(|r| ApiError::new(r.status(), "websocket_required", r.body_text()))?;
    Ok(ws
        .max_message_size(MAX_MESSAGE)
        .on_upgrade(move |socket| run(state, caller, id, How::Watch, socket)))
}

/// Join a session its owner shared with you, as a WebSocket: the same
/// messages as watching, and an interactive participant's binary frames are
/// keystrokes into the session. `removed` (`{by}`) if the owner or an
/// administrator removes you.
#[utoipa::path(get, path = "/sessions/{id}/join", tag = "sessions",
    params(("id" = String, Path, description = "Session id")),
    responses((status = 101, description = "Switching to the participant WebSocket"),
              (status = 401, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn join(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<SessionId>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let shared = state.registry.shared_with(caller.principal.user_id);
    if !shared.iter().any(|(s, _)| s.id == id) {
        return Err(ApiError::not_found(format!(
            "no live session {id} is shared with you"
        )));
    }
    let ws = ws.map_err(|r| ApiError::new(r.status(), "websocket_required", r.body_text()))?;
    Ok(ws
        .max_message_size(MAX_MESSAGE)
        .on_upgrade(move |socket| run(state, caller, id, How::Join, socket)))
}

/// How a participant came in.
enum How {
    /// With `sessions.watch`, read-only.
    Watch,
    /// Invited by the owner, as they chose.
    Join,
}

#[tracing::instrument(name = "participant", skip_all, fields(user = %caller.name(), session = %id))]
async fn run(state: AppState, caller: Caller, id: SessionId, how: How, socket: WebSocket) {
    let (mut tx, mut rx) = socket.split();
    let joined = match how {
        How::Watch => state.registry.watch(id, caller.name(), &caller.client_addr),
        How::Join => state.registry.join(
            id,
            caller.principal.user_id,
            caller.name(),
            &caller.client_addr,
        ),
    };
    let Some(mut watcher) = joined else {
        let gone =
            json!({ "type": "error", "code": "not_found", "message": "the session has ended" });
        farewell(&mut tx, gone, 1000, "not_found").await;
        return;
    };
    let owner = json!({ "owner": watcher.owner(), "mode": watcher.mode() });
    state
        .audit
        .record(event(&caller, id, action::WATCH_START).details(owner.clone()))
        .await;
    let hello = json!({
        "type": "watching", "id": id, "user": watcher.owner(), "mode": watcher.mode(),
        "cols": watcher.cols, "rows": watcher.rows,
    });
    let screen = std::mem::take(&mut watcher.screen);
    let painted = async {
        send_text(&mut tx, hello).await?;
        tx.send(Message::Binary(screen.into())).await
    }
    .await;

    let mut ping = tokio::time::interval(state.config.ws_ping_interval);
    ping.reset();
    let mut last_heard = Instant::now();
    let mut ended = None;
    let mut removed = None;
    while painted.is_ok() {
        tokio::select! {
            ev = watcher.next() => match ev {
                WatchEvent::Output(data) => {
                    if tx.send(Message::Binary(data)).await.is_err() { break; }
                }
                WatchEvent::Repaint { screen, cols, rows } => {
                    let repaint = json!({ "type": "repaint", "cols": cols, "rows": rows });
                    if send_text(&mut tx, repaint).await.is_err()
                        || tx.send(Message::Binary(screen.into())).await.is_err() {
                        break;
                    }
                }
                WatchEvent::Ended(request) => { ended = Some(request); break; }
                WatchEvent::Removed { by } => { removed = Some(by); break; }
            },
            msg = rx.next() => {
                last_heard = Instant::now();
                match msg {
                    // An interactive participant's keystrokes reach the session;
                    // an observer's go nowhere, and so do control messages.
                    Some(Ok(Message::Binary(data))) => { watcher.input(data).await; }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => break,
                }
            }
            _ = state.shutdown.cancelled() => break,
            _ = ping.tick() => {
                if last_heard.elapsed() > state.config.ws_client_timeout { break; }
                let _ = tx.send(Message::Ping(Default::default())).await;
            }
        }
    }
    drop(watcher);
    if let Some(request) = ended {
        let (msg, _) = ended_message(&request);
        farewell(&mut tx, msg, 1000, request.reason.as_str()).await;
    } else if let Some(by) = removed {
        let msg = json!({ "type": "removed", "by": by });
        farewell(&mut tx, msg, 1000, "removed").await;
    }
    state
        .audit
        .record(event(&caller, id, action::WATCH_STOP).details(owner))
        .await;
}

fn event(caller: &Caller, id: SessionId, act: &str) -> Event {
    Event::new(act)
        .actor(caller.name())
        .target(id.to_string())
        .client_addr(&caller.client_addr)
}
