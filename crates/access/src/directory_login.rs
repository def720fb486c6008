//! A password login checked by the directory (see [`crate::Directory`]):
//! the account is created or its roles brought up to date from the user's
//! groups at every login.

use gatehouse_domain::{BuiltinRole, RoleName, UserId, Username};
use gatehouse_store::{NewUser, UserChange, UserRecord};
use secrecy::SecretString;

use crate::directory::{DIRECTORY_ACCOUNT, Directory, Verdict};
use crate::throttle::Attempt;
use crate::{Access, AccessError, Result};

/// Whether the directory checks this account's password (it was created
/// by a directory login and never given a local password).
pub(crate) fn is_directory_account(user: &UserRecord) -> bool {
    user.password_hash == DIRECTORY_ACCOUNT
}

impl Access {
    /// The directory, if this login goes to it: one is configured and the
    /// typed name is not a local account.
    pub(crate) fn directory_for(&self, user: Option<&UserRecord>) -> Option<&Directory> {
        let directory = self.directory.as_deref()?;
        user.is_none_or(is_directory_account).then_some(directory)
    }

    /// How a password login with the typed name is checked: `"ldap"` when
    /// by the directory, else `"password"`. For audit events.
    pub async fn password_method(&self, typed: &str) -> &'static str {
        if self.directory.is_none() {
            return "password";
        }
        let user = match Username::parse(typed) {
            Ok(name) => self.store.user_by_name(&name).await.ok().flatten(),
            Err(_) => None,
        };
        match self.directory_for(user.as_ref()) {
            Some(_) => "ldap",
            None => "password",
        }
    }

    /// Users whose roles a directory login narrowed: whoever ends sessions
    /// that lost their grant (the binary) listens, as after an
    /// administrator's role change.
    pub fn subscribe_narrowed(&self) -> tokio::sync::broadcast::Receiver<UserId> {
        self.narrowed.subscribe()
    }

    /// Checks `password` with the directory; on success creates the account
    /// (if allowed) or sets its roles to those its groups give now.
    pub(crate) async fn directory_login(
        &self,
        directory: &Directory,
        attempt: Attempt<'_>,
        typed: &str,
        user: Option<UserRecord>,
        password: SecretString,
    ) -> Result<UserRecord> {
        let Ok(name) = Username::parse(typed) else {
            attempt.failed();
            return Err(AccessError::BadCredentials);
        };
        let groups = match directory.check(name.as_str(), &password).await {
            Ok(Verdict::Member(groups)) => groups,
            Ok(Verdict::Refused) => {
                attempt.failed();
                return Err(AccessError::BadCredentials);
            }
            Err(e) => {
                // Not a guess: the attempt is taken back when dropped.
                tracing::error!(error = %e, user = %name, "LDAP login could not be checked");
                return Err(AccessError::DirectoryUnavailable);
            }
        };
        // The password was right: whatever follows is not guessing.
        attempt.succeeded();
        let roles = directory.roles_of(&groups);
        if roles.is_empty() {
            tracing::info!(user = %name, ?groups, "LDAP login refused: no group maps to a role");
            // Left every mapped group: the account keeps no role either,
            // so its live sessions end as for any lost grant.
            if let Some(user) = user.filter(|u| !u.disabled)
                && let Err(e) = self.sync_roles(user, Vec::new()).await
            {
                tracing::warn!(user = %name, error = %e, "could not take the roles of a user the directory no longer maps");
            }
            return Err(AccessError::Forbidden(format!(
                "{name} is in no directory group that gives a role on this gateway; \
                 ask an administrator to map one of your groups"
            )));
        }
        let roles = self.existing_roles(roles).await?;
        match user {
            Some(user) if user.disabled => Err(AccessError::AccountLocked),
            Some(user) => self.sync_roles(user, roles).await,
            None if directory.create_users => {
                let created = self
                    .store
                    .create_user(NewUser {
                        username: name.clone(),
                        password_hash: DIRECTORY_ACCOUNT.into(),
                        roles,
                    })
                    .await;
                match created {
                    Ok(user) => {
                        tracing::info!(user = %name, "created an account at its first LDAP login");
                        Ok(user)
                    }
                    // Another login of the same user created it first.
                    Err(gatehouse_store::StoreError::Conflict(_)) => self
                        .store
                        .user_by_name(&name)
                        .await?
                        .ok_or(AccessError::BadCredentials),
                    Err(e) => Err(e.into()),
                }
            }
            None => Err(AccessError::Forbidden(format!(
                "{name} has no account on this gateway yet; ask an administrator"
            ))),
        }
    }

    /// The mapped roles that exist; one missing is a configuration slip,
    /// logged, not a refusal of the others.
    async fn existing_roles(&self, roles: Vec<RoleName>) -> Result<Vec<RoleName>> {
        let known = self.store.list_roles().await?;
        let (exist, missing): (Vec<_>, Vec<_>) = roles
            .into_iter()
            .partition(|r| known.iter().any(|k| &k.name == r));
        for role in &missing {
            tracing::warn!(role = %role, "[ldap] roles maps a group to a role that does not exist");
        }
        if exist.is_empty() {
            return Err(AccessError::Forbidden(
                "your directory groups map only to roles that do not exist on this gateway".into(),
            ));
        }
        Ok(exist)
    }

    /// Sets the account's roles to `roles` if they changed; when some were
    /// taken away, streams and sessions that needed them are checked again.
    async fn sync_roles(&self, user: UserRecord, roles: Vec<RoleName>) -> Result<UserRecord> {
        let mut now = roles.clone();
        let mut before = user.roles.clone();
        now.sort();
        before.sort();
        if now == before {
            return Ok(user);
        }
        let admin = RoleName::parse(BuiltinRole::Admin.name()).expect("valid name");
        let change = UserChange {
            roles: Some(roles),
            disabled: None,
            password_hash: None,
        };
        self.store
            .change_user(user.id, &change, Some(&admin))
            .await
            .map_err(|e| crate::accounts::last_admin(e, &user))?;
        let narrowed = before.iter().any(|r| !now.contains(r));
        tracing::info!(user = %user.username, ?before, ?now, "LDAP login changed the account's roles");
        if narrowed {
            self.access_changed(Some(user.id));
            let _ = self.narrowed.send(user.id);
        }
        Ok(UserRecord { roles: now, ..user })
    }
}
