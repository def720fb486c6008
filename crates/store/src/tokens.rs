use gatehouse_domain::UserId;
use time::OffsetDateTime;

use crate::{Result, Store, from_ms, parse, to_ms};

impl Store {
    /// Remembers a login token (by its hash) until `expires_at`.
    pub async fn insert_token(
        &self,
        token_hash: &[u8],
        user: UserId,
        expires_at: OffsetDateTime,
    ) -> Result<()> {
        on_pool!(self, |pool| {
            sqlx::query(
            "INSERT INTO auth_tokens (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash)
        .bind(user.to_string())
        .bind(to_ms(OffsetDateTime::now_utc()))
        .bind(to_ms(expires_at))
        .execute(pool).await?
.rows_affected()
        });
        Ok(())
    }

    /// The user an unexpired token belongs to.
    pub async fn token_user(&self, token_hash: &[u8]) -> Result<Option<UserId>> {
        let row: Option<(String,)> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT user_id FROM auth_tokens WHERE token_hash = $1 AND expires_at > $2",
            )
            .bind(token_hash)
            .bind(to_ms(OffsetDateTime::now_utc()))
            .fetch_optional(pool)
            .await?
        });
        row.map(|(id,)| parse("user id", &id)).transpose()
    }

    /// The user an unexpired token belongs to, and when it expires (so a
    /// long-lived stream opened with it can close on time).
    pub async fn token_login(&self, token_hash: &[u8]) -> Result<Option<(UserId, OffsetDateTime)>> {
        let row: Option<(String, i64)> = on_pool!(self, |pool| {
            sqlx::query_as(
            "SELECT user_id, expires_at FROM auth_tokens WHERE token_hash = $1 AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(to_ms(OffsetDateTime::now_utc()))
        .fetch_optional(pool).await?
        });
        row.map(|(id, expires)| Ok((parse("user id", &id)?, from_ms(expires))))
            .transpose()
    }

    /// Forgets one token (logout).
    pub async fn delete_token(&self, token_hash: &[u8]) -> Result<bool> {
        let done = on_pool!(self, |pool| {
            sqlx::query("DELETE FROM auth_tokens WHERE token_hash = $1")
                .bind(token_hash)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done > 0)
    }

    /// Forgets every token of one user (a disabled account, a changed
    /// password); returns how many.
    pub async fn delete_user_tokens(&self, user: UserId) -> Result<u64> {
        let done = on_pool!(self, |pool| {
            sqlx::query("DELETE FROM auth_tokens WHERE user_id = $1")
                .bind(user.to_string())
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done)
    }

    /// Forgets expired tokens; returns how many.
    pub async fn purge_expired_tokens(&self) -> Result<u64> {
        let done = on_pool!(self, |pool| {
            sqlx::query("DELETE FROM auth_tokens WHERE expires_at <= $1")
                .bind(to_ms(OffsetDateTime::now_utc()))
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done)
    }
}
