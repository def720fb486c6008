//! A desktop relayed by one node, watched from another: the same first
//! screen and changes, and the end with who and why.

use std::time::{Duration, Instant};

use serde_json::json;

use super::two_nodes;
use crate::desktops::{PASSWORD, desktop_for_ops1, ended, type_when_ready};
use crate::harness::eventually;
use crate::harness::vnc::{Desktop, Xvnc};

#[tokio::test]
async fn a_desktop_on_one_node_is_watched_and_ended_from_another() {
    let xvnc = Xvnc::start(PASSWORD).await;
    let (a, b, _) = two_nodes().await;
    let admin = a.admin().await;
    let (ops, conn) = desktop_for_ops1(&a, &admin, &xvnc, "lab-desktop", PASSWORD).await;
    let mut desk = Desktop::open(&b, &ops, &conn).await;
    let first = xvnc.path("before-watch");
    type_when_ready(&mut desk, &format!("touch {}", first.display())).await;
    let id = desk.session_id.clone();
    eventually(Duration::from_secs(5), || async {
        let (status, _) = a.get(Some(&admin), &format!("/sessions/{id}")).await;
        (status == 200).then_some(())
    })
    .await
    .expect("A lists B's desktop");

    // ops1 may not watch, on any node.
    let (status, _) = a
        .get(Some(&ops), &format!("/sessions/{id}/desktop/watch"))
        .await;
    assert_eq!(status, 403);

    // From A: the current screen first (the xterm is there), then changes.
    let mut watcher = Desktop::watch(&a, &admin, &id).await;
    assert!(
        watcher
            .until(Duration::from_secs(5), |w| w.white_pixels() > 10_000)
            .await,
        "the watcher's first screen lacks the xterm"
    );
    let before = watcher.screen.clone();
    let second = xvnc.path("while-watched");
    desk.type_line(&format!("touch {}", second.display())).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        desk.until(Duration::from_millis(300), |_| false).await;
        watcher.until(Duration::from_millis(300), |_| false).await;
        if watcher.screen == desk.screen && watcher.screen != before {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the watcher on A never saw the owner's screen on B"
        );
    }

    // Ended from A: the watcher hears who and why.
    let (status, body) = a
        .post(Some(&admin), "/sessions/end", json!({ "ids": [id] }))
        .await;
    assert_eq!((status.as_u16(), &body["ended"]), (200, &json!([id])));
    let notice = ended(&mut watcher).await;
    assert_eq!(
        (notice["reason"].as_str(), notice["by"].as_str()),
        (Some("ended_by_admin"), Some("admin")),
        "{notice}"
    );
    let starts = a.audit(&admin, "session.watch_start").await;
    assert!(
        starts
            .iter()
            .any(|e| e["target"] == id.as_str() && e["details"]["node"] == "gw-b"),
        "{starts:?}"
    );
}
