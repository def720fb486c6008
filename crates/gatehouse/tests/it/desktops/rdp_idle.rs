//! An idle RDP desktop: once its screen has been still for the gateway's
//! packing delay (5 s), the gateway holds it once, packed, and drops
//! IronRDP's own picture of it; the next thing the server draws is decoded
//! into a picture rebuilt from the packed screen. What the tab shows after
//! that must still be exactly the server's screen.

use std::time::Duration;

use serde_json::json;

use super::type_when_ready;
use crate::harness::rdp::RdpServer;
use crate::harness::vnc::{Desktop, Received};
use crate::harness::{TestGateway, eventually};

const USER: &str = "ops";
const PASSWORD: &str = "rdp-pw-1";

/// Reads (and paints) until nothing arrives for a second and a half.
async fn settle(desk: &mut Desktop) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while let Ok(received) = tokio::time::timeout(Duration::from_millis(1500), desk.receive()).await
    {
        assert!(
            !matches!(received, Received::Closed),
            "the desktop closed: {:?}",
            desk.controls
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "the screen never settled"
        );
    }
}

#[tokio::test]
async fn an_rdp_desktop_typed_into_after_idling_shows_what_a_fresh_session_shows() {
    let server = RdpServer::start(USER, PASSWORD).await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let body = json!({
        "name": "idle-rdp", "protocol": "rdp", "host": "127.0.0.1", "port": server.addr.port(),
        "username": USER, "password": PASSWORD, "users": ["admin"],
    });
    let conn = gw.connection(&admin, body).await;

    let mut desk = Desktop::open(&gw, &admin, &conn).await;
    type_when_ready(&mut desk, "echo before the pause").await;
    settle(&mut desk).await;
    // Still for longer than the gateway packs a screen after: the screen
    // is held packed and IronRDP's picture dropped.
    tokio::time::sleep(Duration::from_secs(8)).await;

    // A command whose effect is seen and that writes near the xterm's top
    // and its bottom at once (cursor moves: the server sends both in one
    // update, whose rectangle spans the untouched screen between them).
    let marker = server.path("typed-after-idle");
    desk.type_line(r"touch typed-after-idle; printf '\033[2;60ftop\033[28;60fbottom\033[30;1f'")
        .await;
    let appeared = eventually(Duration::from_secs(10), || async {
        marker.exists().then_some(())
    })
    .await;
    assert!(
        appeared.is_some(),
        "the command typed after the pause did not run\n{}",
        server.log()
    );
    settle(&mut desk).await;
    let shown = desk.screen.clone();
    assert!(
        desk.white_pixels() > 10_000,
        "the xterm is gone from the tab"
    );

    // The server's screen as a fresh session first paints it, whole: what
    // the tab shows must be it, within the codec's loss (a picture rebuilt black,
    // or stale, would show here as the parts of the updates' rectangles
    // the server did not redraw).
    let mut fresh = Desktop::open(&gw, &admin, &conn).await;
    assert!(
        fresh
            .until(Duration::from_secs(10), |d| d.white_pixels() > 10_000)
            .await,
        "the second session never showed the xterm\n{}",
        server.log()
    );
    settle(&mut fresh).await;
    assert_eq!((fresh.width, fresh.height), (desk.width, desk.height));
    // RemoteFX is lossy: a tile encoded again may come back a shade off
    // (255 as 254); a pixel that is not the server's is far off.
    let differ = shown
        .chunks_exact(3)
        .zip(fresh.screen.chunks_exact(3))
        .filter(|(a, b)| a.iter().zip(b.iter()).any(|(x, y)| x.abs_diff(*y) > 32))
        .count();
    assert_eq!(
        differ, 0,
        "{differ} pixels of the idle session's tab are not a fresh session's screen"
    );
}
