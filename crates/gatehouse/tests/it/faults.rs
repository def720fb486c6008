//! Targets that fail and clients that vanish: clear errors, clean ends.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::json;

use crate::harness::sshd::free_port;
use crate::harness::terminal::{connect, next_control};
use crate::harness::{Sshd, Terminal, TestGateway, eventually};

/// Opens a terminal that the gateway cannot connect; returns the error message.
async fn refused(gw: &TestGateway, token: &str, conn: &str) -> serde_json::Value {
    let mut ws = connect(gw, token, conn)
        .await
        .expect("upgrade succeeds; the error comes after");
    let msg = next_control(&mut ws).await.expect("an error message");
    assert_eq!(msg["type"], "error", "{msg}");
    assert!(
        next_control(&mut ws).await.is_none(),
        "the socket closes after the error"
    );
    assert_eq!(
        gw.sessions(token, "").await["total"],
        0,
        "a failed open is not a session"
    );
    msg
}

#[tokio::test]
async fn a_target_that_refuses_connections_gets_a_clear_error() {
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let conn = gw
        .connection(&admin, json!({ "name": "down", "host": "127.0.0.1", "port": free_port(),
                                    "username": "x", "password": "irrelevant", "users": ["admin"] }))
        .await;
    let msg = refused(&gw, &admin, &conn).await;
    assert_eq!(msg["code"], "target_unreachable");
    let failed = gw.audit(&admin, "session.failed").await;
    assert_eq!(failed[0]["details"]["code"], "target_unreachable");
    assert_eq!(failed[0]["actor"], "admin");
}

#[tokio::test]
async fn wrong_target_credentials_are_refused_and_audited() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let wrong_password = gw
        .connection(
            &admin,
            json!({ "name": "bad-pw", "host": "127.0.0.1", "port": sshd.port,
                                    "username": crate::harness::sshd::TARGET_USER,
                                    "password": "not-the-password", "users": ["admin"] }),
        )
        .await;
    let wrong_key = gw
        .connection(
            &admin,
            json!({ "name": "bad-key", "host": "127.0.0.1", "port": sshd.port,
                                    "username": crate::harness::sshd::TARGET_USER, "private_key": sshd.unknown_key(),
                                    "users": ["admin"] }),
        )
        .await;
    assert_eq!(
        refused(&gw, &admin, &wrong_password).await["code"],
        "target_auth_failed"
    );
    assert_eq!(
        refused(&gw, &admin, &wrong_key).await["code"],
        "target_auth_failed"
    );
    assert_eq!(gw.audit(&admin, "session.failed").await.len(), 2);
}

#[tokio::test]
async fn a_changed_host_key_refuses_the_session_and_is_audited() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let impostor = gw
        .connection(
            &admin,
            json!({ "name": "pinned-elsewhere", "host": "127.0.0.1", "port": sshd.port,
                                    "username": crate::harness::sshd::TARGET_USER, "private_key": sshd.client_key(),
                                    "host_key": sshd.other_host_key(), "users": ["admin"] }),
        )
        .await;
    let msg = refused(&gw, &admin, &impostor).await;
    assert_eq!(msg["code"], "host_key_mismatch");
    assert!(
        msg["message"]
            .as_str()
            .unwrap()
            .contains(&sshd.host_key_fingerprint()),
        "{msg}"
    );
    let events = gw.audit(&admin, "connection.host_key_mismatch").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["target"], "pinned-elsewhere");

    // The right key, given by the administrator, is accepted.
    let pinned = gw
        .connection(
            &admin,
            json!({ "name": "pinned-right", "host": "127.0.0.1", "port": sshd.port,
                                    "username": crate::harness::sshd::TARGET_USER, "private_key": sshd.client_key(),
                                    "host_key": sshd.host_key(), "users": ["admin"] }),
        )
        .await;
    let mut term = Terminal::open(&gw, &admin, &pinned).await;
    term.run("echo ok-$((5*5))").await;
    term.expect("ok-25").await;
}

#[tokio::test]
async fn a_target_that_dies_mid_session_ends_it_as_target_closed() {
    let mut sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let conn = gw
        .ssh_connection(&admin, &sshd, "fragile", &["admin"])
        .await;
    let mut term = Terminal::open(&gw, &admin, &conn).await;
    term.run("echo alive").await;
    term.expect("alive").await;
    sshd.kill().await;
    let ending = term.ended().await;
    assert_eq!(ending.message["reason"], "target_closed");
    assert_eq!(
        gw.ended_history(&admin, &term.session_id).await["end_reason"],
        "target_closed"
    );
}

#[tokio::test]
async fn a_client_that_vanishes_without_closing_is_ended_after_the_ping_timeout() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn_with(|c| {
        c.ws_ping_interval = Duration::from_millis(100);
        c.ws_client_timeout = Duration::from_millis(600);
    })
    .await;
    let admin = gw.admin().await;
    let conn = gw
        .ssh_connection(&admin, &sshd, "prod-db", &["admin"])
        .await;
    let term = Terminal::open(&gw, &admin, &conn).await;
    // Stop reading (so no pong is ever sent) but keep the TCP connection up.
    let (_writer, _reader) = term.ws.split();
    let gone = eventually(Duration::from_secs(5), || async {
        gw.registry().is_empty().then_some(())
    })
    .await;
    assert!(gone.is_some(), "a silent client kept its session");
    assert_eq!(
        gw.ended_history(&admin, &term.session_id).await["end_reason"],
        "client_closed"
    );
}
