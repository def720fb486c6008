//! The HTTP front end: REST API, Server-Sent Events and terminal WebSockets,
//! with axum.
//!
//! [`AppState`] holds the services every handler needs (access control, the
//! session registry, the audit log). [`router`] builds the `/api/v1` routes
//! from the handlers in [`auth`], [`users`], [`connections`], [`terminal`],
//! [`sessions`], [`history`] and [`recordings`], and derives the OpenAPI description served
//! at `/api/v1/openapi.json` from the same handlers, so it cannot drift.
//! Every error leaves as `{"error": {"code", "message"}}` ([`error`]).
//! [`serve`] runs it on plain HTTP or, given a [`tls::Certificate`], on
//! HTTPS with HTTP/2.

pub mod approvals;
pub mod auth;
pub mod connections;
mod enforce;
pub mod error;
mod front;
pub mod history;
pub mod limits;
pub mod nodes;
pub mod observe;
mod openapi;
pub mod profile;
pub mod recordings;
pub mod second_factor;
pub mod sessions;
pub mod sharing;
pub mod sso;
pub mod terminal;
pub mod tls;
mod ui;
pub mod users;
pub mod watch;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::serve::ListenerExt;
pub use front::{Answer, Front};
use gatehouse_access::Access;
use gatehouse_audit::Audit;
use gatehouse_sessions::Registry;
use tokio_util::sync::CancellationToken;
use tower_http::trace::TraceLayer;
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

/// Settings of the HTTP front end.
#[derive(Clone, Debug)]
pub struct WebConfig {
    /// Mark the session cookie `Secure` (browsers still accept it on
    /// `http://localhost`; the binary forces it on whenever browsers reach
    /// the gateway over HTTPS).
    pub secure_cookies: bool,
    /// How long a login lasts.
    pub token_ttl: Duration,
    /// How long opening a target may take.
    pub connect_timeout: Duration,
    /// How often a terminal WebSocket is pinged.
    pub ws_ping_interval: Duration,
    /// A terminal client silent for this long is gone; its session ends.
    pub ws_client_timeout: Duration,
    /// The largest request body accepted.
    pub max_body_bytes: usize,
    /// Gateway-wide session limits (roles and connections may be stricter).
    pub session_limits: gatehouse_store::LimitSettings,
    /// Where recordings are read from (`None`: recordings are not served).
    pub recordings_dir: Option<std::path::PathBuf>,
    /// The SSH listener, shown to users so they can reach and verify it.
    pub ssh: Option<profile::SshListener>,
    /// OpenID Connect providers for single sign-on (none by default).
    pub sso: sso::SsoSettings,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            secure_cookies: true,
            token_ttl: Duration::from_secs(12 * 3600),
            connect_timeout: Duration::from_secs(10),
            ws_ping_interval: Duration::from_secs(15),
            ws_client_timeout: Duration::from_secs(45),
            max_body_bytes: 64 * 1024,
            session_limits: gatehouse_store::LimitSettings::default(),
            recordings_dir: None,
            ssh: None,
            sso: sso::SsoSettings::default(),
        }
    }
}

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// Accounts, permissions and connections.
    pub access: Access,
    /// The live sessions.
    pub registry: Registry,
    /// The audit log.
    pub audit: Audit,
    /// Front-end settings.
    pub config: Arc<WebConfig>,
    /// Cancelled when the gateway stops; long-lived streams end with it.
    pub shutdown: CancellationToken,
    /// The other nodes sharing the database, when there can be some
    /// (PostgreSQL): their sessions join the list, the feed and End Sessions.
    pub cluster: Option<gatehouse_cluster::Cluster>,
}

impl AppState {
    /// Opens sessions with this gateway's services and settings.
    pub fn opener(&self) -> gatehouse_connect::Opener {
        gatehouse_connect::Opener::new(
            self.access.clone(),
            self.registry.clone(),
            self.audit.clone(),
            gatehouse_connect::OpenSettings {
                connect_timeout: self.config.connect_timeout,
                session_limits: self.config.session_limits,
            },
            self.shutdown.clone(),
        )
    }
}

/// The `/api/v1` routes and their OpenAPI description.
pub fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    api_with(OpenApiRouter::new())
}

/// [`api`] with another front end's `/api/v1` routes (e.g. TCP tunnels),
/// described in the same OpenAPI document.
pub fn api_with(extra: OpenApiRouter<AppState>) -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let api = OpenApiRouter::<AppState>::new()
        .routes(routes!(auth::login))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::me))
        .routes(routes!(second_factor::login_code))
        .routes(routes!(second_factor::status))
        .routes(routes!(second_factor::enrol))
        .routes(routes!(second_factor::confirm))
        .routes(routes!(second_factor::disable))
        .routes(routes!(second_factor::reset))
        .routes(routes!(second_factor::set_role))
        .routes(routes!(sso::providers))
        .routes(routes!(sso::start))
        .routes(routes!(sso::callback))
        .routes(routes!(sso::exchange))
        .routes(routes!(profile::keys, profile::add_key))
        .routes(routes!(profile::remove_key))
        .routes(routes!(profile::gateway))
        .routes(routes!(approvals::get))
        .routes(routes!(approvals::approve))
        .routes(routes!(approvals::deny))
        .routes(routes!(users::create, users::list))
        .routes(routes!(users::update, users::delete))
        .routes(routes!(users::lock))
        .routes(routes!(users::unlock))
        .routes(routes!(connections::create, connections::list))
        .routes(routes!(connections::update, connections::delete))
        .routes(routes!(limits::roles))
        .routes(routes!(limits::set_role_limits))
        .routes(routes!(
            limits::connection_limits,
            limits::set_connection_limits
        ))
        .routes(routes!(terminal::open))
        .routes(routes!(sessions::list))
        .routes(routes!(sessions::events))
        // Sized for its 10,000 ids: the default limit stopped it near 1,600.
        .routes(routes!(sessions::end).layer(DefaultBodyLimit::max(sessions::END_BODY_LIMIT)))
        .routes(routes!(sessions::get))
        .routes(routes!(watch::watch))
        .routes(routes!(watch::join))
        .routes(routes!(sharing::share))
        .routes(routes!(sharing::unshare))
        .routes(routes!(sharing::suggestions))
        .routes(routes!(sharing::shared))
        .routes(routes!(sharing::remove_participant))
        .routes(routes!(recordings::settings, recordings::set_settings))
        .routes(routes!(recordings::recording))
        .routes(routes!(history::history))
        .routes(routes!(history::entry))
        .routes(routes!(history::audit))
        .merge(extra);
    let (router, mut doc) = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .nest("/api/v1", api)
        .split_for_parts();
    openapi::Answers.modify(&mut doc);
    (router, doc)
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    router_with(state, OpenApiRouter::new())
}

/// [`router`] with another front end's `/api/v1` routes, served and
/// described with the gateway's own (see [`api_with`]).
pub fn router_with(state: AppState, extra: OpenApiRouter<AppState>) -> Router {
    let (api, openapi) = api_with(extra);
    let openapi = Arc::new(openapi);
    let body_limit = state.config.max_body_bytes;
    api.route(
        "/api/v1/openapi.json",
        get(move || {
            let doc = openapi.clone();
            async move { axum::Json(doc.as_ref().clone()) }
        }),
    )
    .route("/metrics", get(observe::metrics_page))
    .merge(observe::health_routes())
    .merge(nodes::routes())
    .fallback(ui::serve)
    .method_not_allowed_fallback(error::method_not_allowed)
    .layer(axum::middleware::from_fn(observe::time_requests))
    .layer(DefaultBodyLimit::max(body_limit))
    .layer(TraceLayer::new_for_http())
    .with_state(state)
}

/// Serves the application on `listener` until `state.shutdown` is
/// cancelled: over TLS when given a `certificate`, else plain HTTP.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    certificate: Option<tls::Certificate>,
) -> std::io::Result<()> {
    let shutdown = state.shutdown.clone();
    serve_app(listener, router(state), None, certificate, shutdown).await
}

/// Serves `app` (the gateway's [`router`]) on `listener` until `shutdown`
/// is cancelled, with `front` (if any) answering the requests it takes
/// before the router sees them (see [`Front`]): over TLS when given a
/// `certificate` (see [`tls::serve`]: HTTP/2 by ALPN,
/// `Strict-Transport-Security` on every response), else plain HTTP.
///
/// Every connection sets `TCP_NODELAY`, as the SSH listener does: a
/// terminal's echo, or an event on a dashboard's stream, is a small write
/// that Nagle's algorithm would otherwise hold back until the client
/// acknowledged the previous one.
pub async fn serve_app(
    listener: tokio::net::TcpListener,
    app: Router,
    front: Option<Arc<dyn Front>>,
    certificate: Option<tls::Certificate>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    if let Some(certificate) = certificate {
        return tls::serve(listener, app, front, certificate, shutdown).await;
    }
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
    });
    axum::serve(listener, front::Connections { app, front })
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}
