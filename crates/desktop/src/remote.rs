//! The remote desktop a session loop talks to, whatever its protocol: VNC
//! (`vnc.rs`) or RDP (`rdp.rs`). Each paints what its server sends into the
//! relay's framebuffer and says what happened ([`Event`]); each takes the
//! browser's input ([`Input`]). The relay knows no protocol.

use gatehouse_access::TargetSpec;
use gatehouse_connect::{OpenError, Opener, Requester};
use gatehouse_domain::Protocol;

use crate::framebuffer::Framebuffer;
use crate::rdp::{self, RdpDesktop};
use crate::vnc::VncDesktop;

/// What the remote desktop did to the framebuffer, or sent.
pub(crate) enum Event {
    /// The screen has a new size: the framebuffer was replaced (and, for
    /// RDP, painted whole).
    Resized,
    /// Pixels were painted; they are marked dirty in the framebuffer.
    Painted,
    /// One whole update from the server was painted (VNC answers each
    /// request with one): it can be shown now rather than at the next tick.
    UpdateEnd,
    /// Text the desktop copied to its clipboard.
    Clipboard(String),
    /// Nothing the browser sees.
    Nothing,
}

/// The browser's input, for the desktop.
pub(crate) enum Input {
    /// A key pressed or released, as an X11 keysym.
    Key { keysym: u32, down: bool },
    /// The pointer, with the RFB button mask.
    Pointer { x: u16, y: u16, buttons: u8 },
    /// Text for the desktop's clipboard.
    Clipboard(String),
    /// Send the whole screen again.
    Refresh,
}

/// A logged-in remote desktop.
pub(crate) enum Remote {
    Vnc(Box<VncDesktop>),
    Rdp {
        desktop: Box<RdpDesktop>,
        /// Whether the relay was told the screen's size yet.
        sized: bool,
    },
}

impl Remote {
    /// Dials `spec`'s desktop and logs in; failures are audited. RDP
    /// asks for the tab's `size` when it is known (VNC's is the server's).
    pub(crate) async fn dial(
        opener: &Opener,
        who: Requester<'_>,
        spec: &TargetSpec,
        size: Option<(u16, u16)>,
    ) -> Result<Remote, OpenError> {
        if spec.connection.protocol() == Protocol::Rdp {
            let desktop = rdp::dial(opener, who, spec, size).await?;
            return Ok(Remote::Rdp {
                desktop: Box::new(desktop),
                sized: false,
            });
        }
        let client = crate::vnc::dial(opener, who, spec).await?;
        Ok(Remote::Vnc(Box::new(VncDesktop::new(client))))
    }

    /// Whether text can cross the desktop's clipboard at all (RDP offers
    /// its clipboard channel only when a direction is allowed).
    pub(crate) fn has_clipboard(&self) -> bool {
        match self {
            Remote::Vnc(_) => true,
            Remote::Rdp { desktop, .. } => desktop.has_clipboard(),
        }
    }

    /// What is known of the desktop's own clipboard: `Some(true)` when
    /// text can cross now (VNC's is part of the protocol), `Some(false)`
    /// when its server is known to offer none, `None` while not yet known
    /// (an RDP server brings its clipboard channel up after the log-on, or
    /// never) or never asked (both directions switched off).
    pub(crate) fn clipboard_ready(&self) -> Option<bool> {
        match self {
            Remote::Vnc(_) => Some(true),
            Remote::Rdp { desktop, .. } => desktop.clipboard_ready(),
        }
    }

    /// Whether text crosses as Unicode (RDP), rather than RFB's Latin-1.
    pub(crate) fn unicode_clipboard(&self) -> bool {
        matches!(self, Remote::Rdp { .. })
    }

    /// The tab is `width` x `height` now: RDP asks its server for that
    /// size (when the server takes it); VNC keeps its size and the tab
    /// scales it.
    pub(crate) async fn resize(&mut self, width: u16, height: u16) -> Result<(), String> {
        match self {
            Remote::Vnc(_) => Ok(()),
            Remote::Rdp { desktop, .. } => desktop.resize(width, height).await,
        }
    }

    /// The next thing the desktop does; `Err` says why it closed. Cancel-safe.
    pub(crate) async fn recv(&mut self, fb: &mut Framebuffer) -> Result<Event, String> {
        match self {
            Remote::Vnc(vnc) => vnc.recv(fb).await,
            Remote::Rdp { desktop, sized } => {
                if !*sized {
                    *sized = true;
                    let (width, height) = desktop.size();
                    *fb = Framebuffer::new(width, height);
                    desktop.paint_all(fb);
                    return Ok(Event::Resized);
                }
                match desktop.recv(fb).await? {
                    rdp::Change::None => Ok(Event::Nothing),
                    rdp::Change::Painted => Ok(Event::Painted),
                    rdp::Change::Resized => {
                        let (width, height) = desktop.size();
                        *fb = Framebuffer::new(width, height);
                        desktop.paint_all(fb);
                        Ok(Event::Resized)
                    }
                    rdp::Change::Clipboard(text) => Ok(Event::Clipboard(text)),
                    rdp::Change::Closed(why) => Err(why),
                }
            }
        }
    }

    /// Called at every frame tick, after the changes were sent: VNC asks
    /// its server for more (RDP servers push theirs; RDP sends a size the
    /// tab asked for when the server can take it).
    pub(crate) async fn tick(&mut self) -> Result<(), String> {
        match self {
            Remote::Vnc(vnc) => vnc.tick().await,
            Remote::Rdp { desktop, .. } => desktop.tick().await,
        }
    }

    /// Passes the browser's input to the desktop.
    pub(crate) async fn input(&mut self, input: Input) -> Result<(), String> {
        match self {
            Remote::Vnc(vnc) => vnc.input(input).await,
            Remote::Rdp { desktop, .. } => match input {
                Input::Key { keysym, down } => desktop.key(keysym, down).await,
                Input::Pointer { x, y, buttons } => desktop.pointer(x, y, buttons).await,
                Input::Clipboard(text) => desktop.paste(text).await,
                Input::Refresh => desktop.refresh().await,
            },
        }
    }

    /// Closes the connection to the desktop.
    pub(crate) async fn close(self) {
        match self {
            Remote::Vnc(vnc) => vnc.close().await,
            Remote::Rdp { desktop, .. } => desktop.close().await,
        }
    }
}
