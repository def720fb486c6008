//! Gateway nodes: the row each running node holds and heartbeats, so the
//! others know it is alive (and a second process cannot run under a live
//! node's name).

use std::time::Duration;

use serde::Serialize;
use time::OffsetDateTime;

use crate::{Result, Store, from_ms, to_ms};

/// A node as its row shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct NodeRecord {
    /// The node's name (`--node`).
    pub name: String,
    /// When the process holding it started.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub started_at: OffsetDateTime,
    /// Its last heartbeat.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub heartbeat_at: OffsetDateTime,
}

#[derive(sqlx::FromRow)]
struct NodeRow {
    name: String,
    started_at: i64,
    heartbeat_at: i64,
}

impl Store {
    /// Takes node `name`'s row for process run `instance`, unless another
    /// run heartbeat it less than `stale_after` ago (it is alive: false).
    pub async fn claim_node(
        &self,
        name: &str,
        instance: &str,
        now: OffsetDateTime,
        stale_after: Duration,
    ) -> Result<bool> {
        let stale = to_ms(now - stale_after);
        let claimed = on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO nodes (name, instance, started_at, heartbeat_at) VALUES ($1, $2, $3, $3)
                 ON CONFLICT (name) DO UPDATE
                 SET instance = excluded.instance, started_at = excluded.started_at,
                     heartbeat_at = excluded.heartbeat_at
                 WHERE nodes.heartbeat_at < $4 OR nodes.instance = excluded.instance",
            )
            .bind(name)
            .bind(instance)
            .bind(to_ms(now))
            .bind(stale)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(claimed == 1)
    }

    /// Records that run `instance` of node `name` is alive. False if the
    /// row is no longer its own (another run took it, counting this one
    /// dead).
    pub async fn node_heartbeat(
        &self,
        name: &str,
        instance: &str,
        now: OffsetDateTime,
    ) -> Result<bool> {
        let done = on_pool!(self, |pool| {
            sqlx::query("UPDATE nodes SET heartbeat_at = $1 WHERE name = $2 AND instance = $3")
                .bind(to_ms(now))
                .bind(name)
                .bind(instance)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done == 1)
    }

    /// Gives node `name`'s row up at a clean stop (if run `instance` still
    /// holds it).
    pub async fn release_node(&self, name: &str, instance: &str) -> Result<()> {
        on_pool!(self, |pool| {
            sqlx::query("DELETE FROM nodes WHERE name = $1 AND instance = $2")
                .bind(name)
                .bind(instance)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(())
    }

    /// Every node holding a row, by name.
    pub async fn nodes(&self) -> Result<Vec<NodeRecord>> {
        let rows: Vec<NodeRow> = on_pool!(self, |pool| {
            sqlx::query_as("SELECT name, started_at, heartbeat_at FROM nodes ORDER BY name")
                .fetch_all(pool)
                .await?
        });
        Ok(rows
            .into_iter()
            .map(|r| NodeRecord {
                name: r.name,
                started_at: from_ms(r.started_at),
                heartbeat_at: from_ms(r.heartbeat_at),
            })
            .collect())
    }
}

/// How another node is reached and which key it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeLink {
    /// The node's name.
    pub name: String,
    /// Its internal channel's base URL, once it published one.
    pub url: Option<String>,
    /// Its secret key's fingerprint, once it published one.
    pub key_fingerprint: Option<String>,
}

#[derive(sqlx::FromRow)]
struct LinkRow {
    name: String,
    url: Option<String>,
    key_fingerprint: Option<String>,
}

impl Store {
    /// Publishes node `name`'s (run `instance`) key fingerprint and, when
    /// given, how other nodes reach it (else the URL stays as it was).
    /// False if the row is no longer this run's.
    pub async fn set_node_link(
        &self,
        name: &str,
        instance: &str,
        url: Option<&str>,
        key_fingerprint: &str,
    ) -> Result<bool> {
        let done = on_pool!(self, |pool| {
            sqlx::query(
                "UPDATE nodes SET url = COALESCE($1, url), key_fingerprint = $2
                 WHERE name = $3 AND instance = $4",
            )
            .bind(url)
            .bind(key_fingerprint)
            .bind(name)
            .bind(instance)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(done == 1)
    }

    /// How every node holding a row is reached, by name.
    pub async fn node_links(&self) -> Result<Vec<NodeLink>> {
        let rows: Vec<LinkRow> = on_pool!(self, |pool| {
            sqlx::query_as("SELECT name, url, key_fingerprint FROM nodes ORDER BY name")
                .fetch_all(pool)
                .await?
        });
        Ok(rows
            .into_iter()
            .map(|r| NodeLink {
                name: r.name,
                url: r.url,
                key_fingerprint: r.key_fingerprint,
            })
            .collect())
    }
}
