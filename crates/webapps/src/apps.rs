//! Web applications as gateway sessions: the front end that publishes each
//! `http` connection on a host of its own, `{connection}.{apps_domain}`, or
//! (`publish: path`, for apps with a base path) under `/apps/{connection}/`
//! on the gateway's own host, where the ticket and cookie below are scoped
//! to that path instead.
//!
//! Opening an app goes through the gateway: `/apps/launch/{name}` (the
//! gateway's own host, where its login cookie is) checks the grant and
//! sends the browser to the app host with a one-time ticket; redeeming it
//! there (`/.gatehouse/enter`) opens a session in the registry and sets a
//! host-only cookie scoped to that app. Every request with that cookie is
//! proxied to the app and counted on the session; when the session ends —
//! End Sessions, a lock, a revoked grant, a policy — its in-flight
//! responses and WebSockets are cut and the next request gets a page
//! saying who ended it and why.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, Path, Query, Request, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use base64::Engine;
use bytes::Bytes;
use gatehouse_access::{Principal, TargetSpec};
use gatehouse_connect::{Requester, action};
use gatehouse_domain::{
    ConnectionId, ConnectionName, EndReason, HttpTarget, Injection, Publish, Target,
};
use gatehouse_sessions::{EndRequest, SessionHandle};
use gatehouse_web::auth::Caller;
use gatehouse_web::{Answer, AppState, Front};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, header};
use serde::Deserialize;
use serde_json::json;
use tokio::time::Instant;

use crate::pages;
use crate::{Injected, Meter, Outcome, Proxy, RequestLog, Upstream};

/// The app session cookie: host-only, so it never reaches another app or
/// the gateway's own host.
pub const APP_COOKIE: &str = "gatehouse_app";
/// How long a launch ticket may wait to be redeemed.
const TICKET_TTL: Duration = Duration::from_secs(60);
/// How long an ended session's page is remembered for its cookie.
const ENDED_KEPT: Duration = Duration::from_secs(3600);
/// At most this many ended sessions are remembered; the oldest go first.
const ENDED_MAX: usize = 10_000;
/// At most this many unredeemed tickets wait at once.
const TICKETS_MAX: usize = 10_000;
/// A session's counters reach Active Sessions at most this long after a
/// request changed them (which sends changes once a second).
const PUBLISH_EVERY: Duration = Duration::from_millis(200);

/// How the gateway publishes web applications.
#[derive(Clone, Debug)]
pub struct AppsConfig {
    /// App hosts are `{connection}.{apps_domain}`.
    pub apps_domain: String,
    /// `https` when browsers reach the gateway over TLS (cookies are then
    /// `Secure`), else `http`.
    pub public_scheme: &'static str,
    /// An app session with no request and nothing in flight for this long
    /// ends as `client_closed`: the browser went away.
    pub quiet_close: Duration,
    /// How long dialling the app and waiting for its response headers may take.
    pub connect_timeout: Duration,
    /// How long the app may take to start its response.
    pub response_timeout: Duration,
}

impl Default for AppsConfig {
    fn default() -> Self {
        Self {
            apps_domain: "apps.localhost".into(),
            public_scheme: "http",
            quiet_close: Duration::from_secs(30 * 60),
            connect_timeout: Duration::from_secs(10),
            response_timeout: Duration::from_secs(60),
        }
    }
}

/// The web-application front end. Cheap to clone.
#[derive(Clone)]
pub struct WebApps {
    inner: Arc<Inner>,
}

struct Inner {
    state: AppState,
    proxy: Proxy,
    config: AppsConfig,
    tickets: Mutex<HashMap<String, Ticket>>,
    sessions: Mutex<HashMap<String, Arc<AppSession>>>,
    ended: Mutex<HashMap<String, Ended>>,
}

/// Where a request reached an app: on its own host, or under
/// `/apps/{name}/` on the gateway's host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    Host,
    Path,
}

impl Place {
    fn of(target: &Target) -> Option<Place> {
        match target.http()?.publish {
            Publish::Host => Some(Place::Host),
            Publish::Path => Some(Place::Path),
        }
    }

    /// Where the app's pages start: `/` on its host, `/apps/{name}/` under a path.
    fn root(self, name: &str) -> String {
        match self {
            Place::Host => "/".into(),
            Place::Path => format!("/apps/{name}/"),
        }
    }
}

/// A launch waiting to be redeemed on the app host.
struct Ticket {
    place: Place,
    principal: Principal,
    connection: ConnectionId,
    name: ConnectionName,
    next: String,
    expires: Instant,
}

/// What an ended session's cookie is shown.
struct Ended {
    name: ConnectionName,
    place: Place,
    message: String,
    at: Instant,
}

/// One browser's live use of one app.
struct AppSession {
    handle: SessionHandle,
    name: ConnectionName,
    place: Place,
    upstream: Upstream,
    /// Cancelled when the session ends: cuts every request's response and
    /// WebSocket. One for the session, not one per request (a child token
    /// per request locked the session's token to join and leave its tree).
    stop: tokio_util::sync::CancellationToken,
    username: String,
    redact_query: bool,
    requests: AtomicU64,
    in_flight: AtomicI64,
    websockets: AtomicI64,
    /// Milliseconds since `opened` of the last request.
    last_request_ms: AtomicU64,
    /// The last finished request, until it is published.
    last_request: Mutex<Option<LastRequest>>,
    /// Milliseconds since `opened` of the last publish.
    published_ms: AtomicU64,
    /// Counters changed since the last publish: the watch task publishes
    /// them within [`PUBLISH_EVERY`].
    unpublished: AtomicBool,
    publish_later: tokio::sync::Notify,
    opened: Instant,
    /// What every request of the session counts and logs on (made once).
    meter: Arc<dyn Meter>,
}

impl WebApps {
    /// The front end over the gateway's services.
    pub fn new(state: AppState, config: AppsConfig) -> Self {
        let proxy = Proxy::new(config.connect_timeout, config.response_timeout);
        Self {
            inner: Arc::new(Inner {
                state,
                proxy,
                config,
                tickets: Mutex::default(),
                sessions: Mutex::default(),
                ended: Mutex::default(),
            }),
        }
    }

    /// The gateway's route this front end adds: `/apps/launch/{name}`, to
    /// merge into the gateway's router. Requests to app hosts and app
    /// paths are the front end's (see [`Front`]).
    pub fn launch_routes(&self) -> Router {
        Router::new()
            .route("/apps/launch/{name}", get(launch))
            .with_state(self.clone())
    }

    /// The connection an app host names, if the host is an app host.
    fn app_name(&self, headers: &HeaderMap, uri: &Uri) -> Option<String> {
        let host = match headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
            Some(host) => host,
            None => uri.authority()?.as_str(),
        };
        let host = strip_port(host).as_bytes();
        let domain = self.inner.config.apps_domain.as_bytes();
        // `{name}.{apps_domain}`, the domain in any case.
        let dot = host.len().checked_sub(domain.len() + 1)?;
        if host[dot] != b'.' || !host[dot + 1..].eq_ignore_ascii_case(domain) {
            return None;
        }
        let name = std::str::from_utf8(&host[..dot]).ok()?;
        (!name.is_empty() && !name.contains('.')).then(|| name.to_ascii_lowercase())
    }
}

/// App requests are answered before the gateway's routing: a proxied
/// request matches none of the gateway's routes and passes through none of
/// its layers.
impl Front for WebApps {
    fn answer(&self, req: Request, peer: SocketAddr) -> Result<Answer, Request> {
        let app = match self.app_name(req.headers(), req.uri()) {
            Some(name) => Some((name, Place::Host)),
            None => path_app(req.uri().path()).map(|name| (name, Place::Path)),
        };
        let Some((name, place)) = app else {
            return Err(req);
        };
        let apps = self.clone();
        Ok(Box::pin(async move {
            apps.app_request(name, place, req, peer.ip()).await
        }))
    }
}

/// The host (and port) a request was sent to: its `Host` header, or for
/// HTTP/2, which sends none, its URI's authority.
fn authority(headers: &HeaderMap, uri: &Uri) -> Option<String> {
    match headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
        Some(host) => Some(host.to_owned()),
        None => uri.authority().map(|a| a.as_str().to_owned()),
    }
}

/// `:port` of `host:port`, or nothing.
fn port_suffix(authority: &str) -> String {
    authority
        .rsplit_once(':')
        .filter(|(_, p)| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        .map(|(_, p)| format!(":{p}"))
        .unwrap_or_default()
}

/// `host` without a `:port`.
fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_once(']').map_or(host, |(h, _)| &h[1..]);
    }
    host.split(':').next().unwrap_or(host)
}

/// The app a gateway path names: `/apps/{name}/…`, but not `/apps/launch/…`.
fn path_app(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/apps/")?;
    let (name, _) = rest.split_once('/')?;
    (!name.is_empty() && name != "launch").then(|| name.to_ascii_lowercase())
}

#[derive(Deserialize)]
struct LaunchQuery {
    next: Option<String>,
}

/// Opens an app: checks the caller may use it and sends the browser to the
/// app host with a one-time ticket.
async fn launch(
    State(apps): State<WebApps>,
    Path(name): Path<String>,
    Query(query): Query<LaunchQuery>,
    req: Request,
) -> Response {
    let (mut parts, _) = req.into_parts();
    let headers = parts.headers.clone();
    let caller = Caller::from_request_parts(&mut parts, &apps.inner.state).await;
    let Ok(caller) = caller else {
        // Not logged in to the gateway: log in, then come back here.
        let back = format!(
            "/apps/launch/{}{}",
            urlencode(&name),
            query
                .next
                .as_deref()
                .map(|n| format!("?next={}", urlencode(n)))
                .unwrap_or_default()
        );
        return Redirect::to(&format!("/?next={}", urlencode(&back))).into_response();
    };
    let Ok(name) = ConnectionName::parse(&name) else {
        return pages::not_found(&headers, &name);
    };
    let state = &apps.inner.state;
    let granted = match state.access.connections_for(&caller.principal).await {
        Ok(list) => list,
        Err(e) => {
            tracing::error!(error = %e, "could not list connections for an app launch");
            return pages::error(
                &headers,
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "The gateway could not check your access; it is logged.",
            );
        }
    };
    let Some(connection) = granted
        .into_iter()
        .find(|c| c.name == name && matches!(c.target, Target::Http(_)))
    else {
        return pages::error(
            &headers,
            StatusCode::FORBIDDEN,
            "forbidden",
            &format!(
                "{name} is not a web application granted to {}.",
                caller.name()
            ),
        );
    };
    // Only a path of this app: its own host's, or under its prefix.
    let root = Place::of(&connection.target)
        .unwrap_or(Place::Host)
        .root(connection.name.as_str());
    let next = query
        .next
        .filter(|n| n.starts_with(&root) && !n.starts_with("//"))
        .unwrap_or(root);
    let ticket = token();
    {
        let mut tickets = lock(&apps.inner.tickets);
        let now = Instant::now();
        tickets.retain(|_, t| t.expires > now);
        if tickets.len() >= TICKETS_MAX {
            return pages::error(
                &headers,
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "Too many apps are being opened at once; try again.",
            );
        }
        tickets.insert(
            ticket.clone(),
            Ticket {
                place: Place::of(&connection.target).unwrap_or(Place::Host),
                principal: caller.principal.clone(),
                connection: connection.id,
                name: connection.name.clone(),
                next,
                expires: now + TICKET_TTL,
            },
        );
    }
    let config = &apps.inner.config;
    let enter = match Place::of(&connection.target) {
        // Same origin: the gateway's own host.
        Some(Place::Path) => format!("/apps/{}/.gatehouse/enter?ticket={ticket}", connection.name),
        _ => {
            let port = port_suffix(&authority(&headers, &parts.uri).unwrap_or_default());
            format!(
                "{}://{}.{}{port}/.gatehouse/enter?ticket={ticket}",
                config.public_scheme, connection.name, config.apps_domain
            )
        }
    };
    Redirect::to(&enter).into_response()
}

impl WebApps {
    /// A request to the app host of connection `name`.
    ///
    /// A live session's request is forwarded with nothing copied or built
    /// on the way: the cookie is looked up where it lies in the headers.
    async fn app_request(
        &self,
        name: String,
        place: Place,
        req: Request,
        client: IpAddr,
    ) -> Response {
        if is_enter(req.uri().path(), place, &name) {
            let home = self.home(place, req.headers(), req.uri());
            return self.enter(&name, place, &home, req, client).await;
        }
        if let Some(token) = app_cookie(req.headers()) {
            let session = lock(&self.inner.sessions).get(token).cloned();
            if let Some(session) = session.filter(|s| s.name.as_str() == name && s.place == place) {
                return self.forward(session, req, client).await;
            }
            if let Some(ended) = lock(&self.inner.ended).get(token)
                && ended.name.as_str() == name
                && ended.place == place
            {
                let home = self.home(place, req.headers(), req.uri());
                return pages::ended(req.headers(), ended.name.as_str(), &ended.message, &home);
            }
        }
        let headers = req.headers();
        // No session here: what is no web application published here is a
        // 404, any other request goes to log in through the gateway.
        match ConnectionName::parse(&name) {
            Ok(parsed) if self.is_app(&parsed, place).await => {}
            _ => return pages::not_found(headers, &name),
        }
        let next = req.uri().path_and_query().map_or("/", |p| p.as_str());
        let home = self.home(place, headers, req.uri());
        let launch = format!("{home}/apps/launch/{name}?next={}", urlencode(next));
        if pages::wants_html(headers) && req.method() == http::Method::GET {
            Redirect::to(&launch).into_response()
        } else {
            pages::json_error(
                StatusCode::UNAUTHORIZED,
                "app_login_required",
                &format!("Open {name} through the gateway first: {launch}"),
            )
        }
    }

    /// Where the gateway's own pages are, as seen from `place`: another
    /// origin from an app host, this one under a path.
    fn home(&self, place: Place, headers: &HeaderMap, uri: &Uri) -> String {
        match place {
            Place::Host => self.gateway_home(headers, uri),
            Place::Path => String::new(),
        }
    }

    /// Whether `name` is a web application published at `place`.
    async fn is_app(&self, name: &ConnectionName, place: Place) -> bool {
        match self.inner.state.access.store().list_connections().await {
            Ok(list) => list
                .iter()
                .any(|c| &c.name == name && Place::of(&c.target) == Some(place)),
            Err(e) => {
                tracing::error!(error = %e, "could not look up an app host");
                false
            }
        }
    }

    /// The gateway's own origin, as seen from an app host: the apps
    /// domain's parent (`apps.localhost` → `localhost`, `apps.gw.example.com`
    /// → `gw.example.com`) on the port the request came to.
    fn gateway_home(&self, headers: &HeaderMap, uri: &Uri) -> String {
        let config = &self.inner.config;
        let port = port_suffix(&authority(headers, uri).unwrap_or_default());
        let gateway = config
            .apps_domain
            .split_once('.')
            .map_or("localhost", |(_, parent)| parent);
        format!("{}://{gateway}{port}", config.public_scheme)
    }

    /// Redeems a launch ticket: opens the session and sets its cookie.
    async fn enter(
        &self,
        name: &str,
        place: Place,
        home: &str,
        req: Request,
        client: IpAddr,
    ) -> Response {
        let headers = req.headers().clone();
        let ticket = req
            .uri()
            .query()
            .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("ticket=")))
            .unwrap_or_default()
            .to_owned();
        let redeemed = {
            let mut tickets = lock(&self.inner.tickets);
            tickets.remove(&ticket).filter(|t| {
                t.expires > Instant::now() && t.name.as_str() == name && t.place == place
            })
        };
        let Some(ticket) = redeemed else {
            // Expired, reused or for another app: start again from the gateway.
            let launch = format!("{home}/apps/launch/{name}");
            return Redirect::to(&launch).into_response();
        };
        let client_addr = client.to_string();
        match self.open(&ticket, &client_addr, &headers).await {
            Ok(token) => {
                let secure = if self.inner.config.public_scheme == "https" {
                    "; Secure"
                } else {
                    ""
                };
                // Host-only on an app host; on the gateway's host, only
                // under the app's own path.
                let path = place.root(name);
                let cookie =
                    format!("{APP_COOKIE}={token}; Path={path}; HttpOnly; SameSite=Lax{secure}");
                let mut response = Redirect::to(&ticket.next).into_response();
                if let Ok(value) = HeaderValue::from_str(&cookie) {
                    response.headers_mut().insert(header::SET_COOKIE, value);
                }
                response
            }
            Err(response) => response,
        }
    }

    /// Opens the session a redeemed ticket stands for.
    async fn open(
        &self,
        ticket: &Ticket,
        client_addr: &str,
        headers: &HeaderMap,
    ) -> Result<String, Response> {
        let state = &self.inner.state;
        let name = &ticket.name;
        let spec = state
            .access
            .target_for(&ticket.principal, ticket.connection)
            .await
            .map_err(|e| {
                pages::error(headers, StatusCode::FORBIDDEN, "forbidden", &e.to_string())
            })?;
        let upstream = upstream(&spec, &ticket.principal).map_err(|message| {
            pages::error(
                headers,
                StatusCode::BAD_GATEWAY,
                "app_misconfigured",
                &format!("{name}: {message}"),
            )
        })?;
        let who = Requester {
            principal: &ticket.principal,
            client_addr,
        };
        let handle = state
            .opener()
            .register(who, &spec, None)
            .await
            .map_err(|e| {
                pages::error(
                    headers,
                    StatusCode::SERVICE_UNAVAILABLE,
                    e.code(),
                    &e.to_string(),
                )
            })?;
        let redact_query = spec
            .connection
            .target
            .http()
            .is_some_and(|h| h.redact_query);
        let token = token();
        let stop = handle.end_signal();
        let session = Arc::new_cyclic(|me| AppSession {
            meter: Arc::new(SessionMeter(me.clone())),
            handle,
            name: spec.connection.name.clone(),
            place: ticket.place,
            upstream,
            stop,
            username: ticket.principal.username.to_string(),
            redact_query,
            requests: AtomicU64::new(0),
            in_flight: AtomicI64::new(0),
            websockets: AtomicI64::new(0),
            last_request_ms: AtomicU64::new(0),
            last_request: Mutex::new(None),
            published_ms: AtomicU64::new(0),
            unpublished: AtomicBool::new(false),
            publish_later: tokio::sync::Notify::new(),
            opened: Instant::now(),
        });
        session.publish();
        lock(&self.inner.sessions).insert(token.clone(), session.clone());
        tokio::spawn(self.clone().watch(token.clone(), session));
        Ok(token)
    }

    /// Waits for the session to end — asked to, or quiet for too long —
    /// then closes it and remembers why for its cookie.
    async fn watch(self, token: String, session: Arc<AppSession>) {
        let quiet = self.inner.config.quiet_close;
        let stop = session.handle.end_signal();
        loop {
            let check = quiet
                .min(Duration::from_secs(30))
                .max(Duration::from_millis(100));
            tokio::select! {
                _ = stop.cancelled() => break,
                () = session.publish_later.notified() => {
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        () = tokio::time::sleep(PUBLISH_EVERY) => {
                            if session.unpublished.load(Ordering::Acquire) {
                                session.publish();
                            }
                        }
                    }
                }
                _ = tokio::time::sleep(check) => {
                    let last = Duration::from_millis(session.last_request_ms.load(Ordering::Relaxed));
                    let quiet_for = session.opened.elapsed().saturating_sub(last);
                    let idle = session.in_flight.load(Ordering::Relaxed) <= 0 && quiet_for >= quiet;
                    if idle {
                        session.handle.settle(EndReason::ClientClosed);
                    }
                }
            }
        }
        lock(&self.inner.sessions).remove(&token);
        let request = session
            .handle
            .end_request()
            .unwrap_or_else(|| EndRequest::because(EndReason::Error));
        let message = end_message(&request);
        {
            let mut ended = lock(&self.inner.ended);
            let now = Instant::now();
            ended.retain(|_, e| now.duration_since(e.at) < ENDED_KEPT);
            if ended.len() >= ENDED_MAX
                && let Some(oldest) = ended
                    .iter()
                    .min_by_key(|(_, e)| e.at)
                    .map(|(k, _)| k.clone())
            {
                ended.remove(&oldest);
            }
            ended.insert(
                token,
                Ended {
                    name: session.name.clone(),
                    place: session.place,
                    message,
                    at: now,
                },
            );
        }
        // A request being cut may hold the session for a moment (its meter
        // upgrades a weak reference per call); wait for it, boundedly. If
        // it is still held, the reason stands and the last holder's drop
        // removes the session.
        let mut session = session;
        for _ in 0..200 {
            match Arc::try_unwrap(session) {
                Ok(alone) => {
                    alone.handle.finish(request.reason);
                    return;
                }
                Err(shared) => session = shared,
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        session.handle.settle(request.reason);
    }

    /// Proxies one request of a live session.
    async fn forward(&self, session: Arc<AppSession>, req: Request, client: IpAddr) -> Response {
        // What an error page needs of the request, taken before it is sent on.
        let html = pages::wants_html(req.headers());
        // The app host the browser used: its `Host`, or for HTTP/2 the URI's
        // authority (see [`authority`]), kept as the header value it came in.
        let host = req.headers().get(header::HOST);
        let public_host = match host.filter(|h| h.to_str().is_ok()) {
            Some(host) => host.clone(),
            None => req
                .uri()
                .authority()
                .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
                .unwrap_or(HeaderValue::from_static("")),
        };
        session.request_started();
        let meter = session.meter.clone();
        let result = self
            .inner
            .proxy
            .forward(
                &session.upstream,
                public_host.to_str().unwrap_or_default(),
                self.inner.config.public_scheme,
                client,
                req,
                meter,
                &session.stop,
            )
            .await;
        match result {
            Ok(response) => response.map(Body::new),
            Err(error) => {
                let status = error.status();
                let message = format!("{}: {error}", session.name);
                if error.code() != "session_stopped" {
                    self.inner
                        .state
                        .audit
                        .record(
                            gatehouse_audit::Event::new(action::SESSION_FAILED)
                                .actor(&session.username)
                                .target(session.name.as_str())
                                .details(json!({
                                    "session": session.handle.id(),
                                    "code": error.code(),
                                    "error": error.to_string(),
                                    "target": session.upstream.url().to_string(),
                                })),
                        )
                        .await;
                }
                pages::error_for(html, status, error.code(), &message)
            }
        }
    }
}

impl AppSession {
    fn request_started(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.last_request_ms
            .fetch_max(self.opened.elapsed().as_millis() as u64, Ordering::Relaxed);
        self.handle.keep_alive();
        self.publish_soon();
    }

    /// Tells Active Sessions the counters now if they were not told for
    /// [`PUBLISH_EVERY`], else leaves them to the session's watch task.
    /// Active Sessions is sent changes once a second anyway; publishing on
    /// every request (four details, each its own lock and key) was a
    /// share of every proxied request's cost.
    fn publish_soon(&self) {
        let now = self.opened.elapsed().as_millis() as u64;
        let last = self.published_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= PUBLISH_EVERY.as_millis() as u64
            && self
                .published_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.publish();
        } else if !self.unpublished.swap(true, Ordering::AcqRel) {
            self.publish_later.notify_one();
        }
    }

    /// Tells Active Sessions the counters and the last request.
    fn publish(&self) {
        self.unpublished.store(false, Ordering::Release);
        self.handle
            .set_detail("requests", json!(self.requests.load(Ordering::Relaxed)));
        self.handle.set_detail(
            "open_requests",
            json!(self.in_flight.load(Ordering::Relaxed).max(0)),
        );
        self.handle.set_detail(
            "websockets",
            json!(self.websockets.load(Ordering::Relaxed).max(0)),
        );
        let last = lock(&self.last_request).take();
        if let Some(line) = last {
            self.handle.set_detail("last_request", json!(line));
        }
    }
}

/// Counts a request's bytes and logs it on its session. It holds the
/// session weakly: a response still being cut never keeps an ended
/// session listed.
struct SessionMeter(std::sync::Weak<AppSession>);

impl Meter for SessionMeter {
    fn bytes_from_client(&self, n: u64) {
        if let Some(session) = self.0.upgrade() {
            session.handle.record_transfer(n as usize, 0);
        }
    }

    fn bytes_to_client(&self, n: u64) {
        if let Some(session) = self.0.upgrade() {
            session.handle.record_transfer(0, n as usize);
        }
    }

    fn websocket(&self, opened: bool) {
        if let Some(session) = self.0.upgrade() {
            session
                .websockets
                .fetch_add(if opened { 1 } else { -1 }, Ordering::Relaxed);
            session.publish();
        }
    }

    fn finished(&self, mut entry: RequestLog) {
        let Some(session) = self.0.upgrade() else {
            return;
        };
        session.in_flight.fetch_sub(1, Ordering::Relaxed);
        session.requests.fetch_add(1, Ordering::Relaxed);
        if session.redact_query
            && let Some((path, _)) = entry.path.split_once('?')
        {
            entry.path = format!("{path}?…");
        }
        let mut json = serde_json::to_vec(&entry).unwrap_or_default();
        json.extend_from_slice(b"\r\n");
        session.handle.record_log(&Bytes::from(json));
        if entry.outcome == Outcome::Error {
            tracing::debug!(
                session = %session.handle.id(),
                method = %entry.method,
                path = %entry.path,
                status = entry.status,
                "app request failed"
            );
        }
        // The line Active Sessions shows is made when it is published.
        *lock(&session.last_request) = Some(LastRequest {
            method: entry.method,
            path: entry.path,
            status: entry.status,
        });
        session.publish_soon();
    }
}

/// The request Active Sessions shows last, kept as it came until it is shown.
struct LastRequest {
    method: String,
    path: String,
    status: u16,
}

impl std::fmt::Display for LastRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} {}", self.method, self.path, self.status)
    }
}

impl serde::Serialize for LastRequest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// How the proxy reaches the app of `spec`, as `who`.
fn upstream(spec: &TargetSpec, who: &Principal) -> Result<Upstream, String> {
    let Target::Http(app) = &spec.connection.target else {
        return Err("not a web application".into());
    };
    let url: Uri = app.url.parse().map_err(|e| format!("url: {e}"))?;
    let mut up = Upstream::new(url).map_err(|e| e.to_string())?;
    up.tls_verify = app.tls_verify;
    up.ca_pem = app.ca_certificate.clone();
    up.host_header = match app.host_header {
        gatehouse_domain::HostHeader::Target => crate::HostHeader::Target,
        gatehouse_domain::HostHeader::Public => crate::HostHeader::Public,
    };
    up.inject = injected(app, spec)?;
    up.identity = match &app.identity_header {
        Some(name) => Some((
            HeaderName::try_from(name.as_str()).map_err(|e| format!("identity_header: {e}"))?,
            who.username.to_string(),
        )),
        None => None,
    };
    up.strip_cookies = vec![APP_COOKIE.into(), gatehouse_web::auth::COOKIE.into()];
    Ok(up)
}

fn injected(app: &HttpTarget, spec: &TargetSpec) -> Result<Option<Injected>, String> {
    let Some(inject) = &app.inject else {
        return Ok(None);
    };
    let secret = spec
        .secret
        .clone()
        .ok_or("the injected credential has no secret")?;
    Ok(Some(match inject {
        Injection::Basic { username } => Injected::Basic {
            username: username.clone(),
            password: secret,
        },
        Injection::Header { name } => Injected::Header {
            name: HeaderName::try_from(name.as_str()).map_err(|e| format!("inject.name: {e}"))?,
            value: secret,
        },
    }))
}

/// "Session ended by administrator admin: maintenance window", and the like.
fn end_message(request: &EndRequest) -> String {
    let message = request.message.as_deref().filter(|m| !m.is_empty());
    let why = match (request.reason, message) {
        (EndReason::EndedByAdmin, _) => match &request.by {
            Some(by) => format!("Session ended by administrator {by}"),
            None => "Session ended by an administrator".into(),
        },
        (EndReason::EndedByOwner, _) => "You ended this session".into(),
        // A policy's own message says it all ("no input for 15m (idle limit …)").
        (EndReason::IdleTimeout | EndReason::MaxDuration, Some(message)) => {
            return format!("Session ended: {message}");
        }
        (EndReason::IdleTimeout, None) => "Session ended: idle for too long".into(),
        (EndReason::MaxDuration, None) => "Session ended: it reached its maximum duration".into(),
        (EndReason::UserLocked, _) => "Session ended: your account was locked".into(),
        (EndReason::AccessRevoked, _) => "Session ended: your access was revoked".into(),
        (EndReason::GatewayShutdown, _) => "Session ended: the gateway is stopping".into(),
        (EndReason::ClientClosed, _) => "Session closed after a long time without use".into(),
        (other, _) => format!("Session ended ({other})"),
    };
    match message {
        Some(message) => format!("{why}: {message}"),
        None => why,
    }
}

/// The app session cookie's value, if the request has one.
fn app_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            (k == APP_COOKIE).then_some(v)
        })
}

/// Whether `path` is where `place`'s tickets are redeemed:
/// `/.gatehouse/enter` on an app host, `/apps/{name}/.gatehouse/enter` under a path.
fn is_enter(path: &str, place: Place, name: &str) -> bool {
    const ENTER: &str = ".gatehouse/enter";
    match place {
        Place::Host => path.strip_prefix('/') == Some(ENTER),
        Place::Path => {
            path.strip_prefix("/apps/")
                .and_then(|rest| rest.strip_prefix(name))
                .and_then(|rest| rest.strip_prefix('/'))
                == Some(ENTER)
        }
    }
}

/// 256 random bits, URL-safe.
fn token() -> String {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).expect("the system's random source works");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
