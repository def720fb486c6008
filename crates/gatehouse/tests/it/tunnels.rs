//! TCP tunnels for native clients: `gatehouse tunnel` carries real
//! programs' connections (PostgreSQL's `psql`, FreeRDP's `xfreerdp`, a
//! plain echo) through one gateway session, listed, counted and ended like
//! every session.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message;

use crate::harness::httpbin::free_port;
use crate::harness::postgres::Postgres;
use crate::harness::rdp::{Display, RdpServer};
use crate::harness::tcp::{EchoConnection, echo_server};
use crate::harness::{TestGateway, eventually};

/// A running `gatehouse tunnel`: its local address and its stderr.
pub(crate) struct Tunnel {
    child: Child,
    pub(crate) local: SocketAddr,
    /// Kept open: the command still prints after its address.
    _stdout: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

impl Tunnel {
    pub(crate) async fn open(
        gw: &TestGateway,
        token: &str,
        connection: &str,
        extra: &[&str],
    ) -> Tunnel {
        let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .args(["tunnel", connection])
            .args(extra)
            .env("GATEHOUSE_URL", format!("http://{}", gw.addr))
            .env("GATEHOUSE_TOKEN", token)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let local = tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(rest) = line.strip_prefix("Listening on ") {
                    return rest
                        .split(':')
                        .take(2)
                        .collect::<Vec<_>>()
                        .join(":")
                        .parse()
                        .ok();
                }
            }
            None
        })
        .await
        .ok()
        .flatten();
        let Some(local) = local else {
            let out = child.wait_with_output().await.unwrap();
            panic!("no tunnel: {}", String::from_utf8_lossy(&out.stderr));
        };
        Tunnel {
            child,
            local,
            _stdout: lines,
        }
    }

    /// Waits (up to `limit`) for the command to stop; its exit status and stderr.
    async fn stopped(self, limit: Duration) -> (bool, String) {
        let out = tokio::time::timeout(limit, self.child.wait_with_output())
            .await
            .expect("gatehouse tunnel did not stop")
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

/// A gateway, a user `ops1` and a tcp connection `name` to `addr` granted to them.
async fn setup(name: &str, addr: SocketAddr) -> (TestGateway, String, String) {
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let ops = gw.user(&admin, "ops1", "user").await;
    gw.connection(
        &admin,
        json!({ "name": name, "protocol": "tcp", "host": addr.ip().to_string(), "port": addr.port(), "users": ["ops1"] }),
    )
    .await;
    (gw, admin, ops)
}

/// The one live session of `user`'s tunnels, once `ready` holds for it.
async fn session(gw: &TestGateway, admin: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let found = eventually(Duration::from_secs(10), || async {
        let list = gw.sessions(admin, "tcp").await;
        list["items"].as_array()?.iter().find(|s| ready(s)).cloned()
    })
    .await;
    match found {
        Some(session) => session,
        None => panic!("no such tunnel session: {}", gw.sessions(admin, "").await),
    }
}

fn psql(port: u16, sql: &str) -> Command {
    let mut cmd = Command::new("psql");
    cmd.args([
        "-h",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-U",
        "postgres",
        "-d",
        "postgres",
    ])
    .args(["-X", "-A", "-t", "-c", sql])
    .env("PGCONNECT_TIMEOUT", "10")
    .stdin(Stdio::null())
    .kill_on_drop(true);
    cmd
}

#[tokio::test]
async fn psql_runs_a_query_through_a_tunnel_listed_in_active_sessions() {
    let pg = Postgres::start();
    let (gw, admin, ops) = setup("prod-pg", ([127, 0, 0, 1], pg.port).into()).await;
    let tunnel = Tunnel::open(&gw, &ops, "prod-pg", &["--for", "psql"]).await;

    let out = psql(
        tunnel.local.port(),
        "SELECT n, n * n FROM generate_series(1, 3) AS n",
    )
    .output()
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1|1\n2|4\n3|9\n");

    let live = session(&gw, &admin, |s| s["detail"]["total_connections"] == 1).await;
    assert_eq!(live["protocol"], "tcp");
    assert_eq!(live["user"], "ops1");
    assert_eq!(live["target"], format!("127.0.0.1:{}", pg.port));
    assert_eq!(live["detail"]["program"], "psql");
    assert!(live["bytes_from_client"].as_u64().unwrap() > 0, "{live}");
    assert!(live["bytes_to_client"].as_u64().unwrap() > 0, "{live}");
    let live = session(&gw, &admin, |s| s["detail"]["open_connections"] == 0).await;
    assert_eq!(live["detail"]["total_connections"], 1);
    drop(tunnel);
}

#[tokio::test]
async fn ending_a_tunnel_mid_query_makes_psql_fail_at_once() {
    let pg = Postgres::start();
    let (gw, admin, ops) = setup("prod-pg", ([127, 0, 0, 1], pg.port).into()).await;
    let tunnel = Tunnel::open(&gw, &ops, "prod-pg", &[]).await;
    let sleeping = psql(tunnel.local.port(), "SELECT pg_sleep(30)")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let live = session(&gw, &admin, |s| s["detail"]["open_connections"] == 1).await;
    // Let psql's query reach the server.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let started = Instant::now();
    let (status, ended) = gw
        .post(
            Some(&admin),
            "/sessions/end",
            json!({ "ids": [live["id"]], "reason": "maintenance" }),
        )
        .await;
    assert_eq!(status, 200, "{ended}");
    let out = tokio::time::timeout(Duration::from_secs(5), sleeping.wait_with_output())
        .await
        .expect("psql did not fail at once")
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(!out.status.success());
    let psql_err = String::from_utf8_lossy(&out.stderr);
    assert!(
        psql_err.contains("server closed the connection"),
        "{psql_err}"
    );

    let local = tunnel.local;
    let (ok, stderr) = tunnel.stopped(Duration::from_secs(5)).await;
    assert!(!ok);
    assert!(
        stderr.contains("Session ended by administrator admin: maintenance (ended_by_admin)"),
        "{stderr}"
    );
    // No reconnect under the ended session: nothing listens any more.
    assert!(TcpStream::connect(local).await.is_err());
    let row = gw.ended_history(&admin, live["id"].as_str().unwrap()).await;
    assert_eq!(row["end_reason"], "ended_by_admin", "{row}");
}

/// The README's RDP recipe: a user's own RDP client (`xfreerdp`, in a
/// window on a display of its own) through `gatehouse tunnel` to a real RDP
/// server (FreeRDP's shadow server, NLA over TLS), until an administrator
/// ends the tunnel: the client's connection drops and it exits.
#[tokio::test]
async fn an_rdp_client_of_the_users_own_reaches_a_desktop_through_a_tunnel_until_it_is_ended() {
    let server = RdpServer::start("rdpuser", "S3cret-pass-1").await;
    let (gw, admin, ops) = setup("win-desk", server.addr).await;
    let tunnel = Tunnel::open(&gw, &ops, "win-desk", &["--for", "xfreerdp"]).await;
    let display = Display::start().await;
    assert_eq!(display.white_share(), 0.0, "a new display is black");
    let client = Command::new("xfreerdp")
        .arg(format!("/v:{}", tunnel.local))
        .args([
            "/u:rdpuser",
            "/p:S3cret-pass-1",
            "/cert:ignore",
            "/log-level:WARN",
        ])
        .env("DISPLAY", format!(":{}", display.number))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("xfreerdp (Debian freerdp2-x11; run scripts/prerequisites)");

    // Logged in (NLA over TLS) and drawing: the server's xterm, white on
    // its black screen, shows in the client's window on the user's screen.
    let drawn = eventually(Duration::from_secs(20), || async {
        (display.white_share() > 0.2).then_some(())
    })
    .await;
    let live = gw.sessions(&admin, "tcp").await["items"][0].clone();
    assert!(
        drawn.is_some(),
        "no desktop through the tunnel ({:.3} of the screen white): {live}; the server said: {}",
        display.white_share(),
        server.log()
    );
    assert!(live["bytes_to_client"].as_u64() > Some(0), "{live}");
    assert_eq!(live["detail"]["program"], "xfreerdp", "{live}");
    assert!(
        live["detail"]["open_connections"].as_u64() >= Some(1),
        "{live}"
    );

    let (status, ended) = gw
        .post(
            Some(&admin),
            "/sessions/end",
            json!({ "ids": [live["id"]], "reason": "patching the host" }),
        )
        .await;
    assert_eq!(status, 200, "{ended}");
    let out = tokio::time::timeout(Duration::from_secs(10), client.wait_with_output())
        .await
        .expect("xfreerdp kept running after its tunnel was ended")
        .unwrap();
    assert!(
        !out.status.success(),
        "xfreerdp: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (ok, stderr) = tunnel.stopped(Duration::from_secs(5)).await;
    assert!(!ok);
    assert!(stderr.contains("patching the host"), "{stderr}");
    let row = gw.ended_history(&admin, live["id"].as_str().unwrap()).await;
    assert_eq!(row["end_reason"], "ended_by_admin", "{row}");
}

#[tokio::test]
async fn a_locked_users_tunnel_ends() {
    let pg = Postgres::start();
    let (gw, admin, ops) = setup("prod-pg", ([127, 0, 0, 1], pg.port).into()).await;
    let tunnel = Tunnel::open(&gw, &ops, "prod-pg", &[]).await;
    session(&gw, &admin, |s| s["user"] == "ops1").await;
    let id = gw.user_id(&admin, "ops1").await;
    let (status, body) = gw
        .post(Some(&admin), &format!("/users/{id}/lock"), json!({}))
        .await;
    assert!(status.is_success(), "{body}");
    let (ok, stderr) = tunnel.stopped(Duration::from_secs(5)).await;
    assert!(!ok);
    assert!(stderr.contains("user_locked"), "{stderr}");
}

/// Limits apply to a tunnel as to any session: bytes either way are its
/// activity, `gatehouse tunnel` prints the idle warning, and at the limit
/// it stops with the reason.
#[tokio::test]
async fn an_idle_tunnel_is_warned_then_ended_and_bytes_keep_it_alive() {
    let EchoConnection { gw, admin, ops, .. } =
        EchoConnection::start(json!({ "idle_timeout_seconds": 3 })).await;
    let mut tunnel = Tunnel::open(&gw, &ops, "echo", &[]).await;
    let opened = Instant::now();
    while opened.elapsed() < Duration::from_secs(5) {
        assert_eq!(round_trip(tunnel.local, b"busy".to_vec()).await, b"busy");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert!(
        tunnel.child.try_wait().unwrap().is_none(),
        "a tunnel moving bytes ended as idle"
    );
    let live = session(&gw, &admin, |s| s["user"] == "ops1").await;
    let quiet = Instant::now();
    let (ok, stderr) = tunnel.stopped(Duration::from_secs(8)).await;
    let waited = quiet.elapsed();
    assert!(!ok);
    assert!(
        stderr.contains("unless it is used") && stderr.contains("idle_timeout"),
        "{stderr}"
    );
    assert!(
        waited >= Duration::from_millis(1500) && waited < Duration::from_secs(6),
        "ended {waited:?} after the last bytes"
    );
    let row = gw.ended_history(&admin, live["id"].as_str().unwrap()).await;
    assert_eq!(row["end_reason"], "idle_timeout", "{row}");
}

/// Sends `payload`, half-closes, and reads everything back.
async fn round_trip(local: SocketAddr, payload: Vec<u8>) -> Vec<u8> {
    let tcp = TcpStream::connect(local).await.unwrap();
    let (mut r, mut w) = tcp.into_split();
    let send = tokio::spawn(async move {
        w.write_all(&payload).await.unwrap();
        w.shutdown().await.unwrap();
    });
    let mut back = Vec::new();
    r.read_to_end(&mut back).await.unwrap();
    send.await.unwrap();
    back
}

#[tokio::test]
async fn echo_round_trip_and_100_parallel_connections_in_one_tunnel() {
    let echo = echo_server().await;
    let (gw, admin, ops) = setup("echo", echo).await;
    let tunnel = Tunnel::open(&gw, &ops, "echo", &[]).await;

    assert_eq!(
        round_trip(tunnel.local, b"hello\n".to_vec()).await,
        b"hello\n"
    );

    let mut all = tokio::task::JoinSet::new();
    for i in 0..100u32 {
        let local = tunnel.local;
        all.spawn(async move {
            let payload: Vec<u8> = (0..100_000u32)
                .map(|n| (n.wrapping_mul(31) ^ i) as u8)
                .collect();
            let back = round_trip(local, payload.clone()).await;
            assert!(back == payload, "connection {i} came back different");
        });
    }
    tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(done) = all.join_next().await {
            done.unwrap();
        }
    })
    .await
    .expect("100 connections did not finish");

    let live = session(&gw, &admin, |s| {
        s["detail"]["total_connections"] == 101 && s["detail"]["open_connections"] == 0
    })
    .await;
    assert!(
        live["bytes_to_client"].as_u64().unwrap() >= 10_000_006,
        "{live}"
    );
    let listed = gw.sessions(&admin, "echo").await;
    assert_eq!(listed["total"], 1, "one tunnel is one session: {listed}");
    drop(tunnel);

    // History keeps the counts and bytes, never the contents.
    let row = gw.ended_history(&admin, live["id"].as_str().unwrap()).await;
    assert_eq!(row["protocol"], "tcp", "{row}");
    assert_eq!(row["detail"]["total_connections"], 101, "{row}");
    assert_eq!(row["bytes_from_client"], live["bytes_from_client"], "{row}");
    assert!(
        row["bytes_to_client"].as_u64().unwrap() >= 10_000_006,
        "{row}"
    );
    assert!(row["recording"].is_null(), "{row}");
}

/// A local client that writes without end and never reads: the echo
/// target's answers back up to it. Returns how much it got written.
fn stalled_client(tcp: TcpStream) -> std::sync::Arc<std::sync::atomic::AtomicU64> {
    use std::sync::atomic::{AtomicU64, Ordering};
    let written = std::sync::Arc::new(AtomicU64::new(0));
    let counter = written.clone();
    tokio::spawn(async move {
        let (_read, mut write) = tcp.into_split();
        let block = vec![1u8; 64 * 1024];
        while write.write_all(&block).await.is_ok() {
            counter.fetch_add(block.len() as u64, Ordering::Relaxed);
        }
    });
    written
}

#[tokio::test]
async fn a_connection_whose_client_stops_reading_holds_up_no_other() {
    use std::sync::atomic::Ordering;
    let echo = echo_server().await;
    let (gw, admin, ops) = setup("echo", echo).await;
    let tunnel = Tunnel::open(&gw, &ops, "echo", &[]).await;

    let stalled = TcpStream::connect(tunnel.local).await.unwrap();
    let written = stalled_client(stalled);
    // Until its stream's windows and the sockets' buffers are full: no
    // progress for half a second.
    let mut last = 0;
    let mut settled = false;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = written.load(Ordering::Relaxed);
        if now > 0 && now == last {
            settled = true;
            break;
        }
        last = now;
    }
    assert!(settled, "the stalled client never stopped writing");

    // Another connection of the same tunnel moves 16 MiB both ways.
    let payload: Vec<u8> = (0..16u32 << 20).map(|n| (n % 251) as u8).collect();
    let back = tokio::time::timeout(
        Duration::from_secs(60),
        round_trip(tunnel.local, payload.clone()),
    )
    .await
    .expect("the stalled connection held up the other one");
    assert!(back == payload, "16 MiB came back different");

    // The stalled one stays held back, not buffered: what it wrote fits
    // in its stream's windows and the sockets' buffers along the way.
    let held = written.load(Ordering::Relaxed);
    assert!(
        held <= FLOOD_BOUND,
        "the stalled connection got {} MiB in",
        held >> 20
    );
    let live = session(&gw, &admin, |s| s["detail"]["total_connections"] == 2).await;
    assert_eq!(live["detail"]["open_connections"], 1, "{live}");
    drop(tunnel);
}

#[tokio::test]
async fn a_refused_target_port_is_a_clear_error_and_audited() {
    let (gw, admin, ops) = setup("closed", free_port()).await;
    let tunnel = Tunnel::open(&gw, &ops, "closed", &[]).await;
    let mut tcp = TcpStream::connect(tunnel.local).await.unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the local connection was not closed");

    let events = eventually(Duration::from_secs(5), || async {
        let events = gw.audit(&admin, "session.failed").await;
        (!events.is_empty()).then_some(events)
    })
    .await
    .expect("no session.failed event");
    assert_eq!(events[0]["target"], "closed");
    assert_eq!(
        events[0]["details"]["code"], "target_unreachable",
        "{}",
        events[0]
    );

    let mut child = tunnel.child;
    child.start_kill().unwrap();
    let out = child.wait_with_output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot reach 127.0.0.1:"), "{stderr}");
    assert!(stderr.contains("(target_unreachable)"), "{stderr}");
}

#[tokio::test]
async fn other_protocols_and_missing_tokens_are_refused_as_tunnels() {
    let echo = echo_server().await;
    let (gw, admin, ops) = setup("echo", echo).await;
    let app = gw
        .connection(&admin, json!({ "name": "wiki", "protocol": "http", "url": "http://127.0.0.1:9", "users": ["ops1"] }))
        .await;
    let out = gw.cli(&ops, &["tunnel", "wiki"]).await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("wiki is a http connection: only tcp connections open as tunnels"),
        "{stderr}"
    );

    let (status, body) = gw
        .get(Some(&ops), &format!("/connections/{app}/tunnel"))
        .await;
    assert_eq!(status, 400, "{body}");
    let (_, list) = gw.get(Some(&ops), "/connections").await;
    let echo_id = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "echo")
        .unwrap()["id"]
        .clone();
    let (status, body) = gw
        .get(
            None,
            &format!("/connections/{}/tunnel", echo_id.as_str().unwrap()),
        )
        .await;
    assert_eq!(status, 401, "{body}");

    // A tcp connection takes no secret, and no SSH settings.
    let (status, body) = gw
        .post(Some(&admin), "/connections", json!({ "name": "pg2", "protocol": "tcp", "host": "db", "port": 5432, "password": "x" }))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["error"]["message"],
        "password does not apply to tcp connections"
    );
    assert_eq!(gw.sessions(&admin, "").await["total"], 0);
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The tunnel WebSocket of connection `name`, as a client of our own
/// drives it (no `gatehouse tunnel` in between), past its `tunnel` hello.
async fn raw_tunnel(gw: &TestGateway, token: &str, name: &str) -> Ws {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let (_, list) = gw.get(Some(token), "/connections").await;
    let id = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut req = gw
        .ws_url(&format!("/connections/{id}/tunnel"))
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let (mut ws, _) =
        tokio_tungstenite::connect_async_tls_with_config(req, None, true, gw.ws_connector())
            .await
            .unwrap();
    match ws.next().await {
        Some(Ok(Message::Text(hello))) => assert!(hello.contains("\"tunnel\""), "{hello}"),
        other => panic!("no hello: {other:?}"),
    }
    ws
}

/// What the gateway may hold for one flooded tunnel before the flood
/// stops: its 16 MiB in-flight bound (a client that ignores its credit)
/// or one stream's 2 MiB window and its 4 MiB queue to the client, plus
/// what the kernel buffers on the sockets either side (a few MiB each on
/// loopback).
/// Without the bounds a flood moves hundreds of MiB in the time allowed.
const FLOOD_BOUND: u64 = 48 << 20;
const FLOOD_TIME: Duration = Duration::from_secs(3);

#[tokio::test]
async fn a_websocket_flood_is_held_back_not_buffered_both_ways() {
    use futures_util::SinkExt;
    use gatehouse_tunnel::frame::{Frame, MAX_DATA};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    // Toward a target that never reads.
    let deaf = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let deaf_addr = deaf.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((tcp, _)) = deaf.accept().await {
            held.push(tcp);
        }
    });
    // From a target that never stops sending, counting what it got out.
    let firehose = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let firehose_addr = firehose.local_addr().unwrap();
    let written = Arc::new(AtomicU64::new(0));
    let counter = written.clone();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = firehose.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                let block = vec![0u8; 64 * 1024];
                while tcp.write_all(&block).await.is_ok() {
                    counter.fetch_add(block.len() as u64, Ordering::Relaxed);
                }
            });
        }
    });
    let (gw, admin, ops) = setup("deaf", deaf_addr).await;
    gw.connection(
        &admin,
        json!({ "name": "firehose", "protocol": "tcp", "host": "127.0.0.1", "port": firehose_addr.port(), "users": ["ops1"] }),
    )
    .await;

    let mut ws = raw_tunnel(&gw, &ops, "deaf").await;
    ws.send(Message::Binary(Frame::Open(1).encode()))
        .await
        .unwrap();
    let chunk = Frame::data(1, &[7u8; MAX_DATA]);
    let mut sent = 0u64;
    let _ = tokio::time::timeout(FLOOD_TIME, async {
        while ws.send(Message::Binary(chunk.clone())).await.is_ok() {
            sent += MAX_DATA as u64;
        }
    })
    .await;
    assert!(
        sent >= 4 << 20,
        "the flood did not even fill the budget: {sent} bytes"
    );
    assert!(
        sent <= FLOOD_BOUND,
        "the gateway took {} MiB toward a target that reads nothing",
        sent >> 20
    );
    // Flooded, the session still ends at once when asked to.
    let live = session(&gw, &admin, |s| s["connection"]["name"] == "deaf").await;
    let (status, body) = gw
        .post(
            Some(&admin),
            "/sessions/end",
            json!({ "ids": [live["id"]], "reason": "flood" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        use futures_util::StreamExt;
        while let Some(Ok(msg)) = ws.next().await {
            if let Message::Text(t) = msg
                && t.contains("\"ended\"")
            {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(ended, Ok(true), "the flooded tunnel was not told it ended");

    // From the target, to a client that never reads.
    let mut ws = raw_tunnel(&gw, &ops, "firehose").await;
    ws.send(Message::Binary(Frame::Open(1).encode()))
        .await
        .unwrap();
    tokio::time::sleep(FLOOD_TIME).await;
    let out = written.load(Ordering::Relaxed);
    assert!(out >= 1 << 20, "the target sent nearly nothing: {out}");
    assert!(
        out <= FLOOD_BOUND,
        "the gateway read {} MiB for a client that reads nothing",
        out >> 20
    );
    drop(ws);
}
