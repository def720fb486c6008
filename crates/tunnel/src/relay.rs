//! One tunnel session: the client's frames in, the streams' frames out,
//! the session's end signal beside every wait.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use gatehouse_access::TargetSpec;
use gatehouse_connect::Requester;
use gatehouse_domain::EndReason;
use gatehouse_sessions::{EndRequest, SessionHandle};
use gatehouse_web::AppState;
use gatehouse_web::auth::Caller;
use gatehouse_web::terminal::{Rx, Tx, farewell, linger};
use serde_json::{Value, json};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::{AbortHandle, JoinSet};
use tokio::time::Instant;

use crate::flow::{WINDOW, Window};
use crate::frame::{DataBuffers, Frame, StreamError};
use crate::stream::{self, Chunk, Dial};

/// The most TCP connections one tunnel holds open at once: each costs a
/// target socket and a task, and a client must not open them without end.
pub(crate) const MAX_STREAMS: usize = 1024;
/// Bytes from the client waiting to be written to targets, across all the
/// tunnel's connections: the hard bound on what the gateway holds for one
/// tunnel. Each stream's window ([`WINDOW`]) keeps a well-behaved client
/// within its share, so a stream whose target reads slowly holds back only
/// that stream; when the sum reaches this bound (eight stalled streams, or
/// a client that ignores its credit) the tunnel stops reading altogether
/// instead of the gateway buffering more.
const IN_FLIGHT: usize = 8 * WINDOW as usize;
/// Messages waiting for the client's WebSocket (each at most one frame,
/// 256 KiB, so 4 MiB at most): the streams wait when it is full, so a
/// client that stops reading stops its targets being read, not the
/// gateway's memory.
const OUT_QUEUE: usize = 16;

/// An accepted tunnel request, before its session exists.
pub(crate) struct Tunnel {
    pub(crate) state: AppState,
    pub(crate) caller: Caller,
    pub(crate) spec: TargetSpec,
    pub(crate) program: Option<String>,
}

/// The live TCP connections of one tunnel.
struct Streams {
    open: HashMap<u32, Stream>,
    tasks: JoinSet<()>,
    total: u64,
}

struct Stream {
    /// `None` once the client sent `Eof`: the target's write side is shut
    /// when what was queued is written.
    to_target: Option<mpsc::UnboundedSender<Chunk>>,
    /// The stream's credit toward the client.
    window: Arc<Window>,
    abort: AbortHandle,
}

#[tracing::instrument(name = "tunnel", skip_all, fields(connection = %tunnel.spec.connection.name, user = %tunnel.caller.name(), session))]
pub(crate) async fn run(tunnel: Tunnel, socket: WebSocket) {
    let (mut tx, mut rx) = socket.split();
    let Tunnel {
        state,
        caller,
        spec,
        program,
    } = tunnel;
    let opener = state.opener();
    let who = Requester {
        principal: &caller.principal,
        client_addr: &caller.client_addr,
    };
    let Some(addr) = spec.connection.target.tcp().and_then(|t| t.addr().ok()) else {
        let error = json!({ "type": "error", "code": "bad_target", "message": "the connection has no TCP target" });
        farewell(&mut tx, error, 1011, "bad_target").await;
        return;
    };
    let handle = match opener.register(who, &spec, None).await {
        Ok(handle) => Arc::new(handle),
        Err(e) => {
            let error = json!({ "type": "error", "code": e.code(), "message": e.to_string() });
            farewell(&mut tx, error, 1011, e.code()).await;
            return;
        }
    };
    tracing::Span::current().record("session", tracing::field::display(handle.id()));
    handle.set_detail("program", json!(program));
    let hello = json!({
        "type": "tunnel", "session": handle.id(), "connection": spec.connection.name,
        "target": spec.display(), "recorded": false, "window": WINDOW,
    });
    let _ = tx.send(Message::Text(hello.to_string().into())).await;

    let dial = Arc::new(Dial {
        opener,
        principal: caller.principal.clone(),
        client_addr: caller.client_addr.clone(),
        spec,
        addr,
        // A full queue of frames toward the client, and two reads.
        buffers: DataBuffers::new(OUT_QUEUE + 2),
    });
    let (out_tx, out_rx) = mpsc::channel(OUT_QUEUE);
    let writer = tokio::spawn(write_loop(tx, out_rx, handle.clone()));
    let mut streams = Streams {
        open: HashMap::new(),
        tasks: JoinSet::new(),
        total: 0,
    };
    publish(&handle, &streams);
    let reason = read_loop(&mut rx, &mut streams, &dial, &handle, &out_tx, &state).await;
    let request = handle.settle(reason);
    tracing::debug!(reason = %request.reason, "closing tunnel");
    // Every TCP connection closes at once: the targets' sockets drop here.
    streams.tasks.abort_all();
    drop(streams);
    drop(out_tx);
    let Ok(mut tx) = writer.await else { return };
    let code = if request.reason == EndReason::Error {
        1011
    } else {
        1000
    };
    farewell(
        &mut tx,
        ended_message(&request),
        code,
        request.reason.as_str(),
    )
    .await;
    drop(handle);
    linger(&mut rx).await;
}

/// Reads the client's frames until it goes, breaks the framing, or the
/// session is ended; returns our own reason (one given by whoever ended
/// the session takes precedence).
async fn read_loop(
    rx: &mut Rx,
    streams: &mut Streams,
    dial: &Arc<Dial>,
    handle: &Arc<SessionHandle>,
    out: &mpsc::Sender<Message>,
    state: &AppState,
) -> EndReason {
    let budget = Arc::new(Semaphore::new(IN_FLIGHT));
    // Each stream says it is gone once, and there are at most MAX_STREAMS.
    let (gone_tx, mut gone_rx) = mpsc::unbounded_channel::<u32>();
    let mut ping = tokio::time::interval(state.config.ws_ping_interval);
    ping.reset();
    let mut last_heard = Instant::now();
    let mut warnings = handle.warnings();
    loop {
        tokio::select! {
            _ = handle.ended() => return EndReason::Error,
            Some(id) = gone_rx.recv() => {
                streams.open.remove(&id);
                while streams.tasks.try_join_next().is_some() {}
                publish(handle, streams);
            }
            Ok(()) = warnings.changed() => {
                let notice = match *warnings.borrow_and_update() {
                    Some(w) => json!({ "type": "warning", "reason": w.reason, "seconds_left": w.seconds_left }),
                    None => json!({ "type": "warning_cleared" }),
                };
                let _ = out.try_send(Message::Text(notice.to_string().into()));
            }
            _ = ping.tick() => {
                if last_heard.elapsed() > state.config.ws_client_timeout {
                    // The client vanished without closing (laptop lid, dead network).
                    return EndReason::ClientClosed;
                }
                let _ = out.try_send(Message::Ping(Bytes::new()));
            }
            msg = rx.next() => {
                last_heard = Instant::now();
                let data = match msg {
                    Some(Ok(Message::Binary(data))) => data,
                    Some(Ok(Message::Text(text))) => {
                        if serde_json::from_str::<Value>(&text).is_ok_and(|v| v["type"] == "keep_alive") {
                            handle.keep_alive();
                        }
                        continue;
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(_)) | Err(_)) | None => return EndReason::ClientClosed,
                };
                let frame = match Frame::decode(data) {
                    Ok(frame) => frame,
                    Err(e) => {
                        tracing::info!(error = %e, "client broke the tunnel framing");
                        return EndReason::Error;
                    }
                };
                match frame {
                    Frame::Open(id) => {
                        let refused = if streams.open.contains_key(&id) {
                            Some("stream id already open")
                        } else if streams.open.len() >= MAX_STREAMS {
                            Some("too many connections open in this tunnel")
                        } else {
                            None
                        };
                        if let Some(why) = refused {
                            let error = StreamError { code: "stream_refused".into(), message: why.into() };
                            let close = Message::Binary(Frame::Close(id, Some(error)).encode());
                            tokio::select! {
                                _ = out.send(close) => {}
                                _ = handle.ended() => return EndReason::Error,
                            }
                            continue;
                        }
                        let (to_target, from_client) = mpsc::unbounded_channel();
                        let window = Arc::new(Window::new(WINDOW.into()));
                        let task = stream::run(id, dial.clone(), handle.clone(), from_client, window.clone(), out.clone(), gone_tx.clone());
                        let abort = streams.tasks.spawn(task);
                        streams.open.insert(id, Stream { to_target: Some(to_target), window, abort });
                        streams.total += 1;
                        publish(handle, streams);
                    }
                    Frame::Data(id, data) => {
                        let Some(to_target) = streams.open.get(&id).and_then(|s| s.to_target.as_ref()) else {
                            // Closed meanwhile (or never opened): nothing to deliver to.
                            continue;
                        };
                        let permit = tokio::select! {
                            permit = budget.clone().acquire_many_owned(data.len() as u32) => permit,
                            _ = handle.ended() => return EndReason::Error,
                        };
                        let Ok(permit) = permit else { return EndReason::Error };
                        let _ = to_target.send(Chunk { data, _permit: permit });
                    }
                    Frame::Credit(id, bytes) => {
                        if let Some(stream) = streams.open.get(&id) {
                            stream.window.grant(bytes.into());
                        }
                    }
                    Frame::Eof(id) => {
                        if let Some(stream) = streams.open.get_mut(&id) {
                            stream.to_target = None;
                        }
                    }
                    Frame::Close(id, _) => {
                        if let Some(stream) = streams.open.remove(&id) {
                            stream.abort.abort();
                            publish(handle, streams);
                        }
                    }
                }
            }
        }
    }
}

/// Sends what the streams and the session loop queue for the client,
/// several messages per flush under load, until the session is ended.
/// Returns the sink for the farewell.
async fn write_loop(
    mut tx: Tx,
    mut out: mpsc::Receiver<Message>,
    handle: Arc<SessionHandle>,
) -> Tx {
    let end = handle.end_signal();
    loop {
        let first = tokio::select! {
            biased;
            _ = end.cancelled() => break,
            msg = out.recv() => match msg {
                Some(msg) => msg,
                None => break,
            },
        };
        let sent = tokio::select! {
            sent = async {
                tx.feed(first).await?;
                // What else is already waiting goes out in the same write.
                for _ in 0..OUT_QUEUE {
                    match out.try_recv() {
                        Ok(more) => tx.feed(more).await?,
                        Err(_) => break,
                    }
                }
                tx.flush().await
            } => sent,
            _ = end.cancelled() => break,
        };
        if sent.is_err() {
            handle.settle(EndReason::ClientClosed);
            break;
        }
    }
    tx
}

/// Shows the tunnel's connections in Active Sessions.
fn publish(handle: &SessionHandle, streams: &Streams) {
    handle.set_detail("open_connections", json!(streams.open.len()));
    handle.set_detail("total_connections", json!(streams.total));
}

/// The client's last message: who ended the session and why.
fn ended_message(request: &EndRequest) -> Value {
    json!({
        "type": "ended",
        "reason": request.reason,
        "by": request.by,
        "message": request.message,
        "text": request.describe(),
    })
}
