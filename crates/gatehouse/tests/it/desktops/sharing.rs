//! Sharing a desktop as a terminal is shared: the owner invites a user to
//! type (interactive) or only to look (observer); each joins through the
//! desktop's own endpoint, starts from the current screen, is listed in the
//! owner's tab, can be removed at once, and is ended with the session.

use std::time::Duration;

use serde_json::{Value, json};

use super::{PASSWORD, desktop_for_ops1, ended, type_when_ready};
use crate::harness::vnc::{Desktop, Xvnc};
use crate::harness::{TestGateway, eventually};

/// The owner shares session `id` with `user` as `mode`.
async fn share(gw: &TestGateway, owner: &str, id: &str, user: &str, mode: &str) {
    let (status, body) = gw
        .post(
            Some(owner),
            &format!("/sessions/{id}/share"),
            json!({ "user": user, "mode": mode }),
        )
        .await;
    assert_eq!(status, 204, "{body}");
}

/// The owner's next `participants` message listing `count` people.
async fn participants(desk: &mut Desktop, count: usize) -> Vec<Value> {
    loop {
        match desk.control().await {
            Some(msg) if msg["type"] == "participants" => {
                let people = msg["participants"].as_array().unwrap().clone();
                if people.len() == count {
                    return people;
                }
            }
            Some(_) => {}
            None => panic!("the owner's desktop closed"),
        }
    }
}

/// Waits for `path` to exist.
async fn appears(path: &std::path::Path) -> bool {
    eventually(Duration::from_secs(10), || async {
        path.exists().then_some(())
    })
    .await
    .is_some()
}

#[tokio::test]
async fn a_shared_desktop_takes_an_interactive_participants_keys_drops_an_observers_and_removal_cuts_them()
 {
    let xvnc = Xvnc::start(PASSWORD).await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let (ops, conn) = desktop_for_ops1(&gw, &admin, &xvnc, "lab-desktop", PASSWORD).await;
    let kim = gw.user(&admin, "kim", "user").await;
    let lee = gw.user(&admin, "lee", "user").await;
    let mut desk = Desktop::open(&gw, &ops, &conn).await;
    let id = desk.session_id.clone();
    let first = xvnc.path("by-owner");
    type_when_ready(&mut desk, &format!("touch {}", first.display())).await;
    assert!(appears(&first).await, "the owner's command ran");

    // Not shared with kim yet: the session does not exist for them.
    let join = format!("/sessions/{id}/desktop/join");
    let (status, body) = gw.get(Some(&kim), &join).await;
    assert_eq!(status, 404, "{body}");
    share(&gw, &ops, &id, "kim", "interactive").await;
    share(&gw, &ops, &id, "lee", "observer").await;

    // A terminal's join would show nothing of a desktop: it points here.
    let (status, body) = gw.get(Some(&kim), &format!("/sessions/{id}/join")).await;
    assert_eq!(status, 404, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("/desktop/join"),
        "{body}"
    );

    // Each starts from the current screen: the xterm is there at once.
    let mut typist = Desktop::join(&gw, &kim, &id).await;
    assert_eq!(typist.controls[0]["mode"], "interactive");
    assert_eq!(typist.controls[0]["user"], "ops1");
    assert_eq!(typist.controls[0]["clipboard"]["to_desktop"], true);
    assert!(
        typist
            .until(Duration::from_secs(5), |d| d.white_pixels() > 10_000)
            .await,
        "the interactive participant's first screen lacks the xterm"
    );
    let mut observer = Desktop::join(&gw, &lee, &id).await;
    assert_eq!(observer.controls[0]["mode"], "observer");
    assert_eq!(observer.controls[0]["clipboard"]["to_desktop"], false);
    assert!(
        observer
            .until(Duration::from_secs(5), |d| d.white_pixels() > 10_000)
            .await,
        "the observer's first screen lacks the xterm"
    );

    // The owner's tab lists both, with how they take part.
    let people = participants(&mut desk, 3).await;
    let mode_of = |user: &str| {
        people
            .iter()
            .find(|p| p["user"] == user)
            .map(|p| p["mode"].clone())
    };
    assert_eq!(mode_of("kim"), Some(json!("interactive")), "{people:?}");
    assert_eq!(mode_of("lee"), Some(json!("observer")), "{people:?}");

    // The observer's keys and paste go nowhere; the interactive
    // participant's keys run their command in the xterm.
    let from_lee = xvnc.path("from-observer");
    observer
        .type_line(&format!("touch {}", from_lee.display()))
        .await;
    observer
        .send(json!({ "type": "clipboard", "text": format!("touch {}\n", from_lee.display()) }))
        .await;
    let from_kim = xvnc.path("from-participant");
    typist
        .type_line(&format!("touch {}", from_kim.display()))
        .await;
    assert!(
        appears(&from_kim).await,
        "the interactive participant's typing never reached the desktop"
    );
    assert!(
        !from_lee.exists(),
        "the read-only participant's input reached the desktop"
    );
    // Their paste too: the desktop's clipboard, pasted into the xterm by
    // their middle click.
    let pasted = xvnc.path("pasted-by-participant");
    typist
        .send(json!({ "type": "clipboard", "text": format!("touch {}\n", pasted.display()) }))
        .await;
    for buttons in [0, 2, 0] {
        typist
            .send(json!({ "type": "pointer", "x": 100, "y": 100, "buttons": buttons }))
            .await;
    }
    assert!(
        appears(&pasted).await,
        "the interactive participant's paste never reached the desktop"
    );
    // The owner removes kim: their view closes at once saying by whom,
    // their keys stop, and the invitation is gone.
    let pid = people.iter().find(|p| p["user"] == "kim").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = gw
        .post(
            Some(&ops),
            &format!("/sessions/{id}/participants/{pid}/remove"),
            json!({}),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let removed = loop {
        match typist.control().await {
            Some(msg) if msg["type"] == "removed" => break msg,
            Some(_) => {}
            None => panic!("closed without saying why"),
        }
    };
    assert_eq!(removed["by"], "ops1", "{removed}");
    assert!(typist.control().await.is_none(), "the socket closes");
    let (status, _) = gw.get(Some(&kim), &join).await;
    assert_eq!(status, 404, "a removed participant cannot join again");
    let people = participants(&mut desk, 2).await;
    assert!(people.iter().all(|p| p["user"] != "kim"), "{people:?}");

    let removals = gw.audit(&admin, "session.participant_removed").await;
    assert!(
        removals.iter().any(|e| e["target"] == id.as_str()),
        "{removals:?}"
    );
    let joins = gw.audit(&admin, "session.watch_start").await;
    assert!(
        joins
            .iter()
            .any(|e| e["actor"] == "kim" && e["details"]["mode"] == "interactive"),
        "{joins:?}"
    );
}

#[tokio::test]
async fn ending_a_shared_desktop_ends_the_owner_and_every_participant_with_the_reason() {
    let xvnc = Xvnc::start(PASSWORD).await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let (ops, conn) = desktop_for_ops1(&gw, &admin, &xvnc, "lab-desktop", PASSWORD).await;
    let kim = gw.user(&admin, "kim", "user").await;
    let lee = gw.user(&admin, "lee", "user").await;
    let mut desk = Desktop::open(&gw, &ops, &conn).await;
    let id = desk.session_id.clone();
    assert!(
        desk.until(Duration::from_secs(10), |d| d.white_pixels() > 0)
            .await
    );
    share(&gw, &ops, &id, "kim", "interactive").await;
    share(&gw, &ops, &id, "lee", "observer").await;
    let mut typist = Desktop::join(&gw, &kim, &id).await;
    let mut observer = Desktop::join(&gw, &lee, &id).await;
    participants(&mut desk, 3).await;

    let (status, body) = gw
        .post(
            Some(&admin),
            "/sessions/end",
            json!({ "ids": [id], "reason": "patching the lab" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    for view in [&mut desk, &mut typist, &mut observer] {
        let msg = ended(view).await;
        assert_eq!(msg["reason"], "ended_by_admin", "{msg}");
        assert_eq!(msg["by"], "admin", "{msg}");
        assert_eq!(msg["message"], "patching the lab", "{msg}");
        assert!(view.control().await.is_none(), "the socket closes");
    }
    let (status, _) = gw
        .get(Some(&kim), &format!("/sessions/{id}/desktop/join"))
        .await;
    assert_eq!(status, 404, "an ended desktop cannot be joined");
}

#[tokio::test]
async fn a_desktop_shared_in_the_browser_is_joined_typed_into_and_the_participant_removed() {
    let xvnc = Xvnc::start(PASSWORD).await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    desktop_for_ops1(&gw, &admin, &xvnc, "lab-desktop", PASSWORD).await;
    gw.user(&admin, "kim", "user").await;
    let file = xvnc.path("typed-by-participant");
    crate::browser::node_test_with(
        &gw,
        "desktop-sharing.test.mjs",
        &[("DESKTOP_FILE", file.display().to_string())],
    )
    .await;
    assert!(file.exists());
}
