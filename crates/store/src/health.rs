//! Whether the database answers, for readiness checks.

use crate::{Result, Store};

impl Store {
    /// One round trip to the database.
    pub async fn ping(&self) -> Result<()> {
        on_pool!(self, |pool| sqlx::query("SELECT 1")
            .execute(pool)
            .await?
            .rows_affected());
        Ok(())
    }
}
