//! People use their own OpenSSH `ssh`, `scp` and `sftp` through the
//! gateway's SSH listener, and those sessions are Active Sessions like any
//! other. The helpers here drive the real OpenSSH client.

mod commands;
mod ending;
mod forwarding;
mod logins;
mod policies;
mod recording;
mod tcp_tunnels;

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
pub(crate) struct Client {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) port: u16,
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
    pub(crate) async fn unregistered(gw: &TestGateway, token: &str) -> Client {
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
    pub(crate) fn options(&self) -> Vec<String> {
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

    /// `ssh` logging in by password only (`method`: `password` or
    /// `keyboard-interactive`), typed by an askpass helper.
    pub(crate) fn ssh_with_password(
        &self,
        login: &str,
        password: &str,
        method: &str,
        args: &[&str],
    ) -> Command {
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
                &format!("PreferredAuthentications={method}"),
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

pub(crate) async fn run(mut cmd: Command) -> (Option<i32>, String, String) {
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

/// Waits (10 s at most) for an interactive `ssh` to exit, reading what it
/// prints meanwhile (as a terminal does: a client whose output nobody reads
/// cannot finish) and adding it to `seen`.
async fn hang_up(child: &mut Child, seen: &mut String) -> std::process::ExitStatus {
    let mut stdout = child.stdout.take().unwrap();
    let mut rest = Vec::new();
    let (status, _) = tokio::time::timeout(Duration::from_secs(10), async {
        tokio::join!(child.wait(), stdout.read_to_end(&mut rest))
    })
    .await
    .expect("ssh exits in time");
    seen.push_str(&String::from_utf8_lossy(&rest));
    status.unwrap()
}

/// A folder of ours the target's account may write into too (the target is
/// this machine): where file transfers land and start.
fn shared_folder() -> tempfile::TempDir {
    let work = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        work.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    work
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
