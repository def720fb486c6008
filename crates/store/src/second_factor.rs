//! TOTP second factors: the sealed secret per user, one-time recovery codes
//! (as hashes), logins waiting for their code, and which roles require one.
//! Every rule that must hold across nodes — a code step accepted once, a
//! recovery code or a pending login used once — is one conditional write.

use gatehouse_domain::{RoleName, UserId};
use time::OffsetDateTime;

use crate::{Result, Store, StoreError, parse, to_ms};

/// A user's authenticator as stored.
#[derive(Clone, Debug)]
pub struct SecondFactorRecord {
    /// The RFC 6238 secret, sealed by the access layer.
    pub secret_sealed: Vec<u8>,
    /// Confirmed with a first code; until then it protects nothing.
    pub enabled: bool,
    /// The time step of the last accepted code.
    pub last_step: Option<i64>,
}

impl Store {
    /// The user's authenticator, confirmed or not.
    pub async fn second_factor(&self, user: UserId) -> Result<Option<SecondFactorRecord>> {
        let row: Option<(Vec<u8>, bool, Option<i64>)> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT secret_sealed, enabled, last_step FROM second_factors WHERE user_id = $1",
            )
            .bind(user.to_string())
            .fetch_optional(pool)
            .await?
        });
        Ok(
            row.map(|(secret_sealed, enabled, last_step)| SecondFactorRecord {
                secret_sealed,
                enabled,
                last_step,
            }),
        )
    }

    /// Starts an enrolment: a new, unconfirmed secret replaces an
    /// unconfirmed one. An enabled authenticator is kept (`Conflict`): it
    /// is turned off first, with a code.
    pub async fn begin_second_factor(&self, user: UserId, secret_sealed: &[u8]) -> Result<()> {
        let done = on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO second_factors (user_id, secret_sealed, enabled, last_step, created_at)
                 VALUES ($1, $2, FALSE, NULL, $3)
                 ON CONFLICT (user_id) DO UPDATE SET secret_sealed = excluded.secret_sealed,
                     last_step = NULL, created_at = excluded.created_at
                 WHERE NOT second_factors.enabled",
            )
            .bind(user.to_string())
            .bind(secret_sealed)
            .bind(to_ms(OffsetDateTime::now_utc()))
            .execute(pool)
            .await?
            .rows_affected()
        });
        if done == 0 {
            return Err(StoreError::Conflict("a second factor".into()));
        }
        Ok(())
    }

    /// Takes the code of time step `step` for `user`, if no code of this or
    /// a later step was taken before (`enabled` says which state the
    /// authenticator must be in). `false`: a replay, or no such
    /// authenticator.
    pub async fn take_second_factor_step(
        &self,
        user: UserId,
        step: i64,
        enabled: bool,
    ) -> Result<bool> {
        let done = on_pool!(self, |pool| {
            sqlx::query(
                "UPDATE second_factors SET last_step = $1
                 WHERE user_id = $2 AND enabled = $3 AND (last_step IS NULL OR last_step < $1)",
            )
            .bind(step)
            .bind(user.to_string())
            .bind(enabled)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(done == 1)
    }

    /// Switches a confirmed authenticator on and replaces the user's
    /// recovery codes with `code_hashes`, in one transaction.
    pub async fn enable_second_factor(&self, user: UserId, code_hashes: &[Vec<u8>]) -> Result<()> {
        on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let done = sqlx::query("UPDATE second_factors SET enabled = TRUE WHERE user_id = $1")
                .bind(user.to_string())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if done == 0 {
                return Err(StoreError::NotFound("second factor".into()));
            }
            sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
                .bind(user.to_string())
                .execute(&mut *tx)
                .await?;
            for hash in code_hashes {
                sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
                    .bind(user.to_string())
                    .bind(hash)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Uses up one recovery code; `false` if it is not (or no longer) one
    /// of the user's.
    pub async fn take_recovery_code(&self, user: UserId, code_hash: &[u8]) -> Result<bool> {
        let done = on_pool!(self, |pool| {
            sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1 AND code_hash = $2")
                .bind(user.to_string())
                .bind(code_hash)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done == 1)
    }

    /// How many recovery codes the user has left.
    pub async fn recovery_codes_left(&self, user: UserId) -> Result<i64> {
        let (n,): (i64,) = on_pool!(self, |pool| {
            sqlx::query_as("SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1")
                .bind(user.to_string())
                .fetch_one(pool)
                .await?
        });
        Ok(n)
    }

    /// Removes the user's authenticator, recovery codes and pending logins;
    /// returns whether there was an authenticator.
    pub async fn delete_second_factor(&self, user: UserId) -> Result<bool> {
        let done = on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
                .bind(user.to_string())
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM pending_logins WHERE user_id = $1")
                .bind(user.to_string())
                .execute(&mut *tx)
                .await?;
            let done = sqlx::query("DELETE FROM second_factors WHERE user_id = $1")
                .bind(user.to_string())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            done
        });
        Ok(done > 0)
    }

    /// Whether any of the user's roles requires a second factor.
    pub async fn second_factor_required(&self, user: UserId) -> Result<bool> {
        let (n,): (i64,) = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT COUNT(*) FROM user_roles ur JOIN roles r ON r.name = ur.role
                 WHERE ur.user_id = $1 AND r.require_second_factor",
            )
            .bind(user.to_string())
            .fetch_one(pool)
            .await?
        });
        Ok(n > 0)
    }

    /// Makes a second factor required (or not) for `role`'s holders.
    pub async fn set_role_second_factor(&self, role: &RoleName, required: bool) -> Result<()> {
        let done = on_pool!(self, |pool| {
            sqlx::query("UPDATE roles SET require_second_factor = $1 WHERE name = $2")
                .bind(required)
                .bind(role.as_str())
                .execute(pool)
                .await?
                .rows_affected()
        });
        if done == 0 {
            return Err(StoreError::NotFound(format!("role {role}")));
        }
        Ok(())
    }

    /// Remembers a login waiting for its code until `expires_at`.
    pub async fn insert_pending_login(
        &self,
        token_hash: &[u8],
        user: UserId,
        expires_at: OffsetDateTime,
    ) -> Result<()> {
        on_pool!(self, |pool| {
            // Expired ones go as new ones come: the table stays small.
            sqlx::query("DELETE FROM pending_logins WHERE expires_at <= $1")
                .bind(to_ms(OffsetDateTime::now_utc()))
                .execute(pool)
                .await?;
            sqlx::query(
                "INSERT INTO pending_logins (token_hash, user_id, expires_at) VALUES ($1, $2, $3)",
            )
            .bind(token_hash)
            .bind(user.to_string())
            .bind(to_ms(expires_at))
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(())
    }

    /// The user an unexpired pending login belongs to.
    pub async fn pending_login_user(&self, token_hash: &[u8]) -> Result<Option<UserId>> {
        let row: Option<(String,)> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT user_id FROM pending_logins WHERE token_hash = $1 AND expires_at > $2",
            )
            .bind(token_hash)
            .bind(to_ms(OffsetDateTime::now_utc()))
            .fetch_optional(pool)
            .await?
        });
        row.map(|(id,)| parse("user id", &id)).transpose()
    }

    /// Forgets every pending login of `user` (a new password, a reset).
    pub async fn delete_pending_logins(&self, user: UserId) -> Result<u64> {
        let done = on_pool!(self, |pool| {
            sqlx::query("DELETE FROM pending_logins WHERE user_id = $1")
                .bind(user.to_string())
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done)
    }

    /// Uses up a pending login; `false` if it was already used or expired.
    pub async fn take_pending_login(&self, token_hash: &[u8]) -> Result<bool> {
        let done = on_pool!(self, |pool| {
            sqlx::query("DELETE FROM pending_logins WHERE token_hash = $1 AND expires_at > $2")
                .bind(token_hash)
                .bind(to_ms(OffsetDateTime::now_utc()))
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done == 1)
    }
}
