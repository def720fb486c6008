//! Watching a live session read-only: the current screen first, then every
//! change; a watcher that falls behind is repainted from the screen instead
//! of buffering without bound.

use std::sync::Arc;

use bytes::Bytes;
use gatehouse_domain::SessionId;
use tokio::sync::broadcast::{self, error::RecvError};
use uuid::Uuid;

use crate::EndRequest;
use crate::entry::Entry;
use crate::registry::Inner;

/// What a watcher sees next.
#[derive(Debug)]
pub enum WatchEvent {
    /// New output, in order.
    Output(Bytes),
    /// The watcher fell behind: clear and paint this screen, then go on.
    Repaint {
        /// Output that paints the current screen.
        screen: Vec<u8>,
        /// The session's terminal width.
        cols: u16,
        /// The session's terminal height.
        rows: u16,
    },
    /// The session ended.
    Ended(EndRequest),
}

/// A read-only participant in a live session. Dropping it leaves the session.
pub struct Watcher {
    entry: Arc<Entry>,
    registry: Arc<Inner>,
    participant: Uuid,
    output: broadcast::Receiver<Bytes>,
    /// The screen as it was when the watcher joined (paint it first).
    pub screen: Vec<u8>,
    /// The session's terminal width when the watcher joined.
    pub cols: u16,
    /// The session's terminal height when the watcher joined.
    pub rows: u16,
}

impl Watcher {
    pub(crate) fn join(entry: Arc<Entry>, registry: Arc<Inner>, participant: Uuid) -> Self {
        let (screen, cols, rows, output) = Self::snapshot(&entry);
        Self {
            entry,
            registry,
            participant,
            output,
            screen,
            cols,
            rows,
        }
    }

    /// The screen and a fresh subscription, taken together under the lock
    /// that output is recorded under.
    fn snapshot(entry: &Entry) -> (Vec<u8>, u16, u16, broadcast::Receiver<Bytes>) {
        let screen = entry.screen.lock().unwrap_or_else(|e| e.into_inner());
        (
            screen.replay(),
            screen.cols,
            screen.rows,
            entry.output.subscribe(),
        )
    }

    /// The watched session.
    pub fn session(&self) -> SessionId {
        self.entry.id
    }

    /// This watcher's participant id.
    pub fn participant_id(&self) -> Uuid {
        self.participant
    }

    /// The owner's username.
    pub fn owner(&self) -> &str {
        &self.entry.user
    }

    /// The next thing to show. Cancel-safe.
    pub async fn next(&mut self) -> WatchEvent {
        tokio::select! {
            biased;
            _ = self.entry.cancel.cancelled() => WatchEvent::Ended(self.end_request()),
            got = self.output.recv() => match got {
                Ok(data) => WatchEvent::Output(data),
                Err(RecvError::Lagged(_)) => {
                    let (screen, cols, rows, output) = Self::snapshot(&self.entry);
                    self.output = output;
                    WatchEvent::Repaint { screen, cols, rows }
                }
                // The sender lives as long as the session's entry.
                Err(RecvError::Closed) => WatchEvent::Ended(self.end_request()),
            },
        }
    }

    fn end_request(&self) -> EndRequest {
        self.entry
            .end
            .get()
            .cloned()
            .unwrap_or_else(|| EndRequest::because(gatehouse_domain::EndReason::Error))
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let id = self.participant;
        self.entry
            .participants
            .send_modify(|p| p.retain(|x| x.id != id));
        self.registry.publish_updated(&self.entry);
    }
}
