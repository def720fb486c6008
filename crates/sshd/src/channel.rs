//! One session channel — a shell, a command, `scp` or `sftp` — relayed to a
//! channel of its own on the target.
//!
//! The client's requests (pty, then shell, exec or subsystem) are collected
//! first and repeated to the target; its answer is the client's answer.
//! Then two tasks pump bytes, one each way, so a full window in one
//! direction never stalls the other, and both watch the gate's stop signal:
//! on it, the client is told why its session ended and gets exit status 1.

use std::sync::Arc;

use bytes::Bytes;
use gatehouse_domain::ConnectionName;
use russh::server::Msg;
use russh::{Channel, ChannelMsg, ChannelReadHalf, ChannelWriteHalf, Pty, client};
use serde_json::json;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::ctx::Ctx;
use crate::gate::Gate;
use crate::menu;

/// The exit status a client gets when the gateway ends its session.
pub(crate) const ENDED_STATUS: u32 = 1;

/// The terminal a client asked for.
#[derive(Clone)]
struct PtyRequest {
    term: String,
    cols: u32,
    rows: u32,
    modes: Vec<(Pty, u32)>,
}

/// What the channel runs.
enum Kind {
    Shell,
    Exec(Vec<u8>),
    Subsystem(String),
}

impl Kind {
    /// Whether its output is a terminal's, kept for watchers and
    /// recordings: everything but a file transfer (see
    /// [`Kind::is_file_transfer`]).
    fn is_terminal(&self, has_pty: bool) -> bool {
        !self.is_file_transfer(has_pty)
    }

    /// Whether the channel is a file transfer, only counted: neither
    /// recorded nor shown to watchers. Recognised by what it is, never by
    /// a command's first word (`scp; exec sh -i` is a shell): the SFTP
    /// subsystem, or an `scp` server invocation exactly as the `scp`
    /// client sends it ([`crate::transfer::is_scp_server`]) — and never
    /// with a pty, which neither client asks for. Everything else is
    /// recorded, `rsync`
    /// included: its server command line takes options too many and too
    /// powerful to vouch for, so an rsync through the gateway is recorded
    /// like any command (compactly, as binary output).
    ///
    /// What the target runs for a request is the target's business: a
    /// user who can change their login shell's startup files there can
    /// make even a plain `scp -f FILE` run something else. That is not
    /// something the gateway can see from here.
    fn is_file_transfer(&self, has_pty: bool) -> bool {
        !has_pty
            && match self {
                Kind::Shell => false,
                Kind::Exec(command) => crate::transfer::is_scp_server(command),
                Kind::Subsystem(name) => name == "sftp",
            }
    }
}

/// Relays one session channel until it closes or the session ends.
pub(crate) async fn run(ctx: Arc<Ctx>, channel: Channel<Msg>) {
    let id = channel.id();
    let (mut from_client, to_client) = channel.split();
    let mut pty: Option<PtyRequest> = None;
    let (kind, want_reply) = loop {
        match from_client.wait().await {
            // Accepted by the handler (`Conn::pty_request`); asked of the
            // target when the channel starts.
            Some(ChannelMsg::RequestPty {
                term,
                col_width,
                row_height,
                terminal_modes,
                ..
            }) => {
                pty = Some(PtyRequest {
                    term,
                    cols: col_width,
                    rows: row_height,
                    modes: terminal_modes,
                });
            }
            Some(ChannelMsg::WindowChange {
                col_width,
                row_height,
                ..
            }) => {
                if let Some(pty) = &mut pty {
                    pty.cols = col_width;
                    pty.rows = row_height;
                }
            }
            // Answered by the handler (`Conn::env_request`): refused, since
            // the target's environment is the connection's business.
            Some(ChannelMsg::SetEnv { .. }) => {}
            Some(ChannelMsg::RequestX11 { .. }) => {
                ctx.refused("x11_forwarding", json!({})).await;
            }
            // russh passes this on before the handler decides; only the
            // handler's answer counts (`Ctx::take_agent_grant`).
            Some(ChannelMsg::AgentForward { .. }) => {}
            Some(ChannelMsg::RequestShell { want_reply }) => break (Kind::Shell, want_reply),
            Some(ChannelMsg::Exec {
                want_reply,
                command,
            }) => break (Kind::Exec(command), want_reply),
            Some(ChannelMsg::RequestSubsystem { want_reply, name }) => {
                break (Kind::Subsystem(name), want_reply);
            }
            Some(ChannelMsg::Close | ChannelMsg::Eof) | None => {
                ctx.take_agent_grant(id);
                return;
            }
            Some(_) => {}
        }
    };
    // The handler answered the agent request before russh read the request
    // that ended the loop, so its answer is in.
    let agent_granted = ctx.take_agent_grant(id);

    let mut replied = false;
    let connection = match (&ctx.connection, ctx.opened_gate(), &kind, &pty) {
        (Some(connection), ..) => connection.clone(),
        // A further channel (a ControlMaster's) of a connection whose menu
        // already chose goes where the first went.
        (None, Some(gate), ..) => gate.connection.clone(),
        (None, None, Kind::Shell, Some(_)) => {
            accept(&ctx, id, want_reply).await;
            replied = true;
            match menu::choose(&ctx, &mut from_client, &to_client).await {
                Some(connection) => connection,
                None => {
                    finish(&to_client, 0).await;
                    return;
                }
            }
        }
        (None, None, ..) => {
            let message = format!(
                "Name the connection in the login: ssh USER:CONNECTION@host (you logged in as {}).",
                ctx.principal.username
            );
            fail(&ctx, id, &to_client, want_reply && !replied, &message).await;
            return;
        }
    };

    let gate = match ctx.gate(&connection).await {
        Ok(gate) => gate,
        Err(message) => {
            fail(&ctx, id, &to_client, want_reply && !replied, &message).await;
            return;
        }
    };
    let agent = agent_granted && gate.allow_forwarding;
    if agent {
        crate::forward::relay_agent(&ctx, &gate).await;
    }
    let target = match start_on_target(&gate, &kind, pty.as_ref(), agent).await {
        Ok(target) => target,
        Err(message) => {
            fail(&ctx, id, &to_client, want_reply && !replied, &message).await;
            return;
        }
    };
    accept(&ctx, id, want_reply && !replied).await;
    audit_start(&ctx, &connection, &kind, pty.is_some()).await;
    if matches!(kind, Kind::Shell)
        && pty.is_some()
        && gate.with_session(|h| h.recorded()) == Some(true)
    {
        // Like the browser tab's "Recorded" badge; not itself recorded.
        let notice = Bytes::from_static(b"[gatehouse] This session is recorded.\r\n");
        let _ = to_client.data_bytes(notice).await;
    }
    if let Some(pty) = &pty {
        gate.with_session(|h| h.resized(clamp(pty.cols, 80), clamp(pty.rows, 24)));
    }

    let terminal = kind.is_terminal(pty.is_some());
    let shared_input = match (&kind, &pty) {
        // Only the first shell gets the keystrokes of interactive participants.
        (Kind::Shell, Some(_)) => gate.with_session(|h| h.participant_input()).flatten(),
        _ => None,
    };
    let warnings = match (&kind, &pty) {
        (Kind::Shell, Some(_)) => gate.with_session(|h| h.warnings()),
        _ => None,
    };
    let (from_target, to_target) = target.split();
    // Downstream ends when the target closes the channel (or the session
    // ends); upstream then stops too: after our close, russh may never hand
    // over the client's own.
    let done = gate.stop.child_token();
    gate.relays.spawn(upstream(
        gate.clone(),
        done.clone(),
        from_client,
        to_target,
        terminal,
        shared_input,
    ));
    gate.relays.spawn(downstream(
        Relay {
            ctx: ctx.clone(),
            gate: gate.clone(),
            id,
            terminal,
            has_pty: pty.is_some(),
            _done: done.drop_guard(),
        },
        from_target,
        to_client,
        warnings,
    ));
}

/// A terminal dimension for the registry: a client without a real
/// terminal (`ssh -tt` from a script) reports 0, which watchers cannot draw.
fn clamp(n: u32, default: u16) -> u16 {
    match n {
        0 => default,
        n => n.min(1000) as u16,
    }
}

/// Accepts the request that started the channel (shell, exec or
/// subsystem), once the target has. Only that request is answered from
/// here, late: russh answers whichever request of the channel it read last
/// (requests answered at once are answered by the handler instead, see
/// `Conn::env_request`). Clients send nothing wanting an answer before
/// this one comes; a window change read meanwhile loses it, and OpenSSH
/// carries on without it.
async fn accept(ctx: &Ctx, id: russh::ChannelId, want_reply: bool) {
    if want_reply {
        let _ = ctx.client.channel_success(id).await;
    }
}

/// Tells the client why nothing runs, on stderr, and closes the channel
/// with a failing exit status.
async fn fail(
    ctx: &Ctx,
    id: russh::ChannelId,
    to_client: &ChannelWriteHalf<Msg>,
    reply_first: bool,
    message: &str,
) {
    // Succeed the request so the client shows the message and the exit
    // status rather than a bare "request failed".
    accept(ctx, id, reply_first).await;
    let line = format!("gatehouse: {message}\r\n");
    let _ = to_client.extended_data_bytes(1, Bytes::from(line)).await;
    finish(to_client, ENDED_STATUS).await;
}

/// Ends the client's channel with `status`. The status goes before the EOF:
/// a client whose input has ended answers EOF with its close, after which
/// russh drops anything more for the channel.
async fn finish(to_client: &ChannelWriteHalf<Msg>, status: u32) {
    let _ = to_client.exit_status(status).await;
    let _ = to_client.eof().await;
    let _ = to_client.close().await;
}

/// Opens the matching channel on the target and asks it for the same
/// thing; its refusal becomes ours.
async fn start_on_target(
    gate: &Gate,
    kind: &Kind,
    pty: Option<&PtyRequest>,
    agent: bool,
) -> Result<Channel<client::Msg>, String> {
    let mut channel = gate
        .target
        .open_session()
        .await
        .map_err(|e| format!("the target refused a channel: {e}"))?;
    let target_error = |e: russh::Error| format!("the target failed: {e}");
    if let Some(pty) = pty {
        channel
            .request_pty(false, &pty.term, pty.cols, pty.rows, 0, 0, &pty.modes)
            .await
            .map_err(target_error)?;
    }
    if agent {
        channel.agent_forward(false).await.map_err(target_error)?;
    }
    match kind {
        Kind::Shell => channel.request_shell(true).await,
        Kind::Exec(command) => channel.exec(true, command.clone()).await,
        Kind::Subsystem(name) => channel.request_subsystem(true, name).await,
    }
    .map_err(target_error)?;
    loop {
        match channel.wait().await {
            Some(ChannelMsg::Success) => return Ok(channel),
            Some(ChannelMsg::Failure) => {
                return Err(match kind {
                    Kind::Shell => "the target refused to start a shell".into(),
                    Kind::Exec(_) => "the target refused to run the command".into(),
                    Kind::Subsystem(name) => format!("the target has no {name} subsystem"),
                });
            }
            Some(ChannelMsg::Close) | None => return Err("the target closed the channel".into()),
            Some(_) => {}
        }
    }
}

async fn audit_start(ctx: &Ctx, connection: &ConnectionName, kind: &Kind, has_pty: bool) {
    let file_transfer = kind.is_file_transfer(has_pty);
    let details = match kind {
        Kind::Shell => return,
        Kind::Exec(command) => {
            let command: String = String::from_utf8_lossy(command).chars().take(500).collect();
            json!({ "command": command, "file_transfer": file_transfer })
        }
        Kind::Subsystem(name) => json!({ "subsystem": name, "file_transfer": file_transfer }),
    };
    ctx.front
        .audit
        .record(
            gatehouse_audit::Event::new(gatehouse_audit::action::SSH_EXEC)
                .actor(ctx.principal.username.as_str())
                .target(connection.as_str())
                .client_addr(&ctx.peer)
                .details(details),
        )
        .await;
}

/// What the downstream half needs to know about its channel.
struct Relay {
    ctx: Arc<Ctx>,
    gate: Arc<Gate>,
    id: russh::ChannelId,
    /// Terminal output (kept for watchers) rather than a file transfer.
    terminal: bool,
    /// The client has a pty: the end notice goes to its screen, not stderr.
    has_pty: bool,
    /// Stops the upstream half when this one ends.
    _done: DropGuard,
}

/// Client → target: keystrokes, uploads, window sizes, signals, EOF.
/// Every write toward the target also watches `done`: a target that stopped
/// reading must not keep the session from ending.
async fn upstream(
    gate: Arc<Gate>,
    done: CancellationToken,
    mut from_client: ChannelReadHalf,
    to_target: ChannelWriteHalf<client::Msg>,
    terminal: bool,
    mut shared_input: Option<tokio::sync::mpsc::Receiver<Bytes>>,
) {
    loop {
        let msg = tokio::select! {
            _ = done.cancelled() => break,
            Some(data) = async { shared_input.as_mut()?.recv().await } => {
                // An interactive participant typed (already counted).
                ChannelMsg::Data { data }
            }
            msg = from_client.wait() => match msg {
                Some(ChannelMsg::Data { data }) => {
                    gate.with_session(|h| if terminal {
                        h.record_input(&data)
                    } else {
                        h.record_transfer(data.len(), 0)
                    });
                    ChannelMsg::Data { data }
                }
                Some(ChannelMsg::WindowChange { col_width, row_height, pix_width, pix_height }) => {
                    gate.with_session(|h| h.resized(clamp(col_width, 80), clamp(row_height, 24)));
                    ChannelMsg::WindowChange { col_width, row_height, pix_width, pix_height }
                }
                Some(msg) => msg,
                None => ChannelMsg::Close,
            },
        };
        let written = done.run_until_cancelled(async {
            match msg {
                ChannelMsg::Data { data } => to_target.data_bytes(data).await.is_ok(),
                ChannelMsg::Eof => {
                    let _ = to_target.eof().await;
                    true
                }
                ChannelMsg::WindowChange {
                    col_width,
                    row_height,
                    pix_width,
                    pix_height,
                } => {
                    let _ = to_target
                        .window_change(col_width, row_height, pix_width, pix_height)
                        .await;
                    true
                }
                ChannelMsg::Signal { signal } => {
                    let _ = to_target.signal(signal).await;
                    true
                }
                ChannelMsg::Close => {
                    let _ = to_target.close().await;
                    false
                }
                _ => true,
            }
        });
        if written.await != Some(true) {
            break;
        }
    }
}

/// How the target → client relay stopped.
enum Stopped {
    /// The session is ending: the client is told why.
    Ended,
    /// The target was lost and the session ended for it: the client is told.
    TargetLost(Option<gatehouse_sessions::EndRequest>),
    /// The target closed the channel, or the client stopped taking output.
    Done,
}

/// Target → client: output, exit status, EOF, close — and, when the
/// session ends (or the target is lost), the reason.
async fn downstream(
    relay: Relay,
    mut from_target: ChannelReadHalf,
    to_client: ChannelWriteHalf<Msg>,
    mut warnings: Option<tokio::sync::watch::Receiver<Option<gatehouse_sessions::Warning>>>,
) {
    let Relay {
        ctx,
        gate,
        id,
        terminal,
        has_pty,
        ..
    } = &relay;
    let (id, terminal, has_pty) = (*id, *terminal, *has_pty);
    // The target's EOF waits for its exit status: a client whose input has
    // ended answers our EOF with its close, on which russh forgets the
    // channel, and an exit status sent after that never arrives (OpenSSH's
    // sshd keeps the channel until its child is reaped; russh does not).
    let (mut eof_held, mut status_sent) = (false, false);
    // Every write to the client watches the stop signal too: a client that
    // stopped reading must not keep its session from ending.
    let stop = &gate.stop;
    let stopped = loop {
        tokio::select! {
            _ = stop.cancelled() => break Stopped::Ended,
            Some(()) = async { warnings.as_mut()?.changed().await.ok() } => {
                let notice = warnings
                    .as_mut()
                    .and_then(|w| *w.borrow_and_update());
                if let Some(w) = notice {
                    let why = match w.reason {
                        gatehouse_domain::EndReason::IdleTimeout => "no input; type anything to stay connected",
                        _ => "it reaches its maximum duration",
                    };
                    let line = format!(
                        "\r\n[gatehouse] This session ends in {} s: {why}.\r\n",
                        w.seconds_left
                    );
                    if stop.run_until_cancelled(to_client.data_bytes(Bytes::from(line))).await.is_none() {
                        break Stopped::Ended;
                    }
                }
            }
            msg = from_target.wait() => match msg {
                Some(ChannelMsg::Data { data }) => {
                    gate.with_session(|h| if terminal {
                        h.record_output(&data)
                    } else {
                        h.record_transfer(0, data.len())
                    });
                    match stop.run_until_cancelled(to_client.data_bytes(data)).await {
                        None => break Stopped::Ended,
                        Some(Err(_)) => break Stopped::Done,
                        Some(Ok(())) => {}
                    }
                }
                Some(ChannelMsg::ExtendedData { data, ext }) => {
                    gate.with_session(|h| if terminal {
                        h.record_output(&data)
                    } else {
                        h.record_transfer(0, data.len())
                    });
                    match stop.run_until_cancelled(to_client.extended_data_bytes(ext, data)).await {
                        None => break Stopped::Ended,
                        Some(Err(_)) => break Stopped::Done,
                        Some(Ok(())) => {}
                    }
                }
                Some(ChannelMsg::Eof) => {
                    if status_sent {
                        let _ = stop.run_until_cancelled(to_client.eof()).await;
                    } else {
                        eof_held = true;
                    }
                }
                Some(ChannelMsg::ExitStatus { exit_status }) => {
                    let _ = stop.run_until_cancelled(to_client.exit_status(exit_status)).await;
                    status_sent = true;
                    if std::mem::take(&mut eof_held) {
                        let _ = stop.run_until_cancelled(to_client.eof()).await;
                    }
                }
                Some(ChannelMsg::ExitSignal { signal_name, core_dumped, error_message, lang_tag }) => {
                    let _ = stop.run_until_cancelled(
                        ctx.client.exit_signal_request(id, signal_name, core_dumped, error_message, lang_tag),
                    ).await;
                    status_sent = true;
                    if std::mem::take(&mut eof_held) {
                        let _ = stop.run_until_cancelled(to_client.eof()).await;
                    }
                }
                Some(ChannelMsg::Close) if status_sent || !gate.target.is_closed() => {
                    gate.target_finished();
                    if eof_held {
                        let _ = stop.run_until_cancelled(to_client.eof()).await;
                    }
                    let _ = stop.run_until_cancelled(to_client.close()).await;
                    break Stopped::Done;
                }
                // The target connection is gone before the command ended
                // (the target died, or its network did): the session ends,
                // and the client hears why like for any other end.
                Some(ChannelMsg::Close) | None if !status_sent => {
                    let settled = gate
                        .with_session(|h| h.settle(gatehouse_domain::EndReason::TargetClosed));
                    break Stopped::TargetLost(settled);
                }
                Some(ChannelMsg::Close) | None => {
                    gate.target_finished();
                    let _ = stop.run_until_cancelled(to_client.close()).await;
                    break Stopped::Done;
                }
                Some(_) => {}
            },
        }
    };
    // Output nobody reads must not hold up the target connection's task,
    // which waits for room in this channel's queue.
    drop(from_target);
    let settled = match stopped {
        Stopped::Done => return,
        Stopped::Ended => gate.end_request(),
        Stopped::TargetLost(settled) => settled.or_else(|| gate.end_request()),
    };
    let why = settled
        .map(|r| r.describe())
        .unwrap_or_else(|| "Session ended".into());
    let line = Bytes::from(format!("\r\n{why}\r\n"));
    gate.told.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // Bounded: a client that stopped reading (its window full) does not
    // hear the reason; it still gets the exit status and the close, which
    // no window holds back.
    let reason = async {
        if has_pty {
            to_client.data_bytes(line).await
        } else {
            to_client.extended_data_bytes(1, line).await
        }
    };
    let _ = tokio::time::timeout(FAREWELL, reason).await;
    let _ = tokio::time::timeout(FAREWELL, finish(&to_client, ENDED_STATUS)).await;
}

/// How long the reason may take to reach a client.
const FAREWELL: std::time::Duration = std::time::Duration::from_secs(1);
