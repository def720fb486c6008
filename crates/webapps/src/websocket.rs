//! WebSocket upgrades: once both sides switched protocols, bytes are copied
//! both ways, counted, until either side closes or the session is stopped.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_util::sync::CancellationToken;

use crate::Outcome;
use crate::body::Exchange;

/// Relays an upgraded connection in its own task; the caller has already
/// answered the browser with the target's 101.
pub(crate) fn spawn_tunnel(
    browser: OnUpgrade,
    target: OnUpgrade,
    exchange: Arc<Exchange>,
    stop: CancellationToken,
) {
    tokio::spawn(async move {
        let upgraded = tokio::select! {
            both = async { tokio::try_join!(browser, target) } => both,
            () = stop.cancelled() => {
                exchange.finish(101, true, Outcome::Cut);
                return;
            }
        };
        let (browser, target) = match upgraded {
            Ok(both) => both,
            Err(e) => {
                tracing::debug!(error = %e, "WebSocket upgrade did not complete");
                exchange.finish(101, true, Outcome::Error);
                return;
            }
        };
        exchange.meter().websocket(true);
        let mut browser = Counted {
            io: TokioIo::new(browser),
            exchange: &exchange,
            from_client: true,
        };
        let mut target = Counted {
            io: TokioIo::new(target),
            exchange: &exchange,
            from_client: false,
        };
        let outcome = tokio::select! {
            copied = tokio::io::copy_bidirectional(&mut browser, &mut target) => match copied {
                Ok(_) => Outcome::Completed,
                Err(e) => {
                    tracing::debug!(error = %e, "WebSocket relay ended");
                    Outcome::Error
                }
            },
            () = stop.cancelled() => Outcome::Cut,
        };
        // Dropping both ends closes both connections.
        drop((browser, target));
        exchange.meter().websocket(false);
        exchange.finish(101, true, outcome);
    });
}

/// Counts what is read from one side: from the browser's side that is bytes from
/// the client, from the target's side bytes to the client.
struct Counted<'a, T> {
    io: T,
    exchange: &'a Exchange,
    from_client: bool,
}

impl<T: AsyncRead + Unpin> AsyncRead for Counted<'_, T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.io).poll_read(cx, buf))?;
        let n = buf.filled().len() - before;
        if n > 0 {
            if this.from_client {
                this.exchange.count_in(n);
            } else {
                this.exchange.count_out(n);
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Counted<'_, T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
