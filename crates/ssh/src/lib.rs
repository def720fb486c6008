//! Outbound SSH: the gateway as an SSH client to its targets, with russh.
//!
//! [`connect`] dials a target, checks its host key against the pinned one
//! ([`HostKeyPolicy`]) and authenticates with the connection's
//! [`Credential`], returning a [`TargetConnection`] on which the native SSH
//! front end opens the channels its client asks for. The browser terminal
//! starts a [`TargetShell`] on it instead — a shell on a pty — and reads
//! [`TargetOutput`] from it and writes input and window sizes to it.
//! [`dial`] is how both SSH front ends reach a session's target through
//! the core: its host key pinned and its failures audited.

mod client;
mod connection;
pub mod dial;
mod handler;
mod shell;

use std::time::Duration;

use secrecy::SecretString;

pub use client::connect;
pub use connection::TargetConnection;
pub use handler::ForwardedChannel;
pub use shell::{ShellInput, ShellInputs, TargetOutput, TargetShell};

/// How the gateway authenticates to a target.
#[derive(Clone)]
pub enum Credential {
    /// A password.
    Password(SecretString),
    /// An OpenSSH (or PuTTY) private key, unencrypted.
    PrivateKey(SecretString),
}

/// What host key the target must present.
#[derive(Clone, Debug, Default)]
pub struct HostKeyPolicy {
    /// The pinned key, OpenSSH public-key format. `None` trusts the first
    /// key seen; the caller pins it from [`TargetShell::host_key`].
    pub pinned: Option<String>,
}

/// The pty for a new shell.
#[derive(Clone, Debug)]
pub struct ShellOptions {
    /// Terminal type, e.g. `xterm-256color`.
    pub term: String,
    /// Columns.
    pub cols: u32,
    /// Rows.
    pub rows: u32,
}

impl Default for ShellOptions {
    fn default() -> Self {
        Self {
            term: "xterm-256color".into(),
            cols: 80,
            rows: 24,
        }
    }
}

/// Why a shell could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The target could not be reached.
    #[error("cannot reach the target: {0}")]
    Unreachable(String),
    /// The target presented another host key than the pinned one.
    #[error("the target's host key changed: expected {expected}, got {presented}")]
    HostKeyMismatch {
        /// Fingerprint of the pinned key.
        expected: String,
        /// Fingerprint of the presented key.
        presented: String,
    },
    /// The target refused the connection's credentials.
    #[error("the target refused the connection's credentials")]
    AuthFailed,
    /// The stored key or pinned host key could not be parsed.
    #[error("invalid connection settings: {0}")]
    BadSettings(String),
    /// Nothing answered in time.
    #[error("the target did not answer within {0:?}")]
    Timeout(Duration),
    /// The SSH conversation failed.
    #[error("SSH error: {0}")]
    Protocol(String),
}

/// The [`ConnectError`] for a failed SSH exchange: an I/O failure means the
/// target went out of reach.
pub(crate) fn protocol(e: russh::Error) -> ConnectError {
    match e {
        russh::Error::IO(io) => ConnectError::Unreachable(io.to_string()),
        other => ConnectError::Protocol(other.to_string()),
    }
}

/// Checks that `text` is a usable private key, without keeping it.
pub fn check_private_key(text: &str) -> Result<(), String> {
    russh::keys::decode_secret_key(text, None)
        .map(|_| ())
        .map_err(|e| format!("private key is not a usable unencrypted OpenSSH or PuTTY key: {e}"))
}

/// Normalises a host key given as an OpenSSH public key line
/// (`type base64 [comment]`), dropping the comment.
pub fn parse_host_key(text: &str) -> Result<String, String> {
    parse_public_key(text).map_err(|e| format!("host key {e}"))
}

/// Normalises an OpenSSH public key line (`type base64 [comment]`),
/// dropping the comment.
pub fn parse_public_key(text: &str) -> Result<String, String> {
    let mut key = russh::keys::PublicKey::from_openssh(text.trim())
        .map_err(|e| format!("is not an OpenSSH public key: {e}"))?;
    key.set_comment("");
    key.to_openssh().map_err(|e| e.to_string())
}

/// A host key's SHA-256 fingerprint, as shown to people.
pub(crate) fn fingerprint(key: &russh::keys::PublicKey) -> String {
    key.fingerprint(russh::keys::HashAlg::Sha256).to_string()
}
