use gatehouse_domain::{ConnectionId, RoleName, UserId};
use serde::{Deserialize, Serialize};

use crate::{Result, Store, StoreError, parse};

/// Idle and duration limits at one level (a role or a connection).
/// `None` (or 0) means no limit at this level.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitSettings {
    /// End a session after this many seconds without input (at most ten
    /// years; the API refuses more).
    #[schema(maximum = 315_360_000)]
    pub idle_timeout_seconds: Option<u64>,
    /// End a session this many seconds after it started (at most ten years).
    #[schema(maximum = 315_360_000)]
    pub max_session_seconds: Option<u64>,
}

impl LimitSettings {
    /// `0` is stored as "no limit".
    fn normalised(self) -> Self {
        Self {
            idle_timeout_seconds: self.idle_timeout_seconds.filter(|s| *s > 0),
            max_session_seconds: self.max_session_seconds.filter(|s| *s > 0),
        }
    }
}

fn to_db(v: Option<u64>) -> Option<i64> {
    v.map(|s| i64::try_from(s).unwrap_or(i64::MAX))
}

fn from_db(v: Option<i64>) -> Option<u64> {
    v.and_then(|s| u64::try_from(s).ok()).filter(|s| *s > 0)
}

/// A role's row: name, built in, idle and duration limits, second factor required.
type RoleRow = (String, bool, Option<i64>, Option<i64>, bool);

/// A role with what it allows and the session limits it sets.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct RoleRecord {
    /// The role's name.
    pub name: RoleName,
    /// Whether it is one of the built-in roles.
    pub builtin: bool,
    /// What the role allows.
    pub permissions: Vec<gatehouse_domain::Permission>,
    /// Session limits for its members.
    pub limits: LimitSettings,
    /// Its members must log in with a second factor.
    pub require_second_factor: bool,
}

impl Store {
    /// Every role with its permissions and limits.
    pub async fn list_roles(&self) -> Result<Vec<RoleRecord>> {
        let rows: Vec<RoleRow> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT r.name, r.builtin, l.idle_timeout_seconds, l.max_session_seconds,
                    r.require_second_factor
             FROM roles r LEFT JOIN role_limits l ON l.role = r.name ORDER BY r.name",
            )
            .fetch_all(pool)
            .await?
        });
        let mut roles = Vec::with_capacity(rows.len());
        for (name, builtin, idle, max, require_second_factor) in rows {
            let perms: Vec<(String,)> = on_pool!(self, |pool| {
                sqlx::query_as(
                    "SELECT permission FROM role_permissions WHERE role = $1 ORDER BY permission",
                )
                .bind(&name)
                .fetch_all(pool)
                .await?
            });
            roles.push(RoleRecord {
                name: parse("role", &name)?,
                builtin,
                permissions: perms
                    .into_iter()
                    .filter_map(|(p,)| p.parse().ok())
                    .collect(),
                limits: LimitSettings {
                    idle_timeout_seconds: from_db(idle),
                    max_session_seconds: from_db(max),
                },
                require_second_factor,
            });
        }
        Ok(roles)
    }

    /// Sets a role's session limits.
    pub async fn set_role_limits(&self, role: &RoleName, limits: LimitSettings) -> Result<()> {
        self.upsert_limits("role_limits", "role", role.as_str(), limits, || {
            format!("role {role}")
        })
        .await
    }

    /// A connection's session limits.
    pub async fn connection_limits(&self, id: ConnectionId) -> Result<LimitSettings> {
        let row: Option<(Option<i64>, Option<i64>)> = on_pool!(self, |pool| {
            sqlx::query_as(
            "SELECT idle_timeout_seconds, max_session_seconds FROM connection_limits WHERE connection_id = $1",
        )
        .bind(id.to_string())
        .fetch_optional(pool).await?
        });
        Ok(row
            .map(|(idle, max)| LimitSettings {
                idle_timeout_seconds: from_db(idle),
                max_session_seconds: from_db(max),
            })
            .unwrap_or_default())
    }

    /// Sets a connection's session limits.
    pub async fn set_connection_limits(
        &self,
        id: ConnectionId,
        limits: LimitSettings,
    ) -> Result<()> {
        self.upsert_limits(
            "connection_limits",
            "connection_id",
            &id.to_string(),
            limits,
            || format!("connection {id}"),
        )
        .await
    }

    /// Inserts or replaces one level's limits; `table` and `key` are constants.
    async fn upsert_limits(
        &self,
        table: &'static str,
        key: &'static str,
        value: &str,
        limits: LimitSettings,
        what: impl FnOnce() -> String,
    ) -> Result<()> {
        let limits = limits.normalised();
        on_pool!(self, |pool| {
            sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO {table} ({key}, idle_timeout_seconds, max_session_seconds) VALUES ($1, $2, $3)
             ON CONFLICT ({key}) DO UPDATE SET idle_timeout_seconds = excluded.idle_timeout_seconds,
                                               max_session_seconds = excluded.max_session_seconds"
        )))
        .bind(value)
        .bind(to_db(limits.idle_timeout_seconds))
        .bind(to_db(limits.max_session_seconds))
        .execute(pool).await
        .map_err(|e| match &e {
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                StoreError::NotFound(what())
            }
            _ => StoreError::Database(e),
        })?
.rows_affected()
        });
        Ok(())
    }

    /// The limits set by each role `user` holds, by role name.
    pub async fn user_role_limits(&self, user: UserId) -> Result<Vec<(RoleName, LimitSettings)>> {
        let rows: Vec<(String, Option<i64>, Option<i64>)> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT l.role, l.idle_timeout_seconds, l.max_session_seconds FROM role_limits l
             JOIN user_roles ur ON ur.role = l.role WHERE ur.user_id = $1 ORDER BY l.role",
            )
            .bind(user.to_string())
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(role, idle, max)| {
                Ok((
                    parse("role", &role)?,
                    LimitSettings {
                        idle_timeout_seconds: from_db(idle),
                        max_session_seconds: from_db(max),
                    },
                ))
            })
            .collect()
    }
}
