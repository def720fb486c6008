//! SSH login by approval link, for people with no password the gateway can
//! check (SSO accounts) and no registered key: keyboard-interactive shows a
//! one-time link; the person opens it in the browser where they are logged
//! in and approves or denies; the login waits (bounded) for the answer.
//!
//! The request and its decision live in the database (see
//! `gatehouse_access::Access::request_approval`), so the link may be
//! opened on any node; the waiting login polls it.

use std::time::Duration;

use gatehouse_access::{AccessError, Decision};
use gatehouse_audit::{Event, action};
use serde_json::json;

use crate::Front;
use crate::login::LoginName;

/// Approval links, when turned on.
#[derive(Clone, Debug)]
pub struct ApprovalLinks {
    /// The gateway's public web address (`https://gateway.example.com`),
    /// which the link starts with.
    pub base_url: String,
    /// How long a link stays usable. Kept under the listener's 60 s login
    /// grace, after which an unfinished login is disconnected anyway.
    pub ttl: Duration,
}

/// How often the waiting login looks for the decision: a click shows
/// within a quarter second, at four small reads a second per waiting login.
const POLL: Duration = Duration::from_millis(250);

/// A request shown to the client, waiting for its answer.
#[derive(Clone, Debug)]
pub(crate) struct Pending {
    id: String,
    login: LoginName,
}

/// The prompt a client is shown for an approval: the link, and what to do.
pub(crate) struct Prompt {
    pub(crate) instructions: String,
    pub(crate) prompt: String,
}

/// Starts an approval for `user` if links are on and the account logs in
/// that way; `None` means ask for a password as usual.
pub(crate) async fn start(front: &Front, user: &str, peer: &str) -> Option<(Pending, Prompt)> {
    let links = front.approval.as_ref()?;
    let login = LoginName::parse(user)?;
    let connection = login.connection.as_ref().map(|c| c.as_str().to_owned());
    let request = match front
        .access
        .request_approval(login.user.as_str(), peer, connection.as_deref(), links.ttl)
        .await
    {
        Ok(Some(request)) => request,
        Ok(None) => return None,
        Err(e) => {
            tracing::error!(error = %e, "could not record an SSH login approval request");
            return None;
        }
    };
    front
        .audit
        .record(
            Event::new(action::SSH_LOGIN_APPROVAL_REQUESTED)
                .actor(login.user.as_str())
                .client_addr(peer)
                .target(&request.id)
                .details(json!({ "connection": connection })),
        )
        .await;
    let link = format!(
        "{}/approve/{}",
        links.base_url.trim_end_matches('/'),
        request.id
    );
    // The link is in the prompt itself: OpenSSH shows the instructions
    // only at its default log level, the prompt always (and gives it to
    // an askpass helper).
    let prompt = Prompt {
        instructions: format!(
            "Open the link below in the browser where you are logged in to Gatehouse \
             and approve this login; it is valid for {} s.",
            links.ttl.as_secs()
        ),
        prompt: format!("{link} - press Enter once approved: "),
    };
    Some((
        Pending {
            id: request.id,
            login,
        },
        prompt,
    ))
}

/// Waits for the user's decision on `pending` (until it expires): the
/// login it approves, or why not, and what became of the request
/// (`approved`, `denied`, `expired`) for the audit. The decision itself is
/// audited where it is made (the web API).
pub(crate) async fn wait(
    front: &Front,
    pending: Pending,
) -> (
    Result<(LoginName, gatehouse_access::Principal), AccessError>,
    &'static str,
) {
    let decision = loop {
        match front.access.approval_decision(&pending.id).await {
            Ok(Decision::Pending) => tokio::time::sleep(POLL).await,
            Ok(decided) => break decided,
            Err(e) => return (Err(e), "error"),
        }
    };
    match decision {
        Decision::Approved => {
            let principal = front
                .access
                .approved_principal(pending.login.user.as_str())
                .await;
            (principal.map(|p| (pending.login, p)), "approved")
        }
        Decision::Denied => (Err(AccessError::BadCredentials), "denied"),
        _ => (Err(AccessError::BadCredentials), "expired"),
    }
}
