//! Gatehouse against the alternatives, side by side in one run on one
//! machine, against the same real `sshd`:
//! - **direct**: OpenSSH `ssh` → `sshd`;
//! - **jump**: `ssh` with `ProxyJump` through a second `sshd` (the bastion);
//! - **gatehouse-ssh**: `ssh` → Gatehouse's SSH listener → `sshd`;
//! - **gatehouse-web**: the browser's terminal WebSocket protocol → Gatehouse → `sshd`.
//!
//! Then the scale rows (memory per idle session, ending, search at 100,000,
//! the SSE fan-out), and the HTTP rows of published web applications
//! (direct, nginx, gateway; `compare/http.rs`) and TCP tunnels (direct,
//! `gatehouse tunnel`, OpenSSH `ssh -L`, the gateway's `ssh -L`;
//! `compare/tunnel.rs`). Writes a Markdown table to
//! `$BENCH_RESULTS` (default `bench/RESULTS.md`) and prints it. Run through `bench/run`, which installs
//! what is needed and builds in release; `BENCH_QUICK=1` shrinks every count
//! for a smoke run.

#![allow(missing_docs, unreachable_pub)]

// Shared with the integration tests: what this bench leaves unused is fine.
#[allow(dead_code, unused_imports)]
#[path = "../crates/gatehouse/tests/it/harness/mod.rs"]
mod harness;

#[path = "compare/desktop.rs"]
mod desktop;
#[path = "compare/desktop_browser.rs"]
mod desktop_browser;
#[path = "compare/http.rs"]
mod http;
#[path = "compare/light_target.rs"]
mod light_target;
#[path = "compare/logins.rs"]
mod logins;
#[path = "compare/native.rs"]
mod native;
#[path = "compare/nginx.rs"]
mod nginx;
#[path = "compare/oha.rs"]
mod oha;
#[path = "compare/openssh.rs"]
mod openssh;
#[path = "compare/report.rs"]
mod report;
#[path = "compare/scale.rs"]
mod scale;
#[path = "compare/splice_relay.rs"]
mod splice_relay;
#[path = "compare/stats.rs"]
mod stats;
#[path = "compare/tunnel.rs"]
mod tunnel;
#[path = "compare/web.rs"]
mod web;

use std::net::SocketAddr;
use std::time::Duration;

use harness::{ADMIN_PASSWORD, Sshd, TestGateway};
use openssh::{Bulk, Hops, OpenSsh};
use report::{PathFigures, Report};
use scale::GatewayProcess;
use serde_json::json;
use stats::Samples;
use web::WebShell;

#[path = "proc_cpu.rs"]
mod proc_cpu;
#[path = "synthetic.rs"]
mod synthetic;

/// Whether section `name` runs: all do unless `BENCH_ONLY` lists some
/// (comma-separated: paths, end, memory, logins, sse, search, http, native,
/// tunnels, desktop, desktop-browser) — for
/// iterating.
fn runs(name: &str) -> bool {
    std::env::var("BENCH_ONLY").map_or(true, |only| only.split(',').any(|s| s == name))
}

/// The sections that need the SSH set-up (two `sshd`s and a gateway with an
/// SSH listener) and write the tables of issue 8.
const SSH_SECTIONS: [&str; 6] = ["paths", "end", "memory", "logins", "sse", "search"];

/// How many of everything; `BENCH_QUICK=1` for a smoke run.
struct Counts {
    bulk_bytes: u64,
    bulk_runs: usize,
    echo: usize,
    starts: usize,
    memory_steps: Vec<usize>,
    end_rounds: usize,
    search_sessions: usize,
    search_rounds: usize,
    sse_rounds: usize,
    /// Bad logins at once; good logins at `rush_rate` a second.
    login_flood: usize,
    rush: usize,
    rush_rate: u32,
    http: http::HttpCounts,
}

impl Counts {
    fn from_env() -> Counts {
        if std::env::var_os("BENCH_QUICK").is_some() {
            Counts {
                bulk_bytes: std::env::var("BENCH_BULK_MB")
                    .ok()
                    .and_then(|m| m.parse::<u64>().ok())
                    .unwrap_or(32)
                    << 20,
                bulk_runs: std::env::var("BENCH_BULK_RUNS")
                    .ok()
                    .and_then(|m| m.parse().ok())
                    .unwrap_or(1),
                echo: std::env::var("BENCH_ECHO")
                    .ok()
                    .and_then(|m| m.parse().ok())
                    .unwrap_or(50),
                starts: 3,
                memory_steps: vec![100, 1000],
                end_rounds: 10,
                search_sessions: 10_000,
                search_rounds: 20,
                sse_rounds: 10,
                login_flood: 100,
                rush: 20,
                rush_rate: 10,
                http: http::HttpCounts::new(true),
            }
        } else {
            Counts {
                bulk_bytes: 512 << 20,
                bulk_runs: 5,
                echo: 500,
                starts: 20,
                memory_steps: vec![1000, most_sessions()],
                end_rounds: 200,
                search_sessions: 100_000,
                search_rounds: 200,
                sse_rounds: 100,
                login_flood: 500,
                rush: 100,
                rush_rate: 10,
                http: http::HttpCounts::new(false),
            }
        }
    }
}

/// Bytes the gateway relayed in bulk runs, and the CPU time it spent.
#[derive(Default)]
struct Relayed {
    bytes: u64,
    cpu: Duration,
}

impl Relayed {
    fn add(&mut self, bytes: u64, cpu: Duration) {
        self.bytes += bytes;
        self.cpu += cpu;
    }

    /// CPU seconds per gigabyte (10⁹ bytes) relayed.
    fn per_gb(&self) -> Option<f64> {
        (self.bytes > 0).then(|| self.cpu.as_secs_f64() / (self.bytes as f64 / 1e9))
    }
}

/// 10,000, or as many as this process's open-file limit lets the gateway
/// hold: two descriptors per session (the client's socket and the
/// target's; a recording file is open only while it is written to), and a
/// few dozen of the gateway's own (listeners, database, runtime).
fn most_sessions() -> usize {
    let limit: usize = std::process::Command::new("sh")
        .args(["-c", "ulimit -n"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse().ok())
        .unwrap_or(20_000);
    10_000.min(limit.saturating_sub(64) / 2)
}

#[tokio::main]
async fn main() {
    light_target::serve_if_asked().await;
    let n = Counts::from_env();
    // First: a missing nginx or oha fails the run before the long part.
    let http = if runs("http") {
        eprintln!("the HTTP path: direct, nginx and the gateway in front of one target…");
        Some(http::measure(n.http.clone()).await)
    } else {
        None
    };
    let native = if runs("native") {
        let dir = tempfile::tempdir().unwrap();
        let quick = std::env::var_os("BENCH_QUICK").is_some();
        Some(native::measure(native::NativeCounts::new(quick), dir.path()).await)
    } else {
        None
    };
    let tunnels = if runs("tunnels") {
        let dir = tempfile::tempdir().unwrap();
        let quick = std::env::var_os("BENCH_QUICK").is_some();
        Some(tunnel::measure(tunnel::TunnelCounts::new(quick), dir.path()).await)
    } else {
        None
    };
    let desktops = if runs("desktop") {
        let dir = tempfile::tempdir().unwrap();
        let quick = std::env::var_os("BENCH_QUICK").is_some();
        let figures = desktop::measure(desktop::DesktopCounts::new(quick), dir.path()).await;
        // A partial run (some rows only) printed its figures: the file
        // keeps the last whole run's section.
        std::env::var_os("BENCH_DESKTOP_ROWS")
            .is_none()
            .then_some(figures)
    } else {
        None
    };
    let browser = if runs("desktop-browser") {
        let quick = std::env::var_os("BENCH_QUICK").is_some();
        Some(desktop_browser::measure(desktop_browser::BrowserCounts::new(quick)).await)
    } else {
        None
    };
    let ssh = if SSH_SECTIONS.iter().any(|s| runs(s)) {
        Some(ssh_rows(&n).await)
    } else {
        None
    };
    write_results(
        ssh,
        http.as_ref(),
        native.as_ref(),
        tunnels.as_ref(),
        desktops.as_ref(),
        browser.as_ref(),
    );
}

/// Writes the results: the SSH tables when they ran, else the file's old
/// ones; the HTTP, native SSH, tunnel and desktop sections when they ran,
/// else the file's old ones; the desktop section's Chromium subsection when
/// it ran, else the file's old one.
fn write_results(
    ssh: Option<String>,
    http: Option<&http::HttpFigures>,
    native: Option<&native::NativeFigures>,
    tunnels: Option<&tunnel::TunnelFigures>,
    desktops: Option<&desktop::DesktopFigures>,
    browser: Option<&desktop_browser::BrowserFigures>,
) {
    let out = std::env::var("BENCH_RESULTS").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../bench/RESULTS.md").to_owned()
    });
    if ssh.is_none()
        && http.is_none()
        && native.is_none()
        && tunnels.is_none()
        && desktops.is_none()
        && browser.is_none()
    {
        eprintln!("BENCH_ONLY named no section: nothing written");
        return;
    }
    let old = std::fs::read_to_string(&out).unwrap_or_default();
    let sections = [
        (http::HEADING, http.map(http::HttpFigures::render)),
        (native::HEADING, native.map(native::NativeFigures::render)),
        (tunnel::HEADING, tunnels.map(tunnel::TunnelFigures::render)),
        (
            desktop::HEADING,
            desktops.map(desktop::DesktopFigures::render),
        ),
    ];
    let mut doc = ssh.clone().unwrap_or_else(|| old.clone());
    for (heading, new) in sections {
        let section = new.or_else(|| {
            ssh.as_ref()
                .and_then(|_| http::section_of(&old, heading).map(str::to_owned))
        });
        if let Some(section) = section {
            doc = http::splice(&doc, heading, &section);
        }
    }
    // The Chromium subsection lives inside the Desktops section, which
    // `desktop` rewrites whole: put it back (or in) after.
    let sub = browser
        .map(desktop_browser::BrowserFigures::render)
        .or_else(|| desktop_browser::section_of(&old).map(str::to_owned));
    if let Some(sub) = sub {
        doc = desktop_browser::splice(&doc, &sub);
    }
    println!("{doc}");
    std::fs::write(&out, doc).unwrap();
    eprintln!("wrote {out}");
}

/// The SSH paths and the scale rows (issue 8): their tables, rendered.
async fn ssh_rows(n: &Counts) -> String {
    let mut report = Report::new();
    let dir = tempfile::tempdir().unwrap();
    let target = Sshd::start().await;
    let bastion = Sshd::start().await;

    // The gateway under test runs as its own process, as in production.
    let ssh_addr: SocketAddr = format!("127.0.0.1:{}", harness::sshd::free_port())
        .parse()
        .unwrap();
    let process = GatewayProcess::start(Some(ssh_addr)).await;
    let gw = TestGateway::remote(process.addr, None);
    let admin = gw.login("admin", ADMIN_PASSWORD).await;
    let conn = gw
        .ssh_connection(&admin, &target, "bench", &["admin"])
        .await;
    register_key(&gw, &admin, &target).await;
    let clients = OpenSsh::new(
        dir.path(),
        &target.client_key(),
        &bastion.client_key(),
        &Hops {
            target: target.port,
            bastion: bastion.port,
            gatehouse: (ssh_addr.port(), "admin:bench".to_owned()),
        },
    );
    let aliases = [
        ("direct", "direct"),
        ("jump", "jump"),
        ("gatehouse-ssh", "gatehouse"),
    ];

    eprintln!("bulk output on each path, the paths taking turns…");
    // Round after round, each path once per round: a slow spell on this
    // shared machine then hits the paths of one round alike, and each
    // ratio to direct is taken within a round.
    // Rates per path in `aliases` order; `raw` has the web path last.
    let mut raw = vec![Vec::new(); aliases.len() + 1];
    let mut pty = vec![Vec::new(); aliases.len()];
    let mut gcm = vec![Vec::new(); aliases.len()];
    // The machine's busy CPU per GB in the raw runs, per path: default
    // cipher, then AES-128-GCM.
    let mut machine = vec![(Vec::new(), Vec::new()); aliases.len()];
    // The gateway's CPU for gatehouse-ssh's raw runs, then the web path's.
    let mut relayed = [Relayed::default(), Relayed::default()];
    if runs("paths") {
        let perf = scale::perf(&process, "BENCH_PERF_BULK").await;
        for _ in 0..n.bulk_runs {
            for (i, (_, alias)) in aliases.iter().enumerate() {
                let cpu = process.cpu_time();
                let flow = clients.throughput(alias, n.bulk_bytes, Bulk::Raw).await;
                if *alias == "gatehouse" {
                    relayed[0].add(n.bulk_bytes, process.cpu_time() - cpu);
                }
                raw[i].push(flow.rate);
                machine[i].0.push(flow.machine_cpu_per_gb);
                let flow = clients
                    .throughput(alias, n.bulk_bytes, Bulk::RawAesGcm)
                    .await;
                gcm[i].push(flow.rate);
                machine[i].1.push(flow.machine_cpu_per_gb);
                let flow = clients.throughput(alias, n.bulk_bytes, Bulk::Pty).await;
                pty[i].push(flow.rate);
            }
            report.bare_pty.push(openssh::bare_pty(n.bulk_bytes).await);
            // A terminal of its own each round: one left unread while the
            // other paths run would miss the gateway's pings and be ended.
            let (mut web, _) = WebShell::open(&gw, &admin, &conn).await;
            let cpu = process.cpu_time();
            raw[aliases.len()].push(web.throughput(n.bulk_bytes).await);
            relayed[1].add(n.bulk_bytes, process.cpu_time() - cpu);
            web.close().await;
        }
        scale::perf_done(perf);
    }

    eprintln!("session start and keystroke echo on each path…");
    if runs("paths") {
        for (i, (path, alias)) in aliases.iter().enumerate() {
            let mut starts = Samples::default();
            let mut echo = Samples::default();
            let mut same_kex = Samples::default();
            for start in 0..n.starts {
                let (mut shell, took) = clients.open(alias, false).await;
                starts.push(took);
                if start == 0 {
                    echo = shell.echo(n.echo).await;
                }
                shell.exit().await;
                let (shell, took) = clients.open(alias, true).await;
                same_kex.push(took);
                shell.exit().await;
            }
            let figures = PathFigures {
                rates: raw[i].clone(),
                pty_rates: pty[i].clone(),
                gcm_rates: gcm[i].clone(),
                machine_cpu_per_gb: machine[i].clone(),
                echo,
                start: starts,
                start_curve25519: Some(same_kex),
                cpu_per_gb: (*alias == "gatehouse")
                    .then(|| relayed[0].per_gb())
                    .flatten(),
            };
            eprintln!("  {path}: {}", figures.summary());
            report.path(path, figures);
        }
        // The web path, timed the same way.
        let mut starts = Samples::default();
        let mut echo = Samples::default();
        for start in 0..n.starts {
            let (mut shell, took) = WebShell::open(&gw, &admin, &conn).await;
            starts.push(took);
            if start == 0 {
                echo = shell.echo(n.echo).await;
            }
            shell.close().await;
        }
        let rates = raw[aliases.len()].clone();
        let figures = PathFigures {
            pty_rates: rates.clone(),
            rates,
            gcm_rates: Vec::new(),
            machine_cpu_per_gb: Default::default(),
            echo,
            start: starts,
            start_curve25519: None,
            cpu_per_gb: relayed[1].per_gb(),
        };
        eprintln!("  gatehouse-web: {}", figures.summary());
        report.path("gatehouse-web", figures);
    }

    eprintln!("ending one session at a time (real sshd)…");
    if runs("end") {
        report.end_one = Some(scale::end_one(&gw, &admin, &conn, n.end_rounds).await);
    }
    drop(gw);
    drop(process);

    eprintln!("memory per idle session and ending 1,000 at once (light target)…");
    if runs("memory") {
        report.memory = Some(scale::memory(&n.memory_steps, dir.path()).await);
    }

    eprintln!("a flood of bad logins and a morning's good ones…");
    if runs("logins") {
        report.logins = Some(logins::logins(n.login_flood, n.rush, n.rush_rate).await);
    }

    eprintln!("SSE fan-out and search (in-process gateway)…");
    let (gw, admin) = scale::in_process().await;
    if runs("sse") {
        report.sse = Some(scale::sse(&gw, &admin, 100, n.sse_rounds).await);
    }
    if runs("search") {
        let handles = scale::fill(&gw, n.search_sessions);
        // Let history catch up with 100,000 starts before timing.
        gw.registry().flush_lifecycle().await;
        report.search_sessions = n.search_sessions;
        report.search_query = "user42424".to_owned();
        report.search =
            Some(scale::search(&gw, &admin, &report.search_query, n.search_rounds).await);
        report.search_none =
            Some(scale::search(&gw, &admin, "no-such-session", n.search_rounds).await);
        drop(handles);
    }

    report.render()
}

/// Registers the target's client key as the admin's key, for Gatehouse's
/// SSH listener.
async fn register_key(gw: &TestGateway, admin: &str, target: &Sshd) {
    let public = target.client_public_key();
    let (status, body) = gw
        .post(
            Some(admin),
            "/profile/keys",
            json!({ "name": "bench", "public_key": public.trim() }),
        )
        .await;
    assert!(status.is_success(), "register key: {status} {body}");
}
