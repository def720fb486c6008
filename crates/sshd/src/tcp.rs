//! `ssh -N -L 15432:prod-pg:5432 ops1@gw`: a `tcp` connection reached with
//! OpenSSH alone. When the login named no connection (`ops1@gw`, not
//! `ops1:box@gw`), a local forward's host is read as the name of a `tcp`
//! connection granted to the user, and its port must be that connection's
//! port (a mistyped port is refused rather than quietly sent elsewhere).
//!
//! As with `gatehouse tunnel`, a tunnel is one session: the first forwarded
//! connection to `prod-pg` registers it, and every later one through the
//! same SSH connection is a stream inside it, counted (open, total), its
//! bytes and activity on the session. It lasts until the SSH client goes or
//! the session is ended; ending it closes every forwarded connection at
//! once, refuses new ones, and — when nothing else runs over the SSH
//! connection — disconnects the client with who ended it and why. Contents
//! are never recorded.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use bytes::Bytes;
use gatehouse_access::TargetSpec;
use gatehouse_connect::{Requester, action};
use gatehouse_domain::{ConnectionName, EndReason, Protocol, TargetAddr};
use gatehouse_sessions::{EndRequest, SessionHandle};
use russh::server::{ChannelOpenHandle, Msg};
use russh::{Channel, ChannelMsg, ChannelOpenFailure, Disconnect};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::ctx::Ctx;
use crate::forward::LocalForward;

/// One read from a target: what a client's channel takes in one packet
/// run without the gateway holding much per connection.
const READ_CHUNK: usize = 32 * 1024;
/// How long a forwarded connection's close may take to go out.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
/// How long forwarded connections get to close before the client is told.
const FAREWELL: Duration = Duration::from_secs(1);

/// The tcp tunnels of one SSH connection, by connection name; each opened
/// once (by its first forwarded connection) and kept, ended or not, so a
/// forward after the end is refused rather than opening a new session.
#[derive(Default)]
pub(crate) struct Tunnels(Mutex<HashMap<ConnectionName, Arc<OnceCell<Opened>>>>);

type Opened = Result<Arc<TcpTunnel>, String>;

impl Tunnels {
    fn cell(&self, name: &ConnectionName) -> Arc<OnceCell<Opened>> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(name.clone())
            .or_default()
            .clone()
    }

    /// Whether any tunnel of this SSH connection is still live.
    fn any_live(&self) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .any(|cell| matches!(cell.get(), Some(Ok(t)) if t.live()))
    }
}

/// One tunnel session over native SSH.
struct TcpTunnel {
    spec: TargetSpec,
    addr: TargetAddr,
    /// Taken out (ending the session) when the tunnel ends.
    handle: RwLock<Option<SessionHandle>>,
    /// Cancelled when the tunnel ends: every stream closes.
    stop: CancellationToken,
    streams: TaskTracker,
    /// Open and total forwarded connections: counted and shown under one
    /// lock, so the last count shown is the last count made (two streams
    /// publishing at once once left a stale total in the history row).
    counts: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    open: usize,
    total: u64,
}

impl TcpTunnel {
    fn with_session<T>(&self, f: impl FnOnce(&SessionHandle) -> T) -> Option<T> {
        let handle = self.handle.read().unwrap_or_else(|e| e.into_inner());
        handle.as_ref().map(f)
    }

    fn live(&self) -> bool {
        !self.stop.is_cancelled()
    }

    /// Counts a forwarded connection opened (`+1`) or closed (`-1`) and
    /// shows the counts in Active Sessions, as `gatehouse tunnel` does.
    fn count(&self, change: isize) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if change > 0 {
            counts.total += 1;
        }
        counts.open = counts.open.saturating_add_signed(change);
        self.with_session(|h| {
            h.set_detail("open_connections", json!(counts.open));
            h.set_detail("total_connections", json!(counts.total));
        });
    }
}

/// Whether a forward is for a tcp connection: the login named no
/// connection and the menu opened none (else it goes through that SSH
/// target, as before).
pub(crate) fn applies(ctx: &Ctx) -> bool {
    ctx.connection.is_none() && ctx.opened_gate().is_none()
}

/// `ssh -L` to a tcp connection named by the forward's host.
pub(crate) async fn local(
    ctx: Arc<Ctx>,
    channel: Channel<Msg>,
    reply: ChannelOpenHandle,
    request: LocalForward,
) {
    let destination = format!("{}:{}", request.host, request.port);
    let tunnel = match tunnel_for(&ctx, &request).await {
        Ok(tunnel) if tunnel.live() => tunnel,
        Ok(_) => {
            // Ended: no reconnect under that session.
            ctx.refused(
                "tunnel",
                json!({ "destination": destination, "why": "the tunnel session has ended" }),
            )
            .await;
            reply
                .reject(ChannelOpenFailure::AdministrativelyProhibited)
                .await;
            return;
        }
        Err(why) => {
            tracing::info!(user = %ctx.principal.username, %destination, %why, "tcp forward refused");
            ctx.refused("tunnel", json!({ "destination": destination, "why": why }))
                .await;
            reply
                .reject(ChannelOpenFailure::AdministrativelyProhibited)
                .await;
            return;
        }
    };
    let tcp = match dial(&ctx, &tunnel).await {
        Ok(tcp) => tcp,
        Err(()) => {
            reply.reject(ChannelOpenFailure::ConnectFailed).await;
            return;
        }
    };
    reply.accept().await;
    tunnel.count(1);
    let t = tunnel.clone();
    tunnel.streams.spawn(async move {
        relay(&t, channel, tcp).await;
        t.count(-1);
    });
}

/// The tunnel for the forward's connection, opened by its first forward
/// (a refused forward opens nothing, so a mistake does not stick).
async fn tunnel_for(ctx: &Arc<Ctx>, request: &LocalForward) -> Result<Arc<TcpTunnel>, String> {
    let name = ConnectionName::parse(&request.host)
        .map_err(|_| format!("{} is not a connection name", request.host))?;
    let cell = ctx.tunnels.cell(&name);
    if cell.get().is_none() {
        let (spec, addr) = granted(ctx, &name).await?;
        same_port(&name, &addr, request.port)?;
        cell.get_or_init(|| open(ctx.clone(), spec, addr)).await;
    }
    let tunnel = match cell.get() {
        Some(opened) => opened.clone()?,
        None => return Err("the tunnel did not open".to_owned()),
    };
    same_port(&name, &tunnel.addr, request.port)?;
    Ok(tunnel)
}

/// A forward names the connection's own port: another one is a mistake,
/// refused rather than quietly sent to the connection's port.
fn same_port(name: &ConnectionName, addr: &TargetAddr, asked: u32) -> Result<(), String> {
    let port = addr.port();
    if asked == u32::from(port) {
        Ok(())
    } else {
        Err(format!(
            "{name} is port {port}: forward to {name}:{port}, not {name}:{asked}"
        ))
    }
}

/// The tcp connection `name` if it is granted to the user.
async fn granted(ctx: &Ctx, name: &ConnectionName) -> Result<(TargetSpec, TargetAddr), String> {
    let access = &ctx.front.access;
    let who = &ctx.principal;
    let refused = || {
        format!(
            "no tcp connection named {name} is granted to {}",
            who.username
        )
    };
    let granted = access.connections_for(who).await.map_err(|e| {
        tracing::error!(error = %e, "could not look up a tcp connection");
        "the gateway hit an internal error (it is logged)".to_owned()
    })?;
    let record = granted
        .into_iter()
        .find(|c| &c.name == name && c.protocol() == Protocol::Tcp)
        .ok_or_else(refused)?;
    let spec = access
        .target_for(who, record.id)
        .await
        .map_err(|_| refused())?;
    let addr = spec
        .connection
        .target
        .tcp()
        .and_then(|t| t.addr().ok())
        .ok_or_else(refused)?;
    Ok((spec, addr))
}

/// Registers the session (limits apply, access is checked again).
async fn open(ctx: Arc<Ctx>, spec: TargetSpec, addr: TargetAddr) -> Opened {
    let who = &ctx.principal;
    let name = spec.connection.name.clone();
    let requester = Requester {
        principal: who,
        client_addr: &ctx.peer,
    };
    let handle = ctx
        .front
        .opener
        .register(requester, &spec, None)
        .await
        .map_err(|e| format!("could not open {name}: {e}"))?;
    tracing::info!(session = %handle.id(), user = %who.username, connection = %name, "tcp tunnel over SSH opened");
    handle.set_detail("program", json!("ssh -L"));
    let tunnel = Arc::new(TcpTunnel {
        spec,
        addr,
        handle: RwLock::new(Some(handle)),
        stop: CancellationToken::new(),
        streams: TaskTracker::new(),
        counts: Mutex::new(Counts::default()),
    });
    tunnel.count(0);
    tokio::spawn(watch(ctx, tunnel.clone()));
    Ok(tunnel)
}

/// Waits for the end — asked for, or the SSH client gone — then closes
/// every forwarded connection, takes the session out of the registry, and
/// tells a client with nothing else open who ended it and why.
async fn watch(ctx: Arc<Ctx>, tunnel: Arc<TcpTunnel>) {
    let Some(ended) = tunnel.with_session(|h| h.end_signal()) else {
        return;
    };
    let reason = tokio::select! {
        _ = ended.cancelled() => EndReason::Error,
        _ = ctx.gone.cancelled() => EndReason::ClientClosed,
    };
    let request = tunnel
        .with_session(|h| h.settle(reason))
        .unwrap_or_else(|| EndRequest::because(reason));
    tracing::info!(reason = %request.reason, "tcp tunnel over SSH ending");
    tunnel.stop.cancel();
    let handle = tunnel
        .handle
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    drop(handle);
    tunnel.streams.close();
    let _ = tokio::time::timeout(FAREWELL, tunnel.streams.wait()).await;
    if ctx.gone.is_cancelled() || ctx.opened_gate().is_some() || ctx.tunnels.any_live() {
        return;
    }
    // `ssh -N` has no terminal to write to: the disconnect carries the reason.
    let bye = ctx
        .client
        .disconnect(Disconnect::ByApplication, request.describe(), "en".into());
    let _ = tokio::time::timeout(FAREWELL, bye).await;
}

/// Dials the target within the connect timeout; a failure is audited
/// (`session.failed`, as for `gatehouse tunnel`).
async fn dial(ctx: &Ctx, tunnel: &TcpTunnel) -> Result<TcpStream, ()> {
    let opener = &ctx.front.opener;
    let (host, port) = (tunnel.addr.host(), tunnel.addr.port());
    let timeout = opener.settings().connect_timeout;
    let (code, message) = tokio::select! {
        dialled = tokio::time::timeout(timeout, TcpStream::connect((host, port))) => match dialled {
            Ok(Ok(tcp)) => {
                let _ = tcp.set_nodelay(true);
                return Ok(tcp);
            }
            Ok(Err(e)) => ("target_unreachable", format!("cannot reach {}: {e}", tunnel.addr)),
            Err(_) => ("target_timeout", format!("{} did not answer within {timeout:?}", tunnel.addr)),
        },
        _ = tunnel.stop.cancelled() => return Err(()),
        _ = opener.shutdown().cancelled() => ("shutting_down", "the gateway is shutting down".to_owned()),
    };
    let who = Requester {
        principal: &ctx.principal,
        client_addr: &ctx.peer,
    };
    opener
        .failed(who, &tunnel.spec, action::SESSION_FAILED, code, message)
        .await;
    Err(())
}

/// Relays one forwarded connection until it closes, fails, or the tunnel
/// ends; every byte counts on the session (and so as activity).
async fn relay(tunnel: &TcpTunnel, channel: Channel<Msg>, tcp: TcpStream) {
    let (mut from_client, to_client) = channel.split();
    let (mut read, mut write) = tcp.into_split();
    // Client to target. Returns only as an error: after the client's EOF
    // the stream lives on until its close (or the target's failure).
    let up = async {
        loop {
            match from_client.wait().await {
                Some(ChannelMsg::Data { data }) => {
                    tunnel.with_session(|h| h.record_transfer(data.len(), 0));
                    write.write_all(&data).await.map_err(drop)?;
                }
                Some(ChannelMsg::Eof) => write.shutdown().await.map_err(drop)?,
                Some(ChannelMsg::Close) | None => return Err::<(), ()>(()),
                Some(_) => {}
            }
        }
    };
    // Target to client, then EOF; the client closes the channel after.
    let down = async {
        let mut buf = vec![0; READ_CHUNK];
        loop {
            let n = read.read(&mut buf).await.map_err(drop)?;
            if n == 0 {
                return to_client.eof().await.map_err(drop);
            }
            tunnel.with_session(|h| h.record_transfer(0, n));
            to_client
                .data_bytes(Bytes::copy_from_slice(&buf[..n]))
                .await
                .map_err(drop)?;
        }
    };
    tokio::select! {
        _ = async { tokio::try_join!(up, down) } => {}
        _ = tunnel.stop.cancelled() => {}
    }
    // Unread data must not hold up the connection's task (see `forward::pump`).
    drop(from_client);
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, to_client.close()).await;
}
