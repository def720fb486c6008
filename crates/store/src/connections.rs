use gatehouse_domain::{ConnectionId, ConnectionName, Protocol, RoleName, UserId};
use time::OffsetDateTime;

use crate::{Result, Store, StoreError, conflict, from_ms, parse, to_ms};

/// How a connection authenticates to its target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SecretKind {
    /// A password.
    Password,
    /// An OpenSSH private key.
    PrivateKey,
}

impl SecretKind {
    fn as_str(self) -> &'static str {
        match self {
            SecretKind::Password => "password",
            SecretKind::PrivateKey => "private_key",
        }
    }
}

/// Where a pinned host key came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HostKeySource {
    /// An administrator gave it when creating the connection.
    Administrator,
    /// The gateway pinned the key the target presented on first connection.
    FirstUse,
}

impl HostKeySource {
    fn as_str(self) -> &'static str {
        match self {
            HostKeySource::Administrator => "administrator",
            HostKeySource::FirstUse => "first_use",
        }
    }
}

/// A connection as stored. The secret stays sealed.
#[derive(Clone, Debug)]
pub struct ConnectionRecord {
    /// The connection's id.
    pub id: ConnectionId,
    /// Its unique name.
    pub name: ConnectionName,
    /// The protocol it speaks.
    pub protocol: Protocol,
    /// Target host.
    pub host: String,
    /// Target port.
    pub port: u16,
    /// Account on the target.
    pub username: String,
    /// Password or private key.
    pub secret_kind: SecretKind,
    /// The sealed secret (see the access crate's `SecretBox`).
    pub secret_sealed: Vec<u8>,
    /// The pinned host key, OpenSSH format.
    pub host_key: Option<String>,
    /// Where the pinned key came from.
    pub host_key_source: Option<HostKeySource>,
    /// Whether native SSH clients may forward ports through it.
    pub allow_forwarding: bool,
    /// Users granted directly.
    pub users: Vec<UserId>,
    /// Roles granted.
    pub roles: Vec<RoleName>,
    /// Creation time.
    pub created_at: OffsetDateTime,
}

/// A connection to create.
#[derive(Clone, Debug)]
pub struct NewConnection {
    /// Unique name.
    pub name: ConnectionName,
    /// Protocol.
    pub protocol: Protocol,
    /// Target host.
    pub host: String,
    /// Target port.
    pub port: u16,
    /// Account on the target.
    pub username: String,
    /// Password or private key.
    pub secret_kind: SecretKind,
    /// The sealed secret.
    pub secret_sealed: Vec<u8>,
    /// A host key the administrator gave, OpenSSH format.
    pub host_key: Option<String>,
    /// Whether native SSH clients may forward ports through it.
    pub allow_forwarding: bool,
    /// Users to grant.
    pub users: Vec<UserId>,
    /// Roles to grant.
    pub roles: Vec<RoleName>,
}

/// Changes to a connection; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct ConnectionUpdate {
    /// A new unique name.
    pub name: Option<ConnectionName>,
    /// A new target host.
    pub host: Option<String>,
    /// A new target port.
    pub port: Option<u16>,
    /// A new account on the target.
    pub username: Option<String>,
    /// A new secret: its kind and the sealed bytes.
    pub secret: Option<(SecretKind, Vec<u8>)>,
    /// `Some(Some(key))` pins `key` as given by an administrator;
    /// `Some(None)` forgets the pinned key so the next session pins on first use.
    pub host_key: Option<Option<String>>,
    /// Allows or refuses port forwarding.
    pub allow_forwarding: Option<bool>,
    /// Replaces the users granted directly.
    pub users: Option<Vec<UserId>>,
    /// Replaces the roles granted.
    pub roles: Option<Vec<RoleName>>,
}

#[derive(sqlx::FromRow)]
struct ConnectionRow {
    id: String,
    name: String,
    protocol: String,
    host: String,
    port: i64,
    username: String,
    secret_kind: String,
    secret_sealed: Vec<u8>,
    host_key: Option<String>,
    host_key_source: Option<String>,
    allow_forwarding: bool,
    created_at: i64,
}

const SELECT: &str = "SELECT id, name, protocol, host, port, username, secret_kind, secret_sealed, host_key, host_key_source, allow_forwarding, created_at FROM connections";

impl Store {
    /// Creates a connection and its grants in one transaction.
    pub async fn create_connection(&self, new: NewConnection) -> Result<ConnectionRecord> {
        let id = ConnectionId::new();
        let now = OffsetDateTime::now_utc();
        let source = new.host_key.as_ref().map(|_| HostKeySource::Administrator);
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO connections (id, name, protocol, host, port, username, secret_kind, secret_sealed,
                                      host_key, host_key_source, allow_forwarding, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(id.to_string())
        .bind(new.name.as_str())
        .bind(new.protocol.as_str())
        .bind(&new.host)
        .bind(i64::from(new.port))
        .bind(&new.username)
        .bind(new.secret_kind.as_str())
        .bind(&new.secret_sealed)
        .bind(&new.host_key)
        .bind(source.map(HostKeySource::as_str))
        .bind(new.allow_forwarding)
        .bind(to_ms(now))
        .bind(to_ms(now))
        .execute(&mut *tx)
        .await
        .map_err(conflict(format!("connection {}", new.name)))?;
        for user in &new.users {
            sqlx::query("INSERT OR IGNORE INTO connection_user_grants (connection_id, user_id) VALUES (?, ?)")
                .bind(id.to_string())
                .bind(user.to_string())
                .execute(&mut *tx)
                .await
                .map_err(|e| foreign_key(e, format!("user {user}")))?;
        }
        for role in &new.roles {
            sqlx::query(
                "INSERT OR IGNORE INTO connection_role_grants (connection_id, role) VALUES (?, ?)",
            )
            .bind(id.to_string())
            .bind(role.as_str())
            .execute(&mut *tx)
            .await
            .map_err(|e| foreign_key(e, format!("role {role}")))?;
        }
        tx.commit().await?;
        Ok(ConnectionRecord {
            id,
            name: new.name,
            protocol: new.protocol,
            host: new.host,
            port: new.port,
            username: new.username,
            secret_kind: new.secret_kind,
            secret_sealed: new.secret_sealed,
            host_key: new.host_key,
            host_key_source: source,
            allow_forwarding: new.allow_forwarding,
            users: new.users,
            roles: new.roles,
            created_at: now,
        })
    }

    /// Changes a connection and replaces its grants in one transaction.
    /// Fails with `NotFound` for an unknown id, user or role and with
    /// `Conflict` if the new name is taken, changing nothing.
    pub async fn update_connection(
        &self,
        id: ConnectionId,
        update: ConnectionUpdate,
    ) -> Result<ConnectionRecord> {
        let now = to_ms(OffsetDateTime::now_utc());
        let mut tx = self.pool.begin().await?;
        let (kind, sealed) = update.secret.unzip();
        let done = sqlx::query(
            "UPDATE connections SET name = COALESCE(?, name), host = COALESCE(?, host),
                 port = COALESCE(?, port), username = COALESCE(?, username),
                 secret_kind = COALESCE(?, secret_kind), secret_sealed = COALESCE(?, secret_sealed),
                 allow_forwarding = COALESCE(?, allow_forwarding), updated_at = ?
             WHERE id = ?",
        )
        .bind(update.name.as_ref().map(ConnectionName::as_str))
        .bind(&update.host)
        .bind(update.port.map(i64::from))
        .bind(&update.username)
        .bind(kind.map(SecretKind::as_str))
        .bind(sealed)
        .bind(update.allow_forwarding)
        .bind(now)
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(conflict(match &update.name {
            Some(name) => format!("connection {name}"),
            None => format!("connection {id}"),
        }))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("connection {id}")));
        }
        if let Some(host_key) = &update.host_key {
            let source = host_key.as_ref().map(|_| HostKeySource::Administrator);
            sqlx::query("UPDATE connections SET host_key = ?, host_key_source = ? WHERE id = ?")
                .bind(host_key)
                .bind(source.map(HostKeySource::as_str))
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
        }
        if let Some(users) = &update.users {
            sqlx::query("DELETE FROM connection_user_grants WHERE connection_id = ?")
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
            for user in users {
                sqlx::query("INSERT OR IGNORE INTO connection_user_grants (connection_id, user_id) VALUES (?, ?)")
                    .bind(id.to_string())
                    .bind(user.to_string())
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| foreign_key(e, format!("user {user}")))?;
            }
        }
        if let Some(roles) = &update.roles {
            sqlx::query("DELETE FROM connection_role_grants WHERE connection_id = ?")
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
            for role in roles {
                sqlx::query(
                    "INSERT OR IGNORE INTO connection_role_grants (connection_id, role) VALUES (?, ?)",
                )
                .bind(id.to_string())
                .bind(role.as_str())
                .execute(&mut *tx)
                .await
                .map_err(|e| foreign_key(e, format!("role {role}")))?;
            }
        }
        tx.commit().await?;
        self.connection(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("connection {id}")))
    }

    /// Deletes a connection and its grants. History keeps the sessions that
    /// used it (rows carry the name, not a reference). Returns whether it existed.
    pub async fn delete_connection(&self, id: ConnectionId) -> Result<bool> {
        let done = sqlx::query("DELETE FROM connections WHERE id = ?")
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// One connection by id.
    pub async fn connection(&self, id: ConnectionId) -> Result<Option<ConnectionRecord>> {
        let row: Option<ConnectionRow> =
            sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} WHERE id = ?")))
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await?;
        match row {
            Some(row) => Ok(Some(self.finish_connection(row).await?)),
            None => Ok(None),
        }
    }

    /// Every connection, by name.
    pub async fn list_connections(&self) -> Result<Vec<ConnectionRecord>> {
        let rows: Vec<ConnectionRow> =
            sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} ORDER BY name")))
                .fetch_all(&self.pool)
                .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            out.push(self.finish_connection(row).await?);
        }
        Ok(out)
    }

    /// The connections granted to a user, directly or through a role.
    pub async fn connections_for_user(&self, user: UserId) -> Result<Vec<ConnectionRecord>> {
        let rows: Vec<ConnectionRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{SELECT} WHERE id IN (
                SELECT connection_id FROM connection_user_grants WHERE user_id = ?1
                UNION
                SELECT g.connection_id FROM connection_role_grants g
                JOIN user_roles ur ON ur.role = g.role WHERE ur.user_id = ?1
            ) ORDER BY name"
        )))
        .bind(user.to_string())
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            out.push(self.finish_connection(row).await?);
        }
        Ok(out)
    }

    /// Whether a user holds a grant on a connection, directly or through a role.
    pub async fn user_may_use(&self, user: UserId, connection: ConnectionId) -> Result<bool> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM (
                SELECT 1 FROM connection_user_grants WHERE user_id = ?1 AND connection_id = ?2
                UNION ALL
                SELECT 1 FROM connection_role_grants g JOIN user_roles ur ON ur.role = g.role
                WHERE ur.user_id = ?1 AND g.connection_id = ?2
            )",
        )
        .bind(user.to_string())
        .bind(connection.to_string())
        .fetch_one(&self.pool)
        .await?;
        Ok(n > 0)
    }

    /// Pins the target's host key on first use. Returns false (and changes
    /// nothing) if a key was pinned meanwhile.
    pub async fn pin_host_key(&self, id: ConnectionId, key: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE connections SET host_key = ?, host_key_source = 'first_use', updated_at = ?
             WHERE id = ? AND host_key IS NULL",
        )
        .bind(key)
        .bind(to_ms(OffsetDateTime::now_utc()))
        .bind(id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn finish_connection(&self, row: ConnectionRow) -> Result<ConnectionRecord> {
        let users: Vec<(String,)> = sqlx::query_as(
            "SELECT user_id FROM connection_user_grants WHERE connection_id = ? ORDER BY user_id",
        )
        .bind(&row.id)
        .fetch_all(&self.pool)
        .await?;
        let roles: Vec<(String,)> = sqlx::query_as(
            "SELECT role FROM connection_role_grants WHERE connection_id = ? ORDER BY role",
        )
        .bind(&row.id)
        .fetch_all(&self.pool)
        .await?;
        Ok(ConnectionRecord {
            id: parse("connection id", &row.id)?,
            name: parse("connection name", &row.name)?,
            protocol: match row.protocol.as_str() {
                "ssh" => Protocol::Ssh,
                other => return Err(StoreError::Corrupt(format!("protocol {other:?}"))),
            },
            host: row.host,
            port: u16::try_from(row.port)
                .map_err(|_| StoreError::Corrupt(format!("port {}", row.port)))?,
            username: row.username,
            secret_kind: match row.secret_kind.as_str() {
                "password" => SecretKind::Password,
                "private_key" => SecretKind::PrivateKey,
                other => return Err(StoreError::Corrupt(format!("secret kind {other:?}"))),
            },
            secret_sealed: row.secret_sealed,
            host_key: row.host_key,
            host_key_source: match row.host_key_source.as_deref() {
                None => None,
                Some("administrator") => Some(HostKeySource::Administrator),
                Some("first_use") => Some(HostKeySource::FirstUse),
                Some(other) => {
                    return Err(StoreError::Corrupt(format!("host key source {other:?}")));
                }
            },
            allow_forwarding: row.allow_forwarding,
            users: users
                .into_iter()
                .map(|(u,)| parse("user id", &u))
                .collect::<Result<_>>()?,
            roles: roles
                .into_iter()
                .map(|(r,)| parse("role", &r))
                .collect::<Result<_>>()?,
            created_at: from_ms(row.created_at),
        })
    }
}

fn foreign_key(e: sqlx::Error, what: String) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::NotFound(what),
        _ => StoreError::Database(e),
    }
}
