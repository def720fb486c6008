//! Reaching a VNC connection's target: dial, authenticate with the stored
//! password (the user never learns it), and start the RFB client; then
//! the RFB side of a desktop session ([`VncDesktop`]): paint what the
//! server sends into the framebuffer, ask it for updates, and pass input.

use std::time::Duration;

use gatehouse_access::TargetSpec;
use gatehouse_connect::{OpenError, Opener, Requester, action};
use secrecy::ExposeSecret;
use tokio::net::TcpStream;
use tokio::time::Instant;
use vnc::{PixelFormat, VncClient, VncConnector, VncEncoding, VncError, VncEvent, X11Event};

use crate::framebuffer::{Framebuffer, Region};
use crate::remote::{Event, Input};

/// Dials the VNC target of `spec` and logs in with its stored password;
/// a failure is audited and comes back as the error the client is told.
pub(crate) async fn dial(
    opener: &Opener,
    who: Requester<'_>,
    spec: &TargetSpec,
) -> Result<VncClient, OpenError> {
    let fail = |code: &'static str, message: String| async move {
        opener
            .failed(who, spec, action::SESSION_FAILED, code, message)
            .await
    };
    let Some(addr) = spec.connection.target.vnc().and_then(|t| t.addr().ok()) else {
        return Err(fail("bad_target", "the connection has no VNC target".into()).await);
    };
    let Some(password) = spec.secret.clone() else {
        return Err(fail("bad_target", "the connection has no VNC password".into()).await);
    };
    let timeout = opener.settings().connect_timeout;
    let attempt = async {
        let tcp = match tokio::time::timeout(timeout, TcpStream::connect(addr.to_string())).await {
            Ok(Ok(tcp)) => tcp,
            Ok(Err(e)) => {
                return Err(("target_unreachable", format!("cannot reach {addr}: {e}")));
            }
            Err(_) => {
                return Err((
                    "target_timeout",
                    format!("{addr} did not answer within {timeout:?}"),
                ));
            }
        };
        let _ = tcp.set_nodelay(true);
        let login = async {
            VncConnector::new(tcp)
                .set_auth_method(async move { Ok(password.expose_secret().to_owned()) })
                // ZRLE compresses a desktop well; CopyRect moves windows and
                // scrolls for free. Tight is left out: its JPEG sub-encoding
                // would arrive as pictures the framebuffer cannot paint.
                .add_encoding(VncEncoding::Zrle)
                .add_encoding(VncEncoding::CopyRect)
                .add_encoding(VncEncoding::Raw)
                .add_encoding(VncEncoding::DesktopSizePseudo)
                // Shared: another viewer of the same desktop is not thrown off.
                .allow_shared(true)
                .set_pixel_format(PixelFormat::rgba())
                .build()?
                .try_start()
                .await?
                .finish()
        };
        match tokio::time::timeout(timeout, login).await {
            Ok(Ok(client)) => Ok(client),
            Ok(Err(e)) => Err(classify(&e)),
            Err(_) => Err((
                "target_timeout",
                format!("{addr} did not finish the VNC handshake within {timeout:?}"),
            )),
        }
    };
    let result = tokio::select! {
        r = attempt => r,
        _ = opener.shutdown().cancelled() => return Err(OpenError::ShuttingDown),
    };
    match result {
        Ok(client) => Ok(client),
        Err((code, message)) => Err(fail(code, message).await),
    }
}

/// A stable code and a message for a failed VNC login.
fn classify(error: &VncError) -> (&'static str, String) {
    match error {
        VncError::WrongPassword => (
            "target_auth_failed",
            "the VNC server refused the stored password".into(),
        ),
        // RFB 3.8 servers say why in words ("Authentication failure").
        VncError::General(why) if why.to_lowercase().contains("auth") => (
            "target_auth_failed",
            format!("the VNC server refused the stored password: {why}"),
        ),
        VncError::General(why) => ("target_error", format!("the VNC server refused: {why}")),
        other => ("target_error", format!("VNC handshake failed: {other}")),
    }
}

/// How often the gateway asks the target for changes after it last sent
/// some: at most 30 updates a second reach the browser, and an idle
/// desktop costs one small request a second.
pub(crate) const UPDATE_INTERVAL: Duration = Duration::from_millis(33);
/// The longest the gateway waits before asking again when nothing changed.
pub(crate) const IDLE_REQUEST: Duration = Duration::from_secs(1);

/// A logged-in RFB session and whether it owes us an update.
pub(crate) struct VncDesktop {
    client: VncClient,
    /// Whether an update request is outstanding at the target.
    awaiting: bool,
    last_request: Instant,
}

impl VncDesktop {
    pub(crate) fn new(client: VncClient) -> Self {
        VncDesktop {
            client,
            awaiting: true,
            last_request: Instant::now(),
        }
    }

    /// The next event from the server, painted into `fb`.
    pub(crate) async fn recv(&mut self, fb: &mut Framebuffer) -> Result<Event, String> {
        let event = self.client.recv_event().await.map_err(|e| e.to_string())?;
        Ok(match event {
            VncEvent::SetResolution(screen) => {
                *fb = Framebuffer::new(screen.width, screen.height);
                Event::Resized
            }
            VncEvent::RawImage(rect, data) => {
                self.awaiting = false;
                fb.paint(region(rect), &data);
                Event::Painted
            }
            VncEvent::Copy(dst, src) => {
                self.awaiting = false;
                fb.copy(region(dst), region(src));
                Event::Painted
            }
            VncEvent::UpdateEnd => Event::UpdateEnd,
            VncEvent::Text(text) => Event::Clipboard(text),
            VncEvent::Error(e) => return Err(e),
            // Not asked for (JPEG, cursor shapes, layouts) or nothing to show (bell).
            _ => Event::Nothing,
        })
    }

    /// Asks for changes when none are asked for (or nothing came for a while).
    pub(crate) async fn tick(&mut self) -> Result<(), String> {
        if !self.awaiting || self.last_request.elapsed() >= IDLE_REQUEST {
            self.request(X11Event::Refresh).await?;
        }
        Ok(())
    }

    async fn request(&mut self, event: X11Event) -> Result<(), String> {
        self.awaiting = true;
        self.last_request = Instant::now();
        self.client.input(event).await.map_err(|e| e.to_string())
    }

    /// Passes the browser's input, then asks for the change it makes.
    pub(crate) async fn input(&mut self, input: Input) -> Result<(), String> {
        let event = match input {
            Input::Key { keysym, down } => X11Event::KeyEvent((keysym, down).into()),
            Input::Pointer { x, y, buttons } => X11Event::PointerEvent((x, y, buttons).into()),
            // RFB cut text is Latin-1: what it cannot carry is dropped.
            Input::Clipboard(text) => {
                X11Event::CopyText(text.chars().filter(|c| (*c as u32) < 256).collect())
            }
            Input::Refresh => return self.request(X11Event::FullRefresh).await,
        };
        self.client.input(event).await.map_err(|e| e.to_string())?;
        if !self.awaiting {
            // Ask for the change this input makes before the next tick.
            self.request(X11Event::Refresh).await?;
        }
        Ok(())
    }

    /// Closes the connection to the server.
    pub(crate) async fn close(self) {
        let _ = self.client.close().await;
    }
}

fn region(r: vnc::Rect) -> Region {
    Region {
        x: r.x,
        y: r.y,
        width: r.width,
        height: r.height,
    }
}
