//! The live desktops of this gateway, by session: how a watcher reaches a
//! desktop's relay for the current screen and the changes after it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::ws::Message;
use gatehouse_domain::SessionId;
use tokio::sync::{broadcast, mpsc, oneshot};

/// Messages kept for a watcher that falls behind before it is repainted
/// from a fresh screen: a second of a busy screen's regions.
pub(crate) const WATCH_BUFFER: usize = 64;
/// Snapshot requests waiting for a relay: watchers joining at once.
const REQUESTS: usize = 8;

/// What a watcher starts from: the screen's size, the whole screen as one
/// frame, and every message the owner is sent after it.
pub(crate) struct Snapshot {
    pub(crate) size: (u16, u16),
    pub(crate) screen: Message,
    pub(crate) changes: broadcast::Receiver<Message>,
}

/// A relay's side: where watchers' requests arrive.
pub(crate) type Requests = mpsc::Receiver<oneshot::Sender<Snapshot>>;

/// The desktops being relayed here. Cheap to clone.
#[derive(Clone, Default)]
pub(crate) struct LiveDesktops {
    inner: Arc<Mutex<HashMap<SessionId, mpsc::Sender<oneshot::Sender<Snapshot>>>>>,
}

impl LiveDesktops {
    /// Lists a desktop's relay until the guard is dropped.
    pub(crate) fn add(&self, id: SessionId) -> (Listed, Requests) {
        let (tx, rx) = mpsc::channel(REQUESTS);
        self.lock().insert(id, tx);
        let listed = Listed {
            desktops: self.clone(),
            id,
        };
        (listed, rx)
    }

    /// Whether `id` is a desktop relayed here.
    pub(crate) fn contains(&self, id: SessionId) -> bool {
        self.lock().contains_key(&id)
    }

    /// The current screen of desktop `id` and a subscription to what
    /// follows it; `None` once the desktop is gone.
    pub(crate) async fn snapshot(&self, id: SessionId) -> Option<Snapshot> {
        let relay = self.lock().get(&id).cloned()?;
        let (reply, answer) = oneshot::channel();
        relay.send(reply).await.ok()?;
        answer.await.ok()
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<SessionId, mpsc::Sender<oneshot::Sender<Snapshot>>>>
    {
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
