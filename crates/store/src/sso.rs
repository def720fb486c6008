//! Single sign-on records: which provider identity an account is, the
//! sign-ins in flight, and the one-time codes the CLI trades for a token.

use gatehouse_domain::UserId;
use time::OffsetDateTime;

use crate::{NewUser, Result, Store, UserRecord, conflict, parse, to_ms};

/// A sign-in in flight (see [`Store::take_sso_pending`]).
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct SsoPending {
    /// SHA-256 of the `state` parameter.
    pub state_hash: Vec<u8>,
    /// The provider's name.
    pub provider: String,
    /// The nonce the id_token must carry.
    pub nonce: String,
    /// The PKCE verifier.
    pub pkce_verifier: String,
    /// The redirect URL the flow was started with (the exchange repeats it).
    pub redirect_url: String,
    /// Where the browser goes once logged in (a same-origin path).
    pub next_path: String,
    /// `gatehouse login --sso`'s loopback port, when the CLI started it.
    pub cli_port: Option<i32>,
    /// The CLI's PKCE-like challenge (base64url SHA-256 of its verifier).
    pub cli_challenge: Option<String>,
    /// Unix milliseconds after which the row is useless.
    pub expires_at: i64,
}

impl Store {
    /// Remembers a sign-in in flight.
    pub async fn insert_sso_pending(&self, p: &SsoPending) -> Result<()> {
        on_pool!(self, |pool| {
            // Abandoned sign-ins go as new ones come.
            sqlx::query("DELETE FROM sso_pending WHERE expires_at <= $1")
                .bind(to_ms(OffsetDateTime::now_utc()))
                .execute(pool)
                .await?;
            sqlx::query(
                "INSERT INTO sso_pending (state_hash, provider, nonce, pkce_verifier, redirect_url,
                                          next_path, cli_port, cli_challenge, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(&p.state_hash)
            .bind(&p.provider)
            .bind(&p.nonce)
            .bind(&p.pkce_verifier)
            .bind(&p.redirect_url)
            .bind(&p.next_path)
            .bind(p.cli_port)
            .bind(&p.cli_challenge)
            .bind(p.expires_at)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Takes (deletes and returns) the unexpired sign-in whose state hashes
    /// to `state_hash`: each can be finished once, on any node.
    pub async fn take_sso_pending(&self, state_hash: &[u8]) -> Result<Option<SsoPending>> {
        let row: Option<SsoPending> = on_pool!(self, |pool| {
            sqlx::query_as("DELETE FROM sso_pending WHERE state_hash = $1 RETURNING *")
                .bind(state_hash)
                .fetch_optional(pool)
                .await?
        });
        let now = to_ms(OffsetDateTime::now_utc());
        Ok(row.filter(|p| p.expires_at > now))
    }

    /// The account linked to `provider`'s `subject`.
    pub async fn sso_user(&self, provider: &str, subject: &str) -> Result<Option<UserId>> {
        let row: Option<(String,)> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT user_id FROM sso_identities WHERE provider = $1 AND subject = $2",
            )
            .bind(provider)
            .bind(subject)
            .fetch_optional(pool)
            .await?
        });
        row.map(|(id,)| parse("user id", &id)).transpose()
    }

    /// Whether the account signs in through a provider (and so has no password).
    pub async fn is_sso_user(&self, user: UserId) -> Result<bool> {
        let row: Option<(String,)> = on_pool!(self, |pool| {
            sqlx::query_as("SELECT provider FROM sso_identities WHERE user_id = $1")
                .bind(user.to_string())
                .fetch_optional(pool)
                .await?
        });
        Ok(row.is_some())
    }

    /// Links an existing account to `provider`'s `subject` and takes its
    /// password away (`no_password` is no PHC string), in one transaction.
    /// `Conflict` if the account is already linked to another identity.
    pub async fn link_sso_user(
        &self,
        user: UserId,
        provider: &str,
        subject: &str,
        no_password: &str,
    ) -> Result<()> {
        let now = to_ms(OffsetDateTime::now_utc());
        on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO sso_identities (provider, subject, user_id, created_at)
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(provider)
            .bind(subject)
            .bind(user.to_string())
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(conflict(format!(
                "a single sign-on identity for user {user}"
            )))?;
            sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
                .bind(no_password)
                .bind(user.to_string())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Creates an account for `provider`'s `subject` (its password hash is
    /// the caller's "no password" marker), linked in the same transaction.
    pub async fn create_sso_user(
        &self,
        new: NewUser,
        provider: &str,
        subject: &str,
    ) -> Result<UserRecord> {
        let user = self.create_user(new).await?;
        if let Err(e) = self
            .link_sso_user(user.id, provider, subject, &user.password_hash)
            .await
        {
            // Two first logins of one person at once: the other one won.
            let _ = self.delete_user_keeping(user.id, None).await;
            return Err(e);
        }
        Ok(user)
    }

    /// Remembers a one-time code for the CLI (by its hash) until `expires_at`.
    pub async fn insert_sso_handoff(
        &self,
        code_hash: &[u8],
        user: UserId,
        challenge: &str,
        expires_at: OffsetDateTime,
    ) -> Result<()> {
        on_pool!(self, |pool| {
            sqlx::query("DELETE FROM sso_handoffs WHERE expires_at <= $1")
                .bind(to_ms(OffsetDateTime::now_utc()))
                .execute(pool)
                .await?;
            sqlx::query(
                "INSERT INTO sso_handoffs (code_hash, user_id, challenge, expires_at)
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(code_hash)
            .bind(user.to_string())
            .bind(challenge)
            .bind(to_ms(expires_at))
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Takes (deletes) an unexpired one-time code: the account and the
    /// challenge the CLI's verifier must answer.
    pub async fn take_sso_handoff(&self, code_hash: &[u8]) -> Result<Option<(UserId, String)>> {
        let row: Option<(String, String, i64)> = on_pool!(self, |pool| {
            sqlx::query_as(
                "DELETE FROM sso_handoffs WHERE code_hash = $1
                 RETURNING user_id, challenge, expires_at",
            )
            .bind(code_hash)
            .fetch_optional(pool)
            .await?
        });
        let now = to_ms(OffsetDateTime::now_utc());
        match row {
            Some((user, challenge, expires)) if expires > now => {
                Ok(Some((parse("user id", &user)?, challenge)))
            }
            Some(_) | None => Ok(None),
        }
    }
}
