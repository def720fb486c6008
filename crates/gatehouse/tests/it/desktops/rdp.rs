//! RDP desktops: FreeRDP's shadow server over Xvfb with an `xterm`, logged
//! in to by the gateway (IronRDP) with the stored password, reached through
//! the same desktop WebSocket as VNC — typed into, listed, watched, ended,
//! limited, recorded to the screen the user saw, and its certificate pinned
//! on first use and checked after. Each check VNC has too is one helper in
//! `desktops.rs` that both call.

use std::time::Duration;

use gatehouse_recording::cast::Kind;
use serde_json::{Value, json};

use super::replay::replay;
use super::{
    ended_from_the_api, gateway_with_idle_limit, granted_to_ops1, refused_for_its_stored_password,
    settle_alike, type_when_ready, untouched_desktop_is_warned_then_ended,
};
use crate::harness::rdp::RdpServer;
use crate::harness::vnc::{self, Desktop};
use crate::harness::{TestGateway, eventually};

const USER: &str = "ops";
const PASSWORD: &str = "rdp-pw-1";

/// A user `ops1` and an rdp connection `name` to `server`, granted to
/// them; ops1's token and the connection's id.
async fn rdp_for_ops1(
    gw: &TestGateway,
    admin: &str,
    server: &RdpServer,
    name: &str,
) -> (String, String) {
    let body = json!({
        "name": name, "protocol": "rdp", "host": "127.0.0.1", "port": server.addr.port(),
        "username": USER, "password": PASSWORD,
    });
    granted_to_ops1(gw, admin, body).await
}

/// The connection `id` as an administrator lists it.
async fn connection(gw: &TestGateway, admin: &str, id: &str) -> Value {
    let (_, all) = gw.get(Some(admin), "/connections?all=true").await;
    all.as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("no connection {id}: {all}"))
}

#[tokio::test]
async fn typing_into_an_rdp_desktop_runs_the_command_and_ending_it_closes_it() {
    let server = RdpServer::start(USER, PASSWORD).await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let (ops, conn) = rdp_for_ops1(&gw, &admin, &server, "win-desktop").await;

    // The user never learns the password.
    let (_, listed) = gw.get(Some(&ops), "/connections").await;
    assert_eq!(listed[0]["protocol"], "rdp", "{listed}");
    assert!(!listed.to_string().contains(PASSWORD), "{listed}");
    assert!(connection(&gw, &admin, &conn).await["certificate_fingerprint"].is_null());

    let mut desk = Desktop::open(&gw, &ops, &conn).await;
    assert!(
        desk.until(Duration::from_secs(10), |d| d.width == 1024
            && d.height == 768)
            .await,
        "the desktop's size arrives: {:?}\n{}",
        desk.controls,
        server.log()
    );
    let shown = desk
        .until(Duration::from_secs(10), |d| d.white_pixels() > 10_000)
        .await;
    assert!(
        shown,
        "the xterm never appeared: {:?}\n{}",
        desk.controls,
        server.log()
    );
    // Typed relative to the xterm's directory: the temp dir's name has
    // capitals, which take a Shift key press (a browser sends one; this
    // test types bare keysyms).
    let marker = server.path("typed-through-rdp");
    type_when_ready(&mut desk, "touch typed-through-rdp").await;
    let appeared = eventually(Duration::from_secs(10), || async {
        marker.exists().then_some(())
    })
    .await;
    assert!(
        appeared.is_some(),
        "the typed command did not run\n{}",
        server.log()
    );

    let listed = gw.sessions(&admin, "rdp").await;
    assert_eq!(listed["total"], 1, "{listed}");
    let row = &listed["items"][0];
    assert_eq!(row["protocol"], "rdp");
    assert_eq!(row["user"], "ops1");
    assert_eq!(row["target"], format!("127.0.0.1:{}", server.addr.port()));
    assert!(row["bytes_to_client"].as_u64().unwrap() > 1000, "{row}");

    // The certificate seen is pinned, and the pin is audited.
    let pinned = connection(&gw, &admin, &conn).await;
    let fingerprint = pinned["certificate_fingerprint"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        fingerprint.starts_with("SHA256:") && fingerprint.len() == 50,
        "{pinned}"
    );
    assert_eq!(pinned["certificate_source"], "first_use");
    let pins = gw.audit(&admin, "connection.host_key_pinned").await;
    assert!(
        pins.iter().any(|e| e["target"] == "win-desktop"
            && e["details"]["fingerprint"] == fingerprint.as_str()
            && e["details"]["protocol"] == "rdp"),
        "{pins:?}"
    );

    // An administrator watches it as a VNC desktop is watched: the current
    // screen first (the xterm with the command typed), then the same change
    // the owner makes, pixel for pixel, and cannot type.
    let mut watcher = Desktop::watch(&gw, &admin, &desk.session_id).await;
    assert!(
        watcher
            .until(Duration::from_secs(5), |w| w.white_pixels() > 10_000)
            .await,
        "the watcher's first screen lacks the xterm"
    );
    // The watcher's keys go nowhere; the owner's, typed after, do.
    watcher.type_line("touch from-the-watcher").await;
    let before = watcher.screen.clone();
    desk.type_line("touch while-watched").await;
    let typed = server.path("while-watched");
    eventually(Duration::from_secs(10), || async {
        typed.exists().then_some(())
    })
    .await
    .expect("the owner's command while watched ran");
    assert!(
        !server.path("from-the-watcher").exists(),
        "the watcher's typing reached the desktop"
    );
    settle_alike(&mut desk, &mut watcher, &before).await;
    let seen = desk.screen.clone();

    ended_from_the_api(&gw, &admin, &mut desk, "rdp").await;
    // Recorded like every desktop: key frames of the whole screen first,
    // and the replay ends on the screen the user last saw, pixel for pixel.
    gw.recordings_complete().await;
    let rec = gw.recording(&admin, &desk.session_id).await;
    assert_eq!(rec.events[0].kind, Kind::KeyFrame, "a key frame first");
    let (_, last) = replay(&rec).pop().expect("pictures in the recording");
    assert!(
        last == seen,
        "the replay's last picture is not the user's screen"
    );

    // The same server again: its pinned certificate is accepted.
    let mut again = Desktop::open(&gw, &ops, &conn).await;
    assert!(
        again
            .until(Duration::from_secs(10), |d| d.white_pixels() > 10_000)
            .await,
        "a second session with the pinned certificate: {:?}",
        again.controls
    );
}

#[tokio::test]
async fn an_rdp_server_whose_certificate_changed_is_refused_and_audited() {
    let server = RdpServer::start(USER, PASSWORD).await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let (ops, conn) = rdp_for_ops1(&gw, &admin, &server, "win-desktop").await;
    // Another certificate than the server's is pinned (as if the server's
    // had changed since, or someone stands in between).
    let other = format!("SHA256:{}", "A".repeat(43));
    let (status, body) = gw
        .patch(
            Some(&admin),
            &format!("/connections/{conn}"),
            json!({ "certificate": other }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["certificate_source"], "administrator", "{body}");

    let mut ws = vnc::connect(&gw, &ops, &conn).await.expect("upgrade");
    let error = crate::harness::terminal::next_control(&mut ws)
        .await
        .expect("an error message");
    assert_eq!(error["type"], "error", "{error}");
    assert_eq!(error["code"], "certificate_mismatch", "{error}");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains(&other) && message.contains("changed"),
        "{error}"
    );
    assert_eq!(gw.sessions(&admin, "").await["total"], 0);

    let refusals = gw.audit(&admin, "connection.host_key_mismatch").await;
    let refusal = refusals
        .iter()
        .find(|e| e["target"] == "win-desktop")
        .unwrap_or_else(|| panic!("no audit row: {refusals:?}"));
    assert_eq!(refusal["actor"], "ops1");
    assert_eq!(refusal["details"]["code"], "certificate_mismatch");
    // The pin stays what the administrator gave.
    let kept = connection(&gw, &admin, &conn).await;
    assert_eq!(kept["certificate_fingerprint"], other.as_str());
}

#[tokio::test]
async fn rdp_connections_take_their_own_fields_and_never_show_the_password() {
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let create = |body: Value| {
        let gw = &gw;
        let admin = admin.clone();
        async move { gw.post(Some(&admin), "/connections", body).await }
    };
    let (status, body) = create(json!({
        "name": "win1", "protocol": "rdp", "host": "10.0.0.40", "username": "svc",
        "domain": "CORP", "password": "rdp-secret-9",
    }))
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["protocol"], "rdp");
    assert_eq!(body["port"], 3389, "the default port");
    assert_eq!(body["username"], "svc");
    assert_eq!(body["domain"], "CORP");
    assert_eq!(body["clipboard_to_desktop"], true);
    assert!(!body.to_string().contains("rdp-secret-9"), "{body}");

    for (bad, says) in [
        (
            json!({ "name": "w2", "protocol": "rdp", "host": "h", "password": "p" }),
            "username",
        ),
        (
            json!({ "name": "w3", "protocol": "rdp", "host": "h", "username": "u" }),
            "password",
        ),
        (
            json!({ "name": "w4", "protocol": "rdp", "host": "h", "username": "u", "password": "p",
                    "certificate": "ssh-ed25519 AAAA" }),
            "SHA-256",
        ),
        (
            json!({ "name": "w5", "protocol": "vnc", "host": "h", "password": "p", "domain": "CORP" }),
            "domain does not apply to vnc",
        ),
        (
            json!({ "name": "w6", "protocol": "rdp", "host": "h", "username": "u", "password": "p",
                    "private_key": "k" }),
            "private_key does not apply to rdp",
        ),
    ] {
        let (status, body) = create(bad.clone()).await;
        assert_eq!(status, 400, "{bad} → {body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{bad} → {body}");
    }
}

#[tokio::test]
async fn a_wrong_stored_rdp_password_is_a_clear_error_and_audited() {
    let server = RdpServer::start(USER, PASSWORD).await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let (ops, conn) = rdp_for_ops1(&gw, &admin, &server, "win-desktop").await;
    let (status, body) = gw
        .patch(
            Some(&admin),
            &format!("/connections/{conn}"),
            json!({ "password": "not-the-pw" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    refused_for_its_stored_password(
        &gw,
        &admin,
        &ops,
        (&conn, "win-desktop"),
        "stored credentials",
        || server.log(),
    )
    .await;
}

#[tokio::test]
async fn an_untouched_rdp_desktop_is_warned_and_ended_as_idle() {
    let server = RdpServer::start(USER, PASSWORD).await;
    let gw = gateway_with_idle_limit().await;
    let admin = gw.admin().await;
    let (ops, conn) = rdp_for_ops1(&gw, &admin, &server, "win-desktop").await;
    untouched_desktop_is_warned_then_ended(&gw, &admin, &ops, &conn).await;
}

/// In Chromium: typed into, watched from Active Sessions with the same
/// change seen, ended from there (the tab says who and why), and replayed
/// from History to the screen with the typed command.
#[tokio::test]
async fn an_rdp_desktop_in_the_browser_is_typed_into_watched_ended_and_replayed() {
    let server = RdpServer::start(USER, PASSWORD).await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    rdp_for_ops1(&gw, &admin, &server, "win-desktop").await;
    // Capitals in the name: typed without a Shift key event, they still arrive.
    let file = server.path("Typed-In-Chromium");
    crate::browser::node_test_with(
        &gw,
        "rdp-desktop.test.mjs",
        &[("DESKTOP_FILE", file.display().to_string())],
    )
    .await;
    assert!(file.exists(), "{}", server.log());
}
