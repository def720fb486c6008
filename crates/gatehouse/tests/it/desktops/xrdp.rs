//! RDP desktops that follow the tab and share the clipboard: a real `xrdp`
//! with `xorgxrdp` (its session an `xterm`), reached through the gateway's
//! desktop WebSocket as the browser's page reaches it. The tab's size
//! starts the session and a resize is asked of the server over Display
//! Control; text crosses the clipboard both ways over cliprdr, each
//! direction only where the connection allows it.

use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

use super::{clipboard_reply, refused_paste, type_when_ready};
use crate::harness::vnc::{Desktop, Received};
use crate::harness::xrdp::{PASSWORD, USER, XrdpServer};
use crate::harness::{TestGateway, eventually};

/// An rdp connection `name` to `server` granted to ops1, with `extra`
/// fields; its id.
async fn connection(
    gw: &TestGateway,
    admin: &str,
    server: &XrdpServer,
    name: &str,
    extra: Value,
) -> String {
    let mut body = json!({
        "name": name, "protocol": "rdp", "host": "127.0.0.1", "port": server.addr.port(),
        "username": USER, "password": PASSWORD, "users": ["ops1"],
    });
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    gw.connection(admin, body).await
}

/// The next `size` message, painting frames on the way.
async fn next_size(desk: &mut Desktop, limit: Duration) -> Option<(u64, u64)> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, desk.receive()).await {
            Ok(Received::Control(msg)) if msg["type"] == "size" => {
                return Some((msg["width"].as_u64()?, msg["height"].as_u64()?));
            }
            Ok(Received::Control(msg)) if msg["type"] == "ended" => return None,
            Ok(Received::Closed) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// Waits until `path` holds something, and returns it.
async fn written(path: &std::path::Path) -> Option<String> {
    eventually(Duration::from_secs(10), || async {
        std::fs::read_to_string(path).ok().filter(|s| !s.is_empty())
    })
    .await
}

#[tokio::test]
async fn an_rdp_desktop_starts_at_the_tabs_size_and_follows_its_resizes() {
    let server = XrdpServer::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let ops = gw.user(&admin, "ops1", "user").await;
    let conn = connection(&gw, &admin, &server, "linux-rdp", json!({})).await;

    // The tab is 1001 x 700: the session starts at the nearest size RDP
    // takes (an even width).
    let mut desk = Desktop::open_sized(&gw, &ops, &conn, (1001, 700)).await;
    let first = next_size(&mut desk, Duration::from_secs(20)).await;
    assert_eq!(
        first,
        Some((1000, 700)),
        "{:?}\n{}",
        desk.controls,
        server.log()
    );
    type_when_ready(&mut desk, "touch before-resize").await;
    assert!(
        written_or_exists(&server.work("before-resize")).await,
        "typing before the resize\n{}",
        server.log()
    );

    // An administrator watches: the current size first, then the new one.
    let mut watcher = Desktop::watch(&gw, &admin, &desk.session_id).await;
    assert_eq!(
        next_size(&mut watcher, Duration::from_secs(5)).await,
        Some((1000, 700))
    );

    // The tab grows: the server takes the new size, the session lives on.
    desk.send(json!({ "type": "resize", "width": 1280, "height": 720 }))
        .await;
    let resized = next_size(&mut desk, Duration::from_secs(20)).await;
    assert_eq!(
        resized,
        Some((1280, 720)),
        "{:?}\n{}",
        desk.controls,
        server.log()
    );
    // Another at once, while the server may still be painting the last
    // size (a window being dragged): followed too.
    desk.send(json!({ "type": "resize", "width": 1100, "height": 700 }))
        .await;
    let quick = next_size(&mut desk, Duration::from_secs(9)).await;
    assert_eq!(
        quick,
        Some((1100, 700)),
        "{:?}\n{}",
        desk.controls,
        server.log()
    );
    assert_eq!(
        next_size(&mut watcher, Duration::from_secs(10)).await,
        Some((1280, 720)),
        "the watcher's size: {:?}",
        watcher.controls
    );
    // The new screen is painted (the xterm again), and takes typing.
    assert!(
        desk.until(Duration::from_secs(10), |d| d.white_pixels() > 10_000)
            .await,
        "the xterm after the resize"
    );
    desk.send(json!({ "type": "pointer", "x": 100, "y": 100, "buttons": 0 }))
        .await;
    desk.type_line("touch after-resize").await;
    assert!(
        written_or_exists(&server.work("after-resize")).await,
        "typing after the resize\n{}",
        server.log()
    );
    assert_eq!(gw.sessions(&admin, "rdp").await["total"], 1);

    // And shrinks again, with keys typed at once: those that come while
    // the server restarts its display are held and sent after, not lost.
    desk.send(json!({ "type": "resize", "width": 900, "height": 600 }))
        .await;
    desk.type_line("touch typed-during-resize").await;
    let shrunk = next_size(&mut desk, Duration::from_secs(20)).await;
    assert_eq!(
        shrunk,
        Some((900, 600)),
        "{:?}\n{}",
        desk.controls,
        server.log()
    );
    assert!(
        written_or_exists(&server.work("typed-during-resize")).await,
        "typing during the resize was lost\n{}",
        server.log()
    );

    // A malformed resize is a clear error, not the session's end.
    desk.send(json!({ "type": "resize", "width": "wide" }))
        .await;
    let error = loop {
        match desk.control().await {
            Some(msg) if msg["type"] == "error" => break msg,
            Some(_) => {}
            None => panic!("closed on a bad resize message"),
        }
    };
    assert_eq!(error["code"], "bad_message", "{error}");

    // The recording has a key frame of each size, so a replay resizes too.
    let session = desk.session_id.clone();
    drop(desk);
    drop(watcher);
    gw.recordings_complete().await;
    let rec = gw.recording(&admin, &session).await;
    let sizes: Vec<(u16, u16)> = rec
        .events
        .iter()
        .filter(|e| matches!(e.kind, gatehouse_recording::cast::Kind::KeyFrame))
        .map(|e| {
            let picture = base64::engine::general_purpose::STANDARD
                .decode(&e.data)
                .expect("base64 pictures");
            let at = |i: usize| u16::from_be_bytes([picture[i], picture[i + 1]]);
            (at(4), at(6))
        })
        .collect();
    assert!(
        sizes.contains(&(1000, 700)) && sizes.contains(&(1280, 720)) && sizes.contains(&(900, 600)),
        "key frames' sizes: {sizes:?}"
    );
}

/// `path` exists (a `touch` ran).
async fn written_or_exists(path: &std::path::Path) -> bool {
    eventually(Duration::from_secs(10), || async {
        path.exists().then_some(())
    })
    .await
    .is_some()
}

#[tokio::test]
async fn rdp_clipboard_text_crosses_both_ways_where_the_connection_allows() {
    let server = XrdpServer::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let ops = gw.user(&admin, "ops1", "user").await;

    // Both ways allowed (the default).
    let open = connection(&gw, &admin, &server, "rdp-open", json!({})).await;
    let mut desk = Desktop::open(&gw, &ops, &open).await;
    assert_eq!(
        desk.controls[0]["clipboard"]["to_desktop"], true,
        "{:?}",
        desk.controls
    );
    assert_eq!(desk.controls[0]["clipboard"]["from_desktop"], true);
    // A copy on the desktop reaches the tab.
    type_when_ready(
        &mut desk,
        "echo -n copied-on-rdp | xclip -selection clipboard",
    )
    .await;
    let copied = clipboard_reply(&mut desk, "clipboard", Duration::from_secs(15)).await;
    assert_eq!(
        copied.as_ref().map(|m| m["text"].clone()),
        Some(json!("copied-on-rdp")),
        "{copied:?}\n{}",
        server.log()
    );
    // A paste from the tab is the desktop's clipboard — any text: RDP's
    // clipboard is Unicode, not RFB's Latin-1.
    let text = "pasted from the tab: 5 € “quoted”";
    desk.send(json!({ "type": "clipboard", "text": text }))
        .await;
    desk.type_line("xclip -o -selection clipboard > pasted.txt")
        .await;
    let pasted = written(&server.work("pasted.txt")).await;
    assert_eq!(pasted.as_deref(), Some(text), "{}", server.log());
    drop(desk);

    // Copying from the desktop switched off: its copies never reach the tab,
    // while pasting into it still works.
    let no_copy = connection(
        &gw,
        &admin,
        &server,
        "rdp-no-copy",
        json!({ "clipboard_from_desktop": false }),
    )
    .await;
    let mut desk = Desktop::open(&gw, &ops, &no_copy).await;
    assert_eq!(desk.controls[0]["clipboard"]["from_desktop"], false);
    type_when_ready(
        &mut desk,
        "echo -n secret-on-rdp | xclip -selection clipboard",
    )
    .await;
    let leaked = clipboard_reply(&mut desk, "clipboard", Duration::from_secs(4)).await;
    assert!(leaked.is_none(), "a copy crossed: {leaked:?}");
    desk.send(json!({ "type": "clipboard", "text": "allowed-in" }))
        .await;
    desk.type_line("xclip -o -selection clipboard > in.txt")
        .await;
    let pasted = written(&server.work("in.txt")).await;
    assert_eq!(pasted.as_deref(), Some("allowed-in"), "{}", server.log());
    drop(desk);

    // Pasting into the desktop switched off: refused, and the desktop's
    // clipboard never gets the text; copying from it still works.
    let no_paste = connection(
        &gw,
        &admin,
        &server,
        "rdp-no-paste",
        json!({ "clipboard_to_desktop": false }),
    )
    .await;
    let mut desk = Desktop::open(&gw, &ops, &no_paste).await;
    assert_eq!(desk.controls[0]["clipboard"]["to_desktop"], false);
    type_when_ready(&mut desk, "echo -n out-ok | xclip -selection clipboard").await;
    let copied = clipboard_reply(&mut desk, "clipboard", Duration::from_secs(15)).await;
    assert_eq!(
        copied.as_ref().map(|m| m["text"].clone()),
        Some(json!("out-ok")),
        "{copied:?}"
    );
    refused_paste(&mut desk, "must-not-cross", "clipboard", "clipboard_off").await;
    desk.type_line("xclip -o -selection clipboard > out.txt; touch done.txt")
        .await;
    assert!(
        written_or_exists(&server.work("done.txt")).await,
        "{}",
        server.log()
    );
    let inside = std::fs::read_to_string(server.work("out.txt")).unwrap_or_default();
    assert!(!inside.contains("must-not-cross"), "{inside:?}");
    assert_eq!(inside, "out-ok", "the desktop keeps its own clipboard");
}

#[tokio::test]
async fn an_rdp_desktop_tab_in_the_browser_takes_the_windows_size() {
    let server = XrdpServer::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    gw.user(&admin, "ops1", "user").await;
    connection(&gw, &admin, &server, "linux-rdp", json!({})).await;
    crate::browser::node_test_with(&gw, "rdp-resize.test.mjs", &[]).await;
}

#[tokio::test]
async fn a_resize_to_a_server_without_display_control_keeps_its_size_and_the_session() {
    // FreeRDP's shadow server offers no Display Control channel: the
    // desktop keeps the server's size (the tab scales it) and lives on.
    let server = crate::harness::rdp::RdpServer::start("ops", "rdp-pw-1").await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let ops = gw.user(&admin, "ops1", "user").await;
    let body = json!({
        "name": "shadow", "protocol": "rdp", "host": "127.0.0.1", "port": server.addr.port(),
        "username": "ops", "password": "rdp-pw-1", "users": ["ops1"],
    });
    let conn = gw.connection(&admin, body).await;
    let mut desk = Desktop::open_sized(&gw, &ops, &conn, (800, 600)).await;
    assert_eq!(
        next_size(&mut desk, Duration::from_secs(10)).await,
        Some((1024, 768)),
        "the server's own size\n{}",
        server.log()
    );
    type_when_ready(&mut desk, "touch before").await;
    desk.send(json!({ "type": "resize", "width": 1280, "height": 720 }))
        .await;
    desk.type_line("touch after-resize-request").await;
    assert!(
        written_or_exists(&server.path("after-resize-request")).await,
        "the session after a resize request\n{}",
        server.log()
    );
    assert_eq!(gw.sessions(&admin, "rdp").await["total"], 1);
    assert!(
        !desk.controls.iter().skip(2).any(|c| c["type"] == "size"),
        "no new size: {:?}",
        desk.controls
    );
}
