use gatehouse_domain::{ConnectionId, EndReason, SessionId, UserId};
use serde::Serialize;
use time::OffsetDateTime;

use crate::recordings::{RecordingInfo, fts_phrase};
use crate::{Backend, Result, Store, StoreError, from_ms, like_pattern, parse, to_ms};

/// The insert of a session's history row (alone or in a batch), for
/// either backend.
macro_rules! history_start_query {
    ($s:expr) => {{
        let s: &$crate::HistoryStart = $s;
        sqlx::query(
            "INSERT INTO history (id, user_id, username, connection_id, connection_name, protocol,
                                  client_addr, target, node, started_at, recording_path)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(s.id.to_string())
        .bind(s.user_id.to_string())
        .bind(s.username.clone())
        .bind(s.connection_id.to_string())
        .bind(s.connection_name.clone())
        .bind(s.protocol.clone())
        .bind(s.client_addr.clone())
        .bind(s.target.clone())
        .bind(s.node.clone())
        .bind($crate::to_ms(s.started_at))
        .bind(s.recording_path.clone())
    }};
}

/// The update completing a session's row, only if it is still open.
macro_rules! history_end_query {
    ($e:expr) => {{
        let e: &$crate::HistoryEnd = $e;
        sqlx::query(
            "UPDATE history SET ended_at = $1, end_reason = $2, ended_by = $3, end_message = $4,
                    bytes_from_client = $5, bytes_to_client = $6, participants = $7, detail = $8
             WHERE id = $9 AND ended_at IS NULL",
        )
        .bind($crate::to_ms(e.ended_at))
        .bind(e.end_reason.as_str())
        .bind(e.ended_by.clone())
        .bind(e.end_message.clone())
        .bind(e.bytes_from_client as i64)
        .bind(e.bytes_to_client as i64)
        .bind(e.participants.to_string())
        .bind(e.detail.to_string())
        .bind(e.id.to_string())
    }};
}
pub(crate) use {history_end_query, history_start_query};

/// What history records when a session starts.
#[derive(Clone, Debug)]
pub struct HistoryStart {
    /// The session's id.
    pub id: SessionId,
    /// Owner id.
    pub user_id: UserId,
    /// Owner name.
    pub username: String,
    /// Connection id.
    pub connection_id: ConnectionId,
    /// Connection name at the time.
    pub connection_name: String,
    /// Protocol name.
    pub protocol: String,
    /// The owner's address.
    pub client_addr: String,
    /// `host:port` dialled.
    pub target: String,
    /// The node relaying it.
    pub node: String,
    /// Start time.
    pub started_at: OffsetDateTime,
    /// The session's recording, relative to the recordings folder, if it is recorded.
    pub recording_path: Option<String>,
}

/// What history records when a session ends.
#[derive(Clone, Debug)]
pub struct HistoryEnd {
    /// The session's id.
    pub id: SessionId,
    /// End time.
    pub ended_at: OffsetDateTime,
    /// Why.
    pub end_reason: EndReason,
    /// Who, when a person ended it.
    pub ended_by: Option<String>,
    /// Their message.
    pub end_message: Option<String>,
    /// Bytes from the client(s).
    pub bytes_from_client: u64,
    /// Bytes to the client(s).
    pub bytes_to_client: u64,
    /// Everyone who took part, as JSON.
    pub participants: serde_json::Value,
    /// The front end's detail at the end (a JSON object: a tunnel's
    /// `total_connections` and `program`).
    pub detail: serde_json::Value,
}

/// A connection as history remembers it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct HistoryConnection {
    /// The connection's id.
    pub id: ConnectionId,
    /// Its name when the session ran.
    pub name: String,
}

/// One session in history.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct HistoryRecord {
    /// The session's id.
    pub id: SessionId,
    /// Owner name.
    pub user: String,
    /// Owner id.
    pub user_id: UserId,
    /// The connection used.
    pub connection: HistoryConnection,
    /// Protocol name.
    pub protocol: String,
    /// The owner's address.
    pub client_addr: String,
    /// `host:port` dialled.
    pub target: String,
    /// Node that relayed it.
    pub node: String,
    /// Start time.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub started_at: OffsetDateTime,
    /// End time; absent while live.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ended_at: Option<OffsetDateTime>,
    /// Why it ended.
    pub end_reason: Option<EndReason>,
    /// Who ended it, when a person did.
    pub ended_by: Option<String>,
    /// Their message.
    pub end_message: Option<String>,
    /// Bytes from the client(s).
    pub bytes_from_client: u64,
    /// Bytes to the client(s).
    pub bytes_to_client: u64,
    /// Everyone who took part.
    #[schema(value_type = Vec<Object>)]
    pub participants: serde_json::Value,
    /// What the front end told about the session at its end, as Active
    /// Sessions showed it (a tunnel: `total_connections`, `program`).
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    /// The session's recording, if it was recorded (and not yet expired).
    pub recording: Option<RecordingInfo>,
}

/// A search over ended sessions, newest end first.
#[derive(Clone, Debug, Default)]
pub struct HistoryQuery {
    /// Case-insensitive text matched against user, connection, protocol,
    /// client address, target, end reason and ended-by.
    pub q: Option<String>,
    /// Text the session's recorded output contained (case-insensitive,
    /// three characters or more), looked up in the full-text index.
    pub text: Option<String>,
    /// Only this user's sessions.
    pub user: Option<UserId>,
    /// Only sessions of the user with this name (case-insensitive).
    pub username: Option<String>,
    /// Only sessions on the connection with this name (case-insensitive).
    pub connection: Option<String>,
    /// Only sessions that ended for this reason.
    pub reason: Option<EndReason>,
    /// Only sessions still running at or after this time (ended at or after it).
    pub from: Option<OffsetDateTime>,
    /// Only sessions that started before this time.
    pub to: Option<OffsetDateTime>,
    /// Page size.
    pub limit: u32,
    /// Rows to skip.
    pub offset: u32,
}

#[derive(sqlx::FromRow)]
struct HistoryRow {
    id: String,
    user_id: String,
    username: String,
    connection_id: String,
    connection_name: String,
    protocol: String,
    client_addr: String,
    target: String,
    node: String,
    started_at: i64,
    ended_at: Option<i64>,
    end_reason: Option<String>,
    ended_by: Option<String>,
    end_message: Option<String>,
    bytes_from_client: i64,
    bytes_to_client: i64,
    participants: String,
    detail: String,
    recording_path: Option<String>,
    recording_bytes: Option<i64>,
    recording_ms: Option<i64>,
    recording_truncated: bool,
}

/// The history filter both backends share; `$3` (recorded text) is
/// matched by [`SQLITE_TEXT`] or [`POSTGRES_TEXT`].
const FILTER: &str = "ended_at IS NOT NULL
    AND ($1 IS NULL OR user_id = $1)
    AND ($2 IS NULL OR lower(username) LIKE $2 ESCAPE '\\' OR lower(connection_name) LIKE $2 ESCAPE '\\'
         OR protocol LIKE $2 ESCAPE '\\' OR lower(client_addr) LIKE $2 ESCAPE '\\'
         OR lower(target) LIKE $2 ESCAPE '\\' OR end_reason LIKE $2 ESCAPE '\\'
         OR lower(coalesce(ended_by, '')) LIKE $2 ESCAPE '\\')
    AND ($4 IS NULL OR lower(username) = $4)
    AND ($5 IS NULL OR lower(connection_name) = $5)
    AND ($6 IS NULL OR end_reason = $6)
    AND ($7 IS NULL OR ended_at >= $7)
    AND ($8 IS NULL OR started_at < $8)";

/// FTS5's trigram index, `$3` a quoted phrase ([`fts_phrase`]).
const SQLITE_TEXT: &str =
    "AND ($3 IS NULL OR rowid IN (SELECT rowid FROM recording_text WHERE recording_text MATCH $3))";

/// pg_trgm's GIN index, `$3` a `LIKE` pattern ([`like_pattern`]): the same
/// case-insensitive substring match.
const POSTGRES_TEXT: &str = "AND ($3 IS NULL OR id IN (SELECT history_id FROM recording_text WHERE body ILIKE $3 ESCAPE '\\'))";

impl Store {
    /// Records a session's start.
    pub async fn history_start(&self, s: &HistoryStart) -> Result<()> {
        on_pool!(self, |pool| history_start_query!(s)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(())
    }

    /// Completes a session's row. Returns false if it was already complete,
    /// so an end is never written twice.
    pub async fn history_end(&self, e: &HistoryEnd) -> Result<bool> {
        let done = on_pool!(self, |pool| history_end_query!(e)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(done == 1)
    }

    /// Ends every row that `node` left open (it stopped without recording
    /// the ends), returning their ids.
    pub async fn close_open_history(
        &self,
        node: &str,
        reason: EndReason,
        at: OffsetDateTime,
    ) -> Result<Vec<SessionId>> {
        let rows: Vec<(String,)> = on_pool!(self, |pool| {
            sqlx::query_as(
            "UPDATE history SET ended_at = $1, end_reason = $2 WHERE node = $3 AND ended_at IS NULL RETURNING id",
        )
        .bind(to_ms(at))
        .bind(reason.as_str())
        .bind(node)
        .fetch_all(pool).await?
        });
        rows.into_iter()
            .map(|(id,)| parse("session id", &id))
            .collect()
    }

    /// One history row by session id, live or ended.
    pub async fn history_entry(&self, id: SessionId) -> Result<Option<HistoryRecord>> {
        let row: Option<HistoryRow> = on_pool!(self, |pool| {
            sqlx::query_as("SELECT * FROM history WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(pool)
                .await?
        });
        row.map(HistoryRow::into_record).transpose()
    }

    /// Ended sessions matching `query`, and how many match in all.
    pub async fn list_history(&self, query: &HistoryQuery) -> Result<(i64, Vec<HistoryRecord>)> {
        let user = query.user.map(|u| u.to_string());
        let pattern = query
            .q
            .as_deref()
            .map(str::trim)
            .filter(|q| !q.is_empty())
            .map(like_pattern);
        let text = query.text.as_deref().filter(|t| !t.trim().is_empty());
        // A trigram index finds nothing shorter than a trigram (FTS5 answers
        // no rows): both backends say so without asking.
        if text.is_some_and(|t| t.chars().count() < 3) {
            return Ok((0, Vec::new()));
        }
        let (text_filter, text) = match self.backend() {
            Backend::Sqlite => (SQLITE_TEXT, text.map(fts_phrase)),
            Backend::Postgres => (POSTGRES_TEXT, text.map(like_pattern)),
        };
        let username = query.username.as_deref().map(str::to_lowercase);
        let connection = query.connection.as_deref().map(str::to_lowercase);
        let reason = query.reason.map(EndReason::as_str);
        let from = query.from.map(to_ms);
        let to = query.to.map(to_ms);
        let (total, rows): ((i64,), Vec<HistoryRow>) = on_pool!(self, |pool| {
            let total = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT COUNT(*) FROM history WHERE {FILTER} {text_filter}"
            )))
            .bind(&user)
            .bind(&pattern)
            .bind(&text)
            .bind(&username)
            .bind(&connection)
            .bind(reason)
            .bind(from)
            .bind(to)
            .fetch_one(pool)
            .await?;
            let rows = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT * FROM history WHERE {FILTER} {text_filter}
                 ORDER BY ended_at DESC, id LIMIT $9 OFFSET $10"
            )))
            .bind(&user)
            .bind(&pattern)
            .bind(&text)
            .bind(&username)
            .bind(&connection)
            .bind(reason)
            .bind(from)
            .bind(to)
            .bind(i64::from(query.limit))
            .bind(i64::from(query.offset))
            .fetch_all(pool)
            .await?;
            (total, rows)
        });
        let total = total.0;
        let items = rows
            .into_iter()
            .map(HistoryRow::into_record)
            .collect::<Result<_>>()?;
        Ok((total, items))
    }
}

impl HistoryRow {
    fn into_record(self) -> Result<HistoryRecord> {
        Ok(HistoryRecord {
            id: parse("session id", &self.id)?,
            user: self.username,
            user_id: parse("user id", &self.user_id)?,
            connection: HistoryConnection {
                id: parse("connection id", &self.connection_id)?,
                name: self.connection_name,
            },
            protocol: self.protocol,
            client_addr: self.client_addr,
            target: self.target,
            node: self.node,
            started_at: from_ms(self.started_at),
            ended_at: self.ended_at.map(from_ms),
            end_reason: match self.end_reason {
                None => None,
                Some(r) => Some(
                    EndReason::parse(&r)
                        .ok_or_else(|| StoreError::Corrupt(format!("end reason {r:?}")))?,
                ),
            },
            ended_by: self.ended_by,
            end_message: self.end_message,
            bytes_from_client: self.bytes_from_client.max(0) as u64,
            bytes_to_client: self.bytes_to_client.max(0) as u64,
            participants: serde_json::from_str(&self.participants)
                .map_err(|e| StoreError::Corrupt(format!("participants: {e}")))?,
            detail: serde_json::from_str(&self.detail)
                .map_err(|e| StoreError::Corrupt(format!("detail: {e}")))?,
            recording: self.recording_path.map(|path| RecordingInfo {
                bytes: self.recording_bytes.map(|b| b.max(0) as u64),
                duration_ms: self.recording_ms.map(|m| m.max(0) as u64),
                truncated: self.recording_truncated,
                path,
            }),
        })
    }
}
