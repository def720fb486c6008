//! What a newcomer needs to paint a session's current screen: the session's
//! output since the screen was last cleared, bounded in size. Replayed into
//! a terminal of the session's size, it reproduces what the user sees.

/// Sequences after which nothing earlier affects the screen: clear screen,
/// full reset, and switching to the alternate screen (which full-screen
/// programs clear and redraw).
const CLEARS: [&[u8]; 3] = [b"\x1b[2J", b"\x1bc", b"\x1b[?1049h"];

/// Recent output, kept from the last screen clear, at most `cap` bytes.
#[derive(Debug)]
pub(crate) struct Screen {
    buf: Vec<u8>,
    cap: usize,
    pub(crate) cols: u16,
    pub(crate) rows: u16,
}

impl Screen {
    pub(crate) fn new(cap: usize, cols: u16, rows: u16) -> Self {
        Self {
            buf: Vec::new(),
            cap,
            cols,
            rows,
        }
    }

    pub(crate) fn push(&mut self, data: &[u8]) {
        // A clear sequence may straddle two chunks: search from a little before.
        let from = self.buf.len().saturating_sub(7);
        self.buf.extend_from_slice(data);
        if let Some(at) = last_clear(&self.buf[from..]) {
            self.buf.drain(..from + at);
        }
        if self.buf.len() > self.cap {
            // Keep the newest bytes, starting at a line boundary when one is near.
            let excess = self.buf.len() - self.cap;
            let cut = self.buf[excess..]
                .iter()
                .take(4096)
                .position(|b| *b == b'\n')
                .map_or(excess, |p| excess + p + 1);
            self.buf.drain(..cut);
        }
    }

    pub(crate) fn replay(&self) -> Vec<u8> {
        self.buf.clone()
    }
}

fn last_clear(hay: &[u8]) -> Option<usize> {
    CLEARS
        .iter()
        .filter_map(|seq| hay.windows(seq.len()).rposition(|w| w == *seq))
        .max()
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
}
