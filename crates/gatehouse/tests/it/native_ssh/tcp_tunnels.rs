//! `ssh -N -L 15432:prod-pg:5432 ops1@gw`: OpenSSH alone reaches a `tcp`
//! connection, the forward's host read as the connection's name; one SSH
//! connection's forwards to it are one tunnel session, listed, counted and
//! ended like `gatehouse tunnel`'s.

use std::net::SocketAddr;
use std::time::Instant;

use tokio::net::TcpStream;

use super::*;
use crate::harness::tcp::EchoConnection;

/// A gateway, ops1 with a registered key, and tcp connection `echo`.
async fn setup() -> (TestGateway, String, Client, SocketAddr) {
    let (gw, admin, client, echo, _) = setup_limited(json!({})).await;
    (gw, admin, client, echo)
}

/// [`setup`] with `limits` on `echo` (`PUT /connections/{id}/limits`),
/// checked every 100 ms and warned 2 s ahead; also `echo`'s id.
async fn setup_limited(limits: Value) -> (TestGateway, String, Client, SocketAddr, String) {
    let EchoConnection {
        gw,
        admin,
        ops,
        echo,
        id,
    } = EchoConnection::start(limits).await;
    let client = Client::registered(&gw, &ops).await;
    (gw, admin, client, echo, id)
}

/// `ssh -N -L LOCAL:forward ops1@gw`, once its local end listens.
///
/// Found listening in /proc/net/tcp, not by connecting: a probe connection
/// would be forwarded too, its channel handled at the gateway alongside
/// the test's own, and counted whenever its lookups finish — before or
/// after a count the test reads, or not at all when the session ends
/// first (which is what once left `total_connections` at 1 where 2 were
/// expected).
async fn forward(client: &Client, forward: &str) -> (Child, u16) {
    let local = free_port();
    let spec = format!("{local}:{forward}");
    let mut cmd = client.ssh("ops1", &["-N", "-L", &spec]);
    cmd.stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    eventually(Duration::from_secs(10), || async {
        listening(local).then_some(())
    })
    .await
    .expect("ssh listens on the local end");
    (child, local)
}

/// Whether something listens on 127.0.0.1:`port`.
fn listening(port: u16) -> bool {
    let local = format!("0100007F:{port:04X}");
    std::fs::read_to_string("/proc/net/tcp")
        .unwrap_or_default()
        .lines()
        .skip(1)
        .any(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.get(1) == Some(&local.as_str()) && fields.get(3) == Some(&"0A")
        })
}

/// Writes `line` and reads the same number of bytes back (or what came
/// before the connection closed).
async fn echo_once(tcp: &mut TcpStream, line: &[u8]) -> Vec<u8> {
    tcp.write_all(line).await.unwrap();
    let mut back = vec![0; line.len()];
    let mut got = 0;
    while got < back.len() {
        match tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut back[got..])).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => got += n,
        }
    }
    back.truncate(got);
    back
}

#[tokio::test]
async fn ssh_local_forward_to_a_tcp_connection_is_one_listed_tunnel_session() {
    let (gw, admin, client, echo) = setup().await;
    let (_ssh, local) = forward(&client, &format!("echo:{}", echo.port())).await;

    let mut first = TcpStream::connect(("127.0.0.1", local)).await.unwrap();
    assert_eq!(echo_once(&mut first, b"hello\n").await, b"hello\n");
    let mut second = TcpStream::connect(("127.0.0.1", local)).await.unwrap();
    assert_eq!(echo_once(&mut second, b"again\n").await, b"again\n");

    let live = eventually(Duration::from_secs(10), || async {
        let list = gw.sessions(&admin, "echo").await;
        let s = list["items"].as_array()?.first()?.clone();
        (s["detail"]["open_connections"] == 2).then_some(s)
    })
    .await
    .unwrap_or_else(|| panic!("no tunnel with two open connections"));
    assert_eq!(live["protocol"], "tcp");
    assert_eq!(live["user"], "ops1");
    assert_eq!(live["target"], format!("127.0.0.1:{}", echo.port()));
    assert_eq!(live["detail"]["total_connections"], 2);
    assert_eq!(live["detail"]["program"], "ssh -L");
    assert_eq!(live["bytes_from_client"], 12, "{live}");
    assert_eq!(live["bytes_to_client"], 12, "{live}");
    assert_eq!(
        gw.sessions(&admin, "").await["total"],
        1,
        "one SSH connection's forwards are one session"
    );
    drop(first);
    let closed = eventually(Duration::from_secs(10), || async {
        let s = gw.sessions(&admin, "echo").await["items"][0].clone();
        (s["detail"]["open_connections"] == 1).then_some(())
    })
    .await;
    assert!(
        closed.is_some(),
        "a closed connection stays counted as open"
    );
}

#[tokio::test]
async fn ending_an_ssh_tunnel_drops_its_connections_and_the_client_refuses_reconnects() {
    let (gw, admin, client, echo) = setup().await;
    let (mut ssh, local) = forward(&client, &format!("echo:{}", echo.port())).await;
    let mut tcp = TcpStream::connect(("127.0.0.1", local)).await.unwrap();
    assert_eq!(echo_once(&mut tcp, b"ping\n").await, b"ping\n");
    let live = eventually(Duration::from_secs(10), || async {
        let list = gw.sessions(&admin, "echo").await;
        list["items"].as_array()?.first().cloned()
    })
    .await
    .expect("the tunnel is listed");

    let (status, body) = gw
        .post(
            Some(&admin),
            "/sessions/end",
            json!({ "ids": [live["id"]], "reason": "maintenance" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // The open connection drops at once: EOF or reset, within the second.
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(3), tcp.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "the forwarded connection stayed open: {read:?}"
    );
    // `ssh -N` is disconnected with the reason, so nothing listens any more.
    let status = tokio::time::timeout(Duration::from_secs(5), ssh.wait())
        .await
        .expect("ssh was not disconnected")
        .unwrap();
    assert!(!status.success());
    let mut stderr = String::new();
    ssh.stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .await
        .unwrap();
    assert!(
        stderr.contains("Session ended by administrator admin: maintenance"),
        "{stderr}"
    );
    assert!(TcpStream::connect(("127.0.0.1", local)).await.is_err());
    let row = gw.ended_history(&admin, live["id"].as_str().unwrap()).await;
    assert_eq!(row["end_reason"], "ended_by_admin", "{row}");
    assert_eq!(row["protocol"], "tcp", "{row}");
    assert_eq!(row["detail"]["program"], "ssh -L", "{row}");
    assert_eq!(row["detail"]["total_connections"], 1, "{row}");
    assert_eq!(row["bytes_to_client"], 5, "{row}");
    assert!(row["recording"].is_null(), "{row}");
    assert_eq!(gw.sessions(&admin, "").await["total"], 0);
}

#[tokio::test]
async fn a_forward_to_a_wrong_port_or_an_ungranted_name_is_refused_and_audited() {
    let (gw, admin, client, echo) = setup().await;
    gw.connection(
        &admin,
        json!({ "name": "secret-db", "protocol": "tcp", "host": "127.0.0.1", "port": echo.port() }),
    )
    .await;
    for spec in [
        format!("echo:{}", echo.port() + 1),
        format!("secret-db:{}", echo.port()),
        format!("127.0.0.1:{}", echo.port()),
    ] {
        let (mut ssh, local) = forward(&client, &spec).await;
        let mut tcp = TcpStream::connect(("127.0.0.1", local)).await.unwrap();
        let back = echo_once(&mut tcp, b"leak?\n").await;
        assert!(back.is_empty(), "{spec} passed {back:?}");
        let _ = ssh.kill().await;
    }
    let refused = eventually(Duration::from_secs(5), || async {
        let events = gw.audit(&admin, "ssh.refused").await;
        (events.len() >= 3).then_some(events)
    })
    .await
    .expect("every refusal is audited");
    let whys: Vec<String> = refused
        .iter()
        .map(|e| {
            e["details"]["details"]["why"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        })
        .collect();
    let port = echo.port();
    assert!(
        whys.iter().any(|w| w
            == &format!(
                "echo is port {port}: forward to echo:{port}, not echo:{}",
                port + 1
            )),
        "{whys:?}"
    );
    assert!(
        whys.iter()
            .any(|w| w == "no tcp connection named secret-db is granted to ops1"),
        "{whys:?}"
    );
    assert_eq!(gw.sessions(&admin, "").await["total"], 0);
}

/// Waits (up to `limit`) for `ssh` to exit; whether it failed, and its stderr.
async fn exited(ssh: &mut Child, limit: Duration) -> (bool, String) {
    let status = tokio::time::timeout(limit, ssh.wait())
        .await
        .expect("ssh was not disconnected")
        .unwrap();
    let mut stderr = String::new();
    ssh.stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .await
        .unwrap();
    (!status.success(), stderr)
}

/// Whether `tcp` was dropped (EOF or reset) within a few seconds.
async fn dropped(tcp: &mut TcpStream) -> bool {
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(3), tcp.read(&mut buf)).await;
    matches!(read, Ok(Ok(0)) | Ok(Err(_)))
}

/// An `ssh -N` client has no terminal, so the idle warning reaches it
/// nowhere (it is in Active Sessions as `ends_in_seconds`); bytes either
/// way count as activity, and at the limit the forwarded connections drop
/// and the disconnect message carries the reason.
#[tokio::test]
async fn an_idle_ssh_tunnel_ends_as_idle_timeout_and_the_client_is_told_why() {
    let (gw, admin, client, echo, _) = setup_limited(json!({ "idle_timeout_seconds": 3 })).await;
    let (mut ssh, local) = forward(&client, &format!("echo:{}", echo.port())).await;
    let mut tcp = TcpStream::connect(("127.0.0.1", local)).await.unwrap();
    // Bytes every second keep it alive past its idle limit.
    let opened = Instant::now();
    while opened.elapsed() < Duration::from_secs(5) {
        assert_eq!(echo_once(&mut tcp, b"busy\n").await, b"busy\n");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let live = gw.sessions(&admin, "echo").await["items"][0].clone();
    assert_eq!(live["idle_timeout_seconds"], 3, "{live}");
    assert!(
        ssh.try_wait().unwrap().is_none(),
        "a tunnel moving bytes ended as idle"
    );

    let quiet = Instant::now();
    assert!(
        dropped(&mut tcp).await,
        "the forwarded connection stayed open"
    );
    let (failed, stderr) = exited(&mut ssh, Duration::from_secs(5)).await;
    let waited = quiet.elapsed();
    assert!(failed);
    assert!(stderr.contains("Session ended: idle_timeout"), "{stderr}");
    assert!(
        waited >= Duration::from_millis(1500) && waited < Duration::from_secs(6),
        "ended {waited:?} after the last bytes"
    );
    let row = gw.ended_history(&admin, live["id"].as_str().unwrap()).await;
    assert_eq!(row["end_reason"], "idle_timeout", "{row}");
    assert_eq!(
        row["end_message"], "no input for 3s (idle limit set by connection echo)",
        "{row}"
    );
    assert_eq!(gw.sessions(&admin, "").await["total"], 0);
}

#[tokio::test]
async fn an_ssh_tunnel_ends_at_its_maximum_duration_however_busy() {
    let (gw, admin, client, echo, _) = setup_limited(json!({ "max_session_seconds": 3 })).await;
    let (mut ssh, local) = forward(&client, &format!("echo:{}", echo.port())).await;
    let opened = Instant::now();
    let mut tcp = TcpStream::connect(("127.0.0.1", local)).await.unwrap();
    let live = eventually(Duration::from_secs(10), || async {
        gw.sessions(&admin, "echo").await["items"][0]
            .get("id")
            .cloned()
    })
    .await
    .expect("the tunnel is listed");
    // Busy all along: the limit ends it anyway.
    let mut ended = false;
    while opened.elapsed() < Duration::from_secs(8) {
        if echo_once(&mut tcp, b"busy\n").await != b"busy\n" {
            ended = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        ended,
        "the forwarded connection outlived the tunnel's limit"
    );
    let (failed, stderr) = exited(&mut ssh, Duration::from_secs(5)).await;
    let waited = opened.elapsed();
    assert!(failed);
    assert!(stderr.contains("Session ended: max_duration"), "{stderr}");
    assert!(
        waited >= Duration::from_millis(2500) && waited < Duration::from_secs(8),
        "ended after {waited:?}"
    );
    let row = gw.ended_history(&admin, live.as_str().unwrap()).await;
    assert_eq!(row["end_reason"], "max_duration", "{row}");
    assert!(TcpStream::connect(("127.0.0.1", local)).await.is_err());
}

/// The `ssh -L` twin of `tunnels::a_connection_whose_client_stops_reading_holds_up_no_other`.
/// Target to client, each channel has its own window (OpenSSH returns it
/// as it writes to the local socket); client to target too: the vendored
/// russh returns a channel's window as the gateway reads the channel, not
/// as packets arrive, and queues packets without waiting (vendor/README.md),
/// so a channel whose target stops reading stops only itself.
#[tokio::test]
async fn an_ssh_forward_whose_client_stops_reading_holds_up_no_other() {
    let (_gw, _admin, client, echo) = setup().await;
    let (_ssh, local) = forward(&client, &format!("echo:{}", echo.port())).await;
    let stalled = TcpStream::connect(("127.0.0.1", local)).await.unwrap();
    let (_read, mut write) = stalled.into_split();
    tokio::spawn(async move {
        let block = vec![1u8; 64 * 1024];
        while write.write_all(&block).await.is_ok() {}
    });
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut other = TcpStream::connect(("127.0.0.1", local)).await.unwrap();
    let payload: Vec<u8> = (0..4u32 << 20).map(|n| (n % 251) as u8).collect();
    let back = tokio::time::timeout(Duration::from_secs(30), async {
        let (mut r, mut w) = other.split();
        let send = async {
            w.write_all(&payload).await.unwrap();
        };
        let mut back = vec![0u8; payload.len()];
        let recv = async { r.read_exact(&mut back).await.map(|_| ()) };
        let (_, got) = tokio::join!(send, recv);
        got.map(|()| back)
    })
    .await
    .expect("the stalled forward held up the other one");
    assert!(back.unwrap() == payload, "4 MiB came back different");
}
