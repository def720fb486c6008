//! How fast is "who ran `rm -rf` on prod-db?" across thousands of
//! recordings? Fills a real SQLite file with N ended, recorded sessions
//! (each with ~8 KiB of shell-like output text in the trigram index, one of
//! them with the needle), then times History text searches.
//!
//! Run: `cargo bench -p gatehouse-store --bench recording_search`
//! (`RECORDINGS=5000` for another size).

#![allow(missing_docs, unreachable_pub)]

use std::time::{Duration, Instant};

use gatehouse_domain::{ConnectionId, EndReason, RoleName, SessionId, Username};
use gatehouse_store::{HistoryEnd, HistoryQuery, HistoryStart, NewUser, RecordingDone, Store};
use time::OffsetDateTime;

const TEXT_BYTES: usize = 8 * 1024;
const RUNS: usize = 50;

/// A small deterministic generator, so every run indexes the same text.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n
    }
}

const COMMANDS: &[&str] = &[
    "ls -la",
    "cd /var/log",
    "tail -n 50 syslog",
    "grep -i error app.log",
    "df -h",
    "systemctl status nginx",
    "ps aux | grep java",
    "cat /etc/hosts",
    "sudo journalctl -u postgresql --since today",
    "vim config.yaml",
    "git pull --rebase",
    "kubectl get pods -n prod",
    "rm notes.txt",
    "du -sh *",
];

const WORDS: &[&str] = &[
    "total",
    "drwxr-xr-x",
    "root",
    "deploy",
    "4096",
    "Nov",
    "access.log",
    "error",
    "warning",
    "connection",
    "refused",
    "active",
    "running",
    "postgres",
    "nginx",
    "127.0.0.1",
    "GET",
    "/api/v1/health",
    "200",
    "OK",
    "Filesystem",
    "Size",
    "Used",
    "Avail",
    "/dev/sda1",
    "tmpfs",
];

fn session_text(rng: &mut Lcg, needle: Option<&str>) -> String {
    let mut text = String::with_capacity(TEXT_BYTES + 256);
    while text.len() < TEXT_BYTES {
        text.push_str("deploy@prod-db:~$ ");
        text.push_str(COMMANDS[rng.next(COMMANDS.len())]);
        text.push('\n');
        for _ in 0..1 + rng.next(6) {
            for _ in 0..3 + rng.next(8) {
                text.push_str(WORDS[rng.next(WORDS.len())]);
                text.push(' ');
            }
            text.push_str(&format!("{:x}\n", rng.next(1 << 30)));
        }
        if let Some(needle) = needle
            && text.len() > TEXT_BYTES / 2
            && !text.contains(needle)
        {
            text.push_str(&format!("deploy@prod-db:~$ {needle}\n"));
        }
    }
    text
}

fn pct(samples: &mut [Duration], p: f64) -> f64 {
    samples.sort();
    samples[((samples.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e3
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::var("RECORDINGS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("gatehouse.db");
    let store = Store::open(&db).await.unwrap();
    let user = store
        .create_user(NewUser {
            username: Username::parse("deploy").unwrap(),
            password_hash: "x".into(),
            roles: vec![RoleName::parse("user").unwrap()],
        })
        .await
        .unwrap();

    let mut rng = Lcg(7);
    let needle_at = n / 3;
    let mut indexed_bytes = 0;
    let started = Instant::now();
    for i in 0..n {
        let id = SessionId::new();
        let now = OffsetDateTime::now_utc();
        store
            .history_start(&HistoryStart {
                id,
                user_id: user.id,
                username: "deploy".into(),
                connection_id: ConnectionId::new(),
                connection_name: "prod-db".into(),
                protocol: "ssh".into(),
                client_addr: "203.0.113.7".into(),
                target: "10.0.0.5:22".into(),
                node: "gw-1".into(),
                started_at: now,
                recording_path: Some(format!("x/{id}.cast")),
            })
            .await
            .unwrap();
        store
            .history_end(&HistoryEnd {
                id,
                ended_at: now,
                end_reason: EndReason::ClientClosed,
                ended_by: None,
                end_message: None,
                bytes_from_client: 0,
                bytes_to_client: 0,
                participants: serde_json::json!([]),
                detail: serde_json::json!({}),
            })
            .await
            .unwrap();
        let needle = (i == needle_at).then_some("sudo rm -rf /var/lib/postgresql/16/main");
        let text = session_text(&mut rng, needle);
        indexed_bytes += text.len();
        store
            .recording_done(&RecordingDone {
                id,
                bytes: text.len() as u64,
                duration_ms: 1000,
                truncated: false,
                text,
            })
            .await
            .unwrap();
    }
    let fill = started.elapsed();
    let db_bytes: u64 = ["", "-wal"]
        .iter()
        .filter_map(|s| std::fs::metadata(format!("{}{s}", db.display())).ok())
        .map(|m| m.len())
        .sum();
    println!(
        "{n} recorded sessions, {:.1} MiB of output text indexed in {:.1} s ({:.2} ms per session); database {:.1} MiB",
        indexed_bytes as f64 / 1048576.0,
        fill.as_secs_f64(),
        fill.as_secs_f64() * 1e3 / n as f64,
        db_bytes as f64 / 1048576.0
    );
    println!();
    println!("| search (History `text=`, page of 100) | matches | p50 | p95 |");
    println!("|---|---|---|---|");
    for text in [
        "rm -rf /var/lib/postgresql",
        "rm -rf",
        "kubectl get pods",
        "journalctl -u postgresql",
        "no-such-text-anywhere",
    ] {
        let query = HistoryQuery {
            text: Some(text.into()),
            limit: 100,
            ..Default::default()
        };
        let mut samples = Vec::with_capacity(RUNS);
        let mut total = 0;
        for _ in 0..RUNS {
            let t = Instant::now();
            let (count, _) = store.list_history(&query).await.unwrap();
            samples.push(t.elapsed());
            total = count;
        }
        println!(
            "| `{text}` | {total} | {:.2} ms | {:.2} ms |",
            pct(&mut samples, 0.5),
            pct(&mut samples, 0.95)
        );
    }
}
