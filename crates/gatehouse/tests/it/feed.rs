//! The live feed behind the Active Sessions page (Server-Sent Events).

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::harness::{Sshd, Terminal, TestGateway};

/// Reads `event:`/`data:` pairs from an SSE response.
struct Feed {
    body: std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buf: String,
}

impl Feed {
    async fn open(gw: &TestGateway, token: &str) -> Feed {
        let resp = gw
            .http()
            .get(gw.url("/sessions/events"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], "text/event-stream");
        Feed {
            body: Box::pin(resp.bytes_stream()),
            buf: String::new(),
        }
    }

    /// The next event's name and JSON data (comments and keep-alives skipped).
    async fn next(&mut self) -> (String, Value) {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut name = String::new();
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if !name.is_empty() {
                    return (name, serde_json::from_str(&data).unwrap());
                }
                continue;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.body.next())
                .await
                .expect("no event in time")
                .expect("feed closed")
                .unwrap();
            self.buf.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Skips `updated` events (activity ticks) until another kind arrives.
    async fn next_not_updated(&mut self) -> (String, Value) {
        loop {
            let ev = self.next().await;
            if ev.0 != "updated" {
                return ev;
            }
        }
    }
}

#[tokio::test]
async fn the_feed_sends_a_snapshot_then_starts_updates_and_ends() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let ops = gw.user(&admin, "ops1", "user").await;
    let conn = gw
        .ssh_connection(&admin, &sshd, "prod-db", &["ops1", "admin"])
        .await;
    let before = Terminal::open(&gw, &admin, &conn).await;

    let mut admin_feed = Feed::open(&gw, &admin).await;
    let mut ops_feed = Feed::open(&gw, &ops).await;
    let (name, snapshot) = admin_feed.next().await;
    assert_eq!(name, "snapshot");
    assert_eq!(snapshot["items"][0]["id"], before.session_id.as_str());
    let (name, own) = ops_feed.next().await;
    assert_eq!(name, "snapshot");
    assert_eq!(
        own["items"],
        json!([]),
        "ops1 does not see the admin's session"
    );

    let mut term = Terminal::open(&gw, &ops, &conn).await;
    let (name, started) = admin_feed.next_not_updated().await;
    assert_eq!(name, "started");
    assert_eq!(started["id"], term.session_id.as_str());
    assert_eq!(started["user"], "ops1");
    let (name, _) = ops_feed.next_not_updated().await;
    assert_eq!(name, "started");

    term.run("echo typing").await;
    term.expect("typing").await;
    let (name, updated) = ops_feed.next().await;
    assert_eq!(name, "updated", "typing updates the session's activity");
    assert!(updated["bytes_from_client"].as_u64().unwrap() > 0);

    gw.post(
        Some(&admin),
        "/sessions/end",
        json!({ "ids": [term.session_id] }),
    )
    .await;
    let (name, ended) = ops_feed.next_not_updated().await;
    assert_eq!(name, "ended");
    assert_eq!(ended["session"]["id"], term.session_id.as_str());
    assert_eq!(ended["end_reason"], "ended_by_admin");
    assert_eq!(ended["ended_by"], "admin");
    let (name, _) = admin_feed.next_not_updated().await;
    assert_eq!(name, "ended");
}
