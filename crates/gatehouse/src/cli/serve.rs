//! `gatehouse serve`: run the gateway until Ctrl-C or SIGTERM.

use secrecy::{ExposeSecret, SecretString};

use super::ServeArgs;
use super::logging::{self, LogFormat};
use crate::app::{AdminBootstrap, Application};
use crate::config::{Config, Overrides};

pub(super) async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let log_format = LogFormat::from_env()?;
    let config = Config::load(
        args.config.as_deref(),
        Overrides {
            data_dir: args.data_dir,
            database_url: args.database_url,
            http: args.http,
            tls_cert: args.tls_cert,
            tls_key: args.tls_key,
            insecure_http: args.insecure_http,
            ssh: args.ssh,
            node: args.node,
            cluster_url: args.cluster_url,
            apps_domain: args.apps_domain,
            metrics_listen: args.metrics_listen,
            audit_file: args.audit_file,
            audit_syslog: args.audit_syslog,
        },
    )?;
    logging::init(log_format, &config.node);
    let env_secret = |name| {
        std::env::var(name)
            .ok()
            .filter(|v| !v.is_empty())
            .map(SecretString::from)
    };
    let app = Application::build(
        config.clone(),
        env_secret("GATEHOUSE_ADMIN_PASSWORD"),
        env_secret("GATEHOUSE_SECRET_KEY"),
    )
    .await?;
    if let Some(certificate) = app.tls() {
        reload_on_hangup(certificate.clone())?;
    }
    let scheme = if app.tls().is_some() { "https" } else { "http" };
    let url = format!("{scheme}://{}", app.http_addr());
    let ssh = format!(
        "ssh -p {} USER:CONNECTION@{}",
        app.ssh_addr().port(),
        app.ssh_addr().ip()
    );
    match log_format {
        LogFormat::Text => print_banner(&app, &config, &url, &ssh),
        // Standard output carries only log objects: the banner is one of
        // them, and a generated password (never logged) goes to stderr.
        LogFormat::Json => {
            tracing::info!(
                web = %url,
                ssh = %ssh,
                host_key = %app.ssh_fingerprint(),
                data_dir = %config.data_dir.display(),
                "Gatehouse is running"
            );
            match &app.admin {
                AdminBootstrap::Generated(password) => eprintln!(
                    "First start: created the administrator account `admin` with the password {} (shown only once)",
                    password.expose_secret()
                ),
                AdminBootstrap::FromEnvironment => tracing::info!(
                    "first start: created the administrator account `admin` with the password in GATEHOUSE_ADMIN_PASSWORD"
                ),
                AdminBootstrap::Existing => {}
            }
        }
    }
    app.run_until(shutdown_signal()).await
}

/// What a person starting the gateway in a terminal reads first.
fn print_banner(app: &Application, config: &Config, url: &str, ssh: &str) {
    println!("Gatehouse is running.");
    println!("  Web UI and API: {url}/  (OpenAPI: {url}/api/v1/openapi.json)");
    println!(
        "  SSH:            {ssh}  (host key {})",
        app.ssh_fingerprint()
    );
    println!("  Data directory: {}", config.data_dir.display());
    if config.database_url.is_some() {
        // Not the URL: it may hold a password.
        println!(
            "  Database:       PostgreSQL (--database-url), node {}",
            config.node
        );
    }
    match &app.admin {
        AdminBootstrap::Generated(password) => {
            println!(
                "First start: created the administrator account. This password is shown only once:"
            );
            println!("  username: admin");
            println!("  password: {}", password.expose_secret());
        }
        AdminBootstrap::FromEnvironment => {
            println!(
                "First start: created the administrator account `admin` with the password in GATEHOUSE_ADMIN_PASSWORD."
            );
        }
        AdminBootstrap::Existing => {}
    }
    println!(
        "Log in from a terminal:  export GATEHOUSE_TOKEN=$(gatehouse login --user admin --server {url})"
    );
}

/// SIGHUP reads the TLS certificate and key again, for renewals without a
/// restart: new handshakes present the new pair, open connections keep
/// theirs, and a pair that does not load is logged and the old one kept.
/// Listening starts here, before the gateway serves, so an early SIGHUP is
/// not the default action (exit).
fn reload_on_hangup(certificate: gatehouse_web::tls::Certificate) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use anyhow::Context;
        let mut hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            .context("listening for SIGHUP")?;
        tokio::spawn(async move {
            while hangups.recv().await.is_some() {
                let cert = certificate.files().cert.display().to_string();
                match certificate.reload() {
                    Ok(()) => tracing::info!(%cert, "SIGHUP: reloaded the TLS certificate"),
                    Err(e) => tracing::error!(
                        %cert,
                        error = %e,
                        "SIGHUP: the TLS certificate did not load; still serving the previous one"
                    ),
                }
            }
        });
    }
    #[cfg(not(unix))]
    let _ = certificate;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
