//! The gatehouse-web path: a lean client speaking the browser's terminal
//! WebSocket protocol (binary frames for terminal bytes, JSON text frames
//! for control), measured the same way as the OpenSSH clients.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::{Bytes, Message};

use super::harness::TestGateway;
use super::harness::terminal::{Ws, connect};
use super::stats::Samples;

/// An open terminal WebSocket.
pub struct WebShell {
    ws: Ws,
    /// The session id the gateway announced.
    pub session: String,
    seen: Vec<u8>,
}

impl WebShell {
    /// Opens a terminal and waits for the shell's prompt; returns how long
    /// from starting the WebSocket connect to the prompt's first byte.
    pub async fn open(gw: &TestGateway, token: &str, connection: &str) -> (WebShell, Duration) {
        let t = Instant::now();
        let ws = connect(gw, token, connection)
            .await
            .expect("terminal upgrade");
        let mut shell = WebShell {
            ws,
            session: String::new(),
            seen: Vec::new(),
        };
        shell.expect(b"$ ").await;
        (shell, t.elapsed())
    }

    /// Reads until `needle` has been received, keeping control messages'
    /// session id.
    pub async fn expect(&mut self, needle: &[u8]) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !self.seen.windows(needle.len()).any(|w| w == needle) {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Ok(Some(Ok(Message::Binary(b)))) => self.seen.extend_from_slice(&b),
                Ok(Some(Ok(Message::Text(t)))) => {
                    let v: serde_json::Value = serde_json::from_str(&t).unwrap();
                    if v["type"] == "session" {
                        self.session = v["id"].as_str().unwrap_or_default().to_owned();
                    }
                }
                Ok(Some(Ok(_))) => {}
                other => panic!("terminal: {other:?}"),
            }
        }
        self.seen.clear();
    }

    async fn send(&mut self, data: &'static [u8]) {
        self.ws
            .send(Message::Binary(Bytes::from_static(data)))
            .await
            .unwrap();
    }

    /// Keystroke round trips, as [`super::openssh::Shell::echo`].
    pub async fn echo(&mut self, rounds: usize) -> Samples {
        const KEYS: &[u8; 26] = b"abcdefghijklmnopqrstuvwxyz";
        let mut samples = Samples::default();
        for i in 0..rounds {
            let c = &KEYS[i % 26..i % 26 + 1];
            let t = Instant::now();
            self.send(c).await;
            self.expect(c).await;
            samples.push(t.elapsed());
            if i % 64 == 63 {
                self.send(b"\x15").await;
            }
        }
        samples
    }

    /// Bytes per second of `head -c BYTES /dev/zero` in the shell (through
    /// the session's pty, as in the browser), timed from first byte to last.
    pub async fn throughput(&mut self, bytes: u64) -> f64 {
        self.ws
            .send(Message::Binary(Bytes::from(format!(
                "\x15head -c {bytes} /dev/zero\n"
            ))))
            .await
            .unwrap();
        let mut got = 0u64;
        let mut first = None;
        while got < bytes {
            match self.ws.next().await {
                Some(Ok(Message::Binary(b))) => {
                    let zeros = b.iter().filter(|&&x| x == 0).count() as u64;
                    if zeros > 0 {
                        first.get_or_insert_with(Instant::now);
                    }
                    got += zeros;
                    if zeros < b.len() as u64 {
                        // The prompt may share a frame with the last zeros.
                        self.seen.extend(b.iter().filter(|&&x| x != 0));
                    }
                }
                Some(Ok(_)) => {}
                other => panic!("terminal during throughput: {other:?}"),
            }
        }
        let elapsed = first.unwrap().elapsed();
        self.expect(b"$ ").await;
        got as f64 / elapsed.as_secs_f64()
    }

    /// The WebSocket itself, for a caller that only keeps it open.
    pub fn into_ws(self) -> Ws {
        self.ws
    }

    /// Closes the WebSocket.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}
