//! End Sessions: an administrator (or the owner) ends sessions and both
//! sides close at once, with the reason shown and recorded.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::{Bytes, Message};

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

/// A paste into a shell that is not reading fills every buffer on the way;
/// the gateway must still end the session at once (it used to wait on the
/// target's window with the end signal unwatched, for good).
#[tokio::test]
async fn a_session_flooded_with_input_its_shell_does_not_read_still_ends_at_once() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let ops = gw.user(&admin, "ops1", "user").await;
    let conn = gw.ssh_connection(&admin, &sshd, "prod-db", &["ops1"]).await;
    let mut term = Terminal::open(&gw, &ops, &conn).await;
    term.run("sleep 2").await;
    // Like a browser, the client writes and reads independently: a paste of
    // 10 MiB in the largest messages the gateway takes, while it reads.
    let (mut keyboard, mut screen) = term.ws.split();
    let paste = tokio::spawn(async move {
        let chunk = Bytes::from(vec![b'x'; 1 << 20]);
        for _ in 0..10 {
            if keyboard.send(Message::Binary(chunk.clone())).await.is_err() {
                break;
            }
        }
        keyboard
    });
    // The shell wakes and echoes the paste: output and input both flow.
    let mut echoed = 0;
    while echoed < 64 << 10 {
        match tokio::time::timeout(Duration::from_secs(10), screen.next()).await {
            Ok(Some(Ok(Message::Binary(b)))) => echoed += b.iter().filter(|&&c| c == b'x').count(),
            Ok(Some(Ok(_))) => {}
            other => panic!("no echo of the paste ({echoed} bytes so far): {other:?}"),
        }
    }

    let (status, body) = gw
        .post(
            Some(&admin),
            "/sessions/end",
            json!({ "ids": [term.session_id] }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let asked = Instant::now();
    let mut ended = None;
    loop {
        match tokio::time::timeout(Duration::from_secs(5), screen.next())
            .await
            .expect("the socket stays open after the end")
        {
            Some(Ok(Message::Text(t))) => {
                let v: serde_json::Value = serde_json::from_str(&t).unwrap();
                if v["type"] == "ended" {
                    ended = Some(v);
                }
            }
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
            Some(Ok(_)) => {}
        }
    }
    let closed = asked.elapsed();
    paste.abort();
    let ended = ended.expect("an ended message before the close");
    assert_eq!(ended["reason"], "ended_by_admin");
    assert!(
        closed < Duration::from_secs(1),
        "the socket closed {closed:?} after the end was asked"
    );
    let gone = eventually(Duration::from_secs(1), || async {
        let listed = gw.sessions(&admin, "").await["total"].as_u64();
        let target = sshd.established_connections() + sshd.connection_processes();
        (listed == Some(0) && target == 0).then_some(())
    })
    .await;
    assert!(
        gone.is_some(),
        "after 1 s: {} listed, {} target connections, {} target processes",
        gw.sessions(&admin, "").await["total"],
        sshd.established_connections(),
        sshd.connection_processes()
    );
    let row = gw.ended_history(&admin, &term.session_id).await;
    assert_eq!(row["end_reason"], "ended_by_admin");
    assert_eq!(row["ended_by"], "admin");
}

/// The call takes the 10,000 ids its documentation promises (the body
/// limit used to stop it near 1,600), and refuses one more clearly.
#[tokio::test]
async fn end_sessions_takes_ten_thousand_ids_and_refuses_more() {
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let ids: Vec<String> = (0..10_000)
        .map(|i| format!("00000000-0000-4000-8000-{i:012}"))
        .collect();
    let (status, body) = gw
        .post(Some(&admin), "/sessions/end", json!({ "ids": ids }))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["missing"].as_array().unwrap().len(), 10_000);

    let mut more = ids;
    more.push("00000000-0000-4000-8000-999999999999".into());
    let (status, body) = gw
        .post(Some(&admin), "/sessions/end", json!({ "ids": more }))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_request", "{body}");
}
