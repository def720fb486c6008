//! Live sessions published for the other nodes of a cluster (issue 20), and
//! the reaping of nodes that died. The store keeps each session's picture
//! as opaque JSON: what a session looks like is the registry's business.

use gatehouse_domain::{EndReason, SessionId};
use time::OffsetDateTime;

use crate::{Result, Store, parse, to_ms};

/// One row of another node's published sessions, as read by
/// [`Store::live_sessions_full`] and [`Store::live_session_changes`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveRow {
    /// The node that relays the session.
    pub node: String,
    /// The session's id.
    pub id: String,
    /// Its picture (JSON); `None` once it ended (a tombstone).
    pub view: Option<String>,
    /// The node's change sequence when the row was last written.
    pub seq: i64,
}

type RawRow = (String, String, String, bool, i64);

fn live_row((node, id, view, ended, seq): RawRow) -> LiveRow {
    LiveRow {
        node,
        id,
        view: (!ended).then_some(view),
        seq,
    }
}

/// A node found dead and reaped by [`Store::reap_dead_nodes`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReapedNode {
    /// The node's name.
    pub name: String,
    /// Its sessions whose history rows were closed as `node_lost`.
    pub sessions: Vec<SessionId>,
}

impl Store {
    /// Publishes node `node`'s changes in one transaction, as its change
    /// `seq` (greater than any it wrote before): `upserts` are `(session
    /// id, picture)` to write, `removed` the ids that ended (kept as
    /// tombstones so readers see the end). Tombstones of this node older
    /// than `forget_before` (a seq) are deleted.
    pub async fn publish_live_sessions(
        &self,
        node: &str,
        upserts: &[(String, String)],
        removed: &[String],
        now: OffsetDateTime,
        seq: i64,
        forget_before: i64,
    ) -> Result<()> {
        on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            for (id, view) in upserts {
                sqlx::query(
                    "INSERT INTO live_sessions (id, node, view, updated_at, seq, ended)
                     VALUES ($1, $2, $3, $4, $5, FALSE)
                     ON CONFLICT (id) DO UPDATE SET view = excluded.view,
                       updated_at = excluded.updated_at, seq = excluded.seq, ended = FALSE
                     WHERE live_sessions.node = excluded.node",
                )
                .bind(id)
                .bind(node)
                .bind(view)
                .bind(to_ms(now))
                .bind(seq)
                .execute(&mut *tx)
                .await?;
            }
            for id in removed {
                sqlx::query(
                    "UPDATE live_sessions SET ended = TRUE, seq = $3, updated_at = $4
                     WHERE id = $1 AND node = $2",
                )
                .bind(id)
                .bind(node)
                .bind(seq)
                .bind(to_ms(now))
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query("DELETE FROM live_sessions WHERE node = $1 AND ended AND seq < $2")
                .bind(node)
                .bind(forget_before)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// The live published sessions of every node but `node`: `(node, picture)`.
    pub async fn live_sessions_elsewhere(&self, node: &str) -> Result<Vec<(String, String)>> {
        let rows: Vec<(String, String)> = on_pool!(self, |pool| {
            sqlx::query_as("SELECT node, view FROM live_sessions WHERE node <> $1 AND NOT ended")
                .bind(node)
                .fetch_all(pool)
                .await?
        });
        Ok(rows)
    }

    /// Every row (tombstones too) of every node but `not`, or of node
    /// `only`: a reader's full re-read.
    pub async fn live_sessions_full(&self, not: &str, only: Option<&str>) -> Result<Vec<LiveRow>> {
        let rows: Vec<RawRow> = on_pool!(self, |pool| {
            match only {
                Some(only) => {
                    sqlx::query_as(
                        "SELECT node, id, view, ended, seq FROM live_sessions
                         WHERE node = $1 AND node <> $2",
                    )
                    .bind(only)
                    .bind(not)
                    .fetch_all(pool)
                    .await?
                }
                None => {
                    sqlx::query_as(
                        "SELECT node, id, view, ended, seq FROM live_sessions WHERE node <> $1",
                    )
                    .bind(not)
                    .fetch_all(pool)
                    .await?
                }
            }
        });
        Ok(rows.into_iter().map(live_row).collect())
    }

    /// Node `node`'s rows written after its change `after`, oldest first.
    pub async fn live_session_changes(&self, node: &str, after: i64) -> Result<Vec<LiveRow>> {
        let rows: Vec<RawRow> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT node, id, view, ended, seq FROM live_sessions
                 WHERE node = $1 AND seq > $2 ORDER BY seq",
            )
            .bind(node)
            .bind(after)
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().map(live_row).collect())
    }

    /// The latest change of every node but `node` that has rows:
    /// `(node, seq)`.
    pub async fn live_session_marks(&self, node: &str) -> Result<Vec<(String, i64)>> {
        let rows: Vec<(String, i64)> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT node, MAX(seq) FROM live_sessions WHERE node <> $1 GROUP BY node ORDER BY node",
            )
            .bind(node)
            .fetch_all(pool)
            .await?
        });
        Ok(rows)
    }

    /// Forgets every session node `node` published (it starts afresh, or
    /// stopped cleanly). Returns how many there were.
    pub async fn unpublish_node(&self, node: &str) -> Result<u64> {
        let n = on_pool!(self, |pool| {
            sqlx::query("DELETE FROM live_sessions WHERE node = $1")
                .bind(node)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(n)
    }

    /// Reaps every node whose heartbeat is older than `stale_before`: in
    /// one transaction its row is deleted, its published sessions too, and
    /// its open history rows are closed as `node_lost` at `now`. Deleting
    /// the row is the claim, so when several survivors race, exactly one
    /// reaps each dead node; the others find nothing.
    pub async fn reap_dead_nodes(
        &self,
        stale_before: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Vec<ReapedNode>> {
        let reaped: Vec<(String, Vec<String>)> = on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let names: Vec<(String,)> =
                sqlx::query_as("DELETE FROM nodes WHERE heartbeat_at < $1 RETURNING name")
                    .bind(to_ms(stale_before))
                    .fetch_all(&mut *tx)
                    .await?;
            let mut reaped = Vec::with_capacity(names.len());
            for (name,) in names {
                sqlx::query("DELETE FROM live_sessions WHERE node = $1")
                    .bind(&name)
                    .execute(&mut *tx)
                    .await?;
                let ids: Vec<(String,)> = sqlx::query_as(
                    "UPDATE history SET ended_at = $1, end_reason = $2
                     WHERE node = $3 AND ended_at IS NULL RETURNING id",
                )
                .bind(to_ms(now))
                .bind(EndReason::NodeLost.as_str())
                .bind(&name)
                .fetch_all(&mut *tx)
                .await?;
                reaped.push((name, ids.into_iter().map(|(id,)| id).collect()));
            }
            tx.commit().await?;
            reaped
        });
        reaped
            .into_iter()
            .map(|(name, ids)| {
                let sessions = ids
                    .iter()
                    .map(|id| parse("session id", id))
                    .collect::<Result<_>>()?;
                Ok(ReapedNode { name, sessions })
            })
            .collect()
    }

    /// Sends `payload` to every session listening on `channel` (PostgreSQL
    /// `NOTIFY`; nothing on SQLite, where there is one node).
    pub async fn notify(&self, channel: &str, payload: &str) -> Result<()> {
        if let crate::Pool::Postgres(pool) = &self.pool {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(channel)
                .bind(payload)
                .execute(pool)
                .await?;
        }
        Ok(())
    }
}
