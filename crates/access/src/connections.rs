use gatehouse_domain::{
    ConnectionId, ConnectionName, HostHeader, HostKeySource, HttpTarget, Injection, Permission,
    Protocol, Publish, RoleName, SshAuth, Target, Username,
};
use gatehouse_store::{ConnectionRecord, ConnectionUpdate, NewConnection};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use crate::{Access, AccessError, Principal, Result};

/// A connection to create, already parsed.
#[derive(Debug)]
pub struct NewConnectionRequest {
    /// Unique name.
    pub name: ConnectionName,
    /// What it reaches; checked by [`check_target`] before it is stored.
    pub target: Target,
    /// Its secret, if the target needs one (see [`Target`]).
    pub secret: Option<SecretString>,
    /// Users to grant it to.
    pub users: Vec<Username>,
    /// Roles to grant it to.
    pub roles: Vec<RoleName>,
}

/// Changes a connection's target in place; an `Err` names what may not change.
pub type TargetEdit = Box<dyn FnOnce(&mut Target) -> std::result::Result<(), String> + Send>;

/// Changes to a connection, already parsed; `None` leaves a field as it is.
#[derive(Default)]
pub struct ConnectionUpdateRequest {
    /// A new unique name.
    pub name: Option<ConnectionName>,
    /// A change to the target, applied to the stored one and checked.
    pub target: Option<TargetEdit>,
    /// `Some(secret)` replaces the secret (`Some(None)` removes it).
    pub secret: Option<Option<SecretString>>,
    /// Replaces the users granted directly.
    pub users: Option<Vec<Username>>,
    /// Replaces the roles granted.
    pub roles: Option<Vec<RoleName>>,
}

impl std::fmt::Debug for ConnectionUpdateRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionUpdateRequest")
            .field("name", &self.name)
            .field("target", &self.target.as_ref().map(|_| ".."))
            .field("secret", &self.secret.as_ref().map(|_| ".."))
            .field("users", &self.users)
            .field("roles", &self.roles)
            .finish()
    }
}

/// Checks a target before it is stored: an SSH or TCP host and port that
/// can be dialled; a web application URL that is `http(s)://host[:port][/path]`
/// without credentials, query or fragment, and header names that are valid.
pub fn check_target(target: &Target) -> std::result::Result<(), String> {
    match target {
        Target::Ssh(ssh) => {
            ssh.addr().map_err(|e| e.to_string())?;
            if ssh.username.trim().is_empty() || ssh.username.len() > 64 {
                return Err("username must be 1 to 64 characters".into());
            }
            Ok(())
        }
        Target::Http(http) => check_http(http),
        Target::Tcp(tcp) => tcp.addr().map(|_| ()).map_err(|e| e.to_string()),
        Target::Vnc(vnc) => vnc.addr().map(|_| ()).map_err(|e| e.to_string()),
        Target::Rdp(rdp) => {
            rdp.addr().map_err(|e| e.to_string())?;
            if rdp.username.trim().is_empty() || rdp.username.len() > 128 {
                return Err("username must be 1 to 128 characters".into());
            }
            if rdp.domain.as_ref().is_some_and(|d| d.len() > 128) {
                return Err("domain must be at most 128 characters".into());
            }
            Ok(())
        }
    }
}

fn check_http(http: &HttpTarget) -> std::result::Result<(), String> {
    let url = &http.url;
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or("url must start with http:// or https://")?;
    if url.len() > 2048 {
        return Err("url is too long".into());
    }
    if rest.contains(['?', '#', '@']) || rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("url may not hold credentials, a query, a fragment or spaces".into());
    }
    let authority = rest.split('/').next().unwrap_or_default();
    let (host, port) = split_authority(authority).ok_or("url must name a host")?;
    gatehouse_domain::TargetAddr::new(host, port.unwrap_or(1)).map_err(|e| format!("url: {e}"))?;
    if port == Some(0) {
        return Err("url: port must be between 1 and 65535".into());
    }
    let header_ok = |name: &str| {
        !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    match &http.inject {
        Some(Injection::Header { name }) if !header_ok(name) => {
            return Err("inject.name must be a header name (letters, digits, - and _)".into());
        }
        Some(Injection::Basic { username })
            if username.is_empty() || username.contains(':') || username.len() > 128 =>
        {
            return Err("inject.username must be 1 to 128 characters without ':'".into());
        }
        _ => {}
    }
    if http
        .identity_header
        .as_deref()
        .is_some_and(|name| !header_ok(name))
    {
        return Err("identity_header must be a header name (letters, digits, - and _)".into());
    }
    if http
        .ca_certificate
        .as_deref()
        .is_some_and(|pem| !pem.contains("-----BEGIN CERTIFICATE-----") || pem.len() > 64 * 1024)
    {
        return Err("ca_certificate must be a PEM certificate".into());
    }
    Ok(())
}

/// `host[:port]` or `[v6][:port]`.
fn split_authority(authority: &str) -> Option<(&str, Option<u16>)> {
    if let Some(v6) = authority.strip_prefix('[') {
        let (host, rest) = v6.split_once(']')?;
        return match rest.strip_prefix(':') {
            Some(port) => Some((host, Some(port.parse().ok()?))),
            None if rest.is_empty() => Some((host, None)),
            None => None,
        };
    }
    match authority.split_once(':') {
        Some((host, port)) => Some((host, Some(port.parse().ok()?))),
        None => Some((authority, None)),
    }
    .filter(|(host, _)| !host.is_empty())
}

/// Whether a target of this kind needs a secret to be usable.
fn needs_secret(target: &Target) -> bool {
    match target {
        Target::Ssh(_) => true,
        Target::Http(http) => http.inject.is_some(),
        // The native client authenticates itself to the target.
        Target::Tcp(_) => false,
        // The gateway authenticates to the desktop itself.
        Target::Vnc(_) | Target::Rdp(_) => true,
    }
}

/// What the API shows of a web application connection's settings;
/// administrators only. Never the injected secret.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct HttpInfo {
    /// The app's internal URL.
    pub url: String,
    /// Whether an `https` target's certificate is verified.
    pub tls_verify: bool,
    /// Whether an extra CA certificate is set.
    pub ca_certificate: bool,
    /// Which `Host` header the app is sent.
    pub host_header: HostHeader,
    /// Whether query strings are left out of the request log.
    pub redact_query: bool,
    /// The credential injected, without its secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inject: Option<Injection>,
    /// The header naming the gateway user to the app.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity_header: Option<String>,
}

/// What the API shows of a connection: never the secret.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ConnectionInfo {
    /// Its id.
    pub id: ConnectionId,
    /// Its name.
    pub name: ConnectionName,
    /// Its protocol.
    pub protocol: Protocol,
    /// Target host (for a web application: its URL's host); for `tcp`, where
    /// the gateway dials every connection a tunnel carries.
    pub host: String,
    /// Target port (for a web application: its URL's port).
    pub port: u16,
    /// Where a web application is published (`host` or `path`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publish: Option<Publish>,
    /// Where people open a web application: a gateway path that logs them
    /// in to the app and takes them there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_url: Option<String>,
    /// SSH and RDP: account on the target; shown to administrators only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// RDP: the account's domain; shown to administrators only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// RDP: SHA-256 fingerprint of the pinned TLS certificate
    /// (`SHA256:…`); shown to administrators only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate_fingerprint: Option<String>,
    /// RDP: where the pinned certificate came from; shown to administrators only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate_source: Option<HostKeySource>,
    /// SSH: password or private key; shown to administrators only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<SshAuth>,
    /// SSH: SHA-256 fingerprint of the pinned host key; shown to administrators only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_key_fingerprint: Option<String>,
    /// SSH: where the pinned key came from; shown to administrators only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_key_source: Option<HostKeySource>,
    /// Whether native SSH clients may forward ports (`ssh -L`, `-R`) through it.
    pub allow_forwarding: bool,
    /// Web application settings; shown to administrators only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpInfo>,
    /// VNC and RDP: whether text pasted in the browser reaches the desktop.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clipboard_to_desktop: Option<bool>,
    /// VNC and RDP: whether text copied on the desktop reaches the browser.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clipboard_from_desktop: Option<bool>,
    /// Users granted directly; shown to administrators only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub users: Option<Vec<String>>,
    /// Roles granted; shown to administrators only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<RoleName>>,
}

/// Everything a front end needs to reach a target, secret opened. Only for
/// the session that is about to use it.
pub struct TargetSpec {
    /// The connection.
    pub connection: ConnectionRecord,
    /// The opened secret, if the connection has one.
    pub secret: Option<SecretString>,
}

impl std::fmt::Debug for TargetSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TargetSpec")
            .field("connection", &self.connection.name)
            .field("target", &self.connection.target)
            .finish_non_exhaustive()
    }
}

impl TargetSpec {
    /// Where the target is, as shown in Active Sessions and history.
    pub fn display(&self) -> String {
        self.connection.target.display()
    }
}

impl Access {
    /// Creates a connection; needs `connections.manage`. The target is
    /// checked and the secret sealed before either reaches the store.
    pub async fn create_connection(
        &self,
        who: &Principal,
        req: NewConnectionRequest,
    ) -> Result<ConnectionRecord> {
        who.require(Permission::ConnectionsManage)?;
        check_target(&req.target).map_err(AccessError::Invalid)?;
        if needs_secret(&req.target) && req.secret.is_none() {
            return Err(AccessError::Invalid(match req.target {
                Target::Ssh(_) => "give password or private_key".into(),
                Target::Http(_) => "inject needs its secret (password or value)".into(),
                Target::Tcp(_) => "a tcp connection takes no secret".into(),
                Target::Vnc(_) => "give the VNC password".into(),
                Target::Rdp(_) => "give the RDP account's password".into(),
            }));
        }
        let users = self.user_ids(&req.users).await?;
        Ok(self
            .store
            .create_connection(NewConnection {
                name: req.name,
                target: req.target,
                secret_sealed: req
                    .secret
                    .map(|secret| self.secrets.seal(secret.expose_secret().as_bytes())),
                users,
                roles: req.roles,
            })
            .await?)
    }

    /// Changes a connection; needs `connections.manage`. The changed target
    /// is checked, a new secret is sealed before it reaches the store, and
    /// grant lists given replace the old ones entirely.
    pub async fn update_connection(
        &self,
        who: &Principal,
        id: ConnectionId,
        req: ConnectionUpdateRequest,
    ) -> Result<ConnectionRecord> {
        who.require(Permission::ConnectionsManage)?;
        let current = self
            .store
            .connection(id)
            .await?
            .ok_or_else(|| AccessError::NotFound(format!("connection {id}")))?;
        let target = match req.target {
            Some(edit) => {
                let mut changed = current.target.clone();
                edit(&mut changed).map_err(AccessError::Invalid)?;
                check_target(&changed).map_err(AccessError::Invalid)?;
                Some((current.target.clone(), changed))
            }
            None => None,
        };
        let resulting = target.as_ref().map_or(&current.target, |(_, t)| t);
        let has_secret = match &req.secret {
            Some(secret) => secret.is_some(),
            None => current.secret_sealed.is_some(),
        };
        if needs_secret(resulting) && !has_secret {
            return Err(AccessError::Invalid("this target needs a secret".into()));
        }
        let users = match &req.users {
            Some(names) => Some(self.user_ids(names).await?),
            None => None,
        };
        let secret = req
            .secret
            .map(|secret| secret.map(|plain| self.secrets.seal(plain.expose_secret().as_bytes())));
        Ok(self
            .store
            .update_connection(
                id,
                ConnectionUpdate {
                    name: req.name,
                    target,
                    secret,
                    users,
                    roles: req.roles,
                },
            )
            .await?)
    }

    /// Deletes a connection and its grants; needs `connections.manage`.
    /// Returns the deleted connection.
    pub async fn delete_connection(
        &self,
        who: &Principal,
        id: ConnectionId,
    ) -> Result<ConnectionRecord> {
        who.require(Permission::ConnectionsManage)?;
        let not_found = || AccessError::NotFound(format!("connection {id}"));
        let connection = self.store.connection(id).await?.ok_or_else(not_found)?;
        if !self.store.delete_connection(id).await? {
            return Err(not_found());
        }
        Ok(connection)
    }

    /// The connections `who` may open.
    pub async fn connections_for(&self, who: &Principal) -> Result<Vec<ConnectionRecord>> {
        Ok(self.store.connections_for_user(who.user_id).await?)
    }

    /// Every connection, granted or not; needs `connections.manage`.
    pub async fn all_connections(&self, who: &Principal) -> Result<Vec<ConnectionRecord>> {
        who.require(Permission::ConnectionsManage)?;
        Ok(self.store.list_connections().await?)
    }

    /// User ids for usernames (for granting); `NotFound` names the first unknown one.
    async fn user_ids(&self, names: &[Username]) -> Result<Vec<gatehouse_domain::UserId>> {
        let mut ids = Vec::with_capacity(names.len());
        for name in names {
            let user = self
                .store
                .user_by_name(name)
                .await?
                .ok_or_else(|| AccessError::NotFound(format!("user {name}")))?;
            ids.push(user.id);
        }
        Ok(ids)
    }

    /// Usernames for user ids (for showing grants).
    pub async fn usernames(&self, ids: &[gatehouse_domain::UserId]) -> Result<Vec<String>> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(u) = self.store.user_by_id(*id).await? {
                out.push(u.username.to_string());
            }
        }
        Ok(out)
    }

    /// Checks that `who` holds a grant on the connection and opens its
    /// secret. Nobody — not even an administrator — opens a session on a
    /// connection that was not granted to them.
    pub async fn target_for(&self, who: &Principal, id: ConnectionId) -> Result<TargetSpec> {
        let connection = self
            .store
            .connection(id)
            .await?
            .ok_or_else(|| AccessError::NotFound(format!("connection {id}")))?;
        if !self.store.user_may_use(who.user_id, id).await? {
            return Err(AccessError::Forbidden(format!(
                "connection {} is not granted to {}",
                connection.name, who.username
            )));
        }
        let secret = match &connection.secret_sealed {
            Some(sealed) => {
                let plain = self.secrets.open(sealed).ok_or(AccessError::Sealed)?;
                let plain = String::from_utf8(plain).map_err(|_| AccessError::Sealed)?;
                Some(SecretString::from(plain))
            }
            None => None,
        };
        Ok(TargetSpec { connection, secret })
    }

    /// Pins a host key seen on first use; false if one was pinned meanwhile.
    pub async fn pin_host_key(&self, id: ConnectionId, key: &str) -> Result<bool> {
        Ok(self.store.pin_host_key(id, key).await?)
    }

    /// Pins an RDP server's certificate fingerprint seen on first use;
    /// false if one was pinned meanwhile.
    pub async fn pin_certificate(&self, id: ConnectionId, fingerprint: &str) -> Result<bool> {
        Ok(self.store.pin_host_key(id, fingerprint).await?)
    }
}

/// The SHA-256 fingerprint of an OpenSSH public key line, as `ssh-keygen -l`
/// prints it (`SHA256:…`).
pub fn fingerprint(openssh: &str) -> Option<String> {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
    let blob = STANDARD.decode(openssh.split_whitespace().nth(1)?).ok()?;
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &blob);
    Some(format!(
        "SHA256:{}",
        STANDARD_NO_PAD.encode(digest.as_ref())
    ))
}

impl Access {
    /// What `who` may see of a connection: administrators see how it
    /// authenticates, its host key and its grants; everyone else sees only
    /// where it goes. Never the secret.
    pub async fn connection_info(
        &self,
        who: &Principal,
        c: &ConnectionRecord,
    ) -> Result<ConnectionInfo> {
        let admin = who.has(Permission::ConnectionsManage);
        let ssh = c.target.ssh().filter(|_| admin);
        let (host, port) = match &c.target {
            Target::Ssh(ssh) => (ssh.host.clone(), ssh.port),
            Target::Http(http) => http_host_port(&http.url),
            Target::Tcp(tcp) => (tcp.host.clone(), tcp.port),
            Target::Vnc(vnc) => (vnc.host.clone(), vnc.port),
            Target::Rdp(rdp) => (rdp.host.clone(), rdp.port),
        };
        let rdp = c.target.rdp().filter(|_| admin);
        Ok(ConnectionInfo {
            id: c.id,
            name: c.name.clone(),
            protocol: c.protocol(),
            host,
            port,
            publish: c.target.http().map(|http| http.publish),
            app_url: c.target.http().map(|_| format!("/apps/launch/{}", c.name)),
            username: ssh
                .map(|ssh| ssh.username.clone())
                .or_else(|| rdp.map(|rdp| rdp.username.clone())),
            domain: rdp.and_then(|rdp| rdp.domain.clone()),
            certificate_fingerprint: rdp.and_then(|rdp| rdp.cert.clone()),
            certificate_source: rdp.and_then(|rdp| rdp.cert_source),
            auth: ssh.map(|ssh| ssh.auth),
            host_key_fingerprint: ssh.and_then(|ssh| ssh.host_key.as_deref().and_then(fingerprint)),
            host_key_source: ssh.and_then(|ssh| ssh.host_key_source),
            allow_forwarding: c.target.ssh().is_some_and(|ssh| ssh.allow_forwarding),
            http: c.target.http().filter(|_| admin).map(|http| HttpInfo {
                url: http.url.clone(),
                tls_verify: http.tls_verify,
                ca_certificate: http.ca_certificate.is_some(),
                host_header: http.host_header,
                redact_query: http.redact_query,
                inject: http.inject.clone(),
                identity_header: http.identity_header.clone(),
            }),
            clipboard_to_desktop: c.target.clipboard().map(|(to, _)| to),
            clipboard_from_desktop: c.target.clipboard().map(|(_, from)| from),
            users: if admin {
                Some(self.usernames(&c.users).await?)
            } else {
                None
            },
            roles: admin.then(|| c.roles.clone()),
        })
    }
}

/// The host and port of a checked web application URL (the scheme's
/// default port when it names none).
fn http_host_port(url: &str) -> (String, u16) {
    let (rest, default) = match url.strip_prefix("https://") {
        Some(rest) => (rest, 443),
        None => (url.strip_prefix("http://").unwrap_or(url), 80),
    };
    let authority = rest.split('/').next().unwrap_or_default();
    match split_authority(authority) {
        Some((host, port)) => (host.to_owned(), port.unwrap_or(default)),
        None => (authority.to_owned(), default),
    }
}
