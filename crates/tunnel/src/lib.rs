//! The TCP tunnel front end: native clients (`psql`, an RDP client, a Redis
//! tool) reach a `tcp` connection's target through `gatehouse tunnel`.
//!
//! A tunnel is one gateway session: one authenticated WebSocket,
//! `GET /api/v1/connections/{id}/tunnel` ([`routes`], in `route.rs`), that
//! carries many TCP connections multiplexed as [`frame::Frame`]s. The
//! session loop (`relay.rs`) registers the session through
//! [`gatehouse_connect::Opener`], reads frames from the client and writes
//! frames back from a writer task; each TCP connection is a stream task
//! (`stream.rs`) that dials the target and relays bytes both ways, counted
//! on the session (bytes, activity for the idle limit) and shown in its
//! detail (open and total connections, the client program). Each stream
//! has its own flow-control window both ways ([`flow`]), so a client that
//! stops reading one connection does not stall the others. Ending the
//! session aborts every stream at once and tells the client who ended it
//! and why. Contents are never recorded.

pub mod flow;
pub mod frame;
mod relay;
mod route;
mod stream;

use gatehouse_web::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use route::TunnelParams;

/// The tunnel's `/api/v1` route, documented, for [`gatehouse_web::router_with`].
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(route::open))
}
