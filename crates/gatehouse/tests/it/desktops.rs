//! Graphical desktops: a real TigerVNC `Xvnc` with an `xterm`, reached
//! through the gateway's desktop WebSocket as the browser's page reaches
//! it — typed into, listed, limited and ended like every session.

mod clipboard;
mod latin1;
mod rdp;
mod rdp_clipboard;
mod rdp_idle;
mod recording_pace;
mod replay;
mod sharing;
mod xrdp;

use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::vnc::{self, Desktop, Received, Xvnc};
use crate::harness::{TestGateway, eventually};

pub(crate) const PASSWORD: &str = "vnc-pw-1";

/// A user `ops1` and the connection `body` describes (VNC or RDP), granted
/// to them; ops1's token and the connection's id.
pub(crate) async fn granted_to_ops1(
    gw: &TestGateway,
    admin: &str,
    mut body: serde_json::Value,
) -> (String, String) {
    let ops = gw.user(admin, "ops1", "user").await;
    body["users"] = json!(["ops1"]);
    (ops, gw.connection(admin, body).await)
}

/// A user `ops1` and a vnc connection `name` to `xvnc` with `password`,
/// granted to them; ops1's token and the connection's id.
pub(crate) async fn desktop_for_ops1(
    gw: &TestGateway,
    admin: &str,
    xvnc: &Xvnc,
    name: &str,
    password: &str,
) -> (String, String) {
    let body = json!({
        "name": name, "protocol": "vnc", "host": "127.0.0.1", "port": xvnc.addr.port(),
        "password": password,
    });
    granted_to_ops1(gw, admin, body).await
}

/// The first control message of type `kind` (`clipboard`, `clipboard_status`)
/// or clipboard error (`clipboard_off`, `clipboard_unavailable`, …) within `limit`.
pub(crate) async fn clipboard_reply(
    desk: &mut Desktop,
    kind: &str,
    limit: Duration,
) -> Option<serde_json::Value> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, desk.receive()).await {
            Ok(Received::Control(msg))
                if msg["type"] == kind
                    || (msg["type"] == "error"
                        && msg["code"].as_str().unwrap_or("").starts_with("clipboard")) =>
            {
                return Some(msg);
            }
            Ok(Received::Closed) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// Pastes `text` into the desktop and returns the answer, which must be
/// the error `code`: a reply of type `kind` (`clipboard`,
/// `clipboard_status`) instead, or none within 5 s, fails the test.
pub(crate) async fn refused_paste(
    desk: &mut Desktop,
    text: &str,
    kind: &str,
    code: &str,
) -> serde_json::Value {
    desk.send(json!({ "type": "clipboard", "text": text }))
        .await;
    let refused = clipboard_reply(desk, kind, Duration::from_secs(5)).await;
    assert_eq!(
        refused.as_ref().map(|m| m["code"].clone()),
        Some(json!(code)),
        "{refused:?}"
    );
    refused.unwrap()
}

/// Waits until the xterm shows (its white background), then types `line`.
pub(crate) async fn type_when_ready(desk: &mut Desktop, line: &str) {
    let shown = desk
        .until(Duration::from_secs(10), |d| d.white_pixels() > 10_000)
        .await;
    assert!(shown, "the xterm never appeared on the desktop");
    // The pointer over the xterm: without a window manager, keys go to
    // the window under it.
    desk.send(json!({ "type": "pointer", "x": 100, "y": 100, "buttons": 0 }))
        .await;
    desk.type_line(line).await;
}

#[tokio::test]
async fn typing_into_a_vnc_desktop_through_the_gateway_runs_the_command() {
    let xvnc = Xvnc::start(PASSWORD).await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let (ops, conn) = desktop_for_ops1(&gw, &admin, &xvnc, "lab-desktop", PASSWORD).await;

    // The user never learns the password: it is in no answer about the connection.
    let (_, listed) = gw.get(Some(&ops), "/connections").await;
    assert_eq!(listed[0]["protocol"], "vnc", "{listed}");
    assert!(!listed.to_string().contains(PASSWORD), "{listed}");

    let mut desk = Desktop::open(&gw, &ops, &conn).await;
    assert!(
        desk.until(Duration::from_secs(10), |d| d.width == 800
            && d.height == 600)
            .await,
        "the desktop's size arrives: {:?}",
        desk.controls
    );
    let marker = xvnc.path("typed-through-gateway");
    type_when_ready(&mut desk, &format!("touch {}", marker.display())).await;
    let appeared = eventually(Duration::from_secs(10), || async {
        marker.exists().then_some(())
    })
    .await;
    assert!(appeared.is_some(), "the typed command did not run");

    let listed = gw.sessions(&admin, "vnc").await;
    assert_eq!(listed["total"], 1, "{listed}");
    let row = &listed["items"][0];
    assert_eq!(row["protocol"], "vnc");
    assert_eq!(row["user"], "ops1");
    assert_eq!(row["target"], format!("127.0.0.1:{}", xvnc.addr.port()));
    assert!(row["bytes_to_client"].as_u64().unwrap() > 1000, "{row}");
    assert!(row["bytes_from_client"].as_u64().unwrap() > 0, "{row}");
}

#[tokio::test]
async fn a_wrong_stored_vnc_password_is_a_clear_error_and_audited() {
    let xvnc = Xvnc::start(PASSWORD).await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let (ops, conn) = desktop_for_ops1(&gw, &admin, &xvnc, "lab-desktop", "not-the-pw").await;

    refused_for_its_stored_password(
        &gw,
        &admin,
        &ops,
        (&conn, "lab-desktop"),
        "password",
        String::new,
    )
    .await;
}

/// Opens `conn`, whose stored password is `not-the-pw`, as ops1 (`token`):
/// the tab is told `target_auth_failed` in words that say `says`, no session
/// starts, and the audit log has ops1's failure on the connection (`name`),
/// without the password. `server_log` is what the server said, for a
/// failure's message.
pub(crate) async fn refused_for_its_stored_password(
    gw: &TestGateway,
    admin: &str,
    token: &str,
    (conn, name): (&str, &str),
    says: &str,
    server_log: impl Fn() -> String,
) {
    let mut ws = vnc::connect(gw, token, conn).await.expect("upgrade");
    let error = crate::harness::terminal::next_control(&mut ws)
        .await
        .expect("an error message");
    assert_eq!(error["type"], "error", "{error}");
    assert_eq!(
        error["code"],
        "target_auth_failed",
        "{error}\n{}",
        server_log()
    );
    assert!(error["message"].as_str().unwrap().contains(says), "{error}");
    assert_eq!(gw.sessions(admin, "").await["total"], 0);

    let failures = gw.audit(admin, "session.failed").await;
    let failure = failures
        .iter()
        .find(|e| e["target"] == name)
        .unwrap_or_else(|| panic!("no audit row: {failures:?}"));
    assert_eq!(failure["actor"], "ops1");
    assert_eq!(failure["details"]["code"], "target_auth_failed");
    assert!(
        !failures
            .iter()
            .any(|e| e.to_string().contains("not-the-pw"))
    );
}

#[tokio::test]
async fn ending_a_desktop_from_the_api_closes_it_with_the_reason() {
    let xvnc = Xvnc::start(PASSWORD).await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let (ops, conn) = desktop_for_ops1(&gw, &admin, &xvnc, "lab-desktop", PASSWORD).await;
    let mut desk = Desktop::open(&gw, &ops, &conn).await;
    assert!(
        desk.until(Duration::from_secs(10), |d| d.white_pixels() > 0)
            .await
    );

    ended_from_the_api(&gw, &admin, &mut desk, "vnc").await;
}

/// `admin` ends `desk`'s session from the API with a message: within a
/// second the tab is told who ended it and why, its socket closes, and
/// History has the reason and the `protocol`.
pub(crate) async fn ended_from_the_api(
    gw: &TestGateway,
    admin: &str,
    desk: &mut Desktop,
    protocol: &str,
) {
    let (status, body) = gw
        .post(
            Some(admin),
            "/sessions/end",
            json!({ "ids": [desk.session_id], "reason": "patching the host" }),
        )
        .await;
    let returned = Instant::now();
    assert_eq!(status, 200, "{body}");
    let ended = ended(desk).await;
    assert!(returned.elapsed() < Duration::from_secs(1));
    assert_eq!(ended["reason"], "ended_by_admin");
    assert_eq!(ended["by"], "admin");
    assert_eq!(ended["message"], "patching the host");
    assert!(desk.control().await.is_none(), "the socket closes");

    let row = gw.ended_history(admin, &desk.session_id).await;
    assert_eq!(row["end_reason"], "ended_by_admin");
    assert_eq!(row["protocol"], protocol);
}

/// A gateway whose idle limit is 3 s, with the warning 2 s before.
pub(crate) async fn gateway_with_idle_limit() -> TestGateway {
    TestGateway::spawn_with(|c| {
        c.idle_timeout = Some(Duration::from_secs(3));
        c.session_warning = Duration::from_secs(2);
        c.policy_interval = Duration::from_millis(100);
    })
    .await
}

/// Opens `conn` as `token` on a [`gateway_with_idle_limit`] and touches
/// nothing: the tab is warned, then the desktop ends as idle 3 s after it
/// opened, and `admin` finds that in History.
pub(crate) async fn untouched_desktop_is_warned_then_ended(
    gw: &TestGateway,
    admin: &str,
    token: &str,
    conn: &str,
) {
    // Before the session exists, so the lower bound holds however long the
    // gateway takes to greet the tab (a busy machine: 200 ms and more, an
    // RDP log-on more); the upper bound counts from the greeting.
    let opening = Instant::now();
    let mut desk = Desktop::open(gw, token, conn).await;
    let opened = Instant::now();
    let mut warned = false;
    let ended = loop {
        match desk.control().await {
            Some(msg) if msg["type"] == "warning" => {
                assert_eq!(msg["reason"], "idle_timeout");
                warned = true;
            }
            Some(msg) if msg["type"] == "ended" => break msg,
            Some(_) => {}
            None => panic!("closed without saying why"),
        }
    };
    assert!(warned, "warned before the end");
    assert_eq!(ended["reason"], "idle_timeout");
    let (least, most) = (opening.elapsed(), opened.elapsed());
    assert!(
        least >= Duration::from_millis(2900) && most < Duration::from_secs(6),
        "ended {least:?} after opening, {most:?} after the greeting"
    );
    let row = gw.ended_history(admin, &desk.session_id).await;
    assert_eq!(row["end_reason"], "idle_timeout", "{row}");
}

#[tokio::test]
async fn an_untouched_desktop_is_warned_and_ended_as_idle() {
    let xvnc = Xvnc::start(PASSWORD).await;
    let gw = gateway_with_idle_limit().await;
    let admin = gw.admin().await;
    let (ops, conn) = desktop_for_ops1(&gw, &admin, &xvnc, "lab-desktop", PASSWORD).await;
    untouched_desktop_is_warned_then_ended(&gw, &admin, &ops, &conn).await;
}

#[tokio::test]
async fn an_idle_desktop_tab_in_the_browser_is_warned_and_then_ended_as_idle() {
    let xvnc = Xvnc::start(PASSWORD).await;
    let gw = gateway_with_idle_limit().await;
    let admin = gw.admin().await;
    desktop_for_ops1(&gw, &admin, &xvnc, "lab-desktop", PASSWORD).await;
    crate::browser::node_test_with(&gw, "desktop-idle.test.mjs", &[]).await;
}

#[tokio::test]
async fn a_desktop_tab_in_the_browser_types_into_the_xterm() {
    let xvnc = Xvnc::start(PASSWORD).await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    desktop_for_ops1(&gw, &admin, &xvnc, "lab-desktop", PASSWORD).await;
    let bad = json!({
        "name": "bad-desktop", "protocol": "vnc", "host": "127.0.0.1", "port": xvnc.addr.port(),
        "password": "not-the-pw", "users": ["ops1"],
    });
    gw.connection(&admin, bad).await;
    let file = xvnc.path("typed-in-chromium");
    crate::browser::node_test_with(
        &gw,
        "desktop.test.mjs",
        &[("DESKTOP_FILE", file.display().to_string())],
    )
    .await;
    assert!(file.exists());
}

#[tokio::test]
async fn a_watcher_sees_the_current_desktop_first_then_the_same_changes_and_cannot_type() {
    let xvnc = Xvnc::start(PASSWORD).await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let (ops, conn) = desktop_for_ops1(&gw, &admin, &xvnc, "lab-desktop", PASSWORD).await;
    let mut desk = Desktop::open(&gw, &ops, &conn).await;
    let first = xvnc.path("before-watch");
    type_when_ready(&mut desk, &format!("touch {}", first.display())).await;
    eventually(Duration::from_secs(10), || async {
        first.exists().then_some(())
    })
    .await
    .expect("the owner's command ran");

    // A user without sessions.watch is refused.
    let (status, _) = gw
        .get(
            Some(&ops),
            &format!("/sessions/{}/desktop/watch", desk.session_id),
        )
        .await;
    assert_eq!(status, 403);

    let mut watcher = Desktop::watch(&gw, &admin, &desk.session_id).await;
    // The current screen first: the xterm is there without any change.
    assert!(
        watcher
            .until(Duration::from_secs(5), |w| w.white_pixels() > 10_000)
            .await,
        "the watcher's first screen lacks the xterm"
    );
    // The owner is told who watches.
    let told = loop {
        match desk.control().await {
            Some(msg) if msg["type"] == "participants" => break msg,
            Some(_) => {}
            None => panic!("the owner's desktop closed"),
        }
    };
    assert_eq!(told["participants"][1]["user"], "admin", "{told}");
    assert_eq!(told["participants"][1]["mode"], "observer", "{told}");

    // The watcher's keys go nowhere; the owner's do, and the watcher sees them.
    let from_watcher = xvnc.path("from-watcher");
    watcher
        .type_line(&format!("touch {}", from_watcher.display()))
        .await;
    let before = watcher.screen.clone();
    let second = xvnc.path("while-watched");
    desk.type_line(&format!("touch {}", second.display())).await;
    eventually(Duration::from_secs(10), || async {
        second.exists().then_some(())
    })
    .await
    .expect("the owner's second command ran");
    assert!(
        !from_watcher.exists(),
        "the watcher's typing reached the desktop"
    );
    settle_alike(&mut desk, &mut watcher, &before).await;

    let audit = gw.audit(&admin, "session.watch_start").await;
    assert!(
        audit
            .iter()
            .any(|e| e["target"] == desk.session_id.as_str()),
        "{audit:?}"
    );
}

/// Reads both until the watcher's picture settles to the owner's, pixel
/// for pixel, changed since `before`.
pub(crate) async fn settle_alike(desk: &mut Desktop, watcher: &mut Desktop, before: &[u8]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        desk.until(Duration::from_millis(300), |_| false).await;
        watcher.until(Duration::from_millis(300), |_| false).await;
        if watcher.screen == desk.screen && watcher.screen != before {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the watcher never saw the owner's screen"
        );
    }
}

/// The next `ended` message, painting frames on the way.
pub(crate) async fn ended(desk: &mut Desktop) -> serde_json::Value {
    loop {
        match desk.control().await {
            Some(msg) if msg["type"] == "ended" => return msg,
            Some(_) => {}
            None => panic!("closed without saying why"),
        }
    }
}

#[tokio::test]
async fn locking_logging_out_or_taking_sessions_watch_away_closes_a_desktop_watch() {
    let xvnc = Xvnc::start(PASSWORD).await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let (ops, conn) = desktop_for_ops1(&gw, &admin, &xvnc, "lab-desktop", PASSWORD).await;
    let aud1 = gw.user(&admin, "aud1", "auditor").await;
    let aud2 = gw.user(&admin, "aud2", "auditor").await;
    let aud3 = gw.user(&admin, "aud3", "auditor").await;
    let aud4 = gw.user(&admin, "aud4", "auditor").await;
    let mut desk = Desktop::open(&gw, &ops, &conn).await;
    assert!(
        desk.until(Duration::from_secs(10), |d| d.white_pixels() > 10_000)
            .await
    );
    let id = desk.session_id.clone();
    let mut locked = Desktop::watch(&gw, &aud1, &id).await;
    let mut demoted = Desktop::watch(&gw, &aud2, &id).await;
    let mut logged_out = Desktop::watch(&gw, &aud3, &id).await;
    let mut still = Desktop::watch(&gw, &aud4, &id).await;

    let aud1_id = gw.user_id(&admin, "aud1").await;
    let (status, body) = gw
        .post(Some(&admin), &format!("/users/{aud1_id}/lock"), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    let msg = ended(&mut locked).await;
    assert_eq!(msg["reason"], "user_locked", "{msg}");
    assert_eq!(msg["message"], "your account was locked");
    assert!(locked.control().await.is_none(), "the watch closes");

    let aud2_id = gw.user_id(&admin, "aud2").await;
    let path = format!("/users/{aud2_id}");
    let (status, _) = gw
        .patch(Some(&admin), &path, json!({ "roles": ["user"] }))
        .await;
    assert_eq!(status, 200);
    let msg = ended(&mut demoted).await;
    assert_eq!(msg["reason"], "access_revoked", "{msg}");
    assert_eq!(
        msg["message"],
        "you no longer hold the sessions.watch permission"
    );

    let (status, _) = gw.post(Some(&aud3), "/auth/logout", json!({})).await;
    assert_eq!(status, 204);
    let msg = ended(&mut logged_out).await;
    assert_eq!(msg["reason"], "access_revoked", "{msg}");

    // The desktop, and the watcher who kept their access, go on: a
    // change the owner makes still reaches them.
    let before = still.screen.clone();
    desk.send(json!({ "type": "pointer", "x": 100, "y": 100, "buttons": 0 }))
        .await;
    desk.type_line("echo still-watched").await;
    assert!(
        still
            .until(Duration::from_secs(10), |w| w.screen != before)
            .await,
        "the remaining watcher stopped seeing the desktop"
    );
    assert_eq!(gw.sessions(&admin, "vnc").await["total"], 1);
}

#[tokio::test]
async fn locking_or_deleting_the_owner_closes_their_desktop_as_user_locked() {
    let xvnc = Xvnc::start(PASSWORD).await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let (ops, conn) = desktop_for_ops1(&gw, &admin, &xvnc, "lab-desktop", PASSWORD).await;
    let mut desk = Desktop::open(&gw, &ops, &conn).await;
    let mut watcher = Desktop::watch(&gw, &admin, &desk.session_id).await;
    let ops_id = gw.user_id(&admin, "ops1").await;
    let (status, body) = gw
        .post(Some(&admin), &format!("/users/{ops_id}/lock"), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    let msg = ended(&mut desk).await;
    assert_eq!(msg["reason"], "user_locked", "{msg}");
    assert_eq!(msg["by"], "admin", "{msg}");
    assert!(desk.control().await.is_none(), "the desktop closes");
    // Its watcher is told the session ended.
    assert_eq!(ended(&mut watcher).await["reason"], "user_locked");
    let row = gw.ended_history(&admin, &desk.session_id).await;
    assert_eq!(row["end_reason"], "user_locked");

    // A deleted owner's desktop ends the same way.
    let (status, _) = gw
        .post(Some(&admin), &format!("/users/{ops_id}/unlock"), json!({}))
        .await;
    assert_eq!(status, 200);
    let ops = gw.login("ops1", "ops1-password").await;
    let mut desk = Desktop::open(&gw, &ops, &conn).await;
    let (status, _) = gw.delete(Some(&admin), &format!("/users/{ops_id}")).await;
    assert_eq!(status, 204);
    let msg = ended(&mut desk).await;
    assert_eq!(msg["reason"], "user_locked", "{msg}");
}
