//! The live side: a [`Recorder`] per session and the task that writes its file.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use std::borrow::Cow;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use serde_json::{Value, json};
use time::OffsetDateTime;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::cast::{Header, Kind, Utf8Carry, line, write_line};
use crate::output::OutputText;
use crate::text::TextExtractor;

/// Where recordings go and how big they may grow.
#[derive(Clone, Debug)]
pub struct RecordingConfig {
    /// The recordings folder (`<data dir>/recordings`).
    pub dir: PathBuf,
    /// The largest file one session may write, header and marker included.
    pub max_bytes: u64,
    /// How long written events may wait in memory before they reach the
    /// file: what a crash of the gateway can lose.
    pub flush_every: Duration,
}

impl RecordingConfig {
    /// Recordings in `dir`, at most `max_bytes` each, written every 500 ms.
    pub fn new(dir: impl Into<PathBuf>, max_bytes: u64) -> Self {
        Self {
            dir: dir.into(),
            max_bytes,
            flush_every: Duration::from_millis(500),
        }
    }
}

/// What the header says about the session.
#[derive(Clone, Debug)]
pub struct RecordingMeta {
    /// The session id.
    pub session: String,
    /// The owner's username.
    pub user: String,
    /// The connection's name.
    pub connection: String,
    /// `host:port` dialled.
    pub target: String,
    /// The node relaying it.
    pub node: String,
    /// When the session started.
    pub started_at: OffsetDateTime,
    /// Initial terminal width; 0 while not known yet (a native client
    /// asks for its pty after its session opened): the header then waits
    /// for the first event and takes its size if it is a resize.
    pub cols: u16,
    /// Initial terminal height; 0 while not known yet.
    pub rows: u16,
    /// Whether keystrokes are recorded too.
    pub input: bool,
}

/// A finished recording, for history and the search index.
#[derive(Clone, Debug)]
pub struct Summary {
    /// The session id.
    pub session: String,
    /// The file, relative to the recordings folder.
    pub path: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// From the start to the last event.
    pub duration: Duration,
    /// Whether the size limit (or a disk that could not keep up) stopped it.
    pub truncated: bool,
    /// The output as plain text (see [`crate::text`]), bounded.
    pub text: String,
}

/// The most plain text kept per recording for the search index: text
/// printed after the first MiB of a session is replayable but not searchable.
pub const TEXT_LIMIT: usize = 1 << 20;
/// Finished recordings are synced to disk one at a time.
static SYNC_TURN: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);

/// Room kept for the marker line that says the limit was reached.
const MARKER_ROOM: u64 = 128;
/// Buffered bytes that trigger a write before the next tick.
const WRITE_AT: usize = 256 * 1024;
/// The least output that may wait for the writer, whatever the size limit:
/// a busy gateway can relay a few SSH windows (2 MiB each) of a burst
/// before the writer task gets its turn, and a small limit must end a
/// recording with its own marker, not a writer "behind" by a few KiB.
const QUEUE_FLOOR: u64 = 4 << 20;

enum Msg {
    Event(Duration, Kind, Bytes),
    /// The writer fell too far behind: events from here on were dropped.
    Overflow(Duration),
    Finish,
}

/// The file of a session started at `at`: `YYYY/MM/DD/<session>.cast`
/// under the recordings folder (UTC date, so a folder is one day to expire).
pub fn relative_path(session: &str, at: OffsetDateTime) -> String {
    format!(
        "{:04}/{:02}/{:02}/{session}.cast",
        at.year(),
        u8::from(at.month()),
        at.day()
    )
}

/// A live session's recorder: cheap calls that timestamp an event and
/// queue it for the writer task. After [`Recorder::finish`] (or once the
/// size limit is reached) further events are dropped.
#[derive(Debug)]
pub struct Recorder {
    tx: mpsc::UnboundedSender<Msg>,
    started: Instant,
    input: bool,
    /// The most bytes that may wait for the writer.
    queue_limit: u64,
    shared: Arc<Shared>,
}

/// What the recorder and its writer both see.
#[derive(Debug, Default)]
struct Shared {
    /// Bytes queued that the writer has not taken yet.
    queued: AtomicU64,
    /// No more events are wanted: the file is complete, full, or the
    /// writer fell behind.
    stopped: AtomicBool,
}

impl Recorder {
    /// Starts recording a session: spawns the writer task (it creates the
    /// file) and returns the recorder. `done` gets the summary once the
    /// file is complete. Must be called inside a tokio runtime.
    pub fn start(
        config: &RecordingConfig,
        meta: RecordingMeta,
        done: impl FnOnce(Summary) + Send + 'static,
    ) -> Recorder {
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared::default());
        let recorder = Recorder {
            tx,
            started: Instant::now(),
            input: meta.input,
            queue_limit: config.max_bytes.max(QUEUE_FLOOR),
            shared: shared.clone(),
        };
        let writer = Writer {
            path: relative_path(&meta.session, meta.started_at),
            config: config.clone(),
            shared,
        };
        tokio::spawn(async move {
            let summary = writer.run(meta, rx).await;
            done(summary);
        });
        recorder
    }

    fn send(&self, kind: Kind, data: Bytes) {
        if self.shared.stopped.load(Ordering::Relaxed) {
            return;
        }
        // A disk that cannot keep up must not make the queue take unbounded
        // memory: with more than a whole file's worth waiting (or the
        // floor), the recording stops, with a marker where the gap begins. (Counting
        // what is waiting, not all that was ever sent: output stored
        // compactly can be far smaller in the file than on the wire.)
        let len = data.len() as u64;
        let queued = self.shared.queued.fetch_add(len, Ordering::Relaxed) + len;
        if queued > self.queue_limit {
            self.shared.queued.fetch_sub(len, Ordering::Relaxed);
            if !self.shared.stopped.swap(true, Ordering::Relaxed) {
                let _ = self.tx.send(Msg::Overflow(self.started.elapsed()));
            }
            return;
        }
        let _ = self.tx.send(Msg::Event(self.started.elapsed(), kind, data));
    }

    /// Output sent to the client.
    pub fn output(&self, data: &Bytes) {
        self.send(Kind::Output, data.clone());
    }

    /// Keystrokes from the client (ignored unless input is recorded).
    pub fn input(&self, data: &[u8]) {
        if self.input {
            self.send(Kind::Input, Bytes::copy_from_slice(data));
        }
    }

    /// A desktop's picture: a changed region, or with `key` the whole
    /// screen (a player seeks to the last key frame before a time). The
    /// first key frame of a recording whose size is not known yet gives the
    /// header its size and marks it a desktop's.
    pub fn frame(&self, picture: &Bytes, key: bool) {
        let kind = if key { Kind::KeyFrame } else { Kind::Frame };
        self.send(kind, picture.clone());
    }

    /// The terminal's new size.
    pub fn resize(&self, cols: u16, rows: u16) {
        self.send(Kind::Resize, Bytes::from(format!("{cols}x{rows}")));
    }

    /// The session is over: the writer writes what is queued and closes the file.
    pub fn finish(&self) {
        let _ = self.tx.send(Msg::Finish);
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.finish();
    }
}

struct Writer {
    path: String,
    config: RecordingConfig,
    shared: Arc<Shared>,
}

/// The file being written and what has been said about it. The file is
/// opened only to append each flush, so a live session holds no descriptor
/// for its recording: 10,000 live sessions, two sockets each, must fit
/// under the process's open-file limit.
struct Sink {
    path: PathBuf,
    /// False once the file could not be created or written: writing stops
    /// rather than leave a file with a gap in it.
    ok: bool,
    buf: Vec<u8>,
    written: u64,
}

impl Sink {
    /// Creates the file (and its folder), readable by the gateway's user
    /// alone whatever the umask: a recording holds everything a terminal showed.
    async fn create(path: PathBuf) -> Sink {
        let created = blocking({
            let path = path.clone();
            move || {
                use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
                if let Some(parent) = path.parent() {
                    std::fs::DirBuilder::new()
                        .recursive(true)
                        .mode(0o700)
                        .create(parent)?;
                }
                std::fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .mode(0o600)
                    .open(&path)
                    .map(drop)
            }
        })
        .await;
        let ok = match created {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "could not create recording");
                metrics::counter!("gatehouse_recording_failures_total", "stage" => "create")
                    .increment(1);
                false
            }
        };
        Sink {
            path,
            ok,
            // Grown as output comes, not reserved up front: 256 KiB per
            // session was a quarter of a gigabyte of heap with 1,000 idle
            // sessions (heaptrack), that an idle prompt never fills.
            buf: Vec::new(),
            written: 0,
        }
    }

    /// Appends what is buffered; with `sync`, also waits until the whole
    /// file is on disk.
    async fn flush(&mut self, sync: bool) {
        if !self.ok {
            self.buf.clear();
            return;
        }
        if self.buf.is_empty() && !sync {
            return;
        }
        let buf = std::mem::take(&mut self.buf);
        let path = self.path.clone();
        match blocking(move || append(&path, &buf, sync).map(|()| buf)).await {
            Ok(mut buf) => {
                self.written += buf.len() as u64;
                buf.clear();
                self.buf = buf;
            }
            Err(e) => {
                tracing::error!(path = %self.path.display(), error = %e, "could not write recording");
                metrics::counter!("gatehouse_recording_failures_total", "stage" => "write")
                    .increment(1);
                self.ok = false;
            }
        }
    }

    fn size(&self) -> u64 {
        self.written + self.buf.len() as u64
    }
}

/// Runs file work on the blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(std::io::Error::other)?
}

fn append(path: &Path, data: &[u8], sync: bool) -> std::io::Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new().append(true).open(path)?;
    file.write_all(data)?;
    if sync {
        file.sync_data()?;
    }
    Ok(())
}

impl Writer {
    async fn run(self, meta: RecordingMeta, mut rx: mpsc::UnboundedReceiver<Msg>) -> Summary {
        let mut sink = Sink::create(self.config.dir.join(&self.path)).await;
        // Without the terminal's size yet, the header waits for the first
        // event: a native client's pty request (a resize) comes just after
        // its session opened, and the header takes that size instead of
        // saying 80x24 and following up with a resize.
        let mut pending = Some(header(&meta));
        if meta.cols != 0 && meta.rows != 0 {
            write_header(&mut sink, &mut pending);
            sink.flush(false).await;
        }

        let mut output = OutputText::default();
        let mut input = Utf8Carry::default();
        let mut text = TextExtractor::new(TEXT_LIMIT);
        let mut last = Duration::ZERO;
        let mut truncated = false;
        // Written events reach the file at most `flush_every` after the
        // first of them was buffered. The timer runs only while something
        // waits in the buffer: a ticker per session woke 10,000 idle
        // sessions' writers 20,000 times a second for nothing.
        let flush = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(flush);
        let mut armed = false;
        loop {
            if !armed && !sink.buf.is_empty() {
                flush
                    .as_mut()
                    .reset(Instant::now() + self.config.flush_every);
                armed = true;
            }
            let msg = tokio::select! {
                msg = rx.recv() => msg,
                () = &mut flush, if armed => {
                    armed = false;
                    sink.flush(false).await;
                    continue;
                }
            };
            let (at, kind, data) = match msg {
                Some(Msg::Event(at, kind, data)) => (at, kind, data),
                Some(Msg::Overflow(at)) => {
                    write_header(&mut sink, &mut pending);
                    if !truncated {
                        let note = format!(
                            "recording stopped: more than {} bytes waited for the disk",
                            self.config.max_bytes.max(QUEUE_FLOOR)
                        );
                        sink.buf
                            .extend_from_slice(&line(micros(at), Kind::Marker, &note));
                        truncated = true;
                        last = at;
                        tracing::warn!(session = %meta.session, "recording fell behind and stopped");
                        metrics::counter!("gatehouse_recording_failures_total", "stage" => "fell_behind").increment(1);
                    }
                    continue;
                }
                Some(Msg::Finish) | None => break,
            };
            self.shared
                .queued
                .fetch_sub(data.len() as u64, Ordering::Relaxed);
            if truncated {
                continue;
            }
            if let Some(header) = pending.as_mut()
                && kind == Kind::Resize
                && let Some((cols, rows)) = parse_size(&data)
            {
                header.width = cols;
                header.height = rows;
                write_header(&mut sink, &mut pending);
                continue;
            }
            if let Some(header) = pending.as_mut()
                && kind == Kind::KeyFrame
                && let Some((width, height)) = picture_size(&data)
            {
                desktop_header(header, width, height);
            }
            write_header(&mut sink, &mut pending);
            let data = match kind {
                Kind::Output => output.push(&data),
                Kind::Input => input.push(&data),
                // Pictures are binary: base64 keeps each one a JSON string.
                Kind::KeyFrame | Kind::Frame => Cow::Owned(BASE64.encode(&data)),
                _ => String::from_utf8_lossy(&data),
            };
            if data.is_empty() {
                continue;
            }
            let mark = sink.buf.len();
            write_line(&mut sink.buf, micros(at), kind, &data);
            if sink.size() + MARKER_ROOM > self.config.max_bytes {
                sink.buf.truncate(mark);
                let note = format!(
                    "recording stopped: size limit of {} bytes reached",
                    self.config.max_bytes
                );
                sink.buf
                    .extend_from_slice(&line(micros(at), Kind::Marker, &note));
                self.shared.stopped.store(true, Ordering::Relaxed);
                truncated = true;
                last = at;
                tracing::info!(session = %meta.session, "recording reached its size limit");
                continue;
            }
            if kind == Kind::Output {
                text.push(&data);
            }
            last = at;
            if sink.buf.len() >= WRITE_AT {
                sink.flush(false).await;
            }
        }
        self.shared.stopped.store(true, Ordering::Relaxed);
        write_header(&mut sink, &mut pending);
        // A character that never completed is written as it is (lossily).
        for (kind, rest) in [
            (Kind::Output, output.finish()),
            (Kind::Input, input.finish()),
        ] {
            if !rest.is_empty() && !truncated {
                sink.buf.extend_from_slice(&line(micros(last), kind, &rest));
            }
        }
        {
            // One sync at a time, gateway-wide: when 1,000 sessions end in
            // one call, a blocking thread apiece for fdatasync took a
            // quarter of the gateway's CPU while the sessions' clients were
            // still waiting for their farewells (issue 8's profile).
            let _turn = SYNC_TURN.acquire().await;
            sink.flush(true).await;
        }
        Summary {
            session: meta.session,
            path: self.path,
            bytes: sink.written,
            duration: last,
            truncated,
            text: text.into_text(),
        }
    }
}

/// Buffers the header, if it is still to be written.
fn write_header(sink: &mut Sink, pending: &mut Option<Header>) {
    if let Some(header) = pending.take() {
        // Serializing a header into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut sink.buf, &header);
        sink.buf.push(b'\n');
    }
}

/// A desktop picture's width and height (its region header's).
fn picture_size(data: &[u8]) -> Option<(u16, u16)> {
    let at = |i: usize| Some(u16::from_be_bytes([*data.get(i)?, *data.get(i + 1)?]));
    Some((at(4)?, at(6)?))
}

/// Makes a header a desktop's: its size in pixels, no terminal type.
fn desktop_header(header: &mut Header, width: u16, height: u16) {
    header.width = width;
    header.height = height;
    header.env = None;
    if let Some(Value::Object(fields)) = header.gatehouse.as_mut() {
        fields.insert("screen".into(), Value::from("desktop"));
    }
}

/// `"COLSxROWS"`, as [`Recorder::resize`] writes it.
fn parse_size(data: &[u8]) -> Option<(u16, u16)> {
    let (cols, rows) = std::str::from_utf8(data).ok()?.split_once('x')?;
    Some((cols.parse().ok()?, rows.parse().ok()?))
}

fn micros(d: Duration) -> u64 {
    d.as_micros().min(u128::from(u64::MAX)) as u64
}

fn header(meta: &RecordingMeta) -> Header {
    Header {
        version: 2,
        // A session whose terminal size never came (a command without a
        // pty) replays in an 80x24 one.
        width: if meta.cols == 0 { 80 } else { meta.cols },
        height: if meta.rows == 0 { 24 } else { meta.rows },
        timestamp: meta.started_at.unix_timestamp(),
        title: Some(format!("{}@{}", meta.user, meta.connection)),
        env: Some(json!({ "TERM": "xterm-256color" })),
        gatehouse: Some(json!({
            "session": meta.session,
            "user": meta.user,
            "connection": meta.connection,
            "target": meta.target,
            "node": meta.node,
            "input_recorded": meta.input,
        })),
    }
}

#[cfg(test)]
#[path = "writer_tests.rs"]
mod tests;
