//! Counters for `/metrics`, taken from what the audit log and history
//! already see: every session's start and end, every recording, every
//! refused login.

use gatehouse_domain::EndReason;
use gatehouse_sessions::{EndedSession, SessionView};
use gatehouse_store::NewAuditEvent;

use crate::action;

pub(crate) fn started(s: &SessionView) {
    metrics::counter!("gatehouse_sessions_started_total", "protocol" => s.protocol.as_str())
        .increment(1);
}

pub(crate) fn ended(e: &EndedSession) {
    let protocol = e.session.protocol.as_str();
    let reason = e.end_reason.as_str();
    metrics::counter!("gatehouse_sessions_ended_total", "protocol" => protocol, "reason" => reason)
        .increment(1);
    if is_policy(e.end_reason) {
        metrics::counter!("gatehouse_policy_ends_total", "reason" => reason).increment(1);
    }
}

/// Ends the gateway's rules made, not a person or a hang-up.
fn is_policy(reason: EndReason) -> bool {
    matches!(
        reason,
        EndReason::IdleTimeout
            | EndReason::MaxDuration
            | EndReason::UserLocked
            | EndReason::AccessRevoked
    )
}

pub(crate) fn recorded(summary: &gatehouse_recording::Summary) {
    metrics::counter!("gatehouse_recording_bytes_total").increment(summary.bytes);
    if summary.truncated {
        metrics::counter!("gatehouse_recordings_truncated_total").increment(1);
    }
}

/// Refused logins by method: `web` (the login page and API), `oidc` (single
/// sign-on), or the SSH listener's method (`password`, `publickey`, …;
/// `refused` for a client turned away before authenticating).
pub(crate) fn audited(event: &NewAuditEvent) {
    let method = match event.action.as_str() {
        action::LOGIN_FAILED => match event.details.get("method").and_then(|m| m.as_str()) {
            Some("oidc") => "oidc".to_owned(),
            _ => "web".to_owned(),
        },
        action::SSH_LOGIN_FAILED => match event.details.get("method").and_then(|m| m.as_str()) {
            Some(m) => format!("ssh_{}", m.chars().take(32).collect::<String>()),
            None => "ssh_refused".to_owned(),
        },
        _ => return,
    };
    metrics::counter!("gatehouse_login_failures_total", "method" => method).increment(1);
}

/// A history or audit row the database did not take.
pub(crate) fn write_failed() {
    metrics::counter!("gatehouse_store_write_failures_total").increment(1);
}
