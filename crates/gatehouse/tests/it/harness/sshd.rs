//! A real OpenSSH `sshd` on loopback, with its own config, host key and port
//! — and its own target account, which exists nowhere else.
//!
//! The account [`TARGET_USER`] is not a user of the machine: each test sshd
//! runs in a mount namespace of its own (`unshare --mount`) in which copies
//! of `/etc/passwd` and `/etc/shadow`, with one more line each, are
//! bind-mounted over the real files. Only that sshd, and the sessions it
//! starts, see the account, so its published password opens nothing on a
//! machine that runs the tests (issue 16, fix 9). The mounts vanish with the
//! namespace's last process.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

/// The target account every test logs in as. Its shell is `/bin/sh` and its
/// home an empty temporary folder, so a login never waits on the test
/// machine's own shell setup (root's `.bashrc` here runs `pyenv rehash`,
/// which serialises concurrent logins on a lock file).
pub const TARGET_USER: &str = "gatehouse-test";
/// Its password, for password logins: known only to the tests' own sshd.
pub const PASSWORD: &str = "gatehouse-test-password";
/// The account's uid and gid inside the namespace: one no Debian
/// installation hands out (system ids end at 999, users' start at 1000 and
/// rarely reach this), so its files belong to nobody outside.
pub const TARGET_UID: u32 = 60123;
/// SHA-512 crypt of [`PASSWORD`]: `openssl passwd -6 -salt gatehousetest`.
const PASSWORD_HASH: &str = "$6$gatehousetest$iq.W8o3RHA0P.AjHjhOFFvhMTAIsi2/2Wkn3qwVSZWRIx9IZ.SSUvGdF2FEbbzWewpAY.oBJDbISvhkkhDKOF1";

/// Mounts the namespace's account files over the real ones, then becomes
/// sshd. `$1` is the passwd copy, `$2` the shadow copy, `$3` the config.
const IN_NAMESPACE: &str = "mount --bind \"$1\" /etc/passwd && mount --bind \"$2\" /etc/shadow \
    && exec /usr/sbin/sshd -D -e -f \"$3\"";

pub struct Sshd {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Sshd {
    /// Starts sshd on a free loopback port. It accepts the key in
    /// [`Sshd::client_key`] and the password [`PASSWORD`] for [`TARGET_USER`].
    pub async fn start() -> Sshd {
        let dir = tempfile::tempdir().unwrap();
        // The account reads its authorized keys and reaches its home through
        // this folder: open it whatever the process's umask.
        chmod(dir.path(), 0o755);
        keygen(&dir.path().join("host_key"));
        keygen(&dir.path().join("client_key"));
        keygen(&dir.path().join("other_key"));
        std::fs::copy(
            dir.path().join("client_key.pub"),
            dir.path().join("authorized_keys"),
        )
        .unwrap();
        chmod(&dir.path().join("authorized_keys"), 0o644);
        write_accounts(dir.path());
        let port = free_port();
        let d = dir.path().display();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\n\
             AuthorizedKeysFile {d}/authorized_keys\nUsePAM no\nStrictModes no\n\
             PasswordAuthentication yes\nKbdInteractiveAuthentication no\nPermitRootLogin no\nAllowUsers {TARGET_USER}\n\
             PubkeyAuthentication yes\nLogLevel ERROR\nMaxStartups 500:30:1000\nMaxSessions 100\n\
             Subsystem sftp internal-sftp\n"
        );
        std::fs::write(dir.path().join("sshd_config"), config).unwrap();
        let mut sshd = Sshd {
            port,
            dir,
            child: None,
        };
        sshd.spawn().await;
        sshd
    }

    async fn spawn(&mut self) {
        std::fs::create_dir_all("/run/sshd").ok();
        let d = self.dir.path();
        // `unshare` and `sh` exec in turn, so the child's pid is sshd's.
        let child = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c"])
            .args([IN_NAMESPACE, "gatehouse-test-sshd"])
            .args([d.join("passwd"), d.join("shadow"), d.join("sshd_config")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(if std::env::var_os("TEST_LOG").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .kill_on_drop(true)
            .spawn()
            .expect("start sshd through unshare (util-linux; run the tests as root)");
        self.child = Some(child);
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!(
                    "sshd exited ({status}) before listening: it runs as root in a mount \
                     namespace (`unshare --mount`); TEST_LOG=1 shows why"
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("sshd did not start listening on port {}", self.port);
    }

    /// Kills the daemon and every session it serves, as a crashed target would.
    pub async fn kill(&mut self) {
        self.kill_group();
        if let Some(mut child) = self.child.take() {
            child.wait().await.ok();
        }
    }

    /// SIGKILL to the listener and its per-connection processes (each of
    /// which sshd puts in a session of its own, so a process group would miss them).
    fn kill_group(&self) {
        if let Some(pid) = self.child.as_ref().and_then(|c| c.id()) {
            let mut doomed = descendants(pid);
            doomed.push(pid);
            let pids: Vec<String> = doomed.iter().map(u32::to_string).collect();
            let _ = std::process::Command::new("kill")
                .arg("-KILL")
                .args(&pids)
                .stderr(Stdio::null())
                .status();
        }
    }

    /// The private key the target accepts for [`TARGET_USER`].
    pub fn client_key(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("client_key")).unwrap()
    }

    /// The public half of [`Sshd::client_key`], OpenSSH format.
    #[allow(dead_code)] // used by bench/compare.rs, not by the tests
    pub fn client_public_key(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("client_key.pub")).unwrap()
    }

    /// A valid private key the target does not accept.
    pub fn unknown_key(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("other_key")).unwrap()
    }

    /// The target's host public key, OpenSSH format.
    pub fn host_key(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("host_key.pub")).unwrap()
    }

    /// A host public key that is not this target's.
    pub fn other_host_key(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("other_key.pub")).unwrap()
    }

    /// `ssh-keygen -l`'s SHA-256 fingerprint of the host key.
    pub fn host_key_fingerprint(&self) -> String {
        let out = std::process::Command::new("ssh-keygen")
            .args(["-l", "-E", "sha256", "-f"])
            .arg(self.dir.path().join("host_key.pub"))
            .output()
            .unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_owned()
    }

    /// Established TCP connections to this sshd's port, from anyone.
    pub fn established_connections(&self) -> usize {
        established_to(self.port)
    }

    /// The processes this sshd runs for its connections (one or more per
    /// connection, and their shells): none once every connection is gone.
    pub fn connection_processes(&self) -> usize {
        self.child
            .as_ref()
            .and_then(|c| c.id())
            .map_or(0, |pid| descendants(pid).len())
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.kill_group();
    }
}

/// Every process below `root` in the process tree, from /proc.
fn descendants(root: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.ok()?.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // The command name may hold spaces; the fields after its ')' do not.
            let ppid = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            Some((pid, ppid))
        })
        .collect();
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parents
                .iter()
                .filter(|(_, pp)| *pp == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    found.remove(0);
    found
}

/// The namespace's `passwd` and `shadow`: the machine's (so the
/// privilege-separation user `sshd` is there), without any `gatehouse-test`
/// an older `scripts/prerequisites` left, plus [`TARGET_USER`] with a home in
/// `dir`.
fn write_accounts(dir: &Path) {
    let home = dir.join("home");
    std::fs::create_dir(&home).unwrap();
    std::os::unix::fs::chown(&home, Some(TARGET_UID), Some(TARGET_UID)).unwrap();
    chmod(&home, 0o700);
    let others = |file: &str| -> String {
        let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("read {file}: {e}"));
        let prefix = format!("{TARGET_USER}:");
        text.lines()
            .filter(|l| !l.starts_with(&prefix))
            .map(|l| format!("{l}\n"))
            .collect()
    };
    let passwd = format!(
        "{}{TARGET_USER}:x:{TARGET_UID}:{TARGET_UID}:Gatehouse tests:{}:/bin/sh\n",
        others("/etc/passwd"),
        home.display()
    );
    let shadow = format!(
        "{}{TARGET_USER}:{PASSWORD_HASH}:20000:0:99999:7:::\n",
        others("/etc/shadow")
    );
    std::fs::write(dir.join("passwd"), passwd).unwrap();
    chmod(&dir.join("passwd"), 0o644);
    std::fs::write(dir.join("shadow"), shadow).unwrap();
    chmod(&dir.join("shadow"), 0o600);
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn keygen(path: &Path) {
    let status = std::process::Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "gatehouse-test",
            "-f",
        ])
        .arg(path)
        .status()
        .expect("ssh-keygen");
    assert!(status.success());
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Counts ESTABLISHED TCP connections whose local port is `port`
/// (the server side of connections to it), from /proc/net/tcp{,6}.
pub fn established_to(port: u16) -> usize {
    let hex_port = format!(":{port:04X}");
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(PathBuf::from(p)).ok())
        .flat_map(|text| text.lines().skip(1).map(str::to_owned).collect::<Vec<_>>())
        .filter(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            f.len() > 3 && f[1].ends_with(&hex_port) && f[3] == "01"
        })
        .count()
}
