//! WebSocket upgrades through the proxy, against a small echo target.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

use super::fixtures::{Gateway, upstream};
use crate::Outcome;

/// Echoes every text and binary message back, one connection per task.
struct EchoTarget {
    addr: SocketAddr,
    accept: JoinHandle<()>,
}

impl EchoTarget {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let accept = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
                        return;
                    };
                    while let Some(Ok(message)) = ws.next().await {
                        if (message.is_text() || message.is_binary())
                            && ws.send(message).await.is_err()
                        {
                            return;
                        }
                    }
                });
            }
        });
        Self { addr, accept }
    }
}

impl Drop for EchoTarget {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

#[tokio::test]
async fn websocket_echoes_through_the_proxy_until_stopped() {
    let echo = EchoTarget::start().await;
    let gateway = Gateway::start(upstream(&format!("http://{}", echo.addr))).await;
    let tcp = TcpStream::connect(gateway.addr).await.expect("connect");
    let url = format!("ws://{}/socket", gateway.public_host());
    let (mut ws, answer) = tokio_tungstenite::client_async(url, tcp)
        .await
        .expect("upgraded through the proxy");
    assert_eq!(answer.status(), 101);

    ws.send(Message::text("hello")).await.expect("send");
    let back = ws.next().await.expect("a message").expect("ok");
    assert_eq!(back, Message::text("hello"));
    let big = vec![7u8; 200_000];
    ws.send(Message::binary(big.clone())).await.expect("send");
    let back = ws.next().await.expect("a message").expect("ok");
    assert_eq!(back.into_data(), big);
    assert_eq!(gateway.meter.websocket_events(1).await, [true]);

    let cut_at = Instant::now();
    gateway.stop.cancel();
    let end = tokio::time::timeout(Duration::from_secs(2), ws.next())
        .await
        .expect("the socket closes after the stop");
    let took = cut_at.elapsed();

    assert!(
        !matches!(end, Some(Ok(Message::Text(_) | Message::Binary(_)))),
        "{end:?}"
    );
    assert!(took < Duration::from_millis(100), "cut after {took:?}");
    assert_eq!(gateway.meter.websocket_events(2).await, [true, false]);
    let log = &gateway.meter.logs(1).await[0];
    assert!(log.websocket);
    assert_eq!((log.status, log.outcome), (101, Outcome::Cut));
    assert_eq!(log.path, "/socket");
    // Frames plus their headers (masked from the browser), so a little over the payloads.
    assert!(log.bytes_in > 200_005 && log.bytes_in < 200_100, "{log:?}");
    assert!(
        log.bytes_out > 200_005 && log.bytes_out < 200_100,
        "{log:?}"
    );
    assert_eq!(
        gateway.meter.from_client.load(Ordering::Relaxed),
        log.bytes_in
    );
}
