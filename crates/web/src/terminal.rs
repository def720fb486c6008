//! The browser terminal: a WebSocket relayed to a shell on the target.
//!
//! Binary frames carry terminal bytes both ways; text frames carry JSON
//! control messages — `resize` in; `session`, `error` and `ended` out. The
//! relay selects on the client, the target and the session's end signal,
//! so an end from anywhere closes both sides at once.

use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{FutureExt, SinkExt, StreamExt};
use gatehouse_access::TargetSpec;
use gatehouse_connect::Requester;
use gatehouse_domain::{ConnectionId, EndReason, Protocol};
use gatehouse_sessions::{EndRequest, SessionHandle, Terminal};
use gatehouse_ssh::{ShellInput, ShellOptions, TargetOutput, TargetShell};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiPath, ApiQuery};

/// The largest WebSocket message a client may send (a big paste).
pub(crate) const MAX_MESSAGE: usize = 1 << 20;
/// The WebSocket read buffer. tungstenite zero-fills its whole read buffer
/// on every read, so its 128 KiB default made every idle terminal cost
/// 128 KiB of resident memory; keystrokes need a few bytes, and a larger
/// message (a paste) grows the buffer for itself.
pub(crate) const READ_BUFFER: usize = 4 * 1024;
/// How long closing words to a client may take before we give up on it.
const FAREWELL_TIMEOUT: Duration = Duration::from_secs(2);

/// The initial terminal size.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TerminalSize {
    /// Columns, 1–1000 (default 80).
    #[param(minimum = 1, maximum = 1000)]
    cols: Option<u32>,
    /// Rows, 1–500 (default 24).
    #[param(minimum = 1, maximum = 500)]
    rows: Option<u32>,
}

fn check_size(cols: u32, rows: u32) -> Result<(), String> {
    if (1..=1000).contains(&cols) && (1..=500).contains(&rows) {
        Ok(())
    } else {
        Err("terminal size must be 1–1000 columns by 1–500 rows".into())
    }
}

/// Control messages a client sends in text frames.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum Control {
    Resize {
        cols: u32,
        rows: u32,
    },
    /// "Stay connected" after an idle warning.
    KeepAlive,
}

/// Open an SSH session on a connection, as a WebSocket.
#[utoipa::path(get, path = "/connections/{id}/terminal", tag = "sessions",
    params(("id" = uuid::Uuid, Path, description = "Connection id"), TerminalSize),
    responses((status = 101, description = "Switching to the terminal WebSocket"),
              (status = 400, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn open(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ConnectionId>,
    ApiQuery(size): ApiQuery<TerminalSize>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let (cols, rows) = (size.cols.unwrap_or(80), size.rows.unwrap_or(24));
    check_size(cols, rows).map_err(ApiError::invalid)?;
    // Permission first: nobody without a grant gets as far as the target.
    let spec = state.access.target_for(&caller.principal, id).await?;
    if spec.connection.protocol() != Protocol::Ssh {
        return Err(ApiError::invalid(format!(
            "{} is a {} connection: it has no terminal",
            spec.connection.name,
            spec.connection.protocol()
        )));
    }
    let ws = ws.map_err(|r| ApiError::new(r.status(), "websocket_required", r.body_text()))?;
    Ok(ws
        .max_message_size(MAX_MESSAGE)
        .read_buffer_size(READ_BUFFER)
        .on_upgrade(move |socket| run(state, caller, spec, cols, rows, socket)))
}

/// The sending half of a server WebSocket.
pub type Tx = SplitSink<WebSocket, Message>;
/// The receiving half of a server WebSocket.
pub type Rx = SplitStream<WebSocket>;

async fn run(
    state: AppState,
    caller: Caller,
    spec: TargetSpec,
    cols: u32,
    rows: u32,
    socket: WebSocket,
) {
    let (mut tx, mut rx) = socket.split();
    let opener = state.opener();
    let who = Requester {
        principal: &caller.principal,
        client_addr: &caller.client_addr,
    };
    let options = ShellOptions {
        cols,
        rows,
        ..ShellOptions::default()
    };
    let opened = match gatehouse_ssh::dial::dial(&opener, who, &spec).await {
        Ok(target) => match TargetShell::start(target, &options).await {
            Ok(shell) => Ok(shell),
            Err(error) => Err(gatehouse_ssh::dial::failed(&opener, who, &spec, error).await),
        },
        Err(e) => Err(e),
    };
    let mut shell = match opened {
        Ok(shell) => shell,
        Err(e) => {
            let error = json!({ "type": "error", "code": e.code(), "message": e.to_string() });
            farewell(&mut tx, error, 1011, e.code()).await;
            return;
        }
    };
    let handle = match opener
        .register(
            who,
            &spec,
            Some(Terminal {
                cols: cols as u16,
                rows: rows as u16,
            }),
        )
        .await
    {
        Ok(handle) => handle,
        Err(e) => {
            let error = json!({ "type": "error", "code": e.code(), "message": e.to_string() });
            tokio::join!(
                farewell(&mut tx, error, 1011, e.code()),
                shell.close("internal error")
            );
            return;
        }
    };
    tracing::Span::current().record("session", tracing::field::display(handle.id()));
    handle.set_detail("front_end", json!("browser"));
    let recorded = handle.recorded();
    let hello = json!({ "type": "session", "id": handle.id(), "recording": recorded });
    let _ = send_or_end(&mut tx, Message::Text(hello.to_string().into()), &handle).await;

    let reason = relay(&mut tx, &mut rx, &mut shell, &handle, &state).await;
    let request = handle.settle(reason);
    tracing::debug!(reason = %request.reason, "closing session");
    let (code, text) = match request.reason {
        EndReason::Error => (1011, request.reason.as_str()),
        _ => (1000, request.reason.as_str()),
    };
    let (farewell_msg, why) = ended_message(&request);
    // Both sides close together; neither waits on the other. The target's
    // teardown yields once first: when many sessions end at once, every
    // client hears its farewell before the gateway spends time on SSH
    // goodbyes, which nobody is waiting for.
    tokio::join!(farewell(&mut tx, farewell_msg, code, text), async {
        tokio::task::yield_now().await;
        shell.close(&why).await
    });
    // Out of the registry before the lingering below.
    drop(handle);
    linger(&mut rx).await;
}

/// Relays until one side ends or the session is ended; returns our own
/// reason (a reason given by whoever ended the session takes precedence).
///
/// Nothing here waits without the end signal beside it: input for the
/// target waits in `pending` while its queue is full — the client (and the
/// participants) are not read meanwhile, so they are slowed, not buffered —
/// and output keeps flowing, since a target whose output is not read never
/// reads its input either.
async fn relay(
    tx: &mut Tx,
    rx: &mut Rx,
    shell: &mut TargetShell,
    handle: &SessionHandle,
    state: &AppState,
) -> EndReason {
    let mut ping = tokio::time::interval(state.config.ws_ping_interval);
    ping.reset();
    let mut last_heard = Instant::now();
    let mut warnings = handle.warnings();
    let mut participants = handle.participants();
    let mut shared_input = handle.participant_input();
    let inputs = shell.input();
    let mut pending: Option<ShellInput> = None;
    loop {
        // What to say to the client this turn, besides terminal output.
        let notice = tokio::select! {
            _ = handle.ended() => return EndReason::Error,
            slot = inputs.reserve(), if pending.is_some() => match (slot, pending.take()) {
                (Ok(slot), Some(input)) => { slot.send(input); continue; }
                _ => return EndReason::TargetClosed,
            },
            Some(data) = async { shared_input.as_mut()?.recv().await }, if pending.is_none() => {
                // An interactive participant typed (already counted as activity).
                pending = Some(ShellInput::Data(data));
                continue;
            }
            Ok(()) = participants.changed() => {
                // The owner sees who else is on their session (watchers).
                let people = participants.borrow_and_update().clone();
                json!({ "type": "participants", "participants": people })
            }
            Ok(()) = warnings.changed() => match *warnings.borrow_and_update() {
                Some(w) => json!({ "type": "warning", "reason": w.reason, "seconds_left": w.seconds_left }),
                None => json!({ "type": "warning_cleared" }),
            },
            out = shell.output() => match out {
                TargetOutput::Data(data) => {
                    let data = coalesce(shell, data);
                    handle.record_output(&data);
                    match send_or_end(tx, Message::Binary(data), handle).await {
                        Some(Ok(())) => continue,
                        Some(Err(_)) => return EndReason::ClientClosed,
                        None => return EndReason::Error,
                    }
                }
                TargetOutput::Closed { .. } => return EndReason::TargetClosed,
            },
            msg = rx.next(), if pending.is_none() => {
                last_heard = Instant::now();
                match msg {
                    Some(Ok(Message::Binary(data))) => {
                        handle.record_input(&data);
                        pending = Some(ShellInput::Data(data));
                        continue;
                    }
                    Some(Ok(Message::Text(text))) => match serde_json::from_str::<Control>(&text) {
                        Ok(Control::Resize { cols, rows }) => match check_size(cols, rows) {
                            Ok(()) => {
                                handle.resized(cols as u16, rows as u16);
                                pending = Some(ShellInput::Resize { cols, rows });
                                continue;
                            }
                            Err(message) => json!({ "type": "error", "code": "bad_message", "message": message }),
                        },
                        Ok(Control::KeepAlive) => { handle.keep_alive(); continue; }
                        Err(e) => {
                            let message = format!("unknown control message: {e}");
                            json!({ "type": "error", "code": "bad_message", "message": message })
                        }
                    },
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return EndReason::ClientClosed,
                }
            }
            _ = ping.tick() => {
                if last_heard.elapsed() > state.config.ws_client_timeout {
                    // The client vanished without closing (laptop lid, dead network).
                    return EndReason::ClientClosed;
                }
                if send_or_end(tx, Message::Ping(Default::default()), handle).await.is_none() {
                    return EndReason::Error;
                }
                continue;
            }
        };
        let notice = Message::Text(notice.to_string().into());
        if send_or_end(tx, notice, handle).await.is_none() {
            return EndReason::Error;
        }
    }
}

/// Sends `msg` to the client unless the session is ended first (`None`): a
/// client that stopped reading must not keep its session from ending.
async fn send_or_end(
    tx: &mut Tx,
    msg: Message,
    handle: &SessionHandle,
) -> Option<Result<(), axum::Error>> {
    tokio::select! {
        sent = tx.send(msg) => Some(sent),
        _ = handle.ended() => None,
    }
}

/// The most output joined into one WebSocket message.
const COALESCE: usize = 64 * 1024;

/// Joins output that has already arrived behind `first` (up to [`COALESCE`]
/// bytes) into one message: under bulk output one frame and one socket write
/// then carry several SSH packets, where each used to cost its own wake-up
/// and write. Typed echoes arrive alone and go out at once, as before.
fn coalesce(shell: &mut TargetShell, first: Bytes) -> Bytes {
    let mut joined: Option<BytesMut> = None;
    while joined.as_ref().map_or(first.len(), BytesMut::len) < COALESCE {
        match shell.output().now_or_never() {
            Some(TargetOutput::Data(more)) => joined
                .get_or_insert_with(|| BytesMut::from(&first[..]))
                .extend_from_slice(&more),
            // Nothing more yet; or closed, which the next call reports again.
            _ => break,
        }
    }
    joined.map_or(first, BytesMut::freeze)
}

pub(crate) fn ended_message(request: &EndRequest) -> (Value, String) {
    let why = request.describe();
    let msg = json!({
        "type": "ended",
        "reason": request.reason,
        "by": request.by,
        "message": request.message,
    });
    (msg, why)
}

/// A last text message and a close frame, bounded in time: a client that
/// stopped reading must not hold the session open.
pub async fn farewell(tx: &mut Tx, last: Value, code: u16, reason: &str) {
    // Fed together and flushed once: one write to the socket, not two.
    let _ = tokio::time::timeout(FAREWELL_TIMEOUT, async {
        tx.feed(Message::Text(last.to_string().into())).await?;
        tx.send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })))
        .await
    })
    .await;
}

/// How long a flooding client may take to answer our close.
const LINGER: Duration = Duration::from_secs(2);

/// Reads and discards what a client still sends until it answers our close
/// (or [`LINGER`] passes). A socket closed with unread input is reset, and
/// a reset throws away the farewell the client has not read yet: a user
/// whose paste we held back would never learn why their session ended.
pub async fn linger(rx: &mut Rx) {
    let _ = tokio::time::timeout(LINGER, async {
        while let Some(Ok(msg)) = rx.next().await {
            if matches!(msg, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

#[cfg(test)]
mod control_properties {
    use proptest::prelude::*;

    use super::*;

    /// What the relay does with one text frame: resize to a size it
    /// accepts, keep alive, or refuse it.
    fn handle(text: &str) -> Option<Result<(u32, u32), ()>> {
        match serde_json::from_str::<Control>(text) {
            Ok(Control::Resize { cols, rows }) => {
                Some(check_size(cols, rows).map(|()| (cols, rows)).map_err(drop))
            }
            Ok(Control::KeepAlive) => None,
            Err(_) => Some(Err(())),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        /// Any text a client sends is handled without a panic.
        #[test]
        fn any_text_frame_is_handled(chars in proptest::collection::vec(any::<char>(), 0..200)) {
            let text: String = chars.into_iter().collect();
            let _ = handle(&text);
        }

        /// A resize is taken exactly when the size is 1–1000 by 1–500,
        /// whatever numbers (or non-numbers) the client puts in it.
        #[test]
        fn a_resize_is_taken_only_within_bounds(cols in any::<i64>(), rows in any::<i64>()) {
            let text = format!(r#"{{"type":"resize","cols":{cols},"rows":{rows}}}"#);
            let fits = (1..=1000).contains(&cols) && (1..=500).contains(&rows);
            let expected = if fits { Ok((cols as u32, rows as u32)) } else { Err(()) };
            prop_assert_eq!(handle(&text), Some(expected));
        }

        /// Messages with an unknown type or unknown fields are refused.
        #[test]
        fn unknown_messages_are_refused(kind in "[a-z_]{0,12}", extra in any::<bool>()) {
            let text = if extra {
                r#"{"type":"resize","cols":80,"rows":24,"x":1}"#.to_owned()
            } else {
                format!(r#"{{"type":"{kind}"}}"#)
            };
            prop_assume!(extra || kind != "keep_alive");
            prop_assert_eq!(handle(&text), Some(Err(())));
        }
    }
}
