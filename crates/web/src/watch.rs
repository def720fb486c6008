//! Participants other than the owner: watchers (`sessions.watch`, read-only)
//! and people the owner shared the session with (observer or interactive).
//! Each gets a WebSocket that paints the session's current screen first and
//! then relays every change; only an interactive participant's keystrokes
//! reach the target. A slow participant is repainted, never buffered
//! without bound, and never slows the session; a slow session holds back a
//! participant's keystrokes (by not reading their socket) without ever
//! deafening them to the end, a removal, or their own login ending.

use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use gatehouse_access::{Lost, Standing};
use gatehouse_audit::{Event, action};
use gatehouse_domain::{Permission, Protocol, SessionId};
use gatehouse_sessions::{Input, ParticipantMode, Typist, WatchEvent};
use serde_json::json;
use tokio::time::Instant;

use crate::AppState;
use crate::auth::{Caller, lost_notice};
use crate::error::{ApiError, ApiPath};
use crate::terminal::{MAX_MESSAGE, Tx, ended_message, farewell};

/// Watch a live session read-only, as a WebSocket (`sessions.watch`).
/// Text frames: `watching` (`{id, user, mode, cols, rows, protocol}`) first, then
/// binary frames that paint the current screen and every change after it
/// (for an `http` session, its request log: one JSON object per line);
/// `repaint` (`{cols, rows}`, followed by the screen) if the watcher fell
/// behind; `ended` when the session ends — or when the watcher's own login
/// ends or loses `sessions.watch` (`reason` `user_locked` or
/// `access_revoked`, with a `message`). Frames sent by the watcher are ignored.
#[utoipa::path(get, path = "/sessions/{id}/watch", tag = "sessions",
    params(("id" = uuid::Uuid, Path, description = "Session id")),
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
        // Another node's session: relayed from that node (issue 20).
        if let Some(remote) = state.cluster.as_ref().and_then(|c| c.remote_session(id)) {
            return crate::nodes::watch_remote(state, caller, id, remote.node, "watch", ws).await;
        }
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
/// administrator removes you or withdraws the invitation (then joining again
/// is `404`); `ended` when the session ends or your login does (locked,
/// deleted, logged out, expired).
#[utoipa::path(get, path = "/sessions/{id}/join", tag = "sessions",
    params(("id" = uuid::Uuid, Path, description = "Session id")),
    responses((status = 101, description = "Switching to the participant WebSocket"),
              (status = 401, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn join(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<SessionId>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let shared = state.registry.shared_with(caller.principal.user_id);
    let Some((session, _)) = shared.iter().find(|(s, _)| s.id == id) else {
        return Err(ApiError::not_found(format!(
            "no live session {id} is shared with you"
        )));
    };
    // A desktop's participants join through its own endpoint, which relays
    // its pictures and sends their input to it; here they would see nothing
    // and their bytes would reach no target.
    if matches!(session.protocol, Protocol::Vnc | Protocol::Rdp) {
        return Err(ApiError::not_found(format!(
            "session {id} is a desktop: join it at /sessions/{id}/desktop/join"
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
    // What the binary frames are: a terminal's bytes, or a request log.
    let protocol = state.registry.get(id).map(|s| s.protocol);
    state
        .audit
        .record(event(&caller, id, action::WATCH_START).details(owner.clone()))
        .await;
    let hello = json!({
        "type": "watching", "id": id, "user": watcher.owner(), "mode": watcher.mode(),
        "cols": watcher.cols, "rows": watcher.rows, "protocol": protocol,
    });
    let screen = std::mem::take(&mut watcher.screen);
    // A watcher needs `sessions.watch` for as long as it watches; a
    // participant needs only a valid login (the invitation is the grant,
    // and withdrawing it removes them).
    let require = matches!(how, How::Watch).then_some(Permission::SessionsWatch);
    let mut standing = caller.standing(&state, require);
    let typist = watcher.typist();
    let may_type = watcher.mode() == ParticipantMode::Interactive;
    // The greeting and the screen go first, then whatever happens next.
    let mut out = vec![text(hello), Message::Binary(screen.into())];
    let mut lost = None;

    let mut ping = tokio::time::interval(state.config.ws_ping_interval);
    ping.reset();
    let mut last_heard = Instant::now();
    // Keystrokes not yet taken by the session. While they wait, the socket
    // is not read (backpressure reaches the participant's client), but
    // everything else — the end, removal, a lost login — is still heard.
    let mut pending: Option<Bytes> = None;
    let mut ended = None;
    let mut removed = None;
    loop {
        match deliver(&mut tx, out.drain(..), &typist, &mut standing, &state).await {
            Sent::Delivered | Sent::Interrupted => {}
            Sent::Closed => break,
            Sent::Lost(why) => {
                lost = Some(why);
                break;
            }
        }
        out = tokio::select! {
            ev = watcher.next() => match ev {
                WatchEvent::Output(data) => vec![Message::Binary(data)],
                WatchEvent::Repaint { screen, cols, rows } => {
                    let repaint = json!({ "type": "repaint", "cols": cols, "rows": rows });
                    vec![text(repaint), Message::Binary(screen.into())]
                }
                WatchEvent::Ended(request) => { ended = Some(request); break; }
                WatchEvent::Removed { by } => { removed = Some(by); break; }
            },
            now = standing.recheck() => match now {
                Ok(_) => continue,
                Err(why) => { lost = Some(why); break; }
            },
            taken = async { Some(typist.input(pending.as_ref()?).await) }, if pending.is_some() => {
                // Taken or refused, these bytes are done with; an end or a
                // removal is reported by `watcher.next()` with its details.
                let _: Option<Input> = taken;
                pending = None;
                last_heard = Instant::now();
                continue;
            }
            msg = rx.next(), if pending.is_none() => {
                last_heard = Instant::now();
                match msg {
                    // An interactive participant's keystrokes reach the session;
                    // an observer's go nowhere, and so do control messages.
                    Some(Ok(Message::Binary(data))) => {
                        if may_type && !data.is_empty() {
                            pending = Some(data);
                        }
                        continue;
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(_)) | None => break,
                }
            }
            _ = state.shutdown.cancelled() => break,
            _ = ping.tick() => {
                // Keystrokes waiting on a slow target are no silent client.
                if pending.is_none() && last_heard.elapsed() > state.config.ws_client_timeout { break; }
                vec![Message::Ping(Default::default())]
            }
        };
    }
    drop(watcher);
    let ended_by_us = ended.is_some() || removed.is_some() || lost.is_some();
    if let Some(request) = ended {
        let (msg, _) = ended_message(&request);
        farewell(&mut tx, msg, 1000, request.reason.as_str()).await;
    } else if let Some(by) = removed {
        let msg = json!({ "type": "removed", "by": by });
        farewell(&mut tx, msg, 1000, "removed").await;
    } else if let Some(why) = lost {
        tracing::info!(reason = %why, "participant's access ended");
        let mut msg = lost_notice(&why);
        msg["type"] = json!("ended");
        let code = msg["reason"]
            .as_str()
            .unwrap_or("access_revoked")
            .to_owned();
        farewell(&mut tx, msg, 1000, &code).await;
    }
    state
        .audit
        .record(event(&caller, id, action::WATCH_STOP).details(owner))
        .await;
    if ended_by_us {
        crate::terminal::linger(&mut rx).await;
    }
}

/// How a delivery to the participant went.
enum Sent {
    /// Every message was written.
    Delivered,
    /// The socket (or the gateway) is closing.
    Closed,
    /// The session ended or the participant was removed meanwhile
    /// (`Watcher::next` says which).
    Interrupted,
    /// Their login or permission was lost meanwhile.
    Lost(Lost),
}

/// Writes `messages` to the participant, unless the session ends, they are
/// removed, their login is lost, or the gateway stops meanwhile: a
/// participant whose client stopped reading must still hear those, never
/// leave their loop stuck in a write.
async fn deliver(
    tx: &mut Tx,
    messages: impl IntoIterator<Item = Message>,
    typist: &Typist,
    standing: &mut Standing,
    state: &AppState,
) -> Sent {
    for message in messages {
        let send = tx.send(message);
        tokio::pin!(send);
        loop {
            tokio::select! {
                sent = &mut send => {
                    if sent.is_err() {
                        return Sent::Closed;
                    }
                    break;
                }
                _ = typist.gone() => return Sent::Interrupted,
                now = standing.recheck() => if let Err(why) = now {
                    return Sent::Lost(why);
                },
                _ = state.shutdown.cancelled() => return Sent::Closed,
            }
        }
    }
    Sent::Delivered
}

fn text(value: serde_json::Value) -> Message {
    Message::Text(value.to_string().into())
}

fn event(caller: &Caller, id: SessionId, act: &str) -> Event {
    Event::new(act)
        .actor(caller.name())
        .target(id.to_string())
        .client_addr(&caller.client_addr)
}
