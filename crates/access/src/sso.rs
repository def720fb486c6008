//! Logins through a single sign-on provider: the account a verified
//! identity is (found, linked or created), its roles set from the
//! provider's claim at every login, and the one-time codes the CLI trades
//! for a token.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse_domain::{BuiltinRole, RoleName, UserId, Username};
use gatehouse_store::{NewUser, StoreError, UserChange, UserRecord};
use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;

use crate::accounts::token_hash;
use crate::{Access, AccessError, Principal, Result};

/// The password hash of an account that signs in through a provider: no
/// PHC string, so no password ever verifies against it.
pub const NO_PASSWORD: &str = "!sso";

/// How long the CLI has to trade its one-time code: it is listening already.
const HANDOFF_TTL: time::Duration = time::Duration::seconds(60);

/// A verified identity, and what the provider's settings allow.
#[derive(Debug)]
pub struct SsoIdentity<'a> {
    /// The provider's name.
    pub provider: &'a str,
    /// The provider's `sub`.
    pub subject: &'a str,
    /// The username the provider gives.
    pub username: &'a Username,
    /// The roles the provider's claim maps to.
    pub roles: &'a [RoleName],
    /// Create the account on a first login.
    pub create_users: bool,
}

/// A single sign-on login: the principal, and whether the account's
/// roles changed (sessions that depended on lost ones must end). The
/// caller opens the login with [`Access::sso_token`] (a browser) or
/// [`Access::sso_handoff`] (the CLI).
pub struct SsoLogin {
    /// Who logged in, with the roles just set.
    pub principal: Principal,
    /// The account was created by this login.
    pub created: bool,
    /// The roles before, when this login changed them.
    pub roles_before: Option<Vec<RoleName>>,
}

fn refused(message: impl Into<String>) -> AccessError {
    AccessError::Forbidden(message.into())
}

/// A role the provider's mapping names that this gateway does not have.
fn missing_role(what: String) -> AccessError {
    refused(format!(
        "your groups map to {what}, which this gateway does not have; ask its administrators"
    ))
}

impl Access {
    /// Logs in the person a provider vouched for: their linked account, or
    /// an account linked now (an administrator created it and the provider
    /// does not create users), or a new one (it does). Their roles become
    /// exactly the mapped ones. Refused when the mapping yields no role,
    /// the account is locked, or the name belongs to an account the
    /// provider may not take over.
    pub async fn sso_login(&self, id: SsoIdentity<'_>) -> Result<SsoLogin> {
        if id.roles.is_empty() {
            return Err(refused(
                "your groups give you no role on this gateway: ask its administrators to map one of them",
            ));
        }
        let mut created = false;
        let linked = match self.store.sso_user(id.provider, id.subject).await? {
            Some(user) => self.store.user_by_id(user).await?,
            None => None,
        };
        let user = match linked {
            Some(user) => user,
            None => match self.store.user_by_name(id.username).await? {
                Some(_) if id.create_users => {
                    // A provider that creates accounts must not take over
                    // one of the same name (a local admin's, say).
                    return Err(refused(format!(
                        "an account named {} already exists on this gateway and is not linked to this provider",
                        id.username
                    )));
                }
                Some(user) => {
                    self.store
                        .link_sso_user(user.id, id.provider, id.subject, NO_PASSWORD)
                        .await
                        .map_err(|e| match e {
                            StoreError::Conflict(_) => refused(format!(
                                "the account {} signs in as another identity",
                                id.username
                            )),
                            other => other.into(),
                        })?;
                    user
                }
                None if id.create_users => {
                    created = true;
                    self.store
                        .create_sso_user(
                            NewUser {
                                username: id.username.clone(),
                                password_hash: NO_PASSWORD.into(),
                                roles: id.roles.to_vec(),
                            },
                            id.provider,
                            id.subject,
                        )
                        .await
                        .map_err(|e| match e {
                            StoreError::NotFound(what) => missing_role(what),
                            other => other.into(),
                        })?
                }
                None => {
                    return Err(refused(format!(
                        "there is no account named {} on this gateway; ask its administrators to create it",
                        id.username
                    )));
                }
            },
        };
        if user.disabled {
            return Err(AccessError::AccountLocked);
        }
        let roles_before = self.set_sso_roles(&user, id.roles).await?;
        let user = self
            .store
            .user_by_id(user.id)
            .await?
            .ok_or(AccessError::Unauthenticated)?;
        let principal = self.principal(user).await?;
        Ok(SsoLogin {
            principal,
            created,
            roles_before,
        })
    }

    /// Makes the account's roles the mapped ones; returns the old ones if
    /// they changed. The last administrator keeps the rule every role
    /// change keeps: the change is refused, and so is the login.
    async fn set_sso_roles(
        &self,
        user: &UserRecord,
        roles: &[RoleName],
    ) -> Result<Option<Vec<RoleName>>> {
        let mut want = roles.to_vec();
        let mut have = user.roles.clone();
        want.sort();
        have.sort();
        if want == have {
            return Ok(None);
        }
        let admin = RoleName::parse(BuiltinRole::Admin.name()).expect("valid name");
        let change = UserChange {
            roles: Some(roles.to_vec()),
            ..UserChange::default()
        };
        self.store
            .change_user(user.id, &change, Some(&admin))
            .await
            .map_err(|e| match e {
                StoreError::LastHolder(_) => refused(format!(
                    "{} is the last administrator and your groups no longer make you one; another administrator is needed first",
                    user.username
                )),
                StoreError::NotFound(what) => missing_role(what),
                other => other.into(),
            })?;
        // Streams and sessions that depended on a lost role look again.
        self.access_changed(Some(user.id));
        Ok(Some(user.roles.clone()))
    }

    /// Opens a login session (a token) for an account a provider vouched for.
    pub async fn sso_token(&self, user: UserId) -> Result<SecretString> {
        let token = random_token();
        let expires = OffsetDateTime::now_utc() + self.token_ttl;
        self.store
            .insert_token(&token_hash(&token), user, expires)
            .await?;
        Ok(SecretString::from(token))
    }

    /// A one-time code for `gatehouse login --sso`, which it trades with
    /// the verifier of `challenge` (base64url SHA-256) for a login token.
    pub async fn sso_handoff(&self, user: UserId, challenge: &str) -> Result<SecretString> {
        let code = random_token();
        self.store
            .insert_sso_handoff(
                &token_hash(&code),
                user,
                challenge,
                OffsetDateTime::now_utc() + HANDOFF_TTL,
            )
            .await?;
        Ok(SecretString::from(code))
    }

    /// Trades a one-time code and the verifier of its challenge for a login
    /// token. A used, expired or unknown code, or a wrong verifier, is
    /// `BadCredentials` (and the code is gone either way).
    pub async fn sso_redeem(
        &self,
        code: &str,
        verifier: &SecretString,
    ) -> Result<(SecretString, Principal)> {
        let (user, challenge) = self
            .store
            .take_sso_handoff(&token_hash(code))
            .await?
            .ok_or(AccessError::BadCredentials)?;
        if pkce_challenge(verifier.expose_secret()) != challenge {
            return Err(AccessError::BadCredentials);
        }
        let user = match self.store.user_by_id(user).await? {
            Some(u) if !u.disabled => u,
            Some(_) => return Err(AccessError::AccountLocked),
            None => return Err(AccessError::BadCredentials),
        };
        let token = self.sso_token(user.id).await?;
        Ok((token, self.principal(user).await?))
    }

    /// Whether the account signs in through a provider.
    pub async fn is_sso_user(&self, user: UserId) -> Result<bool> {
        Ok(self.store.is_sso_user(user).await?)
    }
}

/// The S256 challenge of a verifier: base64url(SHA-256(verifier)).
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(token_hash(verifier))
}

fn random_token() -> String {
    let mut raw = [0u8; 32];
    aws_lc_rs::rand::fill(&mut raw).expect("system random source");
    URL_SAFE_NO_PAD.encode(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7636 appendix B's example.
    #[test]
    fn the_challenge_is_rfc_7636_s256() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
