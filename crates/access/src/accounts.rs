use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse_domain::{BuiltinRole, Permission, RoleName, UserId, Username};
use gatehouse_store::{NewUser, StoreError, UserChange, UserRecord};
use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;

use crate::throttle::Attempt;
use crate::{Access, AccessError, Principal, Result, passwords};

/// Changes to an account; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct UserUpdate {
    /// Replaces the user's roles; each must exist.
    pub roles: Option<Vec<RoleName>>,
    /// Disables (`true`) or re-enables the account.
    pub disabled: Option<bool>,
    /// A new password, checked against the policy.
    pub password: Option<SecretString>,
}

/// The store's refusal to take the admin role from its last holder, said
/// for people.
pub(crate) fn last_admin(e: StoreError, user: &UserRecord) -> AccessError {
    match e {
        StoreError::LastHolder(_) => AccessError::Invalid(format!(
            "{} is the last enabled user with the admin role; make another user an admin first",
            user.username
        )),
        other => other.into(),
    }
}

pub(crate) fn token_hash(token: &str) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes())
        .as_ref()
        .to_vec()
}

impl Access {
    /// Checks a username and password and opens a login session.
    /// Unknown users and wrong passwords get `BadCredentials`, after the
    /// same amount of work; the right password for a locked (disabled)
    /// account gets `AccountLocked`, so a password guesser never learns
    /// whether an account is locked.
    ///
    /// Guessing is throttled per username and client address (see
    /// [`crate::throttle`]): past a few failures the caller gets `Throttled`.
    pub async fn login(
        &self,
        username: &str,
        password: SecretString,
        client_addr: &str,
    ) -> Result<(SecretString, Principal)> {
        let user = self.check_password(username, password, client_addr).await?;
        // An account with a second factor logs in through `login_step`.
        if self.needs_code(&user).await? {
            return Err(AccessError::SecondFactorRequired);
        }
        self.open_login(user).await
    }

    /// Opens a login session for `user`, whose credentials were checked.
    pub(crate) async fn open_login(&self, user: UserRecord) -> Result<(SecretString, Principal)> {
        let mut raw = [0u8; 32];
        aws_lc_rs::rand::fill(&mut raw).expect("system random source");
        let token = URL_SAFE_NO_PAD.encode(raw);
        let expires = OffsetDateTime::now_utc() + self.token_ttl;
        if let Err(e) = self
            .store
            .insert_token(&token_hash(&token), user.id, expires)
            .await
        {
            // The account may have been deleted while we verified.
            return match self.store.user_by_id(user.id).await? {
                None => Err(AccessError::BadCredentials),
                Some(_) => Err(e.into()),
            };
        }
        // An administrator may have changed the password, locked or deleted
        // the account while we verified; their token purge may have run
        // before our insert, so look again and take the token back.
        match self.store.user_by_id(user.id).await? {
            Some(now) if !now.disabled && now.password_hash == user.password_hash => {}
            now => {
                self.store.delete_token(&token_hash(&token)).await?;
                return Err(match now {
                    Some(now) if now.disabled && now.password_hash == user.password_hash => {
                        AccessError::AccountLocked
                    }
                    _ => AccessError::BadCredentials,
                });
            }
        }
        let principal = self.principal(user).await?;
        Ok((SecretString::from(token), principal))
    }

    /// Checks a username and password without opening a login session (a
    /// native SSH login), with the same answers and throttle as [`Access::login`].
    pub async fn password_principal(
        &self,
        username: &str,
        password: SecretString,
        client_addr: &str,
    ) -> Result<Principal> {
        let user = self.check_password(username, password, client_addr).await?;
        // An account with a second factor logs in through `password_step`.
        if self.needs_code(&user).await? {
            return Err(AccessError::SecondFactorRequired);
        }
        self.principal(user).await
    }

    /// The person behind a registered public key (a native SSH login whose
    /// signature the SSH layer already verified), if the key is `username`'s.
    /// An unknown key or another user's key is `BadCredentials`.
    pub async fn key_principal(
        &self,
        username: &str,
        fingerprint: &str,
        client_addr: &str,
    ) -> Result<Principal> {
        // A key login is no guess (nobody guesses a private key, and
        // clients offer every key they have): it only has to be allowed
        // now, and counts nothing, so an automation's many parallel logins
        // as one user all go through.
        let name = LoginName::of(username);
        self.throttle
            .check(name.key(), client_addr)
            .map_err(AccessError::Throttled)?;
        let user = self.lookup(&name).await?;
        let key = self.store.ssh_key_by_fingerprint(fingerprint).await?;
        match (user, key) {
            (Some(user), Some(key)) if key.user_id == user.id => {
                if user.disabled {
                    return Err(AccessError::AccountLocked);
                }
                self.store.touch_ssh_key(key.id).await?;
                self.principal(user).await
            }
            _ => Err(AccessError::BadCredentials),
        }
    }

    /// The account a login's typed name names, if one exists: what a failed
    /// login's audit event may record. A name that matches no account is
    /// often a password typed into the wrong box, and is not kept.
    pub async fn existing_name(&self, typed: &str) -> Result<Option<Username>> {
        Ok(self
            .lookup(&LoginName::of(typed))
            .await?
            .map(|user| user.username))
    }

    /// Whether `fingerprint` is a key registered to the account `username`
    /// names (enabled or not): asked when a client offers a key, before it
    /// signs anything, so an unregistered key is refused at once. Counts
    /// nothing in the throttle; the signed login that follows is checked
    /// in full by [`Access::key_principal`].
    pub async fn offers_own_key(&self, username: &str, fingerprint: &str) -> Result<bool> {
        let Some(user) = self.lookup(&LoginName::of(username)).await? else {
            return Ok(false);
        };
        let key = self.store.ssh_key_by_fingerprint(fingerprint).await?;
        Ok(key.is_some_and(|k| k.user_id == user.id))
    }

    pub(crate) async fn check_password(
        &self,
        username: &str,
        password: SecretString,
        client_addr: &str,
    ) -> Result<UserRecord> {
        let (attempt, user) = self.login_candidate(username, client_addr).await?;
        if let Some(directory) = self.directory_for(user.as_ref()) {
            return self
                .directory_login(directory, attempt, username, user, password)
                .await;
        }
        let ok =
            passwords::verify(password, user.as_ref().map(|u| u.password_hash.clone())).await?;
        match user {
            Some(u) if ok && u.disabled => Err(AccessError::AccountLocked),
            Some(u) if ok => {
                attempt.succeeded();
                Ok(u)
            }
            _ => {
                attempt.failed();
                Err(AccessError::BadCredentials)
            }
        }
    }

    /// The attempt and the account a login names, unless this client must
    /// wait first.
    async fn login_candidate(
        &self,
        username: &str,
        client_addr: &str,
    ) -> Result<(Attempt<'_>, Option<UserRecord>)> {
        let name = LoginName::of(username);
        let attempt = self
            .throttle
            .begin(name.key(), client_addr)
            .map_err(AccessError::Throttled)?;
        Ok((attempt, self.lookup(&name).await?))
    }

    async fn lookup(&self, name: &LoginName) -> Result<Option<UserRecord>> {
        Ok(match &name.0 {
            Ok(name) => self.store.user_by_name(name).await?,
            Err(_) => None,
        })
    }

    /// The principal a login token belongs to.
    pub async fn authenticate(&self, token: &str) -> Result<Principal> {
        let user_id = self
            .store
            .token_user(&token_hash(token))
            .await?
            .ok_or(AccessError::Unauthenticated)?;
        match self.store.user_by_id(user_id).await? {
            Some(user) if !user.disabled => self.principal(user).await,
            _ => Err(AccessError::Unauthenticated),
        }
    }

    /// Ends a login session; streams opened with the token close (see
    /// [`crate::Standing`]). Returns whether the token was live.
    pub async fn logout(&self, token: &str) -> Result<bool> {
        let hash = token_hash(token);
        let user = self.store.token_user(&hash).await?;
        let live = self.store.delete_token(&hash).await?;
        if user.is_some() {
            self.access_changed(user);
        }
        Ok(live)
    }

    /// Creates an account after checking the password policy.
    pub async fn create_user(
        &self,
        username: Username,
        password: SecretString,
        roles: Vec<RoleName>,
    ) -> Result<UserRecord> {
        passwords::check_policy(&password).map_err(AccessError::Invalid)?;
        let password_hash = passwords::hash(password).await?;
        Ok(self
            .store
            .create_user(NewUser {
                username,
                password_hash,
                roles,
            })
            .await?)
    }

    /// Changes an account's roles, disabled flag and password; needs
    /// `users.manage`. Nothing is written unless every check passes (an
    /// unknown role fails the first write, which changes nothing).
    /// Disabling the account or changing its password deletes all of its
    /// login tokens, so they stop working at once. A change that would
    /// leave no enabled user holding the `admin` role is refused.
    pub async fn update_user(
        &self,
        who: &Principal,
        id: UserId,
        update: UserUpdate,
    ) -> Result<UserRecord> {
        who.require(Permission::UsersManage)?;
        let not_found = || AccessError::NotFound(format!("user {id}"));
        let user = self.store.user_by_id(id).await?.ok_or_else(not_found)?;
        let password_hash = match update.password {
            Some(_) if self.store.is_sso_user(id).await? => {
                return Err(AccessError::Invalid(format!(
                    "{} signs in through single sign-on and has no gateway password",
                    user.username
                )));
            }
            Some(password) => {
                passwords::check_policy(&password).map_err(AccessError::Invalid)?;
                Some(passwords::hash(password).await?)
            }
            None => None,
        };
        // One transaction, which refuses to take the admin role from its
        // last enabled holder: the rule holds in the database, so two
        // administrators on two nodes cannot each remove the other. It also
        // deletes the login tokens when the account is locked or its
        // password changes (`login` looks again after inserting its token).
        let admin = RoleName::parse(BuiltinRole::Admin.name()).expect("valid name");
        let new_password = password_hash.is_some();
        let change = UserChange {
            roles: update.roles,
            disabled: update.disabled,
            password_hash,
        };
        self.store
            .change_user(id, &change, Some(&admin))
            .await
            .map_err(|e| last_admin(e, &user))?;
        // A login past the old password but not yet past its code ends too.
        if new_password {
            self.store.delete_pending_logins(id).await?;
        }
        // Streams opened by this user look again: a lock, a revoked login or
        // a lost permission closes them.
        self.access_changed(Some(id));
        self.store.user_by_id(id).await?.ok_or_else(not_found)
    }

    /// Deletes an account with its roles, login tokens and direct grants;
    /// needs `users.manage`. History and audit keep the username. Deleting
    /// the last enabled user with the `admin` role is refused. Returns the
    /// deleted account.
    pub async fn delete_user(&self, who: &Principal, id: UserId) -> Result<UserRecord> {
        who.require(Permission::UsersManage)?;
        let not_found = || AccessError::NotFound(format!("user {id}"));
        let user = self.store.user_by_id(id).await?.ok_or_else(not_found)?;
        // The same rule, in the delete's own transaction.
        let admin = RoleName::parse(BuiltinRole::Admin.name()).expect("valid name");
        let existed = self
            .store
            .delete_user_keeping(id, Some(&admin))
            .await
            .map_err(|e| last_admin(e, &user))?;
        if !existed {
            return Err(not_found());
        }
        self.access_changed(Some(id));
        Ok(user)
    }

    /// Whether the account named `username` holds `permission` now (a
    /// missing account holds nothing).
    pub async fn user_holds(&self, username: &str, permission: Permission) -> Result<bool> {
        Ok(match self.lookup(&LoginName::of(username)).await? {
            Some(user) => self
                .store
                .user_permissions(user.id)
                .await?
                .contains(&permission),
            None => false,
        })
    }

    /// Every account.
    pub async fn list_users(&self) -> Result<Vec<UserRecord>> {
        Ok(self.store.list_users().await?)
    }

    /// On first start (no accounts at all), creates `admin` with `password`
    /// or a generated one, and returns the password used. Later starts
    /// return `None` and change nothing.
    pub async fn bootstrap_admin(
        &self,
        password: Option<SecretString>,
    ) -> Result<Option<SecretString>> {
        if self.store.count_users().await? > 0 {
            return Ok(None);
        }
        let password = password.unwrap_or_else(passwords::generate);
        let admin = BuiltinRole::Admin.name();
        self.create_user(
            Username::parse(admin).expect("valid name"),
            SecretString::from(password.expose_secret().to_owned()),
            vec![RoleName::parse(admin).expect("valid name")],
        )
        .await?;
        Ok(Some(password))
    }

    pub(crate) async fn principal(&self, user: UserRecord) -> Result<Principal> {
        let permissions = self.store.user_permissions(user.id).await?;
        Ok(Principal {
            user_id: user.id,
            username: user.username,
            permissions: permissions.into_iter().collect(),
        })
    }
}

/// A user name as typed at a login, normalised once for both the account
/// lookup and the throttle: `" Alice"`, `"alice\u{3000}"` and `"ALICE"` are
/// one name with one budget of failures. A name no account can have is
/// throttled as typed (lowercased), so inventing names buys no budget.
struct LoginName(std::result::Result<Username, String>);

impl LoginName {
    fn of(typed: &str) -> Self {
        Self(Username::parse(typed).map_err(|_| typed.to_lowercase()))
    }

    fn key(&self) -> &str {
        match &self.0 {
            Ok(name) => name.as_str(),
            Err(typed) => typed,
        }
    }
}
