use std::sync::Arc;
use std::sync::atomic::Ordering;

use gatehouse_domain::{EndReason, SessionId};
use tokio::sync::watch;
use tokio_util::sync::WaitForCancellationFuture;

use crate::entry::Entry;
use crate::shared::Inner;
use bytes::Bytes;

use crate::{EndRequest, Participant, Warning};

/// A front end's hold on one live session. Dropping it ends the session:
/// it leaves the registry and its end is published exactly once, with the
/// first reason anybody gave ([`crate::Registry::end`] or
/// [`SessionHandle::finish`]), or `error` if nobody gave one.
pub struct SessionHandle {
    entry: Arc<Entry>,
    registry: Arc<Inner>,
}

impl SessionHandle {
    pub(crate) fn new(entry: Arc<Entry>, registry: Arc<Inner>) -> Self {
        Self { entry, registry }
    }

    /// The session's id.
    pub fn id(&self) -> SessionId {
        self.entry.id
    }

    /// Whether the session is being recorded (a front end may tell its user).
    pub fn recorded(&self) -> bool {
        self.entry.recorder.is_some()
    }

    /// Resolves when somebody asks the session to end; the front end must
    /// then close both sides and drop the handle.
    pub fn ended(&self) -> WaitForCancellationFuture<'_> {
        self.entry.cancel.cancelled()
    }

    /// The same signal as [`SessionHandle::ended`], owned, for a task that
    /// does not hold the handle.
    pub fn end_signal(&self) -> tokio_util::sync::CancellationToken {
        self.entry.cancel.child_token()
    }

    /// Why the session was asked to end, once it was.
    pub fn end_request(&self) -> Option<EndRequest> {
        self.entry.end.get().cloned()
    }

    /// Counts bytes the owner's client sent, marks the session active, and
    /// records them when the session's input is recorded.
    pub fn record_input(&self, data: &[u8]) {
        self.entry.record_input(data);
    }

    /// Counts bytes of a file transfer or port forward — not terminal
    /// output, so neither kept for watchers nor recorded — and marks the
    /// session active: a long download is not an idle session.
    pub fn record_transfer(&self, from_client: usize, to_client: usize) {
        self.entry
            .bytes_from_client
            .fetch_add(from_client as u64, Ordering::Relaxed);
        self.entry
            .bytes_to_client
            .fetch_add(to_client as u64, Ordering::Relaxed);
        self.entry.touch();
    }

    /// Counts bytes sent to the client that are neither recorded nor kept
    /// for watchers by the registry (a desktop's pictures), without marking
    /// the session active: a changing screen is not a user at work.
    pub fn count_output(&self, to_client: usize) {
        self.entry
            .bytes_to_client
            .fetch_add(to_client as u64, Ordering::Relaxed);
    }

    /// Marks the session active without input: the user asked to stay
    /// connected after an idle warning.
    pub fn keep_alive(&self) {
        self.entry.touch();
    }

    /// The policy warning to show the user (idle or maximum duration), if
    /// any; changes when one is given or withdrawn.
    pub fn warnings(&self) -> watch::Receiver<Option<Warning>> {
        self.entry.warning.subscribe()
    }

    /// Counts output sent to the client, records it when the session is
    /// recorded, keeps it for painting the screen of a watcher who joins
    /// later, and passes it to current watchers.
    pub fn record_output(&self, data: &Bytes) {
        self.entry
            .bytes_to_client
            .fetch_add(data.len() as u64, Ordering::Relaxed);
        if let Some(recorder) = &self.entry.recorder {
            recorder.output(data);
        }
        let mut screen = self.entry.screen.lock().unwrap_or_else(|e| e.into_inner());
        screen.push(data);
        // Under the screen lock, so a joining watcher's replay and its live
        // output neither overlap nor leave a gap.
        if self.entry.output.receiver_count() > 0 {
            let _ = self.entry.output.send(data.clone());
        }
    }

    /// Records a line of the session's log (a web application's request
    /// log) and passes it to watchers, like terminal output but not counted
    /// as bytes to the client: the front end counts those itself.
    pub fn record_log(&self, line: &Bytes) {
        if let Some(recorder) = &self.entry.recorder {
            recorder.output(line);
        }
        let mut screen = self.entry.screen.lock().unwrap_or_else(|e| e.into_inner());
        screen.push(line);
        if self.entry.output.receiver_count() > 0 {
            let _ = self.entry.output.send(line.clone());
        }
    }

    /// Sets one item of the front end's detail about the session (shown in
    /// Active Sessions as it is); the next activity update carries it.
    pub fn set_detail(&self, key: &str, value: serde_json::Value) {
        let mut detail = self.entry.detail.lock().unwrap_or_else(|e| e.into_inner());
        if detail.get(key) != Some(&value) {
            detail.insert(key.to_owned(), value);
            self.entry
                .dirty
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Lists a port forward on the session until the guard is dropped.
    pub fn add_forward(
        &self,
        kind: crate::ForwardKind,
        destination: String,
    ) -> crate::ForwardGuard {
        crate::ForwardGuard::new(self.entry.clone(), self.registry.clone(), kind, destination)
    }

    /// Records a desktop's picture when the session is recorded: a changed
    /// region, or with `key` the whole screen. A desktop's front end counts
    /// and fans out its pictures itself; the registry only records them.
    pub fn record_picture(&self, picture: &Bytes, key: bool) {
        if let Some(recorder) = &self.entry.recorder {
            recorder.frame(picture, key);
        }
    }

    /// Records the terminal's new size (watchers and the recording follow it).
    pub fn resized(&self, cols: u16, rows: u16) {
        if let Some(recorder) = &self.entry.recorder {
            recorder.resize(cols, rows);
        }
        let mut screen = self.entry.screen.lock().unwrap_or_else(|e| e.into_inner());
        screen.cols = cols;
        screen.rows = rows;
    }

    /// Keystrokes from interactive participants, to write to the target
    /// like the owner's own. Only the first call gets the receiver.
    pub fn participant_input(&self) -> Option<tokio::sync::mpsc::Receiver<Bytes>> {
        crate::locks::lock(&self.entry.input_rx).take()
    }

    /// Everyone taking part; changes when someone joins or leaves.
    pub fn participants(&self) -> watch::Receiver<Vec<Participant>> {
        self.entry.participants.subscribe()
    }

    /// Settles why the session ends — `reason`, unless somebody already asked
    /// it to end for another — and returns the reason that stands. The
    /// session stays listed until the handle is dropped, so a front end can
    /// tell its client the final reason and close both sides first.
    pub fn settle(&self, reason: EndReason) -> EndRequest {
        let request = self
            .entry
            .end
            .get_or_init(|| EndRequest::because(reason))
            .clone();
        self.entry.cancel.cancel();
        request
    }

    /// [`SessionHandle::settle`]s and drops the handle.
    pub fn finish(self, reason: EndReason) -> EndRequest {
        self.settle(reason)
    }
}

impl Drop for SessionHandle {
    fn drop(&mut self) {
        self.registry
            .remove(&self.entry, EndRequest::because(EndReason::Error));
    }
}
