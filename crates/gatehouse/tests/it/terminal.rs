//! A user opens a connection in the browser and works in a real shell.

use serde_json::json;

use crate::harness::{Sshd, Terminal, TestGateway};

#[tokio::test]
async fn a_granted_user_runs_a_command_through_the_gateway() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let ops = gw.user(&admin, "ops1", "user").await;
    let conn = gw.ssh_connection(&admin, &sshd, "prod-db", &["ops1"]).await;

    let mut term = Terminal::open(&gw, &ops, &conn).await;
    // The shell computes 42; the echoed command line only contains "6*7".
    term.run("echo gatehouse-$((6*7)) && whoami").await;
    term.expect("gatehouse-42").await;
    term.expect(crate::harness::sshd::TARGET_USER).await;

    term.control(json!({ "type": "resize", "cols": 132, "rows": 40 }))
        .await;
    term.run("stty size").await;
    term.expect("40 132").await;

    let listed = gw.sessions(&ops, "").await;
    assert_eq!(listed["total"], 1);
    let s = &listed["items"][0];
    assert_eq!(s["id"], term.session_id.as_str());
    assert_eq!(s["user"], "ops1");
    assert_eq!(s["connection"]["name"], "prod-db");
    assert_eq!(s["protocol"], "ssh");
    assert_eq!(s["client_addr"], "127.0.0.1");
    assert_eq!(s["target"], format!("127.0.0.1:{}", sshd.port));
    assert_eq!(s["participants"][0]["user"], "ops1");
    assert_eq!(s["participants"][0]["mode"], "owner");
    assert!(s["bytes_from_client"].as_u64().unwrap() > 0);
    assert!(s["bytes_to_client"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn password_connections_log_in_with_the_stored_password() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let conn = gw
        .connection(
            &admin,
            json!({ "name": "pw-box", "host": "127.0.0.1", "port": sshd.port,
                    "username": crate::harness::sshd::TARGET_USER,
                    "password": crate::harness::sshd::PASSWORD, "users": ["admin"] }),
        )
        .await;
    let mut term = Terminal::open(&gw, &admin, &conn).await;
    term.run("whoami").await;
    term.expect(crate::harness::sshd::TARGET_USER).await;
}

#[tokio::test]
async fn the_first_host_key_is_pinned_and_shown_to_administrators() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let conn = gw
        .ssh_connection(&admin, &sshd, "prod-db", &["admin"])
        .await;

    let (_, before) = gw.get(Some(&admin), "/connections?all=true").await;
    assert!(before[0].get("host_key_fingerprint").is_none(), "{before}");

    let mut term = Terminal::open(&gw, &admin, &conn).await;
    term.run("echo pinned-$((1+1))").await;
    term.expect("pinned-2").await;

    let (_, after) = gw.get(Some(&admin), "/connections?all=true").await;
    assert_eq!(
        after[0]["host_key_fingerprint"],
        sshd.host_key_fingerprint().as_str()
    );
    assert_eq!(after[0]["host_key_source"], "first_use");
    let pinned = gw.audit(&admin, "connection.host_key_pinned").await;
    assert_eq!(
        pinned[0]["details"]["fingerprint"],
        sshd.host_key_fingerprint().as_str()
    );
}
