use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One thing a role can allow. Every user may always see and end their own
/// sessions; these permissions reach beyond that.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
pub enum Permission {
    /// See every live session, not only one's own.
    #[serde(rename = "sessions.view")]
    SessionsView,
    /// End anyone's session.
    #[serde(rename = "sessions.end")]
    SessionsEnd,
    /// Watch a live session read-only.
    #[serde(rename = "sessions.watch")]
    SessionsWatch,
    /// Read all history and the audit log.
    #[serde(rename = "audit.view")]
    AuditView,
    /// Create and change connections and their grants.
    #[serde(rename = "connections.manage")]
    ConnectionsManage,
    /// Create and change users.
    #[serde(rename = "users.manage")]
    UsersManage,
}

impl Permission {
    /// Every permission, in a stable order.
    pub const ALL: [Permission; 6] = [
        Permission::SessionsView,
        Permission::SessionsEnd,
        Permission::SessionsWatch,
        Permission::AuditView,
        Permission::ConnectionsManage,
        Permission::UsersManage,
    ];

    /// The permission's wire name, e.g. `sessions.view`.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::SessionsView => "sessions.view",
            Permission::SessionsEnd => "sessions.end",
            Permission::SessionsWatch => "sessions.watch",
            Permission::AuditView => "audit.view",
            Permission::ConnectionsManage => "connections.manage",
            Permission::UsersManage => "users.manage",
        }
    }
}

impl FromStr for Permission {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Permission::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| format!("unknown permission {s:?}"))
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The roles every gateway starts with (DESIGN.md's permission table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BuiltinRole {
    /// Everything.
    Admin,
    /// Sees and watches everything, reads the audit log, changes nothing.
    Auditor,
    /// Uses the connections granted to them; sees and ends only their own sessions.
    User,
}

impl BuiltinRole {
    /// All built-in roles.
    pub const ALL: [BuiltinRole; 3] = [BuiltinRole::Admin, BuiltinRole::Auditor, BuiltinRole::User];

    /// The role's name.
    pub fn name(self) -> &'static str {
        match self {
            BuiltinRole::Admin => "admin",
            BuiltinRole::Auditor => "auditor",
            BuiltinRole::User => "user",
        }
    }

    /// What the role allows.
    pub fn permissions(self) -> &'static [Permission] {
        use Permission::*;
        match self {
            BuiltinRole::Admin => &Permission::ALL,
            BuiltinRole::Auditor => &[SessionsView, SessionsWatch, AuditView],
            BuiltinRole::User => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_names_round_trip() {
        for p in Permission::ALL {
            assert_eq!(p.as_str().parse::<Permission>().unwrap(), p);
            assert_eq!(
                serde_json::to_string(&p).unwrap(),
                format!("\"{}\"", p.as_str())
            );
        }
        assert!("sessions.destroy".parse::<Permission>().is_err());
    }
}
