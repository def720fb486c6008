//! The writer, against real files in a temporary folder.

use super::*;
use crate::cast;

fn meta(input: bool) -> RecordingMeta {
    RecordingMeta {
        session: "s1".into(),
        user: "ops1".into(),
        connection: "prod-db".into(),
        target: "10.0.0.5:22".into(),
        node: "gw-1".into(),
        started_at: OffsetDateTime::now_utc(),
        cols: 80,
        rows: 24,
        input,
    }
}

async fn record(
    config: &RecordingConfig,
    input: bool,
    act: impl FnOnce(&Recorder),
) -> (Summary, cast::Recording) {
    record_with(config, meta(input), act).await
}

async fn record_with(
    config: &RecordingConfig,
    meta: RecordingMeta,
    act: impl FnOnce(&Recorder),
) -> (Summary, cast::Recording) {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let recorder = Recorder::start(config, meta, move |s| {
        let _ = tx.send(s);
    });
    act(&recorder);
    drop(recorder);
    let summary = rx.await.unwrap();
    let file = std::fs::read_to_string(config.dir.join(&summary.path)).unwrap();
    assert_eq!(file.len() as u64, summary.bytes);
    (summary, cast::read(&file).unwrap())
}

#[tokio::test]
async fn output_split_mid_character_replays_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let config = RecordingConfig::new(dir.path(), 1 << 20);
    let sent = "naïve € 😀 \u{1b}[1mbold\u{1b}[0m\r\n".repeat(50);
    let (summary, rec) = record(&config, false, |r| {
        for chunk in sent.as_bytes().chunks(7) {
            r.output(&Bytes::copy_from_slice(chunk));
        }
        r.resize(120, 40);
        r.input(b"secret\r");
    })
    .await;
    assert_eq!(rec.output().as_bytes(), sent.as_bytes());
    assert!(rec.events.iter().all(|e| e.kind != Kind::Input));
    assert!(
        rec.events
            .iter()
            .any(|e| e.kind == Kind::Resize && e.data == "120x40")
    );
    assert_eq!(rec.header.width, 80);
    assert_eq!(rec.header.gatehouse.unwrap()["user"], "ops1");
    assert!(summary.text.contains("naïve € 😀 bold\n"));
    assert!(!summary.truncated);
    assert!(summary.path.ends_with("/s1.cast"));
}

#[tokio::test]
async fn input_is_recorded_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let config = RecordingConfig::new(dir.path(), 1 << 20);
    let (_, rec) = record(&config, true, |r| r.input(b"ls\r")).await;
    assert_eq!(rec.events.len(), 1);
    assert_eq!(rec.events[0].kind, Kind::Input);
    assert_eq!(rec.events[0].data, "ls\r");
}

#[tokio::test]
async fn the_size_limit_holds_and_ends_with_a_marker() {
    let dir = tempfile::tempdir().unwrap();
    let config = RecordingConfig::new(dir.path(), 4096);
    let (summary, rec) = record(&config, false, |r| {
        for _ in 0..1000 {
            r.output(&Bytes::from_static(b"0123456789abcdef\r\n"));
        }
    })
    .await;
    assert!(summary.bytes <= 4096, "{} bytes", summary.bytes);
    assert!(summary.truncated);
    let last = rec.events.last().unwrap();
    assert_eq!(last.kind, Kind::Marker);
    assert!(last.data.contains("size limit"), "{}", last.data);
    assert!(rec.output().len() > 1000, "{}", rec.output().len());
}

#[tokio::test]
async fn events_reach_the_file_within_the_flush_interval() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = RecordingConfig::new(dir.path(), 1 << 20);
    config.flush_every = Duration::from_millis(100);
    let recorder = Recorder::start(&config, meta(false), |_| {});
    recorder.output(&Bytes::from_static(b"still running"));
    tokio::time::sleep(Duration::from_millis(400)).await;
    let path = dir
        .path()
        .join(relative_path("s1", OffsetDateTime::now_utc()));
    let file = std::fs::read_to_string(&path).unwrap();
    assert_eq!(cast::read(&file).unwrap().output(), "still running");
    // After a quiet spell, the next output is on its way as promptly.
    tokio::time::sleep(Duration::from_millis(300)).await;
    recorder.output(&Bytes::from_static(b", and on"));
    tokio::time::sleep(Duration::from_millis(400)).await;
    let file = std::fs::read_to_string(&path).unwrap();
    assert_eq!(cast::read(&file).unwrap().output(), "still running, and on");
    drop(recorder);
}

#[tokio::test]
async fn a_session_opened_without_its_size_takes_the_first_resize_into_the_header() {
    let dir = tempfile::tempdir().unwrap();
    let config = RecordingConfig::new(dir.path(), 1 << 20);
    let no_size = || RecordingMeta {
        cols: 0,
        rows: 0,
        ..meta(false)
    };
    let (_, rec) = record_with(&config, no_size(), |r| {
        r.resize(120, 40);
        r.output(&Bytes::from_static(b"$ "));
        r.resize(100, 30);
    })
    .await;
    assert_eq!((rec.header.width, rec.header.height), (120, 40));
    let kinds: Vec<_> = rec
        .events
        .iter()
        .map(|e| (e.kind, e.data.as_str()))
        .collect();
    assert_eq!(kinds, [(Kind::Output, "$ "), (Kind::Resize, "100x30")]);

    // A command without a pty never gets a size: 80x24, as before.
    let (_, rec) = record_with(&config, no_size(), |r| {
        r.output(&Bytes::from_static(b"out"));
    })
    .await;
    assert_eq!((rec.header.width, rec.header.height), (80, 24));
    assert_eq!(rec.output(), "out");
    // Nor does a session that printed nothing; its file still reads.
    let (summary, rec) = record_with(&config, no_size(), |_| {}).await;
    assert_eq!(
        (rec.header.width, rec.header.height, rec.events.len()),
        (80, 24, 0)
    );
    assert!(summary.bytes > 0);
}

#[tokio::test]
async fn binary_output_is_stored_compactly_and_text_after_it_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let config = RecordingConfig::new(dir.path(), 1 << 20);
    let (summary, rec) = record(&config, false, |r| {
        r.output(&Bytes::from_static(b"$ head -c 100000 /dev/zero\r\n"));
        r.output(&Bytes::from(vec![0u8; 100_000]));
        r.output(&Bytes::from(vec![0xffu8; 100_000]));
        r.output(&Bytes::from_static(b"\x1b[1m$ \x1b[0mafter \xc3\xa9\r\n"));
    })
    .await;
    assert!(summary.bytes < 1000, "{} bytes", summary.bytes);
    assert_eq!(
        rec.output(),
        "$ head -c 100000 /dev/zero\r\n\u{fffd}\u{1b}[1m$ \u{1b}[0mafter \u{e9}\r\n"
    );
    assert!(summary.text.contains("after é"), "{}", summary.text);
}

#[tokio::test]
async fn output_that_shrinks_in_the_file_is_not_cut_by_what_it_weighed_on_the_wire() {
    let dir = tempfile::tempdir().unwrap();
    let config = RecordingConfig::new(dir.path(), 4096);
    let (tx, rx) = tokio::sync::oneshot::channel();
    let recorder = Recorder::start(&config, meta(false), move |s| {
        let _ = tx.send(s);
    });
    // 8 MiB of NULs (stored as nothing), the writer keeping up: more
    // than the size limit and the queue's floor ever allow to wait.
    for _ in 0..128 {
        recorder.output(&Bytes::from(vec![0u8; 64 * 1024]));
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    recorder.output(&Bytes::from_static(b"still recorded"));
    drop(recorder);
    let summary = rx.await.unwrap();
    assert!(!summary.truncated);
    assert_eq!(summary.text, "still recorded");

    // A chunk larger than the size limit is no reason to stop: the
    // limit's own marker says where the recording ends.
    let (summary, rec) = record(&config, false, |r| {
        r.output(&Bytes::from("x".repeat(32 * 1024)));
    })
    .await;
    assert!(summary.truncated);
    assert!(rec.events.last().unwrap().data.contains("size limit"));

    // A writer that cannot keep up stops the recording with a marker
    // where the gap begins, rather than leave a silent gap.
    let (summary, rec) = record(&config, false, |r| {
        r.output(&Bytes::from_static(b"kept"));
        for _ in 0..5 {
            r.output(&Bytes::from(vec![0u8; 1 << 20]));
        }
        r.output(&Bytes::from_static(b"lost"));
    })
    .await;
    assert!(summary.truncated);
    assert_eq!(rec.output(), "kept");
    let last = rec.events.last().unwrap();
    assert_eq!(last.kind, Kind::Marker);
    assert!(last.data.contains("waited for the disk"), "{}", last.data);
}

#[tokio::test]
async fn a_desktop_recording_takes_its_size_from_the_first_key_frame_and_keeps_pictures_exact() {
    use base64::Engine;
    let dir = tempfile::tempdir().unwrap();
    let config = RecordingConfig::new(dir.path(), 1 << 20);
    let no_size = RecordingMeta {
        cols: 0,
        rows: 0,
        ..meta(false)
    };
    // A region header (x, y, width, height) and bytes that are no UTF-8.
    let key = Bytes::from_static(&[0, 0, 0, 0, 3, 32, 2, 88, 0x89, b'P', 0xff, 0]);
    let region = Bytes::from_static(&[0, 10, 0, 20, 0, 4, 0, 4, 0xfe, 1, 2]);
    let (summary, rec) = record_with(&config, no_size, |r| {
        r.frame(&key, true);
        r.frame(&region, false);
    })
    .await;
    assert_eq!((rec.header.width, rec.header.height), (800, 600));
    assert_eq!(rec.header.env, None);
    assert_eq!(rec.header.gatehouse.as_ref().unwrap()["screen"], "desktop");
    let decode = |e: &cast::Event| {
        base64::engine::general_purpose::STANDARD
            .decode(&e.data)
            .unwrap()
    };
    assert_eq!(rec.events.len(), 2);
    assert_eq!(rec.events[0].kind, Kind::KeyFrame);
    assert_eq!(decode(&rec.events[0]), key);
    assert_eq!(rec.events[1].kind, Kind::Frame);
    assert_eq!(decode(&rec.events[1]), region);
    // Pictures are not text: nothing of them goes to the search index.
    assert_eq!(summary.text, "");
}
