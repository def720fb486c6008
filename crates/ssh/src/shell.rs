use bytes::Bytes;
use russh::client::Msg;
use russh::{ChannelMsg, ChannelReadHalf, ChannelWriteHalf};

use crate::client::protocol;
use crate::{ConnectError, ShellOptions, TargetConnection};

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

/// A shell on a pty on the target.
pub struct TargetShell {
    connection: TargetConnection,
    reader: ChannelReadHalf,
    writer: ChannelWriteHalf<Msg>,
    exit_status: Option<u32>,
    closed: bool,
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
        Ok(Self {
            connection,
            reader,
            writer,
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

    /// Sends keystrokes (or pasted text) to the shell.
    pub async fn input(&self, data: Bytes) -> Result<(), ConnectError> {
        self.writer.data_bytes(data).await.map_err(protocol)
    }

    /// Tells the pty its new size.
    pub async fn resize(&self, cols: u32, rows: u32) -> Result<(), ConnectError> {
        self.writer
            .window_change(cols, rows, 0, 0)
            .await
            .map_err(protocol)
    }

    /// Closes the channel and the connection to the target, telling it why.
    pub async fn close(self, why: &str) {
        let _ = self.writer.eof().await;
        let _ = self.writer.close().await;
        self.connection.disconnect(why).await;
    }
}
