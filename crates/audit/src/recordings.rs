//! Recordings after the fact: completing their history rows and the search
//! index, recovering those a crash cut short, and deleting those past their
//! retention.

use std::path::{Path, PathBuf};
use std::time::Duration;

use gatehouse_domain::SessionId;
use gatehouse_recording::cast::{self, Kind};
use gatehouse_recording::text::TextExtractor;
use gatehouse_recording::{Summary, TEXT_LIMIT};
use gatehouse_store::{RecordingDone, Store, StoreError, Write};
use serde_json::json;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::{Audit, Event, action};

/// Queues a finished recording's size and duration for its history row,
/// and its text for the index.
pub(crate) fn completed(summary: Summary, writes: &mut Vec<Write>) {
    let Ok(id) = summary.session.parse::<SessionId>() else {
        tracing::error!(session = %summary.session, "recording of an unknown session id");
        return;
    };
    writes.push(Write::RecordingDone(RecordingDone {
        id,
        bytes: summary.bytes,
        duration_ms: summary.duration.as_millis().min(u128::from(u64::MAX)) as u64,
        truncated: summary.truncated,
        text: summary.text,
    }));
}

/// Completes the recordings on `node` that a previous run left incomplete
/// (call it after [`crate::close_dangling`], before this run records):
/// sessions it stopped mid-way, and finished ones whose summary it never
/// wrote. Whatever reached the file is measured and indexed; a file cut
/// mid-character by a crash still reads. Returns how many were completed.
pub async fn recover(store: &Store, dir: &Path, node: &str) -> Result<usize, StoreError> {
    let mut recovered = 0;
    for (id, path) in store.incomplete_recordings(node).await? {
        let full = dir.join(&path);
        let done = match tokio::fs::read(&full).await {
            // The header waits for the terminal's size (the first event):
            // a session cut before anything happened has an empty file.
            Ok(file) if file.is_empty() => RecordingDone {
                id,
                bytes: 0,
                duration_ms: 0,
                truncated: false,
                text: String::new(),
            },
            Ok(file) => match cast::read(&String::from_utf8_lossy(&file)) {
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
pub async fn sweep(audit: &Audit, dir: &Path, retention: Duration) -> Result<usize, StoreError> {
    let cutoff = OffsetDateTime::now_utc() - retention;
    let store = audit.store();
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
    audit: Audit,
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
                _ = tick.tick() => match sweep(&audit, &dir, retention).await {
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
    use gatehouse_domain::{ConnectionId, Protocol};
    use gatehouse_recording::RecordingConfig;
    use gatehouse_sessions::{ConnectionRef, NewSession, Registry};
    use gatehouse_store::HistoryQuery;

    use super::*;
    use crate::HistoryWriter;
    use crate::tests::store_with_owner;

    #[tokio::test]
    async fn a_finished_recording_is_indexed_and_expires_with_its_retention() {
        let (dir, store, owner) = store_with_owner().await;
        let recordings = dir.path().join("recordings");
        let (registry, lifecycle) =
            Registry::with_recordings("gw-1", RecordingConfig::new(&recordings, 1 << 20));
        let writer = HistoryWriter::spawn(Audit::new(store.clone()), lifecycle);
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
            terminal: Some(gatehouse_sessions::Terminal { cols: 80, rows: 24 }),
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
            sweep(
                &Audit::new(store.clone()),
                &recordings,
                Duration::from_secs(3600)
            )
            .await
            .unwrap(),
            0
        );
        assert_eq!(
            sweep(&Audit::new(store.clone()), &recordings, Duration::ZERO)
                .await
                .unwrap(),
            1
        );
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

    #[tokio::test]
    async fn a_recording_left_incomplete_is_measured_and_indexed_at_the_next_start() {
        let (dir, store, owner) = store_with_owner().await;
        // A session that ended, but whose gateway stopped before the
        // recording's summary was written; the file ends mid-character.
        let (id, path) = ended_session(&store, owner.id).await;
        let recordings = dir.path().join("recordings");
        let file = recordings.join(&path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        let cast = b"{\"version\":2,\"width\":80,\"height\":24,\"timestamp\":0}\n\
            [0.5,\"o\",\"$ systemctl stop nginx\\r\\n\"]\n[1.0,\"o\",\"caf\xc3";
        std::fs::write(&file, cast).unwrap();

        assert_eq!(recover(&store, &recordings, "gw-2").await.unwrap(), 0);
        assert_eq!(recover(&store, &recordings, "gw-1").await.unwrap(), 1);
        let info = store
            .history_entry(id)
            .await
            .unwrap()
            .unwrap()
            .recording
            .unwrap();
        assert_eq!(info.bytes, Some(cast.len() as u64));
        let (_, found) = store
            .list_history(&HistoryQuery {
                text: Some("systemctl stop".into()),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(recover(&store, &recordings, "gw-1").await.unwrap(), 0);

        // One cut before its first event: the header was still waiting for
        // the terminal's size, so the file is empty. It completes as such.
        let (empty, path) = ended_session(&store, owner.id).await;
        std::fs::write(recordings.join(&path), b"").unwrap();
        assert_eq!(recover(&store, &recordings, "gw-1").await.unwrap(), 1);
        let info = store.history_entry(empty).await.unwrap().unwrap().recording;
        assert_eq!(info.unwrap().bytes, Some(0));
        assert_eq!(recover(&store, &recordings, "gw-1").await.unwrap(), 0);
    }

    /// A history row of an ended session on gw-1, with a recording path.
    async fn ended_session(store: &Store, owner: gatehouse_domain::UserId) -> (SessionId, String) {
        let id = SessionId::new();
        let started_at = OffsetDateTime::now_utc();
        let path = gatehouse_recording::relative_path(&id.to_string(), started_at);
        store
            .history_start(&gatehouse_store::HistoryStart {
                id,
                user_id: owner,
                username: "ops1".into(),
                connection_id: ConnectionId::new(),
                connection_name: "prod-db".into(),
                protocol: "ssh".into(),
                client_addr: "203.0.113.7".into(),
                target: "10.0.0.5:22".into(),
                node: "gw-1".into(),
                started_at,
                recording_path: Some(path.clone()),
            })
            .await
            .unwrap();
        store
            .history_end(&gatehouse_store::HistoryEnd {
                id,
                ended_at: started_at,
                end_reason: gatehouse_domain::EndReason::GatewayShutdown,
                ended_by: None,
                end_message: None,
                bytes_from_client: 0,
                bytes_to_client: 0,
                participants: json!([]),
                detail: json!({}),
            })
            .await
            .unwrap();
        (id, path)
    }

    fn bytes_of(s: &'static str) -> bytes::Bytes {
        bytes::Bytes::from_static(s.as_bytes())
    }
}
