//! `GET /api/v1/connections/{id}/tunnel`: who may open a tunnel, to what.

use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::response::Response;
use gatehouse_domain::{ConnectionId, Protocol};
use gatehouse_web::AppState;
use gatehouse_web::auth::Caller;
use gatehouse_web::error::{ApiError, ApiPath, ApiQuery};
use serde::Deserialize;

use crate::frame::MAX_FRAME;
use crate::relay::{self, Tunnel};

/// The WebSocket read buffer: a few small frames (a query, a keystroke of
/// an RDP session); a bulk transfer grows it for itself.
const READ_BUFFER: usize = 16 * 1024;
/// The longest client program name shown.
const MAX_PROGRAM: usize = 64;

/// How the tunnel describes itself.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TunnelParams {
    /// The client program used through the tunnel (e.g. `psql`), shown in
    /// Active Sessions; 1–64 printable characters.
    program: Option<String>,
}

/// Open a TCP tunnel to a `tcp` connection, as a WebSocket. One tunnel is
/// one session carrying many TCP connections: binary messages are frames
/// (kind byte `1` open, `2` data, `3` end of data, `4` close, `5` credit; a
/// big-endian `u32` stream id; the payload), text messages are JSON
/// (`tunnel` first, naming each stream's flow-control `window` in bytes;
/// `warning`; and `ended` with who ended the session and why). Each side
/// sends a stream's data only within its credit: the window to start
/// with, plus what the other side returned in credit frames (a big-endian
/// `u32` byte count) as it wrote the stream's bytes out.
#[utoipa::path(get, operation_id = "open_tunnel", path = "/connections/{id}/tunnel", tag = "sessions",
    params(("id" = uuid::Uuid, Path, description = "Connection id"), TunnelParams),
    responses((status = 101, description = "Switching to the tunnel WebSocket"),
              (status = 400, body = gatehouse_web::error::ErrorBody), (status = 401, body = gatehouse_web::error::ErrorBody),
              (status = 403, body = gatehouse_web::error::ErrorBody), (status = 404, body = gatehouse_web::error::ErrorBody)))]
pub(crate) async fn open(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ConnectionId>,
    ApiQuery(params): ApiQuery<TunnelParams>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let program = params.program.map(|p| p.trim().to_owned());
    if program.as_deref().is_some_and(|p| {
        p.is_empty() || p.chars().count() > MAX_PROGRAM || p.chars().any(char::is_control)
    }) {
        return Err(ApiError::invalid(
            "program must be 1–64 printable characters",
        ));
    }
    // Permission first: nobody without a grant learns more about the target.
    let spec = state.access.target_for(&caller.principal, id).await?;
    if spec.connection.protocol() != Protocol::Tcp {
        return Err(ApiError::invalid(format!(
            "{} is a {} connection: only tcp connections open as tunnels",
            spec.connection.name,
            spec.connection.protocol()
        )));
    }
    let ws = ws.map_err(|r| ApiError::new(r.status(), "websocket_required", r.body_text()))?;
    let tunnel = Tunnel {
        state,
        caller,
        spec,
        program,
    };
    Ok(ws
        .max_message_size(MAX_FRAME)
        .max_frame_size(MAX_FRAME)
        .read_buffer_size(READ_BUFFER)
        .on_upgrade(move |socket| relay::run(tunnel, socket)))
}
