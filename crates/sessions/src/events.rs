use gatehouse_domain::EndReason;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio::sync::oneshot;

use crate::SessionView;

/// A session that has ended, with why and by whom.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EndedSession {
    /// The session as it was when it ended.
    pub session: SessionView,
    /// When it ended.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub ended_at: OffsetDateTime,
    /// Why it ended.
    pub end_reason: EndReason,
    /// Who ended it, when a person did.
    pub ended_by: Option<String>,
    /// The message they gave, if any.
    pub end_message: Option<String>,
}

/// What the live feed tells its subscribers. Lossy by design: a subscriber
/// that falls behind is told so and should take a fresh snapshot.
#[derive(Clone, Debug)]
pub enum SessionEvent {
    /// A session opened.
    Started(SessionView),
    /// A session's activity or participants changed.
    Updated(SessionView),
    /// A session ended.
    Ended(EndedSession),
}

impl SessionEvent {
    /// The session the event is about.
    pub fn session(&self) -> &SessionView {
        match self {
            SessionEvent::Started(s) | SessionEvent::Updated(s) => s,
            SessionEvent::Ended(e) => &e.session,
        }
    }
}

/// The lossless, ordered stream of starts, ends and finished recordings
/// for whoever keeps history.
#[derive(Debug)]
pub enum Lifecycle {
    /// A session opened.
    Started(SessionView),
    /// A session ended; sent exactly once per session.
    Ended(EndedSession),
    /// A session's recording is complete (sent after its file is closed,
    /// before or after the session's `Ended`).
    Recorded(gatehouse_recording::Summary),
    /// Answer once everything sent before this has been handled.
    Flush(oneshot::Sender<()>),
}
