//! Sharing a session: the owner invites people read-only or interactive,
//! they join from "shared with me", an interactive participant types into
//! the shell and an observer cannot, and a participant can be removed while
//! the session goes on.

use std::time::Duration;

use futures_util::SinkExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::{Bytes, Message};

use crate::harness::{Sshd, Terminal, TestGateway, eventually};
use crate::watching::Watch;

async fn participants(gw: &TestGateway, token: &str, session: &str) -> Vec<serde_json::Value> {
    let s = gw.get(Some(token), &format!("/sessions/{session}")).await.1;
    s["participants"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn an_interactive_participant_types_into_the_shell_and_an_observer_cannot() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let ops = gw.user(&admin, "ops1", "user").await;
    let dev = gw.user(&admin, "dev2", "user").await;
    let eve = gw.user(&admin, "eve", "user").await;
    let conn = gw.ssh_connection(&admin, &sshd, "prod-db", &["ops1"]).await;
    let mut owner = Terminal::open(&gw, &ops, &conn).await;
    owner.run("echo shared-screen-$((3*4))").await;
    owner.expect("shared-screen-12").await;
    let id = owner.session_id.clone();

    for (user, mode) in [("dev2", "interactive"), ("eve", "observer")] {
        let (status, body) = gw
            .post(
                Some(&ops),
                &format!("/sessions/{id}/share"),
                json!({ "user": user, "mode": mode }),
            )
            .await;
        assert_eq!(status, 204, "{body}");
    }
    let (_, mine) = gw.get(Some(&dev), "/sessions/shared").await;
    assert_eq!(mine[0]["session"]["id"], id.as_str());
    assert_eq!(mine[0]["mode"], "interactive");

    let mut pair = Watch::join(&gw, &dev, &id).await.unwrap();
    let mut viewer = Watch::join(&gw, &eve, &id).await.unwrap();
    assert_eq!(pair.hello["mode"], "interactive");
    pair.until_screen_shows("shared-screen-12").await;

    pair.ws
        .send(Message::Binary(Bytes::from_static(
            b"echo from-dev2-$((2*2))\n",
        )))
        .await
        .unwrap();
    owner.expect("from-dev2-4").await;
    viewer.until_screen_shows("from-dev2-4").await;
    viewer
        .ws
        .send(Message::Binary(Bytes::from_static(
            b"echo from-eve-$((1+1))\n",
        )))
        .await
        .unwrap();
    // The gateway has read (and dropped) the observer's keystrokes.
    viewer.synced().await;
    owner.run("echo owner-$((7*7))").await;
    owner.expect("owner-49").await;
    assert!(
        !owner.output.contains("from-eve-2"),
        "an observer typed into the shell"
    );

    let people = participants(&gw, &admin, &id).await;
    let modes: Vec<_> = people
        .iter()
        .map(|p| (p["user"].as_str().unwrap(), p["mode"].as_str().unwrap()))
        .collect();
    assert_eq!(
        modes,
        [
            ("ops1", "owner"),
            ("dev2", "interactive"),
            ("eve", "observer")
        ]
    );

    // Ending the session ends it for every participant.
    gw.post(Some(&admin), "/sessions/end", json!({ "ids": [id] }))
        .await;
    assert_eq!(owner.ended().await.message["reason"], "ended_by_admin");
    assert_eq!(pair.ended().await["reason"], "ended_by_admin");
    assert_eq!(viewer.ended().await["reason"], "ended_by_admin");
}

#[tokio::test]
async fn a_removed_participant_is_told_and_the_session_goes_on() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let ops = gw.user(&admin, "ops1", "user").await;
    let dev = gw.user(&admin, "dev2", "user").await;
    let eve = gw.user(&admin, "eve", "user").await;
    let conn = gw.ssh_connection(&admin, &sshd, "prod-db", &["ops1"]).await;
    let mut owner = Terminal::open(&gw, &ops, &conn).await;
    let id = owner.session_id.clone();
    for user in ["dev2", "eve"] {
        gw.post(
            Some(&ops),
            &format!("/sessions/{id}/share"),
            json!({ "user": user, "mode": "observer" }),
        )
        .await;
    }
    let mut dev_view = Watch::join(&gw, &dev, &id).await.unwrap();
    let mut eve_view = Watch::join(&gw, &eve, &id).await.unwrap();
    let find = |people: &[serde_json::Value], who: &str| {
        people.iter().find(|p| p["user"] == who).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let people = participants(&gw, &ops, &id).await;
    let (dev_pid, eve_pid) = (find(&people, "dev2"), find(&people, "eve"));

    // Only the owner or someone with sessions.end may remove a participant.
    let path = |pid: &str| format!("/sessions/{id}/participants/{pid}/remove");
    assert_eq!(
        gw.post(Some(&dev), &path(&eve_pid), json!({})).await.0,
        404,
        "dev2 cannot even see the session"
    );
    let owner_pid = find(&people, "ops1");
    assert_eq!(
        gw.post(Some(&ops), &path(&owner_pid), json!({})).await.0,
        404,
        "the owner is not removable"
    );

    assert_eq!(gw.post(Some(&ops), &path(&eve_pid), json!({})).await.0, 204);
    assert_eq!(
        eve_view.ended().await,
        json!({ "type": "removed", "by": "ops1" })
    );
    assert_eq!(
        gw.post(Some(&admin), &path(&dev_pid), json!({})).await.0,
        204
    );
    assert_eq!(
        dev_view.ended().await,
        json!({ "type": "removed", "by": "admin" })
    );

    let alone = eventually(Duration::from_secs(5), || async {
        (participants(&gw, &ops, &id).await.len() == 1).then_some(())
    })
    .await;
    assert!(alone.is_some());
    owner.run("echo goes-on-$((6*6))").await;
    owner.expect("goes-on-36").await;
    let removed = gw.audit(&admin, "session.participant_removed").await;
    assert_eq!(removed.len(), 2);
}

#[tokio::test]
async fn only_the_owner_shares_and_only_invitees_join() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let ops = gw.user(&admin, "ops1", "user").await;
    let dev = gw.user(&admin, "dev2", "user").await;
    let conn = gw.ssh_connection(&admin, &sshd, "prod-db", &["ops1"]).await;
    let owner = Terminal::open(&gw, &ops, &conn).await;
    let id = &owner.session_id;
    let share = |token: String, body: serde_json::Value| {
        let gw = &gw;
        async move {
            gw.post(Some(&token), &format!("/sessions/{id}/share"), body)
                .await
                .0
        }
    };
    assert_eq!(
        share(
            admin.clone(),
            json!({ "user": "dev2", "mode": "interactive" })
        )
        .await,
        403,
        "not even an admin shares another's session"
    );
    assert_eq!(
        share(
            dev.clone(),
            json!({ "user": "dev2", "mode": "interactive" })
        )
        .await,
        404
    );
    assert_eq!(
        share(ops.clone(), json!({ "user": "ghost", "mode": "observer" })).await,
        404
    );
    assert_eq!(
        share(ops.clone(), json!({ "user": "dev2", "mode": "owner" })).await,
        400
    );
    assert_eq!(
        Watch::join(&gw, &dev, id).await.err(),
        Some(404),
        "not shared with dev2 yet"
    );
    assert_eq!(
        share(ops.clone(), json!({ "user": "dev2", "mode": "observer" })).await,
        204
    );
    assert!(Watch::join(&gw, &dev, id).await.is_ok());
    let shared = gw.audit(&admin, "session.share").await;
    assert_eq!(
        shared[0]["details"],
        json!({ "with": "dev2", "mode": "observer" })
    );
}

#[tokio::test]
async fn a_removed_participant_cannot_join_again_until_shared_anew() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let ops = gw.user(&admin, "ops1", "user").await;
    let dev = gw.user(&admin, "dev2", "user").await;
    let conn = gw.ssh_connection(&admin, &sshd, "prod-db", &["ops1"]).await;
    let mut owner = Terminal::open(&gw, &ops, &conn).await;
    let id = owner.session_id.clone();
    let share = json!({ "user": "dev2", "mode": "interactive" });
    gw.post(Some(&ops), &format!("/sessions/{id}/share"), share.clone())
        .await;
    let mut pair = Watch::join(&gw, &dev, &id).await.unwrap();
    let people = participants(&gw, &ops, &id).await;
    let pid = people.iter().find(|p| p["user"] == "dev2").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let remove = format!("/sessions/{id}/participants/{pid}/remove");
    assert_eq!(gw.post(Some(&ops), &remove, json!({})).await.0, 204);
    assert_eq!(pair.ended().await["type"], "removed");
    assert_eq!(
        Watch::join(&gw, &dev, &id).await.err(),
        Some(404),
        "removal withdrew the invitation"
    );
    assert_eq!(gw.get(Some(&dev), "/sessions/shared").await.1, json!([]));

    // Shared anew, they may come back.
    gw.post(Some(&ops), &format!("/sessions/{id}/share"), share)
        .await;
    let mut back = Watch::join(&gw, &dev, &id).await.unwrap();
    back.ws
        .send(Message::Binary(Bytes::from_static(b"echo back-$((5*5))\n")))
        .await
        .unwrap();
    owner.expect("back-25").await;
}

#[tokio::test]
async fn unshare_withdraws_an_invitation_nobody_used() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let ops = gw.user(&admin, "ops1", "user").await;
    let dev = gw.user(&admin, "dev2", "user").await;
    let conn = gw.ssh_connection(&admin, &sshd, "prod-db", &["ops1"]).await;
    let owner = Terminal::open(&gw, &ops, &conn).await;
    let id = &owner.session_id;
    gw.post(
        Some(&ops),
        &format!("/sessions/{id}/share"),
        json!({ "user": "dev2", "mode": "interactive" }),
    )
    .await;
    let (_, mine) = gw.get(Some(&dev), "/sessions/shared").await;
    assert_eq!(mine[0]["session"]["id"], id.as_str());

    let unshare = format!("/sessions/{id}/unshare");
    let body = json!({ "user": "dev2" });
    assert_eq!(
        gw.post(Some(&dev), &unshare, body.clone()).await.0,
        404,
        "dev2 cannot even see the session"
    );
    let auditor = gw.user(&admin, "aud1", "auditor").await;
    assert_eq!(
        gw.post(Some(&auditor), &unshare, body.clone()).await.0,
        403,
        "seeing the session is not enough"
    );
    let (status, answer) = gw.post(Some(&ops), &unshare, body.clone()).await;
    assert_eq!(status, 204, "{answer}");
    assert_eq!(gw.get(Some(&dev), "/sessions/shared").await.1, json!([]));
    assert_eq!(Watch::join(&gw, &dev, id).await.err(), Some(404));
    assert_eq!(
        gw.post(Some(&ops), &unshare, body).await.0,
        404,
        "nothing left to withdraw"
    );
    let withdrawn = gw.audit(&admin, "session.unshare").await;
    assert_eq!(withdrawn[0]["actor"], "ops1");
    assert_eq!(withdrawn[0]["details"], json!({ "with": "dev2" }));
}

#[tokio::test]
async fn only_someone_with_sessions_end_removes_a_watching_supervisor() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let ops = gw.user(&admin, "ops1", "user").await;
    let auditor = gw.user(&admin, "aud1", "auditor").await;
    let conn = gw.ssh_connection(&admin, &sshd, "prod-db", &["ops1"]).await;
    let mut owner = Terminal::open(&gw, &ops, &conn).await;
    let id = owner.session_id.clone();
    let mut supervisor = Watch::open(&gw, &auditor, &id).await.unwrap();
    let pid = eventually(Duration::from_secs(5), || async {
        participants(&gw, &ops, &id)
            .await
            .iter()
            .find(|p| p["user"] == "aud1")
            .map(|p| p["id"].as_str().unwrap().to_owned())
    })
    .await
    .expect("the auditor is listed as a participant");
    let path = format!("/sessions/{id}/participants/{pid}/remove");

    // The watched owner may not send the auditor (sessions.watch) away…
    let (status, body) = gw.post(Some(&ops), &path, json!({})).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "forbidden", "{body}");
    assert!(
        participants(&gw, &ops, &id)
            .await
            .iter()
            .any(|p| p["user"] == "aud1")
    );
    // …nor may the auditor, who lacks sessions.end, remove themselves this way…
    assert_eq!(gw.post(Some(&auditor), &path, json!({})).await.0, 403);
    // …an administrator (sessions.end) may.
    assert_eq!(gw.post(Some(&admin), &path, json!({})).await.0, 204);
    assert_eq!(
        supervisor.ended().await,
        json!({ "type": "removed", "by": "admin" })
    );
    owner.run("echo still-$((5*5))").await;
    owner.expect("still-25").await;
}

/// Share suggestions (issue 21): a plain owner gets the names of active users
/// starting with what they typed — a few names, nothing else — while nobody
/// else may ask about their session.
#[tokio::test]
async fn a_plain_owner_gets_share_suggestions_by_prefix_and_nobody_else_does() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let ops = gw.user(&admin, "ops1", "user").await;
    let dev = gw.user(&admin, "dev2", "user").await;
    for name in ["devon", "dexter", "opsie"] {
        gw.user(&admin, name, "user").await;
    }
    for i in 0..12 {
        gw.user(&admin, &format!("many{i:02}"), "user").await;
    }
    gw.user(&admin, "devlocked", "user").await;
    let locked = gw.user_id(&admin, "devlocked").await;
    let (status, body) = gw
        .post(Some(&admin), &format!("/users/{locked}/lock"), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    let conn = gw.ssh_connection(&admin, &sshd, "prod-db", &["ops1"]).await;
    let owner = Terminal::open(&gw, &ops, &conn).await;
    let id = owner.session_id.clone();
    let suggest = |token: String, q: &'static str| {
        let gw = &gw;
        let id = id.clone();
        async move {
            gw.get(
                Some(&token),
                &format!("/sessions/{id}/share/suggestions?q={q}"),
            )
            .await
        }
    };

    let (status, body) = suggest(ops.clone(), "DEV").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({ "users": ["dev2", "devon"] }),
        "active users by prefix, the locked one left out, names only"
    );
    let (_, body) = suggest(ops.clone(), "op").await;
    assert_eq!(body, json!({ "users": ["opsie"] }), "never the caller");
    let (_, body) = suggest(ops.clone(), "ma").await;
    assert_eq!(body["users"].as_array().unwrap().len(), 10, "{body}");
    assert_eq!(body["users"][0], "many00");
    for short in ["d", "", "%25", "d%25", "_e"] {
        let (status, body) = suggest(ops.clone(), short).await;
        assert_eq!(status, 400, "q={short}: {body}");
        assert_eq!(body["error"]["code"], "invalid_request", "{body}");
    }

    // Someone else's session: invisible to a plain user, and seeing it
    // (sessions.view) is not owning it.
    assert_eq!(suggest(dev, "de").await.0, 404);
    let (status, body) = suggest(admin.clone(), "de").await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "forbidden");
    let (status, _) = gw
        .get(None, &format!("/sessions/{id}/share/suggestions?q=de"))
        .await;
    assert_eq!(status, 401);
}
