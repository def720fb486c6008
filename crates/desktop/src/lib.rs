//! The desktop front end: graphical desktops (VNC and RDP) in a browser tab.
//!
//! A desktop is one gateway session: one authenticated WebSocket,
//! `GET /api/v1/connections/{id}/desktop` ([`routes`], in `route.rs`). The
//! gateway itself is the desktop's client — VNC with the `vnc-rs` crate
//! (`vnc.rs`), RDP with IronRDP's crates (`rdp.rs`, keys as scancodes in
//! `scancode.rs`, the server's certificate pinned on first use, the
//! clipboard channel in `rdp_clipboard.rs` — whether the server has one
//! at all told to the tab by `clipboard_news.rs` — and the tab's size
//! asked of the server and followed in `rdp_display.rs`), both behind
//! one [`remote`] seam: it logs in with the connection's stored password,
//! so the user never learns it, and keeps the screen in a [`framebuffer`]
//! of its own. The session
//! loop (`relay.rs`) paints what the target sends into that framebuffer and
//! sends the browser only the regions that changed, as PNG pictures a
//! canvas draws natively; the browser's keys, pointer and clipboard go the
//! other way. Because the gateway holds the whole picture, one browser
//! client serves any desktop protocol, and a watcher (`watch.rs`, through
//! the [`live`] table) starts from the current screen and then gets the
//! owner's own stream, input dropped, for as long as the watcher's login
//! and `sessions.watch` hold. A recorded desktop's pictures go to its
//! session's recording through the handle: key frames of the whole screen
//! and the regions between them, so a replay can seek, coalesced to a pace
//! the recording's size can bear (`pace.rs`: typing key by key, a busy
//! screen about one screen a second). The clipboard
//! crosses only in the directions the connection allows. Input is the
//! session's activity (a changing screen is not a user at work), and
//! ending the session closes the target's connection at once and tells
//! the browser who ended it and why.

mod clipboard_news;
mod framebuffer;
mod join;
mod live;
mod pace;
mod paste;
mod rdp;
mod rdp_clipboard;
mod rdp_display;
mod rdp_idle;
mod relay;
mod remote;
mod route;
mod scancode;
mod vnc;
mod watch;

use axum::Extension;

use gatehouse_web::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The desktop's `/api/v1` routes, documented, for [`gatehouse_web::router_with`].
/// The table of live desktops rides along as an extension: it belongs to
/// this front end, not to the state every front end shares.
pub fn routes() -> OpenApiRouter<AppState> {
    routes_and_internal().0
}

/// [`routes`], and the internal route another gateway node watches this
/// node's desktops through (issue 20; outside `/api/v1` and its document),
/// sharing one table of live desktops.
pub fn routes_and_internal() -> (OpenApiRouter<AppState>, axum::Router<AppState>) {
    let live = live::LiveDesktops::default();
    let api = OpenApiRouter::new()
        .routes(routes!(route::open))
        .routes(routes!(watch::watch))
        .routes(routes!(join::join))
        .layer(Extension(live.clone()));
    let internal = axum::Router::new()
        .route(
            "/internal/v1/sessions/{id}/desktop/watch",
            axum::routing::get(watch::internal),
        )
        .layer(Extension(live));
    (api, internal)
}
