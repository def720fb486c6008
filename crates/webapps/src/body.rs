//! Streamed bodies that count every byte and stop when the session does.
//!
//! [`Exchange`] is one request's shared record: both body wrappers (and a
//! WebSocket tunnel) add to its counters, and whichever sees the end first
//! writes its [`RequestLog`] — exactly once.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use time::OffsetDateTime;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::{BoxError, Meter, Outcome, RequestLog};

/// The error a body yields when the session's stop token is cancelled; hyper then
/// aborts the connection it was writing to.
#[derive(Debug, thiserror::Error)]
#[error("the session was stopped")]
pub(crate) struct Stopped;

/// One request's counters and log entry, shared by everything that moves its bytes.
pub(crate) struct Exchange {
    meter: Arc<dyn Meter>,
    at: OffsetDateTime,
    started: Instant,
    /// The method and path, moved into the log entry when it is written.
    request: std::sync::Mutex<(String, String)>,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    /// When the last request body bytes went to the target, in nanoseconds after `started`.
    last_upload: AtomicU64,
    finished: AtomicBool,
}

impl Exchange {
    pub(crate) fn new(meter: Arc<dyn Meter>, method: String, path: String) -> Arc<Self> {
        Arc::new(Self {
            meter,
            at: OffsetDateTime::now_utc(),
            started: Instant::now(),
            request: std::sync::Mutex::new((method, path)),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            last_upload: AtomicU64::new(0),
            finished: AtomicBool::new(false),
        })
    }

    pub(crate) fn meter(&self) -> &dyn Meter {
        &*self.meter
    }

    pub(crate) fn count_in(&self, n: usize) {
        let n = n as u64;
        self.bytes_in.fetch_add(n, Ordering::Relaxed);
        let since_start = u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.last_upload.fetch_max(since_start, Ordering::Relaxed);
        self.meter.bytes_from_client(n);
    }

    /// When the request started, or its body last moved: the target's time to answer
    /// counts from there, so a long upload that keeps moving is not a slow answer.
    pub(crate) fn last_upload(&self) -> Instant {
        self.started + std::time::Duration::from_nanos(self.last_upload.load(Ordering::Relaxed))
    }

    pub(crate) fn count_out(&self, n: usize) {
        let n = n as u64;
        self.bytes_out.fetch_add(n, Ordering::Relaxed);
        self.meter.bytes_to_client(n);
    }

    /// Writes the log entry; later calls do nothing.
    pub(crate) fn finish(&self, status: u16, websocket: bool, outcome: Outcome) {
        if self.finished.swap(true, Ordering::AcqRel) {
            return;
        }
        // Written once: the strings are moved, not copied.
        let (method, path) = std::mem::take(
            &mut *self
                .request
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        self.meter.finished(RequestLog {
            at: self.at,
            method,
            path,
            status,
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
            duration: self.started.elapsed(),
            websocket,
            outcome,
        });
    }
}

impl Drop for Exchange {
    /// The caller dropped the request before any response (the browser left while
    /// the target was still thinking): logged as cut, with nginx's 499.
    fn drop(&mut self) {
        self.finish(CLIENT_CLOSED_REQUEST, false, Outcome::Cut);
    }
}

/// The status logged for a request abandoned before its response (nginx's convention).
pub(crate) const CLIENT_CLOSED_REQUEST: u16 = 499;

/// A body's end signal: checked before every frame, and waited on only
/// when the body has nothing to give, so a quiet body (a long poll, a slow
/// drip) is still cut at once. A body that is read without waiting (a small
/// response that came with its headers) never joins the token's waiters,
/// which costs an allocation and the token's lock to join and leave.
pub(crate) struct StopSignal {
    token: CancellationToken,
    waiting: Option<Pin<Box<WaitForCancellationFutureOwned>>>,
}

impl StopSignal {
    pub(crate) fn new(token: CancellationToken) -> Self {
        Self {
            token,
            waiting: None,
        }
    }

    fn is_stopped(&self) -> bool {
        self.token.is_cancelled()
    }

    /// After the body returned `Pending`: whether the session stopped
    /// meanwhile; if not, `cx` is woken when it does.
    fn stopped_while_waiting(&mut self, cx: &mut Context<'_>) -> bool {
        let token = &self.token;
        self.waiting
            .get_or_insert_with(|| Box::pin(token.clone().cancelled_owned()))
            .as_mut()
            .poll(cx)
            .is_ready()
    }
}

/// The browser's request body on its way to the target.
pub(crate) struct RequestBody<B> {
    inner: B,
    exchange: Arc<Exchange>,
    stop: StopSignal,
}

impl<B> RequestBody<B> {
    pub(crate) fn new(inner: B, exchange: Arc<Exchange>, stop: CancellationToken) -> Self {
        Self {
            inner,
            exchange,
            stop: StopSignal::new(stop),
        }
    }
}

impl<B> Body for RequestBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if self.stop.is_stopped() {
            return Poll::Ready(Some(Err(Stopped.into())));
        }
        let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) else {
            if self.stop.stopped_while_waiting(cx) {
                return Poll::Ready(Some(Err(Stopped.into())));
            }
            return Poll::Pending;
        };
        match frame {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    self.exchange.count_in(data.len());
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Some(Err(e)) => Poll::Ready(Some(Err(e.into()))),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The target's response body on its way to the browser; its end (or its drop
/// before the end) writes the request's log entry.
pub(crate) struct ResponseBody {
    inner: Incoming,
    exchange: Arc<Exchange>,
    status: u16,
    stop: StopSignal,
}

impl ResponseBody {
    pub(crate) fn new(
        inner: Incoming,
        exchange: Arc<Exchange>,
        status: u16,
        stop: CancellationToken,
    ) -> Self {
        Self {
            inner,
            exchange,
            status,
            stop: StopSignal::new(stop),
        }
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if self.stop.is_stopped() {
            self.exchange.finish(self.status, false, Outcome::Cut);
            return Poll::Ready(Some(Err(Stopped.into())));
        }
        let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) else {
            if self.stop.stopped_while_waiting(cx) {
                self.exchange.finish(self.status, false, Outcome::Cut);
                return Poll::Ready(Some(Err(Stopped.into())));
            }
            return Poll::Pending;
        };
        match frame {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    self.exchange.count_out(data.len());
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Some(Err(e)) => {
                self.exchange.finish(self.status, false, Outcome::Error);
                Poll::Ready(Some(Err(e.into())))
            }
            None => {
                self.exchange.finish(self.status, false, Outcome::Completed);
                Poll::Ready(None)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for ResponseBody {
    fn drop(&mut self) {
        // Not read to its end: the browser went away — or there was nothing to
        // read (HEAD, 204, 304), which is complete.
        let outcome = if self.inner.is_end_stream() {
            Outcome::Completed
        } else {
            Outcome::Cut
        };
        self.exchange.finish(self.status, false, outcome);
    }
}

/// A body that is empty and ends at once: a request's that had none, or the
/// 101 answer to a WebSocket upgrade.
pub(crate) fn empty() -> crate::ProxyBody {
    use http_body_util::BodyExt;
    http_body_util::Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed_unsync()
}
