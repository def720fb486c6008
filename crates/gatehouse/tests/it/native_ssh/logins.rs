//! Who gets in, and to what: keys and passwords, refusals that say why,
//! the connection menu, and the CLI's ready-made ssh config.

use super::*;

#[tokio::test]
async fn a_connection_that_is_not_granted_is_refused_with_a_clear_message() {
    let (gw, sshd, admin, ops, _) = setup().await;
    gw.ssh_connection(&admin, &sshd, "secret-box", &["admin"])
        .await;
    let client = Client::registered(&gw, &ops).await;

    for login in ["ops1:secret-box", "ops1:no-such-box"] {
        let (code, stdout, stderr) = run(client.ssh(login, &["echo should-not-run"])).await;
        assert_eq!(code, Some(1), "{login}: {stderr}");
        assert!(!stdout.contains("should-not-run"));
        assert!(
            stderr.contains("is not available to ops1"),
            "{login}: {stderr}"
        );
    }
    assert_eq!(gw.sessions(&admin, "").await["total"], 0);
}

#[tokio::test]
async fn wrong_keys_and_wrong_passwords_are_refused_and_audited() {
    let (gw, _sshd, admin, ops, _) = setup().await;
    let stranger = Client::unregistered(&gw, &ops).await;
    let (code, stdout, stderr) = run(stranger.ssh("ops1:box", &["echo in"])).await;
    assert_eq!(code, Some(255), "{stderr}");
    assert!(stderr.contains("Permission denied"), "{stderr}");
    assert!(!stdout.contains("in"));

    let (code, _, stderr) =
        run(stranger.ssh_with_password("ops1:box", "a-wrong-guess", "password", &["echo in"]))
            .await;
    assert_eq!(code, Some(255), "{stderr}");

    // The right password works, typed at either kind of prompt.
    for method in ["password", "keyboard-interactive"] {
        let (code, stdout, stderr) = run(stranger.ssh_with_password(
            "ops1:box",
            "ops1-password",
            method,
            &["echo in-$((1+1))"],
        ))
        .await;
        assert_eq!(code, Some(0), "{method}: {stderr}");
        assert_eq!(stdout.trim(), "in-2");
    }

    let failures = gw.audit(&admin, "auth.ssh_login_failed").await;
    let methods: Vec<&str> = failures
        .iter()
        .map(|e| e["details"]["method"].as_str().unwrap())
        .collect();
    assert!(methods.contains(&"publickey"), "{failures:?}");
    assert!(methods.contains(&"password"), "{failures:?}");
    assert!(
        failures
            .iter()
            .all(|e| e["details"]["username"] == "ops1:box")
    );
    let logins = gw.audit(&admin, "auth.ssh_login").await;
    assert_eq!(logins.len(), 2, "{logins:?}");
}

#[tokio::test]
async fn clients_get_aes_gcm_and_one_that_offers_only_chacha20_is_refused() {
    let (gw, _sshd, _admin, ops, _) = setup().await;
    let client = Client::registered(&gw, &ops).await;
    let (code, stdout, stderr) = run(client.ssh("ops1:box", &["-v", "echo in"])).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout.trim(), "in");
    assert!(
        stderr.contains("server->client cipher: aes128-gcm@openssh.com"),
        "{stderr}"
    );

    // (-v: OpenSSH says why at INFO, below the clients' usual ERROR.)
    let only_chacha = ["-v", "-c", "chacha20-poly1305@openssh.com", "echo in"];
    let (code, stdout, stderr) = run(client.ssh("ops1:box", &only_chacha)).await;
    assert_eq!(code, Some(255), "{stderr}");
    assert!(stderr.contains("no matching cipher found"), "{stderr}");
    assert!(stdout.is_empty());
}

#[tokio::test]
async fn a_password_guesser_is_held_back_after_five_failures() {
    let (gw, _sshd, admin, ops, _) = setup().await;
    let guesser = Client::unregistered(&gw, &ops).await;
    for i in 0..5 {
        let guess = format!("guess-{i}");
        let (code, _, _) =
            run(guesser.ssh_with_password("ops1:box", &guess, "password", &["true"])).await;
        assert_eq!(code, Some(255));
    }
    // Even the right password waits now.
    let (code, _, _) =
        run(guesser.ssh_with_password("ops1:box", "ops1-password", "password", &["true"])).await;
    assert_eq!(code, Some(255));
    let failures = gw.audit(&admin, "auth.ssh_login_failed").await;
    assert_eq!(failures.len(), 6, "{failures:?}");
    assert_eq!(failures[0]["details"]["reason"], "throttled");
    assert!(
        failures[1..]
            .iter()
            .all(|e| e["details"]["reason"] == "bad_credentials")
    );
}

#[tokio::test]
async fn without_a_connection_in_the_login_a_menu_offers_the_users_connections() {
    let (gw, sshd, admin, ops, _) = setup().await;
    gw.ssh_connection(&admin, &sshd, "another-box", &["ops1"])
        .await;
    let client = Client::registered(&gw, &ops).await;
    let mut ssh = client.interactive("ops1");
    let mut seen = String::new();
    read_until(&mut ssh, &mut seen, "box").await;
    read_until(&mut ssh, &mut seen, "another-box").await;
    // "another-box" sorts first; the arrow key moves to "box".
    let stdin = ssh.stdin.as_mut().unwrap();
    stdin.write_all(b"\x1b[B\r").await.unwrap();
    read_until(&mut ssh, &mut seen, "Connecting to box").await;
    read_until(&mut ssh, &mut seen, "$ ").await;
    let stdin = ssh.stdin.as_mut().unwrap();
    stdin
        .write_all(b"echo menu-$((6*7)); exit\r")
        .await
        .unwrap();
    read_until(&mut ssh, &mut seen, "menu-42").await;
    let status = hang_up(&mut ssh, &mut seen).await;
    assert!(status.success(), "{status:?}");
    let items = ended_sessions(&gw, &admin).await;
    assert_eq!(items[0]["connection"]["name"], "box", "{items:?}");
    assert_eq!(items[0]["end_reason"], "target_closed", "{items:?}");
}

/// Review finding: a further channel of a menu login (a ControlMaster's)
/// met the menu again and, whatever was picked there, reached the first
/// pick's target. It now goes where the first channel went.
#[tokio::test]
async fn a_controlmaster_channel_after_the_menu_goes_where_the_menu_went() {
    let (gw, sshd, admin, ops, _) = setup().await;
    gw.ssh_connection(&admin, &sshd, "another-box", &["ops1"])
        .await;
    let client = Client::registered(&gw, &ops).await;
    let control = client.dir.path().join("ctl");
    let control = control.to_str().unwrap();
    let mut cmd = client.ssh("ops1", &["-tt", "-M", "-S", control]);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut master = cmd.spawn().unwrap();
    let mut seen = String::new();
    read_until(&mut master, &mut seen, "another-box").await;
    let stdin = master.stdin.as_mut().unwrap();
    stdin.write_all(b"\x1b[B\r").await.unwrap();
    read_until(&mut master, &mut seen, "Connecting to box").await;
    read_until(&mut master, &mut seen, "$ ").await;

    let (code, stdout, stderr) = run(client.ssh("ops1", &["-S", control, "echo via-master"])).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout.trim(), "via-master");
    let live = gw.sessions(&admin, "").await;
    assert_eq!(live["total"], 1, "one session, the menu's: {live}");

    let stdin = master.stdin.as_mut().unwrap();
    stdin.write_all(b"exit\r").await.unwrap();
    hang_up(&mut master, &mut seen).await;
    let items = ended_sessions(&gw, &admin).await;
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["connection"]["name"], "box", "{items:?}");
}

#[tokio::test]
async fn the_cli_registers_a_key_and_writes_an_ssh_config_that_works_as_printed() {
    let (gw, _sshd, _admin, ops, _) = setup().await;
    let client = Client::unregistered(&gw, &ops).await;
    let public = client.key().with_extension("pub");
    let added = gw
        .cli(
            &ops,
            &["keys", "add", public.to_str().unwrap(), "--name", "laptop"],
        )
        .await;
    assert!(added.status.success(), "{}", crate::harness::stdout(&added));
    let listed = crate::harness::stdout(&gw.cli(&ops, &["keys", "list"]).await);
    assert!(listed.contains("laptop"), "{listed}");

    let printed = gw.cli(&ops, &["ssh-config"]).await;
    assert!(printed.status.success());
    let config = crate::harness::stdout(&printed);
    assert!(config.contains("User ops1:box"), "{config}");
    // The pinning line the snippet tells the user to add, as they would.
    let pin = config
        .lines()
        .find_map(|l| l.strip_prefix("#   gatehouse-"))
        .expect("a known_hosts line");
    let known = client.dir.path().join("known_hosts_from_cli");
    std::fs::write(&known, format!("gatehouse-{pin}\n")).unwrap();
    let file = client.dir.path().join("config");
    std::fs::write(&file, &config).unwrap();
    let (code, stdout, stderr) = run({
        let mut cmd = Command::new("ssh");
        cmd.arg("-F")
            .arg(&file)
            .args(["-i", client.key().to_str().unwrap(), "-o", "BatchMode=yes"])
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", known.display()))
            .args(["-o", "StrictHostKeyChecking=yes", "box", "echo via-config"])
            .stdin(Stdio::null())
            .kill_on_drop(true);
        cmd
    })
    .await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout.trim(), "via-config");
}

#[tokio::test]
async fn an_unreachable_target_is_reported_to_the_client_and_audited() {
    let (gw, _sshd, admin, ops, _) = setup().await;
    let closed_port = free_port();
    let body = json!({ "name": "down", "host": "127.0.0.1", "port": closed_port,
                       "username": "nobody", "password": "x", "users": ["ops1"] });
    gw.connection(&admin, body).await;
    let client = Client::registered(&gw, &ops).await;
    let (code, _, stderr) = run(client.ssh("ops1:down", &["true"])).await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("could not open down") && stderr.contains("cannot reach the target"),
        "{stderr}"
    );
    let failed = gw.audit(&admin, "session.failed").await;
    assert_eq!(
        failed[0]["details"]["code"], "target_unreachable",
        "{failed:?}"
    );
    // Nothing was registered, so nothing is left live.
    assert_eq!(gw.sessions(&admin, "").await["total"], 0);
}

/// Connections that have not logged in are bounded per address (32, as
/// the README says): one more is closed before the banner, and a place
/// given back is free again. Each costs a key exchange and may cost a
/// password check, so a flood of them must not grow without limit.
#[tokio::test]
async fn connections_not_yet_logged_in_are_bounded_per_address() {
    let (gw, _sshd, _admin, _ops, _) = setup().await;
    let (addr, _) = gw.ssh();
    let banner = |mut socket: tokio::net::TcpStream| async move {
        let mut buf = [0u8; 64];
        let n = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut buf))
            .await
            .expect("the gateway answers or closes")
            .unwrap_or(0);
        (String::from_utf8_lossy(&buf[..n]).into_owned(), socket)
    };
    let mut waiting = Vec::new();
    for _ in 0..32 {
        let (said, socket) = banner(tokio::net::TcpStream::connect(addr).await.unwrap()).await;
        assert!(said.starts_with("SSH-2.0-Gatehouse"), "{said:?}");
        waiting.push(socket);
    }
    let (said, _) = banner(tokio::net::TcpStream::connect(addr).await.unwrap()).await;
    assert_eq!(said, "", "the 33rd connection got a banner");

    drop(waiting.pop());
    let again = eventually(Duration::from_secs(5), || async {
        let (said, socket) = banner(tokio::net::TcpStream::connect(addr).await.unwrap()).await;
        said.starts_with("SSH-2.0-Gatehouse").then_some(socket)
    })
    .await;
    assert!(again.is_some(), "a place given back was not free again");
}

/// A mistyped password gets another try, as with OpenSSH (the listener
/// used to stop offering `password` after one failure); an unregistered
/// key is refused when offered, before the client signs with it.
#[tokio::test]
async fn a_mistyped_password_gets_another_try_and_a_stranger_key_is_refused_when_offered() {
    let (gw, _sshd, admin, ops, _) = setup().await;
    let stranger = Client::unregistered(&gw, &ops).await;
    // An askpass that answers wrong first, right the second time.
    let tries = stranger.dir.path().join("tries");
    let askpass = stranger.dir.path().join("askpass-twice");
    std::fs::write(
        &askpass,
        format!(
            "#!/bin/sh\nif [ -e {t} ]; then echo ops1-password; else touch {t}; echo a-wrong-guess; fi\n",
            t = tries.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &askpass,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let mut cmd = Command::new("ssh");
    cmd.args(stranger.options())
        .args([
            "-o",
            "PubkeyAuthentication=no",
            "-o",
            "PreferredAuthentications=password",
        ])
        .args([
            "-o",
            "NumberOfPasswordPrompts=2",
            "-p",
            &stranger.port.to_string(),
        ])
        .args(["ops1:box@127.0.0.1", "echo in-$((2+3))"])
        .env("SSH_ASKPASS", &askpass)
        .env("SSH_ASKPASS_REQUIRE", "force")
        .env("DISPLAY", ":0")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let (code, stdout, stderr) = run(cmd).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout.trim(), "in-5");

    let (code, _, stderr) = run(stranger.ssh("ops1:box", &["-v", "echo in"])).await;
    assert_eq!(code, Some(255));
    assert!(stderr.contains("Offering public key"), "{stderr}");
    assert!(
        !stderr.contains("Server accepts key"),
        "the gateway accepted an unregistered key's offer: {stderr}"
    );
    let refused = gw.audit(&admin, "auth.ssh_login_failed").await;
    assert!(
        refused.iter().any(|e| e["details"]["stage"] == "offered"),
        "{refused:?}"
    );
}

/// A name that matches no account is often a password typed into the
/// wrong box: a failed login's audit event does not keep it.
#[tokio::test]
async fn a_failed_login_under_an_unknown_name_does_not_keep_the_name() {
    let (gw, _sshd, admin, ops, _) = setup().await;
    let stranger = Client::unregistered(&gw, &ops).await;
    let typed = "Tr0ub4dor-and-3";
    let (code, _, _) =
        run(stranger.ssh_with_password(typed, "whatever-else", "password", &["true"])).await;
    assert_eq!(code, Some(255));
    let (code, _, _) =
        run(stranger.ssh_with_password("ops1:box", "a-wrong-guess", "password", &["true"])).await;
    assert_eq!(code, Some(255));

    let failures = gw.audit(&admin, "auth.ssh_login_failed").await;
    let names: Vec<&str> = failures
        .iter()
        .filter_map(|e| e["details"]["username"].as_str())
        .collect();
    assert!(names.contains(&"unknown user"), "{failures:?}");
    assert!(
        names.contains(&"ops1:box"),
        "a known account is named: {failures:?}"
    );
    let (_, everything) = gw.get(Some(&admin), "/audit?limit=1000").await;
    assert!(
        !everything
            .to_string()
            .to_lowercase()
            .contains(&typed.to_lowercase()),
        "the typed name reached the audit log"
    );
}
