//! Native sessions are recorded by the registry like browser ones: the
//! recording replays exactly what the ssh client printed, and the search
//! finds it. Only real file transfers escape the recording (they are
//! counted); binary output is recorded compactly; the header carries the
//! client's terminal size.

use gatehouse_recording::cast::{Kind, Recording};

use super::*;

/// The recording of `id`, as the API serves it.
async fn recording_of(gw: &TestGateway, admin: &str, id: &str) -> (Recording, u64) {
    let row = gw.ended_history(admin, id).await;
    let bytes = row["recording"]["bytes"].as_u64().expect("a recording");
    (gw.recording(admin, id).await, bytes)
}

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

    let items = ended_sessions(&gw, &admin).await;
    gw.recordings_complete().await;
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

#[tokio::test]
async fn a_shell_started_behind_a_bare_scp_is_recorded_searchable_and_watchable() {
    let (gw, _sshd, admin, ops, _) = setup().await;
    let client = Client::registered(&gw, &ops).await;
    // What used to pass for a file transfer: the command's first word is scp.
    let mut ssh = client
        .ssh("ops1:box", &["-tt", "scp 2>/dev/null; exec sh -i"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut seen = String::new();
    read_until(&mut ssh, &mut seen, "$ ").await;
    let id = gw.sessions(&admin, "box").await["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut watch = crate::watching::Watch::open(&gw, &admin, &id)
        .await
        .unwrap();
    let stdin = ssh.stdin.as_mut().unwrap();
    stdin.write_all(b"echo escaped-$((6*7))\r").await.unwrap();
    read_until(&mut ssh, &mut seen, "escaped-42").await;
    watch.until_screen_shows("escaped-42").await;
    let stdin = ssh.stdin.as_mut().unwrap();
    stdin.write_all(b"exit\r").await.unwrap();
    hang_up(&mut ssh, &mut seen).await;

    ended_sessions(&gw, &admin).await;
    gw.recordings_complete().await;
    let (rec, _) = recording_of(&gw, &admin, &id).await;
    assert!(rec.output().contains("escaped-42"), "{:?}", rec.output());
    let (_, found) = gw.get(Some(&admin), "/history?text=escaped-42").await;
    assert_eq!(found["total"], 1, "{found}");
    let exec = &gw.audit(&admin, "ssh.exec").await[0];
    assert_eq!(exec["details"]["file_transfer"], false, "{exec}");
}

#[tokio::test]
async fn real_scp_and_sftp_transfers_are_counted_and_not_recorded() {
    let (gw, _sshd, admin, ops, _) = setup().await;
    let client = Client::registered(&gw, &ops).await;
    let work = shared_folder();
    // Text, so that if it were recorded the search would find it.
    let original = "transferred-payload-line\n".repeat(20_000);
    let source = work.path().join("source.txt");
    std::fs::write(&source, &original).unwrap();

    // `-O`: the legacy protocol, an `scp -t` / `scp -f` exec; else SFTP.
    for legacy in [true, false] {
        let copy = work.path().join(format!("copy-{legacy}.txt"));
        let back = work.path().join(format!("back-{legacy}.txt"));
        for (from, to) in [
            (
                source.display().to_string(),
                format!("127.0.0.1:{}", copy.display()),
            ),
            (
                format!("127.0.0.1:{}", copy.display()),
                back.display().to_string(),
            ),
        ] {
            let mut scp = Command::new("scp");
            scp.args(client.options())
                .args(["-o", "BatchMode=yes", "-o", "User=ops1:box", "-P"])
                .arg(client.port.to_string());
            if legacy {
                scp.arg("-O");
            }
            scp.arg(from).arg(to).kill_on_drop(true);
            let (code, _, stderr) = run(scp).await;
            assert_eq!(code, Some(0), "scp (legacy: {legacy}): {stderr}");
        }
        assert_eq!(std::fs::read_to_string(&back).unwrap(), original);
    }

    // Four sessions; the last may still be ending when scp has exited.
    let items = eventually(Duration::from_secs(10), || async {
        let items = ended_sessions(&gw, &admin).await;
        (items.len() == 4).then_some(items)
    })
    .await
    .expect("four sessions, all ended");
    gw.recordings_complete().await;
    let total = |key: &str| items.iter().map(|r| r[key].as_u64().unwrap()).sum::<u64>();
    let size = original.len() as u64;
    assert!(
        total("bytes_from_client") > 2 * size,
        "uploads counted: {items:?}"
    );
    assert!(
        total("bytes_to_client") > 2 * size,
        "downloads counted: {items:?}"
    );
    for item in &items {
        let (rec, bytes) = recording_of(&gw, &admin, item["id"].as_str().unwrap()).await;
        assert!(
            !rec.output().contains("transferred-payload"),
            "a transfer's bytes were recorded"
        );
        assert!(bytes < 4096, "{bytes} bytes recorded for a transfer");
    }
    let (_, found) = gw
        .get(Some(&admin), "/history?text=transferred-payload")
        .await;
    assert_eq!(found["total"], 0, "{found}");
    let transfers = gw.audit(&admin, "ssh.exec").await;
    assert!(
        transfers
            .iter()
            .all(|e| e["details"]["file_transfer"] == true),
        "{transfers:?}"
    );
}

#[tokio::test]
async fn binary_output_is_recorded_at_under_1_3_times_its_size() {
    let (gw, _sshd, admin, ops, _) = setup().await;
    let client = Client::registered(&gw, &ops).await;
    let (code, stdout, stderr) = run(client.ssh(
        "ops1:box",
        &["head -c 5000000 /dev/urandom; echo; echo after-binary-$((6*7))"],
    ))
    .await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.ends_with("\nafter-binary-42\n"));

    let items = ended_sessions(&gw, &admin).await;
    gw.recordings_complete().await;
    let (rec, bytes) = recording_of(&gw, &admin, items[0]["id"].as_str().unwrap()).await;
    let ratio = bytes as f64 / 5_000_000.0;
    assert!(
        ratio <= 1.3,
        "{bytes} bytes recorded: {ratio:.3} times the output"
    );
    assert!(ratio > 0.5, "{bytes} bytes: the output is recorded");
    let output = rec.output();
    assert!(output.contains('\u{fffd}'));
    assert!(
        output.ends_with("\nafter-binary-42\n"),
        "text after binary output replays exactly"
    );
}

#[tokio::test]
async fn the_header_carries_the_size_of_the_clients_terminal() {
    let (gw, _sshd, admin, ops, _) = setup().await;
    let client = Client::registered(&gw, &ops).await;
    // `ssh -tt` under a pseudo-terminal of 120x40, as a person's would be.
    let quoted: Vec<String> = client
        .ssh("ops1:box", &[])
        .as_std()
        .get_args()
        .map(|a| format!("'{}'", a.to_str().unwrap()))
        .collect();
    let inner = format!(
        "stty cols 120 rows 40; exec ssh {} -tt 'stty size; echo sized-$((6*7))'",
        quoted.join(" ")
    );
    let mut script = Command::new("script");
    script
        .args(["-qec", &inner, "/dev/null"])
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let (code, stdout, stderr) = run(script).await;
    assert_eq!(code, Some(0), "{stdout} {stderr}");
    assert!(stdout.contains("40 120"), "{stdout:?}");

    let items = ended_sessions(&gw, &admin).await;
    gw.recordings_complete().await;
    let (rec, _) = recording_of(&gw, &admin, items[0]["id"].as_str().unwrap()).await;
    assert_eq!((rec.header.width, rec.header.height), (120, 40));
    assert!(
        rec.events.iter().all(|e| e.kind != Kind::Resize),
        "no resize follows the header: {:?}",
        rec.events
    );
    assert!(rec.output().contains("sized-42"));
}
