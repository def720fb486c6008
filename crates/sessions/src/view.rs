use gatehouse_domain::{ConnectionId, Protocol, SessionId, UserId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// The connection a session was opened on, as shown to people.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConnectionRef {
    /// The connection's id.
    pub id: ConnectionId,
    /// The connection's name at the time the session started.
    pub name: String,
}

/// How a participant takes part in a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ParticipantMode {
    /// The user who opened the session.
    Owner,
    /// Someone the session was shared with who may type.
    Interactive,
    /// Someone who only watches.
    Observer,
}

/// One person taking part in a session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Participant {
    /// Identifies this participation (a user may join twice from two places).
    #[schema(value_type = String, format = Uuid)]
    pub id: Uuid,
    /// The participant's username.
    pub user: String,
    /// Owner, interactive or observer.
    pub mode: ParticipantMode,
    /// Where the participant connects from.
    pub client_addr: String,
    /// When they joined.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub joined_at: OffsetDateTime,
}

/// A session's terminal size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Terminal {
    /// Width in columns; 0 while not known (a native client asks for its
    /// pty after its session opened, and a command may have none):
    /// watchers get 80x24 until [`SessionHandle::resized`], and the
    /// recording's header waits for that first size.
    ///
    /// [`SessionHandle::resized`]: crate::SessionHandle::resized
    pub cols: u16,
    /// Height in rows; 0 while not known.
    pub rows: u16,
}

impl Terminal {
    /// The page a session without a terminal (a request log) is watched
    /// and recorded in: wide enough for one log line per row.
    pub const LOG: Terminal = Terminal {
        cols: 160,
        rows: 40,
    };

    /// This size, or 80x24 where it is not known yet.
    pub(crate) fn or_default(self) -> Terminal {
        Terminal {
            cols: if self.cols == 0 { 80 } else { self.cols },
            rows: if self.rows == 0 { 24 } else { self.rows },
        }
    }
}

/// A point-in-time picture of a live session: DESIGN.md's session object.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SessionView {
    /// The session's id.
    pub id: SessionId,
    /// The owner's username.
    pub user: String,
    /// The owner's user id.
    pub user_id: UserId,
    /// The connection the session uses.
    pub connection: ConnectionRef,
    /// The protocol relayed.
    pub protocol: Protocol,
    /// The owner's client address.
    pub client_addr: String,
    /// The target the gateway dialled, `host:port`.
    pub target: String,
    /// When the session started.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub started_at: OffsetDateTime,
    /// When a participant last sent input.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub last_activity_at: OffsetDateTime,
    /// Whole seconds since the last input, at the time of this picture.
    pub idle_seconds: u64,
    /// The idle limit that applies, if any.
    pub idle_timeout_seconds: Option<u64>,
    /// The maximum duration that applies, if any.
    pub max_duration_seconds: Option<u64>,
    /// Seconds until a policy (idle or maximum duration) ends the session,
    /// at the time of this picture; absent when no limit applies.
    pub ends_in_seconds: Option<u64>,
    /// Bytes received from the client(s).
    pub bytes_from_client: u64,
    /// Bytes sent to the client(s).
    pub bytes_to_client: u64,
    /// Everyone taking part, the owner first.
    pub participants: Vec<Participant>,
    /// Port forwards open through the session (native SSH only).
    #[serde(default)]
    pub forwards: Vec<crate::Forward>,
    /// Whether the session is being recorded.
    pub recording: bool,
    /// What the front end tells about the session in its own terms (for a
    /// web application: requests served, open connections, the last
    /// request); the registry shows it without knowing what it means.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    #[schema(value_type = Object)]
    pub detail: serde_json::Map<String, serde_json::Value>,
    /// The gateway node relaying the session.
    pub node: String,
}
