//! [`Proxy`]: one request from the browser to the target and back.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::uri::PathAndQuery;
use http::{Request, Response, StatusCode, Version};
use http_body::Body;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use hyper_util::client::legacy::{Client, Error as LegacyError};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio_util::sync::CancellationToken;

use crate::body::{Exchange, RequestBody, ResponseBody};
use crate::connect::{ConnectError, Connector, tls_config};
use crate::headers::{self, Origin};
use crate::{BoxError, Meter, Outcome, ProxyBody, ProxyError, Upstream, websocket};

/// How long an idle keep-alive connection to a target stays in the pool.
const POOL_IDLE: Duration = Duration::from_secs(60);
/// Idle connections kept per target: enough for a browser's six parallel
/// requests per host several times over, few enough that a burst does not
/// leave hundreds of sockets open on a small target.
const POOL_MAX_IDLE_PER_HOST: usize = 32;

type OutBody = http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>;
type PooledClient = Client<Connector, OutBody>;

/// The pooled client to use for an https target: one per (verify, extra
/// CA) pair (plain targets share [`Proxy`]'s own).
#[derive(Clone, PartialEq, Eq, Hash)]
struct ClientKey {
    verify: bool,
    ca_pem: Option<String>,
}

/// The reverse-proxy engine: forwards browsers' requests to published apps over
/// pooled keep-alive connections.
pub struct Proxy {
    connect_timeout: Duration,
    response_timeout: Duration,
    /// The client for plain `http` targets, which every such app shares:
    /// made once, so their requests take no lock to find it.
    plain: PooledClient,
    /// One entry per distinct TLS setting among the published apps, so it grows
    /// with the number of connections, not with traffic.
    clients: Mutex<HashMap<ClientKey, PooledClient>>,
}

impl Proxy {
    /// A proxy that gives up on a target after `connect_timeout` to connect (TCP and
    /// TLS), and after `response_timeout` without response headers, counted from the
    /// request's start or the last request body bytes it forwarded (so a long upload
    /// that keeps moving never times out, a stalled one does).
    pub fn new(connect_timeout: Duration, response_timeout: Duration) -> Self {
        Self {
            connect_timeout,
            response_timeout,
            plain: pooled(None, connect_timeout),
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// Forwards one request from a browser to `up`.
    ///
    /// `public_host` is the app host the browser used (e.g. `grafana.apps.localhost:8080`),
    /// `public_scheme` `http` or `https`, `client_addr` the browser's address. Body bytes
    /// are streamed both ways (never buffered) and counted on `meter`, which also gets one
    /// [`RequestLog`](crate::RequestLog) per request. Cancelling `stop` cuts the response
    /// body and any WebSocket of this request at once.
    // A debug span: at the default `info` level no request pays for
    // formatting its method, path and target into one.
    #[tracing::instrument(
        name = "webapp_request",
        level = "debug",
        skip_all,
        fields(method = %req.method(), path = %req.uri().path(), target = %up.url())
    )]
    // Each argument is a separate fact the caller has; a struct would be unpacked again here.
    #[allow(clippy::too_many_arguments)]
    pub async fn forward<B>(
        &self,
        up: &Upstream,
        public_host: &str,
        public_scheme: &str,
        client_addr: IpAddr,
        req: Request<B>,
        meter: Arc<dyn Meter>,
        stop: &CancellationToken,
    ) -> Result<Response<ProxyBody>, ProxyError>
    where
        B: Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<BoxError>,
    {
        let path = req
            .uri()
            .path_and_query()
            .map_or_else(|| req.uri().path().to_owned(), |p| p.as_str().to_owned());
        let exchange = Exchange::new(meter, req.method().to_string(), path);
        let origin = Origin {
            public_host,
            public_scheme,
            client_addr,
        };
        let result = self.exchange(up, &origin, req, &exchange, stop).await;
        if let Err(e) = &result {
            tracing::debug!(error = %e, "request not forwarded");
            let outcome = if matches!(e, ProxyError::Stopped) {
                Outcome::Cut
            } else {
                Outcome::Error
            };
            exchange.finish(e.status().as_u16(), false, outcome);
        }
        result
    }

    async fn exchange<B>(
        &self,
        up: &Upstream,
        origin: &Origin<'_>,
        req: Request<B>,
        exchange: &Arc<Exchange>,
        stop: &CancellationToken,
    ) -> Result<Response<ProxyBody>, ProxyError>
    where
        B: Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<BoxError>,
    {
        if stop.is_cancelled() {
            return Err(ProxyError::Stopped);
        }
        let (mut parts, body) = req.into_parts();
        let websocket = headers::is_websocket_upgrade(&parts.headers);
        let browser_upgrade = if websocket {
            let upgrade = parts.extensions.remove::<OnUpgrade>().ok_or_else(|| {
                ProxyError::BadRequest("this connection cannot be upgraded".into())
            })?;
            Some(upgrade)
        } else {
            None
        };

        let root = PathAndQuery::from_static("/");
        let path_and_query = parts.uri.path_and_query().unwrap_or(&root);
        parts.uri = up.target_uri(path_and_query).ok_or_else(|| {
            ProxyError::BadRequest(format!(
                "cannot forward the request target {path_and_query}"
            ))
        })?;
        // The pooled client speaks HTTP/1.1 to targets whatever the browser spoke.
        parts.version = Version::HTTP_11;
        parts.extensions = http::Extensions::new();
        headers::remove_hop_by_hop(&mut parts.headers, websocket);
        headers::rewrite_request(&mut parts.headers, up, origin)?;

        // A request without a body (most: GET, HEAD) has nothing to count or cut.
        let body = if body.is_end_stream() {
            crate::body::empty()
        } else {
            RequestBody::new(body, exchange.clone(), stop.clone()).boxed_unsync()
        };
        let client = self.client(up)?;
        let sent = client.request(Request::from_parts(parts, body));
        let mut response = self.answer(sent, exchange, stop).await?;

        let status = response.status();
        let switching = status == StatusCode::SWITCHING_PROTOCOLS;
        if switching && !websocket {
            return Err(ProxyError::BadResponse(
                "switched protocols without being asked to".into(),
            ));
        }
        // A 101 answers our WebSocket request: its Upgrade and Connection stay.
        headers::remove_hop_by_hop(response.headers_mut(), switching);
        headers::rewrite_response(response.headers_mut(), up, origin);

        if let Some(browser_upgrade) = browser_upgrade.filter(|_| switching) {
            let target_upgrade = hyper::upgrade::on(&mut response);
            websocket::spawn_tunnel(
                browser_upgrade,
                target_upgrade,
                exchange.clone(),
                stop.clone(),
            );
            let (parts, _) = response.into_parts();
            return Ok(Response::from_parts(parts, crate::body::empty()));
        }
        // A WebSocket the target refused is an ordinary response.
        Ok(response.map(|incoming: Incoming| {
            ResponseBody::new(incoming, exchange.clone(), status.as_u16(), stop.clone())
                .boxed_unsync()
        }))
    }

    /// Waits for the target's response headers: at most `response_timeout` after the
    /// request body last moved (or the request left, without one).
    async fn answer(
        &self,
        sent: impl Future<Output = Result<Response<Incoming>, LegacyError>>,
        exchange: &Exchange,
        stop: &CancellationToken,
    ) -> Result<Response<Incoming>, ProxyError> {
        let mut sent = std::pin::pin!(sent);
        loop {
            let deadline = exchange.last_upload() + self.response_timeout;
            tokio::select! {
                answer = &mut sent => return answer.map_err(|e| classify(&e, stop)),
                () = tokio::time::sleep_until(deadline.into()) => {
                    if exchange.last_upload() + self.response_timeout <= std::time::Instant::now() {
                        return Err(ProxyError::Timeout);
                    }
                }
                () = stop.cancelled() => return Err(ProxyError::Stopped),
            }
        }
    }

    /// The pooled client for `up`'s TLS settings, made on first use.
    fn client(&self, up: &Upstream) -> Result<PooledClient, ProxyError> {
        if !up.is_https() {
            return Ok(self.plain.clone());
        }
        let key = ClientKey {
            verify: up.tls_verify,
            ca_pem: up.ca_pem.clone().filter(|_| up.tls_verify),
        };
        if let Some(client) = self.lock_clients().get(&key) {
            return Ok(client.clone());
        }
        // Built outside the lock: reading the platform's CA bundle the first time
        // must not hold up requests to other apps.
        let tls = tls_config(key.verify, key.ca_pem.as_deref())?;
        let client = pooled(Some(Arc::new(tls)), self.connect_timeout);
        Ok(self.lock_clients().entry(key).or_insert(client).clone())
    }

    fn lock_clients(&self) -> std::sync::MutexGuard<'_, HashMap<ClientKey, PooledClient>> {
        // The map holds no invariant a panicking holder could break.
        self.clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A keep-alive pool of connections to targets: TLS ones with `tls`.
fn pooled(tls: Option<Arc<rustls::ClientConfig>>, connect_timeout: Duration) -> PooledClient {
    Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(POOL_IDLE)
        .pool_max_idle_per_host(POOL_MAX_IDLE_PER_HOST)
        .build(Connector::new(tls, connect_timeout))
}

/// Maps the pooled client's error to what the browser is told.
fn classify(e: &LegacyError, stop: &CancellationToken) -> ProxyError {
    if stop.is_cancelled() {
        return ProxyError::Stopped;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(connect) = err.downcast_ref::<ConnectError>() {
            return match connect {
                ConnectError::Timeout => ProxyError::Timeout,
                other => ProxyError::Unreachable(other.to_string()),
            };
        }
        if let Some(hyper) = err.downcast_ref::<hyper::Error>()
            && hyper.is_user()
        {
            return ProxyError::BadRequest(error_chain(e));
        }
        source = err.source();
    }
    if e.is_connect() {
        ProxyError::Unreachable(error_chain(e))
    } else {
        ProxyError::BadResponse(error_chain(e))
    }
}

/// "outer: inner: innermost", for logs.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(err) = source {
        text.push_str(": ");
        text.push_str(&err.to_string());
        source = err.source();
    }
    text
}
