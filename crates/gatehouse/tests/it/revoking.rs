//! Locking and removing reach every socket: a locked, deleted or demoted
//! user's join and watch sockets close at once with the `ended` notice, and
//! a participant flooding a session that is not reading can still be
//! removed, and the session ended, at once.

use std::time::{Duration, Instant};

use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Bytes, Message};

use crate::harness::terminal::Ws;
use crate::harness::{Sshd, Terminal, TestGateway};
use crate::watching::Watch;

/// ops1's session on prod-db, shared with `invite` (name, mode) pairs.
async fn shared_session(
    gw: &TestGateway,
    admin: &str,
    sshd: &Sshd,
    invite: &[(&str, &str)],
) -> Terminal {
    let ops = gw.user(admin, "ops1", "user").await;
    let conn = gw.ssh_connection(admin, sshd, "prod-db", &["ops1"]).await;
    let owner = Terminal::open(gw, &ops, &conn).await;
    for (user, mode) in invite {
        let share = json!({ "user": user, "mode": mode });
        let path = format!("/sessions/{}/share", owner.session_id);
        assert_eq!(gw.post(Some(&ops), &path, share).await.0, 204);
    }
    owner
}

async fn lock(gw: &TestGateway, admin: &str, name: &str) {
    let id = gw.user_id(admin, name).await;
    let (status, body) = gw
        .post(Some(admin), &format!("/users/{id}/lock"), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn locking_or_deleting_a_participant_closes_their_join_and_their_typing_goes_nowhere() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let dev = gw.user(&admin, "dev2", "user").await;
    let eve = gw.user(&admin, "eve", "user").await;
    let invite = [("dev2", "interactive"), ("eve", "interactive")];
    let mut owner = shared_session(&gw, &admin, &sshd, &invite).await;
    let id = owner.session_id.clone();
    let mut pair = Watch::join(&gw, &dev, &id).await.unwrap();
    let mut other = Watch::join(&gw, &eve, &id).await.unwrap();
    pair.ws
        .send(Message::Binary(Bytes::from_static(b"echo dev-$((2*3))\n")))
        .await
        .unwrap();
    owner.expect("dev-6").await;

    lock(&gw, &admin, "dev2").await;
    let ended = pair.ended().await;
    assert_eq!(ended["type"], "ended", "{ended}");
    assert_eq!(ended["reason"], "user_locked");
    assert_eq!(ended["message"], "your account was locked");
    // Whatever the socket still lets through reaches nobody.
    let _ = pair
        .ws
        .send(Message::Binary(Bytes::from_static(
            b"echo locked-$((3*3))\n",
        )))
        .await;

    let eve_id = gw.user_id(&admin, "eve").await;
    let (status, _) = gw.delete(Some(&admin), &format!("/users/{eve_id}")).await;
    assert_eq!(status, 204);
    let ended = other.ended().await;
    assert_eq!(ended["reason"], "user_locked");
    assert_eq!(ended["message"], "your account was deleted");

    owner.run("echo owner-$((4*4))").await;
    owner.expect("owner-16").await;
    assert!(
        !owner.output.contains("locked-9"),
        "a locked participant typed into the shell"
    );
    let people = gw.get(Some(&admin), &format!("/sessions/{id}")).await.1;
    assert_eq!(people["participants"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn locking_an_auditor_or_taking_sessions_watch_away_closes_their_watch() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let aud1 = gw.user(&admin, "aud1", "auditor").await;
    let aud2 = gw.user(&admin, "aud2", "auditor").await;
    let aud3 = gw.user(&admin, "aud3", "auditor").await;
    let mut owner = shared_session(&gw, &admin, &sshd, &[]).await;
    let id = owner.session_id.clone();
    let mut locked = Watch::open(&gw, &aud1, &id).await.unwrap();
    let mut demoted = Watch::open(&gw, &aud2, &id).await.unwrap();
    let mut still = Watch::open(&gw, &aud3, &id).await.unwrap();

    lock(&gw, &admin, "aud1").await;
    let ended = locked.ended().await;
    assert_eq!(ended["type"], "ended", "{ended}");
    assert_eq!(ended["reason"], "user_locked");

    let aud2_id = gw.user_id(&admin, "aud2").await;
    let (status, _) = gw
        .patch(
            Some(&admin),
            &format!("/users/{aud2_id}"),
            json!({ "roles": ["user"] }),
        )
        .await;
    assert_eq!(status, 200);
    let ended = demoted.ended().await;
    assert_eq!(ended["reason"], "access_revoked");
    assert_eq!(
        ended["message"],
        "you no longer hold the sessions.watch permission"
    );

    // The session, and the watcher who kept their access, go on.
    owner.run("echo goes-on-$((8*8))").await;
    owner.expect("goes-on-64").await;
    still.until_screen_shows("goes-on-64").await;
}

/// Sends `total` bytes of `x` in 64 KiB frames until done or refused.
fn flood(mut sink: SplitSink<Ws, Message>, total: usize) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
        for _ in 0..total / chunk.len() {
            if sink.send(Message::Binary(chunk.clone())).await.is_err() {
                return;
            }
        }
    })
}

/// The next `ended` or `removed` message, skipping terminal bytes.
async fn farewell(stream: &mut futures_util::stream::SplitStream<Ws>) -> Value {
    loop {
        match stream.next().await {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["type"] == "ended" || v["type"] == "removed" {
                    return v;
                }
            }
            Some(Ok(_)) => {}
            other => panic!("closed without a farewell: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_flooding_participant_is_removed_and_the_session_ended_at_once() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let dev = gw.user(&admin, "dev2", "user").await;
    let eve = gw.user(&admin, "eve", "user").await;
    let invite = [("dev2", "interactive"), ("eve", "interactive")];
    let mut owner = shared_session(&gw, &admin, &sshd, &invite).await;
    let id = owner.session_id.clone();
    let (dev_sink, mut dev_view) = Watch::join(&gw, &dev, &id).await.unwrap().ws.split();
    let (eve_sink, mut eve_view) = Watch::join(&gw, &eve, &id).await.unwrap().ws.split();
    owner.run("sleep 8").await;
    // The owner's browser keeps reading (the echoed flood); the participants'
    // do not, until they are told to stop.
    let mut owner_ws = owner.ws;
    let reader = tokio::spawn(async move { while let Some(Ok(_)) = owner_ws.next().await {} });
    let floods = [flood(dev_sink, 16 << 20), flood(eve_sink, 16 << 20)];

    // Flooded: the asleep shell stops taking their input, and the gateway
    // holds the rest back instead of buffering it.
    let taken = || async {
        let s = gw.get(Some(&admin), &format!("/sessions/{id}")).await.1;
        s["bytes_from_client"].as_u64().unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut last = taken().await;
    loop {
        assert!(
            Instant::now() < deadline,
            "the participants' input never stalled"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = taken().await;
        if now == last && now > 1 << 20 {
            break;
        }
        last = now;
    }
    assert!(
        floods.iter().all(|f| !f.is_finished()),
        "the gateway took 32 MiB of input without holding any back"
    );

    let people = gw.get(Some(&admin), &format!("/sessions/{id}")).await.1;
    let pid = people["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["user"] == "dev2")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let asked = Instant::now();
    let remove = format!("/sessions/{id}/participants/{pid}/remove");
    assert_eq!(gw.post(Some(&admin), &remove, json!({})).await.0, 204);
    let told = tokio::time::timeout(Duration::from_secs(1), farewell(&mut dev_view))
        .await
        .expect("the flooding participant was not removed within 1 s");
    assert_eq!(told, json!({ "type": "removed", "by": "admin" }));
    assert!(asked.elapsed() < Duration::from_secs(1));

    let asked = Instant::now();
    gw.post(Some(&admin), "/sessions/end", json!({ "ids": [id] }))
        .await;
    let told = tokio::time::timeout(Duration::from_secs(1), farewell(&mut eve_view))
        .await
        .expect("the flooding participant did not hear the end within 1 s");
    assert_eq!(told["reason"], "ended_by_admin");
    while gw.registry().get(id.parse().unwrap()).is_some() {
        assert!(
            asked.elapsed() < Duration::from_secs(1),
            "the flooded session is still live 1 s after it was ended"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    while sshd.connection_processes() > 0 {
        assert!(
            asked.elapsed() < Duration::from_secs(1),
            "the target's connection outlived the ended session by 1 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let row = gw.ended_history(&admin, &id).await;
    assert_eq!(row["end_reason"], "ended_by_admin");
    assert_eq!(row["ended_by"], "admin");
    for f in floods {
        f.abort();
    }
    reader.abort();
}

#[tokio::test]
async fn a_watcher_who_stopped_reading_is_still_closed_when_locked() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let aud = gw.user(&admin, "aud1", "auditor").await;
    let mut owner = shared_session(&gw, &admin, &sshd, &[]).await;
    let id = owner.session_id.clone();

    // A watcher with a small receive buffer that reads its greeting and
    // then nothing more, so the gateway's writes to it soon block.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(gw.addr).await.unwrap();
    let mut req = gw
        .ws_url(&format!("/sessions/{id}/watch"))
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {aud}").parse().unwrap());
    let (mut stalled, _) = tokio_tungstenite::client_async(req, stream).await.unwrap();
    assert!(matches!(stalled.next().await, Some(Ok(Message::Text(_)))));

    owner
        .run("head -c 20000000 /dev/zero | tr '\\0' x; echo")
        .await;
    let mut owner_ws = owner.ws;
    let reader = tokio::spawn(async move { while let Some(Ok(_)) = owner_ws.next().await {} });
    let session = format!("/sessions/{id}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = gw.get(Some(&admin), &session).await.1;
        if s["bytes_to_client"].as_u64().unwrap() > 12 << 20 {
            break;
        }
        assert!(Instant::now() < deadline, "the output never flowed: {s}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let asked = Instant::now();
    lock(&gw, &admin, "aud1").await;
    loop {
        let s = gw.get(Some(&admin), &session).await.1;
        if s["participants"].as_array().unwrap().len() == 1 {
            break;
        }
        assert!(
            asked.elapsed() < Duration::from_secs(1),
            "the locked watcher, stuck writing to a client that does not read, was not closed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    reader.abort();
}
