//! Every terminal session is recorded: the file is asciicast v2 and replays
//! exactly what the client received; the size limit holds; the text index
//! finds the session where a command was typed; replay and download are
//! for `audit.view` and audited.

use gatehouse_recording::cast::Kind;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Sshd, Terminal, TestGateway, stdout};

/// Ends a terminal from the client side and waits for its history row,
/// recording included.
async fn finish(gw: &TestGateway, token: &str, mut term: Terminal) -> (Vec<u8>, Value) {
    term.run("exit").await;
    term.ended().await;
    gw.recordings_complete().await;
    let row = gw.ended_history(token, &term.session_id).await;
    (term.raw, row)
}

#[tokio::test]
async fn a_real_session_is_recorded_and_its_output_events_replay_byte_for_byte() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let ops = gw.user(&admin, "ops1", "user").await;
    let conn = gw.ssh_connection(&admin, &sshd, "prod-db", &["ops1"]).await;
    let mut term = Terminal::open(&gw, &ops, &conn).await;
    let id = term.session_id.clone();
    assert_eq!(gw.sessions(&admin, "").await["items"][0]["recording"], true);
    term.control(json!({ "type": "resize", "cols": 120, "rows": 40 }))
        .await;
    // Multibyte characters in bulk: SSH packets split some of them.
    term.run("yes 'é€😀 ünïcödé' | head -n 4000; echo done-$((6*7))")
        .await;
    term.expect("done-42").await;
    let (received, row) = finish(&gw, &ops, term).await;

    let rec = gw.recording(&admin, &id).await;
    assert_eq!(rec.header.version, 2);
    assert_eq!((rec.header.width, rec.header.height), (100, 30));
    let meta = rec.header.gatehouse.clone().unwrap();
    assert_eq!(
        (meta["user"].as_str(), meta["connection"].as_str()),
        (Some("ops1"), Some("prod-db"))
    );
    assert_eq!(meta["session"], id.as_str());
    assert!(
        rec.output().as_bytes() == received.as_slice(),
        "replayed output differs from what the client received ({} vs {} bytes)",
        rec.output().len(),
        received.len()
    );
    assert!(received.len() > 4000 * 20);
    assert!(
        rec.events
            .iter()
            .any(|e| e.kind == Kind::Resize && e.data == "120x40")
    );
    assert!(
        rec.events.iter().all(|e| e.kind != Kind::Input),
        "keystrokes are not recorded by default"
    );
    let info = &row["recording"];
    assert!(info["bytes"].as_u64().unwrap() > received.len() as u64);
    assert!(info["duration_ms"].as_u64().is_some());
    assert_eq!(info["truncated"], false);

    // Replay and download are audited; the owner without audit.view may do neither.
    let download = gw
        .http()
        .get(gw.url(&format!("/history/{id}/recording?download=true")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert!(
        download.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains(".cast")
    );
    assert_eq!(
        gw.audit(&admin, "recording.replay").await[0]["target"],
        id.as_str()
    );
    assert_eq!(
        gw.audit(&admin, "recording.download").await[0]["actor"],
        "admin"
    );
    let (status, body) = gw
        .get(Some(&ops), &format!("/history/{id}/recording"))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    let (status, body) = gw
        .get(
            Some(&admin),
            "/history/4a2b4a4e-8a8e-4b8e-9d3e-2a1f3c4d5e6f/recording",
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );

    // The same recording plays in a terminal from the CLI.
    let played = gw
        .cli(&admin, &["history", "play", &id, "--speed", "1000"])
        .await;
    assert!(played.status.success(), "{played:?}");
    assert!(stdout(&played).contains("done-42"));
}

#[tokio::test]
async fn the_size_limit_ends_the_recording_with_a_marker_and_the_session_goes_on() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn_with(|c| c.recording_max_bytes = 16 * 1024).await;
    let admin = gw.admin().await;
    let conn = gw
        .ssh_connection(&admin, &sshd, "prod-db", &["admin"])
        .await;
    let mut term = Terminal::open(&gw, &admin, &conn).await;
    let id = term.session_id.clone();
    term.run("yes 0123456789 | head -n 5000; echo big-$((2+3))")
        .await;
    term.expect("big-5").await;
    term.run("echo still-$((3+4))").await;
    term.expect("still-7").await;
    let (received, row) = finish(&gw, &admin, term).await;

    let bytes = row["recording"]["bytes"].as_u64().unwrap();
    assert!(bytes <= 16 * 1024, "{bytes} bytes");
    assert_eq!(row["recording"]["truncated"], true);
    assert!(
        received.len() > 50_000,
        "the session went on past the limit"
    );
    let rec = gw.recording(&admin, &id).await;
    let last = rec.events.last().unwrap();
    assert_eq!(last.kind, Kind::Marker);
    assert!(last.data.contains("size limit"), "{}", last.data);
    assert!(!rec.output().contains("still-7"));
}

#[tokio::test]
async fn text_search_finds_the_session_where_a_command_was_typed_and_not_the_others() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let ops = gw.user(&admin, "ops1", "user").await;
    let conn = gw
        .ssh_connection(&admin, &sshd, "prod-db", &["ops1", "admin"])
        .await;
    let mut ids = Vec::new();
    for (token, line) in [
        (&ops, "ls /"),
        (&ops, "rm -rf /tmp/gatehouse-nothing-here"),
        (&admin, "echo rm -r is not the same"),
    ] {
        let mut term = Terminal::open(&gw, token, &conn).await;
        ids.push(term.session_id.clone());
        term.run(line).await;
        term.run("echo ok-$((1+1))").await;
        term.expect("ok-2").await;
        finish(&gw, token, term).await;
    }
    let search = |token: String, text: &'static str| {
        let gw = &gw;
        async move {
            let (status, body) = gw
                .get(
                    Some(&token),
                    &format!("/history?text={}", text.replace(' ', "%20")),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(search(admin.clone(), "rm -rf").await, [ids[1].clone()]);
    assert_eq!(
        search(admin.clone(), "RM -RF /TMP/GATEHOUSE").await,
        [ids[1].clone()]
    );
    assert_eq!(search(admin.clone(), "ok-2").await.len(), 3);
    assert!(search(admin.clone(), "mkfs.ext4").await.is_empty());
    // Without audit.view, only one's own sessions are searched.
    assert_eq!(search(ops.clone(), "is not the same").await.len(), 0);
    let (status, body) = gw.get(Some(&admin), "/history?text=rm").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
}

#[tokio::test]
async fn a_connection_turns_recording_off_or_keystrokes_on() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let ops = gw.user(&admin, "ops1", "user").await;
    let conn = gw
        .ssh_connection(&admin, &sshd, "prod-db", &["admin"])
        .await;
    let path = format!("/connections/{conn}/recording");
    let (status, settings) = gw.get(Some(&admin), &path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        settings,
        json!({ "recording": true, "record_input": false })
    );
    let (status, _) = gw
        .put(
            &ops,
            &path,
            json!({ "recording": false, "record_input": false }),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let off = json!({ "recording": false, "record_input": false });
    let (status, _) = gw.put(&admin, &path, off.clone()).await;
    assert_eq!(status, StatusCode::OK);
    let updates = gw.audit(&admin, "connection.update").await;
    assert_eq!(updates.len(), 1, "{updates:?}");
    assert_eq!(updates[0]["target"], "prod-db");
    // The same settings again change nothing, and the audit says nothing.
    let (status, _) = gw.put(&admin, &path, off).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(gw.audit(&admin, "connection.update").await.len(), 1);
    let mut term = Terminal::open(&gw, &admin, &conn).await;
    let unrecorded = term.session_id.clone();
    assert_eq!(
        gw.sessions(&admin, "").await["items"][0]["recording"],
        false
    );
    term.run("echo quiet").await;
    let (_, row) = finish(&gw, &admin, term).await;
    assert!(row["recording"].is_null());
    let (status, _) = gw
        .get(Some(&admin), &format!("/history/{unrecorded}/recording"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, _) = gw
        .put(
            &admin,
            &path,
            json!({ "recording": true, "record_input": true }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let mut term = Terminal::open(&gw, &admin, &conn).await;
    let id = term.session_id.clone();
    term.run("echo typed-in").await;
    term.expect("typed-in").await;
    finish(&gw, &admin, term).await;
    let rec = gw.recording(&admin, &id).await;
    let typed: String = rec
        .events
        .iter()
        .filter(|e| e.kind == Kind::Input)
        .map(|e| e.data.as_str())
        .collect();
    assert_eq!(typed, "echo typed-in\nexit\n");
}
