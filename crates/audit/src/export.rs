//! A copy of the audit log for a SIEM: each event, once the database has
//! it, as one JSON line appended to a file and/or as an RFC 5424 syslog
//! message (UDP, or a local datagram socket such as `/dev/log`).
//!
//! The database stays the record. Exporting never holds the gateway up: events
//! queue for a writer task (at most [`QUEUE`]); past that they are dropped
//! from the copy, logged and counted (`gatehouse_audit_export_dropped_total`).

use std::path::PathBuf;

use gatehouse_store::NewAuditEvent;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use crate::action;

/// Events waiting to be exported, at most.
const QUEUE: usize = 10_000;

/// Where a syslog copy goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyslogTarget {
    /// A syslog server's UDP port (`udp://HOST:PORT`).
    Udp(String),
    /// A local datagram socket (`unix:///dev/log`).
    Unix(PathBuf),
}

impl std::str::FromStr for SyslogTarget {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(addr) = s.strip_prefix("udp://") {
            Ok(SyslogTarget::Udp(addr.to_owned()))
        } else if let Some(path) = s.strip_prefix("unix://") {
            Ok(SyslogTarget::Unix(PathBuf::from(path)))
        } else {
            Err(format!(
                "`{s}`: a syslog target is udp://HOST:PORT or unix:///PATH (e.g. unix:///dev/log)"
            ))
        }
    }
}

/// Where the audit log is copied to.
#[derive(Clone, Debug, Default)]
pub struct ExportConfig {
    /// A file that gets one JSON object per line (created 0600, appended to).
    pub file: Option<PathBuf>,
    /// A syslog receiver.
    pub syslog: Option<SyslogTarget>,
    /// This node's name, in every exported event.
    pub node: String,
}

/// The sending half of the export queue. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Export {
    queue: mpsc::Sender<Value>,
}

impl Export {
    /// Opens the file and the socket and starts the writer task; `None`
    /// when nothing is configured.
    pub async fn start(config: ExportConfig) -> std::io::Result<Option<Export>> {
        if config.file.is_none() && config.syslog.is_none() {
            return Ok(None);
        }
        let file = match &config.file {
            Some(path) => Some(
                tokio::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .mode(0o600)
                    .open(path)
                    .await?,
            ),
            None => None,
        };
        let syslog = match &config.syslog {
            Some(target) => Some(Syslog::open(target).await?),
            None => None,
        };
        let (queue, events) = mpsc::channel(QUEUE);
        tokio::spawn(write_out(events, file, syslog, config.node));
        Ok(Some(Export { queue }))
    }

    /// Queues one stored event for export.
    pub(crate) fn send(&self, event: &NewAuditEvent) {
        let line = json!({
            "time": OffsetDateTime::now_utc().format(&Rfc3339).unwrap_or_default(),
            "action": event.action,
            "actor": event.actor,
            "target": event.target,
            "client_addr": event.client_addr,
            "details": event.details,
        });
        if self.queue.try_send(line).is_err() {
            metrics::counter!("gatehouse_audit_export_dropped_total").increment(1);
            tracing::warn!(action = %event.action, "audit export is behind: an event was left out of the copy");
        }
    }
}

enum Syslog {
    Udp(tokio::net::UdpSocket),
    Unix(tokio::net::UnixDatagram, PathBuf),
}

impl Syslog {
    async fn open(target: &SyslogTarget) -> std::io::Result<Syslog> {
        Ok(match target {
            SyslogTarget::Udp(addr) => {
                let socket = tokio::net::UdpSocket::bind(("0.0.0.0", 0)).await?;
                socket.connect(addr).await?;
                Syslog::Udp(socket)
            }
            SyslogTarget::Unix(path) => {
                Syslog::Unix(tokio::net::UnixDatagram::unbound()?, path.clone())
            }
        })
    }

    async fn send(&self, message: &[u8]) -> std::io::Result<()> {
        match self {
            Syslog::Udp(socket) => socket.send(message).await.map(drop),
            Syslog::Unix(socket, path) => socket.send_to(message, path).await.map(drop),
        }
    }
}

async fn write_out(
    mut events: mpsc::Receiver<Value>,
    mut file: Option<tokio::fs::File>,
    syslog: Option<Syslog>,
    mut node: String,
) {
    let host = hostname();
    node.truncate(48);
    let mut batch = Vec::new();
    while events.recv_many(&mut batch, 256).await > 0 {
        let mut lines = Vec::new();
        for mut event in batch.drain(..) {
            event["node"] = json!(node);
            if let Some(syslog) = &syslog {
                let message = rfc5424(&event, &host);
                if let Err(e) = syslog.send(message.as_bytes()).await {
                    tracing::warn!(error = %e, "could not send an audit event to syslog");
                }
            }
            if file.is_some() {
                lines.extend_from_slice(event.to_string().as_bytes());
                lines.push(b'\n');
            }
        }
        if let Some(f) = &mut file {
            let written = async {
                f.write_all(&lines).await?;
                f.flush().await
            };
            if let Err(e) = written.await {
                tracing::error!(error = %e, "could not append to the audit export file");
            }
        }
    }
}

/// One syslog message (RFC 5424): facility authpriv, severity notice for
/// refusals and warnings, info otherwise; MSGID is the action; the message
/// is the event's JSON.
fn rfc5424(event: &Value, host: &str) -> String {
    const AUTHPRIV: u8 = 10;
    let action_name = event["action"].as_str().unwrap_or("-");
    let severity = match action_name {
        action::LOGIN_FAILED
        | action::SSH_LOGIN_FAILED
        | action::HOST_KEY_MISMATCH
        | action::SESSION_FAILED
        | action::SSH_REFUSED => 5,
        _ => 6,
    };
    let msgid: String = action_name
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(32)
        .collect();
    format!(
        "<{}>1 {} {} gatehouse {} {} - {}",
        AUTHPRIV * 8 + severity,
        event["time"].as_str().unwrap_or("-"),
        host,
        std::process::id(),
        if msgid.is_empty() { "-".into() } else { msgid },
        event
    )
}

/// This machine's name for syslog's HOSTNAME field (`-` if unknown).
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| {
            h.trim()
                .chars()
                .filter(|c| c.is_ascii_graphic())
                .take(255)
                .collect::<String>()
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "-".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_syslog_line_has_the_rfc5424_header_and_the_event_as_json() {
        let event =
            json!({ "time": "2026-11-29T06:00:00Z", "action": "auth.login_failed", "actor": null });
        let line = rfc5424(&event, "gw-host");
        let (header, message) = line.split_once(" - ").unwrap();
        assert_eq!(
            header,
            format!(
                "<85>1 2026-11-29T06:00:00Z gw-host gatehouse {} auth.login_failed",
                std::process::id()
            )
        );
        assert_eq!(serde_json::from_str::<Value>(message).unwrap(), event);
        let ok = rfc5424(&json!({ "time": "t", "action": "auth.login" }), "h");
        assert!(ok.starts_with("<86>1 "), "{ok}");
    }

    #[test]
    fn syslog_targets_are_udp_or_unix() {
        assert_eq!(
            "udp://127.0.0.1:514".parse(),
            Ok(SyslogTarget::Udp("127.0.0.1:514".into()))
        );
        assert_eq!(
            "unix:///dev/log".parse(),
            Ok(SyslogTarget::Unix("/dev/log".into()))
        );
        assert!("tcp://x:1".parse::<SyslogTarget>().is_err());
    }
}
