//! Recordings: per-connection settings, where each session's file is, and
//! the full-text index over what the sessions printed.

use gatehouse_domain::{ConnectionId, SessionId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{Backend, Pool, Result, Store, StoreError, parse, to_ms};

/// Whether a connection's sessions are recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordingSettings {
    /// Record the sessions (default on).
    pub recording: bool,
    /// Record the keystrokes too (default off: it captures typed passwords).
    pub record_input: bool,
}

impl Default for RecordingSettings {
    fn default() -> Self {
        Self {
            recording: true,
            record_input: false,
        }
    }
}

/// A complete recording, for its history row and the search index.
#[derive(Clone, Debug)]
pub struct RecordingDone {
    /// The session.
    pub id: SessionId,
    /// File size in bytes.
    pub bytes: u64,
    /// Milliseconds from the start to the last event.
    pub duration_ms: u64,
    /// Whether the size limit stopped it.
    pub truncated: bool,
    /// The output as plain text.
    pub text: String,
}

/// A session's recording as history shows it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct RecordingInfo {
    /// File size in bytes; absent until the recording is complete.
    pub bytes: Option<u64>,
    /// Milliseconds from the start to the last event; absent until complete.
    pub duration_ms: Option<u64>,
    /// Whether the size limit stopped it (the session went on unrecorded).
    pub truncated: bool,
    /// The file, relative to the recordings folder (not shown to clients).
    #[serde(skip)]
    pub path: String,
}

/// Quotes `text` as one FTS5 string: with the trigram tokenizer that is a
/// case-insensitive substring match.
pub(crate) fn fts_phrase(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

impl Store {
    /// A connection's recording settings (the defaults if never set).
    pub async fn connection_recording(&self, id: ConnectionId) -> Result<RecordingSettings> {
        let row: Option<(Option<bool>, Option<bool>)> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT r.recording, r.record_input FROM connections c
             LEFT JOIN connection_recording r ON r.connection_id = c.id WHERE c.id = $1",
            )
            .bind(id.to_string())
            .fetch_optional(pool)
            .await?
        });
        let (recording, record_input) =
            row.ok_or_else(|| StoreError::NotFound(format!("connection {id}")))?;
        let d = RecordingSettings::default();
        Ok(RecordingSettings {
            recording: recording.unwrap_or(d.recording),
            record_input: record_input.unwrap_or(d.record_input),
        })
    }

    /// Sets a connection's recording settings.
    pub async fn set_connection_recording(
        &self,
        id: ConnectionId,
        settings: RecordingSettings,
    ) -> Result<()> {
        let done = on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO connection_recording (connection_id, recording, record_input)
             SELECT id, $1, $2 FROM connections WHERE id = $3
             ON CONFLICT (connection_id) DO UPDATE
             SET recording = excluded.recording, record_input = excluded.record_input",
            )
            .bind(settings.recording)
            .bind(settings.record_input)
            .bind(id.to_string())
            .execute(pool)
            .await?
            .rows_affected()
        });
        if done == 0 {
            return Err(StoreError::NotFound(format!("connection {id}")));
        }
        Ok(())
    }

    /// Records that a session's recording is complete and indexes its text
    /// (replacing any earlier index entry), in one transaction.
    pub async fn recording_done(&self, done: &RecordingDone) -> Result<()> {
        let found = match &self.pool {
            Pool::Sqlite(pool) => {
                let mut tx = pool.begin().await?;
                let found = recording_done_sqlite(&mut tx, done).await?;
                tx.commit().await?;
                found
            }
            Pool::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                let found = recording_done_postgres(&mut tx, done).await?;
                tx.commit().await?;
                found
            }
        };
        if !found {
            return Err(StoreError::NotFound(format!("recording of {}", done.id)));
        }
        Ok(())
    }

    /// Ended sessions started before `before` that still have a recording
    /// (what the retention sweep removes), with their files.
    pub async fn expired_recordings(
        &self,
        before: OffsetDateTime,
    ) -> Result<Vec<(SessionId, String)>> {
        let rows: Vec<(String, String)> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, recording_path FROM history
             WHERE recording_path IS NOT NULL AND started_at < $1 AND ended_at IS NOT NULL",
            )
            .bind(to_ms(before))
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(id, path)| Ok((parse("session id", &id)?, path)))
            .collect()
    }

    /// Recordings of ended sessions on `node` that never completed, with
    /// their files: the previous run stopped mid-session, or stopped before
    /// a finished recording's summary was written.
    pub async fn incomplete_recordings(&self, node: &str) -> Result<Vec<(SessionId, String)>> {
        let rows: Vec<(String, String)> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, recording_path FROM history
             WHERE node = $1 AND recording_path IS NOT NULL AND recording_bytes IS NULL
               AND ended_at IS NOT NULL",
            )
            .bind(node)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(id, path)| Ok((parse("session id", &id)?, path)))
            .collect()
    }

    /// Forgets a session's recording (its file is gone): history keeps the
    /// session, the search no longer finds it.
    pub async fn forget_recording(&self, id: SessionId) -> Result<()> {
        let unindex = match self.backend() {
            Backend::Sqlite => {
                "DELETE FROM recording_text WHERE rowid = (SELECT rowid FROM history WHERE id = $1)"
            }
            Backend::Postgres => "DELETE FROM recording_text WHERE history_id = $1",
        };
        on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            sqlx::query(unindex)
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "UPDATE history SET recording_path = NULL, recording_bytes = NULL,
                        recording_ms = NULL, recording_truncated = FALSE WHERE id = $1",
            )
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }
}

/// [`Store::recording_done`] inside a SQLite transaction (alone, or in a
/// batch); false when the session has no recorded history row. The FTS5
/// table is keyed by the history row's rowid.
pub(crate) async fn recording_done_sqlite(
    tx: &mut sqlx::SqliteConnection,
    done: &RecordingDone,
) -> Result<bool> {
    let row: Option<(i64,)> = sqlx::query_as(
        "UPDATE history SET recording_bytes = $1, recording_ms = $2, recording_truncated = $3
         WHERE id = $4 AND recording_path IS NOT NULL RETURNING rowid",
    )
    .bind(done.bytes.min(i64::MAX as u64) as i64)
    .bind(done.duration_ms.min(i64::MAX as u64) as i64)
    .bind(done.truncated)
    .bind(done.id.to_string())
    .fetch_optional(&mut *tx)
    .await?;
    let Some((rowid,)) = row else {
        return Ok(false);
    };
    sqlx::query("DELETE FROM recording_text WHERE rowid = $1")
        .bind(rowid)
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO recording_text (rowid, body) VALUES ($1, $2)")
        .bind(rowid)
        .bind(&done.text)
        .execute(&mut *tx)
        .await?;
    Ok(true)
}

/// [`Store::recording_done`] inside a PostgreSQL transaction: the text
/// table is keyed by session id and searched through its trigram index.
pub(crate) async fn recording_done_postgres(
    tx: &mut sqlx::PgConnection,
    done: &RecordingDone,
) -> Result<bool> {
    let row: Option<(String,)> = sqlx::query_as(
        "UPDATE history SET recording_bytes = $1, recording_ms = $2, recording_truncated = $3
         WHERE id = $4 AND recording_path IS NOT NULL RETURNING id",
    )
    .bind(done.bytes.min(i64::MAX as u64) as i64)
    .bind(done.duration_ms.min(i64::MAX as u64) as i64)
    .bind(done.truncated)
    .bind(done.id.to_string())
    .fetch_optional(&mut *tx)
    .await?;
    let Some((id,)) = row else {
        return Ok(false);
    };
    // PostgreSQL text cannot hold NUL; a terminal that printed one loses
    // nothing searchable.
    let text = if done.text.contains('\0') {
        std::borrow::Cow::Owned(done.text.replace('\0', ""))
    } else {
        std::borrow::Cow::Borrowed(done.text.as_str())
    };
    sqlx::query(
        "INSERT INTO recording_text (history_id, body) VALUES ($1, $2)
         ON CONFLICT (history_id) DO UPDATE SET body = excluded.body",
    )
    .bind(id)
    .bind(text.as_ref())
    .execute(&mut *tx)
    .await?;
    Ok(true)
}
