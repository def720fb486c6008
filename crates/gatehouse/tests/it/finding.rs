//! An administrator finds sessions: the list, search, sort and who sees what.

use crate::harness::{Sshd, Terminal, TestGateway};

#[tokio::test]
async fn search_matches_user_connection_protocol_address_and_target() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let ops = gw.user(&admin, "ops1", "user").await;
    let dev = gw.user(&admin, "dev2", "user").await;
    let prod = gw.ssh_connection(&admin, &sshd, "Prod-DB", &["ops1"]).await;
    let staging = gw
        .ssh_connection(&admin, &sshd, "staging", &["dev2", "ops1"])
        .await;
    let _a = Terminal::open(&gw, &ops, &prod).await;
    let _b = Terminal::open(&gw, &ops, &staging).await;
    let _c = Terminal::open(&gw, &dev, &staging).await;

    let count = async |q: &str| gw.sessions(&admin, q).await["total"].as_u64().unwrap();
    assert_eq!(count("").await, 3);
    assert_eq!(
        count("prod-db").await,
        1,
        "connection names match case-insensitively"
    );
    assert_eq!(count("OPS1").await, 2);
    assert_eq!(count("dev").await, 1);
    assert_eq!(count("SSH").await, 3);
    assert_eq!(count("127.0.0").await, 3, "client address and target");
    assert_eq!(count(&format!(":{}", sshd.port)).await, 3);
    assert_eq!(count("no-such-session").await, 0);

    let (_, sorted) = gw.get(Some(&admin), "/sessions?sort=user&limit=2").await;
    assert_eq!(sorted["total"], 3);
    let users: Vec<_> = sorted["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["user"].as_str().unwrap())
        .collect();
    assert_eq!(users, ["dev2", "ops1"]);
    let (_, page2) = gw
        .get(Some(&admin), "/sessions?sort=user&limit=2&offset=2")
        .await;
    assert_eq!(page2["items"][0]["user"], "ops1");
}

#[tokio::test]
async fn a_plain_user_sees_only_their_own_sessions_and_an_auditor_sees_all() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let ops = gw.user(&admin, "ops1", "user").await;
    let dev = gw.user(&admin, "dev2", "user").await;
    let auditor = gw.user(&admin, "eve", "auditor").await;
    let conn = gw
        .ssh_connection(&admin, &sshd, "shared", &["ops1", "dev2"])
        .await;
    let mine = Terminal::open(&gw, &ops, &conn).await;
    let theirs = Terminal::open(&gw, &dev, &conn).await;

    let seen = gw.sessions(&ops, "").await;
    assert_eq!(seen["total"], 1);
    assert_eq!(seen["items"][0]["id"], mine.session_id.as_str());
    let (status, _) = gw
        .get(Some(&ops), &format!("/sessions/{}", theirs.session_id))
        .await;
    assert_eq!(
        status, 404,
        "another user's session is invisible, not forbidden"
    );
    assert_eq!(gw.sessions(&auditor, "").await["total"], 2);
    let (status, one) = gw
        .get(Some(&auditor), &format!("/sessions/{}", theirs.session_id))
        .await;
    assert_eq!(status, 200);
    assert_eq!(one["user"], "dev2");
}
