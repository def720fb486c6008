//! The login rows: a flood of bad password logins (issue 16) and a
//! morning's good ones (issue 24), against a `gatehouse serve` process,
//! with its RSS sampled throughout. Both go through the web login, which
//! checks passwords with the same Argon2 workers as the SSH listener.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use super::harness::{ADMIN_PASSWORD, TestGateway};
use super::scale::GatewayProcess;
use super::stats::Samples;

/// What the login rows found.
pub struct Logins {
    /// Bad logins sent at once, and how many got each status.
    pub flood: usize,
    pub flood_statuses: Vec<(u16, usize)>,
    /// RSS growth over the baseline at the flood's peak and 3 s after it, KiB.
    pub flood_peak_kib: u64,
    pub flood_after_kib: u64,
    /// Good logins at a steady rate, how many succeeded, and their latency.
    pub rush: usize,
    pub rush_ok: usize,
    pub rush_latency: Samples,
    /// RSS growth over the baseline after the rush, KiB.
    pub rush_after_kib: u64,
}

/// Samples `process`'s RSS every 20 ms until dropped; keeps the peak.
struct Peak {
    kib: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Peak {
    fn watch(pid: u32) -> Peak {
        let kib = Arc::new(AtomicU64::new(0));
        let seen = kib.clone();
        let task = tokio::spawn(async move {
            loop {
                seen.fetch_max(rss_kib(pid), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        Peak { kib, task }
    }

    fn stop(self) -> u64 {
        self.task.abort();
        self.kib.load(Ordering::Relaxed)
    }
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

pub async fn logins(flood: usize, rush: usize, rush_per_second: u32) -> Logins {
    let process = GatewayProcess::start(None).await;
    let gw = TestGateway::remote(process.addr, None);
    let admin = gw.login("admin", ADMIN_PASSWORD).await;
    let (status, body) = gw
        .post(
            Some(&admin),
            "/users",
            json!({ "username": "morning", "password": "a-long-password", "roles": ["user"] }),
        )
        .await;
    assert!(status.is_success(), "{status} {body}");
    // The workers start with the first check: the baseline includes them.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let base = process.rss_kib();

    // The flood: every login at once, two per source address on loopback
    // (127.0.0.2, …), so the throttle (per name and per address) lets each
    // through to a password check, as a guesser with many addresses would.
    let peak = Peak::watch(process.pid());
    let url = gw.url("/auth/login");
    let sent: Vec<_> = (0..flood)
        .map(|i| {
            let source = IpAddr::from([127, 0, (2 + i / 2 / 250) as u8, (2 + i / 2 % 250) as u8]);
            let client = reqwest::Client::builder()
                .local_address(source)
                .build()
                .unwrap();
            let url = url.clone();
            tokio::spawn(async move {
                let body =
                    json!({ "username": format!("guess{i}"), "password": "not-the-password" });
                match client.post(url).json(&body).send().await {
                    Ok(r) => r.status().as_u16(),
                    Err(_) => 0,
                }
            })
        })
        .collect();
    let mut statuses = std::collections::BTreeMap::new();
    for s in sent {
        *statuses.entry(s.await.unwrap()).or_insert(0) += 1;
    }
    let flood_peak = peak.stop();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let flood_after = process.rss_kib();
    eprintln!(
        "  {flood} bad logins at once: {statuses:?}; RSS base {base} KiB, peak {flood_peak}, after {flood_after}"
    );

    // The morning rush: good logins at a steady rate.
    let mut tick = tokio::time::interval(Duration::from_secs(1) / rush_per_second);
    let mut running = Vec::new();
    for _ in 0..rush {
        tick.tick().await;
        let (http, url) = (gw.http().clone(), url.clone());
        running.push(tokio::spawn(async move {
            let t = Instant::now();
            let body = json!({ "username": "morning", "password": "a-long-password" });
            let ok = http
                .post(url)
                .json(&body)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            (ok, t.elapsed())
        }));
    }
    let (mut rush_ok, mut rush_latency) = (0, Samples::default());
    for r in running {
        let (ok, took) = r.await.unwrap();
        rush_ok += usize::from(ok);
        rush_latency.push(took);
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rush_after = process.rss_kib();
    eprintln!(
        "  {rush} good logins at {rush_per_second}/s: {rush_ok} succeeded, p50 {:.0} ms, p99 {:.0} ms; RSS after {rush_after} KiB",
        rush_latency.p50_ms(),
        rush_latency.p99_ms()
    );
    Logins {
        flood,
        flood_statuses: statuses.into_iter().collect(),
        flood_peak_kib: flood_peak.saturating_sub(base),
        flood_after_kib: flood_after.saturating_sub(base),
        rush,
        rush_ok,
        rush_latency,
        rush_after_kib: rush_after.saturating_sub(base),
    }
}
