//! Native sessions end like any other — by an administrator or by policy —
//! and the user's terminal says why.

use std::time::Instant;

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
    assert_eq!(
        status.code(),
        Some(1),
        "the README's exit status for an ended session"
    );
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
    assert_eq!(hang_up(&mut ssh, &mut seen).await.code(), Some(1));
}

#[tokio::test]
async fn a_gateway_shutdown_ends_native_sessions_with_the_reason() {
    let (gw, _sshd, _admin, ops, _) = setup().await;
    let client = Client::registered(&gw, &ops).await;
    let mut ssh = client.interactive("ops1:box");
    let mut seen = String::new();
    read_until(&mut ssh, &mut seen, "$ ").await;
    gw.shut_down();
    let asked = Instant::now();
    assert_eq!(hang_up(&mut ssh, &mut seen).await.code(), Some(1));
    assert!(seen.contains("Session ended: gateway_shutdown"), "{seen:?}");
    // An orderly stop finishes every recording and is quick about it.
    assert!(
        gw.stopped_within(Duration::from_secs(1)).await,
        "the gateway took more than 1 s to stop"
    );
    assert!(asked.elapsed() < Duration::from_secs(1));
    assert!(
        gw.registry().wait_for_recordings(Duration::ZERO).await,
        "a recording was left unfinished"
    );
}

/// Ends the one live session of ops1 as the administrator; returns its id
/// and when the call was answered.
async fn end_the_session(gw: &TestGateway, admin: &str) -> (String, Instant) {
    let live = eventually(Duration::from_secs(10), || async {
        let found = gw.sessions(admin, "ops1").await;
        found["items"][0]["id"].as_str().map(str::to_owned)
    })
    .await
    .expect("ops1's session is listed");
    let (status, body) = gw
        .post(Some(admin), "/sessions/end", json!({ "ids": [live] }))
        .await;
    assert_eq!(status, 200, "{body}");
    (live, Instant::now())
}

/// A paste into a shell that is not reading fills every buffer between
/// client and target; ending the session must still close both at once.
#[tokio::test]
async fn a_native_session_flooded_with_input_still_ends_at_once() {
    let (gw, sshd, admin, ops, _) = setup().await;
    let client = Client::registered(&gw, &ops).await;
    let mut ssh = client.interactive("ops1:box");
    let mut seen = String::new();
    read_until(&mut ssh, &mut seen, "$ ").await;
    let mut stdin = ssh.stdin.take().unwrap();
    stdin.write_all(b"sleep 2\r").await.unwrap();
    // 10 MiB, for as long as ssh takes it (it stops when pushed back).
    let flood = tokio::spawn(async move {
        let chunk = vec![b'x'; 64 << 10];
        for _ in 0..160 {
            if stdin.write_all(&chunk).await.is_err() {
                break;
            }
        }
        stdin
    });
    // The shell wakes and echoes the paste: both directions flow.
    read_until(&mut ssh, &mut seen, &"x".repeat(64)).await;

    let (id, asked) = end_the_session(&gw, &admin).await;
    let status = hang_up(&mut ssh, &mut seen).await;
    let took = asked.elapsed();
    flood.abort();
    let tail: String = seen
        .chars()
        .rev()
        .take(200)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let mut stderr = String::new();
    let _ = ssh.stderr.take().unwrap().read_to_string(&mut stderr).await;
    assert_eq!(
        status.code(),
        Some(1),
        "{status:?} after {took:?}; last output {tail:?}; stderr {stderr:?}"
    );
    assert!(
        took < Duration::from_secs(1),
        "ssh exited {took:?} after the end"
    );
    assert!(seen.contains("Session ended by administrator admin"));
    let gone = eventually(Duration::from_secs(1), || async {
        let listed = gw.sessions(&admin, "").await["total"].as_u64();
        let target = sshd.established_connections() + sshd.connection_processes();
        (listed == Some(0) && target == 0).then_some(())
    })
    .await;
    assert!(
        gone.is_some(),
        "the session or its target connection outlived the end"
    );
    assert_eq!(
        gw.ended_history(&admin, &id).await["end_reason"],
        "ended_by_admin"
    );
}

/// `ssh -N` (forwards only, no shell) has no terminal to be told on: it
/// hears the reason in the disconnect, at once.
#[tokio::test]
async fn a_client_without_a_shell_is_disconnected_at_once_with_the_reason() {
    let (gw, _sshd, admin, ops, _) = setup().await;
    let client = Client::registered(&gw, &ops).await;
    let mut cmd = client.ssh("ops1:box", &["-N"]);
    cmd.stderr(Stdio::piped());
    let mut ssh = cmd.spawn().unwrap();

    let (_, asked) = end_the_session(&gw, &admin).await;
    let status = tokio::time::timeout(Duration::from_secs(10), ssh.wait())
        .await
        .expect("ssh -N exits")
        .unwrap();
    let took = asked.elapsed();
    let mut stderr = String::new();
    ssh.stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .await
        .unwrap();
    assert!(
        took < Duration::from_secs(1),
        "ssh -N exited {took:?} after the end"
    );
    assert!(!status.success());
    assert!(
        stderr.contains("Session ended by administrator admin"),
        "{stderr:?}"
    );
}

/// With compression asked for (`ssh -C`), the reason still reads: the
/// gateway does not offer compression, whose disconnect russh garbled.
#[tokio::test]
async fn a_client_asking_for_compression_still_reads_why_its_session_ended() {
    let (gw, _sshd, admin, ops, _) = setup().await;
    let client = Client::registered(&gw, &ops).await;
    let mut cmd = client.ssh("ops1:box", &["-C", "-tt"]);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut ssh = cmd.spawn().unwrap();
    let mut seen = String::new();
    read_until(&mut ssh, &mut seen, "$ ").await;

    end_the_session(&gw, &admin).await;
    let status = hang_up(&mut ssh, &mut seen).await;
    let mut stderr = String::new();
    ssh.stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .await
        .unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        seen.contains("Session ended by administrator admin"),
        "{seen:?}"
    );
    assert!(!stderr.contains("invalid format"), "{stderr}");
}

/// A target that dies takes the session with it, and the client is told
/// why (it used to get exit status 255 and nothing else).
#[tokio::test]
async fn a_target_that_dies_ends_native_sessions_with_the_reason() {
    let (gw, mut sshd, admin, ops, _) = setup().await;
    let client = Client::registered(&gw, &ops).await;
    let mut ssh = client.interactive("ops1:box");
    let mut seen = String::new();
    read_until(&mut ssh, &mut seen, "$ ").await;
    let id = gw.sessions(&admin, "ops1").await["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    sshd.kill().await;
    let status = hang_up(&mut ssh, &mut seen).await;
    assert_eq!(status.code(), Some(1), "{seen:?}");
    assert!(seen.contains("Session ended: target_closed"), "{seen:?}");
    assert_eq!(
        gw.ended_history(&admin, &id).await["end_reason"],
        "target_closed"
    );
}

/// A ControlMaster carries other `ssh` invocations' sessions: each of them
/// hears the reason and exits 1 at once, and the master follows.
#[tokio::test]
async fn a_control_master_and_its_multiplexed_sessions_end_together() {
    let (gw, _sshd, admin, ops, _) = setup().await;
    let client = Client::registered(&gw, &ops).await;
    let socket = client.dir.path().join("master.sock");
    let socket_opt = socket.to_str().unwrap();
    let mut master = client.ssh("ops1:box", &["-M", "-S", socket_opt, "-N"]);
    master.stderr(Stdio::piped());
    let mut master = master.spawn().unwrap();
    let listening = eventually(Duration::from_secs(10), || async {
        socket.exists().then_some(())
    })
    .await;
    assert!(listening.is_some(), "the master never opened its socket");
    let mut cmd = client.ssh("ops1:box", &["-S", socket_opt, "-tt"]);
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped());
    let mut muxed = cmd.spawn().unwrap();
    let mut seen = String::new();
    read_until(&mut muxed, &mut seen, "$ ").await;

    let (_, asked) = end_the_session(&gw, &admin).await;
    let status = hang_up(&mut muxed, &mut seen).await;
    let took = asked.elapsed();
    assert_eq!(status.code(), Some(1), "{seen:?}");
    assert!(
        took < Duration::from_secs(1),
        "the multiplexed ssh exited after {took:?}"
    );
    assert!(
        seen.contains("Session ended by administrator admin"),
        "{seen:?}"
    );
    let master_exit = tokio::time::timeout(Duration::from_secs(4), master.wait()).await;
    let took = asked.elapsed();
    assert!(master_exit.is_ok(), "the master outlived its session");
    assert!(
        took < Duration::from_secs(1),
        "the master exited {took:?} after the end"
    );
}
