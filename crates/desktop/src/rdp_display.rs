//! An RDP desktop that takes the tab's size: the session starts at the
//! size the tab asked for, and when the tab resizes, the new size goes to
//! the server as a monitor layout over the Display Control dynamic channel
//! (MS-RDPEDISP, `ironrdp-displaycontrol`), when the server opened it.
//! The server answers with a Deactivation-Reactivation Sequence at the new
//! size (MS-RDPBCGR 1.3.1.3), which this module runs to its end with
//! IronRDP's activation sequence, one frame per call so the session loop
//! stays cancel-safe; the session then takes the new size. A server
//! without the channel keeps its size, and the tab scales the picture.
//!
//! A size is asked only once the desktop has shown itself for [`SETTLE`]:
//! xrdp 0.9 hangs up on a resize that comes while its display is still
//! starting ("Can't attach to shared memory"), which a browser tab resized
//! just after opening did about one time in ten. A size wanted earlier is
//! sent at the first tick after.

use ironrdp_connector::DesktopSize;
use ironrdp_connector::Sequence;
use ironrdp_connector::connection_activation::{
    ConnectionActivationFactory, ConnectionActivationSequence, ConnectionActivationState,
};
use ironrdp_core::WriteBuf;
use ironrdp_displaycontrol::client::DisplayControlClient;
use ironrdp_displaycontrol::pdu::MonitorLayoutEntry;
use ironrdp_dvc::DrdynvcClient;
use ironrdp_pdu::Action;
use ironrdp_session::ActiveStage;
use ironrdp_tokio::FramedRead;
use ironrdp_tokio::bytes::BytesMut;
use tokio::time::{Duration, Instant};

/// How long the desktop shows itself before a new size is asked.
const SETTLE: Duration = Duration::from_secs(1);

/// The dynamic-channel client with the Display Control channel in it.
pub(crate) fn channel() -> DrdynvcClient {
    DrdynvcClient::new().with_dynamic_channel(DisplayControlClient::new(|_| Ok(Vec::new())))
}

/// `(width, height)` from the tab as a size RDP accepts: 200 to 8192
/// pixels each way, an even width (MS-RDPEDISP 2.2.2.2.1).
pub(crate) fn fit(width: u16, height: u16) -> (u16, u16) {
    let (w, h) = MonitorLayoutEntry::adjust_display_size(u32::from(width), u32::from(height));
    (
        u16::try_from(w).unwrap_or(8192),
        u16::try_from(h).unwrap_or(8192),
    )
}

/// The desktop's size as the server set it after a reactivation, and what
/// it allows for a repaint.
pub(crate) struct Activated {
    pub(crate) size: DesktopSize,
    pub(crate) refresh_rect: bool,
    pub(crate) suppress_output: bool,
}

/// What one step of a reactivation did.
pub(crate) enum Step {
    /// More frames are needed.
    Pending,
    /// A frame for a virtual channel (the clipboard, dynamic channels),
    /// which the server may send in the middle: for the session to process.
    Channel(Action, BytesMut),
    /// The desktop is active again, at this size.
    Done(Activated),
}

/// The display's state across the session.
pub(crate) struct Display {
    factory: ConnectionActivationFactory,
    reactivating: Option<ConnectionActivationSequence>,
    /// The size the tab last asked for, and whether it was sent.
    wanted: Option<(u16, u16)>,
    sent: Option<(u16, u16)>,
    /// When the server first painted since the session (or its last
    /// reactivation) started.
    shown: Option<Instant>,
    buf: WriteBuf,
}

impl Display {
    pub(crate) fn new(factory: ConnectionActivationFactory, size: (u16, u16)) -> Self {
        Display {
            factory,
            reactivating: None,
            wanted: None,
            sent: Some(size),
            shown: None,
            buf: WriteBuf::new(),
        }
    }

    /// Whether the server is re-activating the session (input waits).
    pub(crate) fn reactivating(&self) -> bool {
        self.reactivating.is_some()
    }

    /// The server deactivated the session: a reactivation follows.
    pub(crate) fn deactivated(&mut self) {
        self.reactivating = Some(self.factory.create());
        self.shown = None;
    }

    /// The server painted: the display is up (see [`SETTLE`]).
    pub(crate) fn painted(&mut self) {
        self.shown.get_or_insert_with(Instant::now);
    }

    /// Reads and answers one frame of the reactivation; its answer goes to
    /// `out`. Cancel-safe: the frame is read whole (the framing buffers a
    /// partial one) before the sequence steps. Graphics of the old size
    /// that arrive meanwhile (fast-path) are dropped; the new picture is
    /// painted whole after.
    pub(crate) async fn step<S: FramedRead>(
        &mut self,
        framed: &mut ironrdp_tokio::Framed<S>,
        stage: &mut ActiveStage,
        out: &mut BytesMut,
    ) -> Result<Step, String> {
        let Some(sequence) = self.reactivating.as_mut() else {
            return Ok(Step::Pending);
        };
        self.buf.clear();
        let stepped = if sequence.next_pdu_hint().is_some() {
            let (action, frame) = framed
                .read_pdu()
                .await
                .map_err(|e| format!("reactivating the display: {e}"))?;
            if matches!(action, Action::FastPath) {
                return Ok(Step::Pending);
            }
            let io = sequence.io_channel_id();
            let on_io = ironrdp_pdu::mcs::decode_send_data_indication(&frame)
                .map_or(true, |data| data.channel_id == io);
            if !on_io {
                return Ok(Step::Channel(action, frame));
            }
            sequence.step(&frame, framed.last_read_at(), &mut self.buf)
        } else {
            sequence.step(&[], None, &mut self.buf)
        };
        stepped.map_err(|e| format!("reactivating the display: {e}"))?;
        out.extend_from_slice(self.buf.filled());
        self.buf.clear();
        let finished = match sequence.connection_activation_state() {
            ConnectionActivationState::Finalized {
                desktop_size,
                share_id,
                static_channel_chunk_size,
                enable_server_pointer,
                pointer_software_rendering,
                refresh_rect_support,
                suppress_output_support,
                ..
            } => {
                let reactivated = stage.reactivate(
                    sequence.io_channel_id(),
                    sequence.user_channel_id(),
                    share_id,
                    enable_server_pointer,
                    pointer_software_rendering,
                    static_channel_chunk_size,
                );
                if !reactivated {
                    return Err(
                        "the server reactivated the display with a bad channel chunk size".into(),
                    );
                }
                Activated {
                    size: desktop_size,
                    refresh_rect: refresh_rect_support,
                    suppress_output: suppress_output_support,
                }
            }
            ConnectionActivationState::Redirected { .. } => {
                return Err(
                    "the RDP server redirected the session elsewhere (not supported)".into(),
                );
            }
            _ => return Ok(Step::Pending),
        };
        // `sent` stays the size asked for: a server that grants another
        // one is not asked again and again.
        self.reactivating = None;
        Ok(Step::Done(finished))
    }

    /// The tab is `width` x `height` now: noted, and sent once the channel
    /// can take it ([`Display::send_wanted`]).
    pub(crate) fn want(&mut self, width: u16, height: u16) {
        self.wanted = Some(fit(width, height));
    }

    /// The monitor layout for the size last wanted, when it differs from
    /// the one last sent and the server's Display Control channel is open.
    pub(crate) fn send_wanted(&mut self, stage: &mut ActiveStage) -> Result<Vec<u8>, String> {
        let Some(wanted) = self.wanted.filter(|w| Some(*w) != self.sent) else {
            return Ok(Vec::new());
        };
        let settled = self.shown.is_some_and(|at| at.elapsed() >= SETTLE);
        if !settled || self.reactivating() || stage.display_control_ready() != Some(true) {
            return Ok(Vec::new());
        }
        let (width, height) = (u32::from(wanted.0), u32::from(wanted.1));
        match stage.encode_resize(width, height, None, None) {
            Some(Ok(frame)) => {
                tracing::debug!(width, height, "asking the RDP server for a new size");
                self.sent = Some(wanted);
                Ok(frame)
            }
            Some(Err(e)) => Err(format!("the display control channel: {e}")),
            None => Ok(Vec::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fit;

    #[test]
    fn a_tab_size_is_fitted_to_what_rdp_accepts() {
        assert_eq!(fit(1001, 700), (1000, 700));
        assert_eq!(fit(50, 9000), (200, 8192));
        assert_eq!(fit(1920, 1080), (1920, 1080));
    }
}
