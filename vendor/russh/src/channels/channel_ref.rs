use tokio::sync::mpsc::error::TrySendError;

use crate::boxed_mpsc::Sender;

use super::WindowSizeRef;
use crate::ChannelMsg;

/// A handle to the [`super::Channel`]'s to be able to transmit messages
/// to it and update it's `window_size`.
#[derive(Clone, Debug)]
pub struct ChannelRef {
    pub(super) sender: Sender<ChannelMsg>,
    pub(super) window_size: WindowSizeRef,
}

impl ChannelRef {
    pub fn new(sender: Sender<ChannelMsg>) -> Self {
        Self {
            sender,
            window_size: WindowSizeRef::new(0),
        }
    }

    pub(crate) fn window_size(&self) -> &WindowSizeRef {
        &self.window_size
    }

    /// Queues incoming data for the channel's reader, waiting only when
    /// the queue is full (Gatehouse patch: the session's read loop must
    /// not stop for one channel; the window bounds what the queue holds,
    /// see [`super::queue_capacity`]). False when the reader is gone.
    pub(crate) async fn deliver(&self, msg: ChannelMsg) -> bool {
        match self.sender.try_send(msg) {
            Ok(()) => true,
            Err(TrySendError::Full(msg)) => self.sender.send(msg).await.is_ok(),
            Err(TrySendError::Closed(_)) => false,
        }
    }
}

impl std::ops::Deref for ChannelRef {
    type Target = Sender<ChannelMsg>;

    fn deref(&self) -> &Self::Target {
        &self.sender
    }
}
