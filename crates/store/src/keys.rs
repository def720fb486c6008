use gatehouse_domain::{SshKeyId, UserId};
use time::OffsetDateTime;

use crate::{Result, Store, conflict, from_ms, parse, to_ms};

/// A public key a user registered for native SSH logins.
#[derive(Clone, Debug)]
pub struct SshKeyRecord {
    /// The key's id.
    pub id: SshKeyId,
    /// Its owner.
    pub user_id: UserId,
    /// The owner's label for it ("laptop").
    pub name: String,
    /// OpenSSH public-key format, without comment.
    pub public_key: String,
    /// SHA-256 fingerprint (`SHA256:…`).
    pub fingerprint: String,
    /// When it was registered.
    pub created_at: OffsetDateTime,
    /// When it last logged someone in.
    pub last_used_at: Option<OffsetDateTime>,
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    id: String,
    user_id: String,
    name: String,
    public_key: String,
    fingerprint: String,
    created_at: i64,
    last_used_at: Option<i64>,
}

impl KeyRow {
    fn finish(self) -> Result<SshKeyRecord> {
        Ok(SshKeyRecord {
            id: parse("key id", &self.id)?,
            user_id: parse("user id", &self.user_id)?,
            name: self.name,
            public_key: self.public_key,
            fingerprint: self.fingerprint,
            created_at: from_ms(self.created_at),
            last_used_at: self.last_used_at.map(from_ms),
        })
    }
}

const SELECT: &str = "SELECT id, user_id, name, public_key, fingerprint, created_at, last_used_at FROM user_ssh_keys";

impl Store {
    /// Registers a key for `user`. `Conflict` if any user registered the
    /// same key already: a key identifies one person.
    pub async fn add_ssh_key(
        &self,
        user: UserId,
        name: &str,
        public_key: &str,
        fingerprint: &str,
    ) -> Result<SshKeyRecord> {
        let record = SshKeyRecord {
            id: SshKeyId::new(),
            user_id: user,
            name: name.to_owned(),
            public_key: public_key.to_owned(),
            fingerprint: fingerprint.to_owned(),
            created_at: OffsetDateTime::now_utc(),
            last_used_at: None,
        };
        on_pool!(self, |pool| {
            sqlx::query(
            "INSERT INTO user_ssh_keys (id, user_id, name, public_key, fingerprint, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(record.id.to_string())
        .bind(user.to_string())
        .bind(name)
        .bind(public_key)
        .bind(fingerprint)
        .bind(to_ms(record.created_at))
        .execute(pool).await
        .map_err(conflict(format!("key {fingerprint}")))?
.rows_affected()
        });
        Ok(record)
    }

    /// A user's keys, oldest first.
    pub async fn ssh_keys_of(&self, user: UserId) -> Result<Vec<SshKeyRecord>> {
        let rows: Vec<KeyRow> = on_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{SELECT} WHERE user_id = $1 ORDER BY created_at, id"
            )))
            .bind(user.to_string())
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(KeyRow::finish).collect()
    }

    /// The key with this fingerprint, whoever owns it.
    pub async fn ssh_key_by_fingerprint(&self, fingerprint: &str) -> Result<Option<SshKeyRecord>> {
        let row: Option<KeyRow> = on_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{SELECT} WHERE fingerprint = $1"
            )))
            .bind(fingerprint)
            .fetch_optional(pool)
            .await?
        });
        row.map(KeyRow::finish).transpose()
    }

    /// Removes one of `user`'s keys; returns whether it was theirs.
    pub async fn delete_ssh_key(&self, user: UserId, id: SshKeyId) -> Result<bool> {
        let done = on_pool!(self, |pool| {
            sqlx::query("DELETE FROM user_ssh_keys WHERE id = $1 AND user_id = $2")
                .bind(id.to_string())
                .bind(user.to_string())
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done > 0)
    }

    /// Notes that a key just logged its owner in.
    pub async fn touch_ssh_key(&self, id: SshKeyId) -> Result<()> {
        on_pool!(self, |pool| {
            sqlx::query("UPDATE user_ssh_keys SET last_used_at = $1 WHERE id = $2")
                .bind(to_ms(OffsetDateTime::now_utc()))
                .bind(id.to_string())
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(())
    }
}
