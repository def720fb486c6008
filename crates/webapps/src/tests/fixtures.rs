//! Servers the tests start and tear down: httpbin, the gateway under test, a bulk target.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::{Meter, Proxy, ProxyBody, RequestLog, Upstream};

/// The app host the test browser uses; resolved to the gateway by the client.
pub(super) const PUBLIC_HOST: &str = "app.localhost";

/// A gunicorn serving httpbin on a loopback port, killed (workers too) on drop.
pub(super) struct Httpbin {
    child: Child,
    pub(super) addr: SocketAddr,
}

impl Httpbin {
    pub(super) async fn start() -> Self {
        for _ in 0..5 {
            let addr = free_port();
            let child = Command::new("gunicorn")
                .args(["--no-control-socket", "--log-level", "warning", "-w", "2"])
                .args(["-b", &addr.to_string(), "httpbin:app"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                // Its own process group, so drop can end the workers with the master.
                .process_group(0)
                .spawn()
                .expect("gunicorn runs (scripts/prerequisites installs httpbin and gunicorn)");
            let mut server = Self { child, addr };
            if server.answers().await {
                return server;
            }
        }
        panic!("httpbin did not start");
    }

    /// Waits until the port accepts, or gunicorn exits (the port was taken meanwhile).
    async fn answers(&mut self) -> bool {
        for _ in 0..300 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if tokio::net::TcpStream::connect(self.addr).await.is_ok() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    pub(super) fn upstream(&self) -> Upstream {
        upstream(&format!("http://{}", self.addr))
    }

    pub(super) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Httpbin {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("local addr")
}

pub(super) fn upstream(url: &str) -> Upstream {
    Upstream::new(url.parse().expect("URI")).expect("upstream")
}

/// A meter that remembers everything.
#[derive(Default)]
pub(super) struct RecordingMeter {
    pub(super) from_client: AtomicU64,
    pub(super) to_client: AtomicU64,
    pub(super) websockets: Mutex<Vec<bool>>,
    logs: Mutex<Vec<RequestLog>>,
}

impl Meter for RecordingMeter {
    fn bytes_from_client(&self, n: u64) {
        self.from_client.fetch_add(n, Ordering::Relaxed);
    }
    fn bytes_to_client(&self, n: u64) {
        self.to_client.fetch_add(n, Ordering::Relaxed);
    }
    fn websocket(&self, opened: bool) {
        self.websockets.lock().unwrap().push(opened);
    }
    fn finished(&self, entry: RequestLog) {
        self.logs.lock().unwrap().push(entry);
    }
}

impl RecordingMeter {
    /// The first `n` log entries, waiting up to 5 s for them.
    pub(super) async fn logs(&self, n: usize) -> Vec<RequestLog> {
        for _ in 0..500 {
            {
                let logs = self.logs.lock().unwrap();
                if logs.len() >= n {
                    return logs.clone();
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "expected {n} request logs, have {:?}",
            self.logs.lock().unwrap()
        );
    }

    pub(super) async fn websocket_events(&self, n: usize) -> Vec<bool> {
        for _ in 0..500 {
            {
                let events = self.websockets.lock().unwrap();
                if events.len() >= n {
                    return events.clone();
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("expected {n} WebSocket events");
    }
}

/// The gateway under test: hyper's HTTP/1 server calling `Proxy::forward` for one app.
pub(super) struct Gateway {
    pub(super) addr: SocketAddr,
    pub(super) meter: Arc<RecordingMeter>,
    pub(super) stop: CancellationToken,
    accept: JoinHandle<()>,
}

impl Gateway {
    pub(super) async fn start(up: Upstream) -> Self {
        Self::with_proxy(
            Proxy::new(Duration::from_secs(2), Duration::from_secs(5)),
            up,
        )
        .await
    }

    pub(super) async fn with_proxy(proxy: Proxy, up: Upstream) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let meter = Arc::new(RecordingMeter::default());
        let stop = CancellationToken::new();
        let shared = Arc::new((proxy, up, meter.clone(), stop.clone()));
        let accept = tokio::spawn(async move {
            loop {
                let Ok((tcp, peer)) = listener.accept().await else {
                    return;
                };
                let shared = shared.clone();
                let service = service_fn(move |req: Request<Incoming>| {
                    let shared = shared.clone();
                    async move {
                        let (proxy, up, meter, stop) = &*shared;
                        let host = req
                            .headers()
                            .get(http::header::HOST)
                            .and_then(|h| h.to_str().ok())
                            .unwrap_or_default()
                            .to_owned();
                        let meter: Arc<dyn Meter> = meter.clone();
                        let answer = proxy
                            .forward(up, &host, "http", peer.ip(), req, meter, stop)
                            .await;
                        Ok::<_, Infallible>(answer.unwrap_or_else(|e| error_page(&e)))
                    }
                });
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), service)
                        .with_upgrades()
                        .await;
                });
            }
        });
        Self {
            addr,
            meter,
            stop,
            accept,
        }
    }

    pub(super) fn public_host(&self) -> String {
        format!("{PUBLIC_HOST}:{}", self.addr.port())
    }

    pub(super) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.public_host())
    }

    /// A browser: no redirects followed, `app.localhost` resolved to the gateway.
    pub(super) fn browser(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .resolve(PUBLIC_HOST, self.addr)
            .build()
            .expect("client")
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// What a caller would render: the status and the stable code.
fn error_page(e: &crate::ProxyError) -> Response<ProxyBody> {
    let body = http_body_util::Full::new(Bytes::from(e.code()))
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut page = Response::new(body);
    *page.status_mut() = e.status();
    page
}

/// 64-bit FNV-1a, to compare streams without keeping them.
#[derive(Clone, Copy)]
pub(super) struct Fnv(pub(super) u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    pub(super) fn update(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// The bytes the bulk target and the upload test generate: position-dependent, so a
/// dropped or repeated chunk changes the hash.
pub(super) fn pattern_chunk(index: u64, len: usize) -> Bytes {
    (0..len)
        .map(|i| (index.wrapping_mul(31).wrapping_add(i as u64) % 251) as u8)
        .collect::<Vec<_>>()
        .into()
}

/// A target written here: `POST /sink` answers `LEN HASH` of what it read;
/// `GET /bulk/N` streams N bytes of [`pattern_chunk`]s of 64 KiB; `GET /hop`
/// answers with hop-by-hop headers (which gunicorn would not let httpbin send).
pub(super) struct Target {
    pub(super) addr: SocketAddr,
    /// TCP connections accepted so far.
    pub(super) connections: Arc<AtomicU64>,
    accept: JoinHandle<()>,
}

pub(super) const CHUNK: usize = 64 * 1024;

impl Target {
    pub(super) async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let connections = Arc::new(AtomicU64::new(0));
        let counter = connections.clone();
        let accept = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), service_fn(bulk))
                        .await;
                });
            }
        });
        Self {
            addr,
            connections,
            accept,
        }
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn bulk(req: Request<Incoming>) -> Result<Response<ProxyBody>, Infallible> {
    let path = req.uri().path().to_owned();
    if path == "/sink" {
        let mut body = req.into_body();
        let (mut len, mut hash) = (0u64, Fnv::default());
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else { break };
            if let Some(data) = frame.data_ref() {
                len += data.len() as u64;
                hash.update(data);
            }
        }
        let text = format!("{len} {:x}", hash.0);
        let body = http_body_util::Full::new(Bytes::from(text))
            .map_err(|never| match never {})
            .boxed_unsync();
        return Ok(Response::new(body));
    }
    if let Some(n) = path
        .strip_prefix("/bulk/")
        .and_then(|n| n.parse::<u64>().ok())
    {
        let chunks = n.div_ceil(CHUNK as u64);
        let frames = (0..chunks).map(move |i| {
            let len = (n - i * CHUNK as u64).min(CHUNK as u64) as usize;
            Ok::<_, crate::BoxError>(Frame::data(pattern_chunk(i, len)))
        });
        let body = StreamBody::new(futures_util::stream::iter(frames)).boxed_unsync();
        return Ok(Response::new(body));
    }
    if path == "/hop" {
        let mut hop = Response::new(crate::body::empty());
        for (name, value) in [
            ("connection", "X-Hop"),
            ("x-hop", "1"),
            ("keep-alive", "timeout=5"),
            ("proxy-authenticate", "Basic"),
            ("x-kept", "2"),
        ] {
            hop.headers_mut()
                .insert(name, http::HeaderValue::from_static(value));
        }
        return Ok(hop);
    }
    let mut missing = Response::new(crate::body::empty());
    *missing.status_mut() = StatusCode::NOT_FOUND;
    Ok(missing)
}
