//! Opening a gateway session, the same way for every front end.
//!
//! An [`Opener`] takes a [`Requester`] (the authenticated person and where
//! they connect from) and the [`TargetSpec`] access control handed out for
//! a connection they may use. Each front end reaches its own target (an SSH
//! server, a web application) and reports a failure through
//! [`Opener::failed`], which audits it; [`Opener::register`] puts the
//! session in the registry with the limits that apply, re-checking that the
//! person did not lose access while the target was being reached. Every
//! front end opens its sessions through here, so none owns any of this
//! bookkeeping, and none of it knows a protocol.

use std::time::Duration;

pub mod policy;
pub mod tls;

use gatehouse_access::{Access, Principal, TargetSpec};
pub use gatehouse_audit::action;
use gatehouse_audit::{Audit, Event};
use gatehouse_domain::{ConnectionId, EndReason, Protocol};
use gatehouse_sessions::{ConnectionRef, NewSession, Registry, SessionHandle, Terminal};
use gatehouse_store::LimitSettings;
use serde_json::json;
use tokio_util::sync::CancellationToken;

/// Gateway settings that shape every session.
#[derive(Clone, Debug)]
pub struct OpenSettings {
    /// How long dialling, key exchange and login to a target may take.
    pub connect_timeout: Duration,
    /// The gateway-wide idle and duration limits.
    pub session_limits: LimitSettings,
}

/// Who is opening a session, and from where.
#[derive(Clone, Copy, Debug)]
pub struct Requester<'a> {
    /// The authenticated person.
    pub principal: &'a Principal,
    /// Their client's address, as shown in Active Sessions.
    pub client_addr: &'a str,
}

/// Why a session could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The target could not be reached or refused us.
    #[error("{message}")]
    Target {
        /// A stable code for clients (`target_unreachable`, `host_key_mismatch`, …).
        code: &'static str,
        /// What happened.
        message: String,
    },
    /// The gateway is stopping.
    #[error("the gateway is shutting down")]
    ShuttingDown,
    /// The gateway could not read what it needs (limits, recording
    /// settings); refused rather than let a session escape policy.
    #[error("could not read the session settings")]
    Internal,
}

impl OpenError {
    /// A stable code for clients.
    pub fn code(&self) -> &'static str {
        match self {
            OpenError::Target { code, .. } => code,
            OpenError::ShuttingDown => "shutting_down",
            OpenError::Internal => "internal",
        }
    }
}

/// Opens sessions. Cheap to clone.
#[derive(Clone)]
pub struct Opener {
    access: Access,
    registry: Registry,
    audit: Audit,
    settings: OpenSettings,
    shutdown: CancellationToken,
}

impl Opener {
    /// An opener over the gateway's services; `shutdown` refuses new
    /// sessions and ends those that register while the gateway stops.
    pub fn new(
        access: Access,
        registry: Registry,
        audit: Audit,
        settings: OpenSettings,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            access,
            registry,
            audit,
            settings,
            shutdown,
        }
    }

    /// The access control sessions are opened under.
    pub fn access(&self) -> &Access {
        &self.access
    }

    /// The audit log.
    pub fn audit(&self) -> &Audit {
        &self.audit
    }

    /// The settings every session is opened with.
    pub fn settings(&self) -> &OpenSettings {
        &self.settings
    }

    /// Cancelled when the gateway begins to stop: a front end gives up
    /// dialling then.
    pub fn shutdown(&self) -> &CancellationToken {
        &self.shutdown
    }

    /// Audits and logs that reaching `spec`'s target failed and gives the
    /// error the client is told. `audit_action` is usually
    /// [`action::SESSION_FAILED`]; `code` is a stable code for clients
    /// (`target_unreachable`, `target_timeout`, …).
    pub async fn failed(
        &self,
        who: Requester<'_>,
        spec: &TargetSpec,
        audit_action: &'static str,
        code: &'static str,
        message: String,
    ) -> OpenError {
        let connection = &spec.connection;
        tracing::warn!(connection = %connection.name, error = %message, "could not open target");
        metrics::counter!(
            "gatehouse_target_dial_failures_total",
            "protocol" => connection.target.protocol().as_str(),
            "code" => code,
        )
        .increment(1);
        self.audit
            .record(
                Event::new(audit_action)
                    .actor(who.principal.username.as_str())
                    .target(connection.name.as_str())
                    .client_addr(who.client_addr)
                    .details(json!({ "code": code, "error": &message, "target": spec.display() })),
            )
            .await;
        OpenError::Target { code, message }
    }

    /// Registers the session with the limits that apply to it, recorded as
    /// its connection's recording settings say. A session
    /// registered while the gateway stops, or after its owner lost access
    /// during the dial, comes back already asked to end.
    pub async fn register(
        &self,
        who: Requester<'_>,
        spec: &TargetSpec,
        terminal: Option<Terminal>,
    ) -> Result<SessionHandle, OpenError> {
        self.register_as(who, spec, terminal).await
    }

    /// [`register`](Self::register) for a desktop: recorded as its
    /// connection's settings say, its size in pixels taken from its first
    /// key frame (see [`SessionHandle::record_picture`]) rather than a
    /// terminal's.
    pub async fn register_desktop(
        &self,
        who: Requester<'_>,
        spec: &TargetSpec,
    ) -> Result<SessionHandle, OpenError> {
        let unknown = Terminal { cols: 0, rows: 0 };
        self.register_as(who, spec, Some(unknown)).await
    }

    async fn register_as(
        &self,
        who: Requester<'_>,
        spec: &TargetSpec,
        terminal: Option<Terminal>,
    ) -> Result<SessionHandle, OpenError> {
        let connection = &spec.connection;
        let limits = self
            .access
            .session_limits(
                self.settings.session_limits,
                who.principal.user_id,
                connection.id,
                connection.name.as_str(),
            )
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "could not read session limits");
                OpenError::Internal
            })?;
        // Recording is audit evidence: without its setting, refuse rather than guess.
        let recording = self
            .access
            .store()
            .connection_recording(connection.id)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "could not read the recording settings");
                OpenError::Internal
            })?;
        let handle = self.registry.open(NewSession {
            user: who.principal.username.to_string(),
            user_id: who.principal.user_id,
            connection: ConnectionRef {
                id: connection.id,
                name: connection.name.to_string(),
            },
            protocol: connection.protocol(),
            client_addr: who.client_addr.to_owned(),
            target: spec.display(),
            // A TCP tunnel's contents are never recorded (issue 18): no
            // empty recording beside its history row either.
            recording: recording.recording && connection.protocol() != Protocol::Tcp,
            record_input: recording.record_input,
            limits,
            terminal,
        });
        if self.shutdown.is_cancelled() {
            // Opened while the gateway began to stop: end it like the others.
            handle.settle(EndReason::GatewayShutdown);
        } else if let Some(reason) = self.lost_access(who.principal, connection.id).await {
            // Locked or revoked while the target was being dialled: a lock or
            // revoke ends registered sessions, and this one registered just now.
            handle.settle(reason);
        }
        Ok(handle)
    }

    /// Why `who` may no longer hold a session on `connection`, if they may not.
    async fn lost_access(&self, who: &Principal, connection: ConnectionId) -> Option<EndReason> {
        let store = self.access.store();
        match store.user_by_id(who.user_id).await {
            Ok(Some(user)) if !user.disabled => {}
            Ok(_) => return Some(EndReason::UserLocked),
            Err(e) => {
                tracing::error!(error = %e, "could not re-check the user");
                return Some(EndReason::Error);
            }
        }
        match store.user_may_use(who.user_id, connection).await {
            Ok(true) => None,
            Ok(false) => Some(EndReason::AccessRevoked),
            Err(e) => {
                tracing::error!(error = %e, "could not re-check the grant");
                Some(EndReason::Error)
            }
        }
    }
}
