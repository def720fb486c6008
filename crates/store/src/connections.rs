use gatehouse_domain::{
    ConnectionId, ConnectionName, HostKeySource, Protocol, RoleName, Target, UserId,
};
use time::OffsetDateTime;

use crate::{Result, Store, StoreError, conflict, from_ms, parse, to_ms};

/// A connection as stored. The secret stays sealed.
#[derive(Clone, Debug)]
pub struct ConnectionRecord {
    /// The connection's id.
    pub id: ConnectionId,
    /// Its unique name.
    pub name: ConnectionName,
    /// What it reaches, tagged by protocol.
    pub target: Target,
    /// The sealed secret (see the access crate's `SecretBox`); what it is
    /// depends on the target. `None` when the target needs none.
    pub secret_sealed: Option<Vec<u8>>,
    /// Users granted directly.
    pub users: Vec<UserId>,
    /// Roles granted.
    pub roles: Vec<RoleName>,
    /// Creation time.
    pub created_at: OffsetDateTime,
}

impl ConnectionRecord {
    /// The protocol its target speaks.
    pub fn protocol(&self) -> Protocol {
        self.target.protocol()
    }
}

/// A connection to create.
#[derive(Clone, Debug)]
pub struct NewConnection {
    /// Unique name.
    pub name: ConnectionName,
    /// What it reaches.
    pub target: Target,
    /// The sealed secret, if the target needs one.
    pub secret_sealed: Option<Vec<u8>>,
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
    /// The target as it is now (read just before), and what it becomes:
    /// the change applies only if nothing changed the target meanwhile
    /// (else `Conflict`, so a pinned host key is never overwritten unseen).
    pub target: Option<(Target, Target)>,
    /// `Some(sealed)` replaces the secret (`Some(None)` removes it).
    pub secret: Option<Option<Vec<u8>>>,
    /// Replaces the users granted directly.
    pub users: Option<Vec<UserId>>,
    /// Replaces the roles granted.
    pub roles: Option<Vec<RoleName>>,
}

#[derive(sqlx::FromRow)]
struct ConnectionRow {
    id: String,
    name: String,
    target: String,
    secret: Option<Vec<u8>>,
    created_at: i64,
}

const SELECT: &str = "SELECT id, name, target, secret, created_at FROM connections";

fn target_json(target: &Target) -> String {
    serde_json::to_string(target).expect("a target always serialises")
}

impl Store {
    /// Creates a connection and its grants in one transaction.
    pub async fn create_connection(&self, new: NewConnection) -> Result<ConnectionRecord> {
        let id = ConnectionId::new();
        let now = OffsetDateTime::now_utc();
        on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            sqlx::query(
            "INSERT INTO connections (id, name, protocol, target, secret, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id.to_string())
        .bind(new.name.as_str())
        .bind(new.target.protocol().as_str())
        .bind(target_json(&new.target))
        .bind(&new.secret_sealed)
        .bind(to_ms(now))
        .bind(to_ms(now))
        .execute(&mut *tx)
        .await
        .map_err(conflict(format!("connection {}", new.name)))?;
            for user in &new.users {
                sqlx::query("INSERT INTO connection_user_grants (connection_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(id.to_string())
                .bind(user.to_string())
                .execute(&mut *tx)
                .await
                .map_err(|e| foreign_key(e, format!("user {user}")))?;
            }
            for role in &new.roles {
                sqlx::query(
                "INSERT INTO connection_role_grants (connection_id, role) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(id.to_string())
            .bind(role.as_str())
            .execute(&mut *tx)
            .await
            .map_err(|e| foreign_key(e, format!("role {role}")))?;
            }
            tx.commit().await?;
        });
        Ok(ConnectionRecord {
            id,
            name: new.name,
            target: new.target,
            secret_sealed: new.secret_sealed,
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
        on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let done = sqlx::query(
                "UPDATE connections SET name = COALESCE($1, name), updated_at = $2 WHERE id = $3",
            )
            .bind(update.name.as_ref().map(ConnectionName::as_str))
            .bind(now)
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(conflict(match &update.name {
                Some(name) => format!("connection {name}"),
                None => format!("connection {id}"),
            }))?
            .rows_affected();
            if done == 0 {
                return Err(StoreError::NotFound(format!("connection {id}")));
            }
            if let Some((was, target)) = &update.target {
                let done = sqlx::query(
                "UPDATE connections SET protocol = $1, target = $2 WHERE id = $3 AND target = $4",
            )
            .bind(target.protocol().as_str())
            .bind(target_json(target))
            .bind(id.to_string())
            .bind(target_json(was))
            .execute(&mut *tx)
            .await?
            .rows_affected();
                if done == 0 {
                    return Err(StoreError::Conflict(format!(
                        "connection {id} changed meanwhile; try again"
                    )));
                }
            }
            if let Some(secret) = &update.secret {
                sqlx::query("UPDATE connections SET secret = $1 WHERE id = $2")
                    .bind(secret)
                    .bind(id.to_string())
                    .execute(&mut *tx)
                    .await?;
            }
            if let Some(users) = &update.users {
                sqlx::query("DELETE FROM connection_user_grants WHERE connection_id = $1")
                    .bind(id.to_string())
                    .execute(&mut *tx)
                    .await?;
                for user in users {
                    sqlx::query("INSERT INTO connection_user_grants (connection_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                    .bind(id.to_string())
                    .bind(user.to_string())
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| foreign_key(e, format!("user {user}")))?;
                }
            }
            if let Some(roles) = &update.roles {
                sqlx::query("DELETE FROM connection_role_grants WHERE connection_id = $1")
                    .bind(id.to_string())
                    .execute(&mut *tx)
                    .await?;
                for role in roles {
                    sqlx::query(
                    "INSERT INTO connection_role_grants (connection_id, role) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                )
                .bind(id.to_string())
                .bind(role.as_str())
                .execute(&mut *tx)
                .await
                .map_err(|e| foreign_key(e, format!("role {role}")))?;
                }
            }
            tx.commit().await?;
        });
        self.connection(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("connection {id}")))
    }

    /// Deletes a connection and its grants. History keeps the sessions that
    /// used it (rows carry the name, not a reference). Returns whether it existed.
    pub async fn delete_connection(&self, id: ConnectionId) -> Result<bool> {
        let done = on_pool!(self, |pool| {
            sqlx::query("DELETE FROM connections WHERE id = $1")
                .bind(id.to_string())
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done > 0)
    }

    /// One connection by id.
    pub async fn connection(&self, id: ConnectionId) -> Result<Option<ConnectionRecord>> {
        let row: Option<ConnectionRow> = on_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} WHERE id = $1")))
                .bind(id.to_string())
                .fetch_optional(pool)
                .await?
        });
        match row {
            Some(row) => Ok(Some(self.finish_connection(row).await?)),
            None => Ok(None),
        }
    }

    /// Every connection, by name.
    pub async fn list_connections(&self) -> Result<Vec<ConnectionRecord>> {
        let rows: Vec<ConnectionRow> = on_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} ORDER BY name")))
                .fetch_all(pool)
                .await?
        });
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            out.push(self.finish_connection(row).await?);
        }
        Ok(out)
    }

    /// The connections granted to a user, directly or through a role.
    pub async fn connections_for_user(&self, user: UserId) -> Result<Vec<ConnectionRecord>> {
        let rows: Vec<ConnectionRow> = on_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{SELECT} WHERE id IN (
                SELECT connection_id FROM connection_user_grants WHERE user_id = $1
                UNION
                SELECT g.connection_id FROM connection_role_grants g
                JOIN user_roles ur ON ur.role = g.role WHERE ur.user_id = $1
            ) ORDER BY name"
            )))
            .bind(user.to_string())
            .fetch_all(pool)
            .await?
        });
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            out.push(self.finish_connection(row).await?);
        }
        Ok(out)
    }

    /// Whether a user holds a grant on a connection, directly or through a role.
    pub async fn user_may_use(&self, user: UserId, connection: ConnectionId) -> Result<bool> {
        let (n,): (i64,) = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT COUNT(*) FROM (
                SELECT 1 FROM connection_user_grants WHERE user_id = $1 AND connection_id = $2
                UNION ALL
                SELECT 1 FROM connection_role_grants g JOIN user_roles ur ON ur.role = g.role
                WHERE ur.user_id = $1 AND g.connection_id = $2
            ) AS grants",
            )
            .bind(user.to_string())
            .bind(connection.to_string())
            .fetch_one(pool)
            .await?
        });
        Ok(n > 0)
    }

    /// Pins an SSH target's host key, or an RDP target's certificate
    /// fingerprint, on first use. Returns false (and changes nothing) if one
    /// was pinned meanwhile.
    pub async fn pin_host_key(&self, id: ConnectionId, key: &str) -> Result<bool> {
        // Read, change, and write back only if the stored document is still
        // the one read (the same compare-and-set as `update_connection`),
        // so it is one statement in either dialect; a concurrent change to
        // another field makes it look again.
        for _ in 0..5 {
            let row: Option<(String,)> = on_pool!(self, |pool| {
                sqlx::query_as("SELECT target FROM connections WHERE id = $1")
                    .bind(id.to_string())
                    .fetch_optional(pool)
                    .await?
            });
            let Some((was,)) = row else { return Ok(false) };
            let mut target: Target = serde_json::from_str(&was)
                .map_err(|e| StoreError::Corrupt(format!("target of connection {id}: {e}")))?;
            // An SSH host key, or an RDP server's certificate fingerprint.
            let (pinned, source) = match &mut target {
                Target::Ssh(ssh) => (&mut ssh.host_key, &mut ssh.host_key_source),
                Target::Rdp(rdp) => (&mut rdp.cert, &mut rdp.cert_source),
                _ => return Ok(false),
            };
            if pinned.is_some() {
                return Ok(false);
            }
            *pinned = Some(key.to_owned());
            *source = Some(HostKeySource::FirstUse);
            let done = on_pool!(self, |pool| {
                sqlx::query(
                    "UPDATE connections SET target = $1, updated_at = $2 WHERE id = $3 AND target = $4",
                )
                .bind(target_json(&target))
                .bind(to_ms(OffsetDateTime::now_utc()))
                .bind(id.to_string())
                .bind(&was)
                .execute(pool)
                .await?
                .rows_affected()
            });
            if done == 1 {
                return Ok(true);
            }
        }
        Ok(false)
    }

    async fn finish_connection(&self, row: ConnectionRow) -> Result<ConnectionRecord> {
        let users: Vec<(String,)> = on_pool!(self, |pool| {
            sqlx::query_as(
            "SELECT user_id FROM connection_user_grants WHERE connection_id = $1 ORDER BY user_id",
        )
        .bind(&row.id)
        .fetch_all(pool).await?
        });
        let roles: Vec<(String,)> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT role FROM connection_role_grants WHERE connection_id = $1 ORDER BY role",
            )
            .bind(&row.id)
            .fetch_all(pool)
            .await?
        });
        let target: Target = serde_json::from_str(&row.target)
            .map_err(|e| StoreError::Corrupt(format!("target of connection {}: {e}", row.id)))?;
        Ok(ConnectionRecord {
            id: parse("connection id", &row.id)?,
            name: parse("connection name", &row.name)?,
            target,
            secret_sealed: row.secret,
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
