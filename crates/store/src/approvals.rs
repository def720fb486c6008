//! SSH login approval requests (migration 0012): written by the SSH
//! listener, decided once by their user in the browser, read back by the
//! listener. Every rule (whose, single decision, expiry) is in the SQL.

use gatehouse_domain::UserId;
use time::OffsetDateTime;

use crate::{Result, Store, from_ms, parse, to_ms};

/// One SSH login waiting for (or given) its user's approval.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApprovalRecord {
    /// The request's id: the last part of its link.
    pub id: String,
    /// Whose login it is; only they may decide.
    pub user_id: UserId,
    /// Where the SSH client connects from.
    pub client_addr: String,
    /// The connection asked for (`USER:CONNECTION`), if any.
    pub connection: Option<String>,
    /// When the client asked.
    pub created_at: OffsetDateTime,
    /// After this, nobody may decide and the login is refused.
    pub expires_at: OffsetDateTime,
    /// `approved` or `denied`, once decided.
    pub decision: Option<String>,
}

type Row = (
    String,
    String,
    String,
    Option<String>,
    i64,
    i64,
    Option<String>,
);

impl Store {
    /// Records a new request.
    pub async fn insert_approval(&self, a: &ApprovalRecord) -> Result<()> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO ssh_approvals (id, user_id, client_addr, connection, created_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&a.id)
            .bind(a.user_id.to_string())
            .bind(&a.client_addr)
            .bind(&a.connection)
            .bind(to_ms(a.created_at))
            .bind(to_ms(a.expires_at))
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(())
    }

    /// A request by id, decided or not, expired or not.
    pub async fn approval(&self, id: &str) -> Result<Option<ApprovalRecord>> {
        let row: Option<Row> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, user_id, client_addr, connection, created_at, expires_at, decision
                 FROM ssh_approvals WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await?
        });
        row.map(
            |(id, user, client_addr, connection, created, expires, decision)| {
                Ok(ApprovalRecord {
                    id,
                    user_id: parse("user id", &user)?,
                    client_addr,
                    connection,
                    created_at: from_ms(created),
                    expires_at: from_ms(expires),
                    decision,
                })
            },
        )
        .transpose()
    }

    /// Sets the decision of `user`'s undecided, unexpired request `id`;
    /// `false` when there is none such (another's, decided, expired).
    pub async fn decide_approval(&self, id: &str, user: UserId, decision: &str) -> Result<bool> {
        let now = to_ms(OffsetDateTime::now_utc());
        let done = on_pool!(self, |pool| {
            sqlx::query(
                "UPDATE ssh_approvals SET decision = $1, decided_at = $2
                 WHERE id = $3 AND user_id = $4 AND decision IS NULL AND expires_at > $2",
            )
            .bind(decision)
            .bind(now)
            .bind(id)
            .bind(user.to_string())
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(done > 0)
    }

    /// Deletes requests that expired before `before` (kept until then so a
    /// late click is told "expired", not "not found").
    pub async fn purge_approvals(&self, before: OffsetDateTime) -> Result<u64> {
        let done = on_pool!(self, |pool| {
            sqlx::query("DELETE FROM ssh_approvals WHERE expires_at < $1")
                .bind(to_ms(before))
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done)
    }
}
