//! Does watching cost the watched user anything? Times the owner's
//! keystroke echo through the gateway (real sshd, loopback) with 0, 1 and 10
//! live watchers, and with one watcher that has stalled (never reads), and
//! reports how many bytes the gateway keeps to paint a session's screen.
//!
//! Run: `cargo bench -p gatehouse --bench watch_echo` (needs what
//! `scripts/prerequisites` installs).

#![allow(missing_docs, unreachable_pub)]

// Shared with the integration tests: what this bench leaves unused is fine.
#[allow(dead_code, unused_imports)]
#[path = "../crates/gatehouse/tests/it/harness/mod.rs"]
mod harness;

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use harness::{Sshd, Terminal, TestGateway};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Bytes, Message};

const ROUNDS: usize = 200;

async fn watcher(gw: &TestGateway, token: &str, session: &str) -> harness::terminal::Ws {
    let mut req = gw
        .ws_url(&format!("/sessions/{session}/watch"))
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    tokio_tungstenite::connect_async(req).await.unwrap().0
}

/// Round trips of one keystroke: send a byte, wait until it is echoed.
async fn echo(term: &mut Terminal) -> Vec<Duration> {
    let mut samples = Vec::with_capacity(ROUNDS);
    for i in 0..ROUNDS {
        let c = [b'a' + (i % 26) as u8];
        let t = Instant::now();
        term.ws
            .send(Message::Binary(Bytes::copy_from_slice(&c)))
            .await
            .unwrap();
        loop {
            match term.ws.next().await {
                Some(Ok(Message::Binary(b))) if b.contains(&c[0]) => break,
                Some(Ok(_)) => {}
                other => panic!("{other:?}"),
            }
        }
        samples.push(t.elapsed());
    }
    // Erase what was typed so the next round starts on a clean line.
    term.ws
        .send(Message::Binary(Bytes::from_static(b"\x15")))
        .await
        .unwrap();
    samples.sort();
    samples
}

fn row(name: &str, s: &[Duration]) {
    let at = |p: f64| s[((s.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e3;
    println!("| {name} | {:.3} ms | {:.3} ms |", at(0.5), at(0.99));
}

#[tokio::main]
async fn main() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let conn = gw.ssh_connection(&admin, &sshd, "bench", &["admin"]).await;
    let mut owner = Terminal::open(&gw, &admin, &conn).await;
    let session = owner.session_id.clone();

    println!("Owner's keystroke echo through the gateway ({ROUNDS} keystrokes each)");
    println!("| watchers | p50 | p99 |");
    println!("|---|---|---|");
    row("0", &echo(&mut owner).await);

    let mut drains = Vec::new();
    let mut first_screen = 0;
    for n in [1usize, 10] {
        while drains.len() < n {
            let mut ws = watcher(&gw, &admin, &session).await;
            let _hello = ws.next().await;
            if let Some(Ok(Message::Binary(screen))) = ws.next().await {
                first_screen = screen.len();
            }
            drains.push(tokio::spawn(
                async move { while ws.next().await.is_some() {} },
            ));
        }
        row(&n.to_string(), &echo(&mut owner).await);
    }
    for d in drains {
        d.abort();
    }

    let _stalled = watcher(&gw, &admin, &session).await; // never read again
    owner.run("seq 1 50000; echo flood-$((2*50))").await;
    owner.expect("flood-100").await;
    row(
        "1 stalled (after 300 KB of output it never read)",
        &echo(&mut owner).await,
    );
    println!();
    println!(
        "Screen state a new watcher received for this session: {first_screen} bytes (the gateway keeps at most 64 KiB per session)"
    );
}
