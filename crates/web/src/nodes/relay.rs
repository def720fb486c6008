//! The asking node's side of the internal channel: a watcher or a History
//! replay on this node for a session another node holds. The permission was
//! checked here (where the user is); the owner only checks that this node
//! signed the request.

use std::sync::OnceLock;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use gatehouse_access::Standing;
use gatehouse_audit::{Event, action};
use gatehouse_domain::{Permission, SessionId};
use serde_json::{Value, json};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::serve::Watching;
use crate::AppState;
use crate::auth::{Caller, lost_notice};
use crate::error::ApiError;
use crate::terminal::{MAX_MESSAGE, Tx, farewell};

/// How long reaching the owner node may take before the watcher or the
/// replay is told it is unreachable.
const REACH_TIMEOUT: Duration = Duration::from_secs(5);

/// The owner node's watch stream.
type Upstream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn unreachable(node: &str, why: impl std::fmt::Display) -> ApiError {
    tracing::warn!(node, error = %why, "could not reach another node");
    ApiError::new(
        StatusCode::BAD_GATEWAY,
        "node_unreachable",
        format!("the gateway node {node}, which holds this session, could not be reached"),
    )
}

/// Where node `node` publishes its internal channel.
async fn node_url(state: &AppState, node: &str) -> Result<String, ApiError> {
    let links = state.access.store().node_links().await?;
    links
        .into_iter()
        .find(|l| l.name == node)
        .and_then(|l| l.url)
        .ok_or_else(|| unreachable(node, "it published no URL (not running?)"))
}

/// Watches session `id`, which node `owner` relays, through the owner's
/// `/internal/v1/sessions/{id}/{stream}` (`watch`, or a front end's own,
/// e.g. `desktop/watch`): connects to the owner first (so a session that
/// ended meanwhile is a plain `404`), then upgrades the caller's socket and
/// proxies the owner's stream to it. The caller's `sessions.watch` was
/// checked; it is rechecked for as long as the watch lasts.
pub async fn watch_remote(
    state: AppState,
    caller: Caller,
    id: SessionId,
    owner: String,
    stream: &str,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let ws = ws.map_err(|r| ApiError::new(r.status(), "websocket_required", r.body_text()))?;
    let base = node_url(&state, &owner).await?;
    let who = Watching {
        user: caller.name().to_owned(),
        client_addr: caller.client_addr.clone(),
    };
    let query = serde_urlencoded::to_string(&who).map_err(ApiError::internal)?;
    let path = format!("/internal/v1/sessions/{id}/{stream}?{query}");
    let ws_base = match base.strip_prefix("https://") {
        Some(rest) => format!("wss://{rest}"),
        None => format!("ws://{}", base.trim_start_matches("http://")),
    };
    let mut request = format!("{ws_base}{path}")
        .into_client_request()
        .map_err(|e| unreachable(&owner, e))?;
    request
        .headers_mut()
        .extend(super::sign(&state, "GET", &path, &owner));
    let config =
        tungstenite::protocol::WebSocketConfig::default().max_message_size(Some(MAX_MESSAGE));
    let connect = tokio_tungstenite::connect_async_with_config(request, Some(config), true);
    let upstream = match tokio::time::timeout(REACH_TIMEOUT, connect).await {
        Ok(Ok((upstream, _))) => upstream,
        Ok(Err(tungstenite::Error::Http(response)))
            if response.status() == StatusCode::NOT_FOUND =>
        {
            return Err(ApiError::not_found(format!("no live session {id}")));
        }
        Ok(Err(e)) => return Err(unreachable(&owner, e)),
        Err(_) => return Err(unreachable(&owner, "timed out")),
    };
    Ok(ws
        .max_message_size(MAX_MESSAGE)
        .on_upgrade(move |socket| proxy(state, caller, id, upstream, socket)))
}

/// What ended the proxy.
enum Outcome {
    /// The owner said goodbye (ended, removed, not found) and closed.
    Farewell(Value, u16, String),
    /// The watcher's login or permission was lost.
    Lost(gatehouse_access::Lost),
    /// The owner went away without a goodbye.
    OwnerGone,
    /// The watcher left, or this gateway is stopping.
    Left,
}

#[tracing::instrument(name = "remote_watch", skip_all, fields(user = %caller.name(), session = %id))]
async fn proxy(
    state: AppState,
    caller: Caller,
    id: SessionId,
    mut upstream: Upstream,
    socket: WebSocket,
) {
    let (mut tx, mut rx) = socket.split();
    let mut standing = caller.standing(&state, Some(Permission::SessionsWatch));
    let mut ping = tokio::time::interval(state.config.ws_ping_interval);
    ping.reset();
    let mut last_heard = Instant::now();
    // The owner's last text message, held until its close says it was the goodbye.
    let mut last_text: Option<Value> = None;
    let mut owner: Option<Value> = None;
    let outcome = loop {
        let forward = tokio::select! {
            msg = upstream.next() => match msg {
                Some(Ok(tungstenite::Message::Text(t))) => {
                    let value: Value = serde_json::from_str(t.as_str()).unwrap_or(Value::Null);
                    if owner.is_none() && value["type"] == "watching" {
                        let details = json!({ "owner": value["user"], "mode": value["mode"], "node": node_of(&state, id) });
                        state.audit.record(event(&caller, id, action::WATCH_START).details(details.clone())).await;
                        owner = Some(details);
                    }
                    last_text = Some(value);
                    Message::Text(t.as_str().into())
                }
                Some(Ok(tungstenite::Message::Binary(b))) => Message::Binary(b),
                Some(Ok(tungstenite::Message::Close(frame))) => {
                    let (code, reason) = frame
                        .map(|f| (u16::from(f.code), f.reason.as_str().to_owned()))
                        .unwrap_or((1000, String::new()));
                    match last_text.take() {
                        Some(last) if is_goodbye(&last) => break Outcome::Farewell(last, code, reason),
                        _ => break Outcome::OwnerGone,
                    }
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => break Outcome::OwnerGone,
            },
            now = standing.recheck() => match now {
                Ok(_) => continue,
                Err(why) => break Outcome::Lost(why),
            },
            msg = rx.next() => {
                last_heard = Instant::now();
                match msg {
                    // A watcher's frames go nowhere.
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break Outcome::Left,
                    Some(Ok(_)) => continue,
                }
            }
            _ = state.shutdown.cancelled() => break Outcome::Left,
            _ = ping.tick() => {
                if last_heard.elapsed() > state.config.ws_client_timeout { break Outcome::Left; }
                Message::Ping(Default::default())
            }
        };
        // A goodbye is sent with the close, as the local watch does.
        if let Message::Text(_) = &forward
            && last_text.as_ref().is_some_and(is_goodbye)
        {
            continue;
        }
        match deliver(&mut tx, forward, &mut standing, &state).await {
            Ok(true) => {}
            Ok(false) => break Outcome::Left,
            Err(why) => break Outcome::Lost(why),
        }
    };
    let _ = upstream.close(None).await;
    let ended_by_us = !matches!(outcome, Outcome::Left);
    match outcome {
        Outcome::Farewell(last, code, reason) => farewell(&mut tx, last, code, &reason).await,
        Outcome::Lost(why) => {
            tracing::info!(reason = %why, "remote watcher's access ended");
            let mut msg = lost_notice(&why);
            msg["type"] = json!("ended");
            let code = msg["reason"]
                .as_str()
                .unwrap_or("access_revoked")
                .to_owned();
            farewell(&mut tx, msg, 1000, &code).await;
        }
        Outcome::OwnerGone => {
            let msg = json!({ "type": "error", "code": "node_unreachable",
                "message": "the gateway node relaying this session stopped answering" });
            farewell(&mut tx, msg, 1011, "node_unreachable").await;
        }
        Outcome::Left => {}
    }
    if let Some(details) = owner {
        state
            .audit
            .record(event(&caller, id, action::WATCH_STOP).details(details))
            .await;
    }
    if ended_by_us {
        crate::terminal::linger(&mut rx).await;
    }
}

/// Whether the owner's text message is its last word (`ended`, `removed`,
/// `error`): sent on with the close frame, as one write.
fn is_goodbye(value: &Value) -> bool {
    matches!(value["type"].as_str(), Some("ended" | "removed" | "error"))
}

/// The node relaying session `id`, as the cluster's list says.
fn node_of(state: &AppState, id: SessionId) -> Option<String> {
    state
        .cluster
        .as_ref()
        .and_then(|c| c.remote_session(id))
        .map(|s| s.node)
}

/// Writes one message to the watcher while still hearing their login
/// end: `Ok(false)` if the socket closed or the gateway is stopping.
async fn deliver(
    tx: &mut Tx,
    message: Message,
    standing: &mut Standing,
    state: &AppState,
) -> Result<bool, gatehouse_access::Lost> {
    let send = tx.send(message);
    tokio::pin!(send);
    loop {
        tokio::select! {
            sent = &mut send => return Ok(sent.is_ok()),
            now = standing.recheck() => now.map(|_| ())?,
            _ = state.shutdown.cancelled() => return Ok(false),
        }
    }
}

fn event(caller: &Caller, id: SessionId, act: &str) -> Event {
    Event::new(act)
        .actor(caller.name())
        .target(id.to_string())
        .client_addr(&caller.client_addr)
}

/// One HTTP client for every recording fetched from another node.
fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .connect_timeout(REACH_TIMEOUT)
            .build()
            .unwrap_or_default()
    })
}

/// Session `id`'s recording, written by node `node`: its length and a
/// stream of it, fetched from that node.
pub(crate) async fn fetch_recording(
    state: &AppState,
    node: &str,
    id: SessionId,
) -> Result<(u64, Body), ApiError> {
    let base = node_url(state, node).await?;
    let path = format!("/internal/v1/recordings/{id}");
    let response = client()
        .get(format!("{base}{path}"))
        .headers(super::sign(state, "GET", &path, node))
        .send()
        .await
        .map_err(|e| unreachable(node, e))?;
    match response.status() {
        StatusCode::OK => {}
        StatusCode::NOT_FOUND => {
            return Err(ApiError::not_found(format!("no recording of session {id}")));
        }
        status => return Err(unreachable(node, format!("answered {status}"))),
    }
    let bytes = response
        .content_length()
        .ok_or_else(|| unreachable(node, "no content length"))?;
    Ok((bytes, Body::from_stream(response.bytes_stream())))
}
