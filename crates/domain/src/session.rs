use std::fmt;

use serde::{Deserialize, Serialize};

/// How a session reaches its target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// An interactive SSH session.
    Ssh,
    /// One browser's use of a published web application.
    Http,
    /// A tunnel carrying native clients' TCP connections to one target.
    Tcp,
    /// A graphical desktop (VNC) shown in a browser tab.
    Vnc,
    /// A graphical desktop (RDP) shown in a browser tab.
    Rdp,
}

impl Protocol {
    /// The protocol's wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Ssh => "ssh",
            Protocol::Http => "http",
            Protocol::Tcp => "tcp",
            Protocol::Vnc => "vnc",
            Protocol::Rdp => "rdp",
        }
    }

    /// Every protocol.
    pub const ALL: [Protocol; 5] = [
        Protocol::Ssh,
        Protocol::Http,
        Protocol::Tcp,
        Protocol::Vnc,
        Protocol::Rdp,
    ];

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a session ended. Exactly one is recorded per session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The user's client closed the session or went away.
    ClientClosed,
    /// The target closed the session (shell exited, connection dropped).
    TargetClosed,
    /// Someone else with `sessions.end` ended it.
    EndedByAdmin,
    /// The session's owner ended it from elsewhere (API, CLI, another tab).
    EndedByOwner,
    /// No input for longer than the idle limit.
    IdleTimeout,
    /// Older than the maximum session duration.
    MaxDuration,
    /// The owner's account was locked.
    UserLocked,
    /// The owner lost the grant the session was opened under.
    AccessRevoked,
    /// The gateway stopped (or had stopped) while the session was open.
    GatewayShutdown,
    /// The gateway node relaying the session disappeared without ending it:
    /// it crashed or was killed (recorded when it starts again).
    NodeLost,
    /// An internal or protocol error ended the session.
    Error,
}

impl EndReason {
    /// The reason's wire name, e.g. `ended_by_admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::ClientClosed => "client_closed",
            EndReason::TargetClosed => "target_closed",
            EndReason::EndedByAdmin => "ended_by_admin",
            EndReason::EndedByOwner => "ended_by_owner",
            EndReason::IdleTimeout => "idle_timeout",
            EndReason::MaxDuration => "max_duration",
            EndReason::UserLocked => "user_locked",
            EndReason::AccessRevoked => "access_revoked",
            EndReason::GatewayShutdown => "gateway_shutdown",
            EndReason::NodeLost => "node_lost",
            EndReason::Error => "error",
        }
    }

    /// Every reason.
    pub const ALL: [EndReason; 11] = [
        EndReason::ClientClosed,
        EndReason::TargetClosed,
        EndReason::EndedByAdmin,
        EndReason::EndedByOwner,
        EndReason::IdleTimeout,
        EndReason::MaxDuration,
        EndReason::UserLocked,
        EndReason::AccessRevoked,
        EndReason::GatewayShutdown,
        EndReason::NodeLost,
        EndReason::Error,
    ];

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for EndReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
