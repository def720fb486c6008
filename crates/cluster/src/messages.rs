//! What nodes tell each other over PostgreSQL `NOTIFY`, one channel per
//! kind of message. Payloads are JSON and stay under PostgreSQL's 8,000
//! bytes: lists of ids go in chunks of [`CHUNK`].

use gatehouse_domain::{EndReason, SessionId, UserId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// A node's published sessions changed (start, end, roll-up).
pub(crate) const SESSIONS: &str = "gatehouse_sessions";
/// Asks one node to end some of its sessions.
pub(crate) const END: &str = "gatehouse_end";
/// The owner's answer to an [`END`].
pub(crate) const END_REPLY: &str = "gatehouse_end_reply";
/// An access change whose sessions and streams every node must re-check.
pub(crate) const POLICY: &str = "gatehouse_policy";

/// Ids per message: 100 quoted UUIDs are ~4,000 bytes, half the limit.
pub(crate) const CHUNK: usize = 100;
/// End notices per [`Changed`] message (~150 bytes each, with a message
/// of up to 500 characters the worst case stays under the limit).
pub(crate) const NOTES: usize = 10;

/// How a session ended, for the other nodes' live feeds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct EndNote {
    pub(crate) id: SessionId,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) ended_at: OffsetDateTime,
    pub(crate) reason: EndReason,
    pub(crate) by: Option<String>,
    pub(crate) message: Option<String>,
}

/// [`SESSIONS`]: `node`'s rows changed, up to its change `seq` (`None`:
/// they were deleted or rewritten whole, read them all again); `ended`
/// says how some ended.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Changed {
    pub(crate) node: String,
    #[serde(default)]
    pub(crate) seq: Option<i64>,
    #[serde(default)]
    pub(crate) ended: Vec<EndNote>,
}

/// [`END`]: node `to`, please end `ids`; answer `from` quoting `request`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct EndCall {
    pub(crate) to: String,
    pub(crate) from: String,
    pub(crate) request: Uuid,
    pub(crate) ids: Vec<SessionId>,
    pub(crate) reason: EndReason,
    pub(crate) by: Option<String>,
    pub(crate) message: Option<String>,
}

/// [`END_REPLY`]: of the ids asked, these were live and are ending.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct EndReply {
    pub(crate) to: String,
    pub(crate) request: Uuid,
    pub(crate) ended: Vec<SessionId>,
}

/// [`POLICY`]: what changed on node `from`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Policy {
    pub(crate) from: String,
    pub(crate) change: Change,
}

/// The change itself.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Change {
    /// A user was locked or deleted: end their sessions.
    UserLocked {
        user: UserId,
        by: String,
        client_addr: String,
        message: String,
    },
    /// A grant may be gone (role, connection change or delete): re-check.
    AccessRevoked { by: String, client_addr: String },
    /// Someone's access changed (`None`: anyone's): live streams look again.
    AccessChanged { user: Option<UserId> },
}
