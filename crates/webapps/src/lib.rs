//! The web-application front end: internal web apps published through the
//! gateway, each browser's use of an app a live session ([`WebApps`], in
//! `apps.rs`), on an HTTP reverse-proxy engine.
//!
//! A [`Proxy`] holds pooled keep-alive connections to targets and forwards one
//! browser request at a time with [`Proxy::forward`] to an [`Upstream`] (the
//! target's URL and a connection's settings: TLS trust, [`HostHeader`],
//! [`Injected`] credentials, the gateway's own cookie names). Bodies stream
//! both ways without buffering; every byte, every WebSocket and every finished
//! request is reported to the caller's [`Meter`] as counts and a [`RequestLog`].
//! A cancelled stop token cuts the request's response body or WebSocket at
//! once. What fails before a response is a [`ProxyError`] with a stable code
//! for the caller's error page.
//!
//! The engine knows no sessions, tickets or cookies of its own: [`WebApps`]
//! decides who may reach which app and owns the stop token and the meter.

mod apps;
mod body;
mod connect;
mod error;
mod headers;
mod meter;
mod pages;
mod proxy;
mod upstream;
mod websocket;

#[cfg(test)]
mod tests;

pub use apps::{APP_COOKIE, AppsConfig, WebApps};
pub use error::ProxyError;
pub use meter::{Meter, Outcome, RequestLog};
pub use proxy::Proxy;
pub use upstream::{HostHeader, Injected, InvalidUpstream, Upstream};

/// Errors carried inside streamed bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The response body [`Proxy::forward`] returns: the target's body, streamed and counted.
pub type ProxyBody = http_body_util::combinators::UnsyncBoxBody<bytes::Bytes, BoxError>;
