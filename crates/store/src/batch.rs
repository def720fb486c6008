//! Many history and audit writes in one transaction: one commit (one WAL
//! sync) instead of one per row, for the bursts that ending or starting
//! many sessions at once produce.

use crate::audit::insert_audit_rows_query;
use crate::history::{history_end_query, history_start_query};
use crate::recordings::{recording_done_postgres, recording_done_sqlite};
use crate::{HistoryEnd, HistoryStart, NewAuditEvent, Pool, RecordingDone, Result, Store};

/// One write of a batch inside `$tx` (`$recording_done` being the
/// backend's), or an audit event set aside in `$audit` (true then: it will
/// be written); whether it changed a row.
macro_rules! batch_write {
    ($tx:ident, $write:expr, $audit:ident, $recording_done:ident) => {
        match $write {
            Write::HistoryStart(s) => {
                history_start_query!(s)
                    .execute(&mut *$tx)
                    .await?
                    .rows_affected()
                    > 0
            }
            Write::HistoryEnd(e) => {
                history_end_query!(e)
                    .execute(&mut *$tx)
                    .await?
                    .rows_affected()
                    > 0
            }
            Write::Audit(a) => {
                $audit.push(a);
                true
            }
            Write::RecordingDone(d) => $recording_done(&mut $tx, d).await?,
        }
    };
}

/// One write of a batch.
#[derive(Clone, Debug)]
pub enum Write {
    /// Insert a session's history row ([`Store::history_start`]).
    HistoryStart(HistoryStart),
    /// Complete a session's history row ([`Store::history_end`]).
    HistoryEnd(HistoryEnd),
    /// Append an audit event ([`Store::insert_audit`]).
    Audit(NewAuditEvent),
    /// Complete a recorded history row and index its text
    /// ([`Store::recording_done`]).
    RecordingDone(RecordingDone),
}

/// Audit events per insert statement (6 parameters each, well under
/// SQLite's limit of 32,766 and PostgreSQL's of 65,535).
const AUDIT_ROWS: usize = 100;

impl Store {
    /// Applies `writes` in one transaction: all or none. History writes run
    /// in their order, then the audit events in theirs, several to a
    /// statement. Returns, for each write, whether it changed a row (a
    /// `HistoryEnd` of a row already complete changes none, nor does a
    /// `RecordingDone` of a session without a recorded row).
    pub async fn write_batch(&self, writes: &[Write]) -> Result<Vec<bool>> {
        let mut changed = vec![true; writes.len()];
        let mut audit = Vec::new();
        match &self.pool {
            Pool::Sqlite(pool) => {
                let mut tx = pool.begin().await?;
                for (i, write) in writes.iter().enumerate() {
                    changed[i] = batch_write!(tx, write, audit, recording_done_sqlite);
                }
                for rows in audit.chunks(AUDIT_ROWS) {
                    insert_audit_rows_query!(rows).execute(&mut *tx).await?;
                }
                tx.commit().await?;
            }
            Pool::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                for (i, write) in writes.iter().enumerate() {
                    changed[i] = batch_write!(tx, write, audit, recording_done_postgres);
                }
                for rows in audit.chunks(AUDIT_ROWS) {
                    insert_audit_rows_query!(rows).execute(&mut *tx).await?;
                }
                tx.commit().await?;
            }
        }
        Ok(changed)
    }
}
