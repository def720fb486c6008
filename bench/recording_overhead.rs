//! What does recording cost a bulk-output session? Streams
//! `head -c 32M /dev/zero | base64` (≈ 43 MiB of terminal output) from a
//! real sshd through the gateway's WebSocket terminal, alternating rounds
//! with the connection's recording on and off, and reports the throughput
//! the client saw, the recording's size and how long after the session's
//! end its file was complete and indexed. Wall-clock throughput on a shared
//! machine is noisy, so it also reports the CPU time this process (gateway
//! and client together) spent per round, and the recorder alone fed the
//! same stream without any network.
//!
//! Run: `cargo bench -p gatehouse --bench recording_overhead` (needs what
//! `scripts/prerequisites` installs). `ROUNDS=5` for more rounds.

#![allow(missing_docs, unreachable_pub)]

// Shared with the integration tests: what this bench leaves unused is fine.
#[allow(dead_code, unused_imports)]
#[path = "../crates/gatehouse/tests/it/harness/mod.rs"]
mod harness;

#[path = "proc_cpu.rs"]
mod proc_cpu;

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use harness::{Terminal, TestGateway};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

const MIB: f64 = 1024.0 * 1024.0;

struct Round {
    bytes: usize,
    elapsed: Duration,
    cpu: Duration,
    recording: Option<(u64, Duration)>,
}

/// CPU time (user + system) this process has used so far.
fn cpu_time() -> Duration {
    proc_cpu::cpu_time("self")
}

/// One session: runs the bulk command and reads until its end marker.
async fn round(gw: &TestGateway, token: &str, conn: &str) -> Round {
    let mut term = Terminal::open(gw, token, conn).await;
    let start = Instant::now();
    let cpu_start = cpu_time();
    term.run("head -c 32M /dev/zero | base64; echo bulk-$((20+22))-done")
        .await;
    let mut bytes = 0;
    let mut tail: Vec<u8> = Vec::new();
    loop {
        match term.ws.next().await {
            Some(Ok(Message::Binary(b))) => {
                bytes += b.len();
                tail.extend_from_slice(&b);
                if tail.len() > 64 {
                    tail.drain(..tail.len() - 64);
                }
                if tail.windows(12).any(|w| w == b"bulk-42-done") {
                    break;
                }
            }
            Some(Ok(_)) => {}
            other => panic!("terminal closed: {other:?}"),
        }
    }
    let elapsed = start.elapsed();
    let session = term.session_id.clone();
    term.run("exit").await;
    term.ended().await;
    let ended = Instant::now();
    gw.registry()
        .wait_for_recordings(Duration::from_secs(60))
        .await;
    let cpu = cpu_time() - cpu_start;
    let row = gw.ended_history(token, &session).await;
    let recording = row["recording"]["bytes"]
        .as_u64()
        .map(|b| (b, ended.elapsed()));
    Round {
        bytes,
        elapsed,
        cpu,
        recording,
    }
}

fn mib_s(r: &Round) -> f64 {
    r.bytes as f64 / MIB / r.elapsed.as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let sshd = harness::Sshd::start().await;
    // Room for the whole stream, so recording is on for every byte.
    let gw = TestGateway::spawn_with(|c| c.recording_max_bytes = 1 << 30).await;
    let admin = gw.admin().await;
    let on = gw
        .ssh_connection(&admin, &sshd, "recorded", &["admin"])
        .await;
    let off = gw
        .ssh_connection(&admin, &sshd, "unrecorded", &["admin"])
        .await;
    let (status, _) = gw
        .put(
            &admin,
            &format!("/connections/{off}/recording"),
            json!({ "recording": false, "record_input": false }),
        )
        .await;
    assert_eq!(status, 200);

    println!(
        "Bulk output (head -c 32M /dev/zero | base64) through the WebSocket terminal, {rounds} rounds each, alternating"
    );
    println!(
        "| round | recording off | recording on | CPU off / on (gateway + client) | recording size | file complete + indexed after session end |"
    );
    println!("|---|---|---|---|---|---|");
    let (mut offs, mut ons) = (Vec::new(), Vec::new());
    let (mut cpu_offs, mut cpu_ons) = (Vec::new(), Vec::new());
    for i in 1..=rounds {
        let a = round(&gw, &admin, &off).await;
        let b = round(&gw, &admin, &on).await;
        let (size, done) = b.recording.expect("the recorded round has a recording");
        println!(
            "| {i} | {:.1} MiB/s ({:.1} MiB in {:.2} s) | {:.1} MiB/s ({:.1} MiB in {:.2} s) | {:.2} s / {:.2} s | {:.1} MiB | {:.0} ms |",
            mib_s(&a),
            a.bytes as f64 / MIB,
            a.elapsed.as_secs_f64(),
            mib_s(&b),
            b.bytes as f64 / MIB,
            b.elapsed.as_secs_f64(),
            a.cpu.as_secs_f64(),
            b.cpu.as_secs_f64(),
            size as f64 / MIB,
            done.as_secs_f64() * 1e3
        );
        assert!(a.recording.is_none());
        offs.push(mib_s(&a));
        ons.push(mib_s(&b));
        cpu_offs.push(a.cpu.as_secs_f64());
        cpu_ons.push(b.cpu.as_secs_f64());
    }
    let (off_m, on_m) = (median(offs), median(ons));
    println!();
    println!(
        "Median throughput: {off_m:.1} MiB/s without recording, {on_m:.1} MiB/s with it ({:+.1} %)",
        (on_m / off_m - 1.0) * 100.0
    );
    let (cpu_off, cpu_on) = (median(cpu_offs), median(cpu_ons));
    println!(
        "Median CPU per round: {cpu_off:.2} s without recording, {cpu_on:.2} s with it ({:+.1} %)",
        (cpu_on / cpu_off - 1.0) * 100.0
    );
    recorder_alone().await;
}

/// The recorder without a network: the same stream in 32 KiB chunks, as
/// fast as it takes them, until its file is complete.
async fn recorder_alone() {
    use gatehouse_recording::{Recorder, RecordingConfig, RecordingMeta};
    let dir = tempfile::tempdir().unwrap();
    let line = format!("{}\r\n", "A".repeat(76));
    let chunk = bytes::Bytes::from(line.repeat(32 * 1024 / line.len()));
    let total = 44 * 1024 * 1024;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let start = Instant::now();
    let cpu_start = cpu_time();
    let recorder = Recorder::start(
        &RecordingConfig::new(dir.path(), 1 << 30),
        RecordingMeta {
            session: "bench".into(),
            user: "admin".into(),
            connection: "bench".into(),
            target: "127.0.0.1:22".into(),
            node: "gw-bench".into(),
            started_at: time::OffsetDateTime::now_utc(),
            cols: 80,
            rows: 24,
            input: false,
        },
        move |s| {
            let _ = tx.send(s);
        },
    );
    let mut sent = 0;
    while sent < total {
        recorder.output(&chunk);
        sent += chunk.len();
    }
    drop(recorder);
    let summary = rx.await.unwrap();
    let (wall, cpu) = (start.elapsed(), cpu_time() - cpu_start);
    println!(
        "Recorder alone: {:.1} MiB of output into a {:.1} MiB file in {:.2} s ({:.0} MiB/s), {:.2} s CPU ({:.1} ms CPU per MiB)",
        sent as f64 / MIB,
        summary.bytes as f64 / MIB,
        wall.as_secs_f64(),
        sent as f64 / MIB / wall.as_secs_f64(),
        cpu.as_secs_f64(),
        cpu.as_secs_f64() * 1e3 / (sent as f64 / MIB)
    );
}
