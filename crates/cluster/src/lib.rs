//! One Active Sessions view over several gateway nodes sharing a
//! PostgreSQL database (issue 20). [`Cluster`] is this node's part:
//!
//! - it **publishes** the registry's sessions to the `live_sessions` table
//!   (at each start and end, and a roll-up of activity once a second when
//!   something changed — never a write per keystroke) and says so with
//!   `NOTIFY` ([`publish`]);
//! - it keeps **other nodes' sessions** in memory, reading from the table
//!   only the rows a node says it changed (and checking every few seconds
//!   for a missed notice), and
//!   turns the differences into the registry's own [`SessionEvent`]s, so
//!   list, search and the live feed merge them with the local ones
//!   ([`remote`]);
//! - it carries **End Sessions and access changes** to the other nodes and
//!   answers theirs ([`listen`]);
//! - it **reaps dead nodes**: a node whose heartbeat is stale has its
//!   history closed as `node_lost` and its sessions removed everywhere
//!   ([`reap`]);
//! - it remembers the **nonces** of signed internal requests until they
//!   expire, so none is accepted twice ([`replay`]).
//!
//! PostgreSQL is the only shared thing; on SQLite there is one node and no
//! [`Cluster`].

mod listen;
mod messages;
mod publish;
mod reap;
mod remote;
mod replay;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use gatehouse_access::Access;
use gatehouse_audit::Audit;
use gatehouse_domain::{SessionId, UserId};
use gatehouse_sessions::{EndRequest, Registry, SessionEvent, SessionView};
use gatehouse_store::{Backend, Store};
use tokio::sync::{Notify, broadcast, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::messages::{Change, EndNote};
pub use crate::replay::{MAX_NONCES, NonceUse};

/// How long a node asking another to end sessions waits for the answer
/// before counting them missing (the owner is dead or unreachable; the
/// reaper will close them within the stale time).
const END_TIMEOUT: Duration = Duration::from_secs(5);

/// How many remote changes a live-feed subscriber may lag behind before it
/// is told to start over from a snapshot (as the registry's own feed).
const EVENT_BUFFER: usize = 4096;

/// What [`Cluster::start`] needs.
pub struct ClusterConfig {
    /// The shared database (PostgreSQL).
    pub store: Store,
    /// This node's name.
    pub node: String,
    /// This node's registry.
    pub registry: Registry,
    /// Access control, for re-checking grants a change on another node took.
    pub access: Access,
    /// The audit log, for the ends this node records.
    pub audit: Audit,
    /// A node whose heartbeat is older than this is dead.
    pub stale_after: Duration,
}

/// This node's part in the cluster. Cheap to clone.
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    node: String,
    registry: Registry,
    access: Access,
    audit: Audit,
    stale_after: Duration,
    /// Other nodes' live sessions, as they published them.
    remote: RwLock<HashMap<SessionId, SessionView>>,
    /// Changes to `remote`, sent while its lock is held.
    events: broadcast::Sender<SessionEvent>,
    /// How remote sessions ended, waiting for the refresh that drops them.
    notes: Mutex<HashMap<SessionId, EndNote>>,
    /// What the refresher is to read next.
    wanted: Mutex<remote::Wanted>,
    /// The latest change read of each other node.
    marks: Mutex<HashMap<String, i64>>,
    /// Wakes the refresher.
    refresh: Notify,
    /// End calls waiting for their owner's answer.
    pending: Mutex<HashMap<Uuid, oneshot::Sender<Vec<SessionId>>>>,
    /// Set when the database was lost: the next publish writes every live
    /// session again, not only what changed (what was published before
    /// may be gone, e.g. after a failover to a replica that lagged).
    republish: AtomicBool,
    /// When this node last failed to reach the database. Other nodes'
    /// heartbeats failed then too, so none is counted dead until they had
    /// time to beat again (see [`Cluster::database_steady`]).
    database_failed_at: Mutex<Option<tokio::time::Instant>>,
    /// Nonces of the signed internal requests this node accepted.
    nonces: replay::Nonces,
    /// Whether this node's LISTEN connection is up: while it is not, calls
    /// and changes from other nodes do not reach it.
    listening: AtomicBool,
}

/// The tasks a running [`Cluster`] spawned.
pub struct Tasks {
    handles: Vec<JoinHandle<()>>,
}

impl Tasks {
    /// Waits for every task to finish (after its stop token was cancelled).
    pub async fn join(self) {
        for handle in self.handles {
            let _ = handle.await;
        }
    }
}

impl Cluster {
    /// Starts this node's part in a cluster: `None` on SQLite. Forgets
    /// whatever a previous run of this node published (its history was
    /// closed at start), then publishes, listens and reaps until `stop`.
    /// Cancel `stop` only once the registry has drained, so the last ends
    /// are published too.
    pub async fn start(
        config: ClusterConfig,
        stop: CancellationToken,
    ) -> Result<Option<(Cluster, Tasks)>, gatehouse_store::StoreError> {
        if config.store.backend() != Backend::Postgres {
            return Ok(None);
        }
        let left = config.store.unpublish_node(&config.node).await?;
        let cluster = Cluster {
            inner: Arc::new(Inner {
                store: config.store,
                node: config.node,
                registry: config.registry,
                access: config.access,
                audit: config.audit,
                stale_after: config.stale_after,
                remote: RwLock::default(),
                events: broadcast::channel(EVENT_BUFFER).0,
                notes: Mutex::default(),
                wanted: Mutex::default(),
                marks: Mutex::default(),
                refresh: Notify::new(),
                pending: Mutex::default(),
                republish: AtomicBool::new(false),
                database_failed_at: Mutex::default(),
                nonces: replay::Nonces::default(),
                listening: AtomicBool::new(true),
            }),
        };
        // Readers drop what they cached of a previous run and read this
        // one's rows from scratch (its change sequence starts anew).
        tracing::debug!(left, "withdrew what a previous run published");
        cluster.announce_changed(Vec::new(), None).await;
        // Listening first, so no notice sent after the first read is missed.
        let listener = listen::connect(&cluster).await?;
        cluster.read_everything().await;
        let handles = vec![
            tokio::spawn(listen::run(cluster.clone(), listener, stop.clone())),
            tokio::spawn(remote::run(cluster.clone(), stop.clone())),
            tokio::spawn(publish::run(cluster.clone(), stop.clone())),
            tokio::spawn(reap::run(cluster.clone(), stop.clone())),
            tokio::spawn(cluster.clone().forward_access_changes(stop)),
        ];
        Ok(Some((cluster, Tasks { handles })))
    }

    /// This node's name.
    pub fn node(&self) -> &str {
        &self.inner.node
    }

    /// Whether this node hears the other nodes (its LISTEN connection is
    /// up): a node that does not is not ready for traffic.
    pub fn listening(&self) -> bool {
        self.inner.listening.load(Ordering::SeqCst)
    }

    fn set_listening(&self, listening: bool) {
        self.inner.listening.store(listening, Ordering::SeqCst);
    }

    /// Notes that the database could not be reached just now.
    fn database_failed(&self) {
        *lock(&self.inner.database_failed_at) = Some(tokio::time::Instant::now());
    }

    /// Whether this node has reached the database for a whole stale period
    /// since it last failed to: only then is a stale heartbeat a dead node's
    /// rather than one that could not write during the same outage.
    fn database_steady(&self) -> bool {
        lock(&self.inner.database_failed_at).is_none_or(|at| at.elapsed() >= self.inner.stale_after)
    }

    /// Asks the next publish to write every live session again.
    fn republish_all(&self) {
        self.inner.republish.store(true, Ordering::SeqCst);
    }

    /// Whether a full publish was asked for (and clears the request).
    fn take_republish(&self) -> bool {
        self.inner.republish.swap(false, Ordering::SeqCst)
    }

    /// Ends sessions other nodes relay: `sessions` are `(owner node, id)`.
    /// Each owner is asked over `NOTIFY` and answers which were live; those
    /// are returned. An owner that does not answer within a few seconds
    /// (dead) ends nothing.
    pub async fn end_elsewhere(
        &self,
        sessions: Vec<(String, SessionId)>,
        request: &EndRequest,
    ) -> Vec<SessionId> {
        let mut by_node: HashMap<String, Vec<SessionId>> = HashMap::new();
        for (node, id) in sessions {
            by_node.entry(node).or_default().push(id);
        }
        let mut waits = Vec::new();
        for (node, ids) in by_node {
            for chunk in ids.chunks(messages::CHUNK) {
                let request_id = Uuid::new_v4();
                let (tx, rx) = oneshot::channel();
                lock(&self.inner.pending).insert(request_id, tx);
                let call = messages::EndCall {
                    to: node.clone(),
                    from: self.inner.node.clone(),
                    request: request_id,
                    ids: chunk.to_vec(),
                    reason: request.reason,
                    by: request.by.clone(),
                    message: request.message.clone(),
                };
                if !self.send(messages::END, &call).await {
                    lock(&self.inner.pending).remove(&request_id);
                    continue;
                }
                waits.push((request_id, rx));
            }
        }
        let mut ended = Vec::new();
        for (request_id, rx) in waits {
            match tokio::time::timeout(END_TIMEOUT, rx).await {
                Ok(Ok(ids)) => ended.extend(ids),
                _ => {
                    lock(&self.inner.pending).remove(&request_id);
                    tracing::warn!("a node did not answer an End Sessions call in time");
                }
            }
        }
        ended
    }

    /// Tells every other node that `user` was locked (or deleted): each
    /// ends their sessions as `user_locked`, by `by`.
    pub async fn user_locked(&self, user: UserId, by: &str, client_addr: &str, message: &str) {
        let change = Change::UserLocked {
            user,
            by: by.to_owned(),
            client_addr: client_addr.to_owned(),
            message: message.to_owned(),
        };
        self.announce(change).await;
    }

    /// Tells every other node that grants may be gone: each re-checks its
    /// sessions and ends, as `access_revoked` by `by`, those that lost it.
    pub async fn access_revoked(&self, by: &str, client_addr: &str) {
        let change = Change::AccessRevoked {
            by: by.to_owned(),
            client_addr: client_addr.to_owned(),
        };
        self.announce(change).await;
    }

    async fn announce(&self, change: Change) {
        let policy = messages::Policy {
            from: self.inner.node.clone(),
            change,
        };
        self.send(messages::POLICY, &policy).await;
    }

    /// Passes every local access change (logout, lock, role change) on to
    /// the other nodes, whose live streams look again.
    async fn forward_access_changes(self, stop: CancellationToken) {
        let mut changes = self.inner.access.subscribe_local_changes();
        loop {
            let user = tokio::select! {
                _ = stop.cancelled() => return,
                got = changes.recv() => match got {
                    Ok(user) => user,
                    // Too many to tell apart: everyone's streams look again.
                    Err(broadcast::error::RecvError::Lagged(_)) => None,
                    Err(broadcast::error::RecvError::Closed) => return,
                },
            };
            self.announce(Change::AccessChanged { user }).await;
        }
    }

    /// Sends `message` on `channel`; false (logged) if the database failed.
    async fn send(&self, channel: &str, message: &impl serde::Serialize) -> bool {
        let payload = match serde_json::to_string(message) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, channel, "could not encode a cluster message");
                return false;
            }
        };
        match self.inner.store.notify(channel, &payload).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, channel, "could not notify the other nodes");
                false
            }
        }
    }

    /// Tells the other nodes this node's rows changed, up to its change
    /// `seq` (`None`: read them all again); `ended` says how some ended.
    async fn announce_changed(&self, ended: Vec<EndNote>, seq: Option<i64>) {
        self.announce_changed_for(&self.inner.node.clone(), ended, seq)
            .await;
    }

    async fn announce_changed_for(&self, node: &str, ended: Vec<EndNote>, seq: Option<i64>) {
        if ended.is_empty() {
            let changed = messages::Changed {
                node: node.to_owned(),
                seq,
                ended,
            };
            self.send(messages::SESSIONS, &changed).await;
            return;
        }
        for chunk in ended.chunks(messages::NOTES) {
            let changed = messages::Changed {
                node: node.to_owned(),
                seq,
                ended: chunk.to_vec(),
            };
            self.send(messages::SESSIONS, &changed).await;
        }
    }
}

/// Locks a mutex, recovering from a panicked holder (nothing here leaves
/// the maps half-updated).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
