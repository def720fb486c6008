//! The command line: `serve`, `login`, `sessions list|end|watch`,
//! `users list|lock|unlock`, `keys list|add|remove`, `ssh-config`,
//! `tunnel` and `history play`.

mod history;
mod logging;
mod login;
mod login_sso;
mod serve;
mod sessions;
mod ssh;
mod tunnel;
mod users;

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Gatehouse: a remote-access gateway with a live view of every session.
#[derive(Parser, Debug)]
#[command(name = "gatehouse", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where the gateway is and who we are, for the client subcommands.
#[derive(clap::Args, Debug)]
pub struct ServerArgs {
    /// The gateway's base URL.
    #[arg(long, env = "GATEHOUSE_URL", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// An API token from `gatehouse login`.
    #[arg(long, env = "GATEHOUSE_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

impl Cli {
    /// Whether this runs the gateway (rather than talking to one).
    pub fn serves(&self) -> bool {
        matches!(self.command, Command::Serve(_))
    }

    /// Whether this runs `gatehouse tunnel`, which needs one thread: its
    /// connections' tasks hand each frame to one another, and on one
    /// thread a hand-off wakes no other.
    pub fn tunnels(&self) -> bool {
        matches!(self.command, Command::Tunnel(_))
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the gateway.
    Serve(ServeArgs),
    /// Log in and print an API token for the other subcommands.
    Login(login::LoginArgs),
    /// Find and end live sessions.
    #[command(subcommand)]
    Sessions(sessions::SessionsCommand),
    /// List, lock and unlock accounts.
    #[command(subcommand)]
    Users(users::UsersCommand),
    /// Ended sessions: replay a recording in this terminal.
    #[command(subcommand)]
    History(history::HistoryCommand),
    /// Your public keys for logging in with ssh.
    #[command(subcommand)]
    Keys(ssh::KeysCommand),
    /// Print a ~/.ssh/config snippet for your connections.
    SshConfig(ssh::SshConfigArgs),
    /// Reach a tcp connection (a database, an RDP server) on a local port.
    Tunnel(tunnel::TunnelArgs),
}

/// `gatehouse serve` flags; each also reads an environment variable.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// A TOML config file.
    #[arg(long, env = "GATEHOUSE_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (database, secret key) [default: gatehouse-data].
    #[arg(long, env = "GATEHOUSE_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Keep every table in this PostgreSQL database (postgres://USER:PASSWORD@HOST/DB)
    /// instead of the SQLite file in the data directory: what several nodes share.
    #[arg(long, env = "GATEHOUSE_DATABASE_URL", hide_env_values = true, value_name = "URL",
          value_parser = secret_arg)]
    database_url: Option<secrecy::SecretString>,
    /// Web UI and API address [default: 127.0.0.1:8080].
    #[arg(long, env = "GATEHOUSE_HTTP")]
    http: Option<SocketAddr>,
    /// Serve HTTPS with this certificate chain (PEM; needs --tls-key).
    /// SIGHUP reads it and the key again.
    #[arg(long, env = "GATEHOUSE_TLS_CERT")]
    tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, env = "GATEHOUSE_TLS_KEY")]
    tls_key: Option<PathBuf>,
    /// Serve plain HTTP on a non-loopback --http address, because a proxy in
    /// front terminates TLS (the session cookie stays Secure).
    #[arg(long, env = "GATEHOUSE_INSECURE_HTTP")]
    insecure_http: bool,
    /// Native SSH listener address [default: 127.0.0.1:2222].
    #[arg(long, env = "GATEHOUSE_SSH")]
    ssh: Option<SocketAddr>,
    /// This node's name in session records [default: gw-1].
    #[arg(long, env = "GATEHOUSE_NODE")]
    node: Option<String>,
    /// The URL other nodes reach this one's HTTP listener at, for watching
    /// and replaying across nodes [default: derived from --http].
    #[arg(long, env = "GATEHOUSE_CLUSTER_URL", value_name = "URL")]
    cluster_url: Option<String>,
    /// Web applications are published on CONNECTION.DOMAIN [default: apps.localhost].
    #[arg(long, env = "GATEHOUSE_APPS_DOMAIN", value_name = "DOMAIN")]
    apps_domain: Option<String>,
    /// Serve /metrics, /healthz and /readyz without a login on this
    /// address (keep it private) [default: not started].
    #[arg(long, env = "GATEHOUSE_METRICS_LISTEN", value_name = "ADDR")]
    metrics_listen: Option<SocketAddr>,
    /// Also append every audit event to this file, one JSON object a line.
    #[arg(long, env = "GATEHOUSE_AUDIT_FILE", value_name = "PATH")]
    audit_file: Option<PathBuf>,
    /// Also send every audit event to syslog (RFC 5424):
    /// udp://HOST:PORT or unix:///dev/log.
    #[arg(long, env = "GATEHOUSE_AUDIT_SYSLOG", value_name = "TARGET")]
    audit_syslog: Option<String>,
}

/// A flag's value kept as a secret: `Debug` of the arguments never shows it.
fn secret_arg(value: &str) -> Result<secrecy::SecretString, std::convert::Infallible> {
    Ok(secrecy::SecretString::from(value))
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve::run(args).await,
        Command::Login(args) => login::run(args).await,
        Command::Sessions(cmd) => sessions::run(cmd).await,
        Command::Users(cmd) => users::run(cmd).await,
        Command::History(cmd) => history::run(cmd).await,
        Command::Keys(cmd) => ssh::keys(cmd).await,
        Command::SshConfig(args) => ssh::ssh_config(args).await,
        Command::Tunnel(args) => tunnel::run(args).await,
    }
}

/// Rows under a header as left-aligned columns two spaces apart.
fn align<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(str::len);
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: [&str; N]| {
        let parts: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(parts.join("  ").trim_end());
        out.push('\n');
    };
    line(*header);
    for row in rows {
        line(row.each_ref().map(String::as_str));
    }
    out
}
