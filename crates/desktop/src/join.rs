//! `GET /api/v1/sessions/{id}/desktop/join`: a desktop its owner shared.
//!
//! Sharing itself (`/sessions/{id}/share`, `unshare`, removing a
//! participant) is the same for every protocol and lives in the web crate;
//! this is the desktop's side of joining. A participant starts from the
//! current screen and then gets the owner's stream, as a watcher does
//! (`watch.rs`); an interactive participant's keys, pointer and clipboard
//! go to the desktop's relay through the [`LiveDesktops`] table, checked
//! against the connection's clipboard switches as the owner's are, and an
//! observer's are dropped.

use axum::Extension;
use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use futures_util::StreamExt;
use gatehouse_audit::action;
use gatehouse_domain::SessionId;
use gatehouse_sessions::{ParticipantMode, WatchEvent};
use gatehouse_web::AppState;
use gatehouse_web::auth::{Caller, lost_notice};
use gatehouse_web::error::{ApiError, ApiPath};
use gatehouse_web::terminal::{farewell, linger};
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

use crate::live::{LiveDesktops, ParticipantInput};
use crate::paste::paste;
use crate::relay::{Clipboard, Control};
use crate::route::MAX_MESSAGE;
use crate::watch::{event, send_in_time, text};

/// Join a desktop session its owner shared with you, as a WebSocket. Text
/// messages: `watching` (`{id, user, mode, width, height, clipboard}`;
/// `mode` is `observer` or `interactive`) first, then what the owner's tab
/// gets — binary frames (the whole screen first, then every changed region)
/// and `size`. An interactive participant sends `key`, `pointer` and
/// `clipboard` as the owner does (the connection's clipboard switches apply:
/// a refused paste is answered with an `error`); an observer's are dropped.
/// Either may send `refresh` for the whole screen again. `removed` (`{by}`)
/// when the owner or an administrator removes you (joining again is then
/// `404`); `ended` when the session ends or your login does.
#[utoipa::path(get, operation_id = "join_desktop", path = "/sessions/{id}/desktop/join", tag = "sessions",
    params(("id" = uuid::Uuid, Path, description = "Session id")),
    responses((status = 101, description = "Switching to the desktop participant WebSocket"),
              (status = 401, body = gatehouse_web::error::ErrorBody), (status = 404, body = gatehouse_web::error::ErrorBody)))]
pub(crate) async fn join(
    State(state): State<AppState>,
    Extension(live): Extension<LiveDesktops>,
    caller: Caller,
    ApiPath(id): ApiPath<SessionId>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    // The invitation is the grant: without one the session does not exist
    // for the caller, whatever else they may do.
    let shared = state.registry.shared_with(caller.principal.user_id);
    if !shared.iter().any(|(s, _)| s.id == id) {
        return Err(ApiError::not_found(format!(
            "no live session {id} is shared with you"
        )));
    }
    if !live.contains(id) {
        return Err(ApiError::not_found(format!(
            "session {id} is not a desktop: join it at /sessions/{id}/join"
        )));
    }
    let ws = ws.map_err(|r| ApiError::new(r.status(), "websocket_required", r.body_text()))?;
    Ok(ws
        .max_message_size(MAX_MESSAGE)
        .on_upgrade(move |socket| run(state, live, caller, id, socket)))
}

#[tracing::instrument(name = "desktop_participant", skip_all, fields(user = %caller.name(), session = %id))]
async fn run(
    state: AppState,
    live: LiveDesktops,
    caller: Caller,
    id: SessionId,
    socket: WebSocket,
) {
    let (mut tx, mut rx) = socket.split();
    // Listed as a participant (the owner's tab shows who is there) before
    // the first picture, so the owner is never joined unknowingly.
    let joined = state.registry.join(
        id,
        caller.principal.user_id,
        caller.name(),
        &caller.client_addr,
    );
    let snapshot = match joined {
        Some(_) => live.snapshot(id).await,
        None => None,
    };
    let relay = live.input(id);
    let (Some(mut watcher), Some(snapshot), Some((input, clipboard, available))) =
        (joined, snapshot, relay)
    else {
        let gone =
            json!({ "type": "error", "code": "not_found", "message": "the session has ended" });
        farewell(&mut tx, gone, 1000, "not_found").await;
        return;
    };
    let mode = watcher.mode();
    let may_type = mode == ParticipantMode::Interactive;
    let owner = json!({ "owner": watcher.owner(), "mode": mode });
    state
        .audit
        .record(event(&caller, id, action::WATCH_START).details(owner.clone()))
        .await;
    let (width, height) = snapshot.size;
    let hello = json!({
        "type": "watching", "id": id, "user": watcher.owner(), "mode": mode,
        "width": width, "height": height,
        // What this participant may do with the clipboard: paste when they
        // may type and the connection allows it; the desktop's copies go
        // to its owner only.
        // `available` as the owner's tab is told (`clipboard_status`).
        "clipboard": {
            "to_desktop": may_type && clipboard.to_desktop, "from_desktop": false,
            "available": *available.borrow(),
        },
    });
    let mut changes = snapshot.changes;
    let mut out = vec![text(hello)];
    if width > 0 && height > 0 {
        out.push(text(
            json!({ "type": "size", "width": width, "height": height }),
        ));
        out.push(snapshot.screen);
    }
    // A participant needs only a valid login (the invitation is the grant,
    // and withdrawing it removes them).
    let mut standing = caller.standing(&state, None);
    let mut ping = tokio::time::interval(state.config.ws_ping_interval);
    ping.reset();
    let mut last_heard = Instant::now();
    // Input not yet taken by the relay. While it waits, the socket is not
    // read (backpressure reaches the participant's client), but the end, a
    // removal and a lost login are still heard.
    let mut pending: Option<ParticipantInput> = None;
    let last: Option<Value> = 'relay: loop {
        for msg in out.drain(..) {
            if send_in_time(&mut tx, msg).await.is_err() {
                break 'relay None;
            }
        }
        tokio::select! {
            ev = watcher.next() => match ev {
                WatchEvent::Ended(request) => break 'relay Some(json!({
                    "type": "ended", "reason": request.reason, "by": request.by,
                    "message": request.message, "text": request.describe(),
                })),
                WatchEvent::Removed { by } => break 'relay Some(json!({ "type": "removed", "by": by })),
                // A desktop's registry stream carries nothing; its pictures come below.
                WatchEvent::Output(_) | WatchEvent::Repaint { .. } => {}
            },
            now = standing.recheck() => if let Err(why) = now {
                tracing::info!(reason = %why, "desktop participant's access ended");
                let mut msg = lost_notice(&why);
                msg["type"] = json!("ended");
                break 'relay Some(msg);
            },
            change = changes.recv() => match change {
                Ok(msg) => out.push(msg),
                Err(RecvError::Lagged(_)) => {
                    // Fell behind: start again from the screen as it is now.
                    if let Some(fresh) = live.snapshot(id).await {
                        changes = fresh.changes;
                        out.push(fresh.screen);
                    }
                }
                // The relay is gone: the end arrives through the watcher.
                Err(RecvError::Closed) => changes = tokio::sync::broadcast::channel(1).1,
            },
            permit = input.reserve(), if pending.is_some() => {
                if let (Ok(permit), Some(taken)) = (permit, pending.take()) {
                    permit.send(taken);
                }
                // Refused: the relay is gone, and the end arrives through the watcher.
                last_heard = Instant::now();
            }
            msg = rx.next(), if pending.is_none() => {
                last_heard = Instant::now();
                match msg {
                    Some(Ok(Message::Text(t))) => match heard(&t, may_type, clipboard, clipboard_now(&available)) {
                        Heard::Input(taken) => pending = Some(taken),
                        Heard::Reply(reply) => out.push(text(reply)),
                        Heard::Refresh => {
                            if let Some(fresh) = live.snapshot(id).await {
                                changes = fresh.changes;
                                out.push(fresh.screen);
                            }
                        }
                        Heard::Nothing => {}
                    },
                    Some(Ok(Message::Close(_)) | Err(_)) | None => break 'relay None,
                    Some(Ok(_)) => {}
                }
            }
            _ = state.shutdown.cancelled() => break 'relay None,
            _ = ping.tick() => {
                // Input waiting on a busy relay is no silent client.
                if pending.is_none() && last_heard.elapsed() > state.config.ws_client_timeout {
                    break 'relay None;
                }
                out.push(Message::Ping(Default::default()));
            }
        }
    };
    drop(watcher);
    state
        .audit
        .record(event(&caller, id, action::WATCH_STOP).details(owner))
        .await;
    if let Some(last) = last {
        let code = last["reason"].as_str().unwrap_or("removed").to_owned();
        farewell(&mut tx, last, 1000, &code).await;
        linger(&mut rx).await;
    }
}

/// What is known of the desktop's clipboard now (the borrow is not held).
fn clipboard_now(available: &tokio::sync::watch::Receiver<Option<bool>>) -> Option<bool> {
    *available.borrow()
}

/// What a participant's text message asks for.
enum Heard {
    /// Input for the desktop.
    Input(ParticipantInput),
    /// An answer to the participant alone (a refused paste, a bad message).
    Reply(Value),
    /// The whole screen again.
    Refresh,
    /// Nothing: an observer's input, or a keep-alive (only the owner's
    /// counts against the idle limit through their own tab).
    Nothing,
}

fn heard(message: &str, may_type: bool, clipboard: Clipboard, available: Option<bool>) -> Heard {
    let control = match serde_json::from_str::<Control>(message) {
        Ok(control) => control,
        Err(e) => {
            let message = format!("unknown control message: {e}");
            return Heard::Reply(
                json!({ "type": "error", "code": "bad_message", "message": message }),
            );
        }
    };
    let control = match control {
        Control::Refresh => return Heard::Refresh,
        Control::KeepAlive => return Heard::Nothing,
        // Read-only: whatever an observer types or points goes nowhere.
        _ if !may_type => return Heard::Nothing,
        Control::Clipboard { text } => match paste(clipboard, available, text) {
            Ok(control) => control,
            Err(refusal) => return Heard::Reply(refusal),
        },
        control => control,
    };
    Heard::Input(ParticipantInput {
        control,
        bytes: message.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPEN: Clipboard = Clipboard {
        to_desktop: true,
        from_desktop: true,
        unicode: false,
    };

    #[test]
    fn an_observers_input_is_dropped_and_an_interactive_participants_passes() {
        let key = r#"{"type":"key","keysym":97,"down":true}"#;
        assert!(matches!(
            heard(key, false, OPEN, Some(true)),
            Heard::Nothing
        ));
        assert!(matches!(
            heard(key, true, OPEN, Some(true)),
            Heard::Input(ParticipantInput { control: Control::Key { keysym: 97, down: true }, bytes }) if bytes == key.len()
        ));
        let paste = r#"{"type":"clipboard","text":"ls"}"#;
        assert!(matches!(
            heard(paste, false, OPEN, Some(true)),
            Heard::Nothing
        ));
        assert!(matches!(
            heard(r#"{"type":"refresh"}"#, false, OPEN, Some(true)),
            Heard::Refresh
        ));
    }

    #[test]
    fn a_participants_paste_obeys_the_connections_clipboard_rules() {
        let closed = Clipboard {
            to_desktop: false,
            from_desktop: true,
            unicode: false,
        };
        let paste = r#"{"type":"clipboard","text":"ls"}"#;
        assert!(
            matches!(heard(paste, true, closed, Some(true)), Heard::Reply(r) if r["code"] == "clipboard_off")
        );
        let euro = r#"{"type":"clipboard","text":"5 €"}"#;
        assert!(
            matches!(heard(euro, true, OPEN, Some(true)), Heard::Reply(r) if r["code"] == "clipboard_not_latin1")
        );
        assert!(
            matches!(heard("{", true, OPEN, Some(true)), Heard::Reply(r) if r["code"] == "bad_message")
        );
    }
}
