//! A real RDP server that resizes and shares its clipboard: Debian's `xrdp`
//! with `xorgxrdp` (dynamic resize through the Display Control channel,
//! the clipboard through `xrdp-chansrv`), its session an `xterm`.
//!
//! `xrdp` and `xrdp-sesman` run in the foreground with ini files of their
//! own (copies of /etc/xrdp's, edited: the port, the logs, the session's
//! window manager, one session per connection, killed when it
//! disconnects). xrdp finds its session manager at the port
//! /etc/xrdp/sesman.ini names, whatever its own ini says, so one xrdp runs
//! at a time ([`XrdpServer::start`] waits for the last to stop).
//!
//! The session logs in [`USER`], an account that is not the machine's:
//! as the test sshd does (`sshd.rs`), xrdp-sesman runs in a mount
//! namespace of its own (`unshare --mount`, as root) in which copies of
//! `/etc/passwd` and `/etc/shadow` with one more line each are bind-mounted
//! over the real files, so only this sesman (through PAM) and the sessions
//! it starts know the account, and its published password opens nothing
//! on the machine. Its uid, [`UID`], belongs to nobody outside; its
//! processes (Xorg, the xterm, chansrv, what the tests type) are killed by
//! pid when the server is dropped. Sessions outlive sesman, and nothing in
//! this container reaps orphans, so the test process makes itself their
//! reaper (`PR_SET_CHILD_SUBREAPER`) and waits for [`UID`]'s exited ones,
//! by pid — never another test's children.

use std::net::SocketAddr;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;
use std::process::Stdio;

use tokio::process::{Child, Command};
use tokio::sync::{Mutex, MutexGuard};

use super::httpbin::free_port;

/// The account the RDP sessions log in as (inside sesman's namespace).
pub const USER: &str = "gatehouse-xrdp";
/// Its password.
pub const PASSWORD: &str = "xrdp-test-pw-1";
/// Its uid and gid: next to the test sshd's account's, handed out by no
/// Debian installation.
pub const UID: u32 = 60124;
/// SHA-512 crypt of [`PASSWORD`]: `openssl passwd -6 -salt gatehousexrdp`.
const PASSWORD_HASH: &str = "$6$gatehousexrdp$cf04UiCscVCSDv7x.0hlWFpwHL1z0fKaC4XWFtvNtE7S8u4ZDYKeW7mAbY1Gm8Idm25d9c.O.SZL5g2prOoCC0";

/// Mounts the namespace's account files over the real ones, then becomes
/// xrdp-sesman. `$1` is the passwd copy, `$2` the shadow copy, `$3` its ini.
const IN_NAMESPACE: &str = "mount --bind \"$1\" /etc/passwd && mount --bind \"$2\" /etc/shadow \
    && exec xrdp-sesman --nodaemon --config \"$3\"";

/// One xrdp at a time (see the module comment).
static ONE_AT_A_TIME: Mutex<()> = Mutex::const_new(());

/// A running xrdp whose sessions run an xterm in [`XrdpServer::work`].
pub struct XrdpServer {
    pub addr: SocketAddr,
    /// The ini files and logs; `work` in it is the account's home and the
    /// xterm's directory.
    pub dir: tempfile::TempDir,
    xrdp: Child,
    sesman: Child,
    _turn: MutexGuard<'static, ()>,
}

impl XrdpServer {
    /// Starts xrdp-sesman (in its namespace, with the account) and xrdp.
    pub async fn start() -> XrdpServer {
        let turn = ONE_AT_A_TIME.lock().await;
        // The sessions' orphans come to this process, to be reaped.
        static ADOPT: std::sync::Once = std::sync::Once::new();
        ADOPT.call_once(|| {
            if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
                eprintln!("xrdp harness: not a child subreaper ({e}): its orphans stay zombies");
            }
        });
        // A crashed run's sessions would hold on to their displays.
        kill_sessions();
        reap_sessions();
        let dir = tempfile::Builder::new().prefix("ghxrdp").tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let work = dir.path().join("work");
        std::fs::create_dir(&work).unwrap();
        std::os::unix::fs::chown(&work, Some(UID), Some(UID)).unwrap();
        write_accounts(dir.path(), &work);
        let wm = dir.path().join("startwm.sh");
        std::fs::write(
            &wm,
            format!(
                "#!/bin/sh\ncd '{}'\nexport SHELL=/bin/sh\nexec xterm -geometry 100x30+0+0\n",
                work.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&wm, std::fs::Permissions::from_mode(0o755)).unwrap();

        let log = |name: &str| dir.path().join(name).display().to_string();
        let sesman_ini = edit(
            &std::fs::read_to_string("/etc/xrdp/sesman.ini")
                .expect("/etc/xrdp/sesman.ini (Debian xrdp; run scripts/prerequisites)"),
            &[
                ("EnableUserWindowManager", "false".into()),
                ("DefaultWindowManager", wm.display().to_string()),
                ("LogFile", log("sesman.log")),
                ("EnableSyslog", "false".into()),
                // A session per connection, ended when it disconnects.
                ("Policy", "UBDC".into()),
                ("KillDisconnected", "true".into()),
                ("DisconnectedTimeLimit", "0".into()),
            ],
        );
        let addr = free_port();
        let xrdp_ini = edit(
            &std::fs::read_to_string("/etc/xrdp/xrdp.ini").unwrap(),
            &[
                ("port", addr.port().to_string()),
                ("LogFile", log("xrdp.log")),
                ("EnableSyslog", "false".into()),
            ],
        );
        std::fs::write(dir.path().join("sesman.ini"), sesman_ini).unwrap();
        std::fs::write(dir.path().join("xrdp.ini"), xrdp_ini).unwrap();

        let output = |name: &str| std::fs::File::create(dir.path().join(name)).unwrap();
        // `unshare` and `sh` exec in turn, so the child's pid is sesman's.
        let sesman = Command::new("unshare")
            .args([
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-c",
                IN_NAMESPACE,
                "sh",
            ])
            .arg(dir.path().join("passwd"))
            .arg(dir.path().join("shadow"))
            .arg(dir.path().join("sesman.ini"))
            .stdout(output("sesman.out"))
            .stderr(output("sesman.err"))
            .kill_on_drop(true)
            .spawn()
            .expect("xrdp-sesman through unshare (util-linux, Debian xrdp; run as root)");
        let mut xrdp = Command::new("xrdp")
            .arg("--nodaemon")
            .arg("--config")
            .arg(dir.path().join("xrdp.ini"))
            .arg("--port")
            .arg(addr.port().to_string())
            .stdout(output("xrdp.out"))
            .stderr(output("xrdp.err"))
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("xrdp (Debian xrdp; run scripts/prerequisites)");
        let up = super::listening(addr, &mut xrdp).await;
        let server = XrdpServer {
            addr,
            dir,
            xrdp,
            sesman,
            _turn: turn,
        };
        assert!(up, "xrdp did not start\n{}", server.log());
        server
    }

    /// A path in the xterm's directory.
    pub fn work(&self, name: &str) -> PathBuf {
        self.dir.path().join("work").join(name)
    }

    /// What xrdp and its session manager logged (for failure messages).
    pub fn log(&self) -> String {
        ["xrdp.log", "xrdp.err", "sesman.log", "sesman.err"]
            .iter()
            .map(|name| {
                let text = std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
                format!("--- {name}\n{text}")
            })
            .collect()
    }
}

impl Drop for XrdpServer {
    fn drop(&mut self) {
        let _ = self.xrdp.start_kill();
        let _ = self.sesman.start_kill();
        kill_sessions();
        // xrdp and sesman are this process's own children: waited for here,
        // or a test binary that exits next leaves them as zombies.
        let deadline = std::time::Instant::now() + EXITING;
        for child in [&mut self.xrdp, &mut self.sesman] {
            while matches!(child.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
        reap_sessions();
    }
}

/// How long a dropped server's sessions get to exit before their zombies
/// are reaped (Xorg takes a moment to remove its display; the rest exit
/// on SIGTERM at once).
const EXITING: std::time::Duration = std::time::Duration::from_secs(3);

/// Waits (up to [`EXITING`]) until [`UID`]'s processes have all exited,
/// then reaps those that are this process's children — the orphans it
/// adopted as their subreaper: the sessions' (of [`UID`]) and sesman's own
/// forks (root, named `xrdp-sesman`). Only those, and only by pid, so
/// another test's children are left to whoever waits for them.
fn reap_sessions() {
    let deadline = std::time::Instant::now() + EXITING;
    let me = std::process::id();
    loop {
        let left = leftovers(me);
        let alive = left.iter().any(|(_, stat)| stat.state != 'Z');
        if !alive || std::time::Instant::now() > deadline {
            for (pid, stat) in left {
                if stat.state == 'Z' && stat.parent == me {
                    let pid = nix::unistd::Pid::from_raw(pid as i32);
                    let _ =
                        nix::sys::wait::waitpid(pid, Some(nix::sys::wait::WaitPidFlag::WNOHANG));
                }
            }
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// What an xrdp server leaves behind: [`UID`]'s processes, and the
/// `xrdp*` processes adopted by this one (sesman's forks).
fn leftovers(me: u32) -> Vec<(u32, Stat)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let sessions = entry.metadata().ok()?.uid() == UID;
            let stat = stat_of(pid)?;
            let forked = stat.parent == me && stat.name.starts_with("xrdp");
            (sessions || forked).then_some((pid, stat))
        })
        .collect()
}

/// What `/proc/PID/stat` says of a process.
struct Stat {
    /// Its command name (`comm`).
    name: String,
    /// Its state letter (`Z` for a zombie).
    state: char,
    /// Its parent's pid.
    parent: u32,
}

/// A process's name, state and parent, from `/proc/PID/stat` (the name
/// is between the first `(` and the last `)`: it may hold either).
fn stat_of(pid: u32) -> Option<Stat> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (open, close) = (stat.find('(')?, stat.rfind(')')?);
    let name = stat.get(open + 1..close)?.to_owned();
    let mut fields = stat[close + 1..].split_whitespace();
    let state = fields.next()?.chars().next()?;
    let parent = fields.next()?.parse().ok()?;
    Some(Stat {
        name,
        state,
        parent,
    })
}

/// Ends the test account's processes (Xorg, xterm, chansrv, xclip), by
/// pid: sessions outlive their manager. Only [`UID`]'s, which is nobody's
/// outside the namespace, and one xrdp runs at a time. SIGTERM, so Xorg
/// removes its display's lock and socket.
fn kill_sessions() {
    for pid in processes_of(UID) {
        let _ = std::process::Command::new("kill")
            .arg(pid.to_string())
            .status();
    }
}

/// `ini` with `key=value` for each of `set` (the keys' first lines only,
/// which in xrdp's files are the ones that count).
fn edit(ini: &str, set: &[(&str, String)]) -> String {
    let mut done = vec![false; set.len()];
    let mut out = String::new();
    for line in ini.lines() {
        let key = line.split('=').next().unwrap_or_default().trim();
        match set.iter().position(|(k, _)| *k == key) {
            Some(i) if !done[i] => {
                done[i] = true;
                out.push_str(&format!("{key}={}\n", set[i].1));
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    for (i, (key, _)) in set.iter().enumerate() {
        assert!(done[i], "no {key}= in the ini file");
    }
    out
}

/// Copies of the machine's account files with [`USER`] added, home `home`.
fn write_accounts(dir: &std::path::Path, home: &std::path::Path) {
    let mut passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    passwd.push_str(&format!(
        "{USER}:x:{UID}:{UID}:Gatehouse xrdp test:{}:/bin/sh\n",
        home.display()
    ));
    let mut shadow = std::fs::read_to_string("/etc/shadow").unwrap();
    shadow.push_str(&format!("{USER}:{PASSWORD_HASH}:19000:0:99999:7:::\n"));
    std::fs::write(dir.join("passwd"), passwd).unwrap();
    std::fs::write(dir.join("shadow"), shadow).unwrap();
    std::fs::set_permissions(dir.join("passwd"), std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(dir.join("shadow"), std::fs::Permissions::from_mode(0o640)).unwrap();
}

/// The pids of the processes running as `uid`.
fn processes_of(uid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            (e.metadata().ok()?.uid() == uid).then_some(pid)
        })
        .collect()
}
