//! The state every channel of a logged-in connection shares ([`Ctx`]):
//! who logged in, the client, and the connection's one gate.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use gatehouse_access::Principal;
use gatehouse_audit::{Event, action};
use gatehouse_domain::ConnectionName;
use russh::ChannelId;
use russh::server::Handle;
use serde_json::json;
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;

use crate::Front;
use crate::gate::Gate;

/// What every channel of a logged-in connection shares.
pub(crate) struct Ctx {
    pub(crate) front: Arc<Front>,
    pub(crate) principal: Principal,
    pub(crate) peer: String,
    /// The connection named at login, if any (else the menu picks one).
    pub(crate) connection: Option<ConnectionName>,
    pub(crate) client: Handle,
    pub(crate) gone: CancellationToken,
    /// The one gate of this connection, with the connection it was opened for.
    pub(crate) gate: OnceCell<(ConnectionName, Result<Arc<Gate>, String>)>,
    /// The channels whose agent request we accepted. russh hands the
    /// request to the channel before it asks us, so the channel's own
    /// copy says nothing about our answer.
    pub(crate) agents: Mutex<HashSet<ChannelId>>,
    /// The tcp tunnels opened by `ssh -L` without a connection at login.
    pub(crate) tunnels: crate::tcp::Tunnels,
}

impl Ctx {
    /// The gate to `connection`, opened by the first channel that asks;
    /// later channels share it (or its failure). A client connection has
    /// one gate, so asking for another connection fails.
    pub(crate) async fn gate(&self, connection: &ConnectionName) -> Result<Arc<Gate>, String> {
        // Boxed: opening a gate (a store lookup, the dial and the target's
        // handshake) is a deep future, and an async caller keeps room for
        // the largest future it awaits for as long as it lives; unboxed, the
        // channel's task carried those 6 KiB for the whole session.
        let (opened_for, gate) = Box::pin(self.gate.get_or_init(|| async {
            let gate = Gate::open(
                &self.front,
                &self.principal,
                &self.peer,
                connection,
                self.client.clone(),
                self.gone.clone(),
            )
            .await
            .map_err(|e| e.0);
            (connection.clone(), gate)
        }))
        .await;
        if opened_for != connection {
            return Err(format!(
                "this SSH connection is already for {opened_for}; connect again for {connection}"
            ));
        }
        gate.clone()
    }

    /// The gate, if one was opened already.
    pub(crate) fn opened_gate(&self) -> Option<Arc<Gate>> {
        self.gate.get().and_then(|(_, g)| g.as_ref().ok().cloned())
    }

    /// Whether we accepted `channel`'s agent request; asking again says no.
    pub(crate) fn take_agent_grant(&self, channel: ChannelId) -> bool {
        self.agents
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&channel)
    }

    /// Audits a refused request.
    pub(crate) async fn refused(&self, what: &str, details: serde_json::Value) {
        self.front
            .audit
            .record(
                Event::new(action::SSH_REFUSED)
                    .actor(self.principal.username.as_str())
                    .target(
                        self.connection
                            .as_ref()
                            .map(ConnectionName::as_str)
                            .unwrap_or(""),
                    )
                    .client_addr(&self.peer)
                    .details(json!({ "refused": what, "details": details })),
            )
            .await;
    }
}
