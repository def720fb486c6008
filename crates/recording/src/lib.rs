//! Session recordings in the asciicast v2 format.
//!
//! A [`Recorder`] is the sending side a live session holds: it timestamps
//! output, input and resizes as they happen and passes them over a channel
//! to a writer task, so relaying never waits on the disk. The writer encodes
//! each chunk as one asciicast event ([`cast`]; output compactly, see
//! [`output`]), writes the header once the terminal's size is known (at the
//! first event), writes at least every
//! [`RecordingConfig::flush_every`] (a crash loses at most that much), stops
//! with a marker event at [`RecordingConfig::max_bytes`], and when the
//! session ends hands a [`Summary`] — size, duration and the output as plain
//! text ([`text`]) for the search index — to whoever asked for it.
//! [`cast::read`] parses a file back, tolerating a last line cut short by a
//! crash. Nothing here knows the registry or the database.

pub mod cast;
pub mod output;
pub mod text;
mod writer;

pub use writer::{Recorder, RecordingConfig, RecordingMeta, Summary, TEXT_LIMIT, relative_path};
