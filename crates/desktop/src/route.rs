//! `GET /api/v1/connections/{id}/desktop`: who may open a desktop, to what.

use axum::Extension;
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::response::Response;
use gatehouse_domain::{ConnectionId, Protocol};
use gatehouse_web::AppState;
use gatehouse_web::auth::Caller;
use gatehouse_web::error::{ApiError, ApiPath, ApiQuery};
use serde::Deserialize;

use crate::live::LiveDesktops;
use crate::relay::{self, Desktop};

/// The largest message a client may send: a clipboard paste.
pub(crate) const MAX_MESSAGE: usize = 256 * 1024;
/// The WebSocket read buffer: input events are a few dozen bytes; a paste
/// grows the buffer for itself.
const READ_BUFFER: usize = 4 * 1024;

/// The tab's size, in the desktop's URL.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct TabSize {
    /// The tab's width in pixels: an RDP desktop starts at this size
    /// (fitted to 200–8192, an even width); VNC keeps its own and scales.
    width: Option<u16>,
    /// The tab's height in pixels (with `width`).
    height: Option<u16>,
}

/// Open a graphical desktop on a `vnc` or `rdp` connection, as a WebSocket. The
/// gateway logs in to the desktop with the stored password and keeps its
/// screen. Binary messages from the gateway are changed regions of the
/// screen: `x`, `y`, `width`, `height` as big-endian `u16`, then the region
/// as a PNG image. Text messages are JSON: out, `desktop` first (session,
/// connection, `recording`, and `clipboard`: which directions the
/// connection allows, and `available`, whether the desktop's own clipboard
/// is there — `true` for VNC, `null` for RDP until its server brings the
/// clipboard channel up, and always with both directions off), `size` whenever the screen's size changes,
/// `clipboard` (`text`, a copy on the desktop), `clipboard_status`
/// (`available`: `true` when an RDP server's clipboard comes up, `false`
/// when it did not within 8 s of the first picture or never joined the
/// channel; it can turn `true` later), `participants`, `warning`, `error`
/// and `ended` (who ended the session and why); in, `key` (`keysym`, `down`), `pointer` (`x`, `y`,
/// `buttons` as the RFB mask), `clipboard` (`text`), `refresh`,
/// `keep_alive` and `resize` (`width`, `height`: the tab's new size, which
/// an RDP server that supports display control takes, answering with a
/// `size`). With a clipboard direction switched off, the desktop's
/// copies are not sent and a paste is answered with the error
/// `clipboard_off`; to a desktop whose server offers no clipboard, with
/// `clipboard_unavailable`.
#[utoipa::path(get, operation_id = "open_desktop", path = "/connections/{id}/desktop", tag = "sessions",
    params(("id" = uuid::Uuid, Path, description = "Connection id"), TabSize),
    responses((status = 101, description = "Switching to the desktop WebSocket"),
              (status = 400, body = gatehouse_web::error::ErrorBody), (status = 401, body = gatehouse_web::error::ErrorBody),
              (status = 403, body = gatehouse_web::error::ErrorBody), (status = 404, body = gatehouse_web::error::ErrorBody)))]
pub(crate) async fn open(
    State(state): State<AppState>,
    Extension(live): Extension<LiveDesktops>,
    caller: Caller,
    ApiPath(id): ApiPath<ConnectionId>,
    ApiQuery(tab): ApiQuery<TabSize>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    // Permission first: nobody without a grant gets as far as the target.
    let spec = state.access.target_for(&caller.principal, id).await?;
    if !matches!(spec.connection.protocol(), Protocol::Vnc | Protocol::Rdp) {
        return Err(ApiError::invalid(format!(
            "{} is a {} connection: only vnc and rdp connections open as desktops",
            spec.connection.name,
            spec.connection.protocol()
        )));
    }
    let ws = ws.map_err(|r| ApiError::new(r.status(), "websocket_required", r.body_text()))?;
    let desktop = Desktop {
        state,
        caller,
        spec,
        live,
        size: tab.width.zip(tab.height),
    };
    Ok(ws
        .max_message_size(MAX_MESSAGE)
        .read_buffer_size(READ_BUFFER)
        .on_upgrade(move |socket| relay::run(desktop, socket)))
}
