//! Port forwards running through a session (native SSH `-L` and `-R`), as
//! listed on the session while they are open (`forward_guard.rs` keeps
//! them listed).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// Which way a forward goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ForwardKind {
    /// The client reaches `destination` from the target's side (`ssh -L`).
    Local,
    /// The target listens on `destination` and its connections come back to
    /// the client (`ssh -R`).
    Remote,
    /// The client's SSH agent is reachable from the target (`ssh -A`).
    Agent,
}

/// One forward through a session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Forward {
    /// Identifies it on the session.
    #[schema(value_type = String, format = Uuid)]
    pub id: Uuid,
    /// Local or remote.
    pub kind: ForwardKind,
    /// `host:port`: where a local forward goes, or where a remote one listens.
    pub destination: String,
    /// When it opened.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub opened_at: OffsetDateTime,
}
