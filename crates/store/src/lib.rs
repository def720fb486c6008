//! Gatehouse's persistent state behind one typed interface, [`Store`].
//!
//! The default backend is one SQLite file in the data directory, created and
//! migrated on [`Store::open`]. Callers see records ([`UserRecord`],
//! [`ConnectionRecord`], [`HistoryRecord`], [`AuditRecord`]) and never SQL.
//! Times are stored as Unix milliseconds and ids as UUID text, so the same
//! schema carries over to PostgreSQL.

mod audit;
mod batch;
mod connections;
mod health;
mod history;
mod keys;
mod limits;
mod recordings;
mod tokens;
mod users;

use std::path::Path;
use std::str::FromStr;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use time::OffsetDateTime;

pub use audit::{AuditQuery, AuditRecord, NewAuditEvent};
pub use batch::Write;
pub use connections::{ConnectionRecord, ConnectionUpdate, NewConnection};
pub use history::{HistoryEnd, HistoryQuery, HistoryRecord, HistoryStart};
pub use keys::SshKeyRecord;
pub use limits::{LimitSettings, RoleRecord};
pub use recordings::{RecordingDone, RecordingInfo, RecordingSettings};
pub use users::{NewUser, UserRecord};

/// What can go wrong talking to the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique name is already taken.
    #[error("{0} already exists")]
    Conflict(String),
    /// A referenced record does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// A stored value could not be read back (a bug or a hand-edited database).
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// A statement with its arguments bound, ready for a pool or a transaction.
pub(crate) type SqliteQuery =
    sqlx::query::Query<'static, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>;

/// Shorthand for store results.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A handle to the database. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
}

impl Store {
    /// Opens (creating and migrating if needed) the SQLite database at `path`.
    pub async fn open(path: &Path) -> Result<Self> {
        create_private(path).map_err(sqlx::Error::Io)?;
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            .busy_timeout(std::time::Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        let store = Self { pool };
        store.ensure_builtin_roles().await?;
        Ok(store)
    }
}

/// Creates the database file 0600 if it is missing. SQLite would create it
/// 0644 less the umask, and it gives the WAL and shared-memory files the
/// database's own mode: this keeps all three unreadable to other local users
/// (they hold password hashes, the audit log and recorded terminal text).
fn create_private(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map(drop)
}

pub(crate) fn to_ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

pub(crate) fn from_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

pub(crate) fn parse<T: FromStr>(what: &str, s: &str) -> Result<T> {
    s.parse()
        .map_err(|_| StoreError::Corrupt(format!("{what} {s:?}")))
}

/// Maps a unique-constraint violation to [`StoreError::Conflict`].
pub(crate) fn conflict(what: impl Into<String>) -> impl FnOnce(sqlx::Error) -> StoreError {
    let what = what.into();
    move |e| match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(what),
        _ => StoreError::Database(e),
    }
}

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern.
pub(crate) fn like_pattern(q: &str) -> String {
    let mut out = String::with_capacity(q.len() + 2);
    out.push('%');
    for c in q.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

#[cfg(test)]
mod recordings_tests;
#[cfg(test)]
mod tests;
