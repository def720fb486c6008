//! Dialling a target ([`connect`]): the client's tuning, the host-key check
//! and the login, ending in a [`TargetConnection`].

use std::sync::{Arc, Mutex};

use gatehouse_domain::TargetAddr;
use russh::client::{self, AuthResult};
use russh::keys::{PrivateKeyWithHashAlg, PublicKey};
use secrecy::ExposeSecret;

use crate::handler::{AgentSender, Client, ForwardedSender};
use crate::{ConnectError, Credential, HostKeyPolicy, TargetConnection, fingerprint, protocol};

// ---- Client configuration (benchmarked; see bench/README.md) ----------------

/// How the gateway's SSH client to targets is tuned. The one place for it:
/// each choice was measured with `bench/run` (issue 8).
pub(crate) fn client_config() -> client::Config {
    client::Config {
        // Idle policy belongs to the gateway, not to a library default.
        inactivity_timeout: None,
        keepalive_interval: Some(std::time::Duration::from_secs(30)),
        keepalive_max: 3,
        // Keystrokes and echoes are single small packets: never hold them
        // back to coalesce (Nagle), on this hop as on the client's.
        nodelay: true,
        // AES-GCM before ChaCha20-Poly1305: with AES-NI it is the cheaper
        // AEAD on both ends (here: OpenSSL 4.1 GB/s AES-256-GCM vs 3.8 GB/s
        // ChaCha20-Poly1305 at 16 KiB; and OpenSSH's own chacha20-poly1305
        // construction costs the target more than its AES-GCM). The client's
        // order decides what the target uses.
        preferred: russh::Preferred {
            cipher: std::borrow::Cow::Borrowed(&[
                russh::cipher::AES_256_GCM,
                russh::cipher::CHACHA20_POLY1305,
                russh::cipher::AES_256_CTR,
                russh::cipher::AES_192_CTR,
                russh::cipher::AES_128_CTR,
            ]),
            ..Default::default()
        },
        // The largest packet the target may send us (russh's ceiling), so
        // bulk output can cost fewer decryptions, channel messages and relay
        // wake-ups than with the 32 KiB default. Measured through the SSH
        // listener, three interleaved runs each: median 0.97× direct against
        // 0.86× with 32 KiB (within this shared machine's noise).
        maximum_packet_size: 65535,
        // The 2 MiB window stays: the target's pty, not the window, limits
        // terminal output.
        ..Default::default()
    }
}

// ---- end of client configuration --------------------------------------------

/// Dials `addr`, verifies its host key and logs in as `user`, giving up
/// after `timeout`. The caller opens channels on the connection.
pub async fn connect(
    addr: &TargetAddr,
    user: &str,
    credential: &Credential,
    host_key: &HostKeyPolicy,
    timeout: std::time::Duration,
) -> Result<TargetConnection, ConnectError> {
    tokio::time::timeout(timeout, open(addr, user, credential, host_key))
        .await
        .map_err(|_| ConnectError::Timeout(timeout))?
}

async fn open(
    addr: &TargetAddr,
    user: &str,
    credential: &Credential,
    host_key: &HostKeyPolicy,
) -> Result<TargetConnection, ConnectError> {
    let pinned = host_key
        .pinned
        .as_deref()
        .map(|k| {
            PublicKey::from_openssh(k)
                .map_err(|e| ConnectError::BadSettings(format!("pinned host key: {e}")))
        })
        .transpose()?;
    let presented = Arc::new(Mutex::new(None));
    let forwarded = ForwardedSender::default();
    let agent = AgentSender::default();
    let handler = Client {
        pinned: pinned.clone(),
        presented: presented.clone(),
        forwarded: forwarded.clone(),
        agent: agent.clone(),
    };
    let config = Arc::new(client_config());
    let tcp = tokio::net::TcpStream::connect((addr.host(), addr.port()))
        .await
        .map_err(|e| ConnectError::Unreachable(format!("{addr}: {e}")))?;
    let _ = tcp.set_nodelay(true);
    let seen = || presented.lock().ok().and_then(|k| k.clone());
    let mut handle = match client::connect_stream(config, tcp, handler).await {
        Ok(h) => h,
        Err(russh::Error::UnknownKey) => {
            return Err(match (pinned, seen()) {
                (Some(expected), Some(got)) => ConnectError::HostKeyMismatch {
                    expected: fingerprint(&expected),
                    presented: fingerprint(&got),
                },
                _ => ConnectError::Protocol("the target presented a host certificate".into()),
            });
        }
        Err(e) => return Err(protocol(e)),
    };
    let host_key = seen().ok_or_else(|| ConnectError::Protocol("no host key seen".into()))?;

    let auth = match credential {
        Credential::Password(p) => handle
            .authenticate_password(user, p.expose_secret())
            .await
            .map_err(protocol)?,
        Credential::PrivateKey(k) => {
            let key = russh::keys::decode_secret_key(k.expose_secret(), None)
                .map_err(|e| ConnectError::BadSettings(format!("private key: {e}")))?;
            let hash = handle
                .best_supported_rsa_hash()
                .await
                .map_err(protocol)?
                .flatten();
            handle
                .authenticate_publickey(user, PrivateKeyWithHashAlg::new(Arc::new(key), hash))
                .await
                .map_err(protocol)?
        }
    };
    if !matches!(auth, AuthResult::Success) {
        return Err(ConnectError::AuthFailed);
    }
    Ok(TargetConnection::new(handle, host_key, forwarded, agent))
}
