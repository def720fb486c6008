use serde::Serialize;
use time::OffsetDateTime;

use crate::{Result, Store, StoreError, from_ms, to_ms};

/// One insert of several audit events (a `&[&NewAuditEvent]`), for either
/// backend: a batch of 1,000 is then a handful of statements, not 1,000
/// round trips.
macro_rules! insert_audit_rows_query {
    ($events:expr) => {{
        let events: &[&$crate::NewAuditEvent] = $events;
        let at = $crate::to_ms(time::OffsetDateTime::now_utc());
        // Only numbered placeholders are spliced in; every value is bound.
        let mut query = sqlx::query(sqlx::AssertSqlSafe($crate::audit::insert_audit_rows_sql(
            events.len(),
        )));
        for e in events {
            query = query
                .bind(at)
                .bind(e.actor.clone())
                .bind(e.action.clone())
                .bind(e.target.clone())
                .bind(e.client_addr.clone())
                .bind(e.details.to_string());
        }
        query
    }};
}
pub(crate) use insert_audit_rows_query;

/// An audit event to record.
#[derive(Clone, Debug)]
pub struct NewAuditEvent {
    /// Who did it (a username), if anybody known.
    pub actor: Option<String>,
    /// What happened, e.g. `auth.login`, `session.end`.
    pub action: String,
    /// What it happened to (a username, connection or session id).
    pub target: Option<String>,
    /// Where the actor came from.
    pub client_addr: Option<String>,
    /// Anything else worth keeping.
    pub details: serde_json::Value,
}

/// A recorded audit event.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct AuditRecord {
    /// Sequence number.
    pub id: i64,
    /// When it happened.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
    /// Who did it.
    pub actor: Option<String>,
    /// What happened.
    pub action: String,
    /// What it happened to.
    pub target: Option<String>,
    /// Where the actor came from.
    pub client_addr: Option<String>,
    /// Details.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    /// When the target is a session's id: whose session it was and on what
    /// connection, so a reader sees names rather than an id.
    pub session: Option<AuditSession>,
}

/// The session an audit event was about, as history remembers it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct AuditSession {
    /// The session's owner.
    pub user: String,
    /// The connection's name when the session ran.
    pub connection: String,
}

/// A page of the audit log, newest first.
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    /// Only this action (e.g. `auth.login_failed`).
    pub action: Option<String>,
    /// Only events this user did or that were about them or their sessions
    /// (a username, case-insensitive).
    pub user: Option<String>,
    /// Only events about this connection or its sessions (a name, case-insensitive).
    pub connection: Option<String>,
    /// Only events at or after this time.
    pub from: Option<OffsetDateTime>,
    /// Only events before this time.
    pub to: Option<OffsetDateTime>,
    /// Page size.
    pub limit: u32,
    /// Rows to skip.
    pub offset: u32,
}

#[derive(sqlx::FromRow)]
struct AuditRow {
    id: i64,
    at: i64,
    actor: Option<String>,
    action: String,
    target: Option<String>,
    client_addr: Option<String>,
    details: String,
    session_user: Option<String>,
    session_connection: Option<String>,
}

/// The audit log joined to the history row of the session an event is about
/// (its target is then the session's id).
const AUDIT_FROM: &str = "audit_events a LEFT JOIN history h ON h.id = a.target";

const AUDIT_FILTER: &str = "($1 IS NULL OR a.action = $1)
    AND ($2 IS NULL OR lower(a.actor) = $2 OR lower(a.target) = $2 OR lower(h.username) = $2)
    AND ($3 IS NULL OR lower(a.target) = $3 OR lower(h.connection_name) = $3)
    AND ($4 IS NULL OR a.at >= $4)
    AND ($5 IS NULL OR a.at < $5)";

impl Store {
    /// Appends an audit event.
    pub async fn insert_audit(&self, e: &NewAuditEvent) -> Result<()> {
        on_pool!(self, |pool| insert_audit_rows_query!(&[e])
            .execute(pool)
            .await?
            .rows_affected());
        Ok(())
    }

    /// A page of audit events, and how many match in all.
    pub async fn list_audit(&self, query: &AuditQuery) -> Result<(i64, Vec<AuditRecord>)> {
        let user = query.user.as_deref().map(str::to_lowercase);
        let connection = query.connection.as_deref().map(str::to_lowercase);
        let from = query.from.map(to_ms);
        let to = query.to.map(to_ms);
        let (total,): (i64,) = on_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT COUNT(*) FROM {AUDIT_FROM} WHERE {AUDIT_FILTER}"
            )))
            .bind(&query.action)
            .bind(&user)
            .bind(&connection)
            .bind(from)
            .bind(to)
            .fetch_one(pool)
            .await?
        });
        let rows: Vec<AuditRow> = on_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT a.*, h.username AS session_user, h.connection_name AS session_connection
                 FROM {AUDIT_FROM} WHERE {AUDIT_FILTER} ORDER BY a.id DESC LIMIT $6 OFFSET $7"
            )))
            .bind(&query.action)
            .bind(&user)
            .bind(&connection)
            .bind(from)
            .bind(to)
            .bind(i64::from(query.limit))
            .bind(i64::from(query.offset))
            .fetch_all(pool)
            .await?
        });
        let items = rows
            .into_iter()
            .map(|r| {
                Ok(AuditRecord {
                    id: r.id,
                    at: from_ms(r.at),
                    actor: r.actor,
                    action: r.action,
                    target: r.target,
                    client_addr: r.client_addr,
                    details: serde_json::from_str(&r.details)
                        .map_err(|e| StoreError::Corrupt(format!("audit details: {e}")))?,
                    session: r
                        .session_user
                        .zip(r.session_connection)
                        .map(|(user, connection)| AuditSession { user, connection }),
                })
            })
            .collect::<Result<_>>()?;
        Ok((total, items))
    }
}

/// The SQL of one insert of `rows` audit events, numbered placeholders.
pub(crate) fn insert_audit_rows_sql(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO audit_events (at, actor, action, target, client_addr, details) VALUES ",
    );
    for i in 0..rows {
        if i > 0 {
            sql.push_str(", ");
        }
        let p = i * 6;
        sql.push_str(&format!(
            "(${}, ${}, ${}, ${}, ${}, ${})",
            p + 1,
            p + 2,
            p + 3,
            p + 4,
            p + 5,
            p + 6
        ));
    }
    sql
}
