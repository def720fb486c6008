//! Commands, file transfers and watching: what a native client runs on the
//! target comes back to it exactly, and the session is as visible as a
//! browser one.

use super::*;

#[tokio::test]
async fn a_command_returns_the_targets_output_and_exit_status() {
    let (gw, _sshd, admin, ops, _) = setup().await;
    let client = Client::registered(&gw, &ops).await;

    let (code, stdout, stderr) = run(client.ssh(
        "ops1:box",
        &["echo from-$(whoami)-$((6*7)); echo oops >&2; exit 3"],
    ))
    .await;
    assert_eq!(code, Some(3), "stderr: {stderr}");
    assert_eq!(stdout.trim(), "from-gatehouse-test-42");
    assert!(stderr.contains("oops"), "{stderr}");

    let exec = gw.audit(&admin, "ssh.exec").await;
    assert_eq!(exec.len(), 1, "{exec:?}");
    assert_eq!(exec[0]["actor"], "ops1");
    assert!(
        exec[0]["details"]["command"]
            .as_str()
            .unwrap()
            .contains("from-$(whoami)")
    );
    // The command was a session like any other, in history once.
    let items = ended_sessions(&gw, &admin).await;
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["protocol"], "ssh");
    assert_eq!(items[0]["client_addr"], "127.0.0.1");
    assert_eq!(items[0]["end_reason"], "target_closed");
}

#[tokio::test]
async fn a_client_that_sends_its_environment_still_runs_its_command() {
    // Debian's /etc/ssh/ssh_config has `SendEnv LANG LC_*`: the client sends
    // `env` requests, wanting no answer, right before its command. The
    // refusal of the environment must not read as the refusal of the command.
    let (gw, _sshd, _admin, ops, _) = setup().await;
    let client = Client::registered(&gw, &ops).await;
    let env = ["-o", "SetEnv=LANG=C.UTF-8 LC_ALL=C"];

    let (code, stdout, stderr) = run(client.ssh(
        "ops1:box",
        &[env[0], env[1], "-T", "echo no-pty-$LC_ALL; exit 4"],
    ))
    .await;
    assert_eq!(code, Some(4), "stderr: {stderr}");
    assert_eq!(stdout.trim(), "no-pty-", "the environment stays refused");

    let (code, stdout, stderr) =
        run(client.ssh("ops1:box", &[env[0], env[1], "-tt", "tty; exit 5"])).await;
    assert_eq!(code, Some(5), "stderr: {stderr}");
    assert!(stdout.starts_with("/dev/pts/"), "{stdout:?}");
}

#[tokio::test]
async fn scp_and_sftp_copy_a_multi_megabyte_file_byte_for_byte() {
    let (gw, _sshd, _admin, ops, _) = setup().await;
    let client = Client::registered(&gw, &ops).await;
    let work = shared_folder();
    let original: Vec<u8> = (0..6 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let source = work.path().join("source.bin");
    std::fs::write(&source, &original).unwrap();

    // Modern scp speaks SFTP; `-O` is the legacy scp protocol (an exec).
    for (legacy, name) in [(false, "via-sftp.bin"), (true, "via-scp.bin")] {
        let upload = work.path().join(name);
        let mut scp = Command::new("scp");
        scp.args(client.options())
            .args(["-o", "BatchMode=yes", "-o", "User=ops1:box", "-P"])
            .arg(client.port.to_string());
        if legacy {
            scp.arg("-O");
        }
        scp.arg(&source)
            .arg(format!("127.0.0.1:{}", upload.display()))
            .kill_on_drop(true);
        let (code, _, stderr) = run(scp).await;
        assert_eq!(code, Some(0), "scp (legacy: {legacy}): {stderr}");
        assert!(
            std::fs::read(&upload).unwrap() == original,
            "{name} differs"
        );

        let back = work.path().join(format!("back-{name}"));
        let mut scp = Command::new("scp");
        scp.args(client.options())
            .args(["-o", "BatchMode=yes", "-o", "User=ops1:box", "-P"])
            .arg(client.port.to_string());
        if legacy {
            scp.arg("-O");
        }
        scp.arg(format!("127.0.0.1:{}", upload.display()))
            .arg(&back)
            .kill_on_drop(true);
        let (code, _, stderr) = run(scp).await;
        assert_eq!(code, Some(0), "scp back (legacy: {legacy}): {stderr}");
        assert!(
            std::fs::read(&back).unwrap() == original,
            "back-{name} differs"
        );
    }
}

#[tokio::test]
async fn an_administrator_watches_a_native_session_from_its_current_screen() {
    let (gw, _sshd, admin, ops, _) = setup().await;
    let client = Client::registered(&gw, &ops).await;
    let mut ssh = client.interactive("ops1:box");
    let mut seen = String::new();
    read_until(&mut ssh, &mut seen, "$ ").await;
    let stdin = ssh.stdin.as_mut().unwrap();
    stdin.write_all(b"echo before-$((2*3))\r").await.unwrap();
    read_until(&mut ssh, &mut seen, "before-6").await;

    let id = gw.sessions(&admin, "box").await["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut watch = crate::watching::Watch::open(&gw, &admin, &id)
        .await
        .unwrap();
    watch.until_screen_shows("before-6").await;
    let stdin = ssh.stdin.as_mut().unwrap();
    stdin.write_all(b"echo after-$((3*3))\r").await.unwrap();
    watch.until_screen_shows("after-9").await;
    let participants = gw.sessions(&admin, "box").await["items"][0]["participants"].clone();
    assert_eq!(participants[1]["user"], "admin", "{participants}");
    assert_eq!(participants[1]["mode"], "observer");
    let _ = ssh.kill().await;
}

#[tokio::test]
async fn sftp_in_batch_mode_uploads_and_downloads_a_file_byte_for_byte() {
    let (gw, _sshd, admin, ops, _) = setup().await;
    let client = Client::registered(&gw, &ops).await;
    // The target is this machine: its account writes into our folder.
    let work = shared_folder();
    let original: Vec<u8> = (0..1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_246_822_519) >> 11) as u8)
        .collect();
    let (local, remote, back) = (
        work.path().join("local.bin"),
        work.path().join("on-target.bin"),
        work.path().join("back.bin"),
    );
    std::fs::write(&local, &original).unwrap();
    let batch = work.path().join("batch");
    std::fs::write(
        &batch,
        format!(
            "put {} {}\nget {} {}\n",
            local.display(),
            remote.display(),
            remote.display(),
            back.display()
        ),
    )
    .unwrap();

    let mut sftp = Command::new("sftp");
    sftp.args(client.options())
        .args(["-o", "User=ops1:box", "-P", &client.port.to_string(), "-b"])
        .arg(&batch)
        .arg("127.0.0.1")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let (code, stdout, stderr) = run(sftp).await;
    assert_eq!(code, Some(0), "sftp: {stdout}{stderr}");
    assert!(
        std::fs::read(&remote).unwrap() == original,
        "the upload differs"
    );
    assert!(
        std::fs::read(&back).unwrap() == original,
        "the download differs"
    );

    // One session, its transfer counted both ways.
    let items = ended_sessions(&gw, &admin).await;
    assert_eq!(items.len(), 1, "{items:?}");
    let size = original.len() as u64;
    assert!(
        items[0]["bytes_from_client"].as_u64().unwrap() >= size
            && items[0]["bytes_to_client"].as_u64().unwrap() >= size,
        "{}",
        items[0]
    );
}

#[tokio::test]
async fn a_command_killed_by_a_signal_reports_the_signal_as_ssh_straight_to_the_target_does() {
    let (gw, sshd, _admin, ops, _) = setup().await;
    let client = Client::registered(&gw, &ops).await;
    // The shell kills itself: the target answers with `exit-signal`
    // (TERM), not an exit status. OpenSSH's client shows it at -v and
    // then exits 255, as it does talking to the target directly.
    let command = "echo dying; kill -TERM $$; echo survived";
    let (code, stdout, stderr) = run(client.ssh("ops1:box", &["-v", command])).await;

    let direct = tempfile::tempdir().unwrap();
    let key = direct.path().join("key");
    std::fs::write(&key, sshd.client_key()).unwrap();
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let mut straight = Command::new("ssh");
    straight
        .args(["-F", "/dev/null", "-i"])
        .arg(&key)
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
        ])
        .args(["-o", "BatchMode=yes", "-p", &sshd.port.to_string()])
        .arg(format!("{}@127.0.0.1", crate::harness::sshd::TARGET_USER))
        .args(["-v", command])
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let (direct_code, direct_stdout, direct_stderr) = run(straight).await;
    assert!(
        direct_stderr.contains("rtype exit-signal"),
        "the target itself reports the signal: {direct_stderr}"
    );

    assert_eq!(stdout, "dying\n");
    assert_eq!(
        (code, stdout.as_str()),
        (direct_code, direct_stdout.as_str())
    );
    assert_eq!(code, Some(255));
    assert!(
        stderr.contains("rtype exit-signal") && !stderr.contains("rtype exit-status"),
        "the gateway passes the signal on: {stderr}"
    );
    assert!(
        !stderr.contains("Session ended"),
        "a signal is the command's end, not the session's: {stderr}"
    );
}

#[tokio::test]
async fn x11_forwarding_is_refused_and_audited() {
    let (gw, _sshd, admin, ops, _) = setup().await;
    let client = Client::registered(&gw, &ops).await;
    // `-Y` with a display that does not exist: OpenSSH makes up a cookie
    // and asks. (`-X` would first need a real X server to mint an
    // untrusted cookie, and without one sends no request at all.)
    let mut ssh = client.ssh("ops1:box", &["-Y", "-v", "echo display=$DISPLAY"]);
    ssh.env("DISPLAY", "127.0.0.1:77");
    let (code, stdout, stderr) = run(ssh).await;
    assert!(
        stderr.contains("Requesting X11 forwarding"),
        "the client asked: {stderr}"
    );
    assert!(
        stderr.contains("X11 forwarding request failed on channel 0"),
        "the gateway refused: {stderr}"
    );
    // The command itself still runs, with no display to reach back to.
    assert_eq!((code, stdout.trim()), (Some(0), "display="), "{stderr}");

    let refused = gw.audit(&admin, "ssh.refused").await;
    let x11: Vec<_> = refused
        .iter()
        .filter(|e| e["details"]["refused"] == "x11_forwarding")
        .collect();
    assert_eq!(x11.len(), 1, "{refused:?}");
    assert_eq!(
        (x11[0]["actor"].as_str(), x11[0]["target"].as_str()),
        (Some("ops1"), Some("box"))
    );
}
