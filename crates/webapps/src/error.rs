//! The proxy's one error type.

use http::StatusCode;

/// Why a request could not be forwarded. The caller renders the page (see
/// [`code`](Self::code) and [`status`](Self::status)); the `Display` text is for
/// logs and may name internal hosts, so it is not meant for the browser.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The target refused or could not be reached (DNS, TCP, TLS handshake).
    #[error("the app cannot be reached: {0}")]
    Unreachable(String),
    /// Connecting, or waiting for the response headers, took too long.
    #[error("the app did not answer in time")]
    Timeout,
    /// The target's response cannot be relayed (broken connection, invalid HTTP).
    #[error("the app's response cannot be relayed: {0}")]
    BadResponse(String),
    /// The browser's request cannot be forwarded as it is.
    #[error("the request cannot be forwarded: {0}")]
    BadRequest(String),
    /// The connection's settings cannot be used (e.g. an unreadable CA certificate).
    #[error("the app's settings cannot be used: {0}")]
    Misconfigured(String),
    /// The session's stop token was cancelled before the target answered.
    #[error("the session was stopped")]
    Stopped,
}

impl ProxyError {
    /// A stable machine-readable code for the error page and the API.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unreachable(_) => "app_unreachable",
            Self::Timeout => "app_timeout",
            Self::BadResponse(_) => "app_bad_response",
            Self::BadRequest(_) => "bad_request",
            Self::Misconfigured(_) => "app_misconfigured",
            Self::Stopped => "session_stopped",
        }
    }

    /// The status the browser should get (and the request log records).
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Timeout => StatusCode::GATEWAY_TIMEOUT,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Stopped => StatusCode::SERVICE_UNAVAILABLE,
            Self::Unreachable(_) | Self::BadResponse(_) | Self::Misconfigured(_) => {
                StatusCode::BAD_GATEWAY
            }
        }
    }
}
