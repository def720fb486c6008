//! Desktop recordings: written as the session runs, served like a
//! terminal's, and replayed from their key frames and regions to the very
//! picture the user saw.

use std::time::Duration;

use base64::Engine;
use gatehouse_recording::cast::{Kind, Recording};
use serde_json::json;

use super::{PASSWORD, desktop_for_ops1, type_when_ready};
use crate::harness::vnc::{Desktop, Xvnc, paint, white_pixels};
use crate::harness::{TestGateway, eventually};

/// The screens a replay shows after each event, from the start.
pub(crate) fn replay(rec: &Recording) -> Vec<(f64, Vec<u8>)> {
    let (width, height) = (
        usize::from(rec.header.width),
        usize::from(rec.header.height),
    );
    let mut screen = vec![0; width * height * 3];
    let mut shown = Vec::new();
    for e in &rec.events {
        if matches!(e.kind, Kind::KeyFrame | Kind::Frame) {
            let picture = base64::engine::general_purpose::STANDARD
                .decode(&e.data)
                .expect("base64 pictures");
            paint(&mut screen, width, height, &picture);
            shown.push((e.time, screen.clone()));
        }
    }
    shown
}

#[tokio::test]
async fn a_desktop_session_is_recorded_and_replays_to_what_the_user_saw() {
    let xvnc = Xvnc::start(PASSWORD).await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let (ops, conn) = desktop_for_ops1(&gw, &admin, &xvnc, "lab-desktop", PASSWORD).await;
    let mut desk = Desktop::open(&gw, &ops, &conn).await;
    assert_eq!(desk.controls[0]["recording"], true, "{:?}", desk.controls);
    let row = &gw.sessions(&admin, "vnc").await["items"][0];
    assert_eq!(row["recording"], true, "{row}");

    // The xterm shown, then left still for longer than the recording's
    // pace may hold a change back (crates/desktop/src/pace.rs: a budget of
    // about a screen a second after the first key frame): the replay then
    // has the xterm before the typing, not the two merged into one picture.
    let shown = desk
        .until(Duration::from_secs(10), |d| d.white_pixels() > 10_000)
        .await;
    assert!(shown, "the xterm never appeared on the desktop");
    desk.until(Duration::from_secs(3), |_| false).await;
    let marker = xvnc.path("recorded");
    type_when_ready(
        &mut desk,
        &format!("echo typed-and-recorded > {}", marker.display()),
    )
    .await;
    eventually(Duration::from_secs(10), || async {
        marker.exists().then_some(())
    })
    .await
    .expect("the typed command ran");
    // Let the screen settle, then end the session as its user.
    desk.until(Duration::from_secs(1), |_| false).await;
    let seen = desk.screen.clone();
    let (id, row) = desk.close_recorded(&gw, &admin).await;

    assert!(
        row["recording"].is_object(),
        "the history row names its recording: {row}"
    );
    // The same permission as a terminal's recording: a user without
    // audit.view gets none.
    let (status, body) = gw
        .get(Some(&ops), &format!("/history/{id}/recording"))
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "forbidden", "{body}");

    let rec = gw.recording(&admin, &id).await;
    let header = rec.header.gatehouse.clone().unwrap();
    assert_eq!(header["screen"], "desktop", "{header}");
    assert_eq!((rec.header.width, rec.header.height), (800, 600));
    assert_eq!(rec.events[0].kind, Kind::KeyFrame, "a key frame first");
    let shown = replay(&rec);
    let (_, last) = shown.last().expect("pictures in the recording");
    // The replay ends on the screen the user last saw, pixel for pixel.
    assert!(
        last == &seen,
        "the replay's last picture is not the user's screen"
    );
    // Before the typing the xterm was there, without the command.
    let before = shown
        .iter()
        .find(|(_, s)| white_pixels(s) > 10_000)
        .expect("the xterm in the replay");
    assert!(
        &before.1 != last,
        "the typing changed nothing in the replay"
    );
    assert!(before.0 < rec.duration());
    let audit = gw.audit(&admin, "recording.replay").await;
    assert!(
        audit.iter().any(|e| e["target"] == id.as_str()),
        "{audit:?}"
    );
}

#[tokio::test]
async fn a_desktop_on_a_connection_not_recorded_leaves_no_recording() {
    let xvnc = Xvnc::start(PASSWORD).await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let (ops, conn) = desktop_for_ops1(&gw, &admin, &xvnc, "lab-desktop", PASSWORD).await;
    let (status, body) = gw
        .put(
            &admin,
            &format!("/connections/{conn}/recording"),
            json!({ "recording": false, "record_input": false }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let mut desk = Desktop::open(&gw, &ops, &conn).await;
    assert_eq!(desk.controls[0]["recording"], false);
    assert!(
        desk.until(Duration::from_secs(10), |d| d.white_pixels() > 10_000)
            .await
    );
    let id = desk.session_id.clone();
    drop(desk);
    let row = gw.ended_history(&admin, &id).await;
    assert!(row["recording"].is_null(), "{row}");
    let (status, _) = gw
        .get(Some(&admin), &format!("/history/{id}/recording"))
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_seek_from_the_ten_second_key_frame_paints_the_same_screen() {
    let xvnc = Xvnc::start(PASSWORD).await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let (ops, conn) = desktop_for_ops1(&gw, &admin, &xvnc, "lab-desktop", PASSWORD).await;
    let mut desk = Desktop::open(&gw, &ops, &conn).await;
    type_when_ready(&mut desk, "echo before-the-key-frame").await;
    // Past the key frame interval (waiting in steps: a read alone gives
    // up after 10 s of an unchanging screen), then a change after it.
    for _ in 0..2 {
        desk.until(Duration::from_millis(5500), |_| false).await;
    }
    desk.type_line("echo after-the-key-frame").await;
    desk.until(Duration::from_secs(1), |_| false).await;
    let seen = desk.screen.clone();
    let (id, _) = desk.close_recorded(&gw, &admin).await;

    let rec = gw.recording(&admin, &id).await;
    let keys: Vec<usize> = (0..rec.events.len())
        .filter(|&i| rec.events[i].kind == Kind::KeyFrame)
        .collect();
    assert!(keys.len() >= 2, "key frames at {keys:?}");
    let last_key = *keys.last().unwrap();
    assert!(
        rec.events[last_key].time >= 10.0,
        "the second key frame came after {} s",
        rec.events[last_key].time
    );
    // What a seek does: the last key frame on a blank screen, then the
    // regions after it. It ends on the same screen as playing from the start.
    let from_key = Recording {
        header: rec.header.clone(),
        events: rec.events[last_key..].to_vec(),
        truncated_tail: false,
    };
    let (_, sought) = replay(&from_key).pop().unwrap();
    let (_, played) = replay(&rec).pop().unwrap();
    assert!(
        sought == played,
        "a seek from the key frame paints another screen"
    );
    assert!(
        played == seen,
        "the replay does not end on the user's screen"
    );
}
