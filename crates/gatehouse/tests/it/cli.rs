//! `gatehouse sessions list|end` against a running gateway.

use serde_json::Value;

use crate::harness::{Sshd, Terminal, TestGateway, stdout};

#[tokio::test]
async fn the_cli_lists_searches_and_ends_sessions() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let ops = gw.user(&admin, "ops1", "user").await;
    let dev = gw.user(&admin, "dev2", "user").await;
    let prod = gw.ssh_connection(&admin, &sshd, "prod-db", &["ops1"]).await;
    let staging = gw.ssh_connection(&admin, &sshd, "staging", &["dev2"]).await;
    let mut on_prod = Terminal::open(&gw, &ops, &prod).await;
    let on_staging = Terminal::open(&gw, &dev, &staging).await;

    let table = gw.cli(&admin, &["sessions", "list"]).await;
    assert!(table.status.success(), "{table:?}");
    let text = stdout(&table);
    assert!(text.starts_with("ID "), "{text}");
    assert!(
        text.contains(&on_prod.session_id) && text.contains(&on_staging.session_id),
        "{text}"
    );
    assert!(text.contains("2 of 2 sessions"), "{text}");

    let found = gw
        .cli(&admin, &["sessions", "list", "--search", "PROD", "--json"])
        .await;
    let page: Value = serde_json::from_slice(&found.stdout).unwrap();
    assert_eq!(page["total"], 1);
    assert_eq!(page["items"][0]["id"], on_prod.session_id.as_str());

    let ended = gw
        .cli(
            &admin,
            &[
                "sessions",
                "end",
                &on_prod.session_id,
                "--reason",
                "patching",
            ],
        )
        .await;
    assert!(ended.status.success(), "{ended:?}");
    assert_eq!(
        stdout(&ended).trim(),
        format!("ended   {}", on_prod.session_id)
    );
    let ending = on_prod.ended().await;
    assert_eq!(ending.message["by"], "admin");
    assert_eq!(ending.message["message"], "patching");

    // A plain user cannot reach another user's session from the CLI either.
    let refused = gw
        .cli(&ops, &["sessions", "end", &on_staging.session_id])
        .await;
    assert!(!refused.status.success());
    assert!(stdout(&refused).contains("missing"), "{refused:?}");
    let anonymous = gw.cli("not-a-token", &["sessions", "list"]).await;
    assert!(!anonymous.status.success());
    assert!(
        String::from_utf8_lossy(&anonymous.stderr).contains("log in first"),
        "{anonymous:?}"
    );
}
