//! One TCP connection inside a tunnel: dial the target, relay both ways,
//! count every byte on the session, say how it ended.

use std::sync::Arc;

use axum::extract::ws::Message;
use bytes::Bytes;
use gatehouse_access::{Principal, TargetSpec};
use gatehouse_connect::{Opener, Requester, action};
use gatehouse_domain::TargetAddr;
use gatehouse_sessions::SessionHandle;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, mpsc};

use crate::flow::{Drained, Window};
use crate::frame::{DataBuffers, Frame, MAX_DATA, StreamError};

/// What every stream of a tunnel dials, and who it audits a failure as;
/// and the buffers its streams read their targets into.
pub(crate) struct Dial {
    pub(crate) opener: Opener,
    pub(crate) principal: Principal,
    pub(crate) client_addr: String,
    pub(crate) spec: TargetSpec,
    pub(crate) addr: TargetAddr,
    pub(crate) buffers: DataBuffers,
}

/// Bytes from the client for the target, holding their share of the
/// tunnel's in-flight budget until written.
pub(crate) struct Chunk {
    pub(crate) data: Bytes,
    pub(crate) _permit: OwnedSemaphorePermit,
}

/// Runs stream `id` to its end, then sends its `Close` and says it is gone.
pub(crate) async fn run(
    id: u32,
    dial: Arc<Dial>,
    handle: Arc<SessionHandle>,
    from_client: mpsc::UnboundedReceiver<Chunk>,
    window: Arc<Window>,
    out: mpsc::Sender<Message>,
    gone: mpsc::UnboundedSender<u32>,
) {
    let error = match connect(&dial).await {
        Ok(tcp) => relay(id, tcp, &handle, from_client, &window, &out, &dial.buffers)
            .await
            .err(),
        Err(error) => Some(error),
    };
    let _ = out
        .send(Message::Binary(Frame::Close(id, error).encode()))
        .await;
    let _ = gone.send(id);
}

/// Dials the target within the gateway's connect timeout; a failure is
/// audited (`session.failed`) and told to the client.
async fn connect(dial: &Dial) -> Result<TcpStream, StreamError> {
    let opener = &dial.opener;
    let (host, port) = (dial.addr.host(), dial.addr.port());
    let timeout = opener.settings().connect_timeout;
    let (code, message) = tokio::select! {
        dialled = tokio::time::timeout(timeout, TcpStream::connect((host, port))) => match dialled {
            Ok(Ok(tcp)) => {
                let _ = tcp.set_nodelay(true);
                return Ok(tcp);
            }
            Ok(Err(e)) => ("target_unreachable", format!("cannot reach {}: {e}", dial.addr)),
            Err(_) => ("target_timeout", format!("{} did not answer within {timeout:?}", dial.addr)),
        },
        _ = opener.shutdown().cancelled() => ("shutting_down", "the gateway is shutting down".to_owned()),
    };
    let who = Requester {
        principal: &dial.principal,
        client_addr: &dial.client_addr,
    };
    let error = opener
        .failed(who, &dial.spec, action::SESSION_FAILED, code, message)
        .await;
    Err(StreamError {
        code: error.code().to_owned(),
        message: error.to_string(),
    })
}

/// Relays until both sides have finished sending (each `Eof` passed on) or
/// one fails: the client's bytes written to the target, credit returned
/// as they are; the target read only as far as the client's credit goes.
async fn relay(
    id: u32,
    tcp: TcpStream,
    handle: &SessionHandle,
    mut from_client: mpsc::UnboundedReceiver<Chunk>,
    window: &Window,
    out: &mpsc::Sender<Message>,
    buffers: &DataBuffers,
) -> Result<(), StreamError> {
    let (read, mut write) = tcp.into_split();
    let closed = |_| failed("tunnel_closed", "the tunnel closed");
    let up = async {
        let mut drained = Drained::default();
        while let Some(chunk) = from_client.recv().await {
            write
                .write_all(&chunk.data)
                .await
                .map_err(|e| failed("target_closed", e))?;
            handle.record_transfer(chunk.data.len(), 0);
            if let Some(credit) = drained.wrote(chunk.data.len()) {
                let frame = Frame::Credit(id, credit).encode();
                out.send(Message::Binary(frame)).await.map_err(closed)?;
            }
        }
        // The client sent Eof: so does the target's side of the connection.
        write
            .shutdown()
            .await
            .map_err(|e| failed("target_closed", e))
    };
    let down = async {
        // Read in place after the frame's header: no copy, and into a
        // buffer of a frame already written out.
        loop {
            let credit = window.take(MAX_DATA).await;
            let got = buffers
                .read(id, &read, credit)
                .await
                .map_err(|e| failed("target_closed", e))?;
            let n = got.as_ref().map_or(0, |(_, n)| *n);
            window.grant((credit - n) as u64);
            let Some((frame, n)) = got else {
                break;
            };
            handle.record_transfer(0, n);
            out.send(Message::Binary(frame)).await.map_err(closed)?;
        }
        out.send(Message::Binary(Frame::Eof(id).encode()))
            .await
            .map_err(closed)
    };
    tokio::try_join!(up, down).map(|_| ())
}

fn failed(code: &str, e: impl std::fmt::Display) -> StreamError {
    StreamError {
        code: code.to_owned(),
        message: e.to_string(),
    }
}
