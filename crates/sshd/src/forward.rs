//! Port forwarding through a session: `ssh -L` (the client asks us to open
//! a connection from the target's side) and `ssh -R` (the target listens
//! and its connections come back to the client). Refused, and audited,
//! unless the connection allows forwarding; each forward is audited and
//! listed on the session while it is open.

use std::sync::Arc;

use gatehouse_audit::{Event, action};
use gatehouse_sessions::{ForwardGuard, ForwardKind};
use russh::server::{ChannelOpenHandle, Msg};
use russh::{Channel, ChannelMsg, ChannelOpenFailure, ChannelReadHalf, ChannelWriteHalf};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::ctx::Ctx;
use crate::gate::Gate;

/// What `ssh -L` asked for.
pub(crate) struct LocalForward {
    pub(crate) host: String,
    pub(crate) port: u32,
    pub(crate) originator_address: String,
    pub(crate) originator_port: u32,
}

/// The gate if forwarding is allowed on it; otherwise audits the refusal.
async fn allowed_gate(ctx: &Ctx, details: Value) -> Option<Arc<Gate>> {
    let gate = match &ctx.connection {
        Some(connection) => ctx.gate(connection).await.ok(),
        None => ctx.opened_gate(),
    };
    match gate {
        Some(gate) if gate.allow_forwarding => Some(gate),
        _ => {
            ctx.refused("port_forwarding", details).await;
            None
        }
    }
}

async fn audit(ctx: &Ctx, gate: &Gate, details: Value) {
    ctx.front
        .audit
        .record(
            Event::new(action::SSH_FORWARD)
                .actor(ctx.principal.username.as_str())
                .target(gate.connection.as_str())
                .client_addr(&ctx.peer)
                .details(details),
        )
        .await;
}

/// `ssh -L`: a channel to `host:port` as the target sees it.
pub(crate) async fn local(
    ctx: Arc<Ctx>,
    channel: Channel<Msg>,
    reply: ChannelOpenHandle,
    request: LocalForward,
) {
    let destination = format!("{}:{}", request.host, request.port);
    let details = json!({ "kind": "local", "destination": destination });
    let Some(gate) = allowed_gate(&ctx, details.clone()).await else {
        reply
            .reject(ChannelOpenFailure::AdministrativelyProhibited)
            .await;
        return;
    };
    let target = match gate
        .target
        .open_direct_tcpip(
            &request.host,
            request.port,
            &request.originator_address,
            request.originator_port,
        )
        .await
    {
        Ok(target) => target,
        Err(e) => {
            tracing::debug!(%destination, error = %e, "forward refused by the target");
            reply.reject(ChannelOpenFailure::ConnectFailed).await;
            return;
        }
    };
    reply.accept().await;
    audit(&ctx, &gate, details).await;
    let listed = gate.with_session(|h| h.add_forward(ForwardKind::Local, destination));
    bridge(gate, channel, target, listed);
}

/// `ssh -R`: asks the target to listen; returns the port it bound.
pub(crate) async fn remote(ctx: Arc<Ctx>, address: &str, port: u32) -> Option<u32> {
    let details = json!({ "kind": "remote", "listen": format!("{address}:{port}") });
    let gate = allowed_gate(&ctx, details).await?;
    if let Some(mut incoming) = gate.target.remote_forwards() {
        let ctx = ctx.clone();
        let gate = gate.clone();
        tokio::spawn(async move {
            while let Some(f) = incoming.recv().await {
                // Each waits for the client's answer on its own, so one
                // unanswered open does not hold up the others.
                let (ctx, gate) = (ctx.clone(), gate.clone());
                tokio::spawn(async move {
                    let opened = ctx
                        .client
                        .channel_open_forwarded_tcpip(
                            f.connected_address.clone(),
                            f.connected_port,
                            f.originator_address.clone(),
                            f.originator_port,
                        )
                        .await;
                    match opened {
                        Ok(client) => bridge(gate, client, f.channel, None),
                        Err(e) => {
                            tracing::debug!(error = %e, "client refused a forwarded connection")
                        }
                    }
                });
            }
        });
    }
    let bound = gate.target.request_remote_forward(address, port).await?;
    let listen = format!("{address}:{bound}");
    if let Some(listed) = gate.with_session(|h| h.add_forward(ForwardKind::Remote, listen)) {
        // Under the bound port: that is what OpenSSH cancels a `-R 0:…` by.
        gate.keep_remote_forward(address, bound, listed);
    }
    audit(
        &ctx,
        &gate,
        json!({ "kind": "remote", "listen": format!("{address}:{bound}") }),
    )
    .await;
    Some(bound)
}

/// `ssh -A`: from now on, agent connections the target opens are passed
/// to the client's agent (once per gate; listed on the session).
pub(crate) async fn relay_agent(ctx: &Arc<Ctx>, gate: &Arc<Gate>) {
    let Some(mut incoming) = gate.target.agent_channels() else {
        return;
    };
    audit(ctx, gate, json!({ "kind": "agent" })).await;
    // Listed while the target can still reach the agent: as long as this task.
    let listed = gate.with_session(|h| h.add_forward(ForwardKind::Agent, "agent".into()));
    let (ctx, gate) = (ctx.clone(), gate.clone());
    tokio::spawn(async move {
        let _listed = listed;
        while let Some(target) = incoming.recv().await {
            // As for remote forwards: one task per channel.
            let (ctx, gate) = (ctx.clone(), gate.clone());
            tokio::spawn(async move {
                match ctx.client.channel_open_agent().await {
                    Ok(client) => bridge(gate, client, target, None),
                    Err(e) => tracing::debug!(error = %e, "client refused an agent channel"),
                }
            });
        }
    });
}

/// Stops an `ssh -R` forward.
pub(crate) async fn cancel_remote(ctx: Arc<Ctx>, address: &str, port: u32) -> bool {
    match ctx.opened_gate() {
        Some(gate) => {
            gate.drop_remote_forward(address, port);
            gate.target.cancel_remote_forward(address, port).await
        }
        None => false,
    }
}

/// Pumps a forwarded connection both ways until either side closes or the
/// session ends; its bytes count on the session, and it stays `listed` on
/// the session until both directions are done.
fn bridge(
    gate: Arc<Gate>,
    client: Channel<Msg>,
    target: Channel<russh::client::Msg>,
    listed: Option<ForwardGuard>,
) {
    let (from_client, to_client) = client.split();
    let (from_target, to_target) = target.split();
    let listed = Arc::new(listed);
    // Either side closing ends both directions: after our close, russh
    // may never hand the peer's own close to the other pump.
    let done = gate.stop.child_token();
    gate.relays.spawn(pump(
        gate.clone(),
        from_client,
        to_target,
        true,
        (done.clone(), listed.clone()),
    ));
    gate.relays.spawn(pump(
        gate.clone(),
        from_target,
        to_client,
        false,
        (done, listed),
    ));
}

/// How long a forward's close may take to go out.
const CLOSE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

async fn pump<S>(
    gate: Arc<Gate>,
    mut from: ChannelReadHalf,
    to: ChannelWriteHalf<S>,
    upstream: bool,
    (done, _listed): (CancellationToken, Arc<Option<ForwardGuard>>),
) where
    S: From<(russh::ChannelId, ChannelMsg)> + Send + Sync + 'static,
{
    loop {
        let msg = tokio::select! {
            _ = done.cancelled() => None,
            msg = from.wait() => msg,
        };
        match msg {
            Some(ChannelMsg::Data { data }) => {
                gate.with_session(|h| {
                    if upstream {
                        h.record_transfer(data.len(), 0)
                    } else {
                        h.record_transfer(0, data.len())
                    }
                });
                // A side that stopped reading must not keep the session
                // from ending.
                if !matches!(
                    done.run_until_cancelled(to.data_bytes(data)).await,
                    Some(Ok(()))
                ) {
                    break;
                }
            }
            Some(ChannelMsg::Eof) => {
                let _ = done.run_until_cancelled(to.eof()).await;
            }
            Some(ChannelMsg::Close) | None => break,
            Some(_) => {}
        }
    }
    // Unread data must not hold up the connection's task (it waits for room
    // in this channel's queue), or the close below might never go out.
    drop(from);
    done.cancel();
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, to.close()).await;
}
