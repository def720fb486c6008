//! One native SSH connection's way through the gateway: the target
//! connection and the registry session every channel of it shares.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use gatehouse_access::{AccessError, Principal};
use gatehouse_connect::Requester;
use gatehouse_domain::{ConnectionName, EndReason, Protocol};
use gatehouse_sessions::{ForwardGuard, SessionHandle, Terminal};
use gatehouse_ssh::TargetConnection;
use russh::Disconnect;
use russh::server::Handle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::Front;

/// How long channels get to tell their clients why the session ended.
const FAREWELL: Duration = Duration::from_secs(1);
/// How long a client whose channels we closed gets to hang up itself
/// before we disconnect it. OpenSSH drops output it has not yet written
/// when a disconnect arrives, so the reason would be lost.
const HANG_UP: Duration = Duration::from_secs(2);
/// How long after the round trip a client that was told may still take to
/// write the reason to its terminal.
const GRACE: Duration = Duration::from_millis(100);
/// How often a session with no channel checks that its target is there.
const TARGET_CHECK: Duration = Duration::from_secs(5);

/// The target and the live session of one client connection. Channels
/// relay through it; [`Gate::watch`] ends everything together.
pub(crate) struct Gate {
    /// The connection's name, as the user chose it.
    pub(crate) connection: ConnectionName,
    /// Whether the connection allows port forwarding.
    pub(crate) allow_forwarding: bool,
    /// The logged-in target.
    pub(crate) target: TargetConnection,
    /// The registry session; taken out (ending it) when the gate closes.
    handle: RwLock<Option<SessionHandle>>,
    /// Cancelled when the session must end: relays say goodbye and stop.
    pub(crate) stop: CancellationToken,
    /// The channel relays, waited for before the client is disconnected.
    pub(crate) relays: TaskTracker,
    /// The reason to record if the client leaves now (the target closed the
    /// last shell, so the client went away because of it).
    pending_reason: Mutex<Option<EndReason>>,
    /// Why the session ended, kept once its handle is gone.
    ended: std::sync::OnceLock<gatehouse_sessions::EndRequest>,
    /// How many channels were told why the session ended (their clients
    /// hang up by themselves).
    pub(crate) told: AtomicUsize,
    /// The remote forwards listed on the session, by address and bound port.
    remote_forwards: Mutex<HashMap<(String, u32), ForwardGuard>>,
}

/// Why no gate could be opened, in words for the user's terminal.
#[derive(Debug)]
pub(crate) struct GateError(pub(crate) String);

impl Gate {
    /// Dials `connection` for `who` and registers the session; the session
    /// then ends when the client goes (`client_gone`), the target goes, or
    /// somebody ends it.
    pub(crate) async fn open(
        front: &Front,
        who: &Principal,
        client_addr: &str,
        connection: &ConnectionName,
        client: Handle,
        client_gone: CancellationToken,
    ) -> Result<Arc<Gate>, GateError> {
        let refused = || {
            GateError(format!(
                "connection {connection} is not available to {}: it does not exist or is not granted to you",
                who.username
            ))
        };
        // The store's and the vault's failures are ours, not the user's:
        // logged here, and only named as such on their terminal.
        let internal = |e: AccessError| {
            tracing::error!(error = %e, user = %who.username, %connection, "could not look up an SSH connection");
            GateError(format!(
                "could not open {connection}: the gateway hit an internal error (it is logged)"
            ))
        };
        let granted = front.access.connections_for(who).await.map_err(internal)?;
        let record = granted
            .into_iter()
            .find(|c| &c.name == connection)
            .ok_or_else(refused)?;
        if record.protocol() != Protocol::Ssh {
            return Err(GateError(format!(
                "{connection} is a {} connection, not SSH: open it from the gateway's web page",
                record.protocol()
            )));
        }
        let spec = front
            .access
            .target_for(who, record.id)
            .await
            .map_err(|e| match e {
                AccessError::NotFound(_) | AccessError::Forbidden(_) => refused(),
                e => internal(e),
            })?;
        let requester = Requester {
            principal: who,
            client_addr,
        };
        let target = gatehouse_ssh::dial::dial(&front.opener, requester, &spec)
            .await
            .map_err(|e| GateError(format!("could not open {connection}: {e}")))?;
        // Registered before the client asks for its pty (dialling starts at
        // login): 0x0 is "not known yet", and the first channel's pty
        // request gives the size the recording's header then carries.
        let handle = match front
            .opener
            .register(requester, &spec, Some(Terminal { cols: 0, rows: 0 }))
            .await
        {
            Ok(handle) => handle,
            Err(e) => {
                target.disconnect("internal error").await;
                return Err(GateError(format!("could not open {connection}: {e}")));
            }
        };
        tracing::info!(session = %handle.id(), user = %who.username, %connection, "native SSH session opened");
        handle.set_detail("front_end", serde_json::json!("native ssh"));
        let gate = Arc::new(Gate {
            connection: connection.clone(),
            allow_forwarding: spec
                .connection
                .target
                .ssh()
                .is_some_and(|ssh| ssh.allow_forwarding),
            target,
            handle: RwLock::new(Some(handle)),
            stop: CancellationToken::new(),
            relays: TaskTracker::new(),
            pending_reason: Mutex::new(None),
            ended: std::sync::OnceLock::new(),
            told: AtomicUsize::new(0),
            remote_forwards: Mutex::default(),
        });
        tokio::spawn(gate.clone().watch(client, client_gone));
        Ok(gate)
    }

    /// Runs `f` on the live session, if it is still live.
    pub(crate) fn with_session<T>(&self, f: impl FnOnce(&SessionHandle) -> T) -> Option<T> {
        let handle = self.handle.read().unwrap_or_else(|e| e.into_inner());
        handle.as_ref().map(f)
    }

    /// Keeps a remote forward listed until it is cancelled or the session ends.
    pub(crate) fn keep_remote_forward(&self, address: &str, port: u32, listed: ForwardGuard) {
        self.remote_forwards
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((address.to_owned(), port), listed);
    }

    /// Takes a cancelled remote forward off the session.
    pub(crate) fn drop_remote_forward(&self, address: &str, port: u32) {
        self.remote_forwards
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&(address.to_owned(), port));
    }

    /// The target closed a shell or command: if the client leaves now, that
    /// is why.
    pub(crate) fn target_finished(&self) {
        *self
            .pending_reason
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(EndReason::TargetClosed);
    }

    /// Waits for the end — asked for, the client gone, or the target gone —
    /// then has every channel say goodbye, closes both connections, and
    /// takes the session out of the registry with the reason that stands.
    async fn watch(self: Arc<Self>, client: Handle, client_gone: CancellationToken) {
        let Some(ended) = self.with_session(|h| h.end_signal()) else {
            return;
        };
        let mut check = tokio::time::interval(TARGET_CHECK);
        let reason = loop {
            tokio::select! {
                _ = ended.cancelled() => break EndReason::Error,
                _ = client_gone.cancelled() => {
                    break self
                        .pending_reason
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .unwrap_or(EndReason::ClientClosed);
                }
                _ = check.tick() => if self.target.is_closed() {
                    break EndReason::TargetClosed;
                },
            }
        };
        let request = self
            .with_session(|h| h.settle(reason))
            .unwrap_or_else(|| gatehouse_sessions::EndRequest::because(reason));
        let why = request.describe();
        tracing::info!(reason = %request.reason, "native SSH session ending");
        let _ = self.ended.set(request);
        // Out of the registry and into history now: the end is when it was
        // asked for, not when a slow client has finished hearing about it.
        let handle = self
            .handle
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        drop(handle);
        self.stop.cancel();
        self.relays.close();
        // Each relay takes at most a second for the reason and another for
        // the exit status (see `channel::downstream`).
        let _ = tokio::time::timeout(2 * FAREWELL, self.relays.wait()).await;
        // A client told on a channel hangs up itself once it has shown the
        // reason. One with no such channel (`ssh -N`, forwards only, a
        // ControlMaster without sessions) would wait: its disconnect message
        // carries the reason instead, at once.
        let told = self.told.load(Ordering::Relaxed);
        tracing::debug!(
            told,
            relays = self.relays.len(),
            "native SSH session: farewells done"
        );
        if told > 0 {
            // A plain `ssh` hangs up by itself once it has shown the reason;
            // a ControlMaster never does (its multiplexed clients did). A
            // round trip proves the client has taken in everything sent
            // before it — OpenSSH answers a request it does not expect with
            // a refusal, and writes out a channel's output before it reads
            // the network again — so after it, and a moment's grace for a
            // slow terminal, the disconnect loses nothing.
            let round_trip = async {
                let _ = client.cancel_forward_tcpip(String::new(), 0).await;
                tokio::time::sleep(GRACE).await;
            };
            tokio::select! {
                _ = client_gone.cancelled() => {}
                _ = round_trip => {}
                _ = tokio::time::sleep(HANG_UP) => {}
            }
        }
        // Bounded both: a peer that stopped reading does not hold the session.
        if !client_gone.is_cancelled() {
            let bye = client.disconnect(Disconnect::ByApplication, why.clone(), "en".into());
            let _ = tokio::time::timeout(FAREWELL, bye).await;
        }
        let _ = tokio::time::timeout(FAREWELL, self.target.disconnect(&why)).await;
    }

    /// Why the session ended, once it has.
    pub(crate) fn end_request(&self) -> Option<gatehouse_sessions::EndRequest> {
        self.ended
            .get()
            .cloned()
            .or_else(|| self.with_session(|h| h.end_request()).flatten())
    }
}
