use gatehouse_domain::{BuiltinRole, Permission, RoleName, UserId, Username};
use serde::Serialize;
use time::OffsetDateTime;

use crate::{Result, Store, StoreError, conflict, from_ms, parse, to_ms};

/// A user account as stored.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct UserRecord {
    /// The user's id.
    pub id: UserId,
    /// The login name.
    pub username: Username,
    /// Argon2 PHC string; never serialised.
    #[serde(skip)]
    pub password_hash: String,
    /// A disabled user cannot log in.
    pub disabled: bool,
    /// The roles the user holds.
    pub roles: Vec<RoleName>,
    /// When the account was created.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

/// A user to create.
#[derive(Clone, Debug)]
pub struct NewUser {
    /// The login name.
    pub username: Username,
    /// Argon2 PHC string.
    pub password_hash: String,
    /// Roles to grant; each must exist.
    pub roles: Vec<RoleName>,
}

/// Changes to an account for [`Store::change_user`]; `None` leaves a field
/// as it is.
#[derive(Clone, Debug, Default)]
pub struct UserChange {
    /// Replaces the user's roles; each must exist.
    pub roles: Option<Vec<RoleName>>,
    /// Disables (`true`) or re-enables the account.
    pub disabled: Option<bool>,
    /// A new Argon2 PHC string.
    pub password_hash: Option<String>,
}

#[derive(sqlx::FromRow)]
struct UserRow {
    id: String,
    username: String,
    password_hash: String,
    disabled: bool,
    created_at: i64,
}

/// Gives user `$user` each of `$roles` inside transaction `$tx` (either
/// backend); `NotFound` names the first role that does not exist.
macro_rules! add_roles {
    ($tx:ident, $user:expr, $roles:expr) => {
        for role in $roles {
            let exists: Option<(String,)> =
                sqlx::query_as("SELECT name FROM roles WHERE name = $1")
                    .bind(role.as_str())
                    .fetch_optional(&mut *$tx)
                    .await?;
            if exists.is_none() {
                return Err(StoreError::NotFound(format!("role {role}")));
            }
            sqlx::query(
                "INSERT INTO user_roles (user_id, role) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind($user.to_string())
            .bind(role.as_str())
            .execute(&mut *$tx)
            .await?;
        }
    };
}

/// Serialises every change that could take `$role` from its last holder:
/// a no-op write of the role's row. On PostgreSQL it takes the row's lock
/// until commit (a second such transaction waits, then sees the first's
/// writes); on SQLite any write takes the database's one write lock.
macro_rules! lock_role {
    ($tx:ident, $role:expr) => {
        sqlx::query("UPDATE roles SET builtin = builtin WHERE name = $1")
            .bind($role.as_str())
            .execute(&mut *$tx)
            .await?;
    };
}

/// How many enabled users hold `$role`, inside transaction `$tx`.
macro_rules! count_holders {
    ($tx:ident, $role:expr) => {{
        let (holders,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM users u JOIN user_roles ur ON ur.user_id = u.id
             WHERE ur.role = $1 AND NOT u.disabled",
        )
        .bind($role.as_str())
        .fetch_one(&mut *$tx)
        .await?;
        holders
    }};
}

/// Takes `$role`'s lock (see `lock_role!`) when `$keep` names a role,
/// and returns how many enabled users hold it now.
macro_rules! guard_role {
    ($tx:ident, $keep:expr) => {
        match $keep {
            Some(role) => {
                lock_role!($tx, role);
                count_holders!($tx, role)
            }
            None => 0,
        }
    };
}

/// Fails the transaction with `LastHolder` if the role `$keep` names had
/// holders before (`$before`) and has none now.
macro_rules! require_holder {
    ($tx:ident, $keep:expr, $before:expr) => {
        if let Some(role) = $keep {
            if $before > 0 && count_holders!($tx, role) == 0 {
                return Err(StoreError::LastHolder(role.to_string()));
            }
        }
    };
}

impl Store {
    pub(crate) async fn ensure_builtin_roles(&self) -> Result<()> {
        // Several nodes may start at once: every insert tolerates the row
        // another node inserted meanwhile.
        on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            for role in BuiltinRole::ALL {
                sqlx::query(
                    "INSERT INTO roles (name, builtin) VALUES ($1, TRUE) ON CONFLICT DO NOTHING",
                )
                .bind(role.name())
                .execute(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM role_permissions WHERE role = $1")
                    .bind(role.name())
                    .execute(&mut *tx)
                    .await?;
                for p in role.permissions() {
                    sqlx::query(
                        "INSERT INTO role_permissions (role, permission) VALUES ($1, $2)
                         ON CONFLICT DO NOTHING",
                    )
                    .bind(role.name())
                    .bind(p.as_str())
                    .execute(&mut *tx)
                    .await?;
                }
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Creates a user with roles. Fails with `Conflict` if the name is taken
    /// and `NotFound` if a role does not exist.
    pub async fn create_user(&self, new: NewUser) -> Result<UserRecord> {
        let id = UserId::new();
        let now = OffsetDateTime::now_utc();
        on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO users (id, username, password_hash, disabled, created_at)
                 VALUES ($1, $2, $3, FALSE, $4)",
            )
            .bind(id.to_string())
            .bind(new.username.as_str())
            .bind(&new.password_hash)
            .bind(to_ms(now))
            .execute(&mut *tx)
            .await
            .map_err(conflict(format!("user {}", new.username)))?;
            add_roles!(tx, id, &new.roles);
            tx.commit().await?;
        });
        Ok(UserRecord {
            id,
            username: new.username,
            password_hash: new.password_hash,
            disabled: false,
            roles: new.roles,
            created_at: now,
        })
    }

    /// How many users exist (zero on first start).
    pub async fn count_users(&self) -> Result<i64> {
        let (n,): (i64,) = on_pool!(self, |pool| {
            sqlx::query_as("SELECT COUNT(*) FROM users")
                .fetch_one(pool)
                .await?
        });
        Ok(n)
    }

    /// Looks a user up by login name.
    pub async fn user_by_name(&self, username: &Username) -> Result<Option<UserRecord>> {
        let row: Option<UserRow> = on_pool!(self, |pool| {
            sqlx::query_as("SELECT * FROM users WHERE username = $1")
                .bind(username.as_str())
                .fetch_optional(pool)
                .await?
        });
        self.finish_user(row).await
    }

    /// Looks a user up by id.
    pub async fn user_by_id(&self, id: UserId) -> Result<Option<UserRecord>> {
        let row: Option<UserRow> = on_pool!(self, |pool| {
            sqlx::query_as("SELECT * FROM users WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(pool)
                .await?
        });
        self.finish_user(row).await
    }

    /// Every user, by name.
    pub async fn list_users(&self) -> Result<Vec<UserRecord>> {
        let rows: Vec<UserRow> = on_pool!(self, |pool| {
            sqlx::query_as("SELECT * FROM users ORDER BY username")
                .fetch_all(pool)
                .await?
        });
        let mut users = Vec::with_capacity(rows.len());
        for row in rows {
            if let Some(u) = self.finish_user(Some(row)).await? {
                users.push(u);
            }
        }
        Ok(users)
    }

    /// Up to `limit` names of enabled users, other than `except`, that start
    /// with `prefix` (exactly: names are stored lowercase), by name. Only the
    /// names: this answers people who may not list users (share suggestions).
    pub async fn enabled_usernames_starting_with(
        &self,
        prefix: &Username,
        except: UserId,
        limit: i64,
    ) -> Result<Vec<Username>> {
        let rows: Vec<(String,)> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT username FROM users
                 WHERE substr(username, 1, length($1)) = $1 AND NOT disabled AND id <> $2
                 ORDER BY username LIMIT $3",
            )
            .bind(prefix.as_str())
            .bind(except.to_string())
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(name,)| parse("username", &name))
            .collect()
    }

    /// Replaces the user's roles. Fails with `NotFound` if the user or a
    /// role does not exist, changing nothing.
    pub async fn set_user_roles(&self, id: UserId, roles: &[RoleName]) -> Result<()> {
        self.change_user(
            id,
            &UserChange {
                roles: Some(roles.to_vec()),
                ..UserChange::default()
            },
            None,
        )
        .await
    }

    /// Disables or re-enables a user. Fails with `NotFound` for an unknown id.
    pub async fn set_user_disabled(&self, id: UserId, disabled: bool) -> Result<()> {
        let changed = on_pool!(self, |pool| {
            sqlx::query("UPDATE users SET disabled = $1 WHERE id = $2")
                .bind(disabled)
                .bind(id.to_string())
                .execute(pool)
                .await?
                .rows_affected()
        });
        if changed == 0 {
            return Err(StoreError::NotFound(format!("user {id}")));
        }
        Ok(())
    }

    /// Replaces the user's Argon2 PHC string. Fails with `NotFound` for an
    /// unknown id.
    pub async fn set_user_password_hash(&self, id: UserId, password_hash: &str) -> Result<()> {
        let changed = on_pool!(self, |pool| {
            sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
                .bind(password_hash)
                .bind(id.to_string())
                .execute(pool)
                .await?
                .rows_affected()
        });
        if changed == 0 {
            return Err(StoreError::NotFound(format!("user {id}")));
        }
        Ok(())
    }

    /// Applies `change` to user `id` in one transaction. With `keep`, the
    /// change is refused ([`StoreError::LastHolder`], nothing written) if
    /// it would take that role from its last enabled holder: the rule "at least
    /// one active administrator" holds in the database, for every node at
    /// once. Disabling the user or changing the password also deletes their
    /// login tokens, in the same transaction. `NotFound` for an unknown
    /// user or role.
    pub async fn change_user(
        &self,
        id: UserId,
        change: &UserChange,
        keep: Option<&RoleName>,
    ) -> Result<()> {
        on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let before = guard_role!(tx, keep);
            let exists = sqlx::query(
                "UPDATE users SET disabled = COALESCE($1, disabled),
                                          password_hash = COALESCE($2, password_hash)
                                      WHERE id = $3",
            )
            .bind(change.disabled)
            .bind(change.password_hash.as_deref())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if exists == 0 {
                return Err(StoreError::NotFound(format!("user {id}")));
            }
            if let Some(roles) = &change.roles {
                sqlx::query("DELETE FROM user_roles WHERE user_id = $1")
                    .bind(id.to_string())
                    .execute(&mut *tx)
                    .await?;
                add_roles!(tx, id, roles);
            }
            if change.disabled == Some(true) || change.password_hash.is_some() {
                sqlx::query("DELETE FROM auth_tokens WHERE user_id = $1")
                    .bind(id.to_string())
                    .execute(&mut *tx)
                    .await?;
            }
            require_holder!(tx, keep, before);
            tx.commit().await?;
        });
        Ok(())
    }

    /// Deletes a user with their roles, login tokens and direct grants.
    /// History and audit rows keep the username (they hold the name, not a
    /// reference). Returns whether the user existed.
    pub async fn delete_user(&self, id: UserId) -> Result<bool> {
        self.delete_user_keeping(id, None).await
    }

    /// [`Store::delete_user`], refused with [`StoreError::LastHolder`] (in
    /// the same transaction) if it would take `keep` from its last enabled
    /// holder.
    pub async fn delete_user_keeping(&self, id: UserId, keep: Option<&RoleName>) -> Result<bool> {
        let existed = on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let before = guard_role!(tx, keep);
            let existed = sqlx::query("DELETE FROM users WHERE id = $1")
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?
                .rows_affected()
                > 0;
            require_holder!(tx, keep, before);
            tx.commit().await?;
            existed
        });
        Ok(existed)
    }

    /// How many enabled users other than `except` hold `role`.
    pub async fn count_enabled_with_role(&self, role: &RoleName, except: UserId) -> Result<i64> {
        let (n,): (i64,) = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT COUNT(*) FROM users u JOIN user_roles ur ON ur.user_id = u.id
                 WHERE ur.role = $1 AND NOT u.disabled AND u.id <> $2",
            )
            .bind(role.as_str())
            .bind(except.to_string())
            .fetch_one(pool)
            .await?
        });
        Ok(n)
    }

    /// The union of the permissions of the user's roles.
    pub async fn user_permissions(&self, id: UserId) -> Result<Vec<Permission>> {
        let rows: Vec<(String,)> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT DISTINCT rp.permission FROM user_roles ur
                 JOIN role_permissions rp ON rp.role = ur.role WHERE ur.user_id = $1",
            )
            .bind(id.to_string())
            .fetch_all(pool)
            .await?
        });
        // A permission this build does not know (from a newer version) grants nothing.
        Ok(rows.into_iter().filter_map(|(p,)| p.parse().ok()).collect())
    }

    async fn finish_user(&self, row: Option<UserRow>) -> Result<Option<UserRecord>> {
        let Some(row) = row else { return Ok(None) };
        let roles: Vec<(String,)> = on_pool!(self, |pool| {
            sqlx::query_as("SELECT role FROM user_roles WHERE user_id = $1 ORDER BY role")
                .bind(&row.id)
                .fetch_all(pool)
                .await?
        });
        Ok(Some(UserRecord {
            id: parse("user id", &row.id)?,
            username: parse("username", &row.username)?,
            password_hash: row.password_hash,
            disabled: row.disabled,
            roles: roles
                .into_iter()
                .map(|(r,)| parse("role", &r))
                .collect::<Result<_>>()?,
            created_at: from_ms(row.created_at),
        }))
    }
}
