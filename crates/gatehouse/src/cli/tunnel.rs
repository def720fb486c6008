//! `gatehouse tunnel CONNECTION [--listen ADDR] [--for PROGRAM]`: a local
//! port that reaches a `tcp` connection's target through the gateway.
//!
//! Every local connection is one stream of the tunnel's framing
//! ([`gatehouse_tunnel::frame`]) on one WebSocket, so the whole tunnel is
//! one session. When the session ends — from anywhere — every local
//! connection drops at once and the command says who ended it and why.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, bail};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use gatehouse_tunnel::flow::{Drained, Window};
use gatehouse_tunnel::frame::{DataBuffers, Frame, MAX_DATA, MAX_FRAME};
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::ServerArgs;
use crate::client::ApiClient;

/// Frames waiting for the gateway (each at most 256 KiB).
const OUT_QUEUE: usize = 16;

#[derive(clap::Args, Debug)]
pub(super) struct TunnelArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// The `tcp` connection to reach (its name).
    connection: String,
    /// The local address to listen on; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// The client program you use through the tunnel (e.g. psql), shown in Active Sessions.
    #[arg(long = "for", value_name = "PROGRAM")]
    program: Option<String>,
}

/// What the gateway sends one local connection.
enum Down {
    Data(Bytes),
    Eof,
}

/// One local connection, as the tunnel's loop sees it.
struct Local {
    /// What the gateway sent it, at most one window ahead of its writes
    /// (the gateway sends only within the credit it returns).
    down: mpsc::UnboundedSender<Down>,
    /// Its credit toward the gateway.
    window: Arc<Window>,
}

pub(super) async fn run(args: TunnelArgs) -> anyhow::Result<()> {
    let client = ApiClient::new(&args.server.server, args.server.token);
    let connections: Vec<Value> = client.get("/connections", &[]).await?;
    let Some(connection) = connections.iter().find(|c| c["name"] == args.connection) else {
        bail!(
            "no connection named {} is granted to you (`gatehouse ssh-config` lists yours)",
            args.connection
        );
    };
    let id = connection["id"].as_str().unwrap_or_default();
    let mut path = format!("/connections/{id}/tunnel");
    if let Some(program) = &args.program {
        path.push_str(&format!("?program={}", urlencode(program)));
    }
    // A whole frame (and its WebSocket header) per read from the gateway,
    // not tungstenite's default of 128 KiB.
    let config = WebSocketConfig::default().read_buffer_size(MAX_FRAME + 14);
    let ws = client
        .websocket_with(&path, config)
        .await
        .with_context(|| format!("cannot open a tunnel to {}", args.connection))?;
    let (mut sink, mut stream) = ws.split();
    let hello = match stream.next().await {
        Some(Ok(Message::Text(text))) => serde_json::from_str::<Value>(&text).unwrap_or_default(),
        _ => bail!("the gateway closed the tunnel before it opened"),
    };
    if hello["type"] != "tunnel" {
        bail!("{}", describe_end(&hello));
    }
    // Each stream's flow-control window; a gateway that names none has no
    // flow control and is sent no credit.
    let window = hello["window"].as_u64();
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let local = listener.local_addr()?;
    println!(
        "Tunnel to {} ({}) open as session {}.",
        args.connection,
        hello["target"].as_str().unwrap_or("?"),
        hello["session"].as_str().unwrap_or("?")
    );
    println!(
        "Listening on {local}: point your client there, e.g. psql -h {} -p {}",
        local.ip(),
        local.port()
    );
    println!("Ctrl-C closes the tunnel.");

    let (out_tx, mut out_rx) = mpsc::channel::<Message>(OUT_QUEUE);
    let writer = tokio::spawn(async move {
        while let Some(msg) = out_rx.recv().await {
            // What else is already waiting goes out in the same write.
            let mut closing = matches!(msg, Message::Close(_));
            let mut sent = sink.feed(msg).await;
            while sent.is_ok() && !closing {
                let Ok(more) = out_rx.try_recv() else { break };
                closing = matches!(more, Message::Close(_));
                sent = sink.feed(more).await;
            }
            if sent.is_err() || sink.flush().await.is_err() || closing {
                break;
            }
        }
    });
    let (gone_tx, mut gone_rx) = mpsc::unbounded_channel::<u32>();
    let mut locals: HashMap<u32, Local> = HashMap::new();
    let mut tasks = JoinSet::new();
    let mut next_id: u32 = 0;
    // What the local connections are read into, shared by them all.
    let buffers = DataBuffers::new(OUT_QUEUE + 2);
    // Made once: the loop turns once per frame.
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let outcome = loop {
        tokio::select! {
            _ = &mut ctrl_c => {
                let _ = out_tx.send(Message::Close(None)).await;
                eprintln!("gatehouse: tunnel closed");
                break Ok(());
            }
            accepted = listener.accept() => {
                let Ok((tcp, _)) = accepted else { continue };
                let _ = tcp.set_nodelay(true);
                next_id = next_id.wrapping_add(1);
                let id = next_id;
                let (down_tx, down_rx) = mpsc::unbounded_channel();
                let credit = Arc::new(window.map_or_else(Window::unlimited, Window::new));
                locals.insert(id, Local { down: down_tx, window: credit.clone() });
                if out_tx.send(Message::Binary(Frame::Open(id).encode())).await.is_err() {
                    break Err(anyhow::anyhow!("the tunnel closed"));
                }
                let flow = Flow { window: credit, returns_credit: window.is_some(), buffers: buffers.clone() };
                tasks.spawn(serve_local(id, tcp, down_rx, flow, out_tx.clone(), gone_tx.clone()));
            }
            Some(id) = gone_rx.recv() => {
                locals.remove(&id);
                while tasks.try_join_next().is_some() {}
            }
            msg = stream.next() => match msg {
                Some(Ok(Message::Binary(data))) => match Frame::decode(data) {
                    // Never waits for a local client: one that stops
                    // reading stops getting credit, not the tunnel.
                    Ok(Frame::Data(id, data)) => {
                        if let Some(local) = locals.get(&id) {
                            let _ = local.down.send(Down::Data(data));
                        }
                    }
                    Ok(Frame::Eof(id)) => {
                        if let Some(local) = locals.get(&id) {
                            let _ = local.down.send(Down::Eof);
                        }
                    }
                    Ok(Frame::Credit(id, bytes)) => {
                        if let Some(local) = locals.get(&id) {
                            local.window.grant(bytes.into());
                        }
                    }
                    Ok(Frame::Close(id, error)) => {
                        // Dropping its sender lets the local side write what
                        // is queued, then close.
                        locals.remove(&id);
                        if let Some(error) = error {
                            eprintln!(
                                "gatehouse: connection {id} to {}: {} ({})",
                                args.connection, error.message, error.code
                            );
                        }
                    }
                    Ok(Frame::Open(_)) | Err(_) => {
                        break Err(anyhow::anyhow!("the gateway sent a frame this CLI cannot read"));
                    }
                },
                Some(Ok(Message::Text(text))) => {
                    let v: Value = serde_json::from_str(&text).unwrap_or_default();
                    match v["type"].as_str() {
                        Some("ended" | "error") => break Err(anyhow::anyhow!("{}", describe_end(&v))),
                        Some("warning") => eprintln!(
                            "gatehouse: the tunnel ends in {}s ({}) unless it is used",
                            v["seconds_left"], v["reason"].as_str().unwrap_or("limit")
                        ),
                        _ => {}
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break Err(anyhow::anyhow!("the gateway closed the tunnel")),
            },
        }
    };
    // Every local connection drops now; so does the listener.
    tasks.abort_all();
    drop(listener);
    drop(out_tx);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), writer).await;
    outcome.map_err(|e| anyhow::anyhow!("tunnel to {}: {e}", args.connection))
}

/// A local connection's flow control.
struct Flow {
    /// Its credit toward the gateway.
    window: Arc<Window>,
    /// Whether the gateway takes credit back (it named a window).
    returns_credit: bool,
    /// The tunnel's buffers for frames read in place.
    buffers: DataBuffers,
}

/// Relays one local connection as stream `id` until the gateway closes
/// it (after writing what it sent) or the local side fails: reads only as
/// far as its credit goes, and returns credit as it writes.
async fn serve_local(
    id: u32,
    tcp: TcpStream,
    mut down: mpsc::UnboundedReceiver<Down>,
    flow: Flow,
    out: mpsc::Sender<Message>,
    gone: mpsc::UnboundedSender<u32>,
) {
    let (read, mut write) = tcp.into_split();
    let up = async {
        // Read in place after the frame's header: no copy, and into a
        // buffer of a frame already sent.
        loop {
            let credit = flow.window.take(MAX_DATA).await;
            let got = flow.buffers.read(id, &read, credit).await;
            let n = got
                .as_ref()
                .map_or(0, |got| got.as_ref().map_or(0, |(_, n)| *n));
            flow.window.grant((credit - n) as u64);
            let (frame, done) = match got {
                Ok(None) => (Frame::Eof(id).encode(), Some(false)),
                Ok(Some((frame, _))) => (frame, None),
                // Broken on our side: the gateway drops the stream, and so do we.
                Err(_) => (Frame::Close(id, None).encode(), Some(true)),
            };
            if out.send(Message::Binary(frame)).await.is_err() || done == Some(true) {
                return;
            }
            if done.is_some() {
                break;
            }
        }
        // Our side has said all it will; the gateway's side decides the end.
        std::future::pending::<()>().await;
    };
    let down = async {
        let mut drained = Drained::default();
        while let Some(msg) = down.recv().await {
            let written = match msg {
                Down::Data(data) => write.write_all(&data).await.map(|()| data.len()),
                Down::Eof => write.shutdown().await.map(|()| 0),
            };
            let credit = match written {
                Ok(n) => drained.wrote(n).filter(|_| flow.returns_credit),
                Err(_) => None,
            };
            if let Some(credit) = credit {
                let frame = Frame::Credit(id, credit).encode();
                if out.send(Message::Binary(frame)).await.is_err() {
                    break;
                }
            }
            if written.is_err() {
                let _ = out
                    .send(Message::Binary(Frame::Close(id, None).encode()))
                    .await;
                break;
            }
        }
    };
    tokio::select! {
        _ = up => {}
        _ = down => {}
    }
    let _ = gone.send(id);
}

/// "Session ended by administrator admin: maintenance (ended_by_admin)".
fn describe_end(v: &Value) -> String {
    let text = v["text"]
        .as_str()
        .or(v["message"].as_str())
        .unwrap_or("the gateway ended the tunnel");
    match v["reason"].as_str().or(v["code"].as_str()) {
        Some(code) => format!("{text} ({code})"),
        None => text.to_owned(),
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
