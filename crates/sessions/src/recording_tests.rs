//! Recording at the registry level: whatever front end reports traffic
//! through the handle, the session is recorded the same way.

use std::time::Duration;

use bytes::Bytes;
use gatehouse_domain::UserId;
use gatehouse_recording::cast::{self, Kind};
use gatehouse_recording::{RecordingConfig, Summary};

use crate::tests::new_session;
use crate::*;

async fn summary(rx: &mut tokio::sync::mpsc::UnboundedReceiver<Lifecycle>) -> Summary {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("a recording summary in time")
            .expect("lifecycle open");
        if let Lifecycle::Recorded(s) = msg {
            return s;
        }
    }
}

#[tokio::test]
async fn a_recorded_session_writes_output_resizes_and_everyones_input_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let (registry, mut lifecycle) =
        Registry::with_recordings("gw-1", RecordingConfig::new(dir.path(), 1 << 20));
    let mut new = new_session("ops1", UserId::new(), "prod-db", "203.0.113.7");
    new.recording = true;
    new.record_input = true;
    let dev2 = UserId::new();
    let handle = registry.open(new);
    assert!(registry.get(handle.id()).unwrap().recording);
    registry.share(handle.id(), dev2, ParticipantMode::Interactive);
    let guest = registry
        .join(handle.id(), dev2, "dev2", "198.51.100.2")
        .unwrap();

    handle.record_input(b"echo hi\r");
    handle.record_output(&Bytes::from_static(b"echo hi\r\nhi\r\n$ "));
    assert_eq!(
        guest.input(&Bytes::from_static(b"ls\r")).await,
        crate::Input::Accepted
    );
    handle.resized(120, 40);
    drop(guest);
    drop(handle);
    assert!(registry.wait_for_recordings(Duration::from_secs(5)).await);

    let s = summary(&mut lifecycle).await;
    let file = std::fs::read_to_string(dir.path().join(&s.path)).unwrap();
    let rec = cast::read(&file).unwrap();
    let kinds: Vec<_> = rec
        .events
        .iter()
        .map(|e| (e.kind, e.data.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            (Kind::Input, "echo hi\r"),
            (Kind::Output, "echo hi\r\nhi\r\n$ "),
            (Kind::Input, "ls\r"),
            (Kind::Resize, "120x40"),
        ]
    );
    assert!(s.text.contains("hi\n$ "));
}

#[tokio::test]
async fn a_session_not_set_to_record_or_a_registry_without_recordings_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (registry, _lifecycle) =
        Registry::with_recordings("gw-1", RecordingConfig::new(dir.path(), 1 << 20));
    let handle = registry.open(new_session("ops1", UserId::new(), "prod-db", "a"));
    handle.record_output(&Bytes::from_static(b"x"));
    assert!(!registry.get(handle.id()).unwrap().recording);
    drop(handle);

    let (plain, _lifecycle) = Registry::new("gw-1");
    let mut new = new_session("ops1", UserId::new(), "prod-db", "a");
    new.recording = true;
    let handle = plain.open(new);
    assert!(!plain.get(handle.id()).unwrap().recording);
    drop(handle);
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
}
