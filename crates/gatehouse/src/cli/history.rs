//! `gatehouse history play ID`: replays a session's recording in this
//! terminal with its original timing (`audit.view`; the replay is audited).

use std::io::Write;
use std::time::Duration;

use anyhow::{Context, bail};
use gatehouse_recording::cast::{self, Kind};

use super::ServerArgs;
use crate::client::ApiClient;

#[derive(clap::Subcommand, Debug)]
pub(super) enum HistoryCommand {
    /// Replay a session's recording in this terminal.
    Play {
        #[command(flatten)]
        server: ServerArgs,
        /// The session id (from History or `sessions list`).
        id: String,
        /// Playback speed: 2 plays twice as fast.
        #[arg(long, default_value_t = 1.0)]
        speed: f64,
        /// Pauses longer than this many seconds are shortened to it.
        #[arg(long, default_value_t = 2.0)]
        max_idle: f64,
    },
}

pub(super) async fn run(cmd: HistoryCommand) -> anyhow::Result<()> {
    match cmd {
        HistoryCommand::Play {
            server,
            id,
            speed,
            max_idle,
        } => {
            if !(speed.is_finite() && speed > 0.0) {
                bail!("--speed must be a positive number");
            }
            if !(max_idle.is_finite() && max_idle > 0.0) {
                bail!("--max-idle must be a positive number of seconds");
            }
            let client = ApiClient::new(&server.server, server.token);
            let text = client
                .get_text(&format!("/history/{id}/recording"), &[])
                .await?;
            let rec = cast::read(&text).context("the gateway sent a recording it cannot read")?;
            let desktop = rec.header.gatehouse.as_ref().map(|g| &g["screen"]);
            if desktop.is_some_and(|s| s == "desktop") {
                bail!(
                    "session {id} is a desktop: its recording is pictures, replayed in the browser (History → Replay)"
                );
            }
            play(&rec, speed, max_idle).await
        }
    }
}

/// Writes the output events to stdout, waiting between them as the
/// session did (divided by `speed`, idle gaps capped at `max_idle`).
async fn play(rec: &cast::Recording, speed: f64, max_idle: f64) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let mut last = 0.0;
    for event in &rec.events {
        let gap = (event.time - last).clamp(0.0, max_idle) / speed;
        last = event.time;
        if gap > 0.001 {
            out.flush()?;
            tokio::time::sleep(Duration::from_secs_f64(gap)).await;
        }
        match event.kind {
            Kind::Output => out.write_all(event.data.as_bytes())?,
            Kind::Marker => writeln!(out, "\r\n[gatehouse: {}]\r", event.data)?,
            Kind::Input | Kind::Resize | Kind::KeyFrame | Kind::Frame => {}
        }
    }
    out.flush()?;
    Ok(())
}
