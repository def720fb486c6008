//! The live feed behind the Active Sessions page (Server-Sent Events), and
//! how it closes when the login that opened it ends.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::harness::{Sshd, Terminal, TestGateway};

/// Reads `event:`/`data:` pairs from an SSE response.
pub(crate) struct Feed {
    body: std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buf: String,
}

impl Feed {
    pub(crate) async fn open(gw: &TestGateway, token: &str) -> Feed {
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
    pub(crate) async fn next(&mut self) -> (String, Value) {
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

    /// Reads until the `closed` event and returns its data; the stream
    /// must end right after it.
    async fn closed(&mut self) -> Value {
        loop {
            let (name, data) = self.next().await;
            if name == "closed" {
                let end = tokio::time::timeout(Duration::from_secs(5), async {
                    while let Some(chunk) = self.body.next().await {
                        if chunk.is_err() {
                            break;
                        }
                    }
                })
                .await;
                assert!(end.is_ok(), "the feed goes on after `closed`");
                return data;
            }
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

#[tokio::test]
async fn the_feed_closes_when_its_login_is_logged_out_or_revoked() {
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let ops = gw.user(&admin, "ops1", "user").await;
    let bystander = gw.user(&admin, "ops2", "user").await;
    let mut logged_out = Feed::open(&gw, &ops).await;
    let ops_again = gw.login("ops1", "ops1-password").await;
    let mut revoked = Feed::open(&gw, &ops_again).await;
    let mut other = Feed::open(&gw, &bystander).await;
    for feed in [&mut logged_out, &mut revoked, &mut other] {
        assert_eq!(feed.next().await.0, "snapshot");
    }

    let (status, _) = gw.post(Some(&ops), "/auth/logout", json!({})).await;
    assert_eq!(status, 204);
    let why = logged_out.closed().await;
    assert_eq!(why["reason"], "access_revoked");
    assert_eq!(why["message"], "your login ended (logged out or revoked)");

    // A new password revokes every login of the account.
    let id = gw.user_id(&admin, "ops1").await;
    let (status, _) = gw
        .patch(
            Some(&admin),
            &format!("/users/{id}"),
            json!({ "password": "a-new-password" }),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(revoked.closed().await["reason"], "access_revoked");

    // Locking closes a feed as the account's end.
    let id = gw.user_id(&admin, "ops2").await;
    gw.post(Some(&admin), &format!("/users/{id}/lock"), json!({}))
        .await;
    let why = other.closed().await;
    assert_eq!(why["reason"], "user_locked");
    assert_eq!(why["message"], "your account was locked");
}

#[tokio::test]
async fn the_feed_closes_when_its_login_expires() {
    let gw = TestGateway::spawn_with(|c| c.token_ttl = Duration::from_secs(2)).await;
    let admin = gw.admin().await;
    let mut feed = Feed::open(&gw, &admin).await;
    assert_eq!(feed.next().await.0, "snapshot");
    let why = feed.closed().await;
    assert_eq!(why["message"], "your login expired");
}

#[tokio::test]
async fn a_feed_whose_sessions_view_is_taken_away_starts_over_with_only_its_own() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let aud = gw.user(&admin, "aud1", "auditor").await;
    let ops = gw.user(&admin, "ops1", "user").await;
    let conn = gw.ssh_connection(&admin, &sshd, "prod-db", &["ops1"]).await;
    let term = Terminal::open(&gw, &ops, &conn).await;
    let mut feed = Feed::open(&gw, &aud).await;
    let (_, snapshot) = feed.next().await;
    assert_eq!(snapshot["items"][0]["id"], term.session_id.as_str());

    let id = gw.user_id(&admin, "aud1").await;
    gw.patch(
        Some(&admin),
        &format!("/users/{id}"),
        json!({ "roles": ["user"] }),
    )
    .await;
    let (name, snapshot) = feed.next_not_updated().await;
    assert_eq!(name, "snapshot", "the feed starts over");
    assert_eq!(
        snapshot["items"],
        json!([]),
        "without sessions.view, only its own"
    );
}
