use gatehouse_domain::{
    ConnectionId, ConnectionName, Permission, Protocol, RoleName, TargetAddr, Username,
};
use gatehouse_store::{
    ConnectionRecord, ConnectionUpdate, HostKeySource, NewConnection, SecretKind,
};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use crate::{Access, AccessError, Principal, Result};

/// A connection's secret, opened.
#[derive(Clone)]
pub enum TargetSecret {
    /// A password.
    Password(SecretString),
    /// An OpenSSH private key.
    PrivateKey(SecretString),
}

impl std::fmt::Debug for TargetSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TargetSecret::Password(_) => f.write_str("Password(..)"),
            TargetSecret::PrivateKey(_) => f.write_str("PrivateKey(..)"),
        }
    }
}

/// A connection to create, already parsed.
#[derive(Debug)]
pub struct NewConnectionRequest {
    /// Unique name.
    pub name: ConnectionName,
    /// Protocol.
    pub protocol: Protocol,
    /// Where the target is.
    pub target: TargetAddr,
    /// Account on the target.
    pub username: String,
    /// How to authenticate there.
    pub secret: TargetSecret,
    /// A host key given by the administrator (OpenSSH format), if any.
    pub host_key: Option<String>,
    /// Whether native SSH clients may forward ports through it.
    pub allow_forwarding: bool,
    /// Users to grant it to.
    pub users: Vec<Username>,
    /// Roles to grant it to.
    pub roles: Vec<RoleName>,
}

/// Changes to a connection, already parsed; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct ConnectionUpdateRequest {
    /// A new unique name.
    pub name: Option<ConnectionName>,
    /// A new target host (checked together with the port).
    pub host: Option<String>,
    /// A new target port.
    pub port: Option<u16>,
    /// A new account on the target.
    pub username: Option<String>,
    /// A new secret, replacing the stored one.
    pub secret: Option<TargetSecret>,
    /// `Some(Some(key))` sets an administrator-given host key (OpenSSH
    /// format); `Some(None)` clears the pinned key so the next session pins
    /// the key it sees.
    pub host_key: Option<Option<String>>,
    /// Allows or refuses port forwarding.
    pub allow_forwarding: Option<bool>,
    /// Replaces the users granted directly.
    pub users: Option<Vec<Username>>,
    /// Replaces the roles granted.
    pub roles: Option<Vec<RoleName>>,
}

/// What the API shows of a connection: never the secret.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ConnectionInfo {
    /// Its id.
    pub id: ConnectionId,
    /// Its name.
    pub name: ConnectionName,
    /// Its protocol.
    pub protocol: Protocol,
    /// Target host.
    pub host: String,
    /// Target port.
    pub port: u16,
    /// Account on the target; shown to administrators only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Password or private key; shown to administrators only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<SecretKind>,
    /// SHA-256 fingerprint of the pinned host key; shown to administrators only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_key_fingerprint: Option<String>,
    /// Where the pinned key came from; shown to administrators only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_key_source: Option<HostKeySource>,
    /// Whether native SSH clients may forward ports (`ssh -L`, `-R`) through it.
    pub allow_forwarding: bool,
    /// Users granted directly; shown to administrators only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub users: Option<Vec<String>>,
    /// Roles granted; shown to administrators only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<RoleName>>,
}

/// Everything needed to dial a target, secret opened. Only for the session
/// that is about to use it.
#[derive(Debug)]
pub struct TargetSpec {
    /// The connection.
    pub connection: ConnectionRecord,
    /// Where to dial.
    pub target: TargetAddr,
    /// The opened secret.
    pub secret: TargetSecret,
}

impl Access {
    /// Creates a connection; needs `connections.manage`. The secret is sealed
    /// before it reaches the store.
    pub async fn create_connection(
        &self,
        who: &Principal,
        req: NewConnectionRequest,
    ) -> Result<ConnectionRecord> {
        who.require(Permission::ConnectionsManage)?;
        let users = self.user_ids(&req.users).await?;
        let (kind, secret) = match &req.secret {
            TargetSecret::Password(p) => (SecretKind::Password, p),
            TargetSecret::PrivateKey(k) => (SecretKind::PrivateKey, k),
        };
        Ok(self
            .store
            .create_connection(NewConnection {
                name: req.name,
                protocol: req.protocol,
                host: req.target.host().to_owned(),
                port: req.target.port(),
                username: req.username,
                secret_kind: kind,
                secret_sealed: self.secrets.seal(secret.expose_secret().as_bytes()),
                host_key: req.host_key,
                allow_forwarding: req.allow_forwarding,
                users,
                roles: req.roles,
            })
            .await?)
    }

    /// Changes a connection; needs `connections.manage`. A new secret is
    /// sealed before it reaches the store; grant lists given replace the
    /// old ones entirely.
    pub async fn update_connection(
        &self,
        who: &Principal,
        id: ConnectionId,
        req: ConnectionUpdateRequest,
    ) -> Result<ConnectionRecord> {
        who.require(Permission::ConnectionsManage)?;
        let current = self
            .store
            .connection(id)
            .await?
            .ok_or_else(|| AccessError::NotFound(format!("connection {id}")))?;
        let (host, port) = (req.host.as_deref(), req.port);
        if host.is_some() || port.is_some() {
            TargetAddr::new(host.unwrap_or(&current.host), port.unwrap_or(current.port))
                .map_err(|e| AccessError::Invalid(e.to_string()))?;
        }
        let users = match &req.users {
            Some(names) => Some(self.user_ids(names).await?),
            None => None,
        };
        let secret = req.secret.as_ref().map(|secret| {
            let (kind, plain) = match secret {
                TargetSecret::Password(p) => (SecretKind::Password, p),
                TargetSecret::PrivateKey(k) => (SecretKind::PrivateKey, k),
            };
            (kind, self.secrets.seal(plain.expose_secret().as_bytes()))
        });
        Ok(self
            .store
            .update_connection(
                id,
                ConnectionUpdate {
                    name: req.name,
                    host: req.host.map(|h| h.trim().to_owned()),
                    port: req.port,
                    username: req.username,
                    secret,
                    host_key: req.host_key,
                    allow_forwarding: req.allow_forwarding,
                    users,
                    roles: req.roles,
                },
            )
            .await?)
    }

    /// Deletes a connection and its grants; needs `connections.manage`.
    /// Returns the deleted connection.
    pub async fn delete_connection(
        &self,
        who: &Principal,
        id: ConnectionId,
    ) -> Result<ConnectionRecord> {
        who.require(Permission::ConnectionsManage)?;
        let not_found = || AccessError::NotFound(format!("connection {id}"));
        let connection = self.store.connection(id).await?.ok_or_else(not_found)?;
        if !self.store.delete_connection(id).await? {
            return Err(not_found());
        }
        Ok(connection)
    }

    /// The connections `who` may open.
    pub async fn connections_for(&self, who: &Principal) -> Result<Vec<ConnectionRecord>> {
        Ok(self.store.connections_for_user(who.user_id).await?)
    }

    /// Every connection, granted or not; needs `connections.manage`.
    pub async fn all_connections(&self, who: &Principal) -> Result<Vec<ConnectionRecord>> {
        who.require(Permission::ConnectionsManage)?;
        Ok(self.store.list_connections().await?)
    }

    /// User ids for usernames (for granting); `NotFound` names the first unknown one.
    async fn user_ids(&self, names: &[Username]) -> Result<Vec<gatehouse_domain::UserId>> {
        let mut ids = Vec::with_capacity(names.len());
        for name in names {
            let user = self
                .store
                .user_by_name(name)
                .await?
                .ok_or_else(|| AccessError::NotFound(format!("user {name}")))?;
            ids.push(user.id);
        }
        Ok(ids)
    }

    /// Usernames for user ids (for showing grants).
    pub async fn usernames(&self, ids: &[gatehouse_domain::UserId]) -> Result<Vec<String>> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(u) = self.store.user_by_id(*id).await? {
                out.push(u.username.to_string());
            }
        }
        Ok(out)
    }

    /// Checks that `who` holds a grant on the connection and opens its
    /// secret. Nobody — not even an administrator — opens a session on a
    /// connection that was not granted to them.
    pub async fn target_for(&self, who: &Principal, id: ConnectionId) -> Result<TargetSpec> {
        let connection = self
            .store
            .connection(id)
            .await?
            .ok_or_else(|| AccessError::NotFound(format!("connection {id}")))?;
        if !self.store.user_may_use(who.user_id, id).await? {
            return Err(AccessError::Forbidden(format!(
                "connection {} is not granted to {}",
                connection.name, who.username
            )));
        }
        let plain = self
            .secrets
            .open(&connection.secret_sealed)
            .ok_or(AccessError::Sealed)?;
        let plain = SecretString::from(String::from_utf8(plain).map_err(|_| AccessError::Sealed)?);
        let secret = match connection.secret_kind {
            SecretKind::Password => TargetSecret::Password(plain),
            SecretKind::PrivateKey => TargetSecret::PrivateKey(plain),
        };
        let target = TargetAddr::new(&connection.host, connection.port)
            .map_err(|e| AccessError::Invalid(e.to_string()))?;
        Ok(TargetSpec {
            connection,
            target,
            secret,
        })
    }

    /// Pins a host key seen on first use; false if one was pinned meanwhile.
    pub async fn pin_host_key(&self, id: ConnectionId, key: &str) -> Result<bool> {
        Ok(self.store.pin_host_key(id, key).await?)
    }
}

/// The SHA-256 fingerprint of an OpenSSH public key line, as `ssh-keygen -l`
/// prints it (`SHA256:…`).
pub fn fingerprint(openssh: &str) -> Option<String> {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
    let blob = STANDARD.decode(openssh.split_whitespace().nth(1)?).ok()?;
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &blob);
    Some(format!(
        "SHA256:{}",
        STANDARD_NO_PAD.encode(digest.as_ref())
    ))
}

impl Access {
    /// What `who` may see of a connection: administrators see how it
    /// authenticates, its host key and its grants; everyone else sees only
    /// where it goes. Never the secret.
    pub async fn connection_info(
        &self,
        who: &Principal,
        c: &ConnectionRecord,
    ) -> Result<ConnectionInfo> {
        let admin = who.has(Permission::ConnectionsManage);
        Ok(ConnectionInfo {
            id: c.id,
            name: c.name.clone(),
            protocol: c.protocol,
            host: c.host.clone(),
            port: c.port,
            username: admin.then(|| c.username.clone()),
            auth: admin.then_some(c.secret_kind),
            host_key_fingerprint: if admin {
                c.host_key.as_deref().and_then(fingerprint)
            } else {
                None
            },
            host_key_source: if admin { c.host_key_source } else { None },
            allow_forwarding: c.allow_forwarding,
            users: if admin {
                Some(self.usernames(&c.users).await?)
            } else {
                None
            },
            roles: admin.then(|| c.roles.clone()),
        })
    }
}
