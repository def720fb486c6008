//! Web applications through the gateway: a real `httpbin` published on its
//! own app host, opened through a one-time ticket, listed and ended like
//! every session.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};

use crate::harness::httpbin::{Httpbin, free_port};
use crate::harness::{TestGateway, eventually};

/// A browser of one app: its host resolves to the gateway, redirects are
/// followed by hand, and it keeps the app cookie it was given.
struct AppBrowser {
    http: reqwest::Client,
    origin: String,
    cookie: String,
}

impl AppBrowser {
    fn client(gw: &TestGateway, host: &str) -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .resolve(host, gw.addr)
            .build()
            .unwrap()
    }

    /// Opens `name` as the holder of `token`: launch on the gateway, then
    /// redeem the ticket on the app host.
    async fn open(gw: &TestGateway, token: &str, name: &str) -> AppBrowser {
        let entered = launch(gw, token, name).await;
        let host = format!("{name}.apps.localhost");
        let http = Self::client(gw, &host);
        let redeemed = http.get(&entered).send().await.unwrap();
        assert_eq!(
            redeemed.status(),
            StatusCode::SEE_OTHER,
            "redeeming {entered}"
        );
        let set = redeemed.headers()[SET_COOKIE].to_str().unwrap().to_owned();
        assert!(
            set.contains("HttpOnly") && set.contains("SameSite=Lax"),
            "{set}"
        );
        assert!(!set.contains("Domain="), "host-only: {set}");
        let cookie = set.split(';').next().unwrap().to_owned();
        assert!(cookie.starts_with("gatehouse_app="), "{cookie}");
        AppBrowser {
            http,
            origin: format!("http://{host}:{}", gw.addr.port()),
            cookie,
        }
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.origin))
            .header(COOKIE, &self.cookie)
            .send()
            .await
            .unwrap()
    }
}

/// The app host URL (with its ticket) the gateway sends `token`'s browser to.
async fn launch(gw: &TestGateway, token: &str, name: &str) -> String {
    let launched = AppBrowser::client(gw, "localhost")
        .get(format!("http://{}/apps/launch/{name}", gw.addr))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(launched.status(), StatusCode::SEE_OTHER);
    let to = launched.headers()[LOCATION].to_str().unwrap().to_owned();
    let expected = format!(
        "http://{name}.apps.localhost:{}/.gatehouse/enter?ticket=",
        gw.addr.port()
    );
    assert!(to.starts_with(&expected), "{to}");
    to
}

async fn app_connection(
    gw: &TestGateway,
    admin: &str,
    name: &str,
    url: &str,
    extra: Value,
) -> String {
    let mut body = json!({ "name": name, "protocol": "http", "url": url, "users": ["ops1"] });
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().cloned().unwrap_or_default());
    gw.connection(admin, body).await
}

async fn the_session(gw: &TestGateway, token: &str) -> Value {
    let list = gw.sessions(token, "").await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{list}");
    items[0].clone()
}

#[tokio::test]
async fn a_web_app_opens_through_a_ticket_and_is_a_live_session_in_active_sessions() {
    let bin = Httpbin::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let ops = gw.user(&admin, "ops1", "user").await;
    app_connection(
        &gw,
        &admin,
        "grafana",
        &bin.url(""),
        json!({ "identity_header": "X-Gatehouse-User" }),
    )
    .await;

    let (_, listed) = gw.get(Some(&ops), "/connections").await;
    assert_eq!(listed[0]["protocol"], "http");
    assert_eq!(listed[0]["app_url"], "/apps/launch/grafana");

    let app = AppBrowser::open(&gw, &ops, "grafana").await;
    // The gateway's own cookie and Authorization never reach the app; other cookies do.
    let seen: Value = app
        .http
        // show_env: httpbin hides X-Forwarded-* without it.
        .get(format!("{}/headers?show_env=1", app.origin))
        .header(
            COOKIE,
            format!("{}; gatehouse_session=secret-login; theme=dark", app.cookie),
        )
        .header("Authorization", "Bearer secret-login")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let headers = &seen["headers"];
    assert_eq!(headers["Cookie"], "theme=dark", "{seen}");
    assert!(headers.get("Authorization").is_none(), "{seen}");
    assert_eq!(headers["X-Gatehouse-User"], "ops1");
    assert_eq!(headers["X-Forwarded-For"], "127.0.0.1");
    assert!(seen.to_string().find("secret-login").is_none(), "{seen}");

    let got = app.get("/anything/admin/users?page=2").await;
    assert_eq!(got.status(), StatusCode::OK);
    let echoed: Value = got.json().await.unwrap();
    assert_eq!(echoed["url"], bin.url("/anything/admin/users?page=2"));

    let session = eventually(Duration::from_secs(3), || async {
        let s = the_session(&gw, &admin).await;
        (s["detail"]["requests"] == 2).then_some(s)
    })
    .await
    .expect("two requests counted");
    assert_eq!(session["protocol"], "http");
    assert_eq!(session["user"], "ops1");
    assert_eq!(session["connection"]["name"], "grafana");
    assert_eq!(session["target"], bin.url(""));
    assert_eq!(
        session["detail"]["last_request"],
        "GET /anything/admin/users?page=2 200"
    );
    assert!(
        session["bytes_to_client"].as_u64().unwrap() > 100,
        "{session}"
    );

    // The request log is the recording, and search finds what was opened.
    let id = session["id"].as_str().unwrap().to_owned();
    let (status, _) = gw
        .post(Some(&admin), "/sessions/end", json!({ "ids": [id] }))
        .await;
    assert_eq!(status, StatusCode::OK);
    gw.ended_history(&admin, &id).await;
    gw.recordings_complete().await;
    let (_, found) = gw.get(Some(&admin), "/history?text=admin/users").await;
    let ids: Vec<&str> = found["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert_eq!(ids, [id.as_str()], "{found}");
}

#[tokio::test]
async fn ending_an_app_session_cuts_its_stream_at_once_and_the_next_request_is_told_why() {
    let bin = Httpbin::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let ops = gw.user(&admin, "ops1", "user").await;
    app_connection(&gw, &admin, "kibana", &bin.url(""), json!({})).await;
    let app = AppBrowser::open(&gw, &ops, "kibana").await;

    // A slow stream: one byte a second for 20 seconds.
    let mut stream = app.get("/drip?duration=20&numbytes=20&delay=0").await;
    assert_eq!(stream.status(), StatusCode::OK);
    let first = stream.chunk().await.unwrap().expect("the first byte");
    assert!(!first.is_empty());
    let id = the_session(&gw, &admin).await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let (status, body) = gw
        .post(
            Some(&admin),
            "/sessions/end",
            json!({ "ids": [id], "reason": "maintenance window" }),
        )
        .await;
    let ended = Instant::now();
    assert_eq!(status, StatusCode::OK, "{body}");
    // Read until the stream ends or breaks.
    while let Ok(Some(_)) = stream.chunk().await {}
    let cut_after = ended.elapsed();
    assert!(
        cut_after < Duration::from_secs(2),
        "the stream went on for {cut_after:?}"
    );

    let next = app.get("/get").await;
    assert_eq!(next.status(), StatusCode::GONE);
    let told: Value = next.json().await.unwrap();
    assert_eq!(told["error"]["code"], "session_ended");
    assert_eq!(
        told["error"]["message"],
        "Session ended by administrator admin: maintenance window"
    );
    // A browser navigation gets a page saying the same.
    let page = app
        .http
        .get(format!("{}/", app.origin))
        .header(COOKIE, &app.cookie)
        .header("Sec-Fetch-Mode", "navigate")
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::GONE);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Session ended by administrator admin: maintenance window"),
        "{html}"
    );

    let row = gw.ended_history(&admin, &id).await;
    assert_eq!(row["end_reason"], "ended_by_admin", "{row}");
    assert!(
        eventually(Duration::from_secs(2), || async {
            gw.registry().is_empty().then_some(())
        })
        .await
        .is_some()
    );
}

#[tokio::test]
async fn locking_the_user_ends_their_app_session() {
    let bin = Httpbin::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let ops = gw.user(&admin, "ops1", "user").await;
    app_connection(&gw, &admin, "jenkins", &bin.url(""), json!({})).await;
    let app = AppBrowser::open(&gw, &ops, "jenkins").await;
    assert_eq!(app.get("/get").await.status(), StatusCode::OK);
    let id = the_session(&gw, &admin).await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let ops_id = gw.user_id(&admin, "ops1").await;
    let (status, _) = gw
        .post(Some(&admin), &format!("/users/{ops_id}/lock"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let refused = eventually(Duration::from_secs(3), || async {
        let r = app.get("/get").await;
        (r.status() == StatusCode::GONE).then_some(())
    })
    .await;
    assert!(refused.is_some(), "the app still answers a locked user");
    let row = gw.ended_history(&admin, &id).await;
    assert_eq!(row["end_reason"], "user_locked", "{row}");
}

#[tokio::test]
async fn the_idle_limit_ends_an_unused_app_session() {
    let bin = Httpbin::start().await;
    let gw = TestGateway::spawn_with(|c| c.policy_interval = Duration::from_millis(100)).await;
    let admin = gw.admin().await;
    let ops = gw.user(&admin, "ops1", "user").await;
    let conn = app_connection(&gw, &admin, "panel", &bin.url(""), json!({})).await;
    let (status, body) = gw
        .put(
            &admin,
            &format!("/connections/{conn}/limits"),
            json!({ "idle_timeout_seconds": 1, "max_session_seconds": null }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let app = AppBrowser::open(&gw, &ops, "panel").await;
    assert_eq!(app.get("/get").await.status(), StatusCode::OK);

    // Watched from the registry: a request would be activity.
    let ended = eventually(Duration::from_secs(5), || async {
        gw.registry().is_empty().then_some(())
    })
    .await;
    assert!(ended.is_some(), "the idle app session is still live");
    let told: Value = app.get("/get").await.json().await.unwrap();
    let message = told["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("Session ended: no input for 1s"),
        "{message}"
    );
}

#[tokio::test]
async fn tickets_and_app_cookies_open_only_what_they_were_given_for() {
    let bin = Httpbin::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let ops = gw.user(&admin, "ops1", "user").await;
    let dev = gw.user(&admin, "dev2", "user").await;
    app_connection(&gw, &admin, "grafana", &bin.url(""), json!({})).await;
    app_connection(&gw, &admin, "kibana", &bin.url(""), json!({})).await;

    // A ticket is redeemed once.
    let entered = launch(&gw, &ops, "grafana").await;
    let browser = AppBrowser::client(&gw, "grafana.apps.localhost");
    assert_eq!(
        browser.get(&entered).send().await.unwrap().status(),
        StatusCode::SEE_OTHER
    );
    let again = browser.get(&entered).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::SEE_OTHER);
    assert!(
        again.headers().get(SET_COOKIE).is_none(),
        "a reused ticket opened a session"
    );
    assert!(
        again.headers()[LOCATION]
            .to_str()
            .unwrap()
            .ends_with("/apps/launch/grafana")
    );

    // A ticket for one app does nothing on another app's host.
    let for_grafana = launch(&gw, &ops, "grafana").await;
    let on_kibana = for_grafana.replace("grafana.apps", "kibana.apps");
    let kibana = AppBrowser::client(&gw, "kibana.apps.localhost");
    let refused = kibana.get(&on_kibana).send().await.unwrap();
    assert!(refused.headers().get(SET_COOKIE).is_none());

    // An app cookie works on its own host only, never on another app or the API.
    let app = AppBrowser::open(&gw, &ops, "grafana").await;
    let elsewhere = kibana
        .get(format!(
            "http://kibana.apps.localhost:{}/get",
            gw.addr.port()
        ))
        .header(COOKIE, &app.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.status(), StatusCode::UNAUTHORIZED);
    let api = reqwest::Client::new()
        .get(gw.url("/sessions"))
        .header(COOKIE, &app.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::UNAUTHORIZED);

    // Someone without the grant gets no ticket.
    let denied = AppBrowser::client(&gw, "localhost")
        .get(format!("http://{}/apps/launch/grafana", gw.addr))
        .bearer_auth(&dev)
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), StatusCode::FORBIDDEN);

    // A host that is no app is a 404; an app host without a session sends a browser to log in.
    let nowhere = AppBrowser::client(&gw, "nothing.apps.localhost")
        .get(format!("http://nothing.apps.localhost:{}/", gw.addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(nowhere.status(), StatusCode::NOT_FOUND);
    let anonymous = browser
        .get(format!(
            "http://grafana.apps.localhost:{}/dashboards?x=1",
            gw.addr.port()
        ))
        .header("Sec-Fetch-Mode", "navigate")
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
    let to = anonymous.headers()[LOCATION].to_str().unwrap();
    assert!(
        to.ends_with("/apps/launch/grafana?next=/dashboards%3Fx%3D1"),
        "{to}"
    );
}

#[tokio::test]
async fn injected_credentials_reach_the_app_and_a_dead_app_gets_a_clear_answer() {
    let bin = Httpbin::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let ops = gw.user(&admin, "ops1", "user").await;
    app_connection(
        &gw,
        &admin,
        "admin-panel",
        &bin.url(""),
        json!({ "inject": { "kind": "basic", "username": "svc", "password": "s3cret-pw" } }),
    )
    .await;
    let (_, shown) = gw.get(Some(&admin), "/connections?all=true").await;
    assert!(!shown.to_string().contains("s3cret-pw"), "{shown}");
    let app = AppBrowser::open(&gw, &ops, "admin-panel").await;
    assert_eq!(
        app.get("/basic-auth/svc/s3cret-pw").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get("/basic-auth/svc/other").await.status(),
        StatusCode::UNAUTHORIZED
    );

    let dead = free_port();
    app_connection(&gw, &admin, "gone", &format!("http://{dead}"), json!({})).await;
    let gone = AppBrowser::open(&gw, &ops, "gone").await;
    let answer = gone.get("/").await;
    assert_eq!(answer.status(), StatusCode::BAD_GATEWAY);
    let told: Value = answer.json().await.unwrap();
    assert_eq!(told["error"]["code"], "app_unreachable");
    assert!(
        told["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("gone:"),
        "{told}"
    );
    let failed = gw.audit(&admin, "session.failed").await;
    assert_eq!(failed[0]["target"], "gone", "{failed:?}");
}

#[tokio::test]
async fn app_connections_are_checked_and_keep_the_ssh_request_shape_working() {
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    for (body, says) in [
        (
            json!({ "name": "a", "protocol": "http" }),
            "url is required",
        ),
        (
            json!({ "name": "a", "protocol": "http", "url": "ftp://x" }),
            "http",
        ),
        (
            json!({ "name": "a", "protocol": "http", "url": "http://x", "host": "x" }),
            "host does not apply",
        ),
        (
            json!({ "name": "a", "host": "x", "username": "u", "password": "p", "url": "http://x" }),
            "url does not apply",
        ),
    ] {
        let (status, answer) = gw.post(Some(&admin), "/connections", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert!(
            answer["error"]["message"].as_str().unwrap().contains(says),
            "{body}: {answer}"
        );
    }
    let (status, created) = gw
        .post(
            Some(&admin),
            "/connections",
            json!({ "name": "app", "protocol": "http", "url": "http://10.0.0.7:3000/" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(
        (created["host"].as_str(), created["port"].as_u64()),
        (Some("10.0.0.7"), Some(3000))
    );
    assert_eq!(created["http"]["url"], "http://10.0.0.7:3000");
    let id = created["id"].as_str().unwrap();
    let (status, changed) = gw
        .patch(
            Some(&admin),
            &format!("/connections/{id}"),
            json!({ "tls_verify": false, "port": 22 }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{changed}");
    let (status, changed) = gw
        .patch(
            Some(&admin),
            &format!("/connections/{id}"),
            json!({ "url": "https://grafana.internal" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(
        (changed["host"].as_str(), changed["port"].as_u64()),
        (Some("grafana.internal"), Some(443))
    );
}

/// `mib` MiB of bytes that do not repeat within a chunk, the same every time.
fn blob_chunks(mib: usize) -> impl Iterator<Item = bytes::Bytes> {
    (0..mib * 16).map(|i| {
        let mut chunk = vec![0u8; 64 * 1024];
        for (j, b) in chunk.iter_mut().enumerate() {
            *b = (j.wrapping_mul(31) ^ i.wrapping_mul(7919) ^ (j >> 8)) as u8;
        }
        bytes::Bytes::from(chunk)
    })
}

fn sha256_hex(parts: impl IntoIterator<Item = bytes::Bytes>) -> String {
    let mut digest = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for part in parts {
        digest.update(&part);
    }
    digest
        .finish()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A small app with what httpbin lacks: a WebSocket echo (`/ws`), a
/// Server-Sent Events stream that ticks every 50 ms (`/events`), a large
/// streamed download (`/blob/{mib}`) and an upload sink that answers with
/// the SHA-256 and length of what it read (`/sink`).
async fn streaming_app() -> std::net::SocketAddr {
    use axum::extract::ws::{Message, WebSocketUpgrade};
    use axum::response::sse::{Event, Sse};
    use axum::routing::{get, post};
    let app = axum::Router::new()
        .route(
            "/blob/{mib}",
            get(
                |axum::extract::Path(mib): axum::extract::Path<usize>| async move {
                    let chunks = blob_chunks(mib.min(1024)).map(Ok::<_, std::convert::Infallible>);
                    axum::body::Body::from_stream(futures_util::stream::iter(chunks))
                },
            ),
        )
        .route(
            "/sink",
            post(|body: axum::body::Body| async move {
                use futures_util::StreamExt;
                let mut digest = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
                let mut len = 0u64;
                let mut stream = body.into_data_stream();
                while let Some(Ok(part)) = stream.next().await {
                    len += part.len() as u64;
                    digest.update(&part);
                }
                let hex: String = digest
                    .finish()
                    .as_ref()
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                format!("{len} {hex}")
            }),
        )
        .route(
            "/ws",
            get(|ws: WebSocketUpgrade| async {
                ws.on_upgrade(|mut socket| async move {
                    while let Some(Ok(message)) = socket.recv().await {
                        if matches!(message, Message::Text(_) | Message::Binary(_))
                            && socket.send(message).await.is_err()
                        {
                            break;
                        }
                    }
                })
            }),
        )
        .route(
            "/events",
            get(|| async {
                let ticks = futures_util::stream::unfold(0u64, |n| async move {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Some((
                        Ok::<_, std::convert::Infallible>(Event::default().data(n.to_string())),
                        n + 1,
                    ))
                });
                Sse::new(ticks)
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

#[tokio::test]
async fn ending_cuts_an_app_websocket_and_an_event_stream_at_once() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let target = streaming_app().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let ops = gw.user(&admin, "ops1", "user").await;
    app_connection(&gw, &admin, "live", &format!("http://{target}"), json!({})).await;
    let app = AppBrowser::open(&gw, &ops, "live").await;

    // A WebSocket through the gateway, echoing.
    let mut request = format!("ws://live.apps.localhost:{}/ws", gw.addr.port())
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("cookie", app.cookie.parse().unwrap());
    let tcp = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async(request, tcp).await.unwrap();
    ws.send(Message::text("hello")).await.unwrap();
    let echoed = ws.next().await.unwrap().unwrap();
    assert_eq!(echoed.into_text().unwrap().as_str(), "hello");

    // An event stream through the gateway, ticking.
    let mut events = app.get("/events").await;
    assert_eq!(events.status(), StatusCode::OK);
    let tick = events.chunk().await.unwrap().expect("a first event");
    assert!(
        String::from_utf8_lossy(&tick).starts_with("data: 0"),
        "{tick:?}"
    );

    let session = eventually(Duration::from_secs(3), || async {
        let s = the_session(&gw, &admin).await;
        (s["detail"]["websockets"] == 1).then_some(s)
    })
    .await
    .expect("the WebSocket is counted on the session");
    let (status, _) = gw
        .post(
            Some(&admin),
            "/sessions/end",
            json!({ "ids": [session["id"]] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let ended = Instant::now();

    // Both are cut: the socket closes, the stream stops, within moments.
    let socket_closed = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            match ws.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
                Some(Ok(_)) => continue,
            }
        }
    })
    .await;
    assert!(socket_closed.is_ok(), "the WebSocket outlived its session");
    let stream_cut = tokio::time::timeout(Duration::from_secs(2), async {
        while let Ok(Some(_)) = events.chunk().await {}
    })
    .await;
    assert!(stream_cut.is_ok(), "the event stream outlived its session");
    assert!(ended.elapsed() < Duration::from_secs(2));
    assert_eq!(app.get("/events").await.status(), StatusCode::GONE);
}

#[tokio::test]
async fn over_https_an_app_is_served_with_http2_and_a_secure_cookie() {
    use crate::harness::tls::TestCert;
    let bin = Httpbin::start().await;
    let dir = tempfile::tempdir().unwrap();
    let cert = TestCert::generate(dir.path(), "gw");
    let gw = TestGateway::spawn_with(|c| c.tls = Some(cert.files())).await;
    let admin = gw.admin().await;
    let ops = gw.user(&admin, "ops1", "user").await;
    app_connection(&gw, &admin, "grafana", &bin.url(""), json!({})).await;
    let browser = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&cert.pem()).unwrap()])
        .redirect(reqwest::redirect::Policy::none())
        .resolve("grafana.apps.localhost", gw.addr)
        .resolve("localhost", gw.addr)
        .build()
        .unwrap();

    let launched = browser
        .get(format!(
            "https://localhost:{}/apps/launch/grafana",
            gw.addr.port()
        ))
        .bearer_auth(&ops)
        .send()
        .await
        .unwrap();
    assert_eq!(launched.version(), reqwest::Version::HTTP_2);
    let enter = launched.headers()[LOCATION].to_str().unwrap().to_owned();
    assert!(
        enter.starts_with("https://grafana.apps.localhost:"),
        "{enter}"
    );
    let entered = browser.get(&enter).send().await.unwrap();
    let set = entered.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(set.contains("; Secure"), "{set}");
    // The app host's own answers carry HSTS as the gateway's do.
    assert!(entered.headers().contains_key("strict-transport-security"));
    let cookie = set.split(';').next().unwrap().to_owned();

    let got = browser
        .get(format!(
            "https://grafana.apps.localhost:{}/headers?show_env=1",
            gw.addr.port()
        ))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(got.version(), reqwest::Version::HTTP_2);
    assert_eq!(got.status(), StatusCode::OK);
    assert!(got.headers().contains_key("strict-transport-security"));
    let seen: Value = got.json().await.unwrap();
    assert_eq!(seen["headers"]["X-Forwarded-Proto"], "https", "{seen}");
    assert_eq!(
        seen["headers"]["X-Forwarded-Host"],
        format!("grafana.apps.localhost:{}", gw.addr.port()),
        "{seen}"
    );
}

#[tokio::test]
async fn a_large_download_and_upload_stream_through_unchanged() {
    const MIB: usize = 128;
    let target = streaming_app().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let ops = gw.user(&admin, "ops1", "user").await;
    app_connection(&gw, &admin, "files", &format!("http://{target}"), json!({})).await;
    let app = AppBrowser::open(&gw, &ops, "files").await;
    let expected = sha256_hex(blob_chunks(MIB));

    let mut download = app.get(&format!("/blob/{MIB}")).await;
    assert_eq!(download.status(), StatusCode::OK);
    let mut got = Vec::new();
    let mut len = 0usize;
    while let Some(chunk) = download.chunk().await.unwrap() {
        len += chunk.len();
        got.push(chunk);
    }
    assert_eq!(len, MIB << 20);
    assert_eq!(sha256_hex(got), expected, "the download changed on the way");

    let upload = futures_util::stream::iter(blob_chunks(MIB).map(Ok::<_, std::io::Error>));
    let answer = app
        .http
        .post(format!("{}/sink", app.origin))
        .header(COOKIE, &app.cookie)
        .body(reqwest::Body::wrap_stream(upload))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(
        answer.text().await.unwrap(),
        format!("{} {expected}", MIB << 20),
        "the upload changed on the way"
    );
    let session = the_session(&gw, &admin).await;
    assert!(
        session["bytes_to_client"].as_u64().unwrap() >= (MIB << 20) as u64,
        "{session}"
    );
    assert!(
        session["bytes_from_client"].as_u64().unwrap() >= (MIB << 20) as u64,
        "{session}"
    );
}

#[tokio::test]
async fn an_app_with_a_base_path_is_published_under_apps_on_the_gateways_own_host() {
    // An app that lives under /apps/inner/ and tells what it was sent.
    let app = axum::Router::new().route(
        "/apps/inner/{*rest}",
        axum::routing::get(
            |uri: axum::http::Uri, headers: axum::http::HeaderMap| async move {
                let cookie = headers
                    .get("cookie")
                    .map(|c| c.to_str().unwrap().to_owned())
                    .unwrap_or_default();
                axum::Json(json!({ "path": uri.path(), "cookie": cookie }))
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let ops = gw.user(&admin, "ops1", "user").await;
    app_connection(
        &gw,
        &admin,
        "inner",
        &format!("http://{target}"),
        json!({ "publish": "path" }),
    )
    .await;
    let browser = AppBrowser::client(&gw, "localhost");
    let gateway = format!("http://{}", gw.addr);

    let launched = browser
        .get(format!(
            "{gateway}/apps/launch/inner?next=/apps/inner/hello"
        ))
        .bearer_auth(&ops)
        .send()
        .await
        .unwrap();
    assert_eq!(launched.status(), StatusCode::SEE_OTHER);
    let enter = launched.headers()[LOCATION].to_str().unwrap().to_owned();
    assert!(
        enter.starts_with("/apps/inner/.gatehouse/enter?ticket="),
        "{enter}"
    );
    let entered = browser
        .get(format!("{gateway}{enter}"))
        .send()
        .await
        .unwrap();
    assert_eq!(entered.status(), StatusCode::SEE_OTHER);
    assert_eq!(entered.headers()[LOCATION], "/apps/inner/hello");
    let set = entered.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(
        set.contains("Path=/apps/inner/"),
        "only under the app's path: {set}"
    );
    let cookie = set.split(';').next().unwrap().to_owned();

    let seen: Value = browser
        .get(format!("{gateway}/apps/inner/hello"))
        .header(
            COOKIE,
            format!("gatehouse_session=secret-login; {cookie}; theme=dark"),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        seen,
        json!({ "path": "/apps/inner/hello", "cookie": "theme=dark" })
    );

    // The gateway's own pages are not the app's.
    let (status, _) = gw.get(Some(&ops), "/auth/me").await;
    assert_eq!(status, StatusCode::OK);
    // Without the app cookie: sent to log in through the gateway.
    let anonymous = browser
        .get(format!("{gateway}/apps/inner/hello"))
        .header("Sec-Fetch-Mode", "navigate")
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        anonymous.headers()[LOCATION],
        "/apps/launch/inner?next=/apps/inner/hello"
    );

    let id = the_session(&gw, &admin).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    gw.post(Some(&admin), "/sessions/end", json!({ "ids": [id] }))
        .await;
    let after = eventually(Duration::from_secs(3), || async {
        let r = browser
            .get(format!("{gateway}/apps/inner/hello"))
            .header(COOKIE, &cookie)
            .send()
            .await
            .unwrap();
        (r.status() == StatusCode::GONE).then_some(())
    })
    .await;
    assert!(
        after.is_some(),
        "the ended session's cookie still opens the app"
    );
}

#[tokio::test]
async fn each_person_has_their_own_app_session_and_bad_input_gets_a_clear_answer() {
    let bin = Httpbin::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let ops = gw.user(&admin, "ops1", "user").await;
    let dev = gw.user(&admin, "dev2", "user").await;
    app_connection(
        &gw,
        &admin,
        "grafana",
        &bin.url(""),
        json!({ "identity_header": "X-Gatehouse-User", "users": ["ops1", "dev2"] }),
    )
    .await;
    let theirs = AppBrowser::open(&gw, &ops, "grafana").await;
    let mine = AppBrowser::open(&gw, &dev, "grafana").await;
    assert_ne!(theirs.cookie, mine.cookie);
    for (browser, user) in [(&theirs, "ops1"), (&mine, "dev2")] {
        let seen: Value = browser.get("/headers").await.json().await.unwrap();
        assert_eq!(seen["headers"]["X-Gatehouse-User"], user, "{seen}");
    }
    let (_, listed) = gw.get(Some(&admin), "/sessions").await;
    let mut users: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["user"].as_str().unwrap())
        .collect();
    users.sort();
    assert_eq!(users, ["dev2", "ops1"]);
    // dev2 sees only their own session.
    let (_, own) = gw.get(Some(&dev), "/sessions").await;
    assert_eq!(own["total"], 1, "{own}");

    // Headers larger than the gateway takes: 431, and the session goes on.
    let huge = mine
        .http
        .get(format!("{}/get", mine.origin))
        .header(COOKIE, &mine.cookie)
        .header("X-Padding", "a".repeat(512 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert_eq!(mine.get("/get").await.status(), StatusCode::OK);

    // An app that answers garbage: 502 naming it.
    let garbage = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let garbage_addr = garbage.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut tcp, _)) = garbage.accept().await {
            let mut buf = [0u8; 4096];
            let _ = tcp.read(&mut buf).await;
            let _ = tcp.write_all(b"this is not HTTP at all\r\n\r\n").await;
        }
    });
    app_connection(
        &gw,
        &admin,
        "broken",
        &format!("http://{garbage_addr}"),
        json!({ "users": ["dev2"] }),
    )
    .await;
    let broken = AppBrowser::open(&gw, &dev, "broken").await;
    let answer = broken.get("/").await;
    assert_eq!(answer.status(), StatusCode::BAD_GATEWAY);
    let told: Value = answer.json().await.unwrap();
    assert_eq!(told["error"]["code"], "app_bad_response", "{told}");
}
