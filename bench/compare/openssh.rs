//! The OpenSSH paths (direct, jump, gatehouse-ssh): one `ssh_config` with a
//! host alias per path, and one client runner that measures each the same
//! way. Only the alias differs between paths, so they are compared on equal
//! terms: same client binary, same key type, same options.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

use super::harness::sshd::TARGET_USER;
use super::proc_cpu::machine_busy;
use super::stats::Samples;

/// The `ssh_config` aliases of the OpenSSH paths, and the key they use.
pub struct OpenSsh {
    config: PathBuf,
}

/// Where each path's hops listen.
pub struct Hops {
    /// The target `sshd`.
    pub target: u16,
    /// The bastion `sshd` for the jump path.
    pub bastion: u16,
    /// Gatehouse's SSH listener: port, `USER:CONNECTION`.
    pub gatehouse: (u16, String),
}

impl OpenSsh {
    /// Writes the `ssh_config` (and the private keys: `key` for the target
    /// and Gatehouse, `bastion_key` for the bastion) into `dir`.
    pub fn new(dir: &Path, key: &str, bastion_key: &str, hops: &Hops) -> OpenSsh {
        let options = |name: &str, key: &str| {
            let path = dir.join(name);
            std::fs::write(&path, key).unwrap();
            set_private(&path);
            format!(
                "  IdentityFile {}\n  IdentitiesOnly yes\n  StrictHostKeyChecking no\n  \
                 UserKnownHostsFile /dev/null\n  LogLevel ERROR\n  BatchMode yes\n  \
                 ControlMaster no\n  ControlPath none\n",
                path.display()
            )
        };
        let common = options("id_target", key);
        let to_bastion = options("id_bastion", bastion_key);
        let config = format!(
            "Host direct\n  HostName 127.0.0.1\n  Port {t}\n  User {TARGET_USER}\n{common}\
             Host bastion\n  HostName 127.0.0.1\n  Port {b}\n  User {TARGET_USER}\n{to_bastion}\
             Host jump\n  HostName 127.0.0.1\n  Port {t}\n  User {TARGET_USER}\n  ProxyJump bastion\n{common}\
             Host gatehouse\n  HostName 127.0.0.1\n  Port {g}\n  User {user}\n{common}",
            t = hops.target,
            b = hops.bastion,
            g = hops.gatehouse.0,
            user = hops.gatehouse.1,
        );
        let path = dir.join("ssh_config");
        std::fs::write(&path, config).unwrap();
        OpenSsh { config: path }
    }

    fn ssh(&self, alias: &str) -> Command {
        let mut cmd = Command::new("ssh");
        cmd.arg("-F")
            .arg(&self.config)
            .arg(alias)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        cmd
    }

    /// Bytes per second of `head -c BYTES /dev/zero` on the target, read to
    /// the end by the client, timed from the first byte to the last so that
    /// the login does not count; `how` picks the channel and cipher.
    pub async fn throughput(&self, alias: &str, bytes: u64, how: Bulk) -> Flow {
        let mut cmd = self.ssh(alias);
        match how {
            Bulk::Raw => cmd.arg("-T"),
            Bulk::RawAesGcm => cmd.args(["-T", "-c", "aes128-gcm@openssh.com"]),
            Bulk::Pty => cmd.arg("-tt"),
        };
        cmd.arg(format!("head -c {bytes} /dev/zero"));
        read_rate(cmd, bytes, alias).await
    }

    /// A login with a pty (`-tt`) on the target's shell: how long from
    /// starting the client to the first byte of the prompt.
    /// With `curve25519`, the client offers only `curve25519-sha256` as its
    /// key exchange, the one russh (the gateway's side) agrees on with
    /// OpenSSH 9.2, where OpenSSH with itself takes the costlier hybrid
    /// `sntrup761x25519`: every path then starts on the same exchange.
    pub async fn open(&self, alias: &str, curve25519: bool) -> (Shell, Duration) {
        let t = Instant::now();
        let mut cmd = self.ssh(alias);
        cmd.arg("-tt");
        if curve25519 {
            cmd.args(["-o", "KexAlgorithms=curve25519-sha256"]);
        }
        let mut child = cmd.spawn().expect("ssh");
        let mut shell = Shell {
            stdin: child.stdin.take().unwrap(),
            stdout: child.stdout.take().unwrap(),
            child,
            seen: Vec::new(),
        };
        shell.expect(b"$ ").await;
        (shell, t.elapsed())
    }
}

/// How bulk output flows.
#[derive(Clone, Copy)]
pub enum Bulk {
    /// The raw channel (`ssh -T`), with the cipher client and server agree on.
    Raw,
    /// The raw channel with AES-128-GCM on the client's hop, whatever the
    /// server would prefer: every path on the same cipher.
    RawAesGcm,
    /// Through a pty on the target (`ssh -tt`), as a terminal's output flows.
    Pty,
}

/// Bytes per second of `head -c BYTES /dev/zero` in a pty on this machine,
/// no SSH at all (`script`, from util-linux): the floor any terminal
/// session's output meets.
pub async fn bare_pty(bytes: u64) -> f64 {
    let mut cmd = Command::new("script");
    cmd.args(["-qc", &format!("head -c {bytes} /dev/zero"), "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true);
    read_rate(cmd, bytes, "script").await.rate
}

/// One bulk output run, from its first byte to its last.
pub struct Flow {
    /// Bytes per second.
    pub rate: f64,
    /// CPU seconds the whole machine was busy (every process: client,
    /// servers, gateway, this reader) per GB (10⁹ bytes) delivered.
    pub machine_cpu_per_gb: f64,
}

/// Runs `cmd` and reads its output to the end, timing it and the
/// machine's busy CPU from the first byte to the last.
async fn read_rate(mut cmd: Command, bytes: u64, what: &str) -> Flow {
    let mut child = cmd.spawn().expect(what);
    let mut out = child.stdout.take().unwrap();
    let mut buf = vec![0u8; 256 * 1024];
    let mut got = 0u64;
    let mut first = None;
    loop {
        let n = out.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        first.get_or_insert_with(|| (Instant::now(), machine_busy()));
        got += n as u64;
    }
    let (first, busy) = first.expect("no output");
    let (elapsed, busy) = (first.elapsed(), machine_busy() - busy);
    assert!(child.wait().await.unwrap().success(), "{what} failed");
    assert!(got >= bytes, "{what}: short read");
    Flow {
        rate: got as f64 / elapsed.as_secs_f64(),
        machine_cpu_per_gb: busy.as_secs_f64() / (got as f64 / 1e9),
    }
}

/// An interactive `ssh -tt` client driven through pipes: the pty is the
/// target's, which echoes what is typed, as a person's terminal would show.
pub struct Shell {
    child: Child,
    stdin: tokio::process::ChildStdin,
    stdout: tokio::process::ChildStdout,
    seen: Vec<u8>,
}

impl Shell {
    async fn expect(&mut self, needle: &[u8]) {
        let mut buf = [0u8; 4096];
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.seen.windows(needle.len()).any(|w| w == needle) {
            let n = tokio::time::timeout_at(deadline.into(), self.stdout.read(&mut buf))
                .await
                .expect("ssh output in time")
                .unwrap();
            assert!(
                n > 0,
                "ssh closed: {:?}",
                String::from_utf8_lossy(&self.seen)
            );
            self.seen.extend_from_slice(&buf[..n]);
        }
        self.seen.clear();
    }

    /// Keystroke round trips: one byte typed, timed until it is echoed.
    pub async fn echo(&mut self, rounds: usize) -> Samples {
        let mut samples = Samples::default();
        for i in 0..rounds {
            let c = [b'a' + (i % 26) as u8];
            let t = Instant::now();
            self.stdin.write_all(&c).await.unwrap();
            self.expect(&c).await;
            samples.push(t.elapsed());
            if i % 64 == 63 {
                self.stdin.write_all(b"\x15").await.unwrap(); // erase the line
            }
        }
        samples
    }

    /// Logs out and waits for the client to exit.
    pub async fn exit(mut self) {
        let _ = self.stdin.write_all(b"\x15exit\n").await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }
}

fn set_private(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}
