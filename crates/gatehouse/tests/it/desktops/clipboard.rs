//! The clipboard between the browser and a desktop, each direction
//! switchable per connection for a data-loss policy, and enforced by the
//! gateway whatever the client sends.

use std::time::Duration;

use serde_json::{Value, json};

use super::PASSWORD;
use crate::harness::vnc::{Desktop, Received, Xvnc};
use crate::harness::{TestGateway, eventually};

/// A vnc connection `name` to `xvnc` granted to ops1, with `clipboard` fields.
async fn connection(
    gw: &TestGateway,
    admin: &str,
    xvnc: &Xvnc,
    name: &str,
    clipboard: Value,
) -> String {
    let mut body = json!({
        "name": name, "protocol": "vnc", "host": "127.0.0.1", "port": xvnc.addr.port(),
        "password": PASSWORD, "users": ["ops1"],
    });
    body.as_object_mut()
        .unwrap()
        .extend(clipboard.as_object().unwrap().clone());
    gw.connection(admin, body).await
}

/// Pastes `text` from the browser, then middle-clicks in the xterm, which
/// pastes the selection the desktop now holds (Xvnc sets PRIMARY too).
async fn paste_into_xterm(desk: &mut Desktop, text: &str) {
    desk.send(json!({ "type": "clipboard", "text": text }))
        .await;
    for buttons in [0, 2, 0] {
        desk.send(json!({ "type": "pointer", "x": 100, "y": 100, "buttons": buttons }))
            .await;
    }
}

/// Triple-clicks the xterm's first line, which selects it: the desktop
/// then offers its selection to the VNC client.
async fn select_first_line(desk: &mut Desktop) {
    for _ in 0..3 {
        for buttons in [1, 0] {
            desk.send(json!({ "type": "pointer", "x": 20, "y": 5, "buttons": buttons }))
                .await;
        }
    }
}

/// Waits up to `limit` for a `clipboard` message from the desktop.
async fn copied(desk: &mut Desktop, limit: Duration) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, desk.receive()).await {
            Ok(Received::Control(msg)) if msg["type"] == "clipboard" => return Some(msg),
            Ok(Received::Closed) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

#[tokio::test]
async fn clipboard_directions_switched_off_per_connection_are_enforced_by_the_gateway() {
    let xvnc = Xvnc::start(PASSWORD).await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let ops = gw.user(&admin, "ops1", "user").await;
    let open = connection(&gw, &admin, &xvnc, "lab-open", json!({})).await;
    let closed = connection(
        &gw,
        &admin,
        &xvnc,
        "lab-closed",
        json!({ "clipboard_to_desktop": false, "clipboard_from_desktop": false }),
    )
    .await;
    // A field of another protocol is refused.
    let (status, body) = gw
        .post(
            Some(&admin),
            "/connections",
            json!({ "name": "ssh-clip", "host": "127.0.0.1", "username": "x", "password": "y",
                    "clipboard_to_desktop": false }),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_request", "{body}");
    let (_, listed) = gw.get(Some(&ops), "/connections").await;
    let row = |name: &str| {
        listed
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .cloned()
            .unwrap()
    };
    assert_eq!(row("lab-open")["clipboard_to_desktop"], true, "{listed}");
    assert_eq!(
        row("lab-closed")["clipboard_from_desktop"],
        false,
        "{listed}"
    );

    // Both ways on (the default): a paste runs in the xterm, a selection
    // on the desktop reaches the browser.
    let mut desk = Desktop::open(&gw, &ops, &open).await;
    assert_eq!(desk.controls[0]["clipboard"]["to_desktop"], true);
    // VNC's clipboard is part of the protocol: there from the start.
    assert_eq!(desk.controls[0]["clipboard"]["available"], true);
    assert!(
        desk.until(Duration::from_secs(10), |d| d.white_pixels() > 10_000)
            .await
    );
    let pasted = xvnc.path("pasted-open");
    paste_into_xterm(&mut desk, &format!("touch {}\n", pasted.display())).await;
    let ran = eventually(Duration::from_secs(10), || async {
        pasted.exists().then_some(())
    })
    .await;
    assert!(ran.is_some(), "the paste never reached the desktop");
    select_first_line(&mut desk).await;
    assert!(
        copied(&mut desk, Duration::from_secs(5)).await.is_some(),
        "the desktop's selection never reached the browser"
    );
    drop(desk);

    // Both ways off: the paste is refused and runs nothing, and the
    // desktop's selection never reaches the browser.
    let mut desk = Desktop::open(&gw, &ops, &closed).await;
    assert_eq!(desk.controls[0]["clipboard"]["to_desktop"], false);
    assert_eq!(desk.controls[0]["clipboard"]["from_desktop"], false);
    assert!(
        desk.until(Duration::from_secs(10), |d| d.white_pixels() > 10_000)
            .await
    );
    let blocked = xvnc.path("pasted-closed");
    paste_into_xterm(&mut desk, &format!("touch {}\n", blocked.display())).await;
    let refused = loop {
        match desk.control().await {
            Some(msg) if msg["type"] == "error" => break msg,
            Some(msg) => assert_ne!(msg["type"], "clipboard", "{msg}"),
            None => panic!("the desktop closed"),
        }
    };
    assert_eq!(refused["code"], "clipboard_off", "{refused}");
    select_first_line(&mut desk).await;
    assert_eq!(copied(&mut desk, Duration::from_secs(3)).await, None);
    assert!(
        !blocked.exists(),
        "a paste reached a desktop with pasting off"
    );
    // Still a working desktop.
    assert!(desk.controls.iter().all(|c| c["type"] != "ended"));
    drop(desk);

    // A switch changes with the connection; the next desktop obeys it.
    let (status, body) = gw
        .patch(
            Some(&admin),
            &format!("/connections/{open}"),
            json!({ "clipboard_to_desktop": false }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["clipboard_to_desktop"], false, "{body}");
    assert_eq!(body["clipboard_from_desktop"], true, "{body}");
    let desk = Desktop::open(&gw, &ops, &open).await;
    assert_eq!(desk.controls[0]["clipboard"]["to_desktop"], false);
}
