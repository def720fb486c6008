//! Many history and audit writes in one transaction: one commit (one WAL
//! sync) instead of one per row, for the bursts that ending or starting
//! many sessions at once produce.

use crate::audit::insert_audit_query;
use crate::history::{history_end_query, history_start_query};
use crate::{HistoryEnd, HistoryStart, NewAuditEvent, Result, Store};

/// One write of a batch.
#[derive(Clone, Debug)]
pub enum Write {
    /// Insert a session's history row ([`Store::history_start`]).
    HistoryStart(HistoryStart),
    /// Complete a session's history row ([`Store::history_end`]).
    HistoryEnd(HistoryEnd),
    /// Append an audit event ([`Store::insert_audit`]).
    Audit(NewAuditEvent),
}

impl Store {
    /// Applies `writes` in order in one transaction: all or none. Returns,
    /// for each write, whether it changed a row (a `HistoryEnd` of a row
    /// already complete changes none).
    pub async fn write_batch(&self, writes: &[Write]) -> Result<Vec<bool>> {
        let mut tx = self.pool.begin().await?;
        let mut changed = Vec::with_capacity(writes.len());
        for write in writes {
            let query = match write {
                Write::HistoryStart(s) => history_start_query(s),
                Write::HistoryEnd(e) => history_end_query(e),
                Write::Audit(a) => insert_audit_query(a),
            };
            changed.push(query.execute(&mut *tx).await?.rows_affected() > 0);
        }
        tx.commit().await?;
        Ok(changed)
    }
}
