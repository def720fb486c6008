//! What a newcomer needs to paint a session's current screen: the session's
//! output since the screen was last cleared, bounded in size. Replayed into
//! a terminal of the session's size, it reproduces what the user sees.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

/// Sequences after which nothing earlier affects the screen: clear screen,
/// full reset, and switching to the alternate screen (which full-screen
/// programs clear and redraw).
const CLEARS: [&[u8]; 3] = [b"\x1b[2J", b"\x1bc", b"\x1b[?1049h"];

/// Chunks up to this size are copied into a shared tail; larger ones are
/// kept as they came, without a copy.
const SMALL: usize = 512;
/// The tail of small chunks is kept as a chunk of its own once it is this long.
const TAIL: usize = 4096;
/// How far past the cut a line boundary is looked for.
const NEAR: usize = 4096;

/// Recent output, at most `cap` bytes; what came before the last screen
/// clear in it is left out when it is replayed.
///
/// Output is kept as the chunks it arrived in, shared with the relay
/// (`Bytes` counts references): copying every chunk into a buffer of its
/// own was 6% of the gateway's CPU on bulk output, half of all its copying.
/// Small chunks (keystroke echoes) are joined in a tail instead, so a
/// typed session does not keep a chunk per key.
#[derive(Debug)]
pub(crate) struct Screen {
    chunks: VecDeque<Bytes>,
    /// Small chunks that arrived after the last of `chunks`.
    tail: BytesMut,
    /// Bytes in `chunks` and `tail`.
    len: usize,
    cap: usize,
    pub(crate) cols: u16,
    pub(crate) rows: u16,
}

impl Screen {
    pub(crate) fn new(cap: usize, cols: u16, rows: u16) -> Self {
        Self {
            chunks: VecDeque::new(),
            tail: BytesMut::new(),
            len: 0,
            cap,
            cols,
            rows,
        }
    }

    /// Keeps `data`, the session's newest output. This runs for every chunk
    /// of output, so the last clear is looked for only when a watcher asks
    /// ([`Screen::replay`]): looking here cost 5% of the gateway's CPU on
    /// bulk output. Whatever a clear would have dropped here either falls
    /// out of the buffer or is skipped by the replay, so the replay is the
    /// same.
    pub(crate) fn push(&mut self, data: &Bytes) {
        // Only the newest `cap` bytes can stay.
        let data = data.slice(data.len().saturating_sub(self.cap)..);
        self.len += data.len();
        if data.len() <= SMALL {
            self.tail.extend_from_slice(&data);
            if self.tail.len() >= TAIL {
                self.chunks.push_back(self.tail.split().freeze());
            }
        } else {
            if !self.tail.is_empty() {
                self.chunks.push_back(self.tail.split().freeze());
            }
            self.chunks.push_back(data);
        }
        self.trim();
    }

    /// Drops the oldest bytes beyond `cap`, cutting after a line boundary
    /// when one is near.
    fn trim(&mut self) {
        while self.len > self.cap {
            let excess = self.len - self.cap;
            let Some(front) = self.chunks.front_mut() else {
                // Everything is in the tail: cut it there.
                let cut = cut_at(&self.tail, excess);
                let _ = self.tail.split_to(cut);
                self.len -= cut;
                return;
            };
            if front.len() <= excess {
                self.len -= front.len();
                self.chunks.pop_front();
                continue;
            }
            let cut = cut_at(front, excess);
            let _ = front.split_to(cut);
            self.len -= cut;
            if front.is_empty() {
                self.chunks.pop_front();
            }
        }
    }

    /// What paints the current screen: the kept output from its last
    /// clear, or all of it.
    pub(crate) fn replay(&self) -> Vec<u8> {
        let mut kept = Vec::with_capacity(self.len);
        for chunk in &self.chunks {
            kept.extend_from_slice(chunk);
        }
        kept.extend_from_slice(&self.tail);
        if let Some(at) = last_clear(&kept) {
            kept.drain(..at);
        }
        kept
    }
}

/// Where to cut `chunk` to drop at least `excess` bytes: just after the
/// first `\n` within [`NEAR`] bytes of it, or at `excess` itself.
fn cut_at(chunk: &[u8], excess: usize) -> usize {
    let near = &chunk[excess..chunk.len().min(excess + NEAR)];
    memchr::memchr(b'\n', near).map_or(excess, |p| excess + p + 1)
}

/// Where the last clear sequence in `hay` starts. Every clear begins with
/// ESC, so only ESC bytes (found by memchr, SIMD) are looked at.
fn last_clear(hay: &[u8]) -> Option<usize> {
    memchr::memrchr_iter(0x1b, hay).find(|&at| CLEARS.iter().any(|seq| hay[at..].starts_with(seq)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pushes `data` as the relay does: in a `Bytes` of its own.
    fn push(s: &mut Screen, data: impl AsRef<[u8]>) {
        s.push(&Bytes::copy_from_slice(data.as_ref()));
    }

    #[test]
    fn output_before_a_clear_is_forgotten() {
        let mut s = Screen::new(1024, 80, 24);
        push(&mut s, b"old prompt $ ls\r\nfiles\r\n");
        push(&mut s, b"\x1b[H\x1b[2Jfresh");
        assert_eq!(s.replay(), b"\x1b[2Jfresh");
        push(&mut s, b" more");
        assert_eq!(s.replay(), b"\x1b[2Jfresh more");
    }

    #[test]
    fn a_clear_split_across_two_chunks_is_found() {
        let mut s = Screen::new(1024, 80, 24);
        push(&mut s, b"old\x1b[");
        push(&mut s, b"2Jnew");
        assert_eq!(s.replay(), b"\x1b[2Jnew");
    }

    #[test]
    fn the_buffer_never_exceeds_its_cap_and_keeps_the_newest_lines() {
        let mut s = Screen::new(100, 80, 24);
        for i in 0..50 {
            push(&mut s, format!("line {i:03}\r\n"));
        }
        let replay = s.replay();
        assert!(replay.len() <= 100, "{}", replay.len());
        assert!(replay.starts_with(b"line "), "cut at a line boundary");
        assert!(replay.ends_with(b"line 049\r\n"));
    }

    #[test]
    fn a_chunk_larger_than_the_cap_keeps_its_newest_lines_and_its_last_clear() {
        let lines: String = (0..50).map(|i| format!("line {i:03}\r\n")).collect();
        let mut s = Screen::new(100, 80, 24);
        push(&mut s, format!("\x1b[2J{lines}"));
        let replay = s.replay();
        assert!(replay.len() <= 100, "{}", replay.len());
        assert!(
            replay.starts_with(b"line "),
            "the clear fell out: {replay:?}"
        );
        assert!(replay.ends_with(b"line 049\r\n"));

        push(&mut s, format!("{lines}\x1b[2Jnow"));
        assert_eq!(s.replay(), b"\x1b[2Jnow");
    }

    #[test]
    fn large_chunks_are_kept_without_a_copy_and_small_ones_are_joined() {
        let mut s = Screen::new(64 * 1024, 80, 24);
        let big = Bytes::from(vec![b'x'; 16 * 1024]);
        s.push(&big);
        assert_eq!(
            s.chunks.back().unwrap().as_ptr(),
            big.as_ptr(),
            "shared, not copied"
        );
        for _ in 0..3000 {
            push(&mut s, b"k");
        }
        // 3,000 keystroke echoes: the big chunk, then a few joined tails.
        assert!(s.chunks.len() <= 2, "{} chunks", s.chunks.len());
        let replay = s.replay();
        assert_eq!(replay.len(), 16 * 1024 + 3000);
        assert!(replay.ends_with(&[b'k'; 3000]));
    }

    /// Chunks of every size, in an order that mixes small and large: what
    /// is kept is always the newest output, in order, at most `cap` and at
    /// least `cap` less one line's search.
    #[test]
    fn whatever_the_chunk_sizes_the_newest_output_is_kept_in_order() {
        let cap = 10_000;
        let mut s = Screen::new(cap, 80, 24);
        let mut all = Vec::new();
        // A small linear congruential generator: the same sizes every run.
        let mut seed: u32 = 7;
        for i in 0..2_000u32 {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let size = match seed >> 29 {
                0..=3 => (seed >> 16) as usize % 8 + 1,
                4..=6 => (seed >> 16) as usize % 3_000 + SMALL,
                _ => (seed >> 16) as usize % (2 * cap),
            };
            // Bytes that name their position, with a line break now and then.
            let chunk: Vec<u8> = (0..size)
                .map(|j| {
                    if (i as usize + j).is_multiple_of(97) {
                        b'\n'
                    } else {
                        b'a' + ((i as usize + j) % 26) as u8
                    }
                })
                .collect();
            all.extend_from_slice(&chunk);
            s.push(&Bytes::from(chunk));
            let replay = s.replay();
            assert!(
                all.ends_with(&replay),
                "not the newest output, in order (push {i})"
            );
            assert!(replay.len() <= cap, "{} > cap (push {i})", replay.len());
            assert!(
                replay.len() + NEAR >= cap.min(all.len()),
                "kept only {} of {} (push {i})",
                replay.len(),
                all.len()
            );
            assert_eq!(s.len, replay.len());
        }
    }
}
