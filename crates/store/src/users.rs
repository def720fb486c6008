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

#[derive(sqlx::FromRow)]
struct UserRow {
    id: String,
    username: String,
    password_hash: String,
    disabled: bool,
    created_at: i64,
}

impl Store {
    pub(crate) async fn ensure_builtin_roles(&self) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for role in BuiltinRole::ALL {
            sqlx::query("INSERT OR IGNORE INTO roles (name, builtin) VALUES (?, 1)")
                .bind(role.name())
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM role_permissions WHERE role = ?")
                .bind(role.name())
                .execute(&mut *tx)
                .await?;
            for p in role.permissions() {
                sqlx::query("INSERT INTO role_permissions (role, permission) VALUES (?, ?)")
                    .bind(role.name())
                    .bind(p.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Creates a user with roles. Fails with `Conflict` if the name is taken
    /// and `NotFound` if a role does not exist.
    pub async fn create_user(&self, new: NewUser) -> Result<UserRecord> {
        let id = UserId::new();
        let now = OffsetDateTime::now_utc();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO users (id, username, password_hash, disabled, created_at) VALUES (?, ?, ?, 0, ?)",
        )
        .bind(id.to_string())
        .bind(new.username.as_str())
        .bind(&new.password_hash)
        .bind(to_ms(now))
        .execute(&mut *tx)
        .await
        .map_err(conflict(format!("user {}", new.username)))?;
        add_roles(&mut tx, id, &new.roles).await?;
        tx.commit().await?;
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
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await?;
        Ok(n)
    }

    /// Looks a user up by login name.
    pub async fn user_by_name(&self, username: &Username) -> Result<Option<UserRecord>> {
        let row: Option<UserRow> = sqlx::query_as("SELECT * FROM users WHERE username = ?")
            .bind(username.as_str())
            .fetch_optional(&self.pool)
            .await?;
        self.finish_user(row).await
    }

    /// Looks a user up by id.
    pub async fn user_by_id(&self, id: UserId) -> Result<Option<UserRecord>> {
        let row: Option<UserRow> = sqlx::query_as("SELECT * FROM users WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        self.finish_user(row).await
    }

    /// Every user, by name.
    pub async fn list_users(&self) -> Result<Vec<UserRecord>> {
        let rows: Vec<UserRow> = sqlx::query_as("SELECT * FROM users ORDER BY username")
            .fetch_all(&self.pool)
            .await?;
        let mut users = Vec::with_capacity(rows.len());
        for row in rows {
            if let Some(u) = self.finish_user(Some(row)).await? {
                users.push(u);
            }
        }
        Ok(users)
    }

    /// Replaces the user's roles. Fails with `NotFound` if the user or a
    /// role does not exist, changing nothing.
    pub async fn set_user_roles(&self, id: UserId, roles: &[RoleName]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        // Write first: a transaction that reads first holds a snapshot, and
        // SQLite refuses it the write lock at once ("database is locked",
        // without waiting out the busy timeout) if anyone else wrote since.
        sqlx::query("DELETE FROM user_roles WHERE user_id = ?")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        let exists: Option<(String,)> = sqlx::query_as("SELECT id FROM users WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(StoreError::NotFound(format!("user {id}")));
        }
        add_roles(&mut tx, id, roles).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Disables or re-enables a user. Fails with `NotFound` for an unknown id.
    pub async fn set_user_disabled(&self, id: UserId, disabled: bool) -> Result<()> {
        let done = sqlx::query("UPDATE users SET disabled = ? WHERE id = ?")
            .bind(disabled)
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("user {id}")));
        }
        Ok(())
    }

    /// Replaces the user's Argon2 PHC string. Fails with `NotFound` for an
    /// unknown id.
    pub async fn set_user_password_hash(&self, id: UserId, password_hash: &str) -> Result<()> {
        let done = sqlx::query("UPDATE users SET password_hash = ? WHERE id = ?")
            .bind(password_hash)
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("user {id}")));
        }
        Ok(())
    }

    /// Deletes a user with their roles, login tokens and direct grants.
    /// History and audit rows keep the username (they hold the name, not a
    /// reference). Returns whether the user existed.
    pub async fn delete_user(&self, id: UserId) -> Result<bool> {
        let done = sqlx::query("DELETE FROM users WHERE id = ?")
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// How many enabled users other than `except` hold `role`.
    pub async fn count_enabled_with_role(&self, role: &RoleName, except: UserId) -> Result<i64> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM users u JOIN user_roles ur ON ur.user_id = u.id
             WHERE ur.role = ? AND u.disabled = 0 AND u.id <> ?",
        )
        .bind(role.as_str())
        .bind(except.to_string())
        .fetch_one(&self.pool)
        .await?;
        Ok(n)
    }

    /// The union of the permissions of the user's roles.
    pub async fn user_permissions(&self, id: UserId) -> Result<Vec<Permission>> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT DISTINCT rp.permission FROM user_roles ur
             JOIN role_permissions rp ON rp.role = ur.role WHERE ur.user_id = ?",
        )
        .bind(id.to_string())
        .fetch_all(&self.pool)
        .await?;
        // A permission this build does not know (from a newer version) grants nothing.
        Ok(rows.into_iter().filter_map(|(p,)| p.parse().ok()).collect())
    }

    async fn finish_user(&self, row: Option<UserRow>) -> Result<Option<UserRecord>> {
        let Some(row) = row else { return Ok(None) };
        let roles: Vec<(String,)> =
            sqlx::query_as("SELECT role FROM user_roles WHERE user_id = ? ORDER BY role")
                .bind(&row.id)
                .fetch_all(&self.pool)
                .await?;
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

/// Gives `user` each of `roles` inside `tx`; `NotFound` names the first
/// role that does not exist.
async fn add_roles(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    user: UserId,
    roles: &[RoleName],
) -> Result<()> {
    for role in roles {
        let exists: Option<(String,)> = sqlx::query_as("SELECT name FROM roles WHERE name = ?")
            .bind(role.as_str())
            .fetch_optional(&mut **tx)
            .await?;
        if exists.is_none() {
            return Err(StoreError::NotFound(format!("role {role}")));
        }
        sqlx::query("INSERT OR IGNORE INTO user_roles (user_id, role) VALUES (?, ?)")
            .bind(user.to_string())
            .bind(role.as_str())
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}
