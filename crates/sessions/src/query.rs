use std::cmp::Ordering;

use gatehouse_domain::UserId;

use crate::SessionView;
use crate::entry::Entry;
use crate::table::{Slot, Table};

/// The column a listing is sorted by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SortKey {
    /// Start time (the default, newest first).
    #[default]
    StartedAt,
    /// Owner's username.
    User,
    /// Connection name.
    Connection,
    /// Protocol.
    Protocol,
    /// Client address.
    ClientAddr,
    /// Target address.
    Target,
    /// Last input time.
    LastActivityAt,
}

impl SortKey {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "started_at" => SortKey::StartedAt,
            "user" => SortKey::User,
            "connection" => SortKey::Connection,
            "protocol" => SortKey::Protocol,
            "client_addr" => SortKey::ClientAddr,
            "target" => SortKey::Target,
            "last_activity_at" => SortKey::LastActivityAt,
            _ => return None,
        })
    }

    fn compare(self, a: &Entry, b: &Entry) -> Ordering {
        match self {
            SortKey::StartedAt => a.started_at.cmp(&b.started_at),
            SortKey::User => a.user.cmp(&b.user),
            SortKey::Connection => a.connection.name.cmp(&b.connection.name),
            SortKey::Protocol => a.protocol.as_str().cmp(b.protocol.as_str()),
            SortKey::ClientAddr => a.client_addr.cmp(&b.client_addr),
            SortKey::Target => a.target.cmp(&b.target),
            SortKey::LastActivityAt => (a.started_at
                + std::time::Duration::from_millis(a.activity_ms()))
            .cmp(&(b.started_at + std::time::Duration::from_millis(b.activity_ms()))),
        }
    }
}

/// Which sessions a caller may see.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Visibility {
    /// Every session (permission `sessions.view`).
    All,
    /// Only sessions owned by this user.
    OwnedBy(UserId),
}

impl Visibility {
    /// Whether a session owned by `owner` is visible.
    pub fn allows(self, owner: UserId) -> bool {
        match self {
            Visibility::All => true,
            Visibility::OwnedBy(me) => me == owner,
        }
    }
}

/// A search, sort and page over live sessions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListQuery {
    /// The lowercased words of the search text, each of which a session
    /// must contain (in one of its fields); none matches everything.
    pub(crate) words: Vec<String>,
    /// Sort column.
    pub sort: SortKey,
    /// Sort descending.
    pub descending: bool,
    /// At most this many items.
    pub limit: usize,
    /// Skip this many matches first.
    pub offset: usize,
}

impl Default for ListQuery {
    fn default() -> Self {
        Self {
            words: Vec::new(),
            sort: SortKey::StartedAt,
            descending: true,
            limit: Self::DEFAULT_LIMIT,
            offset: 0,
        }
    }
}

impl ListQuery {
    /// The page size when none is asked for.
    pub const DEFAULT_LIMIT: usize = 100;
    /// The largest page one call returns.
    pub const MAX_LIMIT: usize = 1000;

    /// Builds a query from the API's `q`, `sort`, `limit` and `offset`.
    /// `sort` is a column name, with a leading `-` for descending.
    pub fn parse(
        q: Option<&str>,
        sort: Option<&str>,
        limit: Option<usize>,
        offset: Option<usize>,
    ) -> Result<Self, String> {
        let mut query = ListQuery {
            words: q
                .unwrap_or("")
                .to_lowercase()
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            ..ListQuery::default()
        };
        if let Some(sort) = sort.filter(|s| !s.is_empty()) {
            let (descending, name) = match sort.strip_prefix('-') {
                Some(name) => (true, name),
                None => (false, sort),
            };
            query.sort = SortKey::parse(name).ok_or_else(|| {
                format!(
                    "unknown sort column {name:?}; use started_at, user, connection, protocol, client_addr, target or last_activity_at, with '-' for descending"
                )
            })?;
            query.descending = descending;
        }
        if let Some(limit) = limit {
            if limit == 0 || limit > Self::MAX_LIMIT {
                return Err(format!("limit must be between 1 and {}", Self::MAX_LIMIT));
            }
            query.limit = limit;
        }
        query.offset = offset.unwrap_or(0);
        Ok(query)
    }

    /// A query matching `text` with the default sort and page.
    pub fn search(text: &str) -> Self {
        Self::parse(Some(text), None, None, None).unwrap_or_default()
    }

    /// The live sessions this query matches that `visibility` allows: those
    /// containing every word. The index is scanned for the longest word;
    /// the others are checked against the sessions it found.
    pub(crate) fn matching<'t>(&self, table: &'t Table, visibility: Visibility) -> Vec<&'t Slot> {
        // NUL separates fields in the index; a word holding one is checked
        // against each session alone, so it never spans two.
        let scanned = self
            .words
            .iter()
            .filter(|w| !w.contains('\0'))
            .max_by_key(|w| w.len())
            .map_or("", String::as_str);
        let found = table.search(scanned, |owner| visibility.allows(owner));
        if self.words.iter().all(|w| w == scanned) {
            return found;
        }
        found
            .into_iter()
            .filter(|s| {
                s.entry.as_ref().is_some_and(|e| {
                    self.words
                        .iter()
                        .all(|w| w == scanned || e.haystack.contains(w.as_str()))
                })
            })
            .collect()
    }

    /// Listing order. The default sort (start time) reads only the index;
    /// other columns read the sessions.
    pub(crate) fn compare(&self, a: &Slot, b: &Slot) -> Ordering {
        let ord = match (self.sort, &a.entry, &b.entry) {
            (SortKey::StartedAt, _, _) => a.started_ns.cmp(&b.started_ns),
            (sort, Some(x), Some(y)) => sort.compare(x, y),
            _ => Ordering::Equal,
        };
        // Ties fall back to the id so pages are stable between calls.
        let ord = ord.then_with(|| a.id.cmp(&b.id));
        if self.descending { ord.reverse() } else { ord }
    }
}

/// One page of a listing.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Page {
    /// How many sessions matched in all.
    pub total: usize,
    /// The sessions on this page.
    pub items: Vec<SessionView>,
}
