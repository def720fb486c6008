//! `GET /api/v1/sessions/{id}/desktop/watch`: a desktop watched read-only.

use axum::Extension;
use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use gatehouse_access::{Lost, Standing};
use gatehouse_audit::{Event, action};
use gatehouse_domain::{Permission, Protocol, SessionId};
use gatehouse_sessions::WatchEvent;
use gatehouse_web::AppState;
use gatehouse_web::auth::{Caller, lost_notice};
use gatehouse_web::error::{ApiError, ApiPath, ApiQuery};
use gatehouse_web::nodes::{FromNode, Watching, watch_remote};
use gatehouse_web::terminal::{Tx, farewell, linger};
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

use crate::live::LiveDesktops;
use crate::route::MAX_MESSAGE;

/// Watch a live desktop session read-only, as a WebSocket
/// (`sessions.watch`). Text messages: `watching` (`{id, user, width,
/// height}`) first, then the same messages the owner's tab gets — binary
/// frames (the whole screen first, then every changed region) and `size` —
/// and `ended` when the session ends or `removed` when an administrator
/// removes the watcher. The watch closes with `ended` (`user_locked` or
/// `access_revoked`) when the watcher's login ends, their account is locked
/// or deleted, or they lose `sessions.watch`. Nothing the watcher sends reaches the desktop.
#[utoipa::path(get, operation_id = "watch_desktop", path = "/sessions/{id}/desktop/watch", tag = "sessions",
    params(("id" = uuid::Uuid, Path, description = "Session id")),
    responses((status = 101, description = "Switching to the desktop watch WebSocket"),
              (status = 401, body = gatehouse_web::error::ErrorBody), (status = 403, body = gatehouse_web::error::ErrorBody),
              (status = 404, body = gatehouse_web::error::ErrorBody)))]
pub(crate) async fn watch(
    State(state): State<AppState>,
    Extension(live): Extension<LiveDesktops>,
    caller: Caller,
    ApiPath(id): ApiPath<SessionId>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    caller.principal.require(Permission::SessionsWatch)?;
    if !live.contains(id) {
        // Another node's desktop: relayed from that node (issue 20).
        let remote = state.cluster.as_ref().and_then(|c| c.remote_session(id));
        if let Some(remote) = remote.filter(|s| matches!(s.protocol, Protocol::Vnc | Protocol::Rdp))
        {
            return watch_remote(state, caller, id, remote.node, "desktop/watch", ws).await;
        }
        return Err(ApiError::not_found(format!("no live desktop session {id}")));
    }
    let ws = ws.map_err(|r| ApiError::new(r.status(), "websocket_required", r.body_text()))?;
    Ok(ws
        .max_message_size(MAX_MESSAGE)
        .on_upgrade(move |socket| run(state, live, Viewer::Caller(caller), id, socket)))
}

/// The same stream for another node's watcher: that node checked their
/// permission (and rechecks it), audits the watch and proxies this stream.
pub(crate) async fn internal(
    State(state): State<AppState>,
    Extension(live): Extension<LiveDesktops>,
    _from: FromNode,
    ApiPath(id): ApiPath<SessionId>,
    ApiQuery(who): ApiQuery<Watching>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    if !live.contains(id) {
        return Err(ApiError::not_found(format!("no live desktop session {id}")));
    }
    let ws = ws.map_err(|r| ApiError::new(r.status(), "websocket_required", r.body_text()))?;
    Ok(ws
        .max_message_size(MAX_MESSAGE)
        .on_upgrade(move |socket| run(state, live, Viewer::ForNode(who), id, socket)))
}

/// Who watches: a caller of this node, or another node's (vouched for).
enum Viewer {
    Caller(Caller),
    ForNode(Watching),
}

impl Viewer {
    fn name(&self) -> &str {
        match self {
            Viewer::Caller(c) => c.name(),
            Viewer::ForNode(w) => &w.user,
        }
    }

    fn client_addr(&self) -> &str {
        match self {
            Viewer::Caller(c) => &c.client_addr,
            Viewer::ForNode(w) => &w.client_addr,
        }
    }

    /// Audits `act` here, for a caller of this node (another node's watch
    /// is audited where it was asked for).
    async fn audit(&self, state: &AppState, id: SessionId, act: &str, owner: &Value) {
        if let Viewer::Caller(caller) = self {
            state
                .audit
                .record(event(caller, id, act).details(owner.clone()))
                .await;
        }
    }
}

/// The watcher's standing, if this node checks it; else never a change.
async fn recheck(standing: &mut Option<Standing>) -> Result<(), Lost> {
    match standing {
        Some(standing) => standing.recheck().await.map(|_| ()),
        None => std::future::pending().await,
    }
}

#[tracing::instrument(name = "desktop_watch", skip_all, fields(user = %viewer.name(), session = %id))]
async fn run(
    state: AppState,
    live: LiveDesktops,
    viewer: Viewer,
    id: SessionId,
    socket: WebSocket,
) {
    let (mut tx, mut rx) = socket.split();
    // Listed as a participant (the owner's tab shows who watches) first,
    // then the screen, so the owner is never watched unknowingly.
    let watcher = state
        .registry
        .watch(id, viewer.name(), viewer.client_addr());
    let snapshot = match watcher {
        Some(_) => live.snapshot(id).await,
        None => None,
    };
    let (Some(mut watcher), Some(snapshot)) = (watcher, snapshot) else {
        let gone =
            json!({ "type": "error", "code": "not_found", "message": "the session has ended" });
        farewell(&mut tx, gone, 1000, "not_found").await;
        return;
    };
    let owner = json!({ "owner": watcher.owner() });
    viewer.audit(&state, id, action::WATCH_START, &owner).await;
    let (width, height) = snapshot.size;
    let hello = json!({
        "type": "watching", "id": id, "user": watcher.owner(), "mode": "observer",
        "width": width, "height": height,
    });
    let mut changes = snapshot.changes;
    let mut first = vec![text(hello)];
    if width > 0 && height > 0 {
        first.push(text(
            json!({ "type": "size", "width": width, "height": height }),
        ));
        first.push(snapshot.screen);
    }
    // Watching needs `sessions.watch` for as long as it lasts: a lock, a
    // logout or the permission taken away closes the watch, as for terminals.
    let mut standing = match &viewer {
        Viewer::Caller(caller) => Some(caller.standing(&state, Some(Permission::SessionsWatch))),
        Viewer::ForNode(_) => None,
    };
    let mut ping = tokio::time::interval(state.config.ws_ping_interval);
    ping.reset();
    let mut last_heard = Instant::now();
    let last: Option<Value> = 'relay: {
        for msg in first {
            if send_in_time(&mut tx, msg).await.is_err() {
                break 'relay None;
            }
        }
        loop {
            tokio::select! {
                event = watcher.next() => match event {
                    WatchEvent::Ended(request) => break 'relay Some(json!({
                        "type": "ended", "reason": request.reason, "by": request.by,
                        "message": request.message, "text": request.describe(),
                    })),
                    WatchEvent::Removed { by } => break 'relay Some(json!({ "type": "removed", "by": by })),
                    // A desktop's registry stream carries nothing; its pictures come below.
                    WatchEvent::Output(_) | WatchEvent::Repaint { .. } => {}
                },
                now = recheck(&mut standing) => if let Err(why) = now {
                    tracing::info!(reason = %why, "desktop watcher's access ended");
                    let mut msg = lost_notice(&why);
                    msg["type"] = json!("ended");
                    break 'relay Some(msg);
                },
                change = changes.recv() => {
                    let msg = match change {
                        Ok(msg) => msg,
                        Err(RecvError::Lagged(_)) => {
                            // Fell behind: start again from the screen as it is now.
                            let Some(fresh) = live.snapshot(id).await else { continue };
                            changes = fresh.changes;
                            fresh.screen
                        }
                        // The relay is gone: the end arrives through the watcher.
                        Err(RecvError::Closed) => { changes = tokio::sync::broadcast::channel(1).1; continue }
                    };
                    if send_in_time(&mut tx, msg).await.is_err() {
                        break 'relay None;
                    }
                }
                msg = rx.next() => {
                    last_heard = Instant::now();
                    match msg {
                        // Watching is read-only: whatever the watcher sends is dropped.
                        Some(Ok(Message::Close(_)) | Err(_)) | None => break 'relay None,
                        Some(Ok(_)) => {}
                    }
                }
                _ = ping.tick() => {
                    if last_heard.elapsed() > state.config.ws_client_timeout {
                        break 'relay None;
                    }
                    let _ = tx.send(Message::Ping(Default::default())).await;
                }
            }
        }
    };
    drop(watcher);
    viewer.audit(&state, id, action::WATCH_STOP, &owner).await;
    if let Some(last) = last {
        let code = last["reason"].as_str().unwrap_or("ended").to_owned();
        farewell(&mut tx, last, 1000, &code).await;
        linger(&mut rx).await;
    }
}

/// How long one message to a watcher may take: a watcher that stopped
/// reading is let go rather than kept waiting on (the session never waits
/// on a watcher; the broadcast drops what it misses).
const SEND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Sends `msg` within [`SEND_TIMEOUT`].
pub(crate) async fn send_in_time(tx: &mut Tx, msg: Message) -> Result<(), ()> {
    match tokio::time::timeout(SEND_TIMEOUT, tx.send(msg)).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}

pub(crate) fn text(value: Value) -> Message {
    Message::Text(value.to_string().into())
}

pub(crate) fn event(caller: &Caller, id: SessionId, act: &str) -> Event {
    Event::new(act)
        .actor(caller.name())
        .target(id.to_string())
        .client_addr(&caller.client_addr)
}
