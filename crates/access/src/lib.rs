//! Who may do what: accounts, login tokens, permissions, and connections
//! with their sealed secrets.
//!
//! [`Access`] is the service the front ends call. Logging in yields a
//! [`LoginToken`] (kept only as a hash) and a [`Principal`] — the user and
//! the union of their roles' permissions — which every request is checked
//! against. Passwords are Argon2-hashed off the async runtime ([`passwords`]);
//! connection secrets are sealed with AES-256-GCM under a key from the data
//! directory or the environment ([`SecretBox`]) and opened only to dial a
//! target ([`TargetSpec`]). A stream that outlives its request (a live
//! feed, a watch socket) holds a [`Standing`], which closes it when its login
//! or permission is taken away ([`Lost`]).

mod accounts;
mod approvals;
mod connections;
mod directory;
mod directory_login;
mod limits;
pub mod passwords;
mod principal;
mod second_factor;
mod secrets;
mod ssh_keys;
pub mod sso;
mod standing;
mod throttle;

use std::sync::Arc;
use std::time::Duration;

use gatehouse_store::{Store, StoreError};

pub use accounts::UserUpdate;
pub use approvals::{ApprovalView, Decision};
pub use connections::{
    ConnectionInfo, ConnectionUpdateRequest, HttpInfo, NewConnectionRequest, TargetEdit,
    TargetSpec, check_target, fingerprint,
};
pub use directory::{Directory, DirectoryError, LdapConfig};
pub use principal::Principal;
pub use second_factor::{
    CodeLogin, Enrolment, LoginStep, PENDING_TTL, PasswordStep, RECOVERY_CODES, SecondFactorStatus,
};
pub use secrets::{SecretBox, SecretKeyError};
pub use standing::{Lost, Standing};

/// Why an access call failed.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// No valid credentials.
    #[error("authentication required")]
    Unauthenticated,
    /// Wrong username or password.
    #[error("invalid username or password")]
    BadCredentials,
    /// The right password for a locked (disabled) account. Only a caller
    /// who proved they know the password learns that the account is locked.
    #[error("this account is locked")]
    AccountLocked,
    /// The right password for an account that logs in with a second
    /// factor, through a call that cannot ask for one.
    #[error("this account logs in with a second factor")]
    SecondFactorRequired,
    /// A wrong verification code, or one already used.
    #[error("wrong or already used verification code")]
    BadCode,
    /// A login waiting for its code expired or was already completed.
    #[error("this login has expired or was already completed; log in again")]
    LoginExpired,
    /// Authenticated, but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// A request value was refused.
    #[error("{0}")]
    Invalid(String),
    /// A name is taken.
    #[error("{0} already exists")]
    Conflict(String),
    /// Something referenced does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// Too many failed logins from this client for this user; try again
    /// after the given time.
    #[error("too many failed attempts; try again in {} s", .0.as_secs().max(1))]
    Throttled(Duration),
    /// Too many password checks at once (a login flood): try again shortly.
    #[error(transparent)]
    Busy(#[from] passwords::Busy),
    /// A stored secret could not be opened (wrong key?).
    #[error("a stored secret could not be decrypted")]
    Sealed,
    /// The login directory (LDAP) could not be asked: try again later.
    #[error("the login directory cannot be reached; try again later")]
    DirectoryUnavailable,
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for AccessError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => AccessError::Conflict(what),
            StoreError::NotFound(what) => AccessError::NotFound(what),
            other => AccessError::Store(other),
        }
    }
}

/// Shorthand for access results.
pub type Result<T, E = AccessError> = std::result::Result<T, E>;

/// The access-control service. Cheap to clone.
#[derive(Clone)]
pub struct Access {
    store: Store,
    secrets: SecretBox,
    token_ttl: Duration,
    /// Failed logins, to slow guessers down.
    throttle: Arc<throttle::Throttle>,
    /// Every change that can take access away, with whose access it is
    /// (`None`: anyone's); see [`Standing`].
    changes: tokio::sync::broadcast::Sender<Option<gatehouse_domain::UserId>>,
    /// The same changes, only those made on this node: what a cluster
    /// passes on to the others (whose own arrive through `changes` alone).
    local_changes: tokio::sync::broadcast::Sender<Option<gatehouse_domain::UserId>>,
    /// The LDAP directory passwords are checked against, if configured.
    directory: Option<Arc<Directory>>,
    /// Users whose roles a directory login just narrowed: their live
    /// sessions are checked again (see [`Access::subscribe_narrowed`]).
    narrowed: tokio::sync::broadcast::Sender<gatehouse_domain::UserId>,
}

impl Access {
    /// An access service over `store`, sealing secrets with `secrets`;
    /// login tokens live for `token_ttl`.
    pub fn new(store: Store, secrets: SecretBox, token_ttl: Duration) -> Self {
        Self {
            store,
            secrets,
            token_ttl,
            throttle: Arc::default(),
            changes: tokio::sync::broadcast::channel(standing::CHANGES).0,
            local_changes: tokio::sync::broadcast::channel(standing::CHANGES).0,
            directory: None,
            narrowed: tokio::sync::broadcast::channel(standing::CHANGES).0,
        }
    }

    /// Checks passwords of accounts that are not local against `directory`.
    pub fn with_directory(mut self, directory: Directory) -> Self {
        self.directory = Some(Arc::new(directory));
        self
    }

    /// The store underneath.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The secret key's box: also what signs requests between nodes.
    pub fn secrets(&self) -> &SecretBox {
        &self.secrets
    }
}

#[cfg(test)]
mod standing_tests;
#[cfg(test)]
mod tests;
