//! A real RDP desktop: FreeRDP's shadow server (`freerdp-shadow-cli`) over
//! an `Xvfb` display running an `xterm`, which logs clients in over NLA
//! with an NTLM SAM file of one account (made by `winpr-hash`). Its TLS
//! certificate is made at start in the test's own home directory, so each
//! server has a certificate of its own.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use super::httpbin::free_port;

/// A running shadow server on a display of its own, with an xterm at its top left.
pub struct RdpServer {
    pub addr: SocketAddr,
    /// Where the test's files go (the xterm's shell writes here).
    pub dir: tempfile::TempDir,
    // Dropped in this order: the RDP server, the xterm, then the display.
    _server: Child,
    _xterm: Child,
    _display: Child,
}

impl RdpServer {
    /// Starts Xvfb, an xterm on it, and the shadow server requiring NLA as
    /// `username` with `password`.
    pub async fn start(username: &str, password: &str) -> RdpServer {
        let dir = tempfile::Builder::new().prefix("ghrdp").tempdir().unwrap();
        let sam = dir.path().join("sam");
        let hash = Command::new("winpr-hash")
            .args(["-u", username, "-p", password, "-f", "sam"])
            .output()
            .await
            .expect("winpr-hash (Debian winpr-utils; run scripts/prerequisites)");
        assert!(hash.status.success(), "winpr-hash failed");
        std::fs::write(&sam, hash.stdout).unwrap();
        // Xvfb picks a display nobody holds and says which (-displayfd):
        // tests run in parallel, and /tmp keeps other runs' lock files.
        for _ in 0..5 {
            let mut xvfb = Command::new("Xvfb")
                .args([
                    "-displayfd",
                    "1",
                    "-screen",
                    "0",
                    "1024x768x24",
                    "-nolisten",
                    "tcp",
                ])
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .expect("Xvfb (Debian xvfb; run scripts/prerequisites)");
            let Some(display) = display_of(&mut xvfb).await else {
                continue;
            };
            let xterm = Command::new("xterm")
                .args(["-geometry", "100x30+0+0"])
                .env("DISPLAY", format!(":{display}"))
                .env("SHELL", "/bin/sh")
                .current_dir(dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .expect("xterm (Debian xterm; run scripts/prerequisites)");
            let addr = free_port();
            let log = std::fs::File::create(dir.path().join("shadow.log")).unwrap();
            let mut server = Command::new("freerdp-shadow-cli")
                .arg(format!("/port:{}", addr.port()))
                .arg("/bind-address:127.0.0.1")
                .arg(format!("/sam-file:{}", sam.display()))
                .args(["+auth", "/sec:nla"])
                .env("DISPLAY", format!(":{display}"))
                // Its certificate and key are made under $HOME/.config/freerdp.
                .env("HOME", dir.path())
                .env(
                    "WLOG_LEVEL",
                    std::env::var("RDP_WLOG_LEVEL").unwrap_or_else(|_| "WARN".into()),
                )
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .kill_on_drop(true)
                .spawn()
                .expect(
                    "freerdp-shadow-cli (Debian freerdp2-shadow-x11; run scripts/prerequisites)",
                );
            if !super::listening(addr, &mut server).await {
                continue;
            }
            return RdpServer {
                addr,
                dir,
                _server: server,
                _xterm: xterm,
                _display: xvfb,
            };
        }
        panic!("no free X display for the RDP server");
    }

    /// A path in the test's directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// What the server logged so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path("shadow.log")).unwrap_or_default()
    }
}

/// The display Xvfb took, once it is ready (it writes the number when it
/// accepts connections); `None` if it exited first.
async fn display_of(xvfb: &mut Child) -> Option<u32> {
    use tokio::io::AsyncBufReadExt;
    let stdout = xvfb.stdout.take()?;
    let mut line = String::new();
    let mut stdout = tokio::io::BufReader::new(stdout);
    let read = stdout.read_line(&mut line);
    match tokio::time::timeout(Duration::from_secs(10), read).await {
        Ok(Ok(n)) if n > 0 => line.trim().parse().ok(),
        _ => None,
    }
}
