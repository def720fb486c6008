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

use std::sync::{Arc, Mutex, PoisonError};

use bytes::{BufMut, Bytes, BytesMut};
use serde::{Deserialize, Serialize};

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
/// system a few frames at a time, and every read then faulted its pages
/// in again — a fifth of the gateway's CPU in a bulk transfer. One pool
/// serves a tunnel's streams and keeps at most [`DataBuffers::KEEP`]
/// spare buffers (1 MiB); a buffer beyond that is freed as before.
#[derive(Clone, Debug, Default)]
pub struct DataBuffers(Arc<Mutex<Vec<Vec<u8>>>>);

impl DataBuffers {
    /// Spare buffers kept: under a bulk transfer a frame comes back about
    /// as often as one is read, so a few cover the streams' reads.
    pub const KEEP: usize = 4;

    /// An empty pool.
    pub fn new() -> DataBuffers {
        DataBuffers::default()
    }

    /// A buffer holding the header of a `Data` frame of stream `id`, with
    /// room for [`MAX_DATA`] bytes after it for a socket read to fill in
    /// place (`read_buf` on `(&mut buf).limit(n)`); then
    /// [`DataBuffers::finish`].
    pub fn start(&self, id: u32) -> Vec<u8> {
        let mut buf = self
            .spare()
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(MAX_FRAME));
        buf.put_u8(DATA);
        buf.put_u32(id);
        buf
    }

    /// The frame started with [`DataBuffers::start`], once a read put its
    /// payload after the header (`None` when it put nothing). Its buffer
    /// comes back to the pool when the frame (every clone) is dropped.
    pub fn finish(&self, buf: Vec<u8>) -> Option<Bytes> {
        if buf.len() <= HEADER {
            self.put(buf);
            return None;
        }
        Some(Bytes::from_owner(Pooled {
            buf,
            pool: self.clone(),
        }))
    }

    fn put(&self, mut buf: Vec<u8>) {
        // Only buffers that fit a whole frame: a read never reallocates.
        if buf.capacity() >= MAX_FRAME {
            let mut spare = self.spare();
            if spare.len() < DataBuffers::KEEP {
                buf.clear();
                spare.push(buf);
            }
        }
    }

    fn spare(&self) -> std::sync::MutexGuard<'_, Vec<Vec<u8>>> {
        // Nothing holding the lock can panic midway; take it regardless.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A `Data` frame's bytes, owned by the frame until it is dropped.
struct Pooled {
    buf: Vec<u8>,
    pool: DataBuffers,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        self.pool.put(std::mem::take(&mut self.buf));
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

    #[test]
    fn a_data_frame_read_in_place_is_the_frame_encoded() {
        let pool = DataBuffers::new();
        let buf = pool.start(7);
        assert_eq!(pool.finish(buf), None);
        let mut buf = pool.start(7);
        buf.put_slice(b"payload");
        let frame = pool.finish(buf).unwrap();
        assert_eq!(frame, Frame::data(7, b"payload"));
        assert_eq!(
            Frame::decode(frame),
            Ok(Frame::Data(7, Bytes::from_static(b"payload")))
        );
    }

    #[test]
    fn a_frame_s_buffer_is_used_again_once_the_frame_is_dropped() {
        let pool = DataBuffers::new();
        let mut buf = pool.start(1);
        buf.put_slice(&[1; MAX_DATA]);
        let first = pool.finish(buf).unwrap();
        let at = first.as_ptr();
        let payload = Frame::decode(first.clone()).unwrap();
        // Still held (by the frame and the payload sliced from it): the
        // next read gets another buffer.
        let other = pool.start(2);
        assert_ne!(other.as_ptr(), at);
        drop(other);
        drop((first, payload));
        let again = pool.start(3);
        assert_eq!(again.as_ptr(), at, "the dropped frame's buffer is reused");
        assert_eq!(again, [DATA, 0, 0, 0, 3], "with only the new header in it");
        // No more than KEEP spare buffers are kept.
        let frames: Vec<Bytes> = (0..DataBuffers::KEEP + 3)
            .map(|i| {
                let mut buf = pool.start(i as u32);
                buf.put_u8(9);
                pool.finish(buf).unwrap()
            })
            .collect();
        drop(frames);
        assert_eq!(pool.spare().len(), DataBuffers::KEEP);
    }
}
