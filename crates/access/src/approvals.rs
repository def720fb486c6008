//! SSH login approval links (Warpgate's model): a user with no password the
//! gateway can check (an SSO account) logs in to the SSH listener by
//! approving the login in a browser where they are already logged in.
//!
//! The listener asks [`Access::request_approval`] for a request; its id is
//! the last part of the link the client is shown. Only that same user may
//! look at it and decide ([`Access::decide_approval`]), once, before it
//! expires; the listener polls [`Access::approval_decision`]. Requests live
//! in the database so the link works on any node of a cluster.

use std::time::Duration;

use gatehouse_domain::{ApprovalId, Username};
use gatehouse_store::{ApprovalRecord, UserRecord};
use time::OffsetDateTime;

use crate::directory_login::is_directory_account;
use crate::{Access, AccessError, Principal, Result};

/// A request, as its user sees it on the approval page.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ApprovalView {
    /// The request's id.
    pub id: String,
    /// Whose login it is.
    #[schema(value_type = String)]
    pub user: Username,
    /// Where the SSH client connects from.
    pub client_addr: String,
    /// The connection asked for, if any (else the menu).
    pub connection: Option<String>,
    /// When the client asked.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// When the link stops working.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: OffsetDateTime,
    /// `pending`, `approved`, `denied` or `expired`.
    pub status: String,
}

/// What became of a request, for the waiting SSH login.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Not decided yet.
    Pending,
    /// The user approved it.
    Approved,
    /// The user denied it.
    Denied,
    /// Nobody decided in time (or the request is gone).
    Expired,
}

/// Whether `user` has a password the gateway can check (a local Argon2
/// hash; a directory account with a directory configured).
fn has_password(access: &Access, user: &UserRecord) -> bool {
    user.password_hash.starts_with('$')
        || (is_directory_account(user) && access.directory.is_some())
}

impl Access {
    /// A new approval request for an SSH login as `username` from
    /// `client_addr`, if that account may log in by approval: it exists, is
    /// enabled, and has no password the gateway can check (people with one
    /// type it). `None` otherwise.
    pub async fn request_approval(
        &self,
        username: &str,
        client_addr: &str,
        connection: Option<&str>,
        ttl: Duration,
    ) -> Result<Option<ApprovalRecord>> {
        let Ok(name) = Username::parse(username) else {
            return Ok(None);
        };
        let Some(user) = self.store.user_by_name(&name).await? else {
            return Ok(None);
        };
        if user.disabled || has_password(self, &user) {
            return Ok(None);
        }
        let now = OffsetDateTime::now_utc();
        let request = ApprovalRecord {
            id: ApprovalId::new().to_string(),
            user_id: user.id,
            client_addr: client_addr.to_owned(),
            connection: connection.map(str::to_owned),
            created_at: now,
            expires_at: now + ttl,
            decision: None,
        };
        self.store.insert_approval(&request).await?;
        // Old requests go as new ones come: no sweeper needed.
        self.store
            .purge_approvals(now - time::Duration::hours(1))
            .await?;
        Ok(Some(request))
    }

    /// The request `id` as the caller sees it: only their own (another's is
    /// `Forbidden`, an unknown id `NotFound`).
    pub async fn approval(&self, who: &Principal, id: &str) -> Result<ApprovalView> {
        let request = self.own_approval(who, id).await?;
        Ok(view(who, request))
    }

    /// Approves (`true`) or denies the caller's own pending request `id`.
    /// A decided or expired one is `Invalid`.
    pub async fn decide_approval(
        &self,
        who: &Principal,
        id: &str,
        approve: bool,
    ) -> Result<ApprovalView> {
        let request = self.own_approval(who, id).await?;
        let decision = if approve { "approved" } else { "denied" };
        if !self
            .store
            .decide_approval(id, who.user_id, decision)
            .await?
        {
            let status = view(who, request).status;
            return Err(AccessError::Invalid(format!(
                "this login request is {status}; it can no longer be decided"
            )));
        }
        let request = self.own_approval(who, id).await?;
        Ok(view(who, request))
    }

    /// What became of request `id`, for the SSH login waiting on it.
    pub async fn approval_decision(&self, id: &str) -> Result<Decision> {
        let Some(request) = self.store.approval(id).await? else {
            return Ok(Decision::Expired);
        };
        Ok(match request.decision.as_deref() {
            Some("approved") => Decision::Approved,
            Some(_) => Decision::Denied,
            None if request.expires_at <= OffsetDateTime::now_utc() => Decision::Expired,
            None => Decision::Pending,
        })
    }

    /// The principal of an SSH login its user approved: the account must
    /// still be there and enabled.
    pub async fn approved_principal(&self, username: &str) -> Result<Principal> {
        let name = Username::parse(username).map_err(|_| AccessError::BadCredentials)?;
        match self.store.user_by_name(&name).await? {
            Some(user) if user.disabled => Err(AccessError::AccountLocked),
            Some(user) => self.principal(user).await,
            None => Err(AccessError::BadCredentials),
        }
    }

    async fn own_approval(&self, who: &Principal, id: &str) -> Result<ApprovalRecord> {
        let not_found = || AccessError::NotFound("login request".into());
        let request = self.store.approval(id).await?.ok_or_else(not_found)?;
        if request.user_id != who.user_id {
            return Err(AccessError::Forbidden(
                "this login request is another user's: only they may see or decide it".into(),
            ));
        }
        Ok(request)
    }
}

fn view(who: &Principal, r: ApprovalRecord) -> ApprovalView {
    let status = match r.decision {
        Some(d) => d,
        None if r.expires_at <= OffsetDateTime::now_utc() => "expired".into(),
        None => "pending".into(),
    };
    ApprovalView {
        id: r.id,
        user: who.username.clone(),
        client_addr: r.client_addr,
        connection: r.connection,
        created_at: r.created_at,
        expires_at: r.expires_at,
        status,
    }
}
