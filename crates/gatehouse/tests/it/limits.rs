//! Idle and duration limits: the user is warned, input (or "stay connected")
//! withdraws an idle warning, and a session past a limit ends by itself with
//! the policy that ended it recorded. Real time, short limits; the timing
//! logic itself is tested on a paused clock in the sessions crate.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{Sshd, Terminal, TestGateway};

async fn gateway(idle: Option<u64>, max: Option<u64>) -> TestGateway {
    TestGateway::spawn_with(|c| {
        c.idle_timeout = idle.map(Duration::from_secs);
        c.max_session = max.map(Duration::from_secs);
        c.session_warning = Duration::from_secs(2);
        c.policy_interval = Duration::from_millis(100);
    })
    .await
}

#[tokio::test]
async fn an_idle_session_is_warned_and_then_ended_as_idle_timeout() {
    let sshd = Sshd::start().await;
    let gw = gateway(Some(3), None).await;
    let admin = gw.admin().await;
    let conn = gw
        .ssh_connection(&admin, &sshd, "prod-db", &["admin"])
        .await;
    let mut term = Terminal::open(&gw, &admin, &conn).await;
    let opened = Instant::now();

    let warning = term.next_control().await;
    assert_eq!(warning["type"], "warning", "{warning}");
    assert_eq!(warning["reason"], "idle_timeout");
    assert!(
        (1..=2).contains(&warning["seconds_left"].as_u64().unwrap()),
        "{warning}"
    );
    let listed = gw.sessions(&admin, "").await;
    assert_eq!(listed["items"][0]["idle_timeout_seconds"], 3);
    assert!(listed["items"][0]["ends_in_seconds"].as_u64().unwrap() <= 2);

    let ending = term.ended().await;
    assert_eq!(ending.message["reason"], "idle_timeout");
    assert_eq!(ending.message["by"], serde_json::Value::Null);
    let waited = opened.elapsed();
    assert!(
        waited >= Duration::from_millis(2500) && waited < Duration::from_secs(6),
        "ended after {waited:?}"
    );
    let row = gw.ended_history(&admin, &term.session_id).await;
    assert_eq!(row["end_reason"], "idle_timeout");
    assert_eq!(
        row["end_message"],
        "no input for 3s (idle limit set by gateway setting)"
    );
}

#[tokio::test]
async fn typing_or_staying_connected_withdraws_the_warning_and_resets_the_clock() {
    let sshd = Sshd::start().await;
    let gw = gateway(Some(3), None).await;
    let admin = gw.admin().await;
    let conn = gw
        .ssh_connection(&admin, &sshd, "prod-db", &["admin"])
        .await;
    let mut term = Terminal::open(&gw, &admin, &conn).await;
    let opened = Instant::now();
    let limit = Duration::from_secs(3);

    // Warned 2 s before the 3 s limit; typing withdraws the warning.
    assert_eq!(term.next_control().await["type"], "warning");
    let typed = Instant::now();
    term.run("echo still-here").await;
    assert_eq!(term.next_control().await["type"], "warning_cleared");
    assert_eq!(
        term.next_control().await["type"],
        "warning",
        "warned again after the new idle period"
    );
    let warned_again = typed.elapsed();
    assert!(
        warned_again >= Duration::from_millis(950),
        "the next warning came {warned_again:?} after the input, not 1 s"
    );

    // Past the deadline the session had before the input, it still runs:
    // the input moved it.
    tokio::time::sleep_until((opened + limit + Duration::from_millis(300)).into()).await;
    assert_eq!(
        gw.sessions(&admin, "").await["total"],
        1,
        "alive {:?} after opening, past the first deadline",
        opened.elapsed()
    );

    // "Stay connected" moves it again; then nothing more is sent.
    let kept_alive = Instant::now();
    term.control(json!({ "type": "keep_alive" })).await;
    assert_eq!(term.next_control().await["type"], "warning_cleared");
    assert_eq!(term.next_control().await["type"], "warning");
    let ending = term.ended().await;
    assert_eq!(ending.message["reason"], "idle_timeout");
    let idle = kept_alive.elapsed();
    assert!(
        idle >= limit - Duration::from_millis(50) && idle < limit + Duration::from_secs(2),
        "ended {idle:?} after the last input, with a {limit:?} limit"
    );
    let lived = opened.elapsed();
    assert!(
        lived >= limit + Duration::from_millis(1500),
        "a session kept busy lived only {lived:?}"
    );
}

#[tokio::test]
async fn the_strictest_limit_of_gateway_role_and_connection_applies() {
    let sshd = Sshd::start().await;
    let gw = gateway(None, Some(600)).await;
    let admin = gw.admin().await;
    let ops = gw.user(&admin, "ops1", "user").await;
    let conn = gw
        .ssh_connection(&admin, &sshd, "prod-db", &["admin", "ops1"])
        .await;

    let (status, body) = gw
        .put(
            &admin,
            &format!("/connections/{conn}/limits"),
            json!({ "max_session_seconds": 3 }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, shown) = gw
        .get(Some(&admin), &format!("/connections/{conn}/limits"))
        .await;
    assert_eq!(
        shown,
        json!({ "idle_timeout_seconds": null, "max_session_seconds": 3 })
    );
    let (status, _) = gw
        .put(
            &admin,
            "/roles/user/limits",
            json!({ "idle_timeout_seconds": 2 }),
        )
        .await;
    assert_eq!(status, 200);

    let mut admins = Terminal::open(&gw, &admin, &conn).await;
    let mut users = Terminal::open(&gw, &ops, &conn).await;
    // The user's role sets a 2 s idle limit; the admin has no such role.
    assert_eq!(users.ended().await.message["reason"], "idle_timeout");
    let row = gw.ended_history(&admin, &users.session_id).await;
    assert_eq!(
        row["end_message"],
        "no input for 2s (idle limit set by role user)"
    );
    // The connection's 3 s maximum beats the gateway's 600 s, busy or not.
    admins.run("echo busy").await;
    let warning = admins.next_control().await;
    assert_eq!(
        (warning["type"].as_str(), warning["reason"].as_str()),
        (Some("warning"), Some("max_duration"))
    );
    assert_eq!(admins.ended().await.message["reason"], "max_duration");
    let row = gw.ended_history(&admin, &admins.session_id).await;
    assert_eq!(
        row["end_message"],
        "the session reached its maximum duration of 3s (set by connection prod-db)"
    );

    let events = gw.audit(&admin, "limits.update").await;
    assert_eq!(events.len(), 2);
}

#[tokio::test]
async fn only_administrators_change_limits() {
    let sshd = Sshd::start().await;
    let gw = gateway(None, None).await;
    let admin = gw.admin().await;
    let auditor = gw.user(&admin, "eve", "auditor").await;
    let conn = gw
        .ssh_connection(&admin, &sshd, "prod-db", &["admin"])
        .await;
    let limits = json!({ "idle_timeout_seconds": 60 });
    for token in [&auditor] {
        assert_eq!(
            gw.put(token, "/roles/user/limits", limits.clone()).await.0,
            403
        );
        assert_eq!(
            gw.put(
                token,
                &format!("/connections/{conn}/limits"),
                limits.clone()
            )
            .await
            .0,
            403
        );
        assert_eq!(
            gw.get(Some(token), &format!("/connections/{conn}/limits"))
                .await
                .0,
            403
        );
        assert_eq!(gw.get(Some(token), "/roles").await.0, 403);
    }
    assert_eq!(
        gw.put(&admin, "/roles/wizard/limits", limits.clone())
            .await
            .0,
        404
    );
    let (status, body) = gw
        .put(&admin, "/roles/user/limits", json!({ "idle": 5 }))
        .await;
    assert_eq!(
        (status.as_u16(), body["error"]["code"].as_str()),
        (422, Some("invalid_request"))
    );
    let (_, roles) = gw.get(Some(&admin), "/roles").await;
    let user = roles
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "user")
        .unwrap()
        .clone();
    assert_eq!(
        user["limits"],
        json!({ "idle_timeout_seconds": null, "max_session_seconds": null })
    );
}
