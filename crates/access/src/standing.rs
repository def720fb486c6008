//! Long-lived streams (a live feed, a watch or join socket) are authorised
//! once, when they open, but must not outlive the login or the permission
//! they were opened with. Every change that can take access away (logout,
//! lock, unlock, delete, a role or password change) is announced with whose
//! access it touches; each stream holds a [`Standing`] that wakes on a change
//! to its user's access — and when its token expires — looks its own token
//! up again and says whether it still holds. One mechanism for every
//! stream, not a copy per stream.

use std::time::Duration;

use gatehouse_domain::{Permission, UserId};
use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::Instant;

use crate::accounts::token_hash;
use crate::{Access, AccessError, Principal};

/// How long a stream waits before looking again when the store could not
/// answer: a database hiccup must neither close every stream nor leave a
/// revoked one open for long.
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// How many announced changes a stream may fall behind before it stops
/// telling them apart and simply looks again (changes are rare: an
/// administrator's edit, a logout).
pub(crate) const CHANGES: usize = 64;

/// Why a stream's login no longer holds.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Lost {
    /// The token was logged out or revoked (e.g. a password change).
    #[error("your login ended (logged out or revoked)")]
    LoggedOut,
    /// The token's lifetime ran out.
    #[error("your login expired")]
    Expired,
    /// The account was locked (disabled).
    #[error("your account was locked")]
    Locked,
    /// The account was deleted.
    #[error("your account was deleted")]
    Deleted,
    /// The account no longer holds a permission the stream needs.
    #[error("you no longer hold the {0} permission")]
    Permission(Permission),
}

impl Lost {
    /// Whether the account itself is gone or locked (rather than one login
    /// or one permission).
    pub fn account_locked(&self) -> bool {
        matches!(self, Lost::Locked | Lost::Deleted)
    }
}

impl Access {
    /// Tells the [`Standing`]s of `user` (`None`: of everyone) to look
    /// again. Called after every change that can take access away.
    pub(crate) fn access_changed(&self, user: Option<UserId>) {
        // Nobody listening is fine: no stream is open.
        let _ = self.changes.send(user);
        let _ = self.local_changes.send(user);
    }

    /// Tells the [`Standing`]s of `user` (`None`: of everyone) to look
    /// again after a change another node made (a cluster passes it on).
    pub fn changed_elsewhere(&self, user: Option<UserId>) {
        let _ = self.changes.send(user);
    }

    /// The access changes made on this node, to pass on to other nodes.
    pub fn subscribe_local_changes(&self) -> broadcast::Receiver<Option<UserId>> {
        self.local_changes.subscribe()
    }

    /// Keeps watch over a stream opened with `token` by `user`, which needs
    /// `require` (if any) to go on. The first [`Standing::recheck`] looks at
    /// once, so a change between the request's authentication and this call
    /// is not missed.
    pub fn standing(
        &self,
        token: SecretString,
        user: UserId,
        require: Option<Permission>,
    ) -> Standing {
        Standing {
            access: self.clone(),
            token,
            user,
            require,
            changes: self.changes.subscribe(),
            due: None,
            expires: None,
            // The request was authenticated before we subscribed: look once.
            unchecked: true,
        }
    }

    /// Whether `token` of `user` still holds, and `require` with it; with
    /// the token's expiry. `Err(None)` when the store could not answer.
    async fn still_holds(
        &self,
        token: &SecretString,
        user: UserId,
        require: Option<Permission>,
    ) -> Result<(Principal, OffsetDateTime), Option<Lost>> {
        let store_failed = |e: AccessError| {
            tracing::warn!(error = %e, "could not re-check a login; retrying");
            None
        };
        let login = self
            .store
            .token_login(&token_hash(token.expose_secret()))
            .await
            .map_err(|e| store_failed(e.into()))?;
        let account = self
            .store
            .user_by_id(user)
            .await
            .map_err(|e| store_failed(e.into()))?;
        let account = match account {
            None => return Err(Some(Lost::Deleted)),
            Some(a) if a.disabled => return Err(Some(Lost::Locked)),
            Some(a) => a,
        };
        let Some((_, expires)) = login.filter(|(owner, _)| *owner == user) else {
            return Err(Some(Lost::LoggedOut));
        };
        let principal = self.principal(account).await.map_err(store_failed)?;
        if let Some(permission) = require.filter(|p| !principal.has(*p)) {
            return Err(Some(Lost::Permission(permission)));
        }
        Ok((principal, expires))
    }
}

/// A stream's hold on the login it was opened with (see the module docs).
pub struct Standing {
    access: Access,
    token: SecretString,
    user: UserId,
    require: Option<Permission>,
    changes: broadcast::Receiver<Option<UserId>>,
    /// When to look again without a change: the token's expiry, or a retry.
    due: Option<Instant>,
    /// The token's expiry, as the last look found it.
    expires: Option<OffsetDateTime>,
    /// A change was seen but not yet looked at (the look was cancelled).
    unchecked: bool,
}

impl std::fmt::Debug for Standing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Standing")
            .field("user", &self.user)
            .field("require", &self.require)
            .finish_non_exhaustive()
    }
}

impl Standing {
    /// Waits for a change that may concern this login (or its expiry), looks
    /// again, and returns the caller as they are now — or why they lost
    /// their standing, after which the stream must close. Cancel-safe: a
    /// change seen by a cancelled call is looked at by the next one.
    pub async fn recheck(&mut self) -> Result<Principal, Lost> {
        loop {
            if !self.unchecked {
                let due = self.due;
                tokio::select! {
                    changed = self.changes.recv() => match changed {
                        Ok(Some(user)) if user != self.user => continue,
                        // Ours, everyone's, or too many to tell apart.
                        Ok(_) | Err(RecvError::Lagged(_)) => {}
                        // Never: `access` holds the sender.
                        Err(RecvError::Closed) => {}
                    },
                    _ = async { tokio::time::sleep_until(due?).await; Some(()) }, if due.is_some() => {}
                }
                self.unchecked = true;
            }
            let looked = self
                .access
                .still_holds(&self.token, self.user, self.require)
                .await;
            self.unchecked = false;
            match looked {
                Ok((principal, expires)) => {
                    self.expires = Some(expires);
                    let left = expires - OffsetDateTime::now_utc();
                    let left = Duration::try_from(left).unwrap_or(Duration::ZERO);
                    self.due = Some(Instant::now() + left);
                    return Ok(principal);
                }
                Err(Some(Lost::LoggedOut))
                    if self
                        .expires
                        .is_some_and(|at| at <= OffsetDateTime::now_utc()) =>
                {
                    return Err(Lost::Expired);
                }
                Err(Some(lost)) => return Err(lost),
                Err(None) => self.due = Some(Instant::now() + RETRY_AFTER),
            }
        }
    }
}
