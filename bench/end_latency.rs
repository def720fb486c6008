//! How fast does *End Sessions* close the user's browser terminal?
//!
//! Starts the gateway in-process next to a real OpenSSH `sshd` on loopback
//! (the same harness as the integration tests), then:
//! 1. ends one session at a time, `ROUNDS` times, timing from the moment
//!    the `POST /api/v1/sessions/end` response arrives until the terminal
//!    WebSocket has received its `ended` message and close frame;
//! 2. ends `BATCH` sessions in one call and times the last close.
//!
//! Run: `cargo bench -p gatehouse --bench end_latency` (needs what
//! `scripts/test` installs). Prints a small table; numbers are wall-clock
//! on this machine, so compare runs made on the same machine.

#![allow(missing_docs, unreachable_pub)]

// Shared with the integration tests: what this bench leaves unused is fine.
#[allow(dead_code, unused_imports)]
#[path = "../crates/gatehouse/tests/it/harness/mod.rs"]
mod harness;

use std::time::{Duration, Instant};

use harness::{Sshd, Terminal, TestGateway};
use serde_json::json;

const ROUNDS: usize = 50;
const BATCH: usize = 50;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let ops = gw.user(&admin, "ops1", "user").await;
    let conn = gw.ssh_connection(&admin, &sshd, "bench", &["ops1"]).await;

    let mut after_response = Vec::with_capacity(ROUNDS);
    let mut whole_call = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let mut term = Terminal::open(&gw, &ops, &conn).await;
        term.run("echo ready").await;
        term.expect("ready").await;
        let sent = Instant::now();
        let (status, _) = gw
            .post(
                Some(&admin),
                "/sessions/end",
                json!({ "ids": [term.session_id] }),
            )
            .await;
        let returned = Instant::now();
        assert_eq!(status, 200);
        let ending = term.ended().await;
        let closed = Instant::now();
        assert_eq!(ending.message["reason"], "ended_by_admin");
        assert!(ending.close.is_some());
        after_response.push(closed.saturating_duration_since(returned));
        whole_call.push(closed - sent);
    }
    after_response.sort();
    whole_call.sort();

    let mut terms = Vec::with_capacity(BATCH);
    for _ in 0..BATCH {
        terms.push(Terminal::open(&gw, &ops, &conn).await);
    }
    let ids: Vec<_> = terms.iter().map(|t| t.session_id.clone()).collect();
    let sent = Instant::now();
    let (status, body) = gw
        .post(Some(&admin), "/sessions/end", json!({ "ids": ids }))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["ended"].as_array().unwrap().len(), BATCH);
    let mut last = Duration::ZERO;
    for term in &mut terms {
        term.ended().await;
        last = last.max(sent.elapsed());
    }

    println!("End Sessions → terminal WebSocket closed (real sshd, loopback, {ROUNDS} rounds)");
    println!("| measure | p50 | p99 | max |");
    println!("|---|---|---|---|");
    for (name, v) in [
        ("after the end call returned", &after_response),
        ("from sending the end call", &whole_call),
    ] {
        println!(
            "| {name} | {} | {} | {} |",
            ms(percentile(v, 0.5)),
            ms(percentile(v, 0.99)),
            ms(*v.last().unwrap())
        );
    }
    println!(
        "| {BATCH} sessions in one call, last closed (from sending) | {} | | |",
        ms(last)
    );
}
