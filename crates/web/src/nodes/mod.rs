//! The internal channel between gateway nodes (issue 20): a node asked to
//! watch, or replay the recording of, a session another node relays gets it
//! from that node, over HTTP on the owner's own listener.
//!
//! - [`serve`] is the owner's side: `/internal/v1/…` routes that answer
//!   only requests signed by another node ([`FromNode`]), never a login.
//! - [`relay`] is the asking node's side: it checks the caller's permission
//!   itself (the owner trusts that check), then proxies the owner's watch
//!   stream or recording, so the browser cannot tell the difference.
//!
//! Nodes authenticate each other with the secret key they must share (see
//! the node row's key fingerprint): each request carries the sending node's
//! name, the time, a random nonce, and an HMAC-SHA256 (under a key derived
//! from the secret key) over method, path with query, time, nonce, sender
//! and recipient. A request is good for [`VALIDITY`] on either side of the
//! owner's clock, only at the node it names, and only once: the owner
//! remembers each accepted nonce until the request's window has passed
//! (bounded; see `gatehouse_cluster::MAX_NONCES`), so a captured request
//! cannot be replayed. The channel needs no storage shared between nodes:
//! a recording stays in the folder of the node that wrote it.

mod relay;
mod serve;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse_cluster::NonceUse;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::AppState;
use crate::error::ApiError;

pub(crate) use relay::fetch_recording;
pub use relay::watch_remote;
pub use serve::{Watching, routes};

/// The sending node's name.
const NODE: HeaderName = HeaderName::from_static("x-gatehouse-node");
/// When the request was signed, in Unix seconds.
const TIME: HeaderName = HeaderName::from_static("x-gatehouse-time");
/// A random UUID, new for every request: the owner accepts it once.
const NONCE: HeaderName = HeaderName::from_static("x-gatehouse-nonce");
/// The MAC (base64url, no padding).
const MAC: HeaderName = HeaderName::from_static("x-gatehouse-mac");

/// How far a signed request's time may be from the receiver's clock. Short,
/// so a captured request is soon useless; wide enough for clocks kept by
/// NTP and a slow first connection.
pub const VALIDITY: i64 = 30;

/// What is signed: every part of the request that says what it asks for.
fn signed_text(
    method: &str,
    path_and_query: &str,
    time: i64,
    nonce: &Uuid,
    from: &str,
    to: &str,
) -> String {
    format!("gatehouse-node-request\n{method}\n{path_and_query}\n{time}\n{nonce}\n{from}\n{to}")
}

/// The headers that sign `method` `path_and_query` from this node to node `to`.
pub(crate) fn sign(state: &AppState, method: &str, path_and_query: &str, to: &str) -> HeaderMap {
    let time = OffsetDateTime::now_utc().unix_timestamp();
    let nonce = Uuid::new_v4();
    let from = state.registry.node();
    let text = signed_text(method, path_and_query, time, &nonce, from, to);
    let mac = state.access.secrets().sign_for_nodes(text.as_bytes());
    let mut headers = HeaderMap::new();
    // A node name is a header-safe string (it came from a flag); if not, the
    // owner refuses the request and the caller learns why from its log.
    if let Ok(value) = HeaderValue::from_str(from) {
        headers.insert(NODE, value);
    }
    headers.insert(TIME, HeaderValue::from(time));
    if let Ok(value) = HeaderValue::from_str(&nonce.to_string()) {
        headers.insert(NONCE, value);
    }
    if let Ok(value) = HeaderValue::from_str(&URL_SAFE_NO_PAD.encode(mac)) {
        headers.insert(MAC, value);
    }
    headers
}

/// A request another node of this cluster signed: the handler may act for
/// it without a login (the asking node checked its caller's permission).
#[derive(Debug)]
pub struct FromNode {
    /// The asking node's name.
    pub node: String,
}

impl FromRequestParts<AppState> for FromNode {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let refused = |why: &str| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "node_unauthenticated",
                format!("not a request from another gateway node: {why}"),
            )
        };
        let Some(cluster) = &state.cluster else {
            return Err(ApiError::not_found("this gateway is not part of a cluster"));
        };
        let header = |name: &HeaderName| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (Some(node), Some(time), Some(nonce), Some(mac)) =
            (header(&NODE), header(&TIME), header(&NONCE), header(&MAC))
        else {
            return Err(refused("unsigned"));
        };
        let time: i64 = time.parse().map_err(|_| refused("bad time"))?;
        let nonce = Uuid::try_parse(&nonce).map_err(|_| refused("bad nonce"))?;
        let now = OffsetDateTime::now_utc().unix_timestamp();
        if (now - time).abs() > VALIDITY {
            return Err(refused(
                "signed too long ago, or the nodes' clocks disagree",
            ));
        }
        let mac = URL_SAFE_NO_PAD
            .decode(mac.as_bytes())
            .map_err(|_| refused("bad signature"))?;
        let path = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        let text = signed_text(
            parts.method.as_str(),
            path,
            time,
            &nonce,
            &node,
            state.registry.node(),
        );
        if !state
            .access
            .secrets()
            .verify_from_node(text.as_bytes(), &mac)
        {
            return Err(refused("bad signature"));
        }
        // Only now, signed by a node: an outsider cannot fill the memory.
        match cluster.claim_nonce(nonce, time + VALIDITY, now) {
            NonceUse::Fresh => {}
            NonceUse::Replayed => return Err(refused("already used (a replay)")),
            NonceUse::Full => {
                tracing::warn!(node = %node, "too many internal requests to remember their nonces");
                return Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "node_busy",
                    "too many internal requests at once; try again shortly",
                ));
            }
        }
        Ok(FromNode { node })
    }
}
