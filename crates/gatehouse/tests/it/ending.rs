//! End Sessions: an administrator (or the owner) ends sessions and both
//! sides close at once, with the reason shown and recorded.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{Sshd, Terminal, TestGateway, eventually};

#[tokio::test]
async fn an_admin_ends_a_session_and_the_user_sees_who_ended_it() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let ops = gw.user(&admin, "ops1", "user").await;
    let conn = gw.ssh_connection(&admin, &sshd, "prod-db", &["ops1"]).await;
    let mut term = Terminal::open(&gw, &ops, &conn).await;
    term.run("echo ready-$((2*3))").await;
    term.expect("ready-6").await;
    assert_eq!(sshd.established_connections(), 1);

    let (status, body) = gw
        .post(
            Some(&admin),
            "/sessions/end",
            json!({ "ids": [term.session_id], "reason": "maintenance window" }),
        )
        .await;
    let returned = Instant::now();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({ "ended": [term.session_id], "missing": [] }));

    let ending = term.ended().await;
    let closed_after = returned.elapsed();
    assert_eq!(ending.message["type"], "ended");
    assert_eq!(ending.message["reason"], "ended_by_admin");
    assert_eq!(ending.message["by"], "admin");
    assert_eq!(ending.message["message"], "maintenance window");
    assert_eq!(ending.close.expect("a close frame").code, 1000.into());
    assert!(
        closed_after < Duration::from_secs(1),
        "closed {closed_after:?} after the call returned"
    );

    let target_gone = eventually(Duration::from_secs(1), || async {
        (sshd.established_connections() == 0).then_some(())
    })
    .await;
    assert!(
        target_gone.is_some(),
        "the connection to the target is still open"
    );
    assert_eq!(gw.sessions(&admin, "").await["total"], 0);

    let row = gw.ended_history(&admin, &term.session_id).await;
    assert_eq!(row["end_reason"], "ended_by_admin");
    assert_eq!(row["ended_by"], "admin");
    assert_eq!(row["end_message"], "maintenance window");
    assert_eq!(row["user"], "ops1");
    let requested = gw.audit(&admin, "session.end_requested").await;
    assert_eq!(requested.len(), 1);
    assert_eq!(requested[0]["actor"], "admin");
    assert_eq!(requested[0]["target"], term.session_id.as_str());
    let ends = gw.audit(&admin, "session.end").await;
    assert_eq!(ends.len(), 1, "one end event per session");
}

#[tokio::test]
async fn several_sessions_end_in_one_call_and_unknown_ids_are_reported_missing() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let ops = gw.user(&admin, "ops1", "user").await;
    let dev = gw.user(&admin, "dev2", "user").await;
    let conn = gw
        .ssh_connection(&admin, &sshd, "prod-db", &["ops1", "dev2"])
        .await;
    let mut terms = vec![
        Terminal::open(&gw, &ops, &conn).await,
        Terminal::open(&gw, &ops, &conn).await,
        Terminal::open(&gw, &dev, &conn).await,
    ];
    let spared = Terminal::open(&gw, &dev, &conn).await;
    let unknown = "00000000-0000-4000-8000-000000000000";
    let ids: Vec<_> = terms.iter().map(|t| t.session_id.clone()).collect();

    let (status, body) = gw
        .post(
            Some(&admin),
            "/sessions/end",
            json!({ "ids": [ids[0], ids[1], ids[2], unknown] }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let mut ended: Vec<_> = body["ended"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    ended.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(ended, expected);
    assert_eq!(body["missing"], json!([unknown]));

    for term in &mut terms {
        let ending = term.ended().await;
        assert_eq!(ending.message["reason"], "ended_by_admin");
    }
    let left = gw.sessions(&admin, "").await;
    assert_eq!(left["total"], 1);
    assert_eq!(left["items"][0]["id"], spared.session_id.as_str());
    for id in &ids {
        assert_eq!(
            gw.ended_history(&admin, id).await["end_reason"],
            "ended_by_admin"
        );
    }
}

#[tokio::test]
async fn a_user_ends_their_own_session_but_not_someone_elses() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let ops = gw.user(&admin, "ops1", "user").await;
    let dev = gw.user(&admin, "dev2", "user").await;
    let auditor = gw.user(&admin, "eve", "auditor").await;
    let conn = gw
        .ssh_connection(&admin, &sshd, "prod-db", &["ops1", "dev2"])
        .await;
    let mut mine = Terminal::open(&gw, &ops, &conn).await;
    let mut theirs = Terminal::open(&gw, &dev, &conn).await;

    // Someone else's session: invisible to a plain user, forbidden to an auditor.
    let (status, body) = gw
        .post(
            Some(&ops),
            "/sessions/end",
            json!({ "ids": [theirs.session_id] }),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["missing"], json!([theirs.session_id]));
    let (status, body) = gw
        .post(
            Some(&auditor),
            "/sessions/end",
            json!({ "ids": [theirs.session_id] }),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "forbidden");
    // A mixed request ends nothing when one session may not be ended.
    let (status, _) = gw
        .post(
            Some(&auditor),
            "/sessions/end",
            json!({ "ids": [theirs.session_id, mine.session_id] }),
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(gw.sessions(&admin, "").await["total"], 2);
    theirs.run("echo still-$((3+4))").await;
    theirs.expect("still-7").await;

    let (status, body) = gw
        .post(
            Some(&ops),
            "/sessions/end",
            json!({ "ids": [mine.session_id] }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let ending = mine.ended().await;
    assert_eq!(ending.message["reason"], "ended_by_owner");
    assert_eq!(ending.message["by"], "ops1");
    let row = gw.ended_history(&ops, &mine.session_id).await;
    assert_eq!(row["end_reason"], "ended_by_owner");
    assert_eq!(row["ended_by"], "ops1");
}

#[tokio::test]
async fn the_shell_exiting_ends_the_session_as_target_closed() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let conn = gw
        .ssh_connection(&admin, &sshd, "prod-db", &["admin"])
        .await;
    let mut term = Terminal::open(&gw, &admin, &conn).await;
    term.run("exit 3").await;
    let ending = term.ended().await;
    assert_eq!(ending.message["reason"], "target_closed");
    assert_eq!(ending.message["by"], serde_json::Value::Null);
    let row = gw.ended_history(&admin, &term.session_id).await;
    assert_eq!(row["end_reason"], "target_closed");
    assert_eq!(gw.sessions(&admin, "").await["total"], 0);
}

#[tokio::test]
async fn closing_the_browser_tab_ends_the_session_as_client_closed() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let conn = gw
        .ssh_connection(&admin, &sshd, "prod-db", &["admin"])
        .await;
    let mut term = Terminal::open(&gw, &admin, &conn).await;
    term.run("echo up").await;
    term.expect("up").await;
    term.ws.close(None).await.unwrap();
    let row = gw.ended_history(&admin, &term.session_id).await;
    assert_eq!(row["end_reason"], "client_closed");
    assert!(
        eventually(Duration::from_secs(1), || async {
            (sshd.established_connections() == 0).then_some(())
        })
        .await
        .is_some(),
        "the target connection outlived the client"
    );
}
