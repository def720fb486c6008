//! The native SSH front end: people use their own `ssh`, `scp` and `sftp`
//! through the gateway, and every such session is an Active Session like a
//! browser one.
//!
//! [`serve`] accepts connections on the listener with the gateway's
//! [`host_key`]. A client logs in as `USER:CONNECTION` (or `USER`, to pick
//! from a menu) with the user's password or a public key they registered
//! ([`handler`]). The first channel that needs the target opens a [`gate`]:
//! the target dialled with the connection's stored credentials — the user
//! never sees them — and the session registered, through the same opener
//! as the browser terminal. Each session channel (shell, command, `scp`,
//! `sftp`) is relayed to a channel of its own on the target ([`channel`]);
//! port forwards are refused unless the connection allows them
//! ([`forward`]). Logged in without a connection, `ssh -L PORT:NAME:PORT`
//! reaches the `tcp` connection NAME as a tunnel session ([`tcp`]).
//! Ending the session from anywhere writes the reason into the user's
//! terminal and closes their connection.

mod approval;
mod channel;
mod ciphers;
mod ctx;
mod forward;
mod gate;
mod handler;
pub mod host_key;
mod login;
mod menu;
mod preauth;
mod second_factor;
mod shards;
mod tcp;
mod transfer;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use gatehouse_access::Access;
use gatehouse_audit::Audit;
use gatehouse_connect::Opener;
use russh::MethodKind;
use russh::keys::PrivateKey;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use approval::ApprovalLinks;
pub use ciphers::Ciphers;

/// What the SSH front end needs from the rest of the gateway.
#[derive(Clone)]
pub struct Front {
    /// Accounts, keys and connections.
    pub access: Access,
    /// The audit log.
    pub audit: Audit,
    /// Opens sessions (dial, pin, limits, registry).
    pub opener: Opener,
    /// SSH login approval links (`None`: off).
    pub approval: Option<ApprovalLinks>,
}

/// How long a client may take to log in.
const LOGIN_GRACE: Duration = Duration::from_secs(60);

/// How clients may log in, offered in this order.
pub(crate) fn login_methods() -> russh::MethodSet {
    russh::MethodSet::from(
        &[
            MethodKind::PublicKey,
            MethodKind::Password,
            MethodKind::KeyboardInteractive,
        ][..],
    )
}

fn server_config(host_key: PrivateKey, ciphers: &Ciphers) -> russh::server::Config {
    russh::server::Config {
        server_id: russh::SshId::Standard("SSH-2.0-Gatehouse".into()),
        methods: login_methods(),
        // Wrong guesses wait a second; the client's first "none" probe does not.
        auth_rejection_time: Duration::from_secs(1),
        auth_rejection_time_initial: Some(Duration::ZERO),
        max_auth_attempts: 6,
        keys: vec![host_key],
        // Idle policy belongs to the gateway (the registry's limits), not
        // to a library default; keepalives find vanished clients.
        inactivity_timeout: None,
        keepalive_interval: Some(Duration::from_secs(30)),
        keepalive_max: 3,
        nodelay: true,
        preferred: russh::Preferred {
            cipher: ciphers.names().into(),
            // No compression: with zlib negotiated, russh's disconnect
            // message reaches OpenSSH as "invalid format" (Dropbear: "zlib
            // error"), so a user whose session was ended never read why;
            // and on the fast links gateways sit on, zlib costs throughput.
            compression: std::borrow::Cow::Borrowed(&[russh::compression::NONE]),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// Serves native SSH clients on `listener` until `shutdown`, offering
/// `ciphers`; each connection runs on one of a thread per core
/// ([`shards`]). Live sessions are not ended here: the registry ends them
/// at shutdown like any other, and each shard stops once its connections
/// have ended.
pub async fn serve(
    listener: TcpListener,
    host_key: PrivateKey,
    ciphers: Ciphers,
    front: Front,
    shutdown: CancellationToken,
) {
    let config = Arc::new(server_config(host_key, &ciphers));
    let front = Arc::new(front);
    let preauth = Arc::new(preauth::PreAuth::default());
    let connection = move |socket, peer: SocketAddr| {
        let slot = preauth.enter(peer.ip());
        run_connection(config.clone(), front.clone(), socket, peer, slot)
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // Without shards (a thread that could not start), connections run on
    // the caller's runtime.
    let shards = shards::Shards::start(cores, connection.clone());
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.cancelled() => return,
        };
        let (socket, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: back off, go on.
                tracing::warn!(error = %e, "SSH accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = socket.set_nodelay(true);
        match &shards {
            Some(shards) => shards.run(socket, peer),
            None => drop(tokio::spawn(connection(socket, peer))),
        }
    }
}

async fn run_connection(
    config: Arc<russh::server::Config>,
    front: Arc<Front>,
    socket: tokio::net::TcpStream,
    peer: SocketAddr,
    slot: Result<preauth::Slot, preauth::Refused>,
) {
    let slot = match slot {
        Ok(slot) => slot,
        Err(refused) => {
            // Closed before the banner: no key exchange, no password
            // check. Each refusal is logged; a flood reaches the audit as
            // one event per report, with its count, so it cannot flood it.
            tracing::info!(%peer, per_address = refused.per_address, "SSH connection refused: too many not yet logged in");
            if let Some(refused_since) = refused.report {
                front
                    .audit
                    .record(
                        gatehouse_audit::Event::new(gatehouse_audit::action::SSH_LOGIN_FAILED)
                            .client_addr(peer.ip().to_string())
                            .details(serde_json::json!({
                                "reason": "too_many_not_logged_in",
                                "per_address": refused.per_address,
                                "refused_since_last_report": refused_since,
                            })),
                    )
                    .await;
            }
            return;
        }
    };
    let gone = CancellationToken::new();
    let handler = handler::Conn::new(front, peer.ip().to_string(), gone.clone());
    let logged_in = handler.logged_in();
    match russh::server::run_stream(config, socket, handler).await {
        Ok(session) => {
            let client = session.handle();
            let deadline = async {
                tokio::select! {
                    // Logged in: the place among those logging in is free.
                    _ = logged_in.cancelled() => drop(slot),
                    _ = tokio::time::sleep(LOGIN_GRACE) => {
                        let _ = client
                            .disconnect(
                                russh::Disconnect::ByApplication,
                                "login took too long".into(),
                                "en".into(),
                            )
                            .await;
                    }
                }
                std::future::pending::<()>().await
            };
            tokio::select! {
                r = session => if let Err(e) = r {
                    tracing::debug!(%peer, error = %e, "SSH connection ended with an error");
                },
                _ = deadline => {}
            }
        }
        Err(e) => tracing::debug!(%peer, error = %e, "SSH handshake failed"),
    }
    gone.cancel();
}
