//! The registry's table of live sessions: a map by id, plus a compact
//! search index kept beside it so that listing and searching 100,000
//! sessions reads a few contiguous megabytes instead of chasing a pointer
//! per session.
//!
//! The index holds every session's lowercased search text back to back in
//! one buffer, and a slot per session (in opening order) with what the
//! default listing needs: owner, start time and id. A search is one SIMD
//! substring scan over the buffer; only the page that is returned touches
//! the sessions themselves. A closed session's text is blanked (NUL bytes
//! never match a query) and its slot emptied; the index is compacted once
//! more than half of it is dead.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::Arc;

use gatehouse_domain::{SessionId, UserId};

use crate::entry::Entry;

/// Live sessions by id, and their search index.
#[derive(Default)]
pub(crate) struct Table {
    map: HashMap<SessionId, Arc<Entry>>,
    /// Search texts, back to back; slot `i` owns `text[slots[i].start..slots[i].end]`.
    text: Vec<u8>,
    slots: Vec<Slot>,
    /// Slot of each live session.
    slot_of: HashMap<SessionId, usize>,
    /// Slots emptied since the last compaction.
    dead: usize,
}

/// One session in the index.
pub(crate) struct Slot {
    start: usize,
    end: usize,
    /// Start time, nanoseconds since the epoch (the default sort).
    pub(crate) started_ns: i128,
    pub(crate) id: SessionId,
    pub(crate) user_id: UserId,
    /// `None` once the session closed.
    pub(crate) entry: Option<Arc<Entry>>,
}

impl Deref for Table {
    type Target = HashMap<SessionId, Arc<Entry>>;

    fn deref(&self) -> &Self::Target {
        &self.map
    }
}

impl Table {
    /// Adds a live session.
    pub(crate) fn insert(&mut self, entry: Arc<Entry>) {
        let start = self.text.len();
        self.text.extend_from_slice(entry.haystack.as_bytes());
        self.text.push(0);
        self.slot_of.insert(entry.id, self.slots.len());
        self.slots.push(Slot {
            start,
            end: self.text.len(),
            started_ns: entry.started_at.unix_timestamp_nanos(),
            id: entry.id,
            user_id: entry.user_id,
            entry: Some(entry.clone()),
        });
        self.map.insert(entry.id, entry);
    }

    /// Removes a session; `None` if it was not live.
    pub(crate) fn remove(&mut self, id: &SessionId) -> Option<Arc<Entry>> {
        let entry = self.map.remove(id)?;
        if let Some(i) = self.slot_of.remove(id) {
            let slot = &mut self.slots[i];
            self.text[slot.start..slot.end].fill(0);
            slot.entry = None;
            self.dead += 1;
            if self.dead > 64 && self.dead * 2 > self.slots.len() {
                self.compact();
            }
        }
        Some(entry)
    }

    fn compact(&mut self) {
        let old_text = std::mem::take(&mut self.text);
        let old_slots = std::mem::take(&mut self.slots);
        self.slot_of.clear();
        self.dead = 0;
        for mut slot in old_slots.into_iter().filter(|s| s.entry.is_some()) {
            let start = self.text.len();
            self.text.extend_from_slice(&old_text[slot.start..slot.end]);
            slot.start = start;
            slot.end = self.text.len();
            self.slot_of.insert(slot.id, self.slots.len());
            self.slots.push(slot);
        }
    }

    /// The live slots whose search text contains `needle` (lowercased; empty
    /// matches all) and whose owner `visible` allows.
    pub(crate) fn search(&self, needle: &str, visible: impl Fn(UserId) -> bool) -> Vec<&Slot> {
        let live = |s: &&Slot| s.entry.is_some() && visible(s.user_id);
        if needle.is_empty() {
            return self.slots.iter().filter(live).collect();
        }
        let mut found = Vec::new();
        let finder = memchr::memmem::Finder::new(needle.as_bytes());
        let mut at = 0;
        while let Some(hit) = finder.find(&self.text[at..]) {
            let pos = at + hit;
            // The slot whose text holds `pos`: the last one starting at or before it.
            let i = self.slots.partition_point(|s| s.start <= pos) - 1;
            let slot = &self.slots[i];
            if live(&slot) {
                found.push(slot);
            }
            at = slot.end;
        }
        found
    }
}
