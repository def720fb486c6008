//! What the tunnel tests share, for `gatehouse tunnel` (tests/it/tunnels.rs)
//! and `ssh -L` (native_ssh/tcp_tunnels.rs) alike: a TCP echo server of the
//! test's own, and a gateway with a `tcp` connection to it.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::net::TcpListener;

use super::TestGateway;

/// An echo server: every connection gets back what it sends.
pub async fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = tcp.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

/// A gateway checking limits every 100 ms and warning 2 s ahead, the user
/// `ops1`, and tcp connection `echo` to an [`echo_server`], granted to
/// ops1 with `limits` (`PUT /connections/{id}/limits`).
pub struct EchoConnection {
    pub gw: TestGateway,
    /// The administrator's token.
    pub admin: String,
    /// ops1's token.
    pub ops: String,
    pub echo: SocketAddr,
    /// The connection's id.
    pub id: String,
}

impl EchoConnection {
    pub async fn start(limits: Value) -> EchoConnection {
        let echo = echo_server().await;
        let gw = TestGateway::spawn_with(|c| {
            c.session_warning = Duration::from_secs(2);
            c.policy_interval = Duration::from_millis(100);
        })
        .await;
        let admin = gw.admin().await;
        let ops = gw.user(&admin, "ops1", "user").await;
        let id = gw
            .connection(
                &admin,
                json!({ "name": "echo", "protocol": "tcp", "host": "127.0.0.1", "port": echo.port(), "users": ["ops1"] }),
            )
            .await;
        let (status, body) = gw
            .put(&admin, &format!("/connections/{id}/limits"), limits)
            .await;
        assert_eq!(status, 200, "{body}");
        EchoConnection {
            gw,
            admin,
            ops,
            echo,
            id,
        }
    }
}
