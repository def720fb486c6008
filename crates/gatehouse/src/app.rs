//! The assembled gateway: store, access control, registry, history writer
//! and the two front ends (HTTP and native SSH), started and stopped as one.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use gatehouse_access::{Access, SecretBox};
use gatehouse_audit::{Audit, HistoryWriter};
use gatehouse_domain::EndReason;
use gatehouse_recording::RecordingConfig;
use gatehouse_sessions::{EndRequest, Registry};
use gatehouse_store::Store;
use gatehouse_web::{AppState, WebConfig};
use secrecy::SecretString;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::Config;

/// The data directory's folder of recordings.
const RECORDINGS: &str = "recordings";

/// How long live sessions get to close at shutdown.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// How the first administrator's password was chosen.
pub enum AdminBootstrap {
    /// Accounts already existed.
    Existing,
    /// Created with the password from `GATEHOUSE_ADMIN_PASSWORD`.
    FromEnvironment,
    /// Created with this generated password, to be shown once.
    Generated(SecretString),
}

/// A gateway bound to its listeners, ready to run.
pub struct Application {
    config: Config,
    state: AppState,
    listener: tokio::net::TcpListener,
    http_addr: SocketAddr,
    tls: Option<gatehouse_web::tls::Certificate>,
    ssh_listener: tokio::net::TcpListener,
    ssh_addr: SocketAddr,
    /// The operations listener (`/metrics` and health without a login), if configured.
    operations: Option<tokio::net::TcpListener>,
    host_key: gatehouse_sshd::host_key::PrivateKey,
    history: JoinHandle<()>,
    /// This node's row in a shared database.
    node: Option<crate::node::NodeLease>,
    /// This node's part in a cluster, stopped once its sessions drained.
    cluster: Option<(gatehouse_cluster::Tasks, CancellationToken)>,
    /// What happened to the admin account on this start.
    pub admin: AdminBootstrap,
    /// Sessions a previous run left open, now recorded as ended.
    pub recovered_sessions: usize,
}

impl Application {
    /// Opens (creating on first start) the data directory and database,
    /// and binds the HTTP listener. `admin_password` and `secret_key` come
    /// from the environment when set.
    pub async fn build(
        config: Config,
        admin_password: Option<SecretString>,
        secret_key: Option<SecretString>,
    ) -> anyhow::Result<Self> {
        config.check_transport()?;
        // Before anything is created: a bad certificate should stop the
        // start, not leave a half-made data directory behind.
        let tls = match &config.tls {
            Some(files) => Some(
                gatehouse_web::tls::Certificate::load(files.clone())
                    .context("loading the TLS certificate and key")?,
            ),
            None => None,
        };
        let tightened = crate::private_dir::make_private(&config.data_dir).with_context(|| {
            format!(
                "creating the data directory {} (or making it private)",
                config.data_dir.display()
            )
        })?;
        if tightened > 0 {
            tracing::warn!(
                dir = %config.data_dir.display(),
                count = tightened,
                "the data directory was readable by other local users: tightened folders to 0700 and files to 0600"
            );
        }
        let store = match &config.database_url {
            Some(url) => Store::connect(secrecy::ExposeSecret::expose_secret(url))
                .await
                .context("connecting to the PostgreSQL database (--database-url)")?,
            None => Store::open(&config.data_dir.join("gatehouse.db"))
                .await
                .context("opening the database")?,
        };
        let secrets = match &secret_key {
            Some(key) => SecretBox::from_base64(secrecy::ExposeSecret::expose_secret(key))
                .context("GATEHOUSE_SECRET_KEY")?,
            None => SecretBox::load_or_create(&config.data_dir.join("secret.key"))?,
        };
        let mut access = Access::new(store.clone(), secrets, config.token_ttl);
        if let Some(ldap) = &config.ldap {
            let directory = gatehouse_access::Directory::new(ldap.clone())
                .map_err(|e| anyhow::anyhow!("[ldap] {e}"))?;
            access = access.with_directory(directory);
        }
        let from_env = admin_password.is_some();
        let admin = match access.bootstrap_admin(admin_password).await? {
            None => AdminBootstrap::Existing,
            Some(_) if from_env => AdminBootstrap::FromEnvironment,
            Some(generated) => AdminBootstrap::Generated(generated),
        };
        // Before closing "our" open rows: on a shared database the name
        // must be ours, not a live node's.
        let node =
            crate::node::NodeLease::claim(&store, &config.node, access.secrets().fingerprint())
                .await?;
        let export =
            gatehouse_audit::export::Export::start(gatehouse_audit::export::ExportConfig {
                file: config.audit_file.clone(),
                syslog: config.audit_syslog.clone(),
                node: config.node.clone(),
            })
            .await
            .context("opening the audit export (audit_file, audit_syslog)")?;
        let audit = Audit::with_export(store.clone(), export);
        let recovered = gatehouse_audit::close_dangling(&audit, &config.node).await?;
        let recordings = config.data_dir.join(RECORDINGS);
        if !recovered.is_empty() {
            tracing::warn!(
                count = recovered.len(),
                "recorded sessions the previous run left open (it stopped without ending them) as node_lost"
            );
        }
        let n = gatehouse_audit::recordings::recover(&store, &recordings, &config.node).await?;
        if n > 0 {
            tracing::warn!(
                count = n,
                "indexed recordings the previous run left incomplete"
            );
        }
        store.purge_expired_tokens().await?;

        let host_key = gatehouse_sshd::host_key::load_or_create(
            &config.data_dir.join("ssh_host_ed25519_key"),
        )?;
        let ssh_listener = tokio::net::TcpListener::bind(config.ssh)
            .await
            .with_context(|| format!("listening for SSH on {}", config.ssh))?;
        let ssh_addr = ssh_listener.local_addr()?;

        let (registry, lifecycle) = Registry::with_recordings(
            config.node.clone(),
            RecordingConfig::new(&recordings, config.recording_max_bytes),
        );
        let history = HistoryWriter::spawn(audit.clone(), lifecycle);
        let state = AppState {
            access,
            registry,
            audit,
            config: Arc::new(WebConfig {
                secure_cookies: config.secure_cookies(),
                token_ttl: config.token_ttl,
                connect_timeout: config.connect_timeout,
                ws_ping_interval: config.ws_ping_interval,
                ws_client_timeout: config.ws_client_timeout,
                session_limits: gatehouse_store::LimitSettings {
                    idle_timeout_seconds: config.idle_timeout.map(|d| d.as_secs().max(1)),
                    max_session_seconds: config.max_session.map(|d| d.as_secs().max(1)),
                },
                recordings_dir: Some(recordings),
                ssh: Some(gatehouse_web::profile::SshListener {
                    port: ssh_addr.port(),
                    host_key: gatehouse_sshd::host_key::public_openssh(&host_key),
                    host_key_fingerprint: gatehouse_sshd::host_key::fingerprint(&host_key),
                }),
                sso: gatehouse_web::sso::SsoSettings {
                    providers: gatehouse_oidc::Providers::new(config.oidc.clone()),
                    public_url: config.public_url.clone(),
                    https: config.tls.is_some() || config.insecure_http,
                },
                ..WebConfig::default()
            }),
            shutdown: CancellationToken::new(),
            cluster: None,
        };
        // On PostgreSQL: every node's sessions in one view (issue 20).
        let cluster_stop = CancellationToken::new();
        let mut state = state;
        let cluster = match node {
            Some(_) => gatehouse_cluster::Cluster::start(
                gatehouse_cluster::ClusterConfig {
                    store: store.clone(),
                    node: config.node.clone(),
                    registry: state.registry.clone(),
                    access: state.access.clone(),
                    audit: state.audit.clone(),
                    stale_after: crate::node::STALE_AFTER,
                },
                cluster_stop.clone(),
            )
            .await
            .context("joining the other nodes (LISTEN on PostgreSQL)")?,
            None => None,
        };
        let cluster_tasks = cluster.map(|(cluster, tasks)| {
            state.cluster = Some(cluster);
            tasks
        });
        let listener = tokio::net::TcpListener::bind(config.http)
            .await
            .with_context(|| format!("listening on {}", config.http))?;
        let http_addr = listener.local_addr()?;
        if let Some(node) = &node {
            let url =
                crate::node::internal_url(config.cluster_url.as_deref(), http_addr, tls.is_some());
            node.publish_url(&url, state.access.secrets().fingerprint())
                .await?;
        }
        let operations = match config.metrics_listen {
            Some(addr) => Some(
                tokio::net::TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("listening for metrics on {addr}"))?,
            ),
            None => None,
        };
        Ok(Self {
            config,
            state,
            listener,
            http_addr,
            tls,
            ssh_listener,
            ssh_addr,
            operations,
            host_key,
            history,
            node,
            cluster: cluster_tasks.map(|t| (t, cluster_stop)),
            admin,
            recovered_sessions: recovered.len(),
        })
    }

    /// The address the HTTP listener is bound to.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The certificate the HTTP listener serves HTTPS with, if it does:
    /// [`Certificate::reload`](gatehouse_web::tls::Certificate::reload) is
    /// what SIGHUP calls.
    pub fn tls(&self) -> Option<&gatehouse_web::tls::Certificate> {
        self.tls.as_ref()
    }

    /// The address the SSH listener is bound to.
    pub fn ssh_addr(&self) -> SocketAddr {
        self.ssh_addr
    }

    /// The SSH listener's host key fingerprint (`SHA256:…`).
    pub fn ssh_fingerprint(&self) -> String {
        gatehouse_sshd::host_key::fingerprint(&self.host_key)
    }

    /// The session registry (for tests and embedders).
    pub fn registry(&self) -> &Registry {
        &self.state.registry
    }

    /// Serves until `stop` resolves, then ends every live session as
    /// `gateway_shutdown`, waits for their history to be written, and returns.
    pub async fn run_until(self, stop: impl Future<Output = ()>) -> anyhow::Result<()> {
        let state = self.state.clone();
        gatehouse_web::observe::start_metrics(state.shutdown.clone());
        if let Some(listener) = self.operations {
            tokio::spawn(gatehouse_web::observe::serve_operations(
                listener,
                state.clone(),
            ));
        }
        let heartbeat = self
            .node
            .as_ref()
            .map(|node| node.spawn_heartbeat(state.shutdown.clone()));
        let updates = state
            .registry
            .spawn_updates(self.config.activity_interval, state.shutdown.clone());
        let policies = state.registry.spawn_policies(
            self.config.policy_interval,
            self.config.session_warning,
            state.shutdown.clone(),
        );
        let directory = crate::directory::spawn_revoker(state.clone());
        let sweeper = self.config.recording_retention.map(|retention| {
            gatehouse_audit::recordings::spawn_sweeper(
                state.audit.clone(),
                self.config.data_dir.join(RECORDINGS),
                retention,
                self.config.retention_interval,
                state.shutdown.clone(),
            )
        });
        let ssh = tokio::spawn(gatehouse_sshd::serve(
            self.ssh_listener,
            self.host_key,
            self.config.ssh_ciphers.clone(),
            gatehouse_sshd::Front {
                access: state.access.clone(),
                audit: state.audit.clone(),
                opener: state.opener(),
                approval: self
                    .config
                    .ssh_approval
                    .then(|| gatehouse_sshd::ApprovalLinks {
                        base_url: self.config.public_url.clone().unwrap_or_else(|| {
                            let tls = self.tls.is_some() || self.config.insecure_http;
                            let scheme = if tls { "https" } else { "http" };
                            format!("{scheme}://{}", self.http_addr)
                        }),
                        ttl: self.config.ssh_approval_ttl,
                    }),
            },
            state.shutdown.clone(),
        ));
        // Web applications are answered on their own hosts, in front of the gateway's routes.
        let behind_tls = self.tls.is_some() || self.config.insecure_http;
        let apps = gatehouse_webapps::WebApps::new(
            state.clone(),
            gatehouse_webapps::AppsConfig {
                apps_domain: self.config.apps_domain.clone(),
                public_scheme: if behind_tls { "https" } else { "http" },
                connect_timeout: self.config.connect_timeout,
                ..Default::default()
            },
        );
        let (desktops, desktops_internal) = gatehouse_desktop::routes_and_internal();
        let app =
            gatehouse_web::router_with(self.state, gatehouse_tunnel::routes().merge(desktops))
                .merge(desktops_internal.with_state(state.clone()))
                .merge(apps.launch_routes());
        let server = tokio::spawn(gatehouse_web::serve_app(
            self.listener,
            app,
            Some(Arc::new(apps)),
            self.tls,
            state.shutdown.clone(),
        ));
        stop.await;
        tracing::info!("shutting down");
        // Stop accepting work, end what is live, let the relays close both sides.
        state.shutdown.cancel();
        let live = state
            .registry
            .end_all(EndRequest::because(EndReason::GatewayShutdown));
        if !state.registry.wait_until_empty(DRAIN_TIMEOUT).await {
            tracing::warn!(live, "sessions did not close in time");
        }
        // The last ends are published; the other nodes drop them.
        if let Some((tasks, stop)) = self.cluster {
            stop.cancel();
            tasks.join().await;
        }
        let _ = ssh.await;
        let _ = updates.await;
        let _ = policies.await;
        let _ = directory.await;
        if let Some(sweeper) = sweeper {
            let _ = sweeper.await;
        }
        if !state.registry.wait_for_recordings(DRAIN_TIMEOUT).await {
            tracing::warn!("recordings did not finish in time");
        }
        let served = tokio::time::timeout(DRAIN_TIMEOUT, server).await;
        // Every end is now on the lifecycle channel; wait until it is written.
        state.registry.flush_lifecycle().await;
        self.history.abort();
        if let Some(heartbeat) = heartbeat {
            let _ = heartbeat.await;
        }
        if let Some(node) = &self.node {
            node.release().await;
        }
        match served {
            Ok(Ok(result)) => result.context("HTTP server"),
            Ok(Err(join)) => Err(anyhow::anyhow!("HTTP server task failed: {join}")),
            Err(_) => {
                tracing::warn!("HTTP connections did not close in time");
                Ok(())
            }
        }
    }
}
