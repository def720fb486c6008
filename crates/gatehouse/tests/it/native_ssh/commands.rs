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
    let work = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        work.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
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
