//! Where and how to reach one published app.

use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderName, HeaderValue, Uri};
use secrecy::SecretString;

/// Where and how to reach one published app (built from a connection's settings).
///
/// The URL is parsed once in [`Upstream::new`]; everything else is plain
/// settings with the defaults a new connection gets.
#[derive(Debug, Clone)]
pub struct Upstream {
    url: Uri,
    https: bool,
    /// The URL's `host[:port]` as a `Host` header (`None` if it cannot be one).
    host_value: Option<HeaderValue>,
    /// The URL's path without its trailing `/` ("" for none): prefixed to every request path.
    base_path: String,
    /// Verify the target's certificate (default); `false` accepts any certificate.
    pub tls_verify: bool,
    /// An extra CA (PEM, one or more certificates) trusted for this https target.
    pub ca_pem: Option<String>,
    /// Which `Host` the target sees.
    pub host_header: HostHeader,
    /// Credentials the gateway adds to every request, replacing the browser's `Authorization`.
    pub inject: Option<Injected>,
    /// A header naming the signed-in user, e.g. `X-Gatehouse-User: alice`; it replaces any the browser sent.
    pub identity: Option<(HeaderName, String)>,
    /// Cookies the gateway itself sets on the app host (e.g. `gatehouse_session`): never sent to the
    /// target, and a target's `Set-Cookie` for one of these names is dropped.
    pub strip_cookies: Vec<String>,
}

/// Which `Host` header the target sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HostHeader {
    /// The target's own `host[:port]` from its URL (what a direct visit would send).
    #[default]
    Target,
    /// The public app host the browser used (for apps that build links from `Host`).
    Public,
}

/// Credentials the gateway adds to each request so users never learn them.
#[derive(Debug, Clone)]
pub enum Injected {
    /// HTTP Basic: `Authorization: Basic base64(username:password)`.
    Basic {
        /// The user name.
        username: String,
        /// The password.
        password: SecretString,
    },
    /// One header set to a secret value, e.g. `X-Api-Key` or `Authorization: Bearer …`.
    Header {
        /// The header's name.
        name: HeaderName,
        /// Its value.
        value: SecretString,
    },
}

/// Why a URL cannot be an [`Upstream`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidUpstream {
    /// Only `http://` and `https://` targets can be published.
    #[error("the app URL must start with http:// or https://")]
    Scheme,
    /// The URL names no host.
    #[error("the app URL has no host")]
    NoHost,
    /// `user:password@host` URLs are refused: credentials belong in [`Injected`].
    #[error("the app URL must not hold credentials; set injected credentials instead")]
    Credentials,
    /// A base URL with a query cannot be joined with each request's own query.
    #[error("the app URL must not have a query")]
    Query,
}

impl Upstream {
    /// Parses the target URL, e.g. `http://127.0.0.1:3000` or `https://app.internal/base`,
    /// with every other setting at its default (verify TLS, target `Host`, nothing injected).
    pub fn new(url: Uri) -> Result<Self, InvalidUpstream> {
        let https = match url.scheme() {
            Some(s) if *s == Scheme::HTTPS => true,
            Some(s) if *s == Scheme::HTTP => false,
            _ => return Err(InvalidUpstream::Scheme),
        };
        let authority = url.authority().ok_or(InvalidUpstream::NoHost)?;
        if authority.as_str().contains('@') {
            return Err(InvalidUpstream::Credentials);
        }
        if authority.host().is_empty() {
            return Err(InvalidUpstream::NoHost);
        }
        if url.query().is_some() {
            return Err(InvalidUpstream::Query);
        }
        let base_path = url.path().trim_end_matches('/').to_owned();
        let host_value = HeaderValue::from_str(authority.as_str()).ok();
        Ok(Self {
            url,
            https,
            host_value,
            base_path,
            tls_verify: true,
            ca_pem: None,
            host_header: HostHeader::Target,
            inject: None,
            identity: None,
            strip_cookies: Vec::new(),
        })
    }

    /// The target URL as given.
    pub fn url(&self) -> &Uri {
        &self.url
    }

    /// Whether the target is reached over TLS.
    pub fn is_https(&self) -> bool {
        self.https
    }

    /// The path every request path is appended to ("" when the URL has none).
    pub fn base_path(&self) -> &str {
        &self.base_path
    }

    pub(crate) fn scheme_str(&self) -> &'static str {
        if self.https { "https" } else { "http" }
    }

    /// The target's `Host`: its URL's `host[:port]`, made once.
    pub(crate) fn host_value(&self) -> Option<&HeaderValue> {
        self.host_value.as_ref()
    }

    pub(crate) fn authority(&self) -> &Authority {
        // Checked in `new`.
        self.url
            .authority()
            .expect("an upstream URL has an authority")
    }

    /// The target host, lower-case and without IPv6 brackets.
    pub(crate) fn host(&self) -> String {
        self.authority()
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase()
    }

    pub(crate) fn port(&self) -> u16 {
        self.authority()
            .port_u16()
            .unwrap_or(if self.https { 443 } else { 80 })
    }

    pub(crate) fn strips_cookie(&self, name: &str) -> bool {
        self.strip_cookies.iter().any(|n| n == name)
    }

    /// The target URI for a request the browser sent for `path_and_query`.
    ///
    /// Without a base path the request's own path and query are reused as
    /// they are (a reference count, not a copy to format and parse again).
    pub(crate) fn target_uri(&self, path_and_query: &PathAndQuery) -> Option<Uri> {
        if !path_and_query.as_str().starts_with('/') {
            return None;
        }
        if self.base_path.is_empty() {
            let mut parts = http::uri::Parts::default();
            parts.scheme = Some(if self.https {
                Scheme::HTTPS
            } else {
                Scheme::HTTP
            });
            parts.authority = Some(self.authority().clone());
            parts.path_and_query = Some(path_and_query.clone());
            return Uri::from_parts(parts).ok();
        }
        let uri = format!(
            "{}://{}{}{}",
            self.scheme_str(),
            self.authority(),
            self.base_path,
            path_and_query
        );
        uri.parse().ok()
    }
}
