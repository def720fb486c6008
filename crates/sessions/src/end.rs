//! The end request: why and by whom a session was asked to end, kept on
//! the session until its handle drops and records it.

use gatehouse_domain::EndReason;

/// Why and by whom a session was asked to end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndRequest {
    /// The reason recorded in history and shown to the user.
    pub reason: EndReason,
    /// The person who ended it, if a person did.
    pub by: Option<String>,
    /// Their message to the user, if any.
    pub message: Option<String>,
}

impl EndRequest {
    /// An end with a reason and nobody behind it (the session's own course).
    pub fn because(reason: EndReason) -> Self {
        Self {
            reason,
            by: None,
            message: None,
        }
    }

    /// One line for the person whose session ended, e.g. "Session ended by
    /// administrator admin".
    /// With a message, it follows: "…: maintenance window".
    pub fn describe(&self) -> String {
        let who = match (&self.by, self.reason) {
            (Some(by), EndReason::EndedByAdmin) => format!("Session ended by administrator {by}"),
            (Some(by), _) => format!("Session ended by {by}"),
            (None, reason) => format!("Session ended: {reason}"),
        };
        match &self.message {
            Some(message) if !message.is_empty() => format!("{who}: {message}"),
            _ => who,
        }
    }
}
