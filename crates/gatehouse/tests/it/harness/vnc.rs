//! A real VNC desktop (TigerVNC's `Xvnc` with a password, an `xterm` on
//! it) and a desktop client speaking the browser's WebSocket protocol.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::TestGateway;
use super::httpbin::free_port;
use super::terminal::Ws;

const WAIT: Duration = Duration::from_secs(10);

/// A running `Xvnc` on a display of its own, with an `xterm` at its top left.
pub struct Xvnc {
    pub addr: SocketAddr,
    /// Where the test's files go (the xterm's shell writes here).
    pub dir: tempfile::TempDir,
    // Dropped in this order: the xterm, then the server.
    _xterm: Child,
    _server: Child,
}

impl Xvnc {
    /// Starts Xvnc (VncAuth with `password`) and an xterm on it.
    pub async fn start(password: &str) -> Xvnc {
        let dir = tempfile::Builder::new().prefix("ghvnc").tempdir().unwrap();
        let pw = dir.path().join("passwd");
        let mut vncpasswd = Command::new("vncpasswd")
            .arg("-f")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("vncpasswd (Debian tigervnc-tools; run scripts/prerequisites)");
        let mut stdin = vncpasswd.stdin.take().unwrap();
        tokio::io::AsyncWriteExt::write_all(&mut stdin, format!("{password}\n").as_bytes())
            .await
            .unwrap();
        drop(stdin);
        let out = vncpasswd.wait_with_output().await.unwrap();
        std::fs::write(&pw, out.stdout).unwrap();
        // A display nobody holds: Xvnc refuses one whose lock exists, so
        // try others until one starts (tests run in parallel).
        for _ in 0..20 {
            let display = 300 + (rand_u32() % 600);
            if display_held(display) {
                continue;
            }
            let addr = free_port();
            let mut server = Command::new("Xvnc")
                .arg(format!(":{display}"))
                .args(["-rfbport", &addr.port().to_string(), "-localhost"])
                .args(["-SecurityTypes", "VncAuth", "-PasswordFile"])
                .arg(&pw)
                .args(["-AlwaysShared", "-geometry", "800x600", "-depth", "24"])
                // The wrong-password test must not lock the next login out.
                .arg("-UseBlacklist=0")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .expect("Xvnc (Debian tigervnc-standalone-server; run scripts/prerequisites)");
            if !super::listening(addr, &mut server).await {
                continue;
            }
            let xterm = Command::new("xterm")
                .args(["-geometry", "100x30+0+0"])
                .env("DISPLAY", format!(":{display}"))
                .env("SHELL", "/bin/sh")
                // UTF-8 whatever the test's own locale: what the clipboard
                // tests paste and copy is then the same bytes everywhere.
                .env("LC_ALL", "C.UTF-8")
                .current_dir(dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .expect("xterm (Debian xterm; run scripts/prerequisites)");
            return Xvnc {
                addr,
                dir,
                _xterm: xterm,
                _server: server,
            };
        }
        panic!("no free X display for Xvnc");
    }

    /// A path in the test's directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// Enough randomness to spread parallel tests over displays.
fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now()) as u32
}

/// A desktop client as the browser's page is: the WebSocket, the picture
/// it paints from the frames, and the control messages it was sent.
pub struct Desktop {
    pub ws: Ws,
    pub session_id: String,
    pub width: usize,
    pub height: usize,
    /// RGB pixels painted from the frames received so far.
    pub screen: Vec<u8>,
    pub controls: Vec<Value>,
}

/// Opens the desktop WebSocket; `Err` carries the HTTP status of a refused upgrade.
pub async fn connect(gw: &TestGateway, token: &str, connection: &str) -> Result<Ws, u16> {
    connect_at(gw, token, &format!("/connections/{connection}/desktop")).await
}

/// Opens the desktop WebSocket at `path` (with a query, say).
pub async fn connect_at(gw: &TestGateway, token: &str, path: &str) -> Result<Ws, u16> {
    let mut req = gw.ws_url(path).into_client_request().unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    match tokio_tungstenite::connect_async_tls_with_config(req, None, true, gw.ws_connector()).await
    {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => Err(resp.status().as_u16()),
        Err(e) => panic!("websocket connect: {e}"),
    }
}

/// What one message from the gateway was.
pub enum Received {
    Frame,
    Control(Value),
    Closed,
}

impl Desktop {
    /// Closes the tab as its user does, and waits until the session's end
    /// is in history and its recording is complete; returns the session's
    /// id and its history row (seen by `admin`).
    pub async fn close_recorded(self, gw: &TestGateway, admin: &str) -> (String, Value) {
        let id = self.session_id.clone();
        drop(self);
        gw.ended_history(admin, &id).await;
        gw.recordings_complete().await;
        let row = gw.ended_history(admin, &id).await;
        (id, row)
    }

    /// Opens `connection`'s desktop and waits for the session to start.
    pub async fn open(gw: &TestGateway, token: &str, connection: &str) -> Desktop {
        let ws = connect(gw, token, connection)
            .await
            .expect("desktop upgrade");
        Self::attach(ws, "desktop").await
    }

    /// Opens `connection`'s desktop from a tab of `width` x `height`.
    pub async fn open_sized(
        gw: &TestGateway,
        token: &str,
        connection: &str,
        (width, height): (u16, u16),
    ) -> Desktop {
        let path = format!("/connections/{connection}/desktop?width={width}&height={height}");
        let ws = connect_at(gw, token, &path).await.expect("desktop upgrade");
        Self::attach(ws, "desktop").await
    }

    /// Watches desktop session `session` read-only (`sessions.watch`).
    pub async fn watch(gw: &TestGateway, token: &str, session: &str) -> Desktop {
        Self::participate(gw, token, session, "watch").await
    }

    /// Joins desktop session `session`, which its owner shared with the caller.
    pub async fn join(gw: &TestGateway, token: &str, session: &str) -> Desktop {
        Self::participate(gw, token, session, "join").await
    }

    async fn participate(gw: &TestGateway, token: &str, session: &str, how: &str) -> Desktop {
        let mut req = gw
            .ws_url(&format!("/sessions/{session}/desktop/{how}"))
            .into_client_request()
            .unwrap();
        req.headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        let (ws, _) =
            tokio_tungstenite::connect_async_tls_with_config(req, None, true, gw.ws_connector())
                .await
                .expect("participant upgrade");
        let mut watcher = Self::attach(ws, "watching").await;
        watcher.session_id = session.to_owned();
        watcher
    }

    async fn attach(ws: Ws, hello_type: &str) -> Desktop {
        let mut desktop = Desktop {
            ws,
            session_id: String::new(),
            width: 0,
            height: 0,
            screen: Vec::new(),
            controls: Vec::new(),
        };
        let hello = desktop.control().await.expect("a first message");
        assert_eq!(hello["type"], hello_type, "{hello}");
        if let Some(id) = hello["session"].as_str() {
            desktop.session_id = id.to_owned();
        }
        desktop
    }

    /// Reads one message, painting a frame into [`Desktop::screen`].
    pub async fn receive(&mut self) -> Received {
        let msg = tokio::time::timeout(WAIT, self.ws.next())
            .await
            .expect("a message in time");
        match msg {
            Some(Ok(Message::Binary(frame))) => {
                self.paint(&frame);
                Received::Frame
            }
            Some(Ok(Message::Text(text))) => {
                let value: Value = serde_json::from_str(&text).unwrap();
                if value["type"] == "size" {
                    self.width = value["width"].as_u64().unwrap() as usize;
                    self.height = value["height"].as_u64().unwrap() as usize;
                    self.screen = vec![0; self.width * self.height * 3];
                }
                self.controls.push(value.clone());
                Received::Control(value)
            }
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => Received::Closed,
            Some(Ok(_)) => Received::Frame,
        }
    }

    /// The next control message, painting frames on the way; `None` once closed.
    pub async fn control(&mut self) -> Option<Value> {
        loop {
            match self.receive().await {
                Received::Control(value) => return Some(value),
                Received::Closed => return None,
                Received::Frame => {}
            }
        }
    }

    fn paint(&mut self, frame: &[u8]) {
        paint(&mut self.screen, self.width, self.height, frame);
    }

    /// How many pixels of the screen are white (an xterm's background).
    pub fn white_pixels(&self) -> usize {
        white_pixels(&self.screen)
    }

    /// Reads (and paints) until `done` holds for the screen.
    pub async fn until(&mut self, limit: Duration, done: impl Fn(&Desktop) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        while !done(self) {
            match tokio::time::timeout_at(deadline, self.receive()).await {
                Ok(Received::Closed) | Err(_) => return false,
                Ok(_) => {}
            }
        }
        true
    }

    pub async fn send(&mut self, value: Value) {
        self.ws
            .send(Message::Text(value.to_string().into()))
            .await
            .unwrap();
    }

    /// Presses and releases one key (an X11 keysym).
    pub async fn key(&mut self, keysym: u32) {
        self.send(json!({ "type": "key", "keysym": keysym, "down": true }))
            .await;
        self.send(json!({ "type": "key", "keysym": keysym, "down": false }))
            .await;
    }

    /// Types `text` (ASCII: its keysyms are its codes) and Enter.
    pub async fn type_line(&mut self, text: &str) {
        for c in text.chars() {
            self.key(c as u32).await;
        }
        self.key(0xff0d).await;
    }
}

/// Paints one desktop picture (a region header, then a PNG) into an RGB
/// `screen` of `width` x `height` pixels.
pub fn paint(screen: &mut [u8], width: usize, height: usize, frame: &[u8]) {
    let at = |i: usize| usize::from(u16::from_be_bytes([frame[i], frame[i + 1]]));
    let (x, y) = (at(0), at(2));
    let decoder = png::Decoder::new(std::io::Cursor::new(&frame[8..]));
    let mut reader = decoder.read_info().expect("a PNG frame");
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).expect("a PNG frame");
    let (w, h) = (info.width as usize, info.height as usize);
    assert!(x + w <= width && y + h <= height, "frame inside the screen");
    for row in 0..h {
        let dst = ((y + row) * width + x) * 3;
        screen[dst..dst + w * 3].copy_from_slice(&buf[row * w * 3..(row + 1) * w * 3]);
    }
}

/// How many pixels of an RGB screen are white (an xterm's background).
pub fn white_pixels(screen: &[u8]) -> usize {
    screen
        .chunks_exact(3)
        .filter(|px| px.iter().all(|c| *c > 240))
        .count()
}

/// Whether an X server holds `display`: its lock file names a process that
/// is alive. A server killed with its test (the harness kills on drop)
/// leaves its lock behind, and Xvnc itself replaces a lock whose process is
/// gone, so such a display is free; counting it as held would use up the
/// displays of a machine that has run the tests many times.
fn display_held(display: u32) -> bool {
    match std::fs::read_to_string(format!("/tmp/.X{display}-lock")) {
        Err(e) => e.kind() != std::io::ErrorKind::NotFound,
        Ok(pid) => match pid.trim().parse::<u32>() {
            Ok(pid) => std::path::Path::new(&format!("/proc/{pid}")).exists(),
            Err(_) => true,
        },
    }
}
