//! Terminal output as plain text, for the search index: escape sequences
//! (colours, cursor movement, window titles) removed, backspaces applied to
//! the current line, carriage returns and line feeds as line breaks. It is
//! not a terminal emulator — a full-screen program's text comes out in
//! drawing order — but what a shell user typed and saw is all there.

/// How many of `bytes` from the start satisfy `f`.
fn run(bytes: &[u8], f: impl Fn(u8) -> bool) -> usize {
    bytes.iter().position(|&b| !f(b)).unwrap_or(bytes.len())
}

/// Turns terminal output into plain text, chunk by chunk (a sequence may be
/// split across chunks), keeping at most `limit` bytes.
#[derive(Debug)]
pub struct TextExtractor {
    state: State,
    text: String,
    limit: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Ground,
    /// After ESC.
    Escape,
    /// After ESC and an intermediate byte (`ESC ( B`).
    EscapeIntermediate,
    /// In a control sequence (`ESC [ … final`).
    Csi,
    /// In an operating-system command or string (`ESC ] … BEL` or `ESC \`).
    Osc,
    /// ESC inside an OSC: `\` ends it.
    OscEscape,
}

impl TextExtractor {
    /// An extractor that keeps at most `limit` bytes of text.
    pub fn new(limit: usize) -> Self {
        Self {
            state: State::Ground,
            text: String::new(),
            limit,
        }
    }

    /// Feeds the next piece of output.
    pub fn push(&mut self, chunk: &str) {
        let bytes = chunk.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if self.text.len() >= self.limit {
                return;
            }
            if self.state == State::Ground {
                // Bulk output is mostly plain ASCII (taken as a run) or
                // bytes that mean nothing to the text (skipped as a run).
                let plain = run(&bytes[i..], |b| (b' '..=b'~').contains(&b));
                if plain > 0 {
                    let room = self.limit - self.text.len();
                    // ASCII only, so any cut is on a character boundary.
                    self.text.push_str(&chunk[i..i + plain.min(room)]);
                    i += plain;
                    continue;
                }
                let inert = run(&bytes[i..], |b| {
                    (b < b' ' && !b"\n\r\x08\t\x18\x1a\x1b".contains(&b)) || b == 0x7f
                });
                if inert > 0 {
                    i += inert;
                    continue;
                }
            }
            let Some(c) = chunk[i..].chars().next() else {
                return;
            };
            self.step(c);
            i += c.len_utf8();
        }
    }

    fn step(&mut self, c: char) {
        self.state = match (self.state, c) {
            (_, '\u{18}' | '\u{1a}') => State::Ground,
            (State::Osc | State::OscEscape, '\u{7}') => State::Ground,
            (State::Osc, '\u{1b}') => State::OscEscape,
            (State::OscEscape, '\\') => State::Ground,
            (State::OscEscape, _) | (State::Osc, _) => State::Osc,
            (_, '\u{1b}') => State::Escape,
            (State::Escape, '[') => State::Csi,
            (State::Escape, ']' | 'P' | '_' | '^' | 'X') => State::Osc,
            (State::Escape, ' '..='/') => State::EscapeIntermediate,
            (State::Escape | State::EscapeIntermediate, _) => State::Ground,
            (State::Csi, '@'..='~') => State::Ground,
            (State::Csi, _) => State::Csi,
            (State::Ground, c) => {
                self.ground(c);
                State::Ground
            }
        };
    }

    fn ground(&mut self, c: char) {
        // Keep in step with the runs in `push`.
        match c {
            '\n' | '\r' => {
                if !self.text.is_empty() && !self.text.ends_with('\n') {
                    self.text.push('\n');
                }
            }
            '\u{8}' => {
                if !self.text.ends_with('\n') {
                    self.text.pop();
                }
            }
            '\t' => self.text.push(' '),
            c if c.is_control() => {}
            c => self.text.push(c),
        }
    }

    /// The text so far.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The text, consuming the extractor.
    pub fn into_text(self) -> String {
        self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(chunks: &[&str]) -> String {
        let mut x = TextExtractor::new(1 << 20);
        for c in chunks {
            x.push(c);
        }
        x.into_text()
    }

    #[test]
    fn escape_sequences_go_and_the_words_stay() {
        assert_eq!(
            plain(&[
                "\u{1b}]0;user@host: ~\u{7}\u{1b}[01;32muser\u{1b}[0m$ ",
                "rm -r\u{1b}",
                "[K",
                "f /tmp/x\r\n"
            ]),
            "user$ rm -rf /tmp/x\n"
        );
    }

    #[test]
    fn backspace_erases_what_was_typed() {
        assert_eq!(plain(&["$ rm -rg\u{8} \u{8}f\r\n"]), "$ rm -rf\n");
    }

    #[test]
    fn control_bytes_between_words_leave_no_trace() {
        assert_eq!(
            plain(&["\0\0\0ab\x07c\x7f\x01d\u{85}é \x1b[1mx\tz"]),
            "abcdé x z"
        );
    }

    #[test]
    fn the_text_is_bounded() {
        let mut x = TextExtractor::new(4);
        x.push("abcdefgh");
        assert_eq!(x.text(), "abcd");
    }
}
