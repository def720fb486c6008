//! Starts the real gateway (in-process, ephemeral port, its own data
//! directory) next to a real `sshd`, and speaks to it as clients do:
//! REST with bearer tokens, terminal WebSockets, Server-Sent Events.

pub mod httpbin;
pub mod ldap;
pub mod oidc;
pub mod postgres;
pub mod rdp;
pub mod sshd;
pub mod tcp;
pub mod terminal;
pub mod tls;
pub mod vnc;
pub mod xrdp;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use gatehouse::app::Application;
use gatehouse::config::Config;
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

pub use sshd::Sshd;
pub use terminal::Terminal;

pub const ADMIN_PASSWORD: &str = "admin-password-for-tests";

pub struct TestGateway {
    pub addr: SocketAddr,
    pub data_dir: tempfile::TempDir,
    /// The in-process gateway's SSH listener and host key fingerprint.
    ssh: Option<(SocketAddr, String)>,
    /// The in-process gateway's registry (a remote one has none).
    registry: Option<gatehouse_sessions::Registry>,
    stop: CancellationToken,
    /// The in-process gateway, until it has stopped.
    running: std::sync::Mutex<Option<tokio::task::JoinHandle<anyhow::Result<()>>>>,
    http: reqwest::Client,
    /// The certificate (PEM file) of a gateway that serves HTTPS; clients
    /// trust it and nothing else.
    tls: Option<std::path::PathBuf>,
}

fn init_logs() {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("info,gatehouse=debug,russh=warn,sqlx=warn")
            .with_test_writer()
            .try_init();
    }
}

pub fn test_config(data_dir: &std::path::Path) -> Config {
    Config {
        data_dir: data_dir.to_owned(),
        http: "127.0.0.1:0".parse().unwrap(),
        ssh: "127.0.0.1:0".parse().unwrap(),
        node: "gw-test".into(),
        connect_timeout: Duration::from_secs(5),
        activity_interval: Duration::from_millis(100),
        ..Config::default()
    }
}

impl TestGateway {
    pub async fn spawn() -> TestGateway {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> TestGateway {
        init_logs();
        let data_dir = tempfile::tempdir().unwrap();
        let mut config = test_config(data_dir.path());
        adjust(&mut config);
        let tls = config.tls.as_ref().map(|files| files.cert.clone());
        let app = Application::build(config, Some(SecretString::from(ADMIN_PASSWORD)), None)
            .await
            .expect("gateway starts");
        let addr = app.http_addr();
        let ssh = Some((app.ssh_addr(), app.ssh_fingerprint()));
        let registry = app.registry().clone();
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        let running = tokio::spawn(async move { app.run_until(stopped.cancelled_owned()).await });
        TestGateway {
            addr,
            ssh,
            data_dir,
            registry: Some(registry),
            stop,
            running: std::sync::Mutex::new(Some(running)),
            http: client(tls.as_deref()),
            tls,
        }
    }

    /// Talks to a gateway running elsewhere (another process), over HTTPS
    /// when given the certificate it serves.
    pub fn remote(addr: SocketAddr, cert: Option<&std::path::Path>) -> TestGateway {
        TestGateway {
            addr,
            ssh: None,
            data_dir: tempfile::tempdir().unwrap(),
            registry: None,
            stop: CancellationToken::new(),
            running: std::sync::Mutex::new(None),
            http: client(cert),
            tls: cert.map(ToOwned::to_owned),
        }
    }

    /// [`TestGateway::remote`] for a gateway process just started on
    /// `port` of loopback, once its API answers (within 20 s).
    pub async fn started_on(port: u16, cert: Option<&std::path::Path>) -> TestGateway {
        let gw = TestGateway::remote(format!("127.0.0.1:{port}").parse().unwrap(), cert);
        let up = eventually(Duration::from_secs(20), || async {
            gw.http()
                .get(gw.url("/openapi.json"))
                .send()
                .await
                .ok()
                .map(drop)
        })
        .await;
        assert!(
            up.is_some(),
            "the gateway process did not start on port {port}"
        );
        gw
    }

    /// `https` for a gateway that serves TLS, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    /// For WebSockets: TLS that trusts the gateway's certificate, if it serves TLS.
    pub fn ws_connector(&self) -> Option<tokio_tungstenite::Connector> {
        let cert = self.tls.as_ref()?;
        let pem = std::fs::read(cert).unwrap();
        Some(tokio_tungstenite::Connector::Rustls(tls::rustls_client(
            &pem,
        )))
    }

    /// The in-process gateway's SSH listener and its host key fingerprint.
    pub fn ssh(&self) -> (SocketAddr, &str) {
        let (addr, fingerprint) = self.ssh.as_ref().expect("an in-process gateway");
        (*addr, fingerprint)
    }

    /// The in-process gateway's session registry.
    pub fn registry(&self) -> &gatehouse_sessions::Registry {
        self.registry.as_ref().expect("an in-process gateway")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}://{}/api/v1{path}", self.scheme(), self.addr)
    }

    pub fn ws_url(&self, path: &str) -> String {
        let scheme = if self.tls.is_some() { "wss" } else { "ws" };
        format!("{scheme}://{}/api/v1{path}", self.addr)
    }

    pub async fn login(&self, username: &str, password: &str) -> String {
        let (status, body) = self
            .post(
                None,
                "/auth/login",
                json!({ "username": username, "password": password }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "login as {username}: {body}");
        body["token"].as_str().unwrap().to_owned()
    }

    pub async fn admin(&self) -> String {
        self.login("admin", ADMIN_PASSWORD).await
    }

    /// Creates `name` with `role` (password `<name>-password`) and logs in.
    pub async fn user(&self, admin: &str, name: &str, role: &str) -> String {
        let password = format!("{name}-password");
        let (status, body) = self
            .post(
                Some(admin),
                "/users",
                json!({ "username": name, "password": password, "roles": [role] }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "create {name}: {body}");
        self.login(name, &password).await
    }

    /// A key-authenticated connection to `sshd` as the current OS user,
    /// granted to `users`. Returns its id.
    pub async fn ssh_connection(
        &self,
        admin: &str,
        sshd: &Sshd,
        name: &str,
        users: &[&str],
    ) -> String {
        let body = json!({
            "name": name, "host": "127.0.0.1", "port": sshd.port, "username": crate::harness::sshd::TARGET_USER,
            "private_key": sshd.client_key(), "users": users,
        });
        self.connection(admin, body).await
    }

    pub async fn connection(&self, admin: &str, body: Value) -> String {
        let (status, created) = self.post(Some(admin), "/connections", body).await;
        assert_eq!(status, StatusCode::CREATED, "create connection: {created}");
        created["id"].as_str().unwrap().to_owned()
    }

    pub async fn get(&self, token: Option<&str>, path: &str) -> (StatusCode, Value) {
        let mut req = self.http.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        json_of(req.send().await.unwrap()).await
    }

    pub async fn post(&self, token: Option<&str>, path: &str, body: Value) -> (StatusCode, Value) {
        let mut req = self.http.post(self.url(path)).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        json_of(req.send().await.unwrap()).await
    }

    pub async fn patch(&self, token: Option<&str>, path: &str, body: Value) -> (StatusCode, Value) {
        let mut req = self.http.patch(self.url(path)).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        json_of(req.send().await.unwrap()).await
    }

    pub async fn delete(&self, token: Option<&str>, path: &str) -> (StatusCode, Value) {
        let mut req = self.http.delete(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        json_of(req.send().await.unwrap()).await
    }

    /// The id of the user called `name`, as the administrator lists it.
    pub async fn user_id(&self, admin: &str, name: &str) -> String {
        let (status, users) = self.get(Some(admin), "/users").await;
        assert_eq!(status, 200, "{users}");
        users
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["username"] == name)
            .unwrap_or_else(|| panic!("no user {name}: {users}"))["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub async fn put(&self, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
        let req = self.http.put(self.url(path)).json(&body).bearer_auth(token);
        json_of(req.send().await.unwrap()).await
    }

    /// Runs the `gatehouse` CLI against this gateway as the holder of `token`.
    pub async fn cli(&self, token: &str, args: &[&str]) -> std::process::Output {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"));
        cmd.args(args)
            .env(
                "GATEHOUSE_URL",
                format!("{}://{}", self.scheme(), self.addr),
            )
            .env("GATEHOUSE_TOKEN", token);
        if let Some(cert) = &self.tls {
            // The CLI trusts the system's roots, which this names instead.
            cmd.env("SSL_CERT_FILE", cert);
        }
        cmd.output().await.unwrap()
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The caller's live sessions as the API lists them, optionally searched.
    pub async fn sessions(&self, token: &str, q: &str) -> Value {
        let (status, body) = self.get(Some(token), &format!("/sessions?q={q}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// Waits (up to 5 s) until the history row of `session` is complete.
    pub async fn ended_history(&self, token: &str, session: &str) -> Value {
        if let Some(registry) = &self.registry {
            registry.flush_lifecycle().await;
        }
        let row = eventually(Duration::from_secs(5), || async {
            let (_, body) = self.get(Some(token), "/history?limit=1000").await;
            body["items"]
                .as_array()?
                .iter()
                .find(|r| r["id"] == session)
                .cloned()
        })
        .await;
        row.unwrap_or_else(|| panic!("no history row for {session}"))
    }

    /// Audit events of one action, newest first.
    pub async fn audit(&self, token: &str, action: &str) -> Vec<Value> {
        let (status, body) = self
            .get(Some(token), &format!("/audit?action={action}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["items"].as_array().unwrap().clone()
    }

    /// Waits (up to 5 s) until every recording is complete — so every
    /// recorded session must have ended (a live one's recording is not).
    pub async fn recordings_complete(&self) {
        let registry = self.registry.as_ref().expect("an in-process gateway");
        assert!(
            registry.wait_for_recordings(Duration::from_secs(5)).await,
            "recordings completed in time"
        );
    }

    /// The recording of `session` as the API serves it for replay.
    pub async fn recording(
        &self,
        token: &str,
        session: &str,
    ) -> gatehouse_recording::cast::Recording {
        let resp = self
            .http()
            .get(self.url(&format!("/history/{session}/recording")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()["content-type"], "application/x-asciicast");
        gatehouse_recording::cast::read(&resp.text().await.unwrap()).expect("asciicast v2")
    }

    /// Stops the in-process gateway as SIGTERM would: live sessions end as
    /// `gateway_shutdown`.
    pub fn shut_down(&self) {
        self.stop.cancel();
    }

    /// Waits until the in-process gateway has stopped, at most `limit`;
    /// returns whether it did (and stopped without an error).
    pub async fn stopped_within(&self, limit: Duration) -> bool {
        let running = self.running.lock().unwrap().take();
        let running = running.expect("an in-process gateway, not yet waited for");
        matches!(tokio::time::timeout(limit, running).await, Ok(Ok(Ok(()))))
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A client for a gateway, trusting only its certificate if it serves TLS.
fn client(cert: Option<&std::path::Path>) -> reqwest::Client {
    match cert {
        Some(cert) => tls::https_client(&std::fs::read(cert).unwrap()),
        None => reqwest::Client::new(),
    }
}

pub async fn json_of(resp: reqwest::Response) -> (StatusCode, Value) {
    let status = resp.status();
    let text = resp.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"))
    };
    (status, body)
}

/// Polls `probe` until it yields `Some`, or `limit` passes.
pub async fn eventually<T, F, Fut>(limit: Duration, mut probe: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = probe().await {
            return Some(v);
        }
        if start.elapsed() > limit {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A command's standard output as text.
pub fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Waits until `server`, a process the harness started, accepts on `addr`;
/// false if it exited first.
pub(crate) async fn listening(addr: SocketAddr, server: &mut tokio::process::Child) -> bool {
    for _ in 0..100 {
        if let Ok(Some(_)) = server.try_wait() {
            return false;
        }
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}
