//! Watching a session and replaying a recording that another node holds:
//! the node the user talks to checks their permission and relays from the
//! owner over the internal channel, which only a node holding the shared
//! secret key can use.

use std::time::Duration;

use base64::Engine;
use serde_json::json;

use super::{SHARED_KEY, two_nodes};
use crate::harness::{Sshd, Terminal, TestGateway, eventually};
use crate::watching::Watch;

#[tokio::test]
async fn a_session_on_one_node_is_watched_ended_and_replayed_from_another() {
    let sshd = Sshd::start().await;
    let (a, b, _) = two_nodes().await;
    let admin = a.admin().await;
    let ops = a.user(&admin, "ops1", "user").await;
    let auditor = a.user(&admin, "aud1", "auditor").await;
    let conn = a.ssh_connection(&admin, &sshd, "prod-db", &["ops1"]).await;

    // ops1 works on B.
    let mut owner = Terminal::open(&b, &ops, &conn).await;
    let id = owner.session_id.clone();
    owner.run("echo before-watch-$((6*7))").await;
    owner.expect("before-watch-42").await;
    let listed = eventually(Duration::from_secs(5), || async {
        let (status, s) = a.get(Some(&admin), &format!("/sessions/{id}")).await;
        (status == 200).then_some(s)
    })
    .await
    .expect("A lists B's session");
    assert_eq!(listed["node"], "gw-b");

    // A checks the permission itself: ops1 may not watch, even their own.
    assert_eq!(Watch::open(&a, &ops, &id).await.err(), Some(403));
    assert_eq!(
        Watch::open(&a, &auditor, "4a2b4a4e-8a8e-4b8e-9d3e-2a1f3c4d5e6f")
            .await
            .err(),
        Some(404)
    );

    // The auditor watches from A: the current screen first, then live output.
    let mut watch = Watch::open(&a, &auditor, &id).await.unwrap();
    assert_eq!(watch.hello["user"], "ops1");
    assert_eq!(
        (watch.hello["cols"].as_u64(), watch.hello["rows"].as_u64()),
        (Some(100), Some(30))
    );
    watch.until_screen_shows("before-watch-42").await;
    owner.run("echo after-watch-$((5*5))").await;
    watch.until_screen_shows("after-watch-25").await;

    // B lists the watcher among the participants, as every node does.
    for gw in [&a, &b] {
        let people = eventually(Duration::from_secs(5), || async {
            let s = gw.get(Some(&admin), &format!("/sessions/{id}")).await.1;
            let people = s["participants"].as_array()?.clone();
            (people.len() == 2).then_some(people)
        })
        .await
        .expect("the watcher is listed");
        assert_eq!(
            (people[1]["user"].as_str(), people[1]["mode"].as_str()),
            (Some("aud1"), Some("observer"))
        );
    }

    // Ended from A: the watcher on A hears who ended it and why.
    let (status, body) = a
        .post(Some(&admin), "/sessions/end", json!({ "ids": [id] }))
        .await;
    assert_eq!((status.as_u16(), &body["ended"]), (200, &json!([id])));
    let ended = watch.ended().await;
    assert_eq!(
        (ended["reason"].as_str(), ended["by"].as_str()),
        (Some("ended_by_admin"), Some("admin")),
        "{ended}"
    );
    owner.ended().await;
    let stops = eventually(Duration::from_secs(5), || async {
        let stops = a.audit(&admin, "session.watch_stop").await;
        (!stops.is_empty()).then_some(stops)
    })
    .await
    .expect("the watch's end is audited");
    let starts = a.audit(&admin, "session.watch_start").await;
    assert_eq!((starts.len(), stops.len()), (1, 1));
    assert_eq!(
        (
            starts[0]["actor"].as_str(),
            starts[0]["details"]["owner"].as_str(),
            starts[0]["details"]["node"].as_str()
        ),
        (Some("aud1"), Some("ops1"), Some("gw-b"))
    );

    // The recording B wrote replays from A, byte for byte as B serves it,
    // and the replay is audited where it was asked for.
    b.recordings_complete().await;
    let from_a = a.recording(&auditor, &id).await;
    let from_b = b.recording(&auditor, &id).await;
    assert!(from_a.output().contains("after-watch-25"));
    assert_eq!(from_a.output(), from_b.output());
    assert_eq!(from_a.header.gatehouse, from_b.header.gatehouse);
    let replays = a.audit(&admin, "recording.replay").await;
    assert_eq!(replays.len(), 2);
    assert!(replays.iter().all(|r| r["actor"] == "aud1"));
    // Still audit evidence: not for ops1, from any node.
    let (status, _) = a.get(Some(&ops), &format!("/history/{id}/recording")).await;
    assert_eq!(status, 403);

    internal_channel_refuses_what_another_node_did_not_sign(&a, &b, &id).await;
}

/// The signed text, as a node signs it (crates/web/src/nodes).
fn signed(path: &str, time: i64, nonce: &str, from: &str, to: &str) -> String {
    format!("gatehouse-node-request\nGET\n{path}\n{time}\n{nonce}\n{from}\n{to}")
}

async fn internal_channel_refuses_what_another_node_did_not_sign(
    a: &TestGateway,
    b: &TestGateway,
    id: &str,
) {
    let path = format!("/internal/v1/recordings/{id}");
    let get = |gw: &TestGateway, headers: Vec<(&'static str, String)>| {
        let mut req = gw.http().get(format!("http://{}{path}", gw.addr));
        for (name, value) in headers {
            req = req.header(name, value);
        }
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let body = resp.bytes().await.unwrap();
            (status, body)
        }
    };
    let sign = |key: &str, time: i64, to: &str| {
        let secrets = gatehouse_access::SecretBox::from_base64(key).unwrap();
        let nonce = uuid::Uuid::new_v4().to_string();
        let mac = secrets.sign_for_nodes(signed(&path, time, &nonce, "gw-a", to).as_bytes());
        vec![
            ("x-gatehouse-node", "gw-a".to_owned()),
            ("x-gatehouse-time", time.to_string()),
            ("x-gatehouse-nonce", nonce),
            (
                "x-gatehouse-mac",
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac),
            ),
        ]
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    // Signed by A with the shared key, for B (which wrote it), now: served.
    let good = sign(SHARED_KEY, now, "gw-b");
    let (status, body) = get(b, good.clone()).await;
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("after-watch-25"));
    // The same signed request again, well within its window: a replay.
    let replayed = good.clone();
    // Another nonce under the old MAC: the nonce is signed too.
    let mut renonced = good;
    renonced[2].1 = uuid::Uuid::new_v4().to_string();
    let unnonced: Vec<_> = sign(SHARED_KEY, now, "gw-b")
        .into_iter()
        .filter(|(name, _)| *name != "x-gatehouse-nonce")
        .collect();
    let refusals = [
        ("replayed", b, replayed),
        ("another nonce than signed", b, renonced),
        ("no nonce", b, unnonced),
        ("unsigned", b, vec![]),
        (
            "another key",
            b,
            sign("YW5vdGhlci1rZXktdGhhdC1kb2VzLW5vdC1tYXRjaCE=", now, "gw-b"),
        ),
        ("too old", b, sign(SHARED_KEY, now - 120, "gw-b")),
        ("meant for another node", a, sign(SHARED_KEY, now, "gw-b")),
    ];
    for (why, gw, headers) in refusals {
        let (status, body) = get(gw, headers).await;
        let error: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            (status, error["error"]["code"].as_str()),
            (401, Some("node_unauthenticated")),
            "{why}: {error}"
        );
    }
}
