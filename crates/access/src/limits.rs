use std::time::Duration;

use gatehouse_domain::{ConnectionId, Permission, RoleName, UserId};
use gatehouse_sessions::{Limit, SessionLimits};
use gatehouse_store::{LimitSettings, RoleRecord};

use crate::{Access, AccessError, Principal, Result};

fn level(settings: LimitSettings, set_by: &str) -> SessionLimits {
    let limit = |s: Option<u64>| {
        s.map(|s| Limit {
            after: Duration::from_secs(s),
            set_by: set_by.to_owned(),
        })
    };
    SessionLimits {
        idle_timeout: limit(settings.idle_timeout_seconds),
        max_duration: limit(settings.max_session_seconds),
    }
}

impl Access {
    /// The limits for a session of `user` on `connection`: the strictest of
    /// the gateway-wide `global` ones, each of the user's roles', and the
    /// connection's.
    pub async fn session_limits(
        &self,
        global: LimitSettings,
        user: UserId,
        connection: ConnectionId,
        connection_name: &str,
    ) -> Result<SessionLimits> {
        let mut levels = vec![level(global, "gateway setting")];
        for (role, settings) in self.store.user_role_limits(user).await? {
            levels.push(level(settings, &format!("role {role}")));
        }
        let own = self.store.connection_limits(connection).await?;
        levels.push(level(own, &format!("connection {connection_name}")));
        Ok(SessionLimits::strictest(levels))
    }

    /// Every role with its permissions and limits (`users.manage`).
    pub async fn roles(&self, who: &Principal) -> Result<Vec<RoleRecord>> {
        who.require(Permission::UsersManage)?;
        Ok(self.store.list_roles().await?)
    }

    /// Sets a role's session limits (`users.manage`).
    pub async fn set_role_limits(
        &self,
        who: &Principal,
        role: &RoleName,
        limits: LimitSettings,
    ) -> Result<()> {
        who.require(Permission::UsersManage)?;
        Ok(self.store.set_role_limits(role, limits).await?)
    }

    /// A connection's session limits (`connections.manage`).
    pub async fn connection_limits(
        &self,
        who: &Principal,
        id: ConnectionId,
    ) -> Result<LimitSettings> {
        who.require(Permission::ConnectionsManage)?;
        if self.store.connection(id).await?.is_none() {
            return Err(AccessError::NotFound(format!("connection {id}")));
        }
        Ok(self.store.connection_limits(id).await?)
    }

    /// Sets a connection's session limits (`connections.manage`).
    pub async fn set_connection_limits(
        &self,
        who: &Principal,
        id: ConnectionId,
        limits: LimitSettings,
    ) -> Result<()> {
        who.require(Permission::ConnectionsManage)?;
        Ok(self.store.set_connection_limits(id, limits).await?)
    }
}
