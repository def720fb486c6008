//! Reaching an SSH connection's target for a session: the SSH front ends'
//! side of opening a session. The target's host key is checked against the
//! pinned one, or pinned on first use; a failure is audited through the
//! core ([`Opener::failed`]), which the caller tells the client about.

use gatehouse_access::TargetSpec;
use gatehouse_connect::{OpenError, Opener, Requester, action};
use gatehouse_domain::{SshAuth, Target};
use serde_json::json;

use crate::{ConnectError, Credential, HostKeyPolicy, TargetConnection};

/// Dials the SSH target of `spec` and logs in with its stored secret. A
/// first-use host key is pinned (and audited); failures are audited.
pub async fn dial(
    opener: &Opener,
    who: Requester<'_>,
    spec: &TargetSpec,
) -> Result<TargetConnection, OpenError> {
    let connection = &spec.connection;
    let Target::Ssh(ssh) = &connection.target else {
        let error = ConnectError::BadSettings("not an SSH connection".into());
        return Err(failed(opener, who, spec, error).await);
    };
    let Some(secret) = spec.secret.clone() else {
        let error = ConnectError::BadSettings("the connection has no secret".into());
        return Err(failed(opener, who, spec, error).await);
    };
    let credential = match ssh.auth {
        SshAuth::Password => Credential::Password(secret),
        SshAuth::PrivateKey => Credential::PrivateKey(secret),
    };
    let addr = match ssh.addr() {
        Ok(addr) => addr,
        Err(e) => {
            let error = ConnectError::BadSettings(e.to_string());
            return Err(failed(opener, who, spec, error).await);
        }
    };
    let policy = HostKeyPolicy {
        pinned: ssh.host_key.clone(),
    };
    let timeout = opener.settings().connect_timeout;
    let started = std::time::Instant::now();
    let dialled = tokio::select! {
        r = crate::connect(&addr, &ssh.username, &credential, &policy, timeout) => r,
        _ = opener.shutdown().cancelled() => return Err(OpenError::ShuttingDown),
    };
    // Failed dials count too: a target that times out is what operators look for.
    metrics::histogram!("gatehouse_target_dial_seconds", "protocol" => "ssh")
        .record(started.elapsed().as_secs_f64());
    let target = match dialled {
        Ok(target) => target,
        Err(error) => return Err(failed(opener, who, spec, error).await),
    };
    if policy.pinned.is_none() {
        match opener
            .access()
            .pin_host_key(connection.id, &target.host_key())
            .await
        {
            Ok(true) => {
                opener
                    .audit()
                    .record(
                        gatehouse_audit::Event::new(action::HOST_KEY_PINNED)
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

/// Audits that `spec`'s SSH target could not be reached or refused us (the
/// dial, or a shell it refused) and gives the error the client is told.
pub async fn failed(
    opener: &Opener,
    who: Requester<'_>,
    spec: &TargetSpec,
    error: ConnectError,
) -> OpenError {
    let audit_action = match error {
        ConnectError::HostKeyMismatch { .. } => action::HOST_KEY_MISMATCH,
        _ => action::SESSION_FAILED,
    };
    opener
        .failed(
            who,
            spec,
            audit_action,
            failure_code(&error),
            error.to_string(),
        )
        .await
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
