//! The registry's side of recording: starting a session's recorder and
//! knowing when every recording's file is complete.

use std::time::Duration;

use gatehouse_domain::SessionId;
use gatehouse_recording::{Recorder, RecordingConfig, RecordingMeta};
use time::OffsetDateTime;
use tokio::sync::mpsc;

use crate::{Lifecycle, NewSession, Registry, Terminal};

impl Registry {
    /// A registry that records the sessions opened with `recording` set,
    /// as `recordings` says.
    pub fn with_recordings(
        node: impl Into<String>,
        recordings: RecordingConfig,
    ) -> (Self, mpsc::UnboundedReceiver<Lifecycle>) {
        Self::build(node.into(), Some(recordings))
    }

    pub(crate) fn recorder(
        &self,
        config: &RecordingConfig,
        id: SessionId,
        now: OffsetDateTime,
        new: &NewSession,
    ) -> Recorder {
        let meta = RecordingMeta {
            session: id.to_string(),
            user: new.user.clone(),
            connection: new.connection.name.clone(),
            target: new.target.clone(),
            node: self.inner.node.clone(),
            started_at: now,
            cols: new.terminal.unwrap_or(Terminal::LOG).cols,
            rows: new.terminal.unwrap_or(Terminal::LOG).rows,
            input: new.record_input,
        };
        self.inner.recorders.send_modify(|n| *n += 1);
        let inner = self.inner.clone();
        let _on_our_runtime = self.inner.runtime.as_ref().map(|r| r.enter());
        Recorder::start(config, meta, move |summary| {
            let _ = inner.lifecycle.send(Lifecycle::Recorded(summary));
            inner.recorders.send_modify(|n| *n -= 1);
        })
    }

    /// Resolves once every recording's file is complete and its summary is
    /// on the lifecycle channel, or after `timeout`. Returns whether they all were.
    pub async fn wait_for_recordings(&self, timeout: Duration) -> bool {
        let mut count = self.inner.recorders.subscribe();
        tokio::time::timeout(timeout, count.wait_for(|n| *n == 0))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}
