//! Opening a gateway session, the same way for every front end.
//!
//! An [`Opener`] takes a [`Requester`] (the authenticated person and where
//! they connect from) and the [`TargetSpec`] access control handed out for
//! a connection they may use. [`Opener::dial`] reaches the target — host
//! key checked against the pinned one, or pinned on first use, failures
//! audited — and [`Opener::register`] puts the session in the registry with
//! the limits that apply, re-checking that the person did not lose access
//! while the target was being dialled. The browser terminal and the native
//! SSH listener both open their sessions through here, so neither owns any
//! of this bookkeeping.

use std::time::Duration;

use gatehouse_access::{Access, Principal, TargetSecret, TargetSpec};
use gatehouse_audit::{Audit, Event, action};
use gatehouse_domain::{ConnectionId, EndReason};
use gatehouse_sessions::{ConnectionRef, NewSession, Registry, SessionHandle};
use gatehouse_ssh::{ConnectError, Credential, HostKeyPolicy, TargetConnection};
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
    #[error("{error}")]
    Target {
        /// A stable code for clients (`target_unreachable`, `host_key_mismatch`, …).
        code: &'static str,
        /// What happened.
        error: ConnectError,
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

    /// Dials the target of `spec` and logs in with its stored secret.
    /// A first-use host key is pinned; failures are audited.
    pub async fn dial(
        &self,
        who: Requester<'_>,
        spec: &TargetSpec,
    ) -> Result<TargetConnection, OpenError> {
        let connection = &spec.connection;
        let credential = match &spec.secret {
            TargetSecret::Password(p) => Credential::Password(p.clone()),
            TargetSecret::PrivateKey(k) => Credential::PrivateKey(k.clone()),
        };
        let policy = HostKeyPolicy {
            pinned: connection.host_key.clone(),
        };
        let dialled = tokio::select! {
            r = gatehouse_ssh::connect(&spec.target, &connection.username, &credential, &policy, self.settings.connect_timeout) => r,
            _ = self.shutdown.cancelled() => return Err(OpenError::ShuttingDown),
        };
        let target = match dialled {
            Ok(target) => target,
            Err(error) => return Err(self.failed(who, spec, error).await),
        };
        if policy.pinned.is_none() {
            match self
                .access
                .pin_host_key(connection.id, &target.host_key())
                .await
            {
                Ok(true) => {
                    self.audit
                        .record(
                            Event::new(action::HOST_KEY_PINNED)
                                .actor(who.principal.username.as_str())
                                .target(connection.name.as_str())
                                .details(json!({ "fingerprint": target.host_key_fingerprint() })),
                        )
                        .await
                }
                Ok(false) => {}
                Err(e) => tracing::error!(error = %e, "could not pin host key"),
            }
        }
        Ok(target)
    }

    /// Audits and logs that opening `spec`'s target failed (the dial, or a
    /// shell the target refused) and gives the error the client is told.
    pub async fn failed(
        &self,
        who: Requester<'_>,
        spec: &TargetSpec,
        error: ConnectError,
    ) -> OpenError {
        let connection = &spec.connection;
        let code = failure_code(&error);
        let audit_action = match error {
            ConnectError::HostKeyMismatch { .. } => action::HOST_KEY_MISMATCH,
            _ => action::SESSION_FAILED,
        };
        tracing::warn!(connection = %connection.name, %error, "could not open target");
        self.audit
            .record(
                Event::new(audit_action)
                    .actor(who.principal.username.as_str())
                    .target(connection.name.as_str())
                    .client_addr(who.client_addr)
                    .details(json!({ "code": code, "error": error.to_string(), "target": spec.target.to_string() })),
            )
            .await;
        OpenError::Target { code, error }
    }

    /// Registers the session with the limits that apply to it, recorded as
    /// its connection's recording settings say. A session
    /// registered while the gateway stops, or after its owner lost access
    /// during the dial, comes back already asked to end.
    pub async fn register(
        &self,
        who: Requester<'_>,
        spec: &TargetSpec,
        cols: u16,
        rows: u16,
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
            protocol: connection.protocol,
            client_addr: who.client_addr.to_owned(),
            target: spec.target.to_string(),
            recording: recording.recording,
            record_input: recording.record_input,
            limits,
            cols,
            rows,
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

fn failure_code(e: &ConnectError) -> &'static str {
    match e {
        ConnectError::Unreachable(_) => "target_unreachable",
        ConnectError::HostKeyMismatch { .. } => "host_key_mismatch",
        ConnectError::AuthFailed => "target_auth_failed",
        ConnectError::BadSettings(_) => "bad_connection_settings",
        ConnectError::Timeout(_) => "target_timeout",
        ConnectError::Protocol(_) => "target_error",
    }
}
