//! Recordings after the fact: completing their history rows and the search
//! index, recovering those a crash cut short, and deleting those past their
//! retention.

use std::path::{Path, PathBuf};
use std::time::Duration;

use gatehouse_domain::SessionId;
use gatehouse_recording::cast::{self, Kind};
use gatehouse_recording::text::TextExtractor;
use gatehouse_recording::{Summary, TEXT_LIMIT};
use gatehouse_store::{RecordingDone, Store, StoreError};
use serde_json::json;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::{Audit, Event, action};

/// Writes a finished recording's size and duration to its history row and
/// indexes its text.
pub(crate) async fn completed(store: &Store, summary: Summary) {
    let Ok(id) = summary.session.parse::<SessionId>() else {
        tracing::error!(session = %summary.session, "recording of an unknown session id");
        return;
    };
    let done = RecordingDone {
        id,
        bytes: summary.bytes,
        duration_ms: summary.duration.as_millis().min(u128::from(u64::MAX)) as u64,
        truncated: summary.truncated,
        text: summary.text,
    };
    if let Err(e) = store.recording_done(&done).await {
        tracing::error!(session = %id, error = %e, "could not index recording");
    }
}

/// Completes the recordings of sessions a previous run left open (see
/// [`crate::close_dangling`]): whatever reached the file before the crash is
/// measured and indexed. Returns how many were recovered.
pub async fn recover(
    store: &Store,
    dir: &Path,
    sessions: &[SessionId],
) -> Result<usize, StoreError> {
    let mut recovered = 0;
    for (id, path) in store.incomplete_recordings(sessions).await? {
        let full = dir.join(&path);
        let done = match tokio::fs::read_to_string(&full).await {
            Ok(file) => match cast::read(&file) {
                Ok(rec) => summarize(id, file.len() as u64, &rec),
                Err(e) => {
                    tracing::warn!(path = %full.display(), error = %e, "unreadable recording");
                    continue;
                }
            },
            Err(e) => {
                tracing::warn!(path = %full.display(), error = %e, "recording missing");
                continue;
            }
        };
        store.recording_done(&done).await?;
        recovered += 1;
    }
    Ok(recovered)
}

fn summarize(id: SessionId, bytes: u64, rec: &cast::Recording) -> RecordingDone {
    let mut text = TextExtractor::new(TEXT_LIMIT);
    for e in rec.events.iter().filter(|e| e.kind == Kind::Output) {
        text.push(&e.data);
    }
    RecordingDone {
        id,
        bytes,
        duration_ms: (rec.duration() * 1000.0) as u64,
        truncated: rec.events.iter().any(|e| e.kind == Kind::Marker),
        text: text.into_text(),
    }
}

/// Deletes the recordings of sessions that started more than `retention`
/// ago: the file goes, the history row stays (without its recording), and
/// each deletion is an audit event. Returns how many were deleted.
pub async fn sweep(store: &Store, dir: &Path, retention: Duration) -> Result<usize, StoreError> {
    let cutoff = OffsetDateTime::now_utc() - retention;
    let audit = Audit::new(store.clone());
    let expired = store.expired_recordings(cutoff).await?;
    for (id, path) in &expired {
        let full = dir.join(path);
        match tokio::fs::remove_file(&full).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                // Keep the row pointing at it; the next sweep tries again.
                tracing::error!(path = %full.display(), error = %e, "could not delete recording");
                continue;
            }
        }
        // Empty day, month and year folders go too (remove_dir refuses non-empty ones).
        let mut parent = full.parent();
        while let Some(folder) = parent.filter(|p| *p != dir) {
            if tokio::fs::remove_dir(folder).await.is_err() {
                break;
            }
            parent = folder.parent();
        }
        store.forget_recording(*id).await?;
        audit
            .record(
                Event::new(action::RECORDING_EXPIRED)
                    .target(id.to_string())
                    .details(json!({ "retention_days": retention.as_secs() / 86_400 })),
            )
            .await;
    }
    Ok(expired.len())
}

/// Runs [`sweep`] now and then every `every`, until `stop` is cancelled.
pub fn spawn_sweeper(
    store: Store,
    dir: PathBuf,
    retention: Duration,
    every: Duration,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tick.tick() => match sweep(&store, &dir, retention).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(deleted = n, "deleted recordings past their retention"),
                    Err(e) => tracing::error!(error = %e, "recording retention sweep failed"),
                },
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use gatehouse_domain::{ConnectionId, Protocol, RoleName, Username};
    use gatehouse_recording::RecordingConfig;
    use gatehouse_sessions::{ConnectionRef, NewSession, Registry};
    use gatehouse_store::{HistoryQuery, NewUser};

    use super::*;
    use crate::HistoryWriter;

    #[tokio::test]
    async fn a_finished_recording_is_indexed_and_expires_with_its_retention() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).await.unwrap();
        let owner = store
            .create_user(NewUser {
                username: Username::parse("ops1").unwrap(),
                password_hash: "x".into(),
                roles: vec![RoleName::parse("user").unwrap()],
            })
            .await
            .unwrap();
        let recordings = dir.path().join("recordings");
        let (registry, lifecycle) =
            Registry::with_recordings("gw-1", RecordingConfig::new(&recordings, 1 << 20));
        let writer = HistoryWriter::spawn(store.clone(), lifecycle);
        let handle = registry.open(NewSession {
            user: "ops1".into(),
            user_id: owner.id,
            connection: ConnectionRef {
                id: ConnectionId::new(),
                name: "prod-db".into(),
            },
            protocol: Protocol::Ssh,
            client_addr: "203.0.113.7".into(),
            target: "10.0.0.5:22".into(),
            recording: true,
            record_input: false,
            cols: 80,
            rows: 24,
            limits: Default::default(),
        });
        let id = handle.id();
        handle.record_output(&bytes_of("$ sudo rm -rf /srv/old\r\n$ "));
        drop(handle);
        assert!(registry.wait_for_recordings(Duration::from_secs(5)).await);
        registry.flush_lifecycle().await;

        let (_, found) = store
            .list_history(&HistoryQuery {
                text: Some("RM -rf /srv".into()),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(found.len(), 1);
        let info = found[0].recording.clone().unwrap();
        let file = recordings.join(&info.path);
        assert_eq!(info.bytes, Some(std::fs::metadata(&file).unwrap().len()));

        assert_eq!(
            sweep(&store, &recordings, Duration::from_secs(3600))
                .await
                .unwrap(),
            0
        );
        assert_eq!(sweep(&store, &recordings, Duration::ZERO).await.unwrap(), 1);
        assert!(!file.exists());
        assert!(recordings.exists() && std::fs::read_dir(&recordings).unwrap().next().is_none());
        let row = store.history_entry(id).await.unwrap().unwrap();
        assert!(
            row.recording.is_none(),
            "history keeps the session, not the recording"
        );

        drop(registry);
        writer.await.unwrap();
    }

    fn bytes_of(s: &'static str) -> bytes::Bytes {
        bytes::Bytes::from_static(s.as_bytes())
    }
}
