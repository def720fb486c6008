//! Recordings: per-connection settings, where each session's file is, and
//! the full-text index over what the sessions printed.

use gatehouse_domain::{ConnectionId, SessionId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{Result, Store, StoreError, parse, to_ms};

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
        let row: Option<(Option<bool>, Option<bool>)> = sqlx::query_as(
            "SELECT r.recording, r.record_input FROM connections c
             LEFT JOIN connection_recording r ON r.connection_id = c.id WHERE c.id = ?",
        )
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
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
        let done = sqlx::query(
            "INSERT INTO connection_recording (connection_id, recording, record_input)
             SELECT id, ?, ? FROM connections WHERE id = ?
             ON CONFLICT (connection_id) DO UPDATE
             SET recording = excluded.recording, record_input = excluded.record_input",
        )
        .bind(settings.recording)
        .bind(settings.record_input)
        .bind(id.to_string())
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("connection {id}")));
        }
        Ok(())
    }

    /// Records that a session's recording is complete and indexes its text
    /// (replacing any earlier index entry), in one transaction.
    pub async fn recording_done(&self, done: &RecordingDone) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        if !recording_done_in(&mut tx, done).await? {
            return Err(StoreError::NotFound(format!("recording of {}", done.id)));
        }
        tx.commit().await?;
        Ok(())
    }

    /// Ended sessions started before `before` that still have a recording
    /// (what the retention sweep removes), with their files.
    pub async fn expired_recordings(
        &self,
        before: OffsetDateTime,
    ) -> Result<Vec<(SessionId, String)>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT id, recording_path FROM history
             WHERE recording_path IS NOT NULL AND started_at < ? AND ended_at IS NOT NULL",
        )
        .bind(to_ms(before))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(id, path)| Ok((parse("session id", &id)?, path)))
            .collect()
    }

    /// Recordings of ended sessions on `node` that never completed, with
    /// their files: the previous run stopped mid-session, or stopped before
    /// a finished recording's summary was written.
    pub async fn incomplete_recordings(&self, node: &str) -> Result<Vec<(SessionId, String)>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT id, recording_path FROM history
             WHERE node = ? AND recording_path IS NOT NULL AND recording_bytes IS NULL
               AND ended_at IS NOT NULL",
        )
        .bind(node)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(id, path)| Ok((parse("session id", &id)?, path)))
            .collect()
    }

    /// Forgets a session's recording (its file is gone): history keeps the
    /// session, the search no longer finds it.
    pub async fn forget_recording(&self, id: SessionId) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "DELETE FROM recording_text WHERE rowid = (SELECT rowid FROM history WHERE id = ?)",
        )
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE history SET recording_path = NULL, recording_bytes = NULL, recording_ms = NULL,
                    recording_truncated = 0 WHERE id = ?",
        )
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// [`Store::recording_done`] inside a transaction (alone, or in a batch);
/// false when the session has no recorded history row.
pub(crate) async fn recording_done_in(
    tx: &mut sqlx::SqliteConnection,
    done: &RecordingDone,
) -> Result<bool> {
    let row: Option<(i64,)> = sqlx::query_as(
        "UPDATE history SET recording_bytes = ?, recording_ms = ?, recording_truncated = ?
         WHERE id = ? AND recording_path IS NOT NULL RETURNING rowid",
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
    sqlx::query("DELETE FROM recording_text WHERE rowid = ?")
        .bind(rowid)
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO recording_text (rowid, body) VALUES (?, ?)")
        .bind(rowid)
        .bind(&done.text)
        .execute(&mut *tx)
        .await?;
    Ok(true)
}
