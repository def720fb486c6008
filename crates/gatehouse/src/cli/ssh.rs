//! `gatehouse ssh-config` and `gatehouse keys`: everything a person needs
//! to use their own `ssh`, `scp` and `sftp` through the gateway.

use anyhow::Context;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ServerArgs, align};
use crate::client::ApiClient;

#[derive(clap::Args, Debug)]
pub(super) struct SshConfigArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// The gateway's SSH host name as your machine reaches it [default:
    /// the host of --server].
    #[arg(long)]
    ssh_host: Option<String>,
}

#[derive(clap::Subcommand, Debug)]
pub(super) enum KeysCommand {
    /// The public keys you log in with from ssh.
    List {
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Register a public key (e.g. ~/.ssh/id_ed25519.pub).
    Add {
        #[command(flatten)]
        server: ServerArgs,
        /// The public key file.
        file: std::path::PathBuf,
        /// A label for it [default: the key's comment or file name].
        #[arg(long)]
        name: Option<String>,
    },
    /// Remove a key by id.
    Remove {
        #[command(flatten)]
        server: ServerArgs,
        /// The key's id (from `gatehouse keys list`).
        id: String,
    },
}

#[derive(Deserialize)]
struct Me {
    username: String,
}

#[derive(Deserialize)]
struct Connection {
    name: String,
}

#[derive(Deserialize)]
struct Listener {
    port: u16,
    host_key: String,
    host_key_fingerprint: String,
}

#[derive(Deserialize)]
struct Gateway {
    ssh: Option<Listener>,
}

#[derive(Deserialize)]
struct Key {
    id: String,
    name: String,
    fingerprint: String,
    created_at: String,
    last_used_at: Option<String>,
}

pub(super) async fn ssh_config(args: SshConfigArgs) -> anyhow::Result<()> {
    let client = ApiClient::new(&args.server.server, args.server.token);
    let me: Me = client.get("/auth/me", &[]).await?;
    let gateway: Gateway = client.get("/gateway", &[]).await?;
    let listener = gateway
        .ssh
        .context("this gateway does not run an SSH listener")?;
    let mut connections: Vec<Connection> = client.get("/connections", &[]).await?;
    connections.sort_by(|a, b| a.name.cmp(&b.name));
    let host = match args.ssh_host {
        Some(host) => host,
        None => host_of(&args.server.server)?,
    };
    print!("{}", render(&me.username, &host, &listener, &connections));
    Ok(())
}

/// The host part of a URL like `https://gw.example.com:8443/`.
fn host_of(url: &str) -> anyhow::Result<String> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or(rest);
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    anyhow::ensure!(!host.is_empty(), "no host in {url}; pass --ssh-host");
    Ok(host.to_owned())
}

/// A `~/.ssh/config` snippet: one `Host` per connection, all sharing the
/// gateway's pinned host key through one `HostKeyAlias`.
fn render(user: &str, host: &str, listener: &Listener, connections: &[Connection]) -> String {
    let alias = format!("gatehouse-{host}-{}", listener.port);
    let mut out = format!(
        "# Gatehouse connections for {user}: add to ~/.ssh/config, then `ssh NAME`,\n\
         # `scp FILE NAME:PATH` or `sftp NAME`.\n\
         # The gateway's host key is {fingerprint}; pin it by adding this line\n\
         # to ~/.ssh/known_hosts:\n\
         #   {alias} {key}\n",
        fingerprint = listener.host_key_fingerprint,
        key = listener.host_key,
    );
    if connections.is_empty() {
        out.push_str("# (no connections are granted to you yet)\n");
    }
    for c in connections {
        out.push_str(&format!(
            "\nHost {name}\n    HostName {host}\n    Port {port}\n    User {user}:{name}\n    HostKeyAlias {alias}\n",
            name = c.name,
            port = listener.port,
        ));
    }
    out
}

pub(super) async fn keys(cmd: KeysCommand) -> anyhow::Result<()> {
    match cmd {
        KeysCommand::List { server } => {
            let client = ApiClient::new(&server.server, server.token);
            let keys: Vec<Key> = client.get("/profile/keys", &[]).await?;
            let rows: Vec<[String; 5]> = keys
                .into_iter()
                .map(|k| {
                    [
                        k.id,
                        k.name,
                        k.fingerprint,
                        k.created_at,
                        k.last_used_at.unwrap_or_else(|| "never".into()),
                    ]
                })
                .collect();
            print!(
                "{}",
                align(&["ID", "NAME", "FINGERPRINT", "ADDED", "LAST USED"], &rows)
            );
        }
        KeysCommand::Add { server, file, name } => {
            let client = ApiClient::new(&server.server, server.token);
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let name = name.unwrap_or_else(|| {
                text.split_whitespace()
                    .nth(2)
                    .map(str::to_owned)
                    .unwrap_or_else(|| file.display().to_string())
            });
            let key: Key = client
                .post(
                    "/profile/keys",
                    &json!({ "name": name, "public_key": text.trim() }),
                )
                .await?;
            println!("added {} ({})", key.name, key.fingerprint);
        }
        KeysCommand::Remove { server, id } => {
            let client = ApiClient::new(&server.server, server.token);
            let _: Value = client.delete(&format!("/profile/keys/{id}")).await?;
            println!("removed key {id}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_comes_from_the_server_url() {
        assert_eq!(host_of("http://127.0.0.1:8080").unwrap(), "127.0.0.1");
        assert_eq!(
            host_of("https://gw.example.com/").unwrap(),
            "gw.example.com"
        );
        assert_eq!(host_of("http://[::1]:8080").unwrap(), "::1");
    }

    #[test]
    fn each_connection_becomes_a_host_logging_in_as_user_colon_connection() {
        let listener = Listener {
            port: 2222,
            host_key: "ssh-ed25519 AAAAC3Nz".into(),
            host_key_fingerprint: "SHA256:abc".into(),
        };
        let conns = [Connection {
            name: "prod-db".into(),
        }];
        let text = render("ops1", "gw.example.com", &listener, &conns);
        assert!(text.contains(
            "Host prod-db\n    HostName gw.example.com\n    Port 2222\n    User ops1:prod-db\n"
        ));
        assert!(text.contains("#   gatehouse-gw.example.com-2222 ssh-ed25519 AAAAC3Nz"));
        assert!(text.contains("SHA256:abc"));
    }
}
