//! A busy desktop's recording: paced to what its size can bear (the
//! browser gets every change up to 30 times a second; the recording gets
//! them coalesced, at most ten times a second within about one screen a
//! second), still ending on the user's screen, and stopped at the size
//! limit with the marker History shows.

use std::time::Duration;

use base64::Engine;
use gatehouse_recording::cast::Kind;

use super::{PASSWORD, desktop_for_ops1, type_when_ready};
use crate::harness::TestGateway;
use crate::harness::vnc::{Desktop, Received, Xvnc, paint};

/// An xterm scrolling until a file `stop` appears in its directory.
const BUSY: &str = "rm -f stop; while [ ! -e stop ]; do ls -lR /usr; done";

/// Reads (and paints) for `how_long`; how many pictures came.
async fn watch_for(desk: &mut Desktop, how_long: Duration) -> usize {
    let until = tokio::time::Instant::now() + how_long;
    let mut pictures = 0;
    while let Ok(received) = tokio::time::timeout_at(until, desk.receive()).await {
        match received {
            Received::Frame => pictures += 1,
            Received::Control(_) => {}
            Received::Closed => panic!("the desktop closed"),
        }
    }
    pictures
}

/// Stops the busy loop and reads until the screen has been still for a second.
async fn stop_busy(desk: &mut Desktop, xvnc: &Xvnc) {
    std::fs::write(xvnc.path("stop"), b"").unwrap();
    for _ in 0..10 {
        desk.send(serde_json::json!({ "type": "key", "keysym": 0xffe3u32, "down": true }))
            .await;
        desk.key(u32::from(b'c')).await;
        desk.send(serde_json::json!({ "type": "key", "keysym": 0xffe3u32, "down": false }))
            .await;
        let still = loop {
            match tokio::time::timeout(Duration::from_secs(1), desk.receive()).await {
                Err(_) => break true,
                Ok(Received::Closed) => panic!("the desktop closed"),
                Ok(_) => {}
            }
        };
        if still {
            return;
        }
    }
    panic!("the busy loop did not stop");
}

#[tokio::test]
async fn a_busy_desktop_is_recorded_at_a_pace_far_below_what_the_browser_gets_and_ends_on_its_screen()
 {
    let xvnc = Xvnc::start(PASSWORD).await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let (ops, conn) = desktop_for_ops1(&gw, &admin, &xvnc, "lab-desktop", PASSWORD).await;
    let mut desk = Desktop::open(&gw, &ops, &conn).await;
    type_when_ready(&mut desk, BUSY).await;
    let sent = watch_for(&mut desk, Duration::from_secs(8)).await;
    stop_busy(&mut desk, &xvnc).await;
    desk.type_line("echo the-end").await;
    watch_for(&mut desk, Duration::from_secs(1)).await;
    let seen = desk.screen.clone();
    let (id, row) = desk.close_recorded(&gw, &admin).await;

    let rec = gw.recording(&admin, &id).await;
    let pictures: Vec<_> = rec
        .events
        .iter()
        .filter(|e| matches!(e.kind, Kind::KeyFrame | Kind::Frame))
        .collect();
    // Far fewer pictures than the browser got over the busy screen alone,
    assert!(
        pictures.len() * 3 < sent,
        "{} pictures recorded, {sent} sent to the browser while busy",
        pictures.len()
    );
    // and far fewer bytes (base64 and all).
    let to_browser = row["bytes_to_client"].as_u64().unwrap();
    let recorded = row["recording"]["bytes"].as_u64().unwrap();
    assert!(
        recorded * 2 < to_browser,
        "{recorded} bytes recorded of {to_browser} sent to the browser"
    );
    // And it ends on the screen the user saw last.
    let (width, height) = (
        usize::from(rec.header.width),
        usize::from(rec.header.height),
    );
    let mut screen = vec![0; width * height * 3];
    for e in pictures {
        let picture = base64::engine::general_purpose::STANDARD
            .decode(&e.data)
            .unwrap();
        paint(&mut screen, width, height, &picture);
    }
    assert!(
        screen == seen,
        "the replay does not end on the user's screen"
    );
}

#[tokio::test]
async fn a_busy_desktop_reaching_the_size_limit_ends_its_recording_with_the_marker_and_goes_on() {
    let xvnc = Xvnc::start(PASSWORD).await;
    let gw = TestGateway::spawn_with(|c| c.recording_max_bytes = 256 * 1024).await;
    let admin = gw.admin().await;
    let (ops, conn) = desktop_for_ops1(&gw, &admin, &xvnc, "lab-desktop", PASSWORD).await;
    let mut desk = Desktop::open(&gw, &ops, &conn).await;
    type_when_ready(&mut desk, BUSY).await;
    watch_for(&mut desk, Duration::from_secs(10)).await;
    stop_busy(&mut desk, &xvnc).await;
    // The session goes on past the limit.
    let marker = xvnc.path("after-the-limit");
    desk.type_line(&format!("touch {}", marker.display())).await;
    let ran = crate::harness::eventually(Duration::from_secs(10), || async {
        marker.exists().then_some(())
    })
    .await;
    assert!(ran.is_some(), "the desktop stopped taking input");
    let (id, row) = desk.close_recorded(&gw, &admin).await;

    assert_eq!(row["recording"]["truncated"], true, "{row}");
    let bytes = row["recording"]["bytes"].as_u64().unwrap();
    assert!(bytes <= 256 * 1024, "{bytes} bytes");
    let rec = gw.recording(&admin, &id).await;
    let last = rec.events.last().unwrap();
    assert_eq!(last.kind, Kind::Marker, "the last event: {:?}", last.kind);
    assert!(last.data.contains("size limit"), "{}", last.data);
}
