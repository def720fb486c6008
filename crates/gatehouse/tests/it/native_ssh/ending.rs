//! Native sessions end like any other — by an administrator or by policy —
//! and the user's terminal says why.

use super::*;

#[tokio::test]
async fn a_pty_session_is_listed_found_by_search_and_ended_with_the_reason() {
    let (gw, _sshd, admin, ops, _) = setup().await;
    let client = Client::registered(&gw, &ops).await;
    let mut ssh = client.interactive("ops1:box");
    let mut seen = String::new();
    read_until(&mut ssh, &mut seen, "$ ").await;
    let stdin = ssh.stdin.as_mut().unwrap();
    stdin.write_all(b"echo typed-$((7*6))\r").await.unwrap();
    read_until(&mut ssh, &mut seen, "typed-42").await;

    let found = gw.sessions(&admin, "box").await;
    assert_eq!(found["total"], 1, "{found}");
    let session = &found["items"][0];
    assert_eq!(session["user"], "ops1");
    assert_eq!(session["protocol"], "ssh");
    assert_eq!(session["client_addr"], "127.0.0.1");
    assert!(session["bytes_from_client"].as_u64().unwrap() > 0);
    assert_eq!(gw.sessions(&admin, "nothing-like-it").await["total"], 0);

    let id = session["id"].as_str().unwrap().to_owned();
    let (status, body) = gw
        .post(Some(&admin), "/sessions/end", json!({ "ids": [id] }))
        .await;
    assert_eq!(status, 200, "{body}");
    let status = hang_up(&mut ssh, &mut seen).await;
    assert!(!status.success(), "exit status {status:?}");
    assert!(
        seen.contains("Session ended by administrator admin"),
        "{seen:?}"
    );
    let ended = gw.ended_history(&admin, &id).await;
    assert_eq!(ended["end_reason"], "ended_by_admin");
    assert_eq!(ended["ended_by"], "admin");
}

#[tokio::test]
async fn an_idle_native_session_is_warned_in_its_terminal_then_ended() {
    let (gw, _sshd, admin, ops, conn) = setup().await;
    let (status, body) = gw
        .put(
            &admin,
            &format!("/connections/{conn}/limits"),
            json!({ "idle_timeout_seconds": 3 }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let client = Client::registered(&gw, &ops).await;
    let mut ssh = client.interactive("ops1:box");
    let mut seen = String::new();
    read_until(&mut ssh, &mut seen, "$ ").await;
    read_until(&mut ssh, &mut seen, "[gatehouse] This session ends in").await;
    read_until(&mut ssh, &mut seen, "Session ended: idle_timeout").await;
    assert!(!hang_up(&mut ssh, &mut seen).await.success());
}

#[tokio::test]
async fn a_gateway_shutdown_ends_native_sessions_with_the_reason() {
    let (gw, _sshd, _admin, ops, _) = setup().await;
    let client = Client::registered(&gw, &ops).await;
    let mut ssh = client.interactive("ops1:box");
    let mut seen = String::new();
    read_until(&mut ssh, &mut seen, "$ ").await;
    gw.shut_down();
    assert!(!hang_up(&mut ssh, &mut seen).await.success());
    assert!(seen.contains("Session ended: gateway_shutdown"), "{seen:?}");
}
