//! Whether an RDP desktop's clipboard is there, told to the tab: the
//! hello says what the connection allows and `available: null` (not
//! known yet), then `clipboard_status` says when the server's cliprdr
//! channel came up — xrdp — or that it did not within the wait after the
//! first picture — FreeRDP's shadow server, which has no clipboard — and a
//! paste into such a desktop is refused with a clear error, not dropped —
//! the owner's and an interactive participant's alike.
//! In Chromium, the tab's Clipboard panel follows it (`rdp-clipboard.test.mjs`).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{clipboard_reply, refused_paste, type_when_ready};
use crate::harness::rdp::RdpServer;
use crate::harness::vnc::Desktop;
use crate::harness::xrdp::{self, XrdpServer};
use crate::harness::{TestGateway, eventually};

/// The wait the gateway gives a server to bring its clipboard up, from the
/// desktop's first picture (`WAIT` in crates/desktop/src/clipboard_news.rs).
const WAIT: Duration = Duration::from_secs(8);

/// An rdp connection `name` to `port` as `user`/`password`, granted to ops1.
async fn rdp(gw: &TestGateway, admin: &str, name: &str, port: u16, user: &str, pw: &str) -> String {
    let body = json!({
        "name": name, "protocol": "rdp", "host": "127.0.0.1", "port": port,
        "username": user, "password": pw, "users": ["ops1"],
    });
    gw.connection(admin, body).await
}

#[tokio::test]
async fn a_server_without_a_clipboard_is_told_to_the_tab_and_a_paste_into_it_is_refused() {
    let server = RdpServer::start("ops", "rdp-pw-1").await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let ops = gw.user(&admin, "ops1", "user").await;
    let conn = rdp(&gw, &admin, "shadow", server.addr.port(), "ops", "rdp-pw-1").await;

    let opening = Instant::now();
    let mut desk = Desktop::open(&gw, &ops, &conn).await;
    let hello = &desk.controls[0]["clipboard"];
    // The connection allows both ways; whether the server has a clipboard
    // is not known yet.
    assert_eq!(hello["to_desktop"], true, "{hello}");
    assert_eq!(hello["from_desktop"], true, "{hello}");
    assert_eq!(hello["available"], Value::Null, "{hello}");

    let news = clipboard_reply(
        &mut desk,
        "clipboard_status",
        WAIT + Duration::from_secs(12),
    )
    .await;
    let took = opening.elapsed();
    assert_eq!(
        news,
        Some(json!({ "type": "clipboard_status", "available": false })),
        "{:?}\n{}",
        desk.controls,
        server.log()
    );
    assert!(
        took >= WAIT,
        "told after {took:?}, before the wait was over"
    );
    eprintln!("shadow server: told 'no clipboard' {took:?} after opening");

    // A paste anyway is answered, not dropped.
    let refused = refused_paste(
        &mut desk,
        "into-nothing",
        "clipboard_status",
        "clipboard_unavailable",
    )
    .await;
    assert_eq!(
        refused["message"],
        "nothing was pasted: this desktop's server offers no clipboard"
    );
    // An interactive participant is told too, and refused alike.
    let kim = gw.user(&admin, "kim", "user").await;
    let share = json!({ "user": "kim", "mode": "interactive" });
    let path = format!("/sessions/{}/share", desk.session_id);
    let (status, body) = gw.post(Some(&ops), &path, share).await;
    assert_eq!(status, 204, "{body}");
    let mut typist = Desktop::join(&gw, &kim, &desk.session_id).await;
    let hello = &typist.controls[0]["clipboard"];
    assert_eq!(hello["to_desktop"], true, "{hello}");
    assert_eq!(hello["available"], false, "{hello}");
    refused_paste(
        &mut typist,
        "into-nothing",
        "clipboard_status",
        "clipboard_unavailable",
    )
    .await;
    drop(typist);

    // The desktop itself goes on.
    type_when_ready(&mut desk, "touch still-typing").await;
    let typed = eventually(Duration::from_secs(10), || async {
        server.path("still-typing").exists().then_some(())
    })
    .await;
    assert!(typed.is_some(), "{}", server.log());
}

#[tokio::test]
async fn an_xrdp_desktops_clipboard_is_told_available_once_its_channel_is_up() {
    let server = XrdpServer::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let ops = gw.user(&admin, "ops1", "user").await;
    let port = server.addr.port();
    let conn = rdp(&gw, &admin, "xrdp", port, xrdp::USER, xrdp::PASSWORD).await;

    let opening = Instant::now();
    let mut desk = Desktop::open(&gw, &ops, &conn).await;
    assert_eq!(desk.controls[0]["clipboard"]["available"], Value::Null);
    let news = clipboard_reply(&mut desk, "clipboard_status", Duration::from_secs(30)).await;
    assert_eq!(
        news,
        Some(json!({ "type": "clipboard_status", "available": true })),
        "{:?}\n{}",
        desk.controls,
        server.log()
    );
    eprintln!(
        "xrdp: told 'clipboard available' {:?} after opening",
        opening.elapsed()
    );
    // Told once: no "absent" when the wait (from the first picture, after
    // the opening) would have run out. (Under the harness's 10 s for one
    // message: a still desktop sends nothing.)
    let past_the_wait =
        (opening + WAIT + Duration::from_secs(1)).saturating_duration_since(Instant::now());
    let later = clipboard_reply(&mut desk, "clipboard_status", past_the_wait).await;
    assert!(later.is_none(), "{later:?}");
}

#[tokio::test]
async fn in_the_browser_the_clipboard_panel_crosses_on_xrdp_and_says_when_a_server_has_none() {
    let server = XrdpServer::start().await;
    let shadow = RdpServer::start("ops", "rdp-pw-1").await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    gw.user(&admin, "ops1", "user").await;
    let port = server.addr.port();
    rdp(&gw, &admin, "linux-rdp", port, xrdp::USER, xrdp::PASSWORD).await;
    let port = shadow.addr.port();
    rdp(&gw, &admin, "shadow-rdp", port, "ops", "rdp-pw-1").await;
    let pasted = server.work("pasted.txt").display().to_string();
    crate::browser::node_test_with(&gw, "rdp-clipboard.test.mjs", &[("PASTED_FILE", pasted)]).await;
}
