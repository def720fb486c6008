//! The second factor on the SSH listener: after a right password, an
//! account with a TOTP second factor is asked `Verification code:` as a
//! keyboard-interactive prompt, in the same login (RFC 4252 partial
//! success when the password came by the `password` method, a second
//! prompt when it came by keyboard-interactive).
//!
//! Only after a password: a registered public key is already something the
//! user holds, registered through a web login that asked for the code, and
//! keys are what `scp`, `sftp` and automation log in with non-interactively
//! (`BatchMode`), where no one could type a code.

use gatehouse_access::{AccessError, Principal};
use gatehouse_audit::{Event, action};
use russh::MethodKind;
use russh::server::Auth;

use crate::Front;
use crate::login::LoginName;

/// The prompt, as OpenSSH shows it.
pub(crate) const PROMPT: &str = "Verification code: ";

/// A login past its password, waiting for its code.
pub(crate) struct AwaitingCode {
    /// The SSH user name the password came with: the code must come with
    /// the same one.
    user: String,
    login: LoginName,
    principal: Principal,
}

impl AwaitingCode {
    pub(crate) fn new(user: &str, login: LoginName, principal: Principal) -> Self {
        Self {
            user: user.to_owned(),
            login,
            principal,
        }
    }

    /// Whether a keyboard-interactive request as `user` answers this.
    pub(crate) fn is_for(&self, user: &str) -> bool {
        self.user == user
    }

    /// Checks the typed code; the login on success. A used recovery code
    /// is audited.
    pub(crate) async fn check(
        self,
        front: &Front,
        code: &str,
        peer: &str,
    ) -> Result<(LoginName, Principal), AccessError> {
        let recovery = front.access.check_code(&self.principal, code, peer).await?;
        if recovery {
            front
                .audit
                .record(
                    Event::new(action::RECOVERY_CODE_USED)
                        .actor(self.principal.username.as_str())
                        .client_addr(peer),
                )
                .await;
        }
        Ok((self.login, self.principal))
    }
}

/// The answer to a right password when a code must follow: after the
/// `password` method, "partial success, go on with keyboard-interactive";
/// inside keyboard-interactive, the next prompt.
pub(crate) fn ask(method: &str) -> Auth {
    if method == "password" {
        Auth::Reject {
            proceed_with_methods: Some(russh::MethodSet::from(
                &[MethodKind::KeyboardInteractive][..],
            )),
            partial_success: true,
        }
    } else {
        prompt()
    }
}

/// The keyboard-interactive request for the code (not echoed).
pub(crate) fn prompt() -> Auth {
    Auth::Partial {
        name: "Gatehouse".into(),
        instructions: "".into(),
        prompts: vec![(PROMPT.into(), false)].into(),
    }
}
