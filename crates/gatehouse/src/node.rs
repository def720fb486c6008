//! This node's row in a shared database: claimed at start (waiting out a
//! dead predecessor's heartbeat), heartbeat while running, given up at a
//! clean stop. Only with PostgreSQL: a SQLite file has one node.

use std::time::Duration;

use anyhow::Context;
use gatehouse_store::{Backend, Store};
use time::OffsetDateTime;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How often a node heartbeats its row.
pub const HEARTBEAT: Duration = Duration::from_secs(3);

/// A row not heartbeat for this long belongs to a dead node: three missed
/// beats, and short enough that survivors can act within the 15 s the
/// issue allows for `node_lost`.
pub const STALE_AFTER: Duration = Duration::from_secs(10);

/// The URL other nodes reach this one at: `configured` (`--cluster-url`)
/// or the HTTP listener's own address. A listener on every interface
/// (`0.0.0.0`) names no address others can use: loopback is published and
/// a warning says to set `--cluster-url`.
pub fn internal_url(configured: Option<&str>, http: std::net::SocketAddr, tls: bool) -> String {
    if let Some(url) = configured {
        return url.to_owned();
    }
    let scheme = if tls { "https" } else { "http" };
    let mut addr = http;
    if addr.ip().is_unspecified() {
        tracing::warn!(
            %http,
            "the HTTP listener is on every interface: set --cluster-url so other nodes can reach this one to watch or replay its sessions"
        );
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    format!("{scheme}://{addr}")
}

/// This process's hold on its node's row.
#[derive(Clone, Debug)]
pub struct NodeLease {
    store: Store,
    name: String,
    /// Random per process run.
    instance: String,
}

impl NodeLease {
    /// Claims `name` in a shared database: if another process holds it, it
    /// is given [`STALE_AFTER`] (and a beat more) to show it is alive,
    /// which a process killed moments ago does not. Then publishes this
    /// node's secret key fingerprint and refuses to join (giving the row
    /// back) if another node's differs: such a node could not open the
    /// secrets the others sealed, nor talk to them. `None` on SQLite.
    pub async fn claim(
        store: &Store,
        name: &str,
        key_fingerprint: &str,
    ) -> anyhow::Result<Option<NodeLease>> {
        let Some(lease) = Self::claim_name(store, name).await? else {
            return Ok(None);
        };
        lease
            .store
            .set_node_link(name, &lease.instance, None, key_fingerprint)
            .await
            .context("publishing this node's key fingerprint")?;
        // Published first, then compared: of two nodes starting at once
        // with different keys, each sees the other's and neither joins.
        let links = store
            .node_links()
            .await
            .context("reading the other nodes' key fingerprints")?;
        let differ: Vec<String> = links
            .into_iter()
            .filter(|l| l.name != name)
            .filter(|l| {
                l.key_fingerprint
                    .as_deref()
                    .is_some_and(|f| f != key_fingerprint)
            })
            .map(|l| l.name)
            .collect();
        if !differ.is_empty() {
            lease.release().await;
            anyhow::bail!(
                "this node's secret key differs from the one node(s) {} use on this database \
                 (key fingerprint {key_fingerprint}): every node must share the same \
                 GATEHOUSE_SECRET_KEY (or secret.key file), or it cannot open the connection \
                 secrets the others sealed nor talk to them",
                differ.join(", ")
            );
        }
        Ok(Some(lease))
    }

    /// Publishes the URL other nodes reach this one's internal channel at.
    pub async fn publish_url(&self, url: &str, key_fingerprint: &str) -> anyhow::Result<()> {
        let published = self
            .store
            .set_node_link(&self.name, &self.instance, Some(url), key_fingerprint)
            .await
            .context("publishing this node's URL")?;
        anyhow::ensure!(published, "this node's row was taken over while starting");
        Ok(())
    }

    async fn claim_name(store: &Store, name: &str) -> anyhow::Result<Option<NodeLease>> {
        if store.backend() != Backend::Postgres {
            return Ok(None);
        }
        let instance = uuid::Uuid::new_v4().to_string();
        let deadline = tokio::time::Instant::now() + STALE_AFTER + HEARTBEAT;
        let mut warned = false;
        loop {
            let now = OffsetDateTime::now_utc();
            if store
                .claim_node(name, &instance, now, STALE_AFTER)
                .await
                .context("claiming this node's row")?
            {
                let store = store.clone();
                let name = name.to_owned();
                return Ok(Some(NodeLease {
                    store,
                    name,
                    instance,
                }));
            }
            if tokio::time::Instant::now() >= deadline {
                anyhow::bail!(
                    "another running gateway uses the node name {name:?} on this database: give each node its own --node"
                );
            }
            if !warned {
                tracing::warn!(
                    node = name,
                    "another process heartbeats this node's name; waiting to see whether it is alive"
                );
                warned = true;
            }
            tokio::time::sleep(HEARTBEAT / 3).await;
        }
    }

    /// Heartbeats until `stop` is cancelled.
    pub fn spawn_heartbeat(&self, stop: CancellationToken) -> JoinHandle<()> {
        let lease = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(HEARTBEAT);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tick.tick() => {}
                }
                let now = OffsetDateTime::now_utc();
                match lease
                    .store
                    .node_heartbeat(&lease.name, &lease.instance, now)
                    .await
                {
                    Ok(true) => {}
                    Ok(false) => tracing::error!(
                        node = %lease.name,
                        "this node's row was taken over: another process runs under its name, or this one was counted dead"
                    ),
                    // The database may be restarting: beat again next time.
                    Err(e) => {
                        tracing::warn!(node = %lease.name, error = %e, "node heartbeat failed")
                    }
                }
            }
        })
    }

    /// Gives the row up (a clean stop).
    pub async fn release(&self) {
        if let Err(e) = self.store.release_node(&self.name, &self.instance).await {
            tracing::warn!(node = %self.name, error = %e, "could not release this node's row");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::internal_url;

    #[test]
    fn the_internal_url_is_the_configured_one_or_the_listeners_own() {
        let addr = |s: &str| s.parse().unwrap();
        assert_eq!(
            internal_url(Some("https://gw-1.internal"), addr("127.0.0.1:80"), false),
            "https://gw-1.internal"
        );
        assert_eq!(
            internal_url(None, addr("10.0.0.5:8443"), true),
            "https://10.0.0.5:8443"
        );
        // Every interface names no address: loopback (and a warning).
        assert_eq!(
            internal_url(None, addr("0.0.0.0:8080"), false),
            "http://127.0.0.1:8080"
        );
    }
}
