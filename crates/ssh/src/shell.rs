use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use russh::client::Msg;
use russh::{ChannelMsg, ChannelReadHalf, ChannelWriteHalf};
use tokio::sync::mpsc;

use crate::{ConnectError, ShellOptions, TargetConnection, protocol};

/// What the target sends.
#[derive(Debug)]
pub enum TargetOutput {
    /// Terminal bytes (stdout and stderr of the pty).
    Data(Bytes),
    /// The shell exited or the connection closed; no more output follows.
    Closed {
        /// The shell's exit status, if the target sent one.
        exit_status: Option<u32>,
    },
}

/// What goes to the shell: keystrokes (or a paste) and window sizes.
#[derive(Debug)]
pub enum ShellInput {
    /// Bytes typed or pasted.
    Data(Bytes),
    /// The terminal's new size.
    Resize {
        /// Columns.
        cols: u32,
        /// Rows.
        rows: u32,
    },
}

/// Inputs queued for the target beyond the one being written. One: a
/// message is up to a large paste, and a shell that does not read must
/// push back on its client (who then stops being read) rather than on the
/// gateway's memory.
const INPUT_QUEUE: usize = 1;
/// How long closing words to the target may take. A target that stopped
/// reading must not hold the session open; dropping the connection then
/// closes it without the words.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// A shell on a pty on the target.
///
/// Input goes through a bounded queue to a writer task of its own, so
/// whoever relays never waits on a target that does not read: it keeps
/// reading output (without which the target's window would never reopen)
/// and keeps watching its end signal. See [`TargetShell::input`].
pub struct TargetShell {
    connection: TargetConnection,
    reader: ChannelReadHalf,
    writer: Arc<ChannelWriteHalf<Msg>>,
    input: mpsc::Sender<ShellInput>,
    _pump: Pump,
    exit_status: Option<u32>,
    closed: bool,
}

/// Where a relay puts input for the shell: a bounded queue in front of the
/// shell's writer. Cheap to clone.
#[derive(Clone)]
pub struct ShellInputs(mpsc::Sender<ShellInput>);

impl ShellInputs {
    /// Waits for room for one input, then queues it. Cancel-safe: when the
    /// wait is cancelled (the relay selected something else) nothing is
    /// queued, and the caller still holds its input. Fails once the shell's
    /// writer has stopped (the target closed the channel).
    pub async fn reserve(&self) -> Result<mpsc::Permit<'_, ShellInput>, ConnectError> {
        self.0
            .reserve()
            .await
            .map_err(|_| ConnectError::Protocol("the target closed the shell".into()))
    }
}

impl TargetShell {
    /// Starts a shell on a pty over a connection from [`crate::connect`].
    pub async fn start(
        connection: TargetConnection,
        options: &ShellOptions,
    ) -> Result<Self, ConnectError> {
        let channel = connection.open_session().await?;
        let (reader, writer) = channel.split();
        writer
            .request_pty(false, &options.term, options.cols, options.rows, 0, 0, &[])
            .await
            .map_err(protocol)?;
        writer.request_shell(false).await.map_err(protocol)?;
        let writer = Arc::new(writer);
        let (input, queued) = mpsc::channel(INPUT_QUEUE);
        let pump = Pump(tokio::spawn(write_input(writer.clone(), queued)));
        Ok(Self {
            connection,
            reader,
            writer,
            input,
            _pump: pump,
            exit_status: None,
            closed: false,
        })
    }

    /// The host key the target presented, OpenSSH format without comment.
    pub fn host_key(&self) -> String {
        self.connection.host_key()
    }

    /// The presented host key's SHA-256 fingerprint.
    pub fn host_key_fingerprint(&self) -> String {
        self.connection.host_key_fingerprint()
    }

    /// The next output from the target. After `Closed` it keeps returning
    /// `Closed`. Cancel-safe.
    pub async fn output(&mut self) -> TargetOutput {
        while !self.closed {
            match self.reader.wait().await {
                Some(ChannelMsg::Data { data }) => return TargetOutput::Data(data),
                Some(ChannelMsg::ExtendedData { data, .. }) => {
                    return TargetOutput::Data(data);
                }
                Some(ChannelMsg::ExitStatus { exit_status }) => {
                    self.exit_status = Some(exit_status)
                }
                Some(ChannelMsg::Close) | None => self.closed = true,
                Some(_) => {}
            }
        }
        TargetOutput::Closed {
            exit_status: self.exit_status,
        }
    }

    /// The queue for keystrokes, pastes and window sizes.
    pub fn input(&self) -> ShellInputs {
        ShellInputs(self.input.clone())
    }

    /// Closes the channel and the connection to the target, telling it why,
    /// within [`CLOSE_TIMEOUT`]. Unwritten input is dropped.
    pub async fn close(self, why: &str) {
        let Self {
            connection,
            reader,
            writer,
            _pump: pump,
            ..
        } = self;
        drop(pump);
        // Output nobody will read must not hold up the target connection's
        // task (it waits for room in this channel's queue), or the goodbyes
        // below could never be sent.
        drop(reader);
        let goodbye = async {
            let _ = writer.eof().await;
            let _ = writer.close().await;
            connection.disconnect(why).await;
        };
        if tokio::time::timeout(CLOSE_TIMEOUT, goodbye).await.is_err() {
            tracing::debug!("the target did not take our goodbye in time; dropping the connection");
        }
    }
}

/// The input writer task, stopped with its shell.
struct Pump(tokio::task::JoinHandle<()>);

impl Drop for Pump {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Writes queued input to the shell, in order, until the queue closes or
/// the target stops taking it. Waiting here for the target's window is fine:
/// only this task waits.
async fn write_input(writer: Arc<ChannelWriteHalf<Msg>>, mut queued: mpsc::Receiver<ShellInput>) {
    while let Some(input) = queued.recv().await {
        let written = match input {
            ShellInput::Data(data) => writer.data_bytes(data).await,
            ShellInput::Resize { cols, rows } => writer.window_change(cols, rows, 0, 0).await,
        };
        if written.is_err() {
            break;
        }
    }
}
