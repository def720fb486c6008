//! Terminal output as the text of output events, compactly.
//!
//! Event data is a JSON string, so it must be valid UTF-8, and JSON spells
//! a control byte as six (`\u0001`). Text output — valid UTF-8 and the
//! controls a terminal acts on — passes through byte for byte. Binary
//! output (`cat` of an executable, `head -c N /dev/urandom`) would
//! otherwise grow about 2.4 times: every byte that is not UTF-8 a U+FFFD
//! of three bytes, every stray control six. Here instead:
//!
//! - every control byte a terminal ignores (NUL, the other C0 controls but
//!   BEL, BS, HT, LF, VT, FF, CR, SO, SI, CAN, SUB and ESC, and DEL) is
//!   dropped, wherever it is;
//! - each run of bytes that are not UTF-8 becomes one U+FFFD, and the
//!   control bytes right after such a run, up to the next printable
//!   character, ESC, CR or LF, go with it: in binary junk they are noise,
//!   not intent (a BEL or SO in the middle of an executable).
//!
//! Random bytes then take at most 1.3 times their size in the file
//! (measured: about 1.23; see the tests). What a player draws differs
//! from the live terminal only where the live terminal drew garbage.
//! A multibyte character split across chunks is held back and completed
//! by the next chunk, so text stays exact whatever the packet boundaries.

use std::borrow::Cow;

/// Turns chunks of terminal output into event text (see the module docs).
#[derive(Debug, Default)]
pub struct OutputText {
    /// An incomplete character at the end of the last chunk.
    tail: Vec<u8>,
    /// The last thing emitted was a U+FFFD standing for binary junk, and
    /// no printable character, ESC, CR or LF came since.
    junk: bool,
}

const ESC: u8 = 0x1b;

/// A control byte terminals ignore: dropped everywhere.
fn ignored(b: u8) -> bool {
    matches!(b, 0x00..=0x06 | 0x10..=0x17 | 0x19 | 0x1c..=0x1f | 0x7f)
}

/// A control byte that does not survive next to binary junk.
fn junk_control(b: u8) -> bool {
    b < 0x20 && !matches!(b, ESC | b'\r' | b'\n')
}

impl OutputText {
    /// The text of `chunk` after whatever was held back, minus a new
    /// incomplete tail (kept for the next call). Empty if nothing in it is
    /// kept. Borrows `chunk` in the common case: plain text, nothing held
    /// back.
    pub fn push<'a>(&mut self, chunk: &'a [u8]) -> Cow<'a, str> {
        if self.tail.is_empty() && !self.junk && !chunk.iter().any(|&b| ignored(b)) {
            match std::str::from_utf8(chunk) {
                Ok(s) => return Cow::Borrowed(s),
                Err(e) if e.error_len().is_none() => {
                    let (good, rest) = chunk.split_at(e.valid_up_to());
                    self.tail = rest.to_vec();
                    return Cow::Borrowed(std::str::from_utf8(good).unwrap_or_default());
                }
                Err(_) => {}
            }
        }
        let mut bytes = std::mem::take(&mut self.tail);
        bytes.extend_from_slice(chunk);
        let mut out = String::with_capacity(bytes.len());
        let mut rest = &bytes[..];
        loop {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    self.text(&mut out, s);
                    break;
                }
                Err(e) => {
                    let (good, bad) = rest.split_at(e.valid_up_to());
                    // Checked by from_utf8 just now.
                    self.text(&mut out, std::str::from_utf8(good).unwrap_or_default());
                    match e.error_len() {
                        // Incomplete at the end: wait for the rest.
                        None => {
                            self.tail = bad.to_vec();
                            break;
                        }
                        Some(n) => {
                            self.junk_seen(&mut out);
                            rest = &bad[n..];
                        }
                    }
                }
            }
        }
        Cow::Owned(out)
    }

    /// What is still held back (a character that never completed), as
    /// text: a U+FFFD, unless junk was just written.
    pub fn finish(&mut self) -> String {
        let mut out = String::new();
        if !std::mem::take(&mut self.tail).is_empty() {
            self.junk_seen(&mut out);
        }
        out
    }

    fn junk_seen(&mut self, out: &mut String) {
        if !self.junk {
            out.push(char::REPLACEMENT_CHARACTER);
            self.junk = true;
        }
    }

    /// Appends valid text, minus the controls that go.
    fn text(&mut self, out: &mut String, s: &str) {
        let mut start = 0;
        for (i, b) in s.bytes().enumerate() {
            if ignored(b) || (self.junk && junk_control(b)) {
                // An ASCII byte: both ends are character boundaries.
                out.push_str(&s[start..i]);
                start = i + 1;
            } else {
                self.junk = false;
            }
        }
        out.push_str(&s[start..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(chunks: &[&[u8]]) -> String {
        let mut x = OutputText::default();
        let mut out = String::new();
        for c in chunks {
            out.push_str(&x.push(c));
        }
        out.push_str(&x.finish());
        out
    }

    #[test]
    fn text_and_the_controls_terminals_act_on_pass_through_byte_for_byte() {
        let text =
            "é€😀 \u{1b}]0;t\u{7}\u{1b}[1mb\u{1b}[0m\t\u{8}\u{b}\u{c}\u{e}\u{f}\u{18}\u{1a}\r\n";
        let bytes = text.as_bytes();
        // Every possible pair of cut points, including mid-character ones.
        for a in 0..bytes.len() {
            for b in a..bytes.len() {
                assert_eq!(
                    encode(&[&bytes[..a], &bytes[a..b], &bytes[b..]]),
                    text,
                    "cut at {a} and {b}"
                );
            }
        }
        let mut x = OutputText::default();
        assert!(matches!(x.push(b"plain"), Cow::Borrowed("plain")));
    }

    #[test]
    fn ignored_controls_go_and_a_run_of_junk_becomes_one_replacement_character() {
        assert_eq!(encode(&[b"a\0\x01b\x7fc"]), "abc");
        assert_eq!(encode(&[b"a\xff\xfe\x80b"]), "a\u{fffd}b");
        // Across chunks, with controls inside and right after the junk.
        assert_eq!(
            encode(&[b"a\xff\x07", b"\x0e\xe2", b"\xff\x80\x08\x00b\r\n"]),
            "a\u{fffd}b\r\n"
        );
        // ESC, CR and LF survive junk; a printable character ends it.
        assert_eq!(
            encode(&[b"\xff\x1b[0m\xfe\r\n\xfex\x07"]),
            "\u{fffd}\u{1b}[0m\u{fffd}\r\n\u{fffd}x\u{7}"
        );
        // A character that never completes is junk too.
        assert_eq!(encode(&[b"ok\xe2\x82"]), "ok\u{fffd}");
        assert_eq!(encode(&[b"\xff\xe2\x82"]), "\u{fffd}");
    }

    /// The bound the module docs promise, for output with no structure at
    /// all: what an asciicast line costs per byte of random output.
    #[test]
    fn random_bytes_take_at_most_1_3_times_their_size() {
        // xorshift64*: deterministic, and no dependency for it.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let random: Vec<u8> = (0..1 << 20)
            .map(|_| {
                state ^= state >> 12;
                state ^= state << 25;
                state ^= state >> 27;
                (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
            })
            .collect();
        let mut x = OutputText::default();
        let mut file = Vec::new();
        for chunk in random.chunks(32 * 1024) {
            crate::cast::write_line(
                &mut file,
                1_234_567,
                crate::cast::Kind::Output,
                &x.push(chunk),
            );
        }
        let ratio = file.len() as f64 / random.len() as f64;
        assert!(ratio <= 1.3, "{ratio:.3} times the output");
        assert!(
            ratio > 1.0,
            "{ratio:.3}: printable ASCII and valid characters stay"
        );
    }

    mod properties {
        use super::*;
        use proptest::collection::vec;
        use proptest::prelude::*;

        /// Any bytes, cut into chunks anywhere (as SSH packets cut them).
        fn chunked(max: usize) -> impl Strategy<Value = (Vec<u8>, Vec<usize>)> {
            (vec(any::<u8>(), 0..max), vec(any::<usize>(), 0..8))
        }

        fn cut<'a>(bytes: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
            let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
            points.sort_unstable();
            let mut chunks = Vec::new();
            let mut from = 0;
            for p in points {
                chunks.push(&bytes[from..p]);
                from = p;
            }
            chunks.push(&bytes[from..]);
            chunks
        }

        proptest! {
            /// Whatever the output and wherever the packets cut it, the
            /// event text is the same as for the output in one piece.
            #[test]
            fn the_text_does_not_depend_on_where_packets_cut_the_output(
                (bytes, cuts) in chunked(600)
            ) {
                prop_assert_eq!(encode(&cut(&bytes, &cuts)), encode(&[&bytes]));
            }

            /// Text a terminal acts on (any characters, no ignored
            /// controls) is kept byte for byte, wherever it is cut.
            #[test]
            fn text_is_kept_exactly_wherever_it_is_cut(
                chars in vec(any::<char>(), 0..200),
                cuts in vec(any::<usize>(), 0..8),
            ) {
                let text: String = chars
                    .into_iter()
                    .filter(|c| !(c.is_ascii() && ignored(*c as u8)))
                    .collect();
                prop_assert_eq!(encode(&cut(text.as_bytes(), &cuts)), text);
            }
        }
    }
}
