//! The proxy against real servers: httpbin under gunicorn (installed by
//! `scripts/prerequisites`), small hyper and WebSocket targets written here,
//! and a gateway that serves `Proxy::forward` with hyper on an ephemeral port.

mod failures;
mod fixtures;
mod forwarding;
mod responses;
mod rewrite;
mod streaming;
mod tls;
mod websocket;
