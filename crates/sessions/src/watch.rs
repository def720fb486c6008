//! Watching a live session read-only: the current screen first, then every
//! change; a watcher that falls behind is repainted from the screen instead
//! of buffering without bound.

use std::sync::Arc;

use bytes::Bytes;
use gatehouse_domain::SessionId;
use tokio::sync::broadcast::{self, error::RecvError};
use uuid::Uuid;

use crate::entry::{Entry, Removal};
use crate::locks::lock;
use crate::shared::Inner;
use crate::{EndRequest, ParticipantMode};

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
    /// This participant was removed from the session, which goes on.
    Removed {
        /// Who removed them.
        by: String,
    },
}

/// What became of a participant's input (see [`Watcher::input`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    /// Queued for the session's target.
    Accepted,
    /// Dropped: the participant is an observer, or there was nothing.
    Ignored,
    /// Dropped: the session is ending ([`Watcher::next`] says why).
    Ended,
    /// Dropped: the participant was removed ([`Watcher::next`] says by whom).
    Removed,
}

/// A participant's keyboard, and their end and removal signals (see
/// [`Watcher::typist`]), usable while [`Watcher::next`] is awaited.
pub struct Typist {
    entry: Arc<Entry>,
    mode: ParticipantMode,
    removal: Removal,
}

impl Typist {
    /// Resolves once the session is ending or this participant was removed
    /// ([`Watcher::next`] says which): whatever the participant's front end
    /// is waiting on meanwhile, it should stop.
    pub async fn gone(&self) {
        tokio::select! {
            _ = self.entry.cancel.cancelled() => {}
            _ = self.removal.signal.cancelled() => {}
        }
    }

    /// Passes an interactive participant's keystrokes to the session (its
    /// front end writes them to the target). An observer's input, and empty
    /// input, is [`Input::Ignored`].
    ///
    /// Waits while the session's input queue is full (a target that is not
    /// reading), but never past the session's end or this participant's
    /// removal. Cancel-safe: nothing is counted or queued unless it returns
    /// [`Input::Accepted`], so a caller may select on it alongside its
    /// other work and offer the same bytes again.
    pub async fn input(&self, data: &Bytes) -> Input {
        if self.mode != ParticipantMode::Interactive || data.is_empty() {
            return Input::Ignored;
        }
        tokio::select! {
            biased;
            _ = self.entry.cancel.cancelled() => Input::Ended,
            _ = self.removal.signal.cancelled() => Input::Removed,
            permit = self.entry.input.reserve() => match permit {
                Ok(permit) => {
                    self.entry.record_input(data);
                    permit.send(data.clone());
                    Input::Accepted
                }
                // The session's front end no longer reads: it is ending.
                Err(_) => Input::Ended,
            },
        }
    }
}

/// A participant other than the owner: an observer (read-only) or an
/// interactive participant whose input reaches the session. Dropping it
/// leaves the session.
pub struct Watcher {
    entry: Arc<Entry>,
    registry: Arc<Inner>,
    participant: Uuid,
    mode: ParticipantMode,
    removal: Removal,
    output: broadcast::Receiver<Bytes>,
    /// The screen as it was when the watcher joined (paint it first).
    pub screen: Vec<u8>,
    /// The session's terminal width when the watcher joined.
    pub cols: u16,
    /// The session's terminal height when the watcher joined.
    pub rows: u16,
}

impl Watcher {
    pub(crate) fn join(
        entry: Arc<Entry>,
        registry: Arc<Inner>,
        participant: Uuid,
        mode: ParticipantMode,
        removal: Removal,
    ) -> Self {
        let (screen, cols, rows, output) = Self::snapshot(&entry);
        Self {
            entry,
            registry,
            participant,
            mode,
            removal,
            output,
            screen,
            cols,
            rows,
        }
    }

    /// How this participant takes part.
    pub fn mode(&self) -> ParticipantMode {
        self.mode
    }

    /// Passes an interactive participant's keystrokes to the session; see
    /// [`Typist::input`].
    pub async fn input(&self, data: &Bytes) -> Input {
        self.typist().input(data).await
    }

    /// This participant's keyboard, to type with while [`Watcher::next`]
    /// is awaited.
    pub fn typist(&self) -> Typist {
        Typist {
            entry: self.entry.clone(),
            mode: self.mode,
            removal: self.removal.clone(),
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
            // Output the session sent before it ended comes first: a
            // watcher sees the last screen its user saw, then the end.
            _ = self.entry.cancel.cancelled() => match self.output.try_recv() {
                Ok(data) => WatchEvent::Output(data),
                Err(_) => WatchEvent::Ended(self.end_request()),
            },
            _ = self.removal.signal.cancelled() => WatchEvent::Removed {
                by: self.removal.by.get().cloned().unwrap_or_default(),
            },
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
        lock(&self.entry.removals).remove(&id);
        self.entry
            .participants
            .send_modify(|p| p.retain(|x| x.id != id));
        self.registry.publish_updated(&self.entry);
    }
}
