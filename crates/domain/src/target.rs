//! What a connection reaches, per protocol.
//!
//! A connection's [`Target`] is a value tagged by its protocol and holds
//! everything about the target except its secret, which is sealed apart and
//! whose meaning each variant states (an SSH password or key, an HTTP
//! credential to inject). A new protocol is a new variant here and a new
//! front end; the store keeps the value as one JSON document.

use serde::{Deserialize, Serialize};

use crate::{Protocol, TargetAddr};

/// A connection's target, tagged by protocol. Never holds a secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "protocol", rename_all = "snake_case")]
pub enum Target {
    /// An SSH server; the sealed secret is its password or private key.
    Ssh(SshTarget),
    /// A web application; the sealed secret, if any, is the credential
    /// [`HttpTarget::inject`] names.
    Http(HttpTarget),
    /// Any TCP service reached by native clients through a tunnel (a
    /// database, an RDP server); no secret: the client authenticates itself.
    Tcp(TcpTarget),
    /// A VNC server whose screen the gateway shows in a browser tab; the
    /// sealed secret is its VNC password.
    Vnc(VncTarget),
    /// An RDP server whose screen the gateway shows in a browser tab; the
    /// sealed secret is the account's password.
    Rdp(RdpTarget),
}

impl Target {
    /// The protocol this target speaks.
    pub fn protocol(&self) -> Protocol {
        match self {
            Target::Ssh(_) => Protocol::Ssh,
            Target::Http(_) => Protocol::Http,
            Target::Tcp(_) => Protocol::Tcp,
            Target::Vnc(_) => Protocol::Vnc,
            Target::Rdp(_) => Protocol::Rdp,
        }
    }

    /// Where the target is, as shown to people and in history: `host:port`
    /// for SSH, TCP and desktops, the URL for a web application.
    pub fn display(&self) -> String {
        match (self, self.host_port()) {
            (Target::Http(http), _) => http.url.clone(),
            (_, Some((host, port))) => TargetAddr::new(host, port)
                .map_or_else(|_| format!("{host}:{port}"), |addr| addr.to_string()),
            (_, None) => String::new(),
        }
    }

    /// The host and port of a target reached at one (every protocol but a
    /// web application, which is a URL).
    pub fn host_port(&self) -> Option<(&str, u16)> {
        match self {
            Target::Ssh(t) => Some((&t.host, t.port)),
            Target::Tcp(t) => Some((&t.host, t.port)),
            Target::Vnc(t) => Some((&t.host, t.port)),
            Target::Rdp(t) => Some((&t.host, t.port)),
            Target::Http(_) => None,
        }
    }

    /// [`Target::host_port`], to change.
    pub fn host_port_mut(&mut self) -> Option<(&mut String, &mut u16)> {
        match self {
            Target::Ssh(t) => Some((&mut t.host, &mut t.port)),
            Target::Tcp(t) => Some((&mut t.host, &mut t.port)),
            Target::Vnc(t) => Some((&mut t.host, &mut t.port)),
            Target::Rdp(t) => Some((&mut t.host, &mut t.port)),
            Target::Http(_) => None,
        }
    }

    /// The SSH settings, if this is an SSH target.
    pub fn ssh(&self) -> Option<&SshTarget> {
        match self {
            Target::Ssh(ssh) => Some(ssh),
            _ => None,
        }
    }

    /// The web application settings, if this is one.
    pub fn http(&self) -> Option<&HttpTarget> {
        match self {
            Target::Http(http) => Some(http),
            _ => None,
        }
    }

    /// The TCP settings, if this is a TCP target.
    pub fn tcp(&self) -> Option<&TcpTarget> {
        match self {
            Target::Tcp(tcp) => Some(tcp),
            _ => None,
        }
    }

    /// The VNC settings, if this is a VNC target.
    pub fn vnc(&self) -> Option<&VncTarget> {
        match self {
            Target::Vnc(vnc) => Some(vnc),
            _ => None,
        }
    }

    /// The RDP settings, if this is an RDP target.
    pub fn rdp(&self) -> Option<&RdpTarget> {
        match self {
            Target::Rdp(rdp) => Some(rdp),
            _ => None,
        }
    }

    /// Which ways a desktop's clipboard text may cross, `(to the desktop,
    /// from the desktop)`; `None` for a target that is not a desktop.
    pub fn clipboard(&self) -> Option<(bool, bool)> {
        match self {
            Target::Vnc(v) => Some((v.clipboard_to_desktop, v.clipboard_from_desktop)),
            Target::Rdp(r) => Some((r.clipboard_to_desktop, r.clipboard_from_desktop)),
            _ => None,
        }
    }

    /// [`Target::clipboard`], to change.
    pub fn clipboard_mut(&mut self) -> Option<(&mut bool, &mut bool)> {
        match self {
            Target::Vnc(v) => Some((&mut v.clipboard_to_desktop, &mut v.clipboard_from_desktop)),
            Target::Rdp(r) => Some((&mut r.clipboard_to_desktop, &mut r.clipboard_from_desktop)),
            _ => None,
        }
    }
}

/// An RDP server: the gateway dials it, checks its TLS certificate against
/// the pinned one (RDP servers' certificates are self-signed, so they are
/// pinned like SSH host keys, not verified by a CA), logs in as `username`
/// with the sealed password, and shows its screen to the user's browser.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RdpTarget {
    /// Host name or IP address.
    pub host: String,
    /// Port (3389 usually).
    pub port: u16,
    /// Account on the target.
    pub username: String,
    /// The account's Windows domain, if any.
    #[serde(default)]
    pub domain: Option<String>,
    /// The pinned certificate's SHA-256 fingerprint (`SHA256:` and
    /// unpadded base64 of the DER's digest); `None` until first use.
    #[serde(default)]
    pub cert: Option<String>,
    /// Where the pinned certificate came from.
    #[serde(default)]
    pub cert_source: Option<HostKeySource>,
    /// Whether text pasted in the browser reaches the desktop's clipboard.
    #[serde(default = "on")]
    pub clipboard_to_desktop: bool,
    /// Whether text copied on the desktop reaches the browser's clipboard.
    #[serde(default = "on")]
    pub clipboard_from_desktop: bool,
}

impl RdpTarget {
    /// The checked address to dial.
    pub fn addr(&self) -> Result<TargetAddr, crate::NameError> {
        TargetAddr::new(&self.host, self.port)
    }
}

/// A VNC server: the gateway dials it, authenticates with the sealed
/// password, and shows its screen to the user's browser.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VncTarget {
    /// Host name or IP address.
    pub host: String,
    /// Port (5900 + display, usually).
    pub port: u16,
    /// Whether text pasted in the browser reaches the desktop's clipboard
    /// (on unless a data-loss policy says otherwise).
    #[serde(default = "on")]
    pub clipboard_to_desktop: bool,
    /// Whether text copied on the desktop reaches the browser's clipboard.
    #[serde(default = "on")]
    pub clipboard_from_desktop: bool,
}

/// Clipboard directions are on unless switched off (and were before the
/// switches existed: stored targets without them keep working as they did).
fn on() -> bool {
    true
}

impl VncTarget {
    /// The checked address to dial.
    pub fn addr(&self) -> Result<TargetAddr, crate::NameError> {
        TargetAddr::new(&self.host, self.port)
    }
}

/// A TCP service: the gateway dials it for every connection a tunnel carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TcpTarget {
    /// Host name or IP address.
    pub host: String,
    /// Port.
    pub port: u16,
}

impl TcpTarget {
    /// The checked address to dial.
    pub fn addr(&self) -> Result<TargetAddr, crate::NameError> {
        TargetAddr::new(&self.host, self.port)
    }
}

/// An SSH server and the account the gateway logs in as.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshTarget {
    /// Host name or IP address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Account on the target.
    pub username: String,
    /// Whether the sealed secret is a password or a private key.
    pub auth: SshAuth,
    /// The pinned host key, OpenSSH format; `None` until pinned.
    #[serde(default)]
    pub host_key: Option<String>,
    /// Where the pinned key came from.
    #[serde(default)]
    pub host_key_source: Option<HostKeySource>,
    /// Whether native SSH clients may forward ports through it.
    #[serde(default)]
    pub allow_forwarding: bool,
}

impl SshTarget {
    /// The checked address to dial.
    pub fn addr(&self) -> Result<TargetAddr, crate::NameError> {
        TargetAddr::new(&self.host, self.port)
    }
}

/// How a connection authenticates to an SSH target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SshAuth {
    /// A password.
    Password,
    /// An OpenSSH private key.
    PrivateKey,
}

/// Where a pinned host key came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HostKeySource {
    /// An administrator gave it when creating the connection.
    Administrator,
    /// The gateway pinned the key the target presented on first connection.
    FirstUse,
}

/// An internal web application published through the gateway.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpTarget {
    /// The app's internal base URL, `http://` or `https://`.
    pub url: String,
    /// Whether an `https` target's certificate is verified (on by default).
    #[serde(default = "yes")]
    pub tls_verify: bool,
    /// An extra CA certificate (PEM) trusted for this target.
    #[serde(default)]
    pub ca_certificate: Option<String>,
    /// Which `Host` the app is sent.
    #[serde(default)]
    pub host_header: HostHeader,
    /// Where the gateway publishes the app.
    #[serde(default)]
    pub publish: Publish,
    /// Whether query strings are left out of the request log.
    #[serde(default)]
    pub redact_query: bool,
    /// A credential the gateway adds to every request, so users never learn it.
    #[serde(default)]
    pub inject: Option<Injection>,
    /// The header naming the gateway user to the app (e.g. `X-Gatehouse-User`); none if unset.
    #[serde(default)]
    pub identity_header: Option<String>,
}

fn yes() -> bool {
    true
}

/// Which `Host` header a web application is sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HostHeader {
    /// The target's own host and port, from its URL.
    #[default]
    Target,
    /// The public app host the browser used.
    Public,
}

/// Where the gateway publishes a web application.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Publish {
    /// On a host name of its own: `{connection}.{apps_domain}`.
    #[default]
    Host,
    /// Under `/apps/{connection}/` on the gateway's own host (for apps that
    /// support a base path).
    Path,
}

/// A credential injected into every request to a web application. The
/// secret part (password or header value) is the connection's sealed secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Injection {
    /// HTTP basic authentication as `username`.
    Basic {
        /// The account name sent.
        username: String,
    },
    /// A fixed header, e.g. an API key.
    Header {
        /// The header's name.
        name: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vnc_target_stored_before_the_clipboard_switches_keeps_both_directions_on() {
        let stored = r#"{"protocol":"vnc","host":"lab","port":5901}"#;
        let Target::Vnc(vnc) = serde_json::from_str(stored).unwrap() else {
            panic!("a vnc target")
        };
        assert!(vnc.clipboard_to_desktop && vnc.clipboard_from_desktop);
        let off = r#"{"protocol":"vnc","host":"lab","port":5901,"clipboard_to_desktop":false}"#;
        let Target::Vnc(vnc) = serde_json::from_str(off).unwrap() else {
            panic!("a vnc target")
        };
        assert!(!vnc.clipboard_to_desktop && vnc.clipboard_from_desktop);
    }

    #[test]
    fn targets_are_stored_tagged_by_protocol() {
        let ssh = Target::Ssh(SshTarget {
            host: "db1".into(),
            port: 22,
            username: "ops".into(),
            auth: SshAuth::Password,
            host_key: None,
            host_key_source: None,
            allow_forwarding: false,
        });
        let json = serde_json::to_value(&ssh).unwrap();
        assert_eq!(json["protocol"], "ssh");
        assert_eq!(json["auth"], "password");
        assert_eq!(serde_json::from_value::<Target>(json).unwrap(), ssh);

        let http: Target =
            serde_json::from_str(r#"{"protocol":"http","url":"http://10.0.0.7:3000"}"#).unwrap();
        let Target::Http(app) = &http else {
            panic!("not http: {http:?}")
        };
        assert!(
            app.tls_verify,
            "certificates are verified unless switched off"
        );
        assert_eq!(
            (app.host_header, app.publish),
            (HostHeader::Target, Publish::Host)
        );
        assert_eq!(http.protocol(), Protocol::Http);
        assert_eq!(http.display(), "http://10.0.0.7:3000");

        let tcp: Target =
            serde_json::from_str(r#"{"protocol":"tcp","host":"pg1","port":5432}"#).unwrap();
        assert_eq!(tcp.protocol(), Protocol::Tcp);
        assert_eq!(tcp.display(), "pg1:5432");

        let vnc: Target =
            serde_json::from_str(r#"{"protocol":"vnc","host":"lab1","port":5901}"#).unwrap();
        assert_eq!(vnc.protocol(), Protocol::Vnc);
        assert_eq!(vnc.display(), "lab1:5901");
        assert_eq!(Protocol::parse("vnc"), Some(Protocol::Vnc));

        let rdp: Target = serde_json::from_str(
            r#"{"protocol":"rdp","host":"win1","port":3389,"username":"ops"}"#,
        )
        .unwrap();
        assert_eq!(rdp.protocol(), Protocol::Rdp);
        assert_eq!(rdp.display(), "win1:3389");
        let Target::Rdp(win) = &rdp else {
            panic!("not rdp: {rdp:?}")
        };
        assert_eq!((win.domain.as_deref(), win.cert.as_deref()), (None, None));
        assert_eq!(rdp.clipboard(), Some((true, true)));
        assert_eq!(Protocol::parse("rdp"), Some(Protocol::Rdp));
    }
}
