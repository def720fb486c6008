//! RFB carries clipboard text as Latin-1: an accented paste arrives on the
//! desktop as the same characters, the desktop's accented copy arrives in
//! the browser as UTF-8, and a paste with characters Latin-1 lacks is
//! refused whole with a notice naming them, never sent half.

use std::time::Duration;

use serde_json::json;

use super::{PASSWORD, desktop_for_ops1};
use crate::harness::vnc::{Desktop, Received, Xvnc};
use crate::harness::{TestGateway, eventually};

/// Pastes `text` from the browser, then middle-clicks in the xterm, which
/// pastes the selection the desktop now holds.
async fn paste_into_xterm(desk: &mut Desktop, text: &str) {
    desk.send(json!({ "type": "clipboard", "text": text }))
        .await;
    for buttons in [0, 2, 0] {
        desk.send(json!({ "type": "pointer", "x": 100, "y": 100, "buttons": buttons }))
            .await;
    }
}

#[tokio::test]
async fn accented_clipboard_text_crosses_as_latin1_both_ways_and_other_text_is_refused_whole() {
    let xvnc = Xvnc::start(PASSWORD).await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let (ops, conn) = desktop_for_ops1(&gw, &admin, &xvnc, "lab-desktop", PASSWORD).await;
    let mut desk = Desktop::open(&gw, &ops, &conn).await;
    assert!(
        desk.until(Duration::from_secs(10), |d| d.white_pixels() > 10_000)
            .await
    );

    // Browser to desktop: the file the pasted command makes has the
    // accented name (UTF-8 in the xterm's locale), not "cafÃ©".
    paste_into_xterm(&mut desk, "touch café\n").await;
    let made = xvnc.path("café");
    let ran = eventually(Duration::from_secs(10), || async {
        made.exists().then_some(())
    })
    .await;
    let names: Vec<_> = std::fs::read_dir(&xvnc.dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(ran.is_some(), "no file named café: {names:?}");

    // Outside Latin-1: refused whole, naming the character; nothing runs.
    paste_into_xterm(&mut desk, "touch price-5€\n").await;
    let refused = loop {
        match desk.control().await {
            Some(msg) if msg["type"] == "error" => break msg,
            Some(_) => {}
            None => panic!("the desktop closed"),
        }
    };
    assert_eq!(refused["code"], "clipboard_not_latin1", "{refused}");
    let message = refused["message"].as_str().unwrap();
    assert!(
        message.contains("€") && message.contains("U+20AC"),
        "{message}"
    );

    // Desktop to browser: select the first line ("… touch café"), which the
    // desktop offers as Latin-1 cut text; the browser gets it as UTF-8.
    for _ in 0..3 {
        for buttons in [1, 0] {
            desk.send(json!({ "type": "pointer", "x": 20, "y": 5, "buttons": buttons }))
                .await;
        }
    }
    // The clicks offer the word first, then the line: the last copy counts.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut copied = String::new();
    while !copied.contains("café") {
        match tokio::time::timeout_at(deadline, desk.receive()).await {
            Ok(Received::Control(msg)) if msg["type"] == "clipboard" => {
                copied = msg["text"].as_str().unwrap().to_owned();
            }
            Ok(Received::Closed) | Err(_) => break,
            Ok(_) => {}
        }
    }
    assert!(copied.contains("touch café"), "{copied:?}");
    assert!(!copied.contains('\u{fffd}'), "{copied:?}");
    let names: Vec<_> = std::fs::read_dir(&xvnc.dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().all(|n| !n.starts_with("price")),
        "a refused paste ran: {names:?}"
    );
}
