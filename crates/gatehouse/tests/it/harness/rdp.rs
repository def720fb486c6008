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
    _display: Display,
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
        for _ in 0..5 {
            let Some(screen) = Display::try_start().await else {
                continue;
            };
            let display = screen.number;
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
                _display: screen,
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

/// An X display of its own (`Xvfb`, 1024×768, its screen kept in a file),
/// e.g. for a native RDP client's window; stopped when dropped.
pub struct Display {
    pub number: u32,
    /// Killed when dropped.
    _xvfb: Child,
    /// Where Xvfb keeps its screen as an XWD image (`-fbdir`).
    fbdir: tempfile::TempDir,
}

impl Display {
    /// Starts one, retrying on a lost race for a display number.
    pub async fn start() -> Display {
        for _ in 0..5 {
            if let Some(display) = Display::try_start().await {
                return display;
            }
        }
        panic!("no free X display");
    }

    /// Xvfb picks a display nobody holds and says which (-displayfd):
    /// tests run in parallel, and /tmp keeps other runs' lock files.
    async fn try_start() -> Option<Display> {
        let fbdir = tempfile::Builder::new().prefix("ghxvfb").tempdir().unwrap();
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
            .arg("-fbdir")
            .arg(fbdir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("Xvfb (Debian xvfb; run scripts/prerequisites)");
        let number = display_of(&mut xvfb).await?;
        Some(Display {
            number,
            _xvfb: xvfb,
            fbdir,
        })
    }

    /// The share of the screen's pixels that are white or nearly (each
    /// colour ≥ 240: a lossy codec's white), read from Xvfb's XWD file:
    /// its header's fields are big-endian 32-bit words, the pixels 32 bits
    /// each after the header and its colour map (12 bytes an entry).
    pub fn white_share(&self) -> f64 {
        let xwd = std::fs::read(self.fbdir.path().join("Xvfb_screen0")).unwrap();
        let word =
            |i: usize| u32::from_be_bytes(xwd[i * 4..i * 4 + 4].try_into().unwrap()) as usize;
        let (header, width, height, bpp, colours) = (word(0), word(4), word(5), word(11), word(19));
        assert_eq!(bpp, 32, "a 24-bit Xvfb screen keeps 32 bits a pixel");
        let pixels = &xwd[header + colours * 12..][..width * height * 4];
        let white = pixels
            .chunks_exact(4)
            .filter(|p| p.iter().filter(|b| **b >= 240).count() >= 3)
            .count();
        white as f64 / (width * height) as f64
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
