//! Watching a live session: a read-only view that starts from the current
//! screen, is listed as an observer, never types into the session, and ends
//! with it.

use std::num::NonZeroU16;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Bytes, Message};

use crate::harness::terminal::Ws;
use crate::harness::{Sshd, Terminal, TestGateway, eventually};

/// A participant's view: the watch (or join) socket, and a terminal emulator
/// fed with what it receives.
pub(crate) struct Watch {
    pub(crate) ws: Ws,
    pub(crate) hello: Value,
    screen: vt100::Parser,
    ended: Option<Value>,
}

impl Watch {
    pub(crate) async fn open(gw: &TestGateway, token: &str, session: &str) -> Result<Watch, u16> {
        Self::connect(gw, token, &format!("/sessions/{session}/watch")).await
    }

    /// Joins a session shared with the caller.
    pub(crate) async fn join(gw: &TestGateway, token: &str, session: &str) -> Result<Watch, u16> {
        Self::connect(gw, token, &format!("/sessions/{session}/join")).await
    }

    async fn connect(gw: &TestGateway, token: &str, path: &str) -> Result<Watch, u16> {
        let mut req = gw.ws_url(path).into_client_request().unwrap();
        req.headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        let mut ws = match tokio_tungstenite::connect_async(req).await {
            Ok((ws, _)) => ws,
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
                return Err(resp.status().as_u16());
            }
            Err(e) => panic!("{e}"),
        };
        let hello: Value = match ws.next().await {
            Some(Ok(Message::Text(t))) => serde_json::from_str(&t).unwrap(),
            other => panic!("expected the watching message, got {other:?}"),
        };
        assert_eq!(hello["type"], "watching", "{hello}");
        let size = |k: &str| NonZeroU16::new(hello[k].as_u64().unwrap() as u16).unwrap();
        let screen = vt100::Parser::new(size("rows"), size("cols"), 0);
        Ok(Watch {
            ws,
            hello,
            screen,
            ended: None,
        })
    }

    /// Reads until the watcher's screen shows `needle`; returns the screen's rows.
    pub(crate) async fn until_screen_shows(&mut self, needle: &str) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let rows: Vec<String> = self.screen.screen().rows(0, 200).collect();
            if rows.iter().any(|r| r.contains(needle)) {
                return rows;
            }
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Ok(Some(Ok(Message::Binary(b)))) => self.screen.process(&b),
                Ok(Some(Ok(Message::Text(t)))) => {
                    let v: Value = serde_json::from_str(&t).unwrap();
                    if v["type"] == "ended" {
                        self.ended = Some(v);
                    }
                }
                Ok(Some(Ok(_))) => {}
                other => panic!(
                    "{needle:?} never reached the watcher ({other:?}); screen:\n{}",
                    rows.join("\n")
                ),
            }
        }
    }

    /// Pings the gateway and reads (keeping the screen) until the pong: the
    /// gateway reads a socket's frames in order, so by then it has read,
    /// and dealt with, everything this participant sent before the ping.
    pub(crate) async fn synced(&mut self) {
        let token = Bytes::from_static(b"synced");
        self.ws.send(Message::Ping(token.clone())).await.unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Ok(Some(Ok(Message::Pong(p)))) if p == token => return,
                Ok(Some(Ok(Message::Binary(b)))) => self.screen.process(&b),
                Ok(Some(Ok(_))) => {}
                other => panic!("no pong from the gateway: {other:?}"),
            }
        }
    }

    /// Reads until the `ended` (or `removed`) message, or the socket closes.
    pub(crate) async fn ended(&mut self) -> Value {
        while self.ended.is_none() {
            match tokio::time::timeout(Duration::from_secs(10), self.ws.next())
                .await
                .expect("watcher not ended in time")
            {
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(&t).unwrap();
                    if v["type"] == "ended" || v["type"] == "removed" {
                        self.ended = Some(v);
                    }
                }
                Some(Ok(_)) => {}
                _ => break,
            }
        }
        self.ended.clone().unwrap_or(Value::Null)
    }
}

#[tokio::test]
async fn a_watcher_sees_what_was_printed_before_joining_and_everything_after() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let ops = gw.user(&admin, "ops1", "user").await;
    let conn = gw.ssh_connection(&admin, &sshd, "prod-db", &["ops1"]).await;
    let mut owner = Terminal::open(&gw, &ops, &conn).await;
    owner.run("echo before-join-$((6*7))").await;
    owner.expect("before-join-42").await;

    let mut watch = Watch::open(&gw, &admin, &owner.session_id).await.unwrap();
    assert_eq!(watch.hello["user"], "ops1");
    assert_eq!(
        (watch.hello["cols"].as_u64(), watch.hello["rows"].as_u64()),
        (Some(100), Some(30))
    );
    watch.until_screen_shows("before-join-42").await;

    owner.run("echo after-join-$((5*5))").await;
    watch.until_screen_shows("after-join-25").await;

    // Listed as an observer, and the owner is told who watches.
    let session = gw
        .get(Some(&admin), &format!("/sessions/{}", owner.session_id))
        .await
        .1;
    let people = session["participants"].as_array().unwrap();
    assert_eq!(people.len(), 2);
    assert_eq!(
        (people[1]["user"].as_str(), people[1]["mode"].as_str()),
        (Some("admin"), Some("observer"))
    );
    owner.run("echo sync").await;
    owner.expect("sync").await;
    let told = owner
        .controls
        .iter()
        .find(|c| c["type"] == "participants")
        .expect("the owner hears of the watcher");
    assert_eq!(told["participants"][1]["user"], "admin");

    // Leaving is announced too, and both ends are audited.
    drop(watch);
    let left = eventually(Duration::from_secs(5), || async {
        let s = gw
            .get(Some(&admin), &format!("/sessions/{}", owner.session_id))
            .await
            .1;
        (s["participants"].as_array().unwrap().len() == 1).then_some(())
    })
    .await;
    assert!(left.is_some(), "the watcher stayed listed");
    eventually(Duration::from_secs(5), || async {
        (gw.audit(&admin, "session.watch_stop").await.len() == 1).then_some(())
    })
    .await
    .expect("watch stop audited");
    let started = gw.audit(&admin, "session.watch_start").await;
    assert_eq!(
        (
            started[0]["actor"].as_str(),
            started[0]["details"]["owner"].as_str()
        ),
        (Some("admin"), Some("ops1"))
    );
}

#[tokio::test]
async fn a_watcher_joining_a_full_screen_program_sees_its_current_screen() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let conn = gw
        .ssh_connection(&admin, &sshd, "prod-db", &["admin"])
        .await;
    let mut owner = Terminal::open(&gw, &admin, &conn).await;
    // What a full-screen program does: alternate screen, clear, draw at a position.
    owner
        .run("printf 'noise\\n\\033[?1049h\\033[2J\\033[5;10HFULL-%s' $((40+2)); sleep 30")
        .await;
    owner.expect("FULL-42").await;

    let mut watch = Watch::open(&gw, &admin, &owner.session_id).await.unwrap();
    let rows = watch.until_screen_shows("FULL-42").await;
    assert!(
        rows[4].starts_with("         FULL-42"),
        "drawn at row 5, column 10: {rows:?}"
    );
    assert!(
        !rows.iter().any(|r| r.contains("noise")),
        "the alternate screen hides what came before: {rows:?}"
    );
}

#[tokio::test]
async fn nothing_a_watcher_types_reaches_the_session() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let conn = gw
        .ssh_connection(&admin, &sshd, "prod-db", &["admin"])
        .await;
    let mut owner = Terminal::open(&gw, &admin, &conn).await;
    let mut watch = Watch::open(&gw, &admin, &owner.session_id).await.unwrap();
    watch
        .ws
        .send(Message::Binary(Bytes::from_static(
            b"echo hacked-$((1+1))\n",
        )))
        .await
        .unwrap();
    watch
        .ws
        .send(Message::Text(
            json!({ "type": "resize", "cols": 20, "rows": 5 })
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
    watch.synced().await;
    owner.run("echo owner-$((2+2))").await;
    owner.expect("owner-4").await;
    assert!(
        !owner.output.contains("hacked"),
        "watcher input reached the shell: {:?}",
        owner.output
    );
    owner.run("stty size").await;
    owner.expect("30 100").await;
    watch.until_screen_shows("owner-4").await;
}

#[tokio::test]
async fn ending_the_session_ends_it_for_the_owner_and_every_watcher() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let ops = gw.user(&admin, "ops1", "user").await;
    let auditor = gw.user(&admin, "eve", "auditor").await;
    let conn = gw.ssh_connection(&admin, &sshd, "prod-db", &["ops1"]).await;
    let mut owner = Terminal::open(&gw, &ops, &conn).await;
    let mut watchers = vec![
        Watch::open(&gw, &admin, &owner.session_id).await.unwrap(),
        Watch::open(&gw, &auditor, &owner.session_id).await.unwrap(),
    ];
    let (status, _) = gw
        .post(
            Some(&admin),
            "/sessions/end",
            json!({ "ids": [owner.session_id] }),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(owner.ended().await.message["reason"], "ended_by_admin");
    for w in &mut watchers {
        let ended = w.ended().await;
        assert_eq!(
            (ended["reason"].as_str(), ended["by"].as_str()),
            (Some("ended_by_admin"), Some("admin"))
        );
    }
    let row = gw.ended_history(&admin, &owner.session_id).await;
    assert_eq!(
        row["participants"].as_array().unwrap().len(),
        3,
        "history keeps who watched: {row}"
    );
}

#[tokio::test]
async fn watching_needs_the_permission_and_a_live_session() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let ops = gw.user(&admin, "ops1", "user").await;
    let conn = gw.ssh_connection(&admin, &sshd, "prod-db", &["ops1"]).await;
    let owner = Terminal::open(&gw, &ops, &conn).await;
    assert_eq!(
        Watch::open(&gw, &ops, &owner.session_id).await.err(),
        Some(403),
        "not even one's own session without sessions.watch"
    );
    assert_eq!(
        Watch::open(&gw, &admin, "00000000-0000-4000-8000-000000000000")
            .await
            .err(),
        Some(404)
    );
    assert_eq!(
        Watch::open(&gw, "not-a-token", &owner.session_id)
            .await
            .err(),
        Some(401)
    );
}

#[tokio::test]
async fn a_stalled_watcher_does_not_hold_up_the_session() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let conn = gw
        .ssh_connection(&admin, &sshd, "prod-db", &["admin"])
        .await;
    let mut owner = Terminal::open(&gw, &admin, &conn).await;
    // Joins, then never reads another byte.
    let stalled = Watch::open(&gw, &admin, &owner.session_id).await.unwrap();
    owner
        .run("seq 1 400000 | tail -c 2000000; echo done-$((3*3))")
        .await;
    tokio::time::timeout(Duration::from_secs(20), owner.expect("done-9"))
        .await
        .expect("the owner's output was held up by a stalled watcher");
    owner.run("echo still-$((4*4))").await;
    owner.expect("still-16").await;
    drop(stalled);
}

#[tokio::test]
async fn the_cli_watches_a_session_in_the_terminal_until_it_ends() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let conn = gw
        .ssh_connection(&admin, &sshd, "prod-db", &["admin"])
        .await;
    let mut owner = Terminal::open(&gw, &admin, &conn).await;
    owner.run("echo shown-to-cli-$((8*8))").await;
    owner.expect("shown-to-cli-64").await;

    let cli = tokio::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["sessions", "watch", &owner.session_id])
        .env("GATEHOUSE_URL", format!("http://{}", gw.addr))
        .env("GATEHOUSE_TOKEN", &admin)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let listed = eventually(Duration::from_secs(10), || async {
        let s = gw
            .get(Some(&admin), &format!("/sessions/{}", owner.session_id))
            .await
            .1;
        (s["participants"].as_array().unwrap().len() == 2).then_some(())
    })
    .await;
    assert!(listed.is_some(), "the CLI never joined");
    owner.run("echo live-to-cli-$((9*9))").await;
    owner.expect("live-to-cli-81").await;
    // No pause before the end: what the owner saw reaches every watcher
    // before the end does.
    gw.post(
        Some(&admin),
        "/sessions/end",
        json!({ "ids": [owner.session_id] }),
    )
    .await;

    let out = tokio::time::timeout(Duration::from_secs(10), cli.wait_with_output())
        .await
        .expect("the CLI did not exit when the session ended")
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("shown-to-cli-64") && stdout.contains("live-to-cli-81"),
        "{stdout}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("session ended: ended_by_owner by admin"),
        "{stderr}"
    );
}
