//! People use their own OpenSSH `ssh` and `scp` through the gateway's SSH
//! listener, and those sessions are Active Sessions like any other.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

use crate::harness::sshd::free_port;
use crate::harness::{Sshd, TestGateway, eventually};

/// A person's OpenSSH client set up for the gateway: their own key pair,
/// and a known_hosts file holding the gateway's host key as the API
/// publishes it — so host key checking is strict, never skipped.
struct Client {
    dir: tempfile::TempDir,
    port: u16,
}

impl Client {
    /// A client for `token`'s user, with a fresh key registered on their profile.
    async fn registered(gw: &TestGateway, token: &str) -> Client {
        let client = Client::unregistered(gw, token).await;
        let public = std::fs::read_to_string(client.key().with_extension("pub")).unwrap();
        let (status, body) = gw
            .post(
                Some(token),
                "/profile/keys",
                json!({ "name": "laptop", "public_key": public }),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        client
    }

    /// A client whose key the gateway does not know.
    async fn unregistered(gw: &TestGateway, token: &str) -> Client {
        let dir = tempfile::tempdir().unwrap();
        let made = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(dir.path().join("id_ed25519"))
            .status()
            .unwrap();
        assert!(made.success());
        let (status, info) = gw.get(Some(token), "/gateway").await;
        assert_eq!(status, 200);
        let (addr, fingerprint) = gw.ssh();
        assert_eq!(info["ssh"]["host_key_fingerprint"], fingerprint);
        let line = format!(
            "[127.0.0.1]:{} {}\n",
            addr.port(),
            info["ssh"]["host_key"].as_str().unwrap()
        );
        std::fs::write(dir.path().join("known_hosts"), line).unwrap();
        Client {
            dir,
            port: addr.port(),
        }
    }

    fn key(&self) -> PathBuf {
        self.dir.path().join("id_ed25519")
    }

    /// Options every invocation shares: no user config, strict host keys.
    fn options(&self) -> Vec<String> {
        let known = self.dir.path().join("known_hosts");
        [
            "-F",
            "/dev/null",
            "-i",
            self.key().to_str().unwrap(),
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            &format!("UserKnownHostsFile={}", known.display()),
            "-o",
            "LogLevel=ERROR",
        ]
        .map(String::from)
        .to_vec()
    }

    /// `ssh -p PORT LOGIN@127.0.0.1 ARGS…` with keys only.
    fn ssh(&self, login: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new("ssh");
        cmd.args(self.options())
            .args(["-o", "BatchMode=yes", "-p", &self.port.to_string()])
            .arg(format!("{login}@127.0.0.1"))
            .args(args)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        cmd
    }

    /// `ssh` logging in by password only, typed by an askpass helper.
    fn ssh_with_password(&self, login: &str, password: &str, args: &[&str]) -> Command {
        let askpass = self.dir.path().join("askpass");
        std::fs::write(&askpass, format!("#!/bin/sh\necho '{password}'\n")).unwrap();
        std::fs::set_permissions(
            &askpass,
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        let mut cmd = Command::new("ssh");
        cmd.args(self.options())
            .args([
                "-o",
                "PubkeyAuthentication=no",
                "-o",
                "PreferredAuthentications=password",
                "-o",
                "NumberOfPasswordPrompts=1",
                "-p",
                &self.port.to_string(),
            ])
            .arg(format!("{login}@127.0.0.1"))
            .args(args)
            .env("SSH_ASKPASS", &askpass)
            .env("SSH_ASKPASS_REQUIRE", "force")
            .env("DISPLAY", ":0")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        cmd
    }

    /// An interactive `ssh -tt` whose keyboard is our pipe.
    fn interactive(&self, login: &str) -> Child {
        let mut cmd = self.ssh(login, &["-tt"]);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd.spawn().unwrap()
    }
}

async fn run(mut cmd: Command) -> (Option<i32>, String, String) {
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .expect("ssh finished in time")
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Reads `child`'s stdout until it contains `needle`; returns all read.
async fn read_until(child: &mut Child, seen: &mut String, needle: &str) {
    let stdout = child.stdout.as_mut().unwrap();
    let found = tokio::time::timeout(Duration::from_secs(20), async {
        let mut buf = [0u8; 4096];
        while !seen.contains(needle) {
            let n = stdout.read(&mut buf).await.unwrap();
            assert!(n > 0, "ssh closed before {needle:?} appeared in {seen:?}");
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    })
    .await;
    assert!(found.is_ok(), "{needle:?} never appeared in {seen:?}");
}

/// A gateway, a target, and ops1 holding a grant on connection `box`.
async fn setup() -> (TestGateway, Sshd, String, String, String) {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let ops = gw.user(&admin, "ops1", "user").await;
    let conn = gw.ssh_connection(&admin, &sshd, "box", &["ops1"]).await;
    (gw, sshd, admin, ops, conn)
}

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
async fn a_pty_session_is_listed_found_by_search_and_ended_with_the_reason() {
    let (gw, _sshd, admin, ops, _) = setup().await;
    let client = Client::registered(&gw, &ops).await;
    let mut ssh = client.interactive("ops1:box");
    let mut seen = String::new();
    read_until(&mut ssh, &mut seen, "$ ").await;
    let stdin = ssh.stdin.as_mut().unwrap();
    stdin.write_all(b"echo typed-$((7*6))\r").await.unwrap();
    read_until(&mut ssh, &mut seen, "typed-42").await;

    let found = gw.sessions(&admin, "box").await;
    assert_eq!(found["total"], 1, "{found}");
    let session = &found["items"][0];
    assert_eq!(session["user"], "ops1");
    assert_eq!(session["protocol"], "ssh");
    assert_eq!(session["client_addr"], "127.0.0.1");
    assert!(session["bytes_from_client"].as_u64().unwrap() > 0);
    assert_eq!(gw.sessions(&admin, "nothing-like-it").await["total"], 0);

    let id = session["id"].as_str().unwrap().to_owned();
    let (status, body) = gw
        .post(Some(&admin), "/sessions/end", json!({ "ids": [id] }))
        .await;
    assert_eq!(status, 200, "{body}");
    let status = tokio::time::timeout(Duration::from_secs(10), ssh.wait())
        .await
        .expect("ssh exits when its session is ended")
        .unwrap();
    assert!(!status.success(), "exit status {status:?}");
    let mut rest = String::new();
    ssh.stdout
        .take()
        .unwrap()
        .read_to_string(&mut rest)
        .await
        .unwrap();
    seen.push_str(&rest);
    assert!(
        seen.contains("Session ended by administrator admin"),
        "{seen:?}"
    );
    let ended = gw.ended_history(&admin, &id).await;
    assert_eq!(ended["end_reason"], "ended_by_admin");
    assert_eq!(ended["ended_by"], "admin");
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
        run(stranger.ssh_with_password("ops1:box", "a-wrong-guess", &["echo in"])).await;
    assert_eq!(code, Some(255), "{stderr}");

    // The right password works the same way.
    let (code, stdout, stderr) =
        run(stranger.ssh_with_password("ops1:box", "ops1-password", &["echo in-$((1+1))"])).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout.trim(), "in-2");

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
    assert_eq!(logins.len(), 1, "{logins:?}");
}

/// Starts `ssh -N -L`, connects to the local end and reads what comes out;
/// the connection stays open until the stream is dropped.
async fn through_local_forward(
    client: &Client,
    target_port: u16,
) -> (Child, tokio::net::TcpStream, Vec<u8>) {
    let local = free_port();
    let forward = format!("{local}:127.0.0.1:{target_port}");
    let mut cmd = client.ssh("ops1:box", &["-N", "-L", &forward]);
    cmd.stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    let stream = eventually(Duration::from_secs(10), || async {
        tokio::net::TcpStream::connect(("127.0.0.1", local))
            .await
            .ok()
    })
    .await
    .expect("ssh listens on the local end");
    let mut stream = stream;
    let mut got = vec![0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut got))
        .await
        .expect("the forward answers or closes")
        .unwrap_or(0);
    got.truncate(n);
    (child, stream, got)
}

#[tokio::test]
async fn port_forwards_are_refused_unless_the_connection_allows_them() {
    let (gw, sshd, admin, ops, conn) = setup().await;
    let client = Client::registered(&gw, &ops).await;

    let (mut child, _stream, got) = through_local_forward(&client, sshd.port).await;
    assert!(got.is_empty(), "a refused forward passed {got:?}");
    let _ = child.kill().await;
    let (code, _, stderr) = run(client.ssh(
        "ops1:box",
        &[
            "-N",
            "-o",
            "ExitOnForwardFailure=yes",
            "-R",
            "0:127.0.0.1:22",
        ],
    ))
    .await;
    assert_eq!(code, Some(255), "{stderr}");
    let refused = gw.audit(&admin, "ssh.refused").await;
    let kinds: Vec<&Value> = refused
        .iter()
        .map(|e| &e["details"]["details"]["kind"])
        .collect();
    assert!(kinds.contains(&&json!("local")), "{refused:?}");
    assert!(kinds.contains(&&json!("remote")), "{refused:?}");

    let (status, body) = gw
        .patch(
            Some(&admin),
            &format!("/connections/{conn}"),
            json!({ "allow_forwarding": true }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["allow_forwarding"], true);
    let (mut child, stream, got) = through_local_forward(&client, sshd.port).await;
    assert!(
        got.starts_with(b"SSH-2.0-"),
        "the target's sshd should answer through the forward: {got:?}"
    );
    let forwards = gw.audit(&admin, "ssh.forward").await;
    assert_eq!(
        forwards[0]["details"]["destination"],
        format!("127.0.0.1:{}", sshd.port)
    );
    // The open forward is listed on the session, and gone once closed.
    let listed = gw.sessions(&admin, "box").await["items"][0]["forwards"].clone();
    assert_eq!(listed[0]["kind"], "local", "{listed}");
    assert_eq!(listed[0]["destination"], format!("127.0.0.1:{}", sshd.port));
    drop(stream);
    let closed = eventually(Duration::from_secs(10), || async {
        let items = gw.sessions(&admin, "box").await["items"].clone();
        (items[0]["forwards"].as_array()?.is_empty()).then_some(())
    })
    .await;
    assert!(closed.is_some(), "the closed forward stays listed");
    let _ = child.kill().await;

    // A remote forward is listed while the client holds it.
    let mut cmd = client.ssh(
        "ops1:box",
        &[
            "-N",
            "-o",
            "ExitOnForwardFailure=yes",
            "-R",
            "127.0.0.1:0:127.0.0.1:22",
        ],
    );
    cmd.stderr(Stdio::piped());
    let mut remote = cmd.spawn().unwrap();
    let listed = eventually(Duration::from_secs(10), || async {
        let items = gw.sessions(&admin, "box").await["items"].clone();
        items
            .as_array()?
            .iter()
            .find_map(|s| s["forwards"].as_array()?.first().cloned())
    })
    .await
    .expect("the remote forward is listed");
    assert_eq!(listed["kind"], "remote");
    assert!(
        listed["destination"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );
    let _ = remote.kill().await;
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
    let status = tokio::time::timeout(Duration::from_secs(10), ssh.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}");
    let items = ended_sessions(&gw, &admin).await;
    assert_eq!(items[0]["connection"]["name"], "box", "{items:?}");
    assert_eq!(items[0]["end_reason"], "target_closed", "{items:?}");
}

/// ops1's sessions in history, once every one of them has ended.
async fn ended_sessions(gw: &TestGateway, admin: &str) -> Vec<Value> {
    eventually(Duration::from_secs(10), || async {
        gw.registry().flush_lifecycle().await;
        let (_, body) = gw.get(Some(admin), "/history?q=ops1").await;
        let items = body["items"].as_array()?.clone();
        (!items.is_empty() && items.iter().all(|r| !r["ended_at"].is_null())).then_some(items)
    })
    .await
    .expect("ops1's sessions end and reach history")
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
async fn agent_forwarding_follows_the_connection_setting() {
    let (gw, _sshd, admin, ops, conn) = setup().await;
    let client = Client::registered(&gw, &ops).await;
    let socket = client.dir.path().join("agent.sock");
    let mut agent = Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&socket)
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    eventually(Duration::from_secs(5), || async {
        socket.exists().then_some(())
    })
    .await
    .expect("ssh-agent listens");
    let added = std::process::Command::new("ssh-add")
        .arg(client.key())
        .env("SSH_AUTH_SOCK", &socket)
        .output()
        .unwrap();
    assert!(added.status.success(), "{added:?}");
    let with_agent = || {
        let mut cmd = client.ssh("ops1:box", &["-A", "ssh-add -l"]);
        cmd.env("SSH_AUTH_SOCK", &socket);
        cmd
    };

    let (code, stdout, _) = run(with_agent()).await;
    assert_eq!(
        code,
        Some(2),
        "refused: the target sees no agent ({stdout})"
    );
    let refused = gw.audit(&admin, "ssh.refused").await;
    assert_eq!(
        refused[0]["details"]["details"]["kind"], "agent",
        "{refused:?}"
    );

    let (status, _) = gw
        .patch(
            Some(&admin),
            &format!("/connections/{conn}"),
            json!({ "allow_forwarding": true }),
        )
        .await;
    assert_eq!(status, 200);
    let (code, stdout, stderr) = run(with_agent()).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.contains("ED25519"),
        "the target lists the user's key: {stdout}"
    );
    let _ = agent.kill().await;
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
    assert!(
        rec.output().as_bytes() == out.stdout.as_slice(),
        "the recording replays what the ssh client printed"
    );
    let (_, found) = gw.get(Some(&admin), "/history?text=native-42").await;
    assert_eq!(found["total"], 1, "{found}");
}
