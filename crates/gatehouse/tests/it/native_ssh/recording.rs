//! Native sessions are recorded by the registry like browser ones: the
//! recording replays exactly what the ssh client printed, and the search
//! finds it.

use super::*;

#[tokio::test]
async fn a_native_ssh_session_is_recorded_like_a_browser_one() {
    let (gw, _sshd, admin, ops, _) = setup().await;
    let client = Client::registered(&gw, &ops).await;
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        client
            .ssh(
                "ops1:box",
                &["yes 'é€😀 ünï' | head -n 3000; echo native-$((6*7))"],
            )
            .output(),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).ends_with("native-42\n"));

    gw.registry()
        .wait_for_recordings(Duration::from_secs(5))
        .await;
    let items = ended_sessions(&gw, &admin).await;
    let id = items[0]["id"].as_str().unwrap();
    let row = gw.ended_history(&admin, id).await;
    assert!(row["recording"]["bytes"].as_u64().unwrap() > 0, "{row}");
    let cast = gw
        .http()
        .get(gw.url(&format!("/history/{id}/recording")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let rec = gatehouse_recording::cast::read(&cast).unwrap();
    assert_eq!(rec.header.gatehouse.as_ref().unwrap()["user"], "ops1");
    assert_eq!(
        (rec.header.width, rec.header.height),
        (80, 24),
        "a command without a terminal replays in a usable one"
    );
    assert!(
        rec.output().as_bytes() == out.stdout.as_slice(),
        "the recording replays what the ssh client printed"
    );
    let (_, found) = gw.get(Some(&admin), "/history?text=native-42").await;
    assert_eq!(found["total"], 1, "{found}");
}

#[tokio::test]
async fn a_recorded_shell_says_so_in_the_terminal() {
    let (gw, _sshd, _admin, ops, _) = setup().await;
    let client = Client::registered(&gw, &ops).await;
    let mut ssh = client.interactive("ops1:box");
    let mut seen = String::new();
    read_until(&mut ssh, &mut seen, "[gatehouse] This session is recorded.").await;
    read_until(&mut ssh, &mut seen, "$ ").await;
    let _ = ssh.kill().await;
}
