//! Watch across nodes in a real browser: Debian's Chromium on node A,
//! the session on node B (crates/web/ui/tests/watch-across-nodes.test.mjs).

use std::time::Duration;

use super::two_nodes;
use crate::browser::node_test_with;
use crate::harness::{Sshd, Terminal, eventually};

#[tokio::test]
async fn an_admin_on_one_node_watches_and_ends_in_the_browser_a_session_another_relays() {
    let sshd = Sshd::start().await;
    let (a, b, _) = two_nodes().await;
    let admin = a.admin().await;
    let ops = a.user(&admin, "ops1", "user").await;
    let conn = a.ssh_connection(&admin, &sshd, "prod-db", &["ops1"]).await;

    let mut owner = Terminal::open(&b, &ops, &conn).await;
    owner.run("echo before-watch-$((6*7))").await;
    owner.expect("before-watch-42").await;
    let id = owner.session_id.clone();
    eventually(Duration::from_secs(5), || async {
        let (status, _) = a.get(Some(&admin), &format!("/sessions/{id}")).await;
        (status == 200).then_some(())
    })
    .await
    .expect("A lists B's session");

    node_test_with(
        &a,
        "watch-across-nodes.test.mjs",
        &[("OWNER_NODE", "gw-b".to_owned())],
    )
    .await;
    // Ended on B, where it ran: the owner's terminal hears it too.
    owner.ended().await;
    let (status, _) = b.get(Some(&admin), &format!("/sessions/{id}")).await;
    assert_eq!(status, 404);
}
