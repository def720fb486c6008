//! The live desktops of this gateway, by session: how a watcher reaches a
//! desktop's relay for the current screen and the changes after it, and how
//! an interactive participant's input reaches it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::ws::Message;
use gatehouse_domain::SessionId;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::relay::{Clipboard, Control};

/// Messages kept for a watcher that falls behind before it is repainted
/// from a fresh screen: a second of a busy screen's regions.
pub(crate) const WATCH_BUFFER: usize = 64;
/// Snapshot requests waiting for a relay: watchers joining at once.
const REQUESTS: usize = 8;
/// Participants' input events waiting for the relay: a burst of typing or
/// pointer motion. A full queue holds the participant back (their socket is
/// not read meanwhile), it never drops a key.
const INPUT: usize = 64;

/// What a watcher starts from: the screen's size, the whole screen as one
/// frame, and every message the owner is sent after it.
pub(crate) struct Snapshot {
    pub(crate) size: (u16, u16),
    pub(crate) screen: Message,
    pub(crate) changes: broadcast::Receiver<Message>,
}

/// An interactive participant's key, pointer or clipboard event, already
/// checked against the connection's clipboard switches; `bytes` is the size
/// of the message it came in (the session counts it).
pub(crate) struct ParticipantInput {
    pub(crate) control: Control,
    pub(crate) bytes: usize,
}

/// A participant's way to a relay: its input queue, the connection's
/// clipboard switches, and what is known of the desktop's clipboard.
pub(crate) type ParticipantSide = (
    mpsc::Sender<ParticipantInput>,
    Clipboard,
    watch::Receiver<Option<bool>>,
);
/// A relay's side: where watchers' requests arrive.
pub(crate) type Requests = mpsc::Receiver<oneshot::Sender<Snapshot>>;
/// A relay's side: where interactive participants' input arrives.
pub(crate) type Inputs = mpsc::Receiver<ParticipantInput>;

/// How a desktop's relay is reached.
#[derive(Clone)]
struct Relayed {
    snapshots: mpsc::Sender<oneshot::Sender<Snapshot>>,
    input: mpsc::Sender<ParticipantInput>,
    clipboard: Clipboard,
    /// What is known of the desktop's own clipboard (the relay's
    /// `clipboard_status`), for participants' pastes.
    available: watch::Receiver<Option<bool>>,
}

/// The desktops being relayed here. Cheap to clone.
#[derive(Clone, Default)]
pub(crate) struct LiveDesktops {
    inner: Arc<Mutex<HashMap<SessionId, Relayed>>>,
}

impl LiveDesktops {
    /// Lists a desktop's relay, whose connection allows `clipboard` and
    /// whose desktop's clipboard is `available` (as the relay learns it),
    /// until the guard is dropped.
    pub(crate) fn add(
        &self,
        id: SessionId,
        clipboard: Clipboard,
        available: watch::Receiver<Option<bool>>,
    ) -> (Listed, Requests, Inputs) {
        let (snapshots, snapshots_rx) = mpsc::channel(REQUESTS);
        let (input, input_rx) = mpsc::channel(INPUT);
        let relayed = Relayed {
            snapshots,
            input,
            clipboard,
            available,
        };
        self.lock().insert(id, relayed);
        let listed = Listed {
            desktops: self.clone(),
            id,
        };
        (listed, snapshots_rx, input_rx)
    }

    /// Whether `id` is a desktop relayed here.
    pub(crate) fn contains(&self, id: SessionId) -> bool {
        self.lock().contains_key(&id)
    }

    /// The current screen of desktop `id` and a subscription to what
    /// follows it; `None` once the desktop is gone.
    pub(crate) async fn snapshot(&self, id: SessionId) -> Option<Snapshot> {
        let relay = self.lock().get(&id).map(|r| r.snapshots.clone())?;
        let (reply, answer) = oneshot::channel();
        relay.send(reply).await.ok()?;
        answer.await.ok()
    }

    /// Where a participant's input for desktop `id` goes, the clipboard
    /// directions its connection allows, and what is known of the
    /// desktop's clipboard; `None` once the desktop is gone.
    pub(crate) fn input(&self, id: SessionId) -> Option<ParticipantSide> {
        self.lock()
            .get(&id)
            .map(|r| (r.input.clone(), r.clipboard, r.available.clone()))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, Relayed>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A desktop's place in [`LiveDesktops`]; dropping it removes it.
pub(crate) struct Listed {
    desktops: LiveDesktops,
    id: SessionId,
}

impl Drop for Listed {
    fn drop(&mut self) {
        self.desktops.lock().remove(&self.id);
    }
}
