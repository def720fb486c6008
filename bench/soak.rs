//! Soak (issue 16): thousands of open / use / end cycles across the browser
//! terminal and native SSH against one gateway, then its tasks, file
//! descriptors and memory compared with their baseline.
//!
//! The gateway runs in this process (as in the integration tests), so the
//! runtime's live task count is readable; the SSH clients are real OpenSSH
//! processes and the target a real `sshd`. Each cycle opens a session, runs
//! a command in it and ends it: even browser cycles are ended by End
//! Sessions, odd ones by the client closing; native cycles run `echo` and
//! exit. After a warm-up the baseline is taken; after the last cycle the
//! figures are taken again once the registry is empty.
//!
//!   SOAK_CYCLES=10000 cargo bench -p gatehouse --bench soak   # bench/SOAK.md

#![allow(unreachable_pub, missing_docs)]

#[allow(dead_code, unused_imports)]
#[path = "../crates/gatehouse/tests/it/harness/mod.rs"]
mod harness;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;

use harness::{Sshd, Terminal, TestGateway};

/// What a moment of the gateway's life looks like from inside.
#[derive(Clone, Copy, Debug)]
struct Figures {
    tasks: usize,
    fds: usize,
    rss_kib: u64,
    sessions: usize,
}

fn figures(gw: &TestGateway) -> Figures {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    Figures {
        tasks: tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks(),
        fds: std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count()),
        rss_kib,
        sessions: gw.registry().len(),
    }
}

/// Waits until no session is live and the task count stops falling.
async fn settled(gw: &TestGateway) -> Figures {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = figures(gw);
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = figures(gw);
        if (now.sessions == 0 && now.tasks >= last.tasks) || Instant::now() > deadline {
            return now;
        }
        last = now;
    }
}

/// An OpenSSH client of the admin's, with a registered key and the
/// gateway's host key pinned.
struct NativeClient {
    dir: tempfile::TempDir,
    port: u16,
}

impl NativeClient {
    async fn new(gw: &TestGateway, admin: &str) -> NativeClient {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("id_ed25519");
        let made = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key)
            .status()
            .unwrap();
        assert!(made.success());
        let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
        let (status, body) = gw
            .post(
                Some(admin),
                "/profile/keys",
                json!({ "name": "soak", "public_key": public }),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let (_, info) = gw.get(Some(admin), "/gateway").await;
        let (addr, _) = gw.ssh();
        std::fs::write(
            dir.path().join("known_hosts"),
            format!(
                "[127.0.0.1]:{} {}\n",
                addr.port(),
                info["ssh"]["host_key"].as_str().unwrap()
            ),
        )
        .unwrap();
        NativeClient {
            dir,
            port: addr.port(),
        }
    }

    async fn echo(&self, n: usize) {
        let dir: &Path = self.dir.path();
        let out = tokio::process::Command::new("ssh")
            .args([
                "-F",
                "/dev/null",
                "-T",
                "-o",
                "BatchMode=yes",
                "-o",
                "StrictHostKeyChecking=yes",
            ])
            .arg("-o")
            .arg(format!(
                "UserKnownHostsFile={}",
                dir.join("known_hosts").display()
            ))
            .arg("-i")
            .arg(dir.join("id_ed25519"))
            .args(["-p", &self.port.to_string(), "admin:soak@127.0.0.1"])
            .arg(format!("echo soak-{n}"))
            .output()
            .await
            .unwrap();
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(&format!("soak-{n}")),
            "native cycle {n}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

async fn browser_cycle(gw: &TestGateway, admin: &str, conn: &str, n: usize) {
    let mut term = Terminal::open(gw, admin, conn).await;
    term.run(&format!("echo soak-$(( {n} + 1 ))")).await;
    term.expect(&format!("soak-{}", n + 1)).await;
    if n.is_multiple_of(2) {
        let (status, _) = gw
            .post(
                Some(admin),
                "/sessions/end",
                json!({ "ids": [term.session_id] }),
            )
            .await;
        assert_eq!(status, 200);
        term.ended().await;
    } else {
        // The client goes away: close, and read until the gateway closes too.
        use futures_util::StreamExt;
        let _ = term.ws.close(None).await;
        while let Some(Ok(_)) = term.ws.next().await {}
    }
}

#[tokio::main]
async fn main() {
    let cycles: usize = std::env::var("SOAK_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let target = Sshd::start().await;
    let gw = TestGateway::spawn_with(|c| {
        // Recordings are on by default; the soak keeps them (they are part of every session).
        c.activity_interval = Duration::from_millis(500);
    })
    .await;
    let admin = gw.admin().await;
    let conn = gw.ssh_connection(&admin, &target, "soak", &["admin"]).await;
    let native = NativeClient::new(&gw, &admin).await;

    let cycle = |n: usize| {
        let (gw, admin, conn, native) = (&gw, &admin, &conn, &native);
        async move {
            if n.is_multiple_of(2) {
                browser_cycle(gw, admin, conn, n / 2).await;
            } else {
                native.echo(n).await;
            }
        }
    };
    let warm_up = 100.min(cycles);
    for n in 0..warm_up {
        cycle(n).await;
    }
    let baseline = settled(&gw).await;
    eprintln!("baseline after {warm_up} cycles: {baseline:?}");
    let started = Instant::now();
    for n in warm_up..cycles {
        cycle(n).await;
        if n.is_multiple_of(1000) {
            eprintln!("{n} cycles, {:?}: {:?}", started.elapsed(), figures(&gw));
        }
    }
    let took = started.elapsed();
    let after = settled(&gw).await;
    eprintln!("after {cycles} cycles: {after:?}");

    let (_, history) = gw.get(Some(&admin), "/history?limit=1").await;
    let rows = history["total"].as_u64().unwrap_or(0);
    let row = |what: &str, before: u64, after: u64| {
        format!(
            "| {what} | {before} | {after} | {:+} |\n",
            after as i64 - before as i64
        )
    };
    let report = format!(
        "# Soak\n\n\
         `SOAK_CYCLES={cycles} cargo bench -p gatehouse --bench soak` (bench/soak.rs): {cycles} open / use / end \
         cycles, alternating the browser terminal (half ended by End Sessions, half by the client closing) and \
         native SSH (`ssh … echo`), against one in-process gateway with a real `sshd` target, recordings on. \
         {warm} warm-up cycles before the baseline; the last figures once no session is live. \
         {secs:.0} s for the measured cycles; history holds {rows} rows.\n\n\
         | | baseline | after {cycles} cycles | change |\n|---|---|---|---|\n{}{}{}{}",
        row(
            "live sessions",
            baseline.sessions as u64,
            after.sessions as u64
        ),
        row(
            "tokio tasks alive",
            baseline.tasks as u64,
            after.tasks as u64
        ),
        row(
            "open file descriptors",
            baseline.fds as u64,
            after.fds as u64
        ),
        row("RSS (KiB)", baseline.rss_kib, after.rss_kib),
        warm = warm_up,
        secs = took.as_secs_f64(),
    );
    let out = std::env::var("SOAK_RESULTS")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../bench/SOAK.md").to_owned());
    std::fs::write(&out, report).unwrap();
    eprintln!("wrote {out}");
}
