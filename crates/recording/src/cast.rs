//! The asciicast v2 file format: a JSON header line, then one JSON array
//! per event, `[seconds, code, data]`, with codes `"o"` (output), `"i"`
//! (input), `"r"` (resize, `"COLSxROWS"`) and `"m"` (marker).
//!
//! A desktop's recording is the same file with two more codes: `"k"`, a
//! key frame (the whole screen), and `"f"`, a changed region, each the
//! base64 of the picture the desktop tab is sent (`x`, `y`, `width`,
//! `height` as big-endian `u16`, then a PNG). Its header's `gatehouse`
//! object says `"screen": "desktop"` and its size is the screen's in
//! pixels. A player seeks to the last key frame before a time and paints
//! the regions after it.
//!
//! Event data is a JSON string, so it must be valid UTF-8; terminal bytes
//! arrive in arbitrary chunks that may split a multibyte character.
//! [`Utf8Carry`] holds back such an incomplete tail and prefixes it to the
//! next chunk, so concatenating the input events gives back exactly the
//! bytes typed (bytes that are not UTF-8 at all become U+FFFD, as in every
//! asciicast writer). Output goes through [`crate::output::OutputText`],
//! which does the same for text and stores binary output compactly.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The first line of a recording.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Header {
    /// Always 2.
    pub version: u32,
    /// Terminal columns at the start.
    pub width: u16,
    /// Terminal rows at the start.
    pub height: u16,
    /// Start time, Unix seconds.
    pub timestamp: i64,
    /// `user@connection`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The terminal type, as asciinema records it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Value>,
    /// Gatehouse's own fields: session id, user, connection, target, node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gatehouse: Option<Value>,
}

/// What an event carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Bytes sent to the client.
    Output,
    /// Bytes typed by the client.
    Input,
    /// The terminal changed size (`"COLSxROWS"`).
    Resize,
    /// A marker (Gatehouse writes one when the size limit stops a recording).
    Marker,
    /// A desktop's whole screen (base64 of a region header and a PNG).
    KeyFrame,
    /// A changed region of a desktop's screen (as [`Kind::KeyFrame`]).
    Frame,
}

impl Kind {
    /// The event code in the file.
    pub fn code(self) -> &'static str {
        match self {
            Kind::Output => "o",
            Kind::Input => "i",
            Kind::Resize => "r",
            Kind::Marker => "m",
            Kind::KeyFrame => "k",
            Kind::Frame => "f",
        }
    }

    fn parse(code: &str) -> Option<Kind> {
        Some(match code {
            "o" => Kind::Output,
            "i" => Kind::Input,
            "r" => Kind::Resize,
            "m" => Kind::Marker,
            "k" => Kind::KeyFrame,
            "f" => Kind::Frame,
            _ => return None,
        })
    }
}

/// One event of a recording.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// Seconds since the start.
    pub time: f64,
    /// What it is.
    pub kind: Kind,
    /// Its data.
    pub data: String,
}

/// One event as a line of the file (with its newline).
pub fn line(time_micros: u64, kind: Kind, data: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 32);
    write_line(&mut out, time_micros, kind, data);
    out
}

/// Appends one event as a line of the file (with its newline) to `out`.
pub fn write_line(out: &mut Vec<u8>, time_micros: u64, kind: Kind, data: &str) {
    let time = time_micros as f64 / 1e6;
    // Writing JSON into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, &(time, kind.code(), data));
    out.push(b'\n');
}

/// Holds back a multibyte character split across chunks.
#[derive(Debug, Default)]
pub struct Utf8Carry {
    tail: Vec<u8>,
}

impl Utf8Carry {
    /// The text of `chunk` after whatever was held back, minus a new
    /// incomplete tail (kept for the next call). Empty if the whole chunk
    /// is an incomplete character. Borrows `chunk` in the common case of
    /// nothing held back and nothing invalid.
    pub fn push<'a>(&mut self, chunk: &'a [u8]) -> Cow<'a, str> {
        if self.tail.is_empty() {
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
                    out.push_str(s);
                    break;
                }
                Err(e) => {
                    let (good, bad) = rest.split_at(e.valid_up_to());
                    // Checked by from_utf8 just now.
                    out.push_str(std::str::from_utf8(good).unwrap_or_default());
                    match e.error_len() {
                        // Incomplete at the end: wait for the rest.
                        None => {
                            self.tail = bad.to_vec();
                            break;
                        }
                        Some(n) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            rest = &bad[n..];
                        }
                    }
                }
            }
        }
        Cow::Owned(out)
    }

    /// What is still held back, as text (a character that never completed).
    pub fn finish(&mut self) -> String {
        let tail = std::mem::take(&mut self.tail);
        String::from_utf8_lossy(&tail).into_owned()
    }
}

/// A recording read back.
#[derive(Clone, Debug)]
pub struct Recording {
    /// The header.
    pub header: Header,
    /// Every complete event, in order.
    pub events: Vec<Event>,
    /// Whether the last line was cut short (the gateway crashed mid-write).
    pub truncated_tail: bool,
}

/// Why a file is not a recording.
#[derive(Debug)]
pub struct ParseError(pub String);

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "not an asciicast v2 recording: {}", self.0)
    }
}

impl std::error::Error for ParseError {}

/// Parses a recording. A malformed last line without its newline is what a
/// crash leaves behind and is skipped; any other malformed line is an error.
pub fn read(text: &str) -> Result<Recording, ParseError> {
    let mut lines = text.split_inclusive('\n');
    let first = lines
        .next()
        .ok_or_else(|| ParseError("empty file".into()))?;
    let header: Header =
        serde_json::from_str(first.trim_end()).map_err(|e| ParseError(format!("header: {e}")))?;
    if header.version != 2 {
        return Err(ParseError(format!("version {}", header.version)));
    }
    let mut events = Vec::new();
    let mut truncated_tail = false;
    for (n, raw) in lines.enumerate() {
        let complete = raw.ends_with('\n');
        let trimmed = raw.trim_end();
        if trimmed.is_empty() {
            continue;
        }
        match parse_event(trimmed) {
            Some(event) => events.push(event),
            None if !complete => truncated_tail = true,
            None => return Err(ParseError(format!("line {}: {trimmed:.80}", n + 2))),
        }
    }
    Ok(Recording {
        header,
        events,
        truncated_tail,
    })
}

fn parse_event(line: &str) -> Option<Event> {
    let (time, code, data): (f64, String, String) = serde_json::from_str(line).ok()?;
    Some(Event {
        time,
        kind: Kind::parse(&code)?,
        data,
    })
}

impl Recording {
    /// Everything the client was sent, concatenated.
    pub fn output(&self) -> String {
        self.events
            .iter()
            .filter(|e| e.kind == Kind::Output)
            .map(|e| e.data.as_str())
            .collect()
    }

    /// Seconds from the start to the last event.
    pub fn duration(&self) -> f64 {
        self.events.last().map_or(0.0, |e| e.time)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_character_split_across_chunks_is_carried_into_the_next_event() {
        let text = "é€😀 plain";
        let bytes = text.as_bytes();
        // Every possible pair of cut points, including mid-character ones.
        for a in 0..bytes.len() {
            for b in a..bytes.len() {
                let mut carry = Utf8Carry::default();
                let mut out = String::new();
                for chunk in [&bytes[..a], &bytes[a..b], &bytes[b..]] {
                    let piece = carry.push(chunk);
                    assert!(std::str::from_utf8(piece.as_bytes()).is_ok());
                    out.push_str(&piece);
                }
                out.push_str(&carry.finish());
                assert_eq!(out.as_bytes(), bytes, "cut at {a} and {b}");
            }
        }
    }

    #[test]
    fn invalid_bytes_become_replacement_characters_without_stalling() {
        let mut carry = Utf8Carry::default();
        assert_eq!(carry.push(b"a\xffb\xc3"), "a\u{fffd}b");
        assert_eq!(carry.push(b"\xa9"), "é");
    }

    #[test]
    fn events_round_trip_through_the_file_format_and_a_cut_last_line_is_skipped() {
        let header = Header {
            version: 2,
            width: 80,
            height: 24,
            timestamp: 1_700_000_000,
            title: None,
            env: None,
            gatehouse: None,
        };
        let mut file = serde_json::to_string(&header).unwrap();
        file.push('\n');
        for (t, kind, data) in [
            (0, Kind::Output, "$ "),
            (1_500_000, Kind::Resize, "100x30"),
            (2_000_001, Kind::Output, "\u{1b}[1mhi\"\\\r\n"),
        ] {
            file.push_str(std::str::from_utf8(&line(t, kind, data)).unwrap());
        }
        let rec = read(&format!("{file}[2.5, \"o\", \"cut")).unwrap();
        assert!(rec.truncated_tail);
        assert_eq!(rec.header, header);
        assert_eq!(rec.events.len(), 3);
        assert_eq!(rec.events[1].kind, Kind::Resize);
        assert_eq!(rec.output(), "$ \u{1b}[1mhi\"\\\r\n");
        assert!((rec.duration() - 2.000001).abs() < 1e-9);
        assert!(read(&format!("{file}[oops]\n")).is_err());
    }

    mod properties {
        use super::*;
        use crate::output::OutputText;
        use proptest::collection::vec;
        use proptest::prelude::*;

        proptest! {
            /// Any output, in any chunks, makes a recording that reads back
            /// as exactly the text written; and a file cut anywhere (a
            /// crash mid-write) still reads, as a prefix of it.
            #[test]
            fn any_output_reads_back_and_any_cut_of_the_file_reads_as_a_prefix(
                chunks in vec(vec(any::<u8>(), 0..64), 0..12),
                cut_at in any::<usize>(),
            ) {
                let header = Header {
                    version: 2, width: 80, height: 24, timestamp: 0,
                    title: None, env: None, gatehouse: None,
                };
                let mut file = serde_json::to_vec(&header).unwrap();
                file.push(b'\n');
                let header_len = file.len();
                let (mut text, mut expected) = (OutputText::default(), String::new());
                for (i, chunk) in chunks.iter().enumerate() {
                    let t = text.push(chunk);
                    if !t.is_empty() {
                        expected.push_str(&t);
                        write_line(&mut file, i as u64 * 1_000, Kind::Output, &t);
                    }
                }
                let t = text.finish();
                expected.push_str(&t);
                write_line(&mut file, 99_000_000, Kind::Output, &t);

                let whole = read(std::str::from_utf8(&file).unwrap()).unwrap();
                prop_assert_eq!(whole.output(), expected.clone());
                prop_assert!(!whole.truncated_tail);

                let cut = header_len + cut_at % (file.len() - header_len + 1);
                let part = read(&String::from_utf8_lossy(&file[..cut])).unwrap();
                prop_assert!(expected.starts_with(&part.output()));
            }

            /// Whatever a file holds, reading it answers; it never panics.
            #[test]
            fn reading_any_text_never_panics(chars in vec(any::<char>(), 0..300)) {
                let text: String = chars.into_iter().collect();
                let _ = read(&text);
                let _ = read(&format!("{{\"version\":2,\"width\":80,\"height\":24,\"timestamp\":0}}\n{text}"));
            }
        }
    }
}
