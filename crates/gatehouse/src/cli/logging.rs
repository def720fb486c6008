//! The gateway's log: human lines by default, one JSON object per line with
//! `GATEHOUSE_LOG_FORMAT=json` (for log shippers), filtered by `GATEHOUSE_LOG`.
//!
//! Human lines carry ANSI colours only when stdout is a terminal, so a log
//! file or the journal gets plain text.

use std::io::IsTerminal;

use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::FmtContext;
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, Writer};
use tracing_subscriber::registry::LookupSpan;

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LogFormat {
    Text,
    Json,
}

impl LogFormat {
    /// From `GATEHOUSE_LOG_FORMAT` (`text`, the default, or `json`).
    pub(crate) fn from_env() -> anyhow::Result<LogFormat> {
        match std::env::var("GATEHOUSE_LOG_FORMAT") {
            Err(_) => Ok(LogFormat::Text),
            Ok(v) => match v.trim().to_ascii_lowercase().as_str() {
                "" | "text" => Ok(LogFormat::Text),
                "json" => Ok(LogFormat::Json),
                other => {
                    anyhow::bail!("GATEHOUSE_LOG_FORMAT must be `text` or `json`, not `{other}`")
                }
            },
        }
    }
}

/// Installs the global subscriber. `node` is added to every JSON line, so
/// lines from several nodes can be told apart once shipped to one place.
pub(crate) fn init(format: LogFormat, node: &str) {
    let filter = EnvFilter::try_from_env("GATEHOUSE_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,russh=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Text => builder.with_ansi(std::io::stdout().is_terminal()).init(),
        LogFormat::Json => builder
            .event_format(WithNode {
                node: serde_json::Value::from(node).to_string(),
                inner: tracing_subscriber::fmt::format().json().flatten_event(true),
            })
            .init(),
    }
}

/// The JSON format with a `node` field first.
struct WithNode<F> {
    /// The node's name, already a JSON string.
    node: String,
    inner: F,
}

impl<S, N, F> FormatEvent<S, N> for WithNode<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let mut line = String::new();
        self.inner
            .format_event(ctx, Writer::new(&mut line), event)?;
        match line.strip_prefix('{') {
            Some(rest) => write!(writer, "{{\"node\":{},{rest}", self.node),
            None => writer.write_str(&line),
        }
    }
}
