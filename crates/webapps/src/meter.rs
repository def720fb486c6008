//! What the proxy reports about each request to the session that owns it.

use std::time::Duration;

use serde::Serialize;
use time::OffsetDateTime;

/// Counters and events for the session that owns a request; implemented by the caller.
///
/// Called from the tasks that move the bytes, so implementations must be quick
/// and must not block (an atomic add, a bounded channel's `try_send`).
pub trait Meter: Send + Sync + 'static {
    /// `n` more body bytes (or WebSocket bytes) came from the browser.
    fn bytes_from_client(&self, n: u64);
    /// `n` more body bytes (or WebSocket bytes) went to the browser.
    fn bytes_to_client(&self, n: u64);
    /// A WebSocket upgrade opened (`true`) or closed (`false`).
    fn websocket(&self, opened: bool);
    /// Once per request: when its response body ended or was cut, its WebSocket
    /// closed, it failed before a response, or the caller dropped it unanswered.
    fn finished(&self, entry: RequestLog);
}

/// One line of a web-app session's request log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestLog {
    /// When the request arrived.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The request method, e.g. `GET`.
    pub method: String,
    /// The path the browser asked for, query included.
    pub path: String,
    /// The status sent to the browser: the target's, the one the caller renders for a
    /// [`ProxyError`](crate::ProxyError) ([`ProxyError::status`](crate::ProxyError::status)),
    /// or 499 when the caller dropped the request before the target answered.
    pub status: u16,
    /// Body bytes from the browser (WebSocket: every byte the browser sent after the upgrade).
    pub bytes_in: u64,
    /// Body bytes to the browser (WebSocket: every byte the target sent after the upgrade).
    pub bytes_out: u64,
    /// From the request's arrival to its end.
    #[serde(rename = "duration_ms", serialize_with = "millis")]
    pub duration: Duration,
    /// Whether the request became a WebSocket.
    pub websocket: bool,
    /// How it ended.
    pub outcome: Outcome,
}

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The whole response went to the browser (or the WebSocket closed normally).
    Completed,
    /// Cut short: the session was stopped, or the browser went away.
    Cut,
    /// The target failed: unreachable, too slow, or its connection broke.
    Error,
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
