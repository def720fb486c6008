//! What happened, kept: the audit log and session history.
//!
//! [`Audit`] appends audit events ([`Event`], action names in [`action`]).
//! [`HistoryWriter`] consumes the session registry's lifecycle channel and
//! writes each session's history row — inserted at start, completed exactly
//! once at end — together with the `session.start` / `session.end` audit
//! events, so every protocol is audited the same way. [`close_dangling`]
//! ends the rows a previous run of this node left open. [`recordings`]
//! completes and indexes recordings, recovers those a crash cut short and
//! removes those past their retention.

mod counts;
pub mod export;
pub mod recordings;

use gatehouse_domain::{EndReason, SessionId};
use gatehouse_sessions::{EndedSession, Lifecycle, SessionView};
use gatehouse_store::{HistoryEnd, HistoryStart, NewAuditEvent, Store, Write};
use serde_json::{Value, json};
use time::OffsetDateTime;
use tokio::sync::mpsc;

/// Audit action names.
pub mod action {
    /// A successful login.
    pub const LOGIN: &str = "auth.login";
    /// A refused login.
    pub const LOGIN_FAILED: &str = "auth.login_failed";
    /// A logout.
    pub const LOGOUT: &str = "auth.logout";
    /// A user was created.
    pub const USER_CREATE: &str = "user.create";
    /// A user's roles, disabled flag or password changed.
    pub const USER_UPDATE: &str = "user.update";
    /// A user was locked: their logins and live sessions ended.
    pub const USER_LOCK: &str = "user.lock";
    /// A locked user was unlocked.
    pub const USER_UNLOCK: &str = "user.unlock";
    /// A user was deleted: their logins and live sessions ended.
    pub const USER_DELETE: &str = "user.delete";
    /// A connection was created (with its grants).
    pub const CONNECTION_CREATE: &str = "connection.create";
    /// A connection's settings, secret or grants changed.
    pub const CONNECTION_UPDATE: &str = "connection.update";
    /// A connection was deleted.
    pub const CONNECTION_DELETE: &str = "connection.delete";
    /// A target's host key was pinned on first use.
    pub const HOST_KEY_PINNED: &str = "connection.host_key_pinned";
    /// A target presented a host key other than the pinned one.
    pub const HOST_KEY_MISMATCH: &str = "connection.host_key_mismatch";
    /// A session could not be opened (target unreachable, refused login…).
    pub const SESSION_FAILED: &str = "session.failed";
    /// A user registered a public key for native SSH logins.
    pub const SSH_KEY_ADD: &str = "ssh_key.add";
    /// A user removed one of their public keys.
    pub const SSH_KEY_REMOVE: &str = "ssh_key.remove";
    /// A native SSH client failed to log in (wrong key or password, locked, throttled).
    pub const SSH_LOGIN_FAILED: &str = "auth.ssh_login_failed";
    /// A native SSH client logged in.
    pub const SSH_LOGIN: &str = "auth.ssh_login";
    /// An SSH login of a user with no password was shown an approval link.
    pub const SSH_LOGIN_APPROVAL_REQUESTED: &str = "ssh_login.approval_requested";
    /// The user approved their SSH login in the browser.
    pub const SSH_LOGIN_APPROVED: &str = "ssh_login.approved";
    /// The user denied their SSH login, or nobody decided before it expired.
    pub const SSH_LOGIN_DENIED: &str = "ssh_login.denied";
    /// A native SSH client asked for something refused (a forward, a subsystem).
    pub const SSH_REFUSED: &str = "ssh.refused";
    /// A native SSH client opened a port forward through a session.
    pub const SSH_FORWARD: &str = "ssh.forward";
    /// A native SSH client ran a command or a file transfer.
    pub const SSH_EXEC: &str = "ssh.exec";
    /// Session limits of a role or connection changed.
    pub const LIMITS_UPDATE: &str = "limits.update";
    /// An owner shared their session with another user.
    pub const SESSION_SHARE: &str = "session.share";
    /// An owner (or an administrator) withdrew an invitation to a session.
    pub const SESSION_UNSHARE: &str = "session.unshare";
    /// A participant was removed from a session.
    pub const PARTICIPANT_REMOVE: &str = "session.participant_removed";
    /// Someone started watching a session.
    pub const WATCH_START: &str = "session.watch_start";
    /// Someone stopped watching a session.
    pub const WATCH_STOP: &str = "session.watch_stop";
    /// A session started.
    pub const SESSION_START: &str = "session.start";
    /// A session ended.
    pub const SESSION_END: &str = "session.end";
    /// Someone asked for somebody else's session to end.
    pub const SESSION_END_REQUESTED: &str = "session.end_requested";
    /// A session ended because its owner lost the grant it was opened under.
    pub const SESSION_ACCESS_REVOKED: &str = "session.access_revoked";
    /// Someone replayed a session's recording.
    pub const RECORDING_REPLAY: &str = "recording.replay";
    /// Someone downloaded a session's recording.
    pub const RECORDING_DOWNLOAD: &str = "recording.download";
    /// A recording passed its retention and was deleted.
    pub const RECORDING_EXPIRED: &str = "recording.expired";
    /// A right password; the login waits for its second factor's code.
    pub const LOGIN_PENDING: &str = "auth.login_pending";
    /// A user switched their second factor on (enrolment confirmed).
    pub const SECOND_FACTOR_ENABLE: &str = "second_factor.enable";
    /// A user switched their second factor off, with a code.
    pub const SECOND_FACTOR_DISABLE: &str = "second_factor.disable";
    /// An administrator removed a user's second factor.
    pub const SECOND_FACTOR_RESET: &str = "second_factor.reset";
    /// A login used up one of its recovery codes.
    pub const RECOVERY_CODE_USED: &str = "second_factor.recovery_code_used";
    /// A role's second-factor requirement changed.
    pub const ROLE_SECOND_FACTOR: &str = "role.second_factor";
}

/// One audit event being built.
#[derive(Debug, Clone)]
pub struct Event(NewAuditEvent);

impl Event {
    /// An event of kind `action` (see [`action`]).
    pub fn new(action: &str) -> Self {
        Self(NewAuditEvent {
            actor: None,
            action: action.to_owned(),
            target: None,
            client_addr: None,
            details: json!({}),
        })
    }

    /// Who did it.
    pub fn actor(mut self, actor: impl Into<String>) -> Self {
        self.0.actor = Some(actor.into());
        self
    }

    /// What it was done to.
    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.0.target = Some(target.into());
        self
    }

    /// Where the actor came from.
    pub fn client_addr(mut self, addr: impl Into<String>) -> Self {
        self.0.client_addr = Some(addr.into());
        self
    }

    /// Extra details (a JSON object).
    pub fn details(mut self, details: Value) -> Self {
        self.0.details = details;
        self
    }
}

/// Appends audit events. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Audit {
    store: Store,
    /// Where stored events are copied (a file, syslog), if anywhere.
    export: Option<export::Export>,
}

impl Audit {
    /// An audit log in `store`.
    pub fn new(store: Store) -> Self {
        Self {
            store,
            export: None,
        }
    }

    /// An audit log in `store`, each stored event also copied to `export`.
    pub fn with_export(store: Store, export: Option<export::Export>) -> Self {
        Self { store, export }
    }

    /// The store the log is kept in.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Records an event. A failure to write is logged loudly, not returned:
    /// the action it describes has already happened.
    pub async fn record(&self, event: Event) {
        counts::audited(&event.0);
        match self.store.insert_audit(&event.0).await {
            Ok(_) => {
                if let Some(out) = &self.export {
                    out.send(&event.0);
                }
            }
            Err(e) => {
                counts::write_failed();
                tracing::error!(action = %event.0.action, error = %e, "could not write audit event");
            }
        }
    }

    /// Records several events in one transaction (one commit), falling back
    /// to one at a time if that fails.
    pub async fn record_all(&self, events: Vec<Event>) {
        for event in &events {
            counts::audited(&event.0);
        }
        write_all(
            self,
            events.into_iter().map(|e| Write::Audit(e.0)).collect(),
        )
        .await;
    }
}

/// Writes history and session audit events from the registry's lifecycle
/// channel, in order, until the channel closes.
pub struct HistoryWriter;

impl HistoryWriter {
    /// Starts the writer task, writing through `audit` (its store and export).
    pub fn spawn(
        audit: Audit,
        mut lifecycle: mpsc::UnboundedReceiver<Lifecycle>,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            // Whatever queued up while the last batch was written goes in
            // the next one, in one transaction: 1,000 sessions ending at
            // once cost a few commits, not 2,000.
            let mut queued = Vec::with_capacity(MAX_BATCH);
            while lifecycle.recv_many(&mut queued, MAX_BATCH).await > 0 {
                let mut writes = Vec::with_capacity(queued.len() * 2);
                let mut flushes = Vec::new();
                for msg in queued.drain(..) {
                    match msg {
                        Lifecycle::Started(s) => {
                            counts::started(&s);
                            started(&s, &mut writes)
                        }
                        Lifecycle::Ended(e) => {
                            counts::ended(&e);
                            ended(&e, &mut writes)
                        }
                        // After its session's history row, in the same batch.
                        Lifecycle::Recorded(r) => {
                            counts::recorded(&r);
                            recordings::completed(r, &mut writes)
                        }
                        Lifecycle::Flush(done) => flushes.push(done),
                    }
                }
                write_all(&audit, writes).await;
                for done in flushes {
                    let _ = done.send(());
                }
            }
        })
    }
}

/// The most lifecycle messages written in one transaction.
const MAX_BATCH: usize = 1024;

/// How long a batch waits for a database that cannot be reached (restarting,
/// failing over, a network blip) before it is given up and logged: long
/// enough for a restart, short enough that a stop with the database gone
/// does not hang for ever. Meanwhile later lifecycle messages queue up in
/// the (unbounded) lifecycle channel, in order.
const PATIENCE: std::time::Duration = std::time::Duration::from_secs(60);

/// [`Store::write_batch`], tried again while the database is unavailable
/// (for up to [`PATIENCE`]). Retrying keeps history to one row per session
/// even if a batch did commit just before its connection dropped: the
/// row's key refuses a second start (the batch then goes row by row) and an
/// end only closes a row still open. Audit events of such a batch would be
/// written twice: a rarer harm than losing them.
async fn write_batch_patiently(
    store: &Store,
    writes: &[Write],
) -> gatehouse_store::Result<Vec<bool>> {
    let started = tokio::time::Instant::now();
    let mut pause = std::time::Duration::from_millis(100);
    let mut warned = false;
    loop {
        match store.write_batch(writes).await {
            Err(e) if e.is_unavailable() && started.elapsed() < PATIENCE => {
                if !warned {
                    tracing::warn!(error = %e, rows = writes.len(), "the database is unavailable: history waits and tries again");
                    warned = true;
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(std::time::Duration::from_secs(2));
            }
            result => {
                if warned && result.is_ok() {
                    tracing::info!(rows = writes.len(), waited = ?started.elapsed(), "history written after the database came back");
                }
                return result;
            }
        }
    }
}

/// Writes a batch in one transaction; if that fails, row by row, so one bad
/// row costs only itself.
async fn write_all(audit: &Audit, writes: Vec<Write>) {
    let store = &audit.store;
    if writes.is_empty() {
        return;
    }
    let results = match write_batch_patiently(store, &writes).await {
        Ok(changed) => writes
            .iter()
            .zip(changed)
            .map(|(w, c)| (w, Ok(c)))
            .collect(),
        Err(e) if writes.len() == 1 => vec![(&writes[0], Err(e))],
        Err(e) => {
            tracing::warn!(error = %e, rows = writes.len(), "history batch failed; writing row by row");
            let mut results = Vec::with_capacity(writes.len());
            for w in &writes {
                let r = store
                    .write_batch(std::slice::from_ref(w))
                    .await
                    .map(|c| c[0]);
                results.push((w, r));
            }
            results
        }
    };
    for (write, result) in results {
        match (&result, write, &audit.export) {
            (Err(_), _, _) => counts::write_failed(),
            (Ok(true), Write::Audit(event), Some(out)) => out.send(event),
            _ => {}
        }
        match (write, result) {
            (_, Ok(true)) | (Write::HistoryStart(_) | Write::Audit(_), Ok(false)) => {}
            (Write::HistoryEnd(e), Ok(false)) => {
                tracing::warn!(session = %e.id, "history row was already complete")
            }
            (Write::HistoryStart(s), Err(e)) => {
                tracing::error!(session = %s.id, error = %e, "could not write history start")
            }
            (Write::HistoryEnd(h), Err(e)) => {
                tracing::error!(session = %h.id, error = %e, "could not write history end")
            }
            (Write::Audit(a), Err(e)) => {
                tracing::error!(action = %a.action, error = %e, "could not write audit event")
            }
            (Write::RecordingDone(d), Ok(false)) => {
                tracing::error!(session = %d.id, "a recording finished without its history row")
            }
            (Write::RecordingDone(d), Err(e)) => {
                tracing::error!(session = %d.id, error = %e, "could not index recording")
            }
        }
    }
}

fn started(s: &SessionView, writes: &mut Vec<Write>) {
    writes.push(Write::HistoryStart(HistoryStart {
        id: s.id,
        user_id: s.user_id,
        username: s.user.clone(),
        connection_id: s.connection.id,
        connection_name: s.connection.name.clone(),
        protocol: s.protocol.to_string(),
        client_addr: s.client_addr.clone(),
        target: s.target.clone(),
        node: s.node.clone(),
        started_at: s.started_at,
        recording_path: s
            .recording
            .then(|| gatehouse_recording::relative_path(&s.id.to_string(), s.started_at)),
    }));
    let event = Event::new(action::SESSION_START)
        .actor(&s.user)
        .target(s.id.to_string())
        .client_addr(&s.client_addr)
        .details(json!({
            "connection": s.connection.name,
            "protocol": s.protocol,
            "target": s.target,
            "recording": s.recording,
        }));
    writes.push(Write::Audit(event.0));
}

fn ended(e: &EndedSession, writes: &mut Vec<Write>) {
    let s = &e.session;
    writes.push(Write::HistoryEnd(HistoryEnd {
        id: s.id,
        ended_at: e.ended_at,
        end_reason: e.end_reason,
        ended_by: e.ended_by.clone(),
        end_message: e.end_message.clone(),
        bytes_from_client: s.bytes_from_client,
        bytes_to_client: s.bytes_to_client,
        participants: serde_json::to_value(&s.participants).unwrap_or_else(|_| json!([])),
        detail: serde_json::Value::Object(s.detail.clone()),
    }));
    let event = Event::new(action::SESSION_END)
        .target(s.id.to_string())
        .details(json!({
            "user": s.user,
            "connection": s.connection.name,
            "end_reason": e.end_reason,
            "message": e.end_message,
            "bytes_from_client": s.bytes_from_client,
            "bytes_to_client": s.bytes_to_client,
        }))
        // The actor of an end is whoever caused it: a person, or the owner's own side.
        .actor(e.ended_by.as_deref().unwrap_or(&s.user));
    writes.push(Write::Audit(event.0));
}

/// Ends, as `node_lost`, every history row `node` left open when it last
/// stopped without recording the ends (a crash or `kill -9`). An orderly
/// stop closes its rows itself as `gateway_shutdown`, so an auditor can tell
/// the two apart.
pub async fn close_dangling(
    audit: &Audit,
    node: &str,
) -> Result<Vec<SessionId>, gatehouse_store::StoreError> {
    let ids = audit
        .store
        .close_open_history(node, EndReason::NodeLost, OffsetDateTime::now_utc())
        .await?;
    let events = ids
        .iter()
        .map(|id| {
            Event::new(action::SESSION_END)
                .target(id.to_string())
                .details(json!({ "end_reason": EndReason::NodeLost, "recovered_at_start": true }))
        })
        .collect();
    audit.record_all(events).await;
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use gatehouse_domain::{ConnectionId, EndReason, Protocol, RoleName, Username};
    use gatehouse_sessions::{ConnectionRef, EndRequest, NewSession, Registry};
    use gatehouse_store::{AuditQuery, HistoryQuery, NewUser};

    use super::*;

    /// A store in a temporary folder, with the user ops1 (for this crate's tests).
    pub(crate) async fn store_with_owner() -> (tempfile::TempDir, Store, gatehouse_store::UserRecord)
    {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).await.unwrap();
        let owner = store
            .create_user(NewUser {
                username: Username::parse("ops1").unwrap(),
                password_hash: "x".into(),
                roles: vec![RoleName::parse("user").unwrap()],
            })
            .await
            .unwrap();
        (dir, store, owner)
    }

    #[tokio::test]
    async fn every_session_leaves_one_history_row_and_start_end_audit_events() {
        let (_dir, store, owner) = store_with_owner().await;
        let (registry, lifecycle) = Registry::new("gw-1");
        let writer = HistoryWriter::spawn(Audit::new(store.clone()), lifecycle);

        let handle = registry.open(NewSession {
            user: "ops1".into(),
            user_id: owner.id,
            connection: ConnectionRef {
                id: ConnectionId::new(),
                name: "prod-db".into(),
            },
            protocol: Protocol::Ssh,
            client_addr: "203.0.113.7".into(),
            target: "10.0.0.5:22".into(),
            recording: false,
            record_input: false,
            terminal: Some(gatehouse_sessions::Terminal { cols: 80, rows: 24 }),
            limits: Default::default(),
        });
        handle.record_input(b"ls\r\n");
        registry.end(
            handle.id(),
            EndRequest {
                reason: EndReason::EndedByAdmin,
                by: Some("admin".into()),
                message: Some("maintenance".into()),
            },
        );
        drop(handle);
        registry.flush_lifecycle().await;

        let (total, rows) = store
            .list_history(&HistoryQuery {
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(total, 1);
        assert_eq!(rows[0].end_reason, Some(EndReason::EndedByAdmin));
        assert_eq!(rows[0].ended_by.as_deref(), Some("admin"));
        assert_eq!(rows[0].end_message.as_deref(), Some("maintenance"));
        assert_eq!(rows[0].bytes_from_client, 4);

        let (_, events) = store
            .list_audit(&AuditQuery {
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        let actions: Vec<_> = events
            .iter()
            .map(|e| (e.action.as_str(), e.actor.as_deref()))
            .collect();
        assert_eq!(
            actions,
            [
                (action::SESSION_END, Some("admin")),
                (action::SESSION_START, Some("ops1"))
            ]
        );

        drop(registry);
        writer.await.unwrap();
    }
}
