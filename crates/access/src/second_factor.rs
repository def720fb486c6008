//! TOTP second factor for local accounts (RFC 6238: HMAC-SHA-1, six digits,
//! 30-second steps, one step of clock skew either way — what authenticator
//! apps expect).
//!
//! A login whose account has a second factor (or whose role requires one)
//! stops after the password at a [`LoginStep::Code`]: a short-lived pending
//! token and, for an account that must enrol first, a fresh secret to enrol.
//! [`Access::finish_login`] takes the pending token and a code and opens the
//! login session. Each code is accepted once: the store keeps the last
//! accepted time step and takes only a later one, in one conditional write,
//! so a code seen once is refused again on every node. Ten one-time recovery
//! codes, kept as hashes, stand in for a lost authenticator. The secret is
//! sealed like connection secrets and never leaves the gateway after the
//! enrolment that shows it. Wrong codes count in the password throttle.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse_domain::{Permission, RoleName, UserId, Username};
use gatehouse_store::UserRecord;
use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;

use crate::accounts::token_hash;
use crate::{Access, AccessError, Principal, Result};

/// How long a login may wait between its password and its code.
pub const PENDING_TTL: Duration = Duration::from_secs(5 * 60);
/// Recovery codes made at each enrolment.
pub const RECOVERY_CODES: usize = 10;
/// The name authenticator apps show the account under.
const ISSUER: &str = "Gatehouse";
/// Letters of a recovery code: no i, l, o or 1 to misread (32 of them, so
/// a random byte modulo 32 picks one without bias).
const RECOVERY_ALPHABET: &[u8; 32] = b"abcdefghjkmnpqrstuvwxyz023456789";

/// A new authenticator to add to an app: shown once, at enrolment.
pub struct Enrolment {
    /// The secret, base32 (what an app takes when typed in).
    pub secret: SecretString,
    /// The `otpauth://totp/…` URI a QR code carries.
    pub uri: SecretString,
}

/// What a correct password leads to.
pub enum LoginStep {
    /// Logged in: no second factor on this account.
    Done(SecretString, Principal),
    /// A code is needed: send it with `pending` to [`Access::finish_login`].
    Code {
        /// The short-lived, single-use pending token.
        pending: SecretString,
        /// Whose login this is.
        user: Username,
        /// The account must enrol first (its role requires a second
        /// factor): the authenticator to add; the first code confirms it.
        enrol: Option<Enrolment>,
    },
}

/// What a native SSH password login leads to.
pub enum PasswordStep {
    /// Logged in.
    Done(Principal),
    /// The password was right; a code must follow ([`Access::check_code`]).
    Code(Principal),
}

/// A completed second step.
pub struct CodeLogin {
    /// The login token.
    pub token: SecretString,
    /// Who logged in.
    pub principal: Principal,
    /// The recovery codes of an enrolment completed by this login.
    pub recovery_codes: Option<Vec<SecretString>>,
    /// The code was a recovery code (now used up).
    pub used_recovery_code: bool,
}

/// A user's second factor, as their profile shows it.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct SecondFactorStatus {
    /// Codes are asked for at login.
    pub enabled: bool,
    /// One of the user's roles requires a second factor.
    pub required: bool,
    /// Unused recovery codes.
    pub recovery_codes_left: i64,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn totp(secret: Vec<u8>) -> Result<totp_rs::Totp> {
    totp_rs::Builder::new()
        .with_secret(secret)
        .build()
        .map_err(|_| AccessError::Sealed)
}

fn random_token() -> SecretString {
    let mut raw = [0u8; 32];
    aws_lc_rs::rand::fill(&mut raw).expect("system random source");
    SecretString::from(URL_SAFE_NO_PAD.encode(raw))
}

/// A recovery code as typed, the way it is hashed: lowercase, without the
/// dash or spaces.
fn normalise_recovery(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

fn new_recovery_codes() -> Vec<SecretString> {
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut raw = [0u8; 10];
            aws_lc_rs::rand::fill(&mut raw).expect("system random source");
            let letters: String = raw
                .iter()
                .map(|b| RECOVERY_ALPHABET[usize::from(b % 32)] as char)
                .collect();
            SecretString::from(format!("{}-{}", &letters[..5], &letters[5..]))
        })
        .collect()
}

/// The otpauth URI for `user`'s `secret` (usernames are `[a-z0-9._-]`, so
/// the label needs no escaping).
fn otpauth_uri(user: &Username, secret_b32: &str) -> String {
    format!(
        "otpauth://totp/{ISSUER}:{user}?secret={secret_b32}&issuer={ISSUER}&algorithm=SHA1&digits=6&period=30",
        user = user.as_str()
    )
}

impl Access {
    /// Checks a username and password; a login whose account has a second
    /// factor, or whose role requires one, continues at
    /// [`Access::finish_login`] with a code. Throttled and answered as
    /// [`Access::login`].
    pub async fn login_step(
        &self,
        username: &str,
        password: SecretString,
        client_addr: &str,
    ) -> Result<LoginStep> {
        let user = self.check_password(username, password, client_addr).await?;
        let factor = self.store.second_factor(user.id).await?;
        let enrol = match factor {
            Some(f) if f.enabled => None,
            _ if self.store.second_factor_required(user.id).await? => {
                Some(self.new_enrolment(&user.username, user.id).await?)
            }
            _ => {
                let (token, principal) = self.open_login(user).await?;
                return Ok(LoginStep::Done(token, principal));
            }
        };
        let pending = random_token();
        let expires = OffsetDateTime::now_utc() + PENDING_TTL;
        self.store
            .insert_pending_login(&token_hash(pending.expose_secret()), user.id, expires)
            .await?;
        Ok(LoginStep::Code {
            pending,
            user: user.username,
            enrol,
        })
    }

    /// The second step of a login: the pending token from
    /// [`Access::login_step`] and a current code (or an unused recovery
    /// code). A wrong code is `BadCode` and counts in the throttle; the
    /// pending token stays usable until it expires or a code is accepted.
    /// For an account that was enrolling, the code confirms the enrolment
    /// and the answer carries its recovery codes.
    pub async fn finish_login(
        &self,
        pending: &str,
        code: &str,
        client_addr: &str,
    ) -> Result<CodeLogin> {
        let hash = token_hash(pending);
        let user_id = self
            .store
            .pending_login_user(&hash)
            .await?
            .ok_or(AccessError::LoginExpired)?;
        let user = self.live_user(user_id).await?;
        let enabled = self
            .store
            .second_factor(user.id)
            .await?
            .is_some_and(|f| f.enabled);
        let used_recovery_code = self.verify(&user, code, client_addr, enabled).await?;
        // Single use: of two requests with one pending token, one wins.
        if !self.store.take_pending_login(&hash).await? {
            return Err(AccessError::LoginExpired);
        }
        let recovery_codes = if enabled {
            None
        } else {
            Some(self.enable(user.id).await?)
        };
        let (token, principal) = self.open_login(user).await?;
        Ok(CodeLogin {
            token,
            principal,
            recovery_codes,
            used_recovery_code,
        })
    }

    /// Checks a username and password for a native SSH login: an account
    /// with a second factor answers `Code`, and [`Access::check_code`]
    /// must pass before the login is let in. An account whose role requires
    /// a second factor it has not enrolled is refused
    /// (`SecondFactorRequired`): it enrols on the web first.
    pub async fn password_step(
        &self,
        username: &str,
        password: SecretString,
        client_addr: &str,
    ) -> Result<PasswordStep> {
        let user = self.check_password(username, password, client_addr).await?;
        let enabled = self
            .store
            .second_factor(user.id)
            .await?
            .is_some_and(|f| f.enabled);
        if enabled {
            return Ok(PasswordStep::Code(self.principal(user).await?));
        }
        if self.store.second_factor_required(user.id).await? {
            return Err(AccessError::SecondFactorRequired);
        }
        Ok(PasswordStep::Done(self.principal(user).await?))
    }

    /// The code after an SSH password ([`PasswordStep::Code`]); returns
    /// whether it was a recovery code.
    pub async fn check_code(&self, who: &Principal, code: &str, client_addr: &str) -> Result<bool> {
        let user = self.live_user(who.user_id).await?;
        self.verify(&user, code, client_addr, true).await
    }

    /// The caller's second factor.
    pub async fn second_factor_status(&self, who: &Principal) -> Result<SecondFactorStatus> {
        let enabled = self
            .store
            .second_factor(who.user_id)
            .await?
            .is_some_and(|f| f.enabled);
        Ok(SecondFactorStatus {
            enabled,
            required: self.store.second_factor_required(who.user_id).await?,
            recovery_codes_left: if enabled {
                self.store.recovery_codes_left(who.user_id).await?
            } else {
                0
            },
        })
    }

    /// Starts the caller's enrolment with a new secret; nothing is asked
    /// at login until [`Access::confirm_enrolment`]. An enabled second
    /// factor is a `Conflict` (turn it off first).
    pub async fn begin_enrolment(&self, who: &Principal) -> Result<Enrolment> {
        self.new_enrolment(&who.username, who.user_id).await
    }

    /// Confirms the caller's enrolment with a current code and switches it
    /// on; returns the recovery codes, shown this once.
    pub async fn confirm_enrolment(
        &self,
        who: &Principal,
        code: &str,
        client_addr: &str,
    ) -> Result<Vec<SecretString>> {
        let user = self.live_user(who.user_id).await?;
        match self.store.second_factor(user.id).await? {
            Some(f) if !f.enabled => {}
            Some(_) => return Err(AccessError::Conflict("a second factor".into())),
            None => {
                return Err(AccessError::Invalid(
                    "start the enrolment first: no authenticator is waiting for its first code"
                        .into(),
                ));
            }
        }
        self.verify(&user, code, client_addr, false).await?;
        self.enable(user.id).await
    }

    /// Turns the caller's second factor off; needs a current code (or a
    /// recovery code). Refused while a role requires one.
    pub async fn disable_second_factor(
        &self,
        who: &Principal,
        code: &str,
        client_addr: &str,
    ) -> Result<()> {
        let user = self.live_user(who.user_id).await?;
        if self.store.second_factor_required(user.id).await? {
            return Err(AccessError::Forbidden(
                "your role requires a second factor; an administrator can reset it".into(),
            ));
        }
        let enabled = self
            .store
            .second_factor(user.id)
            .await?
            .is_some_and(|f| f.enabled);
        if !enabled {
            return Err(AccessError::NotFound("second factor".into()));
        }
        self.verify(&user, code, client_addr, true).await?;
        self.store.delete_second_factor(user.id).await?;
        Ok(())
    }

    /// Removes user `id`'s second factor (a lost phone); needs
    /// `users.manage`. If a role requires one, the user enrols again at
    /// their next login. Returns the account and whether it had one.
    pub async fn reset_second_factor(
        &self,
        who: &Principal,
        id: UserId,
    ) -> Result<(UserRecord, bool)> {
        who.require(Permission::UsersManage)?;
        let user = self
            .store
            .user_by_id(id)
            .await?
            .ok_or_else(|| AccessError::NotFound(format!("user {id}")))?;
        let had = self.store.delete_second_factor(id).await?;
        Ok((user, had))
    }

    /// Makes a second factor required (or not) for `role`'s holders; needs
    /// `users.manage`.
    pub async fn set_role_second_factor(
        &self,
        who: &Principal,
        role: &RoleName,
        required: bool,
    ) -> Result<()> {
        who.require(Permission::UsersManage)?;
        Ok(self.store.set_role_second_factor(role, required).await?)
    }

    /// Whether a password login of `user` must go on to a code (it has a
    /// second factor, or a role requires one): [`Access::login`] and
    /// [`Access::password_principal`] refuse such accounts.
    pub(crate) async fn needs_code(&self, user: &UserRecord) -> Result<bool> {
        Ok(self
            .store
            .second_factor(user.id)
            .await?
            .is_some_and(|f| f.enabled)
            || self.store.second_factor_required(user.id).await?)
    }

    async fn live_user(&self, id: UserId) -> Result<UserRecord> {
        match self.store.user_by_id(id).await? {
            Some(u) if !u.disabled => Ok(u),
            Some(_) => Err(AccessError::AccountLocked),
            None => Err(AccessError::LoginExpired),
        }
    }

    async fn new_enrolment(&self, user: &Username, id: UserId) -> Result<Enrolment> {
        let mut raw = vec![0u8; 20];
        aws_lc_rs::rand::fill(&mut raw).expect("system random source");
        let b32 = totp_rs::Secret::from(raw.clone()).to_base32();
        self.store
            .begin_second_factor(id, &self.secrets.seal(&raw))
            .await?;
        Ok(Enrolment {
            uri: SecretString::from(otpauth_uri(user, &b32)),
            secret: SecretString::from(b32),
        })
    }

    async fn enable(&self, id: UserId) -> Result<Vec<SecretString>> {
        let codes = new_recovery_codes();
        let hashes: Vec<Vec<u8>> = codes
            .iter()
            .map(|c| token_hash(&normalise_recovery(c.expose_secret())))
            .collect();
        self.store.enable_second_factor(id, &hashes).await?;
        Ok(codes)
    }

    /// Checks `code` for `user`'s authenticator in the state `enabled`
    /// (false: an enrolment being confirmed, where recovery codes do not
    /// exist yet), within the login throttle. Returns whether it was a
    /// recovery code.
    async fn verify(
        &self,
        user: &UserRecord,
        code: &str,
        client_addr: &str,
        enabled: bool,
    ) -> Result<bool> {
        // Counted apart from the password's failures, which a right
        // password clears: knowing the password buys no fresh code guesses.
        // (`#` is in no username, so no typed name shares this count.)
        let attempt = self
            .throttle
            .begin(&format!("{}#code", user.username), client_addr)
            .map_err(AccessError::Throttled)?;
        let factor = self
            .store
            .second_factor(user.id)
            .await?
            .filter(|f| f.enabled == enabled)
            .ok_or_else(|| AccessError::NotFound("second factor".into()))?;
        let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        let ok = if digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit()) {
            let secret = self
                .secrets
                .open(&factor.secret_sealed)
                .ok_or(AccessError::Sealed)?;
            match totp(secret)?.check(&digits, now_secs()) {
                Some(step) => {
                    let step = i64::try_from(step).unwrap_or(i64::MAX);
                    self.store
                        .take_second_factor_step(user.id, step, enabled)
                        .await?
                        .then_some(false)
                }
                None => None,
            }
        } else if enabled && code.len() <= 64 {
            let hash = token_hash(&normalise_recovery(code));
            self.store
                .take_recovery_code(user.id, &hash)
                .await?
                .then_some(true)
        } else {
            None
        };
        match ok {
            Some(recovery) => {
                attempt.succeeded();
                Ok(recovery)
            }
            None => {
                attempt.failed();
                Err(AccessError::BadCode)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_are_ten_distinct_dashed_codes_that_normalise_back() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let mut seen = std::collections::HashSet::new();
        for c in &codes {
            let c = c.expose_secret();
            assert_eq!(c.len(), 11, "{c}");
            assert_eq!(&c[5..6], "-");
            assert!(seen.insert(c.to_owned()));
            assert_eq!(
                normalise_recovery(&c.to_uppercase().replace('-', " - ")),
                c.replace('-', "")
            );
        }
    }

    #[test]
    fn the_uri_is_what_authenticator_apps_read() {
        let user = Username::parse("alice").unwrap();
        assert_eq!(
            otpauth_uri(&user, "JBSWY3DPEHPK3PXP"),
            "otpauth://totp/Gatehouse:alice?secret=JBSWY3DPEHPK3PXP&issuer=Gatehouse&algorithm=SHA1&digits=6&period=30"
        );
    }
}
