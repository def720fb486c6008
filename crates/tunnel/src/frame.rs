//! The tunnel's framing: every binary WebSocket message is one [`Frame`],
//! a kind byte, a stream id (big-endian `u32`) and a payload. Both ends
//! (the gateway and `gatehouse tunnel`) use this one codec.
//!
//! A stream is one TCP connection inside the tunnel; the client picks its
//! id. `Open` starts it (the gateway dials the target), `Data` carries
//! bytes, `Eof` says the sender will send no more (a half-close, as
//! `shutdown(SHUT_WR)`), and `Close` ends it at once. The gateway sends
//! `Close` at the end of every stream — after both `Eof`s, or with an
//! error (`{"code", "message"}` as JSON) when the target could not be
//! reached or failed — so the client knows when to forget the id.
//!
//! Each stream has its own flow-control window in each direction
//! (credit-based, as SSH channels have): a sender starts with
//! [`crate::flow::WINDOW`] bytes of credit per stream (the gateway's
//! `tunnel` hello names it) and sends `Data` only within its credit; the
//! receiver returns credit with `Credit` (a big-endian `u32` byte count)
//! as it writes the bytes to its side's socket. One stream whose reader
//! stalls so stops only itself, never the tunnel's other streams.

use std::io;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use serde::{Deserialize, Serialize};
use tokio::net::tcp::OwnedReadHalf;

/// The largest payload a `Data` frame carries; larger writes are split.
/// A bulk transfer moves this much per socket read, WebSocket message and
/// write: fewer, larger frames cost less CPU per byte.
pub const MAX_DATA: usize = 256 * 1024;
/// The largest binary message either end accepts: a full `Data` frame.
pub const MAX_FRAME: usize = MAX_DATA + HEADER;
const HEADER: usize = 5;

const OPEN: u8 = 1;
const DATA: u8 = 2;
const EOF: u8 = 3;
const CLOSE: u8 = 4;
const CREDIT: u8 = 5;

/// One message of the tunnel's framing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// Client to gateway: a new TCP connection; dial the target.
    Open(u32),
    /// Bytes of a stream, 1 to [`MAX_DATA`] of them.
    Data(u32, Bytes),
    /// The sender will send no more bytes on the stream.
    Eof(u32),
    /// The stream is over; with the reason when it failed.
    Close(u32, Option<StreamError>),
    /// The receiver wrote this many more of the stream's bytes out: the
    /// sender may send as many more.
    Credit(u32, u32),
}

/// Why a stream failed, e.g. `target_unreachable`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamError {
    /// A stable code.
    pub code: String,
    /// What happened, for people.
    pub message: String,
}

/// A binary message that is not a frame.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("bad tunnel frame: {0}")]
pub struct BadFrame(&'static str);

impl Frame {
    /// The stream the frame belongs to.
    pub fn stream(&self) -> u32 {
        match self {
            Frame::Open(id)
            | Frame::Data(id, _)
            | Frame::Eof(id)
            | Frame::Close(id, _)
            | Frame::Credit(id, _) => *id,
        }
    }

    /// The frame as one binary message.
    pub fn encode(&self) -> Bytes {
        let (kind, payload): (u8, &[u8]) = match self {
            Frame::Open(_) => (OPEN, &[]),
            Frame::Data(_, data) => (DATA, data),
            Frame::Eof(_) => (EOF, &[]),
            Frame::Close(_, None) => (CLOSE, &[]),
            Frame::Close(id, Some(error)) => {
                let json = serde_json::to_vec(error).unwrap_or_default();
                return header(CLOSE, *id, &json);
            }
            Frame::Credit(id, bytes) => return header(CREDIT, *id, &bytes.to_be_bytes()),
        };
        header(kind, self.stream(), payload)
    }

    /// A `Data` frame of `data` (1 to [`MAX_DATA`] bytes), encoded with
    /// one copy.
    pub fn data(id: u32, data: &[u8]) -> Bytes {
        header(DATA, id, data)
    }

    /// Reads one binary message.
    pub fn decode(mut msg: Bytes) -> Result<Frame, BadFrame> {
        if msg.len() < HEADER {
            return Err(BadFrame("shorter than its header"));
        }
        if msg.len() > MAX_FRAME {
            return Err(BadFrame("longer than the largest frame"));
        }
        let kind = msg[0];
        let id = u32::from_be_bytes([msg[1], msg[2], msg[3], msg[4]]);
        let payload = msg.split_off(HEADER);
        let empty = |frame: Frame| {
            if payload.is_empty() {
                Ok(frame)
            } else {
                Err(BadFrame("unexpected payload"))
            }
        };
        match kind {
            OPEN => empty(Frame::Open(id)),
            DATA if payload.is_empty() => Err(BadFrame("empty data")),
            DATA => Ok(Frame::Data(id, payload)),
            EOF => empty(Frame::Eof(id)),
            CLOSE if payload.is_empty() => Ok(Frame::Close(id, None)),
            CLOSE => serde_json::from_slice(&payload)
                .map(|error| Frame::Close(id, Some(error)))
                .map_err(|_| BadFrame("close reason is not JSON")),
            CREDIT => match <[u8; 4]>::try_from(&payload[..]) {
                Ok(bytes) => Ok(Frame::Credit(id, u32::from_be_bytes(bytes))),
                Err(_) => Err(BadFrame("credit is not four bytes")),
            },
            _ => Err(BadFrame("unknown kind")),
        }
    }
}

/// Buffers for `Data` frames read in place from a socket, each used again
/// once its frame has been written out, instead of a fresh allocation
/// per frame.
///
/// A fresh 256 KiB block per frame cost more than the copies: the
/// gateway's allocator (its large-block threshold fixed at 1 MiB, so its
/// trim threshold stays at 128 KiB) gave the freed blocks back to the
/// system a few frames at a time, and every read then faulted their pages
/// in again — a fifth of the gateway's CPU in a bulk transfer. One pool
/// serves a tunnel's streams. It keeps as many spare buffers as it was
/// made for (a full queue of frames toward the peer, and the reads), and
/// none once the tunnel is quiet: a stream that has waited [`QUIET`] for
/// its socket while no frame of the tunnel is in flight frees them. A
/// stream takes a buffer only once its socket is readable, so an idle
/// stream holds none.
#[derive(Clone, Debug)]
pub struct DataBuffers(Arc<Mutex<Pool>>);

#[derive(Debug)]
struct Pool {
    spare: Vec<Vec<u8>>,
    keep: usize,
    /// Buffers handed out and not back yet: reads, and frames in flight.
    out: usize,
}

impl DataBuffers {
    /// An empty pool that keeps up to `keep` spare buffers while busy.
    pub fn new(keep: usize) -> DataBuffers {
        DataBuffers(Arc::new(Mutex::new(Pool {
            spare: Vec::new(),
            keep,
            out: 0,
        })))
    }

    /// Reads stream `id`'s next `Data` frame from `socket`, at most `max`
    /// bytes (at least 1) read in place after the frame's header; with the
    /// number of bytes read. `None` at the end of the stream. The frame's
    /// buffer comes back to the pool when the frame (every clone and
    /// slice of it) is dropped.
    pub async fn read(
        &self,
        id: u32,
        socket: &OwnedReadHalf,
        max: usize,
    ) -> io::Result<Option<(Bytes, usize)>> {
        loop {
            // Polled first: a socket with bytes waiting sets no timer.
            match tokio::time::timeout(QUIET, socket.readable()).await {
                Ok(ready) => ready?,
                Err(_) => {
                    self.release_if_quiet();
                    socket.readable().await?;
                }
            }
            let mut buf = self.start(id);
            match socket.try_read_buf(&mut (&mut buf.bytes).limit(max)) {
                Ok(0) => return Ok(None),
                Ok(n) => return Ok(Some((Bytes::from_owner(buf), n))),
                // Woken without bytes after all: the buffer goes back.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// A buffer holding the header of a `Data` frame of stream `id`, with
    /// room for [`MAX_DATA`] bytes after it.
    fn start(&self, id: u32) -> DataBuf {
        let spare = {
            let mut pool = self.pool();
            pool.out += 1;
            pool.spare.pop()
        };
        let mut bytes = spare.unwrap_or_else(|| Vec::with_capacity(MAX_FRAME));
        bytes.put_u8(DATA);
        bytes.put_u32(id);
        DataBuf {
            bytes,
            pool: self.clone(),
        }
    }

    /// Frees the spare buffers when none is handed out.
    fn release_if_quiet(&self) {
        let mut pool = self.pool();
        if pool.out == 0 {
            pool.spare = Vec::new();
        }
    }

    fn pool(&self) -> std::sync::MutexGuard<'_, Pool> {
        // Nothing holding the lock can panic midway; take it regardless.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// How long a stream waits for its socket, with none of the tunnel's
/// frames in flight, before the tunnel's spare buffers are freed.
pub const QUIET: Duration = Duration::from_secs(1);

/// A buffer of a [`DataBuffers`] pool: while read into, then as the
/// owner of a frame's bytes; back to the pool when dropped.
struct DataBuf {
    bytes: Vec<u8>,
    pool: DataBuffers,
}

impl AsRef<[u8]> for DataBuf {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

impl Drop for DataBuf {
    fn drop(&mut self) {
        let mut bytes = std::mem::take(&mut self.bytes);
        let mut pool = self.pool.pool();
        pool.out = pool.out.saturating_sub(1);
        if pool.spare.len() < pool.keep && bytes.capacity() >= MAX_FRAME {
            bytes.clear();
            pool.spare.push(bytes);
        }
    }
}

fn header(kind: u8, id: u32, payload: &[u8]) -> Bytes {
    let mut buf = BytesMut::with_capacity(HEADER + payload.len());
    buf.put_u8(kind);
    buf.put_u32(id);
    buf.put_slice(payload);
    buf.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let error = StreamError {
            code: "target_unreachable".into(),
            message: "refused".into(),
        };
        for frame in [
            Frame::Open(7),
            Frame::Data(u32::MAX, Bytes::from_static(b"hello")),
            Frame::Eof(0),
            Frame::Close(3, None),
            Frame::Close(3, Some(error)),
            Frame::Credit(9, 1 << 20),
        ] {
            assert_eq!(Frame::decode(frame.encode()), Ok(frame));
        }
    }

    #[test]
    fn malformed_messages_are_refused() {
        for bad in [
            &b""[..],
            &[2, 0, 0, 0][..],
            &[2, 0, 0, 0, 1][..],
            &[1, 0, 0, 0, 1, 9][..],
            &[9, 0, 0, 0, 1][..],
            &[4, 0, 0, 0, 1, b'x'][..],
            &[5, 0, 0, 0, 1, 0, 0, 1][..],
            &[5, 0, 0, 0, 1][..],
        ] {
            assert!(
                Frame::decode(Bytes::copy_from_slice(bad)).is_err(),
                "{bad:?}"
            );
        }
        let huge = Frame::Data(1, Bytes::from(vec![0; MAX_DATA + 1])).encode();
        assert!(Frame::decode(huge).is_err());
    }

    /// A connected pair: the first's read half, and the second.
    async fn pair() -> (OwnedReadHalf, tokio::net::TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (near, far) = tokio::join!(tokio::net::TcpStream::connect(addr), listener.accept());
        (near.unwrap().into_split().0, far.unwrap().0)
    }

    #[tokio::test]
    async fn a_data_frame_read_in_place_is_the_frame_encoded() {
        use tokio::io::AsyncWriteExt;

        let pool = DataBuffers::new(4);
        let (read, mut far) = pair().await;
        far.write_all(b"payload").await.unwrap();
        let (frame, n) = pool.read(7, &read, MAX_DATA).await.unwrap().unwrap();
        assert_eq!(n, 7);
        assert_eq!(frame, Frame::data(7, b"payload"));
        assert_eq!(
            Frame::decode(frame),
            Ok(Frame::Data(7, Bytes::from_static(b"payload")))
        );
        // No more than asked for.
        far.write_all(b"abcdef").await.unwrap();
        let (frame, n) = pool.read(7, &read, 2).await.unwrap().unwrap();
        assert_eq!((frame, n), (Frame::data(7, b"ab"), 2));
        drop(far);
        let (rest, _) = pool.read(7, &read, MAX_DATA).await.unwrap().unwrap();
        assert_eq!(rest, Frame::data(7, b"cdef"));
        assert_eq!(pool.read(7, &read, MAX_DATA).await.unwrap(), None);
    }

    #[test]
    fn a_frame_s_buffer_is_used_again_once_the_frame_is_dropped() {
        let pool = DataBuffers::new(2);
        let frame = |buf: DataBuf| Bytes::from_owner(buf);
        let mut busy = pool.start(9);
        busy.bytes.put_u8(1);
        let mut first = pool.start(1);
        first.bytes.put_slice(&[1; MAX_DATA]);
        let first = frame(first);
        let at = first.as_ptr();
        let payload = Frame::decode(first.clone()).unwrap();
        // Still held (by the frame and the payload sliced from it): the
        // next read gets another buffer.
        let other = pool.start(2);
        assert_ne!(other.as_ref().as_ptr(), at);
        drop((first, payload));
        let again = pool.start(3);
        assert_eq!(
            again.as_ref().as_ptr(),
            at,
            "the dropped frame's buffer is reused"
        );
        assert_eq!(
            again.as_ref(),
            [DATA, 0, 0, 0, 3],
            "with only the new header"
        );
        // No more than `keep` spare buffers.
        let frames: Vec<Bytes> = (0..5).map(|i| frame(pool.start(i))).collect();
        drop((frames, other, again, busy));
        assert_eq!(pool.pool().spare.len(), 2);
        assert_eq!(pool.pool().out, 0);
    }

    #[tokio::test]
    async fn a_quiet_tunnel_frees_its_spare_buffers() {
        use tokio::io::AsyncWriteExt;

        let pool = DataBuffers::new(4);
        let (read, mut far) = pair().await;
        far.write_all(b"x").await.unwrap();
        let (first, _) = pool.read(1, &read, MAX_DATA).await.unwrap().unwrap();
        let (second_read, mut second_far) = pair().await;
        second_far.write_all(b"y").await.unwrap();
        let (second, _) = pool.read(2, &second_read, MAX_DATA).await.unwrap().unwrap();
        drop(first);
        // A frame in flight: a stream waiting past QUIET frees nothing.
        let past = QUIET + Duration::from_millis(300);
        let waited = tokio::time::timeout(past, pool.read(1, &read, MAX_DATA)).await;
        assert!(waited.is_err(), "read with nothing sent");
        assert_eq!(pool.pool().spare.len(), 1);
        // Nothing in flight: a stream that waits past QUIET frees them.
        drop(second);
        assert_eq!(pool.pool().spare.len(), 2);
        let send = tokio::spawn(async move {
            tokio::time::sleep(past).await;
            far.write_all(b"z").await.unwrap();
            far
        });
        let (frame, _) = pool.read(1, &read, MAX_DATA).await.unwrap().unwrap();
        assert_eq!(frame, Frame::data(1, b"z"));
        assert_eq!(pool.pool().spare.len(), 0, "the spare buffers were freed");
        send.await.unwrap();
        drop(second_read);
    }
}
