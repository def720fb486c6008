//! Connections: administrator-defined targets and who may use them. A
//! grant taken away (or the connection deleted) ends the live sessions that
//! depended on it at once.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use gatehouse_access::{ConnectionInfo, ConnectionUpdateRequest, NewConnectionRequest};
use gatehouse_audit::{Event, action};
use gatehouse_domain::{
    ConnectionId, ConnectionName, HostHeader, HttpTarget, Injection, Protocol, Publish, RdpTarget,
    RoleName, SshAuth, SshTarget, Target, TcpTarget, Username, VncTarget,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value, json};

use crate::AppState;
use crate::auth::Caller;
use crate::enforce;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery};

fn default_protocol() -> Protocol {
    Protocol::Ssh
}

/// A credential the gateway injects into every request to a web
/// application, so users never learn it. Its secret is never returned.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum InjectCredential {
    /// HTTP basic authentication.
    Basic {
        /// The account name.
        username: String,
        /// Its password.
        #[schema(value_type = String, format = Password)]
        password: SecretString,
    },
    /// A fixed header, e.g. an API key.
    Header {
        /// The header's name.
        name: String,
        /// Its value.
        #[schema(value_type = String, format = Password)]
        value: SecretString,
    },
}

impl InjectCredential {
    fn split(self) -> (Injection, SecretString) {
        match self {
            InjectCredential::Basic { username, password } => {
                (Injection::Basic { username }, password)
            }
            InjectCredential::Header { name, value } => (Injection::Header { name }, value),
        }
    }
}

/// A connection to create. An `ssh` connection (the default `protocol`)
/// takes `host`, `port`, `username`, exactly one of `password` and
/// `private_key`, and optionally `host_key` and `allow_forwarding`. An
/// `http` connection (a web application) takes `url` and optionally
/// `tls_verify`, `ca_certificate`, `host_header`, `publish`,
/// `redact_query`, `inject` and `identity_header`. A `tcp` connection (any
/// TCP service, reached through `gatehouse tunnel`) takes `host` and `port`
/// and no secret. A `vnc` connection (a graphical desktop) takes `host`,
/// `port` (default 5900), `password`, and optionally
/// `clipboard_to_desktop` and `clipboard_from_desktop` (both on by default;
/// switch a direction off for a data-loss policy). An `rdp` connection (a
/// Windows or xrdp desktop) takes `host`, `port` (default 3389),
/// `username`, `password`, and optionally `domain`, `certificate` (the
/// server's pinned certificate fingerprint; without it, the one seen on
/// first connection is pinned) and the two clipboard switches. Secrets are
/// never returned.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateConnection {
    /// Unique name users see: letters, digits, `.`, `_`, `-`.
    #[schema(value_type = String)]
    name: ConnectionName,
    /// `ssh` (the default), `http`, `tcp`, `vnc` or `rdp`.
    #[serde(default = "default_protocol")]
    protocol: Protocol,
    /// SSH and TCP: target host name or IP address.
    host: Option<String>,
    /// SSH: target port (default 22); TCP: target port (required).
    port: Option<u16>,
    /// SSH and RDP: account on the target.
    username: Option<String>,
    /// RDP: the account's Windows domain.
    domain: Option<String>,
    /// RDP: the server's TLS certificate fingerprint, `SHA256:` and
    /// unpadded base64 of the SHA-256 of its DER. Without it, the
    /// certificate seen on first connection is pinned.
    certificate: Option<String>,
    /// SSH and RDP: password for the account; VNC: the VNC password.
    #[schema(value_type = Option<String>, format = Password)]
    password: Option<SecretString>,
    /// SSH: unencrypted OpenSSH private key for the account.
    #[schema(value_type = Option<String>, format = Password)]
    private_key: Option<SecretString>,
    /// SSH: the target's host key (`ssh-ed25519 AAAA…`). Without it, the key
    /// seen on first connection is pinned.
    host_key: Option<String>,
    /// SSH: let native SSH clients forward ports through it (`ssh -L`, `-R`);
    /// refused by default.
    #[serde(default)]
    allow_forwarding: bool,
    /// HTTP: the app's internal URL, `http://host[:port][/base]` or `https://…`.
    url: Option<String>,
    /// HTTP: verify an `https` target's certificate (default `true`).
    tls_verify: Option<bool>,
    /// HTTP: an extra CA certificate (PEM) to trust for the target.
    ca_certificate: Option<String>,
    /// HTTP: which `Host` the app is sent (default `target`).
    host_header: Option<HostHeader>,
    /// HTTP: publish on `{name}.{apps_domain}` (`host`, the default) or
    /// under `/apps/{name}/` on the gateway (`path`).
    publish: Option<Publish>,
    /// HTTP: leave query strings out of the request log.
    #[serde(default)]
    redact_query: bool,
    /// HTTP: a credential injected into every request.
    inject: Option<InjectCredential>,
    /// HTTP: a header naming the gateway user to the app, e.g. `X-Gatehouse-User`.
    identity_header: Option<String>,
    /// VNC and RDP: let text pasted in the browser reach the desktop (default `true`).
    clipboard_to_desktop: Option<bool>,
    /// VNC and RDP: let text copied on the desktop reach the browser (default `true`).
    clipboard_from_desktop: Option<bool>,
    /// Users granted the connection.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    users: Vec<Username>,
    /// Roles granted the connection.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    roles: Vec<RoleName>,
}

/// The protocols that take a field.
const SSH: &[Protocol] = &[Protocol::Ssh];
const HTTP: &[Protocol] = &[Protocol::Http];
const SSH_TCP_DESKTOP: &[Protocol] = &[Protocol::Ssh, Protocol::Tcp, Protocol::Vnc, Protocol::Rdp];
const SSH_DESKTOP: &[Protocol] = &[Protocol::Ssh, Protocol::Vnc, Protocol::Rdp];
const SSH_RDP: &[Protocol] = &[Protocol::Ssh, Protocol::Rdp];
const RDP: &[Protocol] = &[Protocol::Rdp];
const DESKTOP: &[Protocol] = &[Protocol::Vnc, Protocol::Rdp];

/// A protocol-specific field of a request: its name, the protocols that
/// take it, and whether the request gives it.
type Field = (&'static str, &'static [Protocol], bool);

/// Fails naming the first field given that `protocol` does not take.
fn only_fields_of(protocol: Protocol, fields: &[Field]) -> Result<(), String> {
    match fields
        .iter()
        .find(|(_, takes, given)| *given && !takes.contains(&protocol))
    {
        Some((field, ..)) => Err(format!("{field} does not apply to {protocol} connections")),
        None => Ok(()),
    }
}

impl CreateConnection {
    /// The protocol-specific fields this request gives.
    fn fields(&self) -> [Field; 19] {
        [
            ("host", SSH_TCP_DESKTOP, self.host.is_some()),
            ("port", SSH_TCP_DESKTOP, self.port.is_some()),
            ("username", SSH_RDP, self.username.is_some()),
            ("domain", RDP, self.domain.is_some()),
            ("certificate", RDP, self.certificate.is_some()),
            ("password", SSH_DESKTOP, self.password.is_some()),
            ("private_key", SSH, self.private_key.is_some()),
            ("host_key", SSH, self.host_key.is_some()),
            ("allow_forwarding", SSH, self.allow_forwarding),
            ("url", HTTP, self.url.is_some()),
            ("tls_verify", HTTP, self.tls_verify.is_some()),
            ("ca_certificate", HTTP, self.ca_certificate.is_some()),
            ("host_header", HTTP, self.host_header.is_some()),
            ("publish", HTTP, self.publish.is_some()),
            ("redact_query", HTTP, self.redact_query),
            ("inject", HTTP, self.inject.is_some()),
            ("identity_header", HTTP, self.identity_header.is_some()),
            (
                "clipboard_to_desktop",
                DESKTOP,
                self.clipboard_to_desktop.is_some(),
            ),
            (
                "clipboard_from_desktop",
                DESKTOP,
                self.clipboard_from_desktop.is_some(),
            ),
        ]
    }

    /// The target and its secret this request describes.
    fn target(self) -> Result<(Target, Option<SecretString>), ApiError> {
        only_fields_of(self.protocol, &self.fields()).map_err(ApiError::invalid)?;
        match self.protocol {
            Protocol::Ssh => {
                let host = self
                    .host
                    .ok_or_else(|| ApiError::invalid("host is required"))?;
                let username = self
                    .username
                    .ok_or_else(|| ApiError::invalid("username is required"))?;
                let (auth, secret) =
                    ssh_secret(self.password, self.private_key)?.ok_or_else(|| {
                        ApiError::invalid("give exactly one of password and private_key")
                    })?;
                let host_key = self
                    .host_key
                    .as_deref()
                    .map(gatehouse_ssh::parse_host_key)
                    .transpose()
                    .map_err(ApiError::invalid)?;
                let target = Target::Ssh(SshTarget {
                    host: host.trim().to_owned(),
                    port: self.port.unwrap_or(22),
                    username: target_username(&username)?,
                    auth,
                    host_key_source: host_key
                        .as_ref()
                        .map(|_| gatehouse_domain::HostKeySource::Administrator),
                    host_key,
                    allow_forwarding: self.allow_forwarding,
                });
                Ok((target, Some(secret)))
            }
            Protocol::Tcp => {
                let host = self
                    .host
                    .ok_or_else(|| ApiError::invalid("host is required"))?;
                let port = self
                    .port
                    .ok_or_else(|| ApiError::invalid("port is required"))?;
                let target = Target::Tcp(TcpTarget {
                    host: host.trim().to_owned(),
                    port,
                });
                Ok((target, None))
            }
            Protocol::Vnc => {
                let host = self
                    .host
                    .ok_or_else(|| ApiError::invalid("host is required"))?;
                let password = self
                    .password
                    .filter(|p| !p.expose_secret().is_empty())
                    .ok_or_else(|| ApiError::invalid("password is required"))?;
                let target = Target::Vnc(VncTarget {
                    host: host.trim().to_owned(),
                    port: self.port.unwrap_or(5900),
                    clipboard_to_desktop: self.clipboard_to_desktop.unwrap_or(true),
                    clipboard_from_desktop: self.clipboard_from_desktop.unwrap_or(true),
                });
                Ok((target, Some(password)))
            }
            Protocol::Rdp => {
                let host = self
                    .host
                    .ok_or_else(|| ApiError::invalid("host is required"))?;
                let username = self
                    .username
                    .ok_or_else(|| ApiError::invalid("username is required"))?;
                let password = self
                    .password
                    .filter(|p| !p.expose_secret().is_empty())
                    .ok_or_else(|| ApiError::invalid("password is required"))?;
                let cert = self
                    .certificate
                    .as_deref()
                    .map(certificate_fingerprint)
                    .transpose()?;
                let target = Target::Rdp(RdpTarget {
                    host: host.trim().to_owned(),
                    port: self.port.unwrap_or(3389),
                    username: target_username(&username)?,
                    domain: rdp_domain(self.domain.as_deref())?,
                    cert_source: cert
                        .as_ref()
                        .map(|_| gatehouse_domain::HostKeySource::Administrator),
                    cert,
                    clipboard_to_desktop: self.clipboard_to_desktop.unwrap_or(true),
                    clipboard_from_desktop: self.clipboard_from_desktop.unwrap_or(true),
                });
                Ok((target, Some(password)))
            }
            Protocol::Http => {
                let url = self
                    .url
                    .ok_or_else(|| ApiError::invalid("url is required"))?;
                let (inject, secret) = self.inject.map(InjectCredential::split).unzip();
                let target = Target::Http(HttpTarget {
                    url: url.trim().trim_end_matches('/').to_owned(),
                    tls_verify: self.tls_verify.unwrap_or(true),
                    ca_certificate: self.ca_certificate,
                    host_header: self.host_header.unwrap_or_default(),
                    publish: self.publish.unwrap_or_default(),
                    redact_query: self.redact_query,
                    inject,
                    identity_header: self.identity_header,
                });
                Ok((target, secret))
            }
        }
    }
}

/// Create a connection and grant it.
#[utoipa::path(post, operation_id = "create_connection", path = "/connections", tag = "connections", request_body = CreateConnection,
    responses((status = 201, description = "The connection was created", body = ConnectionInfo), (status = 400, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateConnection>,
) -> Result<(StatusCode, Json<ConnectionInfo>), ApiError> {
    let name = req.name.clone();
    let (users, roles) = (req.users.clone(), req.roles.clone());
    let (target, secret) = req.target()?;
    let record = state
        .access
        .create_connection(
            &caller.principal,
            NewConnectionRequest {
                name,
                target,
                secret,
                users,
                roles,
            },
        )
        .await?;
    let info = state
        .access
        .connection_info(&caller.principal, &record)
        .await?;
    state
        .audit
        .record(
            Event::new(action::CONNECTION_CREATE)
                .actor(caller.name())
                .target(record.name.as_str())
                .client_addr(&caller.client_addr)
                .details(json!({
                    "id": record.id,
                    "protocol": record.protocol(),
                    "target": record.target.display(),
                    "allow_forwarding": info.allow_forwarding,
                    "users": info.users,
                    "roles": info.roles,
                })),
        )
        .await;
    Ok((StatusCode::CREATED, Json(info)))
}

/// The account on the target, trimmed: 1–128 printable characters.
fn target_username(username: &str) -> Result<String, ApiError> {
    let username = username.trim();
    if username.is_empty() || username.len() > 128 || username.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "username must be 1–128 printable characters",
        ));
    }
    Ok(username.to_owned())
}

/// An RDP certificate fingerprint as given by an administrator: `SHA256:`
/// and 43 characters of unpadded base64 (what the gateway pins and shows).
fn certificate_fingerprint(given: &str) -> Result<String, ApiError> {
    let given = given.trim();
    let b64 = given.strip_prefix("SHA256:").unwrap_or_default();
    if b64.len() != 43
        || !b64
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
    {
        return Err(ApiError::invalid(
            "certificate must be a SHA-256 fingerprint: SHA256: and 43 base64 characters",
        ));
    }
    Ok(given.to_owned())
}

/// An RDP account's domain, trimmed; empty is none.
fn rdp_domain(domain: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(domain) = domain.map(str::trim).filter(|d| !d.is_empty()) else {
        return Ok(None);
    };
    if domain.len() > 128 || domain.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "domain must be 1–128 printable characters",
        ));
    }
    Ok(Some(domain.to_owned()))
}

/// An SSH secret from at most one of a password and a private key
/// (checked to be usable); `None` if neither was given.
fn ssh_secret(
    password: Option<SecretString>,
    private_key: Option<SecretString>,
) -> Result<Option<(SshAuth, SecretString)>, ApiError> {
    match (password, private_key) {
        (None, None) => Ok(None),
        (Some(p), None) if !p.expose_secret().is_empty() => Ok(Some((SshAuth::Password, p))),
        (None, Some(k)) => {
            gatehouse_ssh::check_private_key(k.expose_secret()).map_err(ApiError::invalid)?;
            Ok(Some((SshAuth::PrivateKey, k)))
        }
        (Some(_), None) => Err(ApiError::invalid("password must not be empty")),
        (Some(_), Some(_)) => Err(ApiError::invalid(
            "give only one of password and private_key",
        )),
    }
}

/// Tells a field that is absent (`None`) from one that is `null` (`Some(None)`).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// [`present`] for an injected credential.
fn present_inject<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<InjectCredential>>, D::Error> {
    Option::<InjectCredential>::deserialize(d).map(Some)
}

/// Changes to a connection; give any subset of the fields. At most one of
/// `password` and `private_key` replaces the stored secret; neither is ever
/// returned.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateConnection {
    /// A new unique name.
    #[schema(value_type = Option<String>)]
    name: Option<ConnectionName>,
    /// SSH and TCP: a new target host name or IP address.
    host: Option<String>,
    /// SSH and TCP: a new target port.
    port: Option<u16>,
    /// A new account on the target.
    username: Option<String>,
    /// RDP: a new domain; `null` or empty removes it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable)]
    domain: Option<Option<String>>,
    /// RDP: a certificate fingerprint pins that certificate as given by the
    /// administrator; `null` forgets the pinned one, so the next session
    /// pins the certificate it sees on first use.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable)]
    certificate: Option<Option<String>>,
    /// A new password for the account (replaces the stored secret).
    #[schema(value_type = Option<String>, format = Password)]
    password: Option<SecretString>,
    /// A new unencrypted OpenSSH private key (replaces the stored secret).
    #[schema(value_type = Option<String>, format = Password)]
    private_key: Option<SecretString>,
    /// A host key string pins that key as given by the administrator;
    /// `null` forgets the pinned key, so the next session pins the key it
    /// sees on first use.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable)]
    host_key: Option<Option<String>>,
    /// Allows (`true`) or refuses port forwarding by native SSH clients.
    allow_forwarding: Option<bool>,
    /// HTTP: a new internal URL.
    url: Option<String>,
    /// HTTP: verify an `https` target's certificate.
    tls_verify: Option<bool>,
    /// HTTP: an extra CA certificate (PEM); `null` removes it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable)]
    ca_certificate: Option<Option<String>>,
    /// HTTP: which `Host` the app is sent.
    host_header: Option<HostHeader>,
    /// HTTP: where the app is published.
    publish: Option<Publish>,
    /// HTTP: leave query strings out of the request log.
    redact_query: Option<bool>,
    /// HTTP: a new injected credential; `null` stops injecting one.
    #[serde(default, deserialize_with = "present_inject")]
    #[schema(value_type = Option<InjectCredential>, nullable)]
    inject: Option<Option<InjectCredential>>,
    /// HTTP: the header naming the gateway user; `null` stops sending it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable)]
    identity_header: Option<Option<String>>,
    /// VNC and RDP: let text pasted in the browser reach the desktop.
    clipboard_to_desktop: Option<bool>,
    /// VNC and RDP: let text copied on the desktop reach the browser.
    clipboard_from_desktop: Option<bool>,
    /// Replaces the users granted the connection.
    #[schema(value_type = Option<Vec<String>>)]
    users: Option<Vec<Username>>,
    /// Replaces the roles granted the connection.
    #[schema(value_type = Option<Vec<String>>)]
    roles: Option<Vec<RoleName>>,
}

/// Change a connection: its settings, its secret, its host key or its
/// grants. The next session uses the new values. Live sessions go on,
/// except those whose owner no longer holds a grant on the connection
/// (directly or through a role): they end at once as `access_revoked`.
#[utoipa::path(patch, operation_id = "update_connection", path = "/connections/{id}", tag = "connections", request_body = UpdateConnection,
    params(("id" = uuid::Uuid, Path, description = "Connection id")),
    responses((status = 200, description = "The connection as changed", body = ConnectionInfo), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ConnectionId>,
    ApiJson(req): ApiJson<UpdateConnection>,
) -> Result<Json<ConnectionInfo>, ApiError> {
    let username = req.username.as_deref().map(target_username).transpose()?;
    let domain = req
        .domain
        .as_ref()
        .map(|d| rdp_domain(d.as_deref()))
        .transpose()?;
    let certificate = match &req.certificate {
        Some(Some(given)) => Some(Some(certificate_fingerprint(given)?)),
        Some(None) => Some(None),
        None => None,
    };
    let ssh_secret = ssh_secret(req.password, req.private_key)?;
    let host_key = match req.host_key {
        Some(Some(key)) => Some(Some(
            gatehouse_ssh::parse_host_key(&key).map_err(ApiError::invalid)?,
        )),
        other => other,
    };
    let (inject, inject_secret) = match req.inject {
        Some(Some(credential)) => {
            let (inject, secret) = credential.split();
            (Some(Some(inject)), Some(Some(secret)))
        }
        Some(None) => (Some(None), Some(None)),
        None => (None, None),
    };
    let mut details = Map::new();
    details.insert("id".into(), json!(id));
    if let Some(name) = &req.name {
        details.insert("name".into(), json!(name));
    }
    let mut note = |key: &str, value: Value, given: bool| {
        if given {
            details.insert(key.into(), value);
        }
    };
    note(
        "host",
        json!(req.host.as_deref().map(str::trim)),
        req.host.is_some(),
    );
    note("port", json!(req.port), req.port.is_some());
    note("username", json!(username), username.is_some());
    note("domain", json!(domain), domain.is_some());
    note("certificate", json!(certificate), certificate.is_some());
    note(
        "auth",
        json!(ssh_secret.as_ref().map(|(auth, _)| auth)),
        ssh_secret.is_some(),
    );
    note(
        "host_key_fingerprint",
        json!(
            host_key
                .clone()
                .flatten()
                .as_deref()
                .and_then(gatehouse_access::fingerprint)
        ),
        host_key.is_some(),
    );
    note(
        "allow_forwarding",
        json!(req.allow_forwarding),
        req.allow_forwarding.is_some(),
    );
    note("url", json!(req.url), req.url.is_some());
    note(
        "tls_verify",
        json!(req.tls_verify),
        req.tls_verify.is_some(),
    );
    note(
        "ca_certificate",
        json!(req.ca_certificate.as_ref().map(Option::is_some)),
        req.ca_certificate.is_some(),
    );
    note(
        "host_header",
        json!(req.host_header),
        req.host_header.is_some(),
    );
    note("publish", json!(req.publish), req.publish.is_some());
    note(
        "redact_query",
        json!(req.redact_query),
        req.redact_query.is_some(),
    );
    note("inject", json!(inject), inject.is_some());
    note(
        "identity_header",
        json!(req.identity_header),
        req.identity_header.is_some(),
    );
    note(
        "secret_changed",
        json!(true),
        ssh_secret.is_some() || inject_secret.is_some(),
    );
    note(
        "clipboard_to_desktop",
        json!(req.clipboard_to_desktop),
        req.clipboard_to_desktop.is_some(),
    );
    note(
        "clipboard_from_desktop",
        json!(req.clipboard_from_desktop),
        req.clipboard_from_desktop.is_some(),
    );
    note("users", json!(req.users), req.users.is_some());
    note("roles", json!(req.roles), req.roles.is_some());
    let changes_target = details.len() > 1
        && details.keys().any(|k| {
            !matches!(
                k.as_str(),
                "id" | "name" | "users" | "roles" | "secret_changed"
            )
        })
        || ssh_secret.is_some();
    let auth = ssh_secret.as_ref().map(|(auth, _)| *auth);
    let fields: [Field; 19] = [
        ("host", SSH_TCP_DESKTOP, req.host.is_some()),
        ("port", SSH_TCP_DESKTOP, req.port.is_some()),
        ("username", SSH_RDP, username.is_some()),
        ("domain", RDP, domain.is_some()),
        ("certificate", RDP, certificate.is_some()),
        ("password", SSH_DESKTOP, auth == Some(SshAuth::Password)),
        ("private_key", SSH, auth == Some(SshAuth::PrivateKey)),
        ("host_key", SSH, host_key.is_some()),
        ("allow_forwarding", SSH, req.allow_forwarding.is_some()),
        ("url", HTTP, req.url.is_some()),
        ("tls_verify", HTTP, req.tls_verify.is_some()),
        ("ca_certificate", HTTP, req.ca_certificate.is_some()),
        ("host_header", HTTP, req.host_header.is_some()),
        ("publish", HTTP, req.publish.is_some()),
        ("redact_query", HTTP, req.redact_query.is_some()),
        ("inject", HTTP, inject.is_some()),
        ("identity_header", HTTP, req.identity_header.is_some()),
        (
            "clipboard_to_desktop",
            DESKTOP,
            req.clipboard_to_desktop.is_some(),
        ),
        (
            "clipboard_from_desktop",
            DESKTOP,
            req.clipboard_from_desktop.is_some(),
        ),
    ];
    let edit: gatehouse_access::TargetEdit = Box::new(move |target: &mut Target| {
        only_fields_of(target.protocol(), &fields)?;
        if let Some((host, port)) = target.host_port_mut() {
            if let Some(new) = req.host {
                *host = new.trim().to_owned();
            }
            if let Some(new) = req.port {
                *port = new;
            }
        }
        if let Some((to_desktop, from_desktop)) = target.clipboard_mut() {
            if let Some(on) = req.clipboard_to_desktop {
                *to_desktop = on;
            }
            if let Some(on) = req.clipboard_from_desktop {
                *from_desktop = on;
            }
        }
        match target {
            Target::Ssh(ssh) => {
                if let Some(username) = username {
                    ssh.username = username;
                }
                if let Some(auth) = auth {
                    ssh.auth = auth;
                }
                if let Some(key) = host_key {
                    ssh.host_key_source = key
                        .as_ref()
                        .map(|_| gatehouse_domain::HostKeySource::Administrator);
                    ssh.host_key = key;
                }
                if let Some(allow) = req.allow_forwarding {
                    ssh.allow_forwarding = allow;
                }
            }
            Target::Tcp(_) | Target::Vnc(_) => {}
            Target::Rdp(rdp) => {
                if let Some(username) = username {
                    rdp.username = username;
                }
                if let Some(domain) = domain {
                    rdp.domain = domain;
                }
                if let Some(cert) = certificate {
                    rdp.cert_source = cert
                        .as_ref()
                        .map(|_| gatehouse_domain::HostKeySource::Administrator);
                    rdp.cert = cert;
                }
            }
            Target::Http(http) => {
                if let Some(url) = req.url {
                    http.url = url.trim().trim_end_matches('/').to_owned();
                }
                if let Some(verify) = req.tls_verify {
                    http.tls_verify = verify;
                }
                if let Some(ca) = req.ca_certificate {
                    http.ca_certificate = ca;
                }
                if let Some(host_header) = req.host_header {
                    http.host_header = host_header;
                }
                if let Some(publish) = req.publish {
                    http.publish = publish;
                }
                if let Some(redact) = req.redact_query {
                    http.redact_query = redact;
                }
                if let Some(inject) = inject {
                    http.inject = inject;
                }
                if let Some(header) = req.identity_header {
                    http.identity_header = header;
                }
            }
        }
        Ok(())
    });
    let secret = match ssh_secret {
        Some((_, secret)) => Some(Some(secret)),
        None => inject_secret,
    };
    let grants_changed = req.users.is_some() || req.roles.is_some();
    let (users, roles) = (req.users.clone(), req.roles.clone());
    let record = state
        .access
        .update_connection(
            &caller.principal,
            id,
            ConnectionUpdateRequest {
                name: req.name,
                target: changes_target.then_some(edit),
                secret,
                users,
                roles,
            },
        )
        .await?;
    let info = state
        .access
        .connection_info(&caller.principal, &record)
        .await?;
    // An empty change (only the id in the details) is not worth an event.
    if details.len() > 1 {
        state
            .audit
            .record(
                Event::new(action::CONNECTION_UPDATE)
                    .actor(caller.name())
                    .target(record.name.as_str())
                    .client_addr(&caller.client_addr)
                    .details(Value::Object(details)),
            )
            .await;
    }
    if grants_changed {
        enforce::revoke_unauthorized(&state, &caller).await?;
    }
    Ok(Json(info))
}

/// Delete a connection and its grants. Live sessions on it end at once
/// (`access_revoked`); history keeps the sessions that used it.
#[utoipa::path(delete, operation_id = "delete_connection", path = "/connections/{id}", tag = "connections",
    params(("id" = uuid::Uuid, Path, description = "Connection id")),
    responses((status = 204, description = "The connection was deleted"), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ConnectionId>,
) -> Result<StatusCode, ApiError> {
    let record = state
        .access
        .delete_connection(&caller.principal, id)
        .await?;
    state
        .audit
        .record(
            Event::new(action::CONNECTION_DELETE)
                .actor(caller.name())
                .target(record.name.as_str())
                .client_addr(&caller.client_addr)
                .details(json!({
                    "id": record.id,
                    "target": record.target.display(),
                })),
        )
        .await;
    enforce::revoke_unauthorized(&state, &caller).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Which connections to list.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListConnections {
    /// `true` lists every connection, granted to the caller or not
    /// (needs `connections.manage`); by default only those the caller may open.
    #[serde(default)]
    all: bool,
}

/// The connections the caller may open.
#[utoipa::path(get, operation_id = "list_connections", path = "/connections", tag = "connections", params(ListConnections),
    responses((status = 200, description = "The connections", body = Vec<ConnectionInfo>), (status = 401, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListConnections>,
) -> Result<Json<Vec<ConnectionInfo>>, ApiError> {
    let records = if query.all {
        state.access.all_connections(&caller.principal).await?
    } else {
        state.access.connections_for(&caller.principal).await?
    };
    let mut out = Vec::with_capacity(records.len());
    for r in &records {
        out.push(state.access.connection_info(&caller.principal, r).await?);
    }
    Ok(Json(out))
}
