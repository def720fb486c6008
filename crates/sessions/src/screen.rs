//! What a newcomer needs to paint a session's current screen: the session's
//! output since the screen was last cleared, bounded in size. Replayed into
//! a terminal of the session's size, it reproduces what the user sees.

use std::collections::VecDeque;

/// Sequences after which nothing earlier affects the screen: clear screen,
/// full reset, and switching to the alternate screen (which full-screen
/// programs clear and redraw).
const CLEARS: [&[u8]; 3] = [b"\x1b[2J", b"\x1bc", b"\x1b[?1049h"];

/// Recent output, at most `cap` bytes; what came before the last screen
/// clear in it is left out when it is replayed. A ring buffer: output is
/// appended and old bytes dropped from the front without moving the rest
/// (a `Vec` moved up to `cap` bytes per chunk, which was most of the
/// relay's CPU on bulk output through a pty).
#[derive(Debug)]
pub(crate) struct Screen {
    buf: VecDeque<u8>,
    cap: usize,
    pub(crate) cols: u16,
    pub(crate) rows: u16,
}

impl Screen {
    pub(crate) fn new(cap: usize, cols: u16, rows: u16) -> Self {
        Self {
            buf: VecDeque::new(),
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
    pub(crate) fn push(&mut self, data: &[u8]) {
        // Only the newest `cap` bytes can stay.
        self.buf
            .extend(&data[data.len().saturating_sub(self.cap)..]);
        if self.buf.len() > self.cap {
            // Keep the newest bytes, starting at a line boundary when one is near.
            let excess = self.buf.len() - self.cap;
            let cut = find_newline(&self.buf, excess, 4096).map_or(excess, |p| p + 1);
            self.buf.drain(..cut);
        }
    }

    /// What paints the current screen: the kept output from its last
    /// clear, or all of it.
    pub(crate) fn replay(&self) -> Vec<u8> {
        let (a, b) = self.buf.as_slices();
        let mut kept = [a, b].concat();
        if let Some(at) = last_clear(&kept) {
            kept.drain(..at);
        }
        kept
    }
}

/// Where the last clear sequence in `hay` starts. Every clear begins with
/// ESC, so only ESC bytes (found by memchr, SIMD) are looked at.
fn last_clear(hay: &[u8]) -> Option<usize> {
    memchr::memrchr_iter(0x1b, hay).find(|&at| CLEARS.iter().any(|seq| hay[at..].starts_with(seq)))
}

/// The first `\n` at or after `start`, looking at most `len` bytes.
fn find_newline(buf: &VecDeque<u8>, start: usize, len: usize) -> Option<usize> {
    let (a, b) = buf.as_slices();
    let end = (start + len).min(buf.len());
    if start < a.len() {
        let in_a = &a[start..end.min(a.len())];
        if let Some(p) = memchr::memchr(b'\n', in_a) {
            return Some(start + p);
        }
    }
    let from = start.max(a.len()) - a.len();
    let to = end.saturating_sub(a.len());
    (from < to)
        .then(|| memchr::memchr(b'\n', &b[from..to]))
        .flatten()
        .map(|p| a.len() + from + p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_before_a_clear_is_forgotten() {
        let mut s = Screen::new(1024, 80, 24);
        s.push(b"old prompt $ ls\r\nfiles\r\n");
        s.push(b"\x1b[H\x1b[2Jfresh");
        assert_eq!(s.replay(), b"\x1b[2Jfresh");
        s.push(b" more");
        assert_eq!(s.replay(), b"\x1b[2Jfresh more");
    }

    #[test]
    fn a_clear_split_across_two_chunks_is_found() {
        let mut s = Screen::new(1024, 80, 24);
        s.push(b"old\x1b[");
        s.push(b"2Jnew");
        assert_eq!(s.replay(), b"\x1b[2Jnew");
    }

    #[test]
    fn the_buffer_never_exceeds_its_cap_and_keeps_the_newest_lines() {
        let mut s = Screen::new(100, 80, 24);
        for i in 0..50 {
            s.push(format!("line {i:03}\r\n").as_bytes());
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
        s.push(format!("\x1b[2J{lines}").as_bytes());
        let replay = s.replay();
        assert!(replay.len() <= 100, "{}", replay.len());
        assert!(
            replay.starts_with(b"line "),
            "the clear fell out: {replay:?}"
        );
        assert!(replay.ends_with(b"line 049\r\n"));

        s.push(format!("{lines}\x1b[2Jnow").as_bytes());
        assert_eq!(s.replay(), b"\x1b[2Jnow");
    }
}
