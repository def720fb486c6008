//! Gatehouse's persistent state behind one typed interface, [`Store`].
//!
//! Two backends: one SQLite file in the data directory ([`Store::open`], the
//! default) or a PostgreSQL database several gateway nodes share
//! ([`Store::connect`]); either is created and migrated on opening, from its
//! own migration set (`migrations/sqlite`, `migrations/postgres`, the same
//! versions in both). Callers see records ([`UserRecord`],
//! [`ConnectionRecord`], [`HistoryRecord`], [`AuditRecord`]) and never SQL.
//!
//! Inside, [`Store`] holds a concrete pool per backend ([`Pool`]), and most
//! queries are written once in SQL both dialects accept (`$1` placeholders,
//! `ON CONFLICT`, `RETURNING`, `TRUE`/`FALSE`) and compiled for each pool by
//! [`on_pool!`]; where the dialects differ (recording text search) the
//! function matches on the pool and has one statement per backend. Times are
//! Unix milliseconds (BIGINT), ids UUID text, flags booleans.

/// Runs `$body` with `$pool` bound to the store's concrete pool, whichever
/// backend it is: the body is compiled once per backend, so its SQL must be
/// valid in both dialects (match on [`Pool`] where it cannot be).
macro_rules! on_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.pool {
            $crate::Pool::Sqlite($pool) => $body,
            $crate::Pool::Postgres($pool) => $body,
        }
    };
}

mod approvals;
mod audit;
mod batch;
mod connections;
mod health;
mod history;
mod keys;
mod limits;
mod live;
mod nodes;
mod recordings;
mod second_factor;
mod sso;
mod tokens;
mod users;

use std::path::Path;
use std::str::FromStr;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use time::OffsetDateTime;

pub use approvals::ApprovalRecord;
pub use audit::{AuditQuery, AuditRecord, AuditSession, NewAuditEvent};
pub use batch::Write;
pub use connections::{ConnectionRecord, ConnectionUpdate, NewConnection};
pub use history::{HistoryEnd, HistoryQuery, HistoryRecord, HistoryStart};
pub use keys::SshKeyRecord;
pub use limits::{LimitSettings, RoleRecord};
pub use live::{LiveRow, ReapedNode};
pub use nodes::{NodeLink, NodeRecord};
pub use recordings::{RecordingDone, RecordingInfo, RecordingSettings};
pub use second_factor::SecondFactorRecord;
pub use sso::SsoPending;
pub use users::{NewUser, UserChange, UserRecord};

/// What can go wrong talking to the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique name is already taken.
    #[error("{0} already exists")]
    Conflict(String),
    /// A referenced record does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The change would leave no enabled user holding this role (the
    /// last administrator); nothing was written.
    #[error("no enabled user would hold the {0} role")]
    LastHolder(String),
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

impl StoreError {
    /// Whether the database could not be reached, or was shutting down or
    /// starting up (PostgreSQL restarted, the network dropped): the same
    /// write may well succeed a little later. Not a refused or bad query.
    pub fn is_unavailable(&self) -> bool {
        let StoreError::Database(e) = self else {
            return false;
        };
        match e {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::Protocol(_) => true,
            // SQLSTATE class 08 (connection exception) and 57P01-57P03
            // (admin shutdown, crash shutdown, cannot connect now).
            sqlx::Error::Database(db) => db
                .code()
                .is_some_and(|c| c.starts_with("08") || c.starts_with("57P")),
            _ => false,
        }
    }
}

/// Shorthand for store results.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which database a [`Store`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// One SQLite file: a single node.
    Sqlite,
    /// A PostgreSQL database: one node or several sharing it.
    Postgres,
}

/// The store's connection pool, one variant per backend.
#[derive(Clone, Debug)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// A handle to the database. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: Pool,
}

/// Connections each node keeps to PostgreSQL: enough for bursts of session
/// starts and ends, few enough that ten nodes fit in PostgreSQL's default
/// `max_connections` of 100 with room for the operator's tools.
const PG_CONNECTIONS: u32 = 8;

impl Store {
    /// Opens the database `url` names: `postgres://…` (or `postgresql://…`)
    /// for PostgreSQL; anything else is refused, the SQLite file being
    /// opened by path with [`Store::open`]. Migrates it, under PostgreSQL's
    /// advisory lock, so several nodes may start at once.
    pub async fn connect(url: &str) -> Result<Self> {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(StoreError::Database(sqlx::Error::Configuration(
                "the database URL must start with postgres:// (SQLite is the default without one)"
                    .into(),
            )));
        }
        let pool = PgPoolOptions::new()
            .max_connections(PG_CONNECTIONS)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect(url)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        let store = Self {
            pool: Pool::Postgres(pool),
        };
        store.ensure_builtin_roles().await?;
        Ok(store)
    }

    /// Which database this store talks to.
    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// The PostgreSQL pool, when that is the backend (for `LISTEN`).
    pub fn postgres_pool(&self) -> Option<&PgPool> {
        match &self.pool {
            Pool::Postgres(pool) => Some(pool),
            Pool::Sqlite(_) => None,
        }
    }

    /// Opens (creating and migrating if needed) the SQLite database at `path`.
    pub async fn open(path: &Path) -> Result<Self> {
        create_private(path).map_err(sqlx::Error::Io)?;
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            .busy_timeout(std::time::Duration::from_secs(5))
            // 512 KiB of page cache per connection instead of SQLite's 2 MiB:
            // the kernel caches the file anyway, so a page SQLite drops is a
            // read from memory, not from disk; eight connections with full
            // caches held 16 MiB, which idle sessions paid for (issue 24).
            .pragma("cache_size", "-512");
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        let store = Self {
            pool: Pool::Sqlite(pool),
        };
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
mod admin_tests;
#[cfg(test)]
mod approvals_tests;
#[cfg(test)]
mod nodes_tests;
#[cfg(test)]
mod recordings_tests;
#[cfg(test)]
mod second_factor_tests;
#[cfg(test)]
mod sso_tests;
#[cfg(test)]
mod testdb;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod user_names_tests;
