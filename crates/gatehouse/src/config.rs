//! Configuration: defaults, then a TOML file, then environment variables,
//! then flags (each later source wins).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use gatehouse_web::tls::TlsFiles;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// The gateway's settings, all sources merged.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where the database, the secret key and the recordings live.
    pub data_dir: PathBuf,
    /// A PostgreSQL database (`postgres://…`) that holds every table
    /// instead of the SQLite file in `data_dir`: what several nodes share.
    /// It may carry a password, so it is kept as a secret (never printed).
    pub database_url: Option<SecretString>,
    /// Web UI and API listener.
    pub http: SocketAddr,
    /// The certificate and key the HTTP listener serves HTTPS with
    /// (`None`: plain HTTP, see [`Config::check_transport`]).
    pub tls: Option<TlsFiles>,
    /// Plain HTTP on a non-loopback address is allowed: a proxy in front
    /// terminates TLS, so browsers still reach the gateway over HTTPS.
    pub insecure_http: bool,
    /// The native SSH listener.
    pub ssh: SocketAddr,
    /// The ciphers the SSH listener offers.
    pub ssh_ciphers: gatehouse_sshd::Ciphers,
    /// This node's name in session records.
    pub node: String,
    /// The URL other nodes reach this one at (cluster only; `None`: derived
    /// from the HTTP listener's address).
    pub cluster_url: Option<String>,
    /// Web applications are published on `{connection}.{apps_domain}`.
    pub apps_domain: String,
    /// The operations listener: `/metrics`, `/healthz` and `/readyz`
    /// without a login (`None`: not started; the main listener serves
    /// `/metrics` to logins allowed `audit.view`).
    pub metrics_listen: Option<SocketAddr>,
    /// A file every audit event is appended to as a JSON line (for a SIEM).
    pub audit_file: Option<PathBuf>,
    /// A syslog receiver every audit event is sent to (RFC 5424).
    pub audit_syslog: Option<gatehouse_audit::export::SyslogTarget>,
    /// Mark the session cookie `Secure` when serving plain HTTP on
    /// loopback; with TLS or `insecure_http` it always is.
    pub secure_cookies: bool,
    /// Login lifetime.
    pub token_ttl: Duration,
    /// Time allowed to reach and log in to a target.
    pub connect_timeout: Duration,
    /// Ping interval on terminal WebSockets.
    pub ws_ping_interval: Duration,
    /// Silence after which a terminal client counts as gone.
    pub ws_client_timeout: Duration,
    /// How often changed session activity is pushed to live feeds.
    pub activity_interval: Duration,
    /// Gateway-wide idle limit (`None`: none; roles and connections may set stricter ones).
    pub idle_timeout: Option<Duration>,
    /// Gateway-wide maximum session duration (`None`: none).
    pub max_session: Option<Duration>,
    /// How long before an idle or duration limit the user is warned.
    pub session_warning: Duration,
    /// How often limits are checked.
    pub policy_interval: Duration,
    /// The largest recording one session may write.
    pub recording_max_bytes: u64,
    /// Recordings older than this are deleted (`None`: kept for ever).
    pub recording_retention: Option<Duration>,
    /// How often expired recordings are looked for.
    pub retention_interval: Duration,
    /// LDAP login (`[ldap]`; `None`: local passwords only).
    pub ldap: Option<gatehouse_access::LdapConfig>,
    /// SSH login approval links for users with no password (SSO accounts).
    pub ssh_approval: bool,
    /// How long an approval link stays usable.
    pub ssh_approval_ttl: Duration,
    /// OpenID Connect providers for single sign-on (`[[oidc]]` tables).
    pub oidc: Vec<gatehouse_oidc::ProviderSettings>,
    /// The address people reach the web UI at (`https://gw.example.com`):
    /// for links the gateway prints (`None`: the HTTP listener's address)
    /// and providers' redirects back (`None`: the request's host).
    pub public_url: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("gatehouse-data"),
            database_url: None,
            http: SocketAddr::from(([127, 0, 0, 1], 8080)),
            tls: None,
            insecure_http: false,
            ssh: SocketAddr::from(([127, 0, 0, 1], 2222)),
            ssh_ciphers: gatehouse_sshd::Ciphers::default(),
            node: "gw-1".into(),
            cluster_url: None,
            // Browsers resolve *.localhost to loopback: a fresh start needs no DNS.
            apps_domain: "apps.localhost".into(),
            metrics_listen: None,
            audit_file: None,
            audit_syslog: None,
            secure_cookies: true,
            token_ttl: Duration::from_secs(12 * 3600),
            connect_timeout: Duration::from_secs(10),
            ws_ping_interval: Duration::from_secs(15),
            ws_client_timeout: Duration::from_secs(45),
            activity_interval: Duration::from_secs(2),
            idle_timeout: None,
            max_session: None,
            session_warning: Duration::from_secs(60),
            policy_interval: Duration::from_secs(1),
            recording_max_bytes: 64 << 20,
            recording_retention: None,
            retention_interval: Duration::from_secs(3600),
            ldap: None,
            ssh_approval: false,
            // Under the SSH listener's 60 s login grace.
            ssh_approval_ttl: Duration::from_secs(50),
            oidc: Vec::new(),
            public_url: None,
        }
    }
}

/// The config file's keys; all optional. See the README for an example.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    http: Option<SocketAddr>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    insecure_http: Option<bool>,
    ssh: Option<SocketAddr>,
    ssh_ciphers: Option<Vec<String>>,
    node: Option<String>,
    cluster_url: Option<String>,
    apps_domain: Option<String>,
    metrics_listen: Option<SocketAddr>,
    audit_file: Option<PathBuf>,
    audit_syslog: Option<String>,
    secure_cookies: Option<bool>,
    token_ttl_seconds: Option<u64>,
    connect_timeout_seconds: Option<u64>,
    ws_ping_interval_seconds: Option<u64>,
    ws_client_timeout_seconds: Option<u64>,
    idle_timeout_seconds: Option<u64>,
    max_session_seconds: Option<u64>,
    session_warning_seconds: Option<u64>,
    recording_max_bytes: Option<u64>,
    recording_retention_days: Option<u64>,
    ldap: Option<gatehouse_access::LdapConfig>,
    ssh_approval: Option<bool>,
    ssh_approval_seconds: Option<u64>,
    public_url: Option<String>,
    oidc: Option<Vec<crate::sso_config::OidcFile>>,
}

/// Values from flags or their environment variables (clap merges those two).
#[derive(Debug, Default)]
pub struct Overrides {
    /// `--data-dir` / `GATEHOUSE_DATA_DIR`.
    pub data_dir: Option<PathBuf>,
    /// `--database-url` / `GATEHOUSE_DATABASE_URL`.
    pub database_url: Option<SecretString>,
    /// `--http` / `GATEHOUSE_HTTP`.
    pub http: Option<SocketAddr>,
    /// `--tls-cert` / `GATEHOUSE_TLS_CERT`.
    pub tls_cert: Option<PathBuf>,
    /// `--tls-key` / `GATEHOUSE_TLS_KEY`.
    pub tls_key: Option<PathBuf>,
    /// `--insecure-http` / `GATEHOUSE_INSECURE_HTTP` (only turns it on).
    pub insecure_http: bool,
    /// `--ssh` / `GATEHOUSE_SSH`.
    pub ssh: Option<SocketAddr>,
    /// `--node` / `GATEHOUSE_NODE`.
    pub node: Option<String>,
    /// `--cluster-url` / `GATEHOUSE_CLUSTER_URL`.
    pub cluster_url: Option<String>,
    /// `--apps-domain` / `GATEHOUSE_APPS_DOMAIN`.
    pub apps_domain: Option<String>,
    /// `--metrics-listen` / `GATEHOUSE_METRICS_LISTEN`.
    pub metrics_listen: Option<SocketAddr>,
    /// `--audit-file` / `GATEHOUSE_AUDIT_FILE`.
    pub audit_file: Option<PathBuf>,
    /// `--audit-syslog` / `GATEHOUSE_AUDIT_SYSLOG`.
    pub audit_syslog: Option<String>,
}

impl Config {
    /// Defaults, overlaid by the file at `file` (if given), then `overrides`.
    pub fn load(file: Option<&Path>, overrides: Overrides) -> anyhow::Result<Self> {
        let from_file = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading config file {}", path.display()))?;
                toml::from_str::<FileConfig>(&text)
                    .with_context(|| format!("in config file {}", path.display()))?
            }
            None => FileConfig::default(),
        };
        let merged = Self::merge(from_file, overrides);
        match file {
            Some(path) => merged.with_context(|| format!("in config file {}", path.display())),
            None => merged,
        }
    }

    fn merge(f: FileConfig, o: Overrides) -> anyhow::Result<Self> {
        let d = Config::default();
        let ssh_ciphers = match f.ssh_ciphers {
            Some(names) => gatehouse_sshd::Ciphers::parse(&names)
                .map_err(|e| anyhow::anyhow!("ssh_ciphers: {e}"))?,
            None => d.ssh_ciphers,
        };
        let secs =
            |v: Option<u64>, default: Duration| v.map(Duration::from_secs).unwrap_or(default);
        let tls = match (o.tls_cert.or(f.tls_cert), o.tls_key.or(f.tls_key)) {
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            (None, None) => None,
            (Some(_), None) => anyhow::bail!("tls_cert is set but tls_key is not: TLS needs both"),
            (None, Some(_)) => anyhow::bail!("tls_key is set but tls_cert is not: TLS needs both"),
        };
        let config = Self {
            data_dir: o.data_dir.or(f.data_dir).unwrap_or(d.data_dir),
            database_url: o
                .database_url
                .or(f.database_url.map(SecretString::from))
                .filter(|url| !url.expose_secret().trim().is_empty()),
            http: o.http.or(f.http).unwrap_or(d.http),
            tls,
            insecure_http: o.insecure_http || f.insecure_http.unwrap_or(d.insecure_http),
            ssh: o.ssh.or(f.ssh).unwrap_or(d.ssh),
            ssh_ciphers,
            node: o.node.or(f.node).unwrap_or(d.node),
            cluster_url: o
                .cluster_url
                .or(f.cluster_url)
                .map(|u| u.trim().trim_end_matches('/').to_owned())
                .filter(|u| !u.is_empty()),
            apps_domain: o
                .apps_domain
                .or(f.apps_domain)
                .map(|d| d.trim().trim_matches('.').to_ascii_lowercase())
                .unwrap_or(d.apps_domain),
            metrics_listen: o.metrics_listen.or(f.metrics_listen),
            audit_file: o.audit_file.or(f.audit_file),
            audit_syslog: o
                .audit_syslog
                .or(f.audit_syslog)
                .map(|s| s.parse())
                .transpose()
                .map_err(|e| anyhow::anyhow!("audit_syslog: {e}"))?,
            secure_cookies: f.secure_cookies.unwrap_or(d.secure_cookies),
            token_ttl: secs(f.token_ttl_seconds, d.token_ttl),
            connect_timeout: secs(f.connect_timeout_seconds, d.connect_timeout),
            ws_ping_interval: secs(f.ws_ping_interval_seconds, d.ws_ping_interval),
            ws_client_timeout: secs(f.ws_client_timeout_seconds, d.ws_client_timeout),
            activity_interval: d.activity_interval,
            // 0 disables, as for roles and connections.
            idle_timeout: f
                .idle_timeout_seconds
                .filter(|s| *s > 0)
                .map(Duration::from_secs),
            max_session: f
                .max_session_seconds
                .filter(|s| *s > 0)
                .map(Duration::from_secs),
            session_warning: secs(f.session_warning_seconds, d.session_warning),
            policy_interval: d.policy_interval,
            recording_max_bytes: f.recording_max_bytes.unwrap_or(d.recording_max_bytes),
            // 0 keeps recordings for ever.
            recording_retention: f
                .recording_retention_days
                .filter(|d| *d > 0)
                .map(|d| Duration::from_secs(d.saturating_mul(86_400))),
            retention_interval: d.retention_interval,
            ldap: f.ldap,
            ssh_approval: f.ssh_approval.unwrap_or(d.ssh_approval),
            ssh_approval_ttl: secs(f.ssh_approval_seconds, d.ssh_approval_ttl)
                .clamp(Duration::from_secs(10), Duration::from_secs(55)),
            oidc: crate::sso_config::providers(f.oidc.unwrap_or_default())?,
            public_url: f.public_url,
        };
        config.check_transport()?;
        Ok(config)
    }

    /// Plain HTTP is for loopback only: a session cookie or a password sent
    /// in the clear over a network is anyone's on the path. Off loopback the
    /// listener needs TLS, or `insecure_http` to say that a proxy in front
    /// terminates it. Checked by [`Config::load`] and again when the
    /// gateway starts, for configs built in code.
    pub fn check_transport(&self) -> anyhow::Result<()> {
        let over_https = self.tls.is_some() || self.insecure_http;
        if !over_https && !self.http.ip().to_canonical().is_loopback() {
            anyhow::bail!(
                "refusing to serve plain HTTP on {}, which is not a loopback address: \
                 passwords and session cookies would cross the network in the clear. \
                 Set tls_cert and tls_key (--tls-cert, --tls-key) to serve HTTPS, or, \
                 if a reverse proxy in front terminates TLS, set insecure_http = true \
                 (--insecure-http)",
                self.http
            );
        }
        if over_https && !self.secure_cookies {
            anyhow::bail!(
                "secure_cookies = false, but browsers reach this gateway over HTTPS \
                 (tls_cert/tls_key or insecure_http), where the session cookie is always Secure: \
                 remove secure_cookies"
            );
        }
        Ok(())
    }

    /// Whether the session cookie is marked `Secure`: always when browsers
    /// reach the gateway over HTTPS (its own TLS, or a proxy's).
    pub fn secure_cookies(&self) -> bool {
        self.secure_cookies || self.tls.is_some() || self.insecure_http
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_the_file_and_the_file_beats_defaults() {
        let file: FileConfig = toml::from_str(
            "data_dir = \"/var/lib/gatehouse\"\nhttp = \"0.0.0.0:9000\"\ntoken_ttl_seconds = 60\n",
        )
        .unwrap();
        let c = Config::merge(
            file,
            Overrides {
                http: Some("127.0.0.1:7000".parse().unwrap()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/var/lib/gatehouse"));
        assert_eq!(c.http, "127.0.0.1:7000".parse().unwrap());
        assert_eq!(c.token_ttl, Duration::from_secs(60));
        assert_eq!(c.ssh, Config::default().ssh);
        assert_eq!(c.recording_retention, None);
    }

    #[test]
    fn a_database_url_comes_from_the_file_or_a_flag_and_is_never_printed() {
        let file: FileConfig =
            toml::from_str("database_url = \"postgres://gw:hunter2@db/gatehouse\"\n").unwrap();
        let c = Config::merge(file, Overrides::default()).unwrap();
        let url = c.database_url.as_ref().unwrap();
        assert_eq!(url.expose_secret(), "postgres://gw:hunter2@db/gatehouse");
        assert!(!format!("{c:?}").contains("hunter2"));
        let file: FileConfig = toml::from_str("database_url = \"postgres://a/b\"\n").unwrap();
        let flag = Overrides {
            database_url: Some(SecretString::from("postgres://c/d")),
            ..Default::default()
        };
        let c = Config::merge(file, flag).unwrap();
        assert_eq!(c.database_url.unwrap().expose_secret(), "postgres://c/d");
        assert!(
            Config::default().database_url.is_none(),
            "SQLite by default"
        );
    }

    #[test]
    fn the_cluster_url_comes_from_the_file_or_a_flag_without_a_trailing_slash() {
        let file: FileConfig =
            toml::from_str("cluster_url = \"https://gw-1.internal:8443/\"\n").unwrap();
        let c = Config::merge(file, Overrides::default()).unwrap();
        assert_eq!(c.cluster_url.as_deref(), Some("https://gw-1.internal:8443"));
        let file: FileConfig = toml::from_str("cluster_url = \"http://a:1\"\n").unwrap();
        let flag = Overrides {
            cluster_url: Some("http://b:2".into()),
            ..Default::default()
        };
        let c = Config::merge(file, flag).unwrap();
        assert_eq!(c.cluster_url.as_deref(), Some("http://b:2"));
        let blank = Overrides {
            cluster_url: Some("  ".into()),
            ..Default::default()
        };
        let c = Config::merge(FileConfig::default(), blank).unwrap();
        assert_eq!(c.cluster_url, None, "derived from the HTTP listener");
    }

    #[test]
    fn recording_keys_set_the_size_limit_and_retention_in_days() {
        let file: FileConfig =
            toml::from_str("recording_max_bytes = 1048576\nrecording_retention_days = 30\n")
                .unwrap();
        let c = Config::merge(file, Overrides::default()).unwrap();
        assert_eq!(c.recording_max_bytes, 1 << 20);
        assert_eq!(
            c.recording_retention,
            Some(Duration::from_secs(30 * 86_400))
        );
    }

    #[test]
    fn ssh_ciphers_widen_the_offer_and_unknown_ones_are_errors() {
        let file: FileConfig =
            toml::from_str("ssh_ciphers = [\"aes256-gcm@openssh.com\", \"aes128-ctr\"]\n").unwrap();
        let c = Config::merge(file, Overrides::default()).unwrap();
        assert_eq!(
            c.ssh_ciphers,
            gatehouse_sshd::Ciphers::parse(&["aes256-gcm@openssh.com", "aes128-ctr"]).unwrap()
        );
        let file: FileConfig = toml::from_str("ssh_ciphers = [\"arcfour\"]\n").unwrap();
        let err = Config::merge(file, Overrides::default()).unwrap_err();
        assert!(
            err.to_string()
                .contains("ssh_ciphers: unknown SSH cipher \"arcfour\""),
            "{err}"
        );
    }

    #[test]
    fn an_ldap_section_and_approval_links_come_from_the_file() {
        let c = merged(
            "ssh_approval = true\nssh_approval_seconds = 30\npublic_url = \"https://gw.example.com\"\n\
             [ldap]\nurl = \"ldaps://ldap.example.com\"\nuser_dn = \"uid={username},ou=people,dc=x\"\n\
             group_search_base = \"ou=groups,dc=x\"\n[ldap.roles]\nops-admins = \"admin\"\n",
            Overrides::default(),
        )
        .unwrap();
        let ldap = c.ldap.unwrap();
        assert_eq!(ldap.url, "ldaps://ldap.example.com");
        assert_eq!(ldap.roles["ops-admins"], "admin");
        assert!(c.ssh_approval);
        assert_eq!(c.ssh_approval_ttl, Duration::from_secs(30));
        assert_eq!(c.public_url.as_deref(), Some("https://gw.example.com"));
        // Off by default; a link may not outlive the SSH login grace.
        let d = merged("ssh_approval_seconds = 600\n", Overrides::default()).unwrap();
        assert!(!d.ssh_approval && d.ldap.is_none());
        assert_eq!(d.ssh_approval_ttl, Duration::from_secs(55));
        assert!(
            toml::from_str::<FileConfig>("[ldap]\nurl = \"ldap://x\"\nuser = \"x\"\n").is_err()
        );
    }

    #[test]
    fn unknown_keys_in_the_file_are_errors() {
        assert!(toml::from_str::<FileConfig>("htpp = \"x\"").is_err());
    }

    fn merged(file: &str, overrides: Overrides) -> anyhow::Result<Config> {
        Config::merge(toml::from_str(file).unwrap(), overrides)
    }

    #[test]
    fn plain_http_off_loopback_is_refused() {
        let err = merged("http = \"0.0.0.0:8080\"\n", Overrides::default()).unwrap_err();
        let err = err.to_string();
        assert!(
            err.contains("refusing to serve plain HTTP on 0.0.0.0:8080"),
            "{err}"
        );
        assert!(
            err.contains("--insecure-http") && err.contains("--tls-cert"),
            "{err}"
        );
        let flag = Overrides {
            http: Some("192.0.2.10:8080".parse().unwrap()),
            ..Default::default()
        };
        assert!(merged("", flag).is_err());
    }

    #[test]
    fn plain_http_on_loopback_is_allowed_and_keeps_the_cookie_setting() {
        for addr in ["127.0.0.1:8080", "127.0.0.2:8080", "[::1]:8080"] {
            let c = merged(&format!("http = \"{addr}\"\n"), Overrides::default()).unwrap();
            assert!(c.secure_cookies(), "{addr}");
        }
        let c = merged("secure_cookies = false\n", Overrides::default()).unwrap();
        assert!(!c.secure_cookies());
    }

    #[test]
    fn insecure_http_allows_a_proxy_in_front_and_makes_cookies_secure() {
        let c = merged(
            "http = \"0.0.0.0:8080\"\ninsecure_http = true\n",
            Overrides::default(),
        )
        .unwrap();
        assert!(c.insecure_http && c.secure_cookies());
        let flag = Overrides {
            http: Some("0.0.0.0:8080".parse().unwrap()),
            insecure_http: true,
            ..Default::default()
        };
        assert!(merged("", flag).unwrap().secure_cookies());
        let err = merged(
            "http = \"0.0.0.0:8080\"\ninsecure_http = true\nsecure_cookies = false\n",
            Overrides::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("secure_cookies = false"), "{err}");
    }

    #[test]
    fn tls_needs_both_files_and_allows_any_address() {
        let c = merged(
            "http = \"0.0.0.0:8443\"\ntls_cert = \"/etc/gh/cert.pem\"\ntls_key = \"/etc/gh/key.pem\"\n",
            Overrides::default(),
        )
        .unwrap();
        assert_eq!(
            c.tls,
            Some(TlsFiles {
                cert: "/etc/gh/cert.pem".into(),
                key: "/etc/gh/key.pem".into()
            })
        );
        assert!(c.secure_cookies());
        let flags = Overrides {
            tls_key: Some("/k.pem".into()),
            ..Default::default()
        };
        let c = merged("tls_cert = \"/c.pem\"\n", flags).unwrap();
        assert_eq!(c.tls.unwrap().key, PathBuf::from("/k.pem"));
        let err = merged("tls_cert = \"/c.pem\"\n", Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("TLS needs both"), "{err}");
    }
}
