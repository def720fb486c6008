//! The remote desktop a session loop talks to, whatever its protocol (VNC,
//! `vnc.rs`, so far). Each paints what its server sends into the
//! relay's framebuffer and says what happened ([`Event`]); each takes the
//! browser's input ([`Input`]). The relay knows no protocol.

use gatehouse_access::TargetSpec;
use gatehouse_connect::{OpenError, Opener, Requester};

use crate::framebuffer::Framebuffer;
use crate::vnc::VncDesktop;

/// What the remote desktop did to the framebuffer, or sent.
pub(crate) enum Event {
    /// The screen has a new size: the framebuffer was replaced.
    Resized,
    /// Pixels were painted; they are marked dirty in the framebuffer.
    Painted,
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
}

impl Remote {
    /// Dials `spec`'s desktop and logs in; failures are audited.
    pub(crate) async fn dial(
        opener: &Opener,
        who: Requester<'_>,
        spec: &TargetSpec,
    ) -> Result<Remote, OpenError> {
        let client = crate::vnc::dial(opener, who, spec).await?;
        Ok(Remote::Vnc(Box::new(VncDesktop::new(client))))
    }

    /// Whether text can cross the desktop's clipboard at all.
    pub(crate) fn has_clipboard(&self) -> bool {
        matches!(self, Remote::Vnc(_))
    }

    /// The next thing the desktop does; `Err` says why it closed. Cancel-safe.
    pub(crate) async fn recv(&mut self, fb: &mut Framebuffer) -> Result<Event, String> {
        match self {
            Remote::Vnc(vnc) => vnc.recv(fb).await,
        }
    }

    /// Called at every frame tick, after the changes were sent: VNC asks
    /// its server for more.
    pub(crate) async fn tick(&mut self) -> Result<(), String> {
        match self {
            Remote::Vnc(vnc) => vnc.tick().await,
        }
    }

    /// Passes the browser's input to the desktop.
    pub(crate) async fn input(&mut self, input: Input) -> Result<(), String> {
        match self {
            Remote::Vnc(vnc) => vnc.input(input).await,
        }
    }

    /// Closes the connection to the desktop.
    pub(crate) async fn close(self) {
        match self {
            Remote::Vnc(vnc) => vnc.close().await,
        }
    }
}
