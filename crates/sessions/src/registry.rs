//! The registry itself ([`Registry`], opened with [`NewSession`]): the top
//! of the crate, built on the shared state, entries, handles and watchers.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use gatehouse_domain::{ConnectionId, Protocol, SessionId, UserId};
use time::OffsetDateTime;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use gatehouse_recording::RecordingConfig;

use crate::end::EndRequest;
use crate::entry::Entry;
use crate::locks::{lock, read, write};
use crate::screen::Screen;
use crate::shared::Inner;
use crate::table::Table;
use crate::watch::Watcher;
use crate::{
    ConnectionRef, Lifecycle, ListQuery, Page, Participant, ParticipantMode, SessionEvent,
    SessionHandle, SessionLimits, SessionView, Terminal, Visibility,
};

/// What a front end knows when it opens a session.
#[derive(Clone, Debug)]
pub struct NewSession {
    /// The owner's username.
    pub user: String,
    /// The owner's user id.
    pub user_id: UserId,
    /// The connection used.
    pub connection: ConnectionRef,
    /// The protocol relayed.
    pub protocol: Protocol,
    /// The owner's client address.
    pub client_addr: String,
    /// The target dialled, `host:port`.
    pub target: String,
    /// Whether the session is recorded (the connection's setting; nothing is
    /// recorded by a registry made without [`Registry::with_recordings`]).
    pub recording: bool,
    /// Whether the recording includes the client's keystrokes (the
    /// connection's setting, off by default: it captures typed passwords).
    pub record_input: bool,
    /// Idle and duration limits (see [`SessionLimits::strictest`]).
    pub limits: SessionLimits,
    /// The session's terminal, for front ends that relay one; `None` for
    /// those that do not (a web application), whose output is a log of
    /// lines the front end writes with [`SessionHandle::record_log`].
    ///
    /// [`SessionHandle::record_log`]: crate::SessionHandle::record_log
    pub terminal: Option<Terminal>,
}

/// What [`Registry::tally`] counts for one protocol.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Live sessions.
    pub live: u64,
    /// Bytes carried from clients, by live and ended sessions.
    pub bytes_from_clients: u64,
    /// Bytes carried to clients, by live and ended sessions.
    pub bytes_to_clients: u64,
}

/// The live sessions of this gateway node. Cheap to clone.
#[derive(Clone)]
pub struct Registry {
    pub(crate) inner: Arc<Inner>,
}

/// How many unread events a live-feed subscriber may lag behind before it
/// is told to resynchronise.
const EVENT_BUFFER: usize = 4096;
/// The most output kept per session to paint its screen for a new watcher.
const SCREEN_BYTES: usize = 64 * 1024;
/// Keystroke messages from participants waiting to be relayed. A message is
/// one WebSocket frame (at most 1 MiB, a big paste), so a session whose
/// target stopped reading holds at most 16 MiB of participants' input;
/// keystrokes are a few bytes each and drained as fast as they come.
const PARTICIPANT_INPUT: usize = 16;
/// How many output chunks a watcher may lag behind before it is resynchronised
/// from the screen (chunks are at most an SSH packet, ~32 KiB).
const WATCH_BUFFER: usize = 64;

impl Registry {
    /// A new, empty registry for `node`, and the receiving end of its
    /// lifecycle channel: hand that to whoever writes history.
    pub fn new(node: impl Into<String>) -> (Self, mpsc::UnboundedReceiver<Lifecycle>) {
        Self::build(node.into(), None)
    }

    pub(crate) fn build(
        node: String,
        recordings: Option<RecordingConfig>,
    ) -> (Self, mpsc::UnboundedReceiver<Lifecycle>) {
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let (lifecycle, lifecycle_rx) = mpsc::unbounded_channel();
        let (count, _) = watch::channel(0);
        let inner = Inner {
            node,
            sessions: RwLock::new(Table::default()),
            events,
            lifecycle,
            count,
            recordings,
            recorders: watch::channel(0).0,
            runtime: tokio::runtime::Handle::try_current().ok(),
            ended_bytes: Default::default(),
        };
        (
            Self {
                inner: Arc::new(inner),
            },
            lifecycle_rx,
        )
    }

    /// This node's name.
    pub fn node(&self) -> &str {
        &self.inner.node
    }

    /// Registers a new live session and returns its handle. The session is
    /// listed until the handle is dropped.
    pub fn open(&self, new: NewSession) -> SessionHandle {
        let now = OffsetDateTime::now_utc();
        let started = Instant::now();
        let (input_tx, input_rx) = mpsc::channel(PARTICIPANT_INPUT);
        let id = SessionId::new();
        let id_text = id.to_string();
        // Every field Active Sessions shows as text and searches (the UI
        // matches the same fields in the same way).
        let haystack = [
            new.user.as_str(),
            new.connection.name.as_str(),
            new.protocol.as_str(),
            new.client_addr.as_str(),
            new.target.as_str(),
            id_text.as_str(),
            self.inner.node.as_str(),
        ]
        .join("\0")
        .to_lowercase();
        let owner = Participant {
            id: Uuid::new_v4(),
            user: new.user.clone(),
            mode: ParticipantMode::Owner,
            client_addr: new.client_addr.clone(),
            joined_at: now,
        };
        let terminal = new.terminal.unwrap_or(Terminal::LOG).or_default();
        let recorder = match &self.inner.recordings {
            Some(config) if new.recording => Some(self.recorder(config, id, now, &new)),
            _ => None,
        };
        let entry = Arc::new(Entry {
            id,
            user: new.user,
            user_id: new.user_id,
            connection: new.connection,
            protocol: new.protocol,
            client_addr: new.client_addr,
            target: new.target,
            started_at: now,
            started,
            recorder,
            limits: new.limits,
            haystack,
            activity_ms: AtomicU64::new(0),
            bytes_from_client: AtomicU64::new(0),
            bytes_to_client: AtomicU64::new(0),
            participants: watch::channel(vec![owner.clone()]).0,
            everyone: Mutex::new(vec![owner]),
            forwards: Mutex::default(),
            screen: Mutex::new(Screen::new(SCREEN_BYTES, terminal.cols, terminal.rows)),
            detail: Mutex::default(),
            output: broadcast::channel(WATCH_BUFFER).0,
            invites: Mutex::new(HashMap::new()),
            input: input_tx,
            input_rx: Mutex::new(Some(input_rx)),
            removals: Mutex::new(HashMap::new()),
            dirty: AtomicBool::new(false),
            warned: AtomicU8::new(0),
            warning: watch::channel(None).0,
            cancel: CancellationToken::new(),
            end: OnceLock::new(),
        });
        let view = entry.view(&self.inner.node, started);
        {
            let mut sessions = write(&self.inner.sessions);
            sessions.insert(entry.clone());
            self.inner.count.send_replace(sessions.len());
            // Published under the lock so a subscriber's snapshot and its
            // event stream never disagree about this session.
            let _ = self.inner.lifecycle.send(Lifecycle::Started(view.clone()));
            let _ = self.inner.events.send(SessionEvent::Started(view));
        }
        tracing::info!(session = %entry.id, user = %entry.user, connection = %entry.connection.name, "session started");
        SessionHandle::new(entry, self.inner.clone())
    }

    /// Asks a live session to end. Returns whether it was live. The first
    /// request wins; the session's front end closes the client and the
    /// target, then drops its handle, which records the end.
    pub fn end(&self, id: SessionId, request: EndRequest) -> bool {
        let Some(entry) = self.entry(id) else {
            return false;
        };
        let _ = entry.end.set(request);
        entry.cancel.cancel();
        true
    }

    /// Ends every live session `select` picks (by owner and connection) and
    /// returns their ids: a locked user, a revoked grant, a deleted connection.
    pub fn end_where(
        &self,
        mut select: impl FnMut(UserId, ConnectionId) -> bool,
        request: EndRequest,
    ) -> Vec<SessionId> {
        let chosen: Vec<_> = read(&self.inner.sessions)
            .values()
            .filter(|e| select(e.user_id, e.connection.id))
            .cloned()
            .collect();
        for entry in &chosen {
            let _ = entry.end.set(request.clone());
            entry.cancel.cancel();
        }
        chosen.iter().map(|e| e.id).collect()
    }

    /// Owner and connection of every live session, for re-checking grants.
    pub fn owners(&self) -> Vec<(SessionId, UserId, ConnectionId)> {
        read(&self.inner.sessions)
            .values()
            .map(|e| (e.id, e.user_id, e.connection.id))
            .collect()
    }

    /// Ends every live session (gateway shutdown) and returns how many.
    pub fn end_all(&self, request: EndRequest) -> usize {
        let entries: Vec<_> = read(&self.inner.sessions).values().cloned().collect();
        for entry in &entries {
            let _ = entry.end.set(request.clone());
            entry.cancel.cancel();
        }
        entries.len()
    }

    /// Resolves once no session is live, or after `timeout`. Returns whether
    /// the registry emptied.
    pub async fn wait_until_empty(&self, timeout: Duration) -> bool {
        let mut count = self.inner.count.subscribe();
        tokio::time::timeout(timeout, count.wait_for(|n| *n == 0))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Resolves once everything published on the lifecycle channel before
    /// this call has been handled by its consumer (e.g. written to history).
    pub async fn flush_lifecycle(&self) {
        let (tx, rx) = oneshot::channel();
        if self.inner.lifecycle.send(Lifecycle::Flush(tx)).is_ok() {
            let _ = rx.await;
        }
    }

    /// Joins a live session as a read-only observer (permission
    /// `sessions.watch`, checked by the caller): the watcher gets the current
    /// screen and then every change. `None` if it is not live. The watcher
    /// is listed as a participant until dropped.
    pub fn watch(&self, id: SessionId, user: &str, client_addr: &str) -> Option<Watcher> {
        let entry = self.entry(id)?;
        self.add_participant(entry, None, user, client_addr, ParticipantMode::Observer)
    }

    /// Lets `user` join the session `id` as `mode` (what the owner's
    /// *Share* does). Returns whether the session is live.
    pub fn share(&self, id: SessionId, user: UserId, mode: ParticipantMode) -> bool {
        let Some(entry) = self.entry(id) else {
            return false;
        };
        lock(&entry.invites).insert(user, mode);
        true
    }

    /// Withdraws the invitation of `user` to the session `id` (the owner's
    /// *Un-share*): they can no longer join, and whoever joined through it
    /// is removed, told it was `by`. Returns whether there was one.
    pub fn unshare(&self, id: SessionId, user: UserId, by: &str) -> bool {
        let Some(entry) = self.entry(id) else {
            return false;
        };
        Self::withdraw(&entry, user, by)
    }

    /// The live sessions shared with `user`, and how.
    pub fn shared_with(&self, user: UserId) -> Vec<(SessionView, ParticipantMode)> {
        let now = Instant::now();
        read(&self.inner.sessions)
            .values()
            .filter_map(|e| {
                let mode = *lock(&e.invites).get(&user)?;
                Some((e.view(&self.inner.node, now), mode))
            })
            .collect()
    }

    /// Joins a session shared with `user`, as the owner shared it.
    /// `None` if it is not live or not shared with them.
    pub fn join(
        &self,
        id: SessionId,
        user_id: UserId,
        user: &str,
        client_addr: &str,
    ) -> Option<Watcher> {
        let entry = self.entry(id)?;
        let mode = *lock(&entry.invites).get(&user_id)?;
        let watcher =
            self.add_participant(entry.clone(), Some(user_id), user, client_addr, mode)?;
        // Withdrawn meanwhile? Then either this look sees it gone, or the
        // withdrawal saw this participant listed and removed it: never both
        // missed.
        lock(&entry.invites)
            .contains_key(&user_id)
            .then_some(watcher)
    }

    /// Removes one participant (not the owner) without ending the session;
    /// their view closes and says who removed them. A participant who came
    /// in through an invitation loses it too, so they cannot simply join
    /// again. Returns whether they were there.
    pub fn remove_participant(&self, id: SessionId, participant: Uuid, by: &str) -> bool {
        let Some(entry) = self.entry(id) else {
            return false;
        };
        let Some(removal) = lock(&entry.removals).get(&participant).cloned() else {
            return false;
        };
        if let Some(user) = removal.invited {
            Self::withdraw(&entry, user, by);
        }
        removal.remove(by);
        true
    }

    /// Forgets `user`'s invitation and removes everyone who joined through
    /// it. Returns whether there was one.
    fn withdraw(entry: &Entry, user: UserId, by: &str) -> bool {
        // Forgotten first, so a join racing this either finds it gone or is
        // already listed below (see `join`).
        let had = lock(&entry.invites).remove(&user).is_some();
        let joined: Vec<_> = lock(&entry.removals)
            .values()
            .filter(|r| r.invited == Some(user))
            .cloned()
            .collect();
        for removal in &joined {
            removal.remove(by);
        }
        had
    }

    fn add_participant(
        &self,
        entry: Arc<Entry>,
        invited: Option<UserId>,
        user: &str,
        client_addr: &str,
        mode: ParticipantMode,
    ) -> Option<Watcher> {
        if entry.cancel.is_cancelled() {
            return None;
        }
        let participant = Participant {
            id: Uuid::new_v4(),
            user: user.to_owned(),
            mode,
            client_addr: client_addr.to_owned(),
            joined_at: OffsetDateTime::now_utc(),
        };
        let removal = crate::entry::Removal {
            invited,
            ..Default::default()
        };
        lock(&entry.removals).insert(participant.id, removal.clone());
        let watcher = Watcher::join(
            entry.clone(),
            self.inner.clone(),
            participant.id,
            mode,
            removal,
        );
        lock(&entry.everyone).push(participant.clone());
        entry.participants.send_modify(|p| p.push(participant));
        self.inner.publish_updated(&entry);
        Some(watcher)
    }

    /// A picture of one live session.
    pub fn get(&self, id: SessionId) -> Option<SessionView> {
        self.entry(id)
            .map(|e| e.view(&self.inner.node, Instant::now()))
    }

    /// How many sessions are live.
    pub fn len(&self) -> usize {
        read(&self.inner.sessions).len()
    }

    /// Whether no session is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Live sessions, and the bytes every session since start relayed, by
    /// protocol (for metrics: one pass over the table, no views built).
    /// The byte counts never go down: a session's bytes move from the live
    /// sum to the ended one under the table's lock.
    pub fn tally(&self) -> Vec<(Protocol, Tally)> {
        let table = read(&self.inner.sessions);
        let mut by: Vec<(Protocol, Tally)> = Protocol::ALL
            .iter()
            .zip(&self.inner.ended_bytes)
            .map(|(p, [from, to])| {
                let tally = Tally {
                    live: 0,
                    bytes_from_clients: from.load(Ordering::Relaxed),
                    bytes_to_clients: to.load(Ordering::Relaxed),
                };
                (*p, tally)
            })
            .collect();
        for entry in table.values() {
            if let Some((_, t)) = by.iter_mut().find(|(p, _)| *p == entry.protocol) {
                t.live += 1;
                t.bytes_from_clients += entry.bytes_from_client.load(Ordering::Relaxed);
                t.bytes_to_clients += entry.bytes_to_client.load(Ordering::Relaxed);
            }
        }
        by
    }

    /// Searches, sorts and pages the sessions `visibility` allows.
    pub fn list(&self, query: &ListQuery, visibility: Visibility) -> Page {
        let table = read(&self.inner.sessions);
        let mut matches = query.matching(&table, visibility);
        let total = matches.len();
        let end = query.offset.saturating_add(query.limit).min(total);
        let page: Vec<Arc<Entry>> = if query.offset < total {
            // Only the requested page needs a full sort.
            if end < total {
                matches.select_nth_unstable_by(end, |a, b| query.compare(a, b));
                matches.truncate(end);
            }
            matches.sort_unstable_by(|a, b| query.compare(a, b));
            matches[query.offset..end]
                .iter()
                .filter_map(|s| s.entry.clone())
                .collect()
        } else {
            Vec::new()
        };
        drop(table);
        let now = Instant::now();
        let items = page.iter().map(|e| e.view(&self.inner.node, now)).collect();
        Page { total, items }
    }

    /// The sessions `visibility` allows, and a live feed of what happens
    /// after that picture was taken (no event is missed or repeated).
    pub fn subscribe(
        &self,
        visibility: Visibility,
    ) -> (Vec<SessionView>, broadcast::Receiver<SessionEvent>) {
        let sessions = read(&self.inner.sessions);
        let rx = self.inner.events.subscribe();
        let now = Instant::now();
        let mut snapshot: Vec<SessionView> = sessions
            .values()
            .filter(|e| visibility.allows(e.user_id))
            .map(|e| e.view(&self.inner.node, now))
            .collect();
        drop(sessions);
        snapshot.sort_by_key(|s| std::cmp::Reverse(s.started_at));
        (snapshot, rx)
    }

    fn entry(&self, id: SessionId) -> Option<Arc<Entry>> {
        read(&self.inner.sessions).get(&id).cloned()
    }
}
