//! The guard that keeps a port forward listed on its session while open.

use std::sync::Arc;

use time::OffsetDateTime;
use uuid::Uuid;

use crate::entry::Entry;
use crate::forwards::{Forward, ForwardKind};
use crate::locks::lock;
use crate::shared::Inner;

/// Keeps a forward listed on its session; dropping it takes it off.
pub struct ForwardGuard {
    id: Uuid,
    entry: Arc<Entry>,
    registry: Arc<Inner>,
}

impl ForwardGuard {
    pub(crate) fn new(
        entry: Arc<Entry>,
        registry: Arc<Inner>,
        kind: ForwardKind,
        destination: String,
    ) -> Self {
        let forward = Forward {
            id: Uuid::new_v4(),
            kind,
            destination,
            opened_at: OffsetDateTime::now_utc(),
        };
        let id = forward.id;
        lock(&entry.forwards).push(forward);
        registry.publish_updated(&entry);
        Self {
            id,
            entry,
            registry,
        }
    }
}

impl Drop for ForwardGuard {
    fn drop(&mut self) {
        lock(&self.entry.forwards).retain(|f| f.id != self.id);
        self.registry.publish_updated(&self.entry);
    }
}
