//! Is the Active Sessions page responsive with 10,000 live sessions?
//!
//! Starts the gateway in-process, opens `SESSIONS` sessions straight in its
//! registry (synthetic: no SSH behind them — this measures the page, the
//! event feed and the registry, not sshd), then drives the page in Debian's
//! Chromium (crates/web/ui/tests/scale.bench.mjs) and prints its timings:
//! first render, each search keystroke, scrolling to the end, and how long
//! `CHURN` sessions starting while the page is open take to show.
//!
//! Run: `cargo bench -p gatehouse --bench ui_scale` (needs what
//! `scripts/prerequisites` installs).

#![allow(missing_docs, unreachable_pub)]

// Shared with the integration tests: what this bench leaves unused is fine.
#[allow(dead_code, unused_imports)]
#[path = "../crates/gatehouse/tests/it/harness/mod.rs"]
mod harness;

use std::process::Stdio;
use std::time::Instant;

use harness::{ADMIN_PASSWORD, TestGateway};
use tokio::io::{AsyncBufReadExt, BufReader};

#[path = "synthetic.rs"]
mod synthetic;

const SESSIONS: usize = 10_000;
const CHURN: usize = 200;

#[tokio::main]
async fn main() {
    let gw = TestGateway::spawn().await;
    let connections = synthetic::connections(40);
    let t = Instant::now();
    let mut handles: Vec<_> = (0..SESSIONS)
        .map(|i| gw.registry().open(synthetic::session(i, &connections)))
        .collect();
    gw.registry().flush_lifecycle().await;
    eprintln!(
        "opened {SESSIONS} sessions and wrote their history rows in {:?}",
        t.elapsed()
    );

    let ui = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../web/ui");
    let mut node = tokio::process::Command::new("node")
        .arg("tests/scale.bench.mjs")
        .current_dir(ui)
        .env("GATEHOUSE_URL", format!("http://{}", gw.addr))
        .env("GATEHOUSE_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("SESSIONS", SESSIONS.to_string())
        .env("CHURN", CHURN.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node");
    let mut lines = BufReader::new(node.stdout.take().unwrap()).lines();
    while let Some(line) = lines.next_line().await.unwrap() {
        if line == "READY_FOR_CHURN" {
            // CHURN sessions start while the page shows the first SESSIONS.
            for i in 0..CHURN {
                handles.push(
                    gw.registry()
                        .open(synthetic::session(SESSIONS + i, &connections)),
                );
            }
        } else {
            println!("{line}");
        }
    }
    assert!(
        node.wait().await.unwrap().success(),
        "the page measurement failed"
    );
    drop(handles);
}
