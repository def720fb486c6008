//! The HTTP rows (issue 17): a published web application reached three
//! ways, all on loopback, by the same load generator (`oha`):
//! - **direct**: oha → the target;
//! - **nginx**: oha → Debian's nginx as a reverse proxy → the target;
//! - **gatehouse**: oha → the gateway's app host (a live app session's
//!   cookie) → the target.
//!
//! The target is nginx serving static files (`compare/nginx.rs`); uploads
//! go to a sink of the bench's own ([`Sink`]), which answers once it has
//! read the whole body (nginx answers before it reads a body it has no use
//! for). Each
//! round runs every measure on every path in turn, so a slow spell on the
//! shared machine hits one round's paths alike; ratios are taken within a
//! round and the median of the rounds' ratios is the figure.

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::header::{LOCATION, SET_COOKIE};
use serde_json::json;

use super::harness::{ADMIN_PASSWORD, TestGateway};
use super::nginx::{
    self, BULK_PATH, Nginx, PACED_BYTES_PER_SEC, PACED_PATH, SMALL_BYTES, SMALL_PATH,
};
use super::oha::{self, Load};
use super::scale::GatewayProcess;
use super::stats::median;

/// The connection the gateway publishes the target as.
const APP: &str = "app";
/// The connection the gateway publishes the upload sink as.
const SINK_APP: &str = "sink";

/// How many of everything.
#[derive(Clone)]
pub struct HttpCounts {
    /// Rounds; each runs every measure on every path once.
    pub rounds: usize,
    /// Small requests one at a time, per path and round (latency).
    pub latency_requests: usize,
    /// Small requests at `concurrency`, per path and round (requests/s).
    pub rps_requests: usize,
    /// Connections at once for the requests/s run.
    pub concurrency: usize,
    /// The bulk download's size, and the bulk upload's.
    pub bulk_bytes: u64,
    /// The paced download's size.
    pub paced_bytes: u64,
}

impl HttpCounts {
    /// The full run, or a smoke run's small counts.
    pub fn new(quick: bool) -> HttpCounts {
        let mb = |name: &str| std::env::var(name).ok().and_then(|m| m.parse::<u64>().ok());
        let (bulk_mb, paced_mb) = (mb("BENCH_HTTP_BULK_MB"), mb("BENCH_HTTP_PACED_MB"));
        if quick {
            HttpCounts {
                rounds: 1,
                latency_requests: 500,
                rps_requests: 2_000,
                concurrency: 32,
                bulk_bytes: bulk_mb.unwrap_or(64) << 20,
                paced_bytes: paced_mb.unwrap_or(16) << 20,
            }
        } else {
            HttpCounts {
                rounds: 5,
                latency_requests: 5_000,
                rps_requests: 20_000,
                concurrency: 32,
                bulk_bytes: bulk_mb.unwrap_or(1024) << 20,
                paced_bytes: paced_mb.unwrap_or(256) << 20,
            }
        }
    }
}

/// The three ways to the target, in table order.
pub const PATHS: [&str; 3] = ["direct", "nginx", "gatehouse"];

/// One path's figures in one round.
#[derive(Clone, Debug, Default)]
pub struct PathRound {
    /// Small requests one at a time: p50 and p99 latency, seconds.
    pub p50: f64,
    pub p99: f64,
    /// Small requests at the fixed concurrency, per second.
    pub rps: f64,
    /// The proxy's CPU per small request at that concurrency, seconds
    /// (`None` for direct).
    pub cpu_per_request: Option<f64>,
    /// The proxy's context switches (all its threads or processes,
    /// voluntary and not) per small request at that concurrency.
    pub switches_per_request: Option<f64>,
    /// Bulk download, bytes per second.
    pub bulk: f64,
    /// The proxy's CPU per GB (10⁹ bytes) downloaded, seconds.
    pub cpu_per_gb: Option<f64>,
    /// The whole machine's busy CPU per GB downloaded (oha, the target,
    /// the proxy and anything else running), seconds.
    pub machine_cpu_per_gb: f64,
    /// The paced download (the target sends at 1 Gbit/s), bytes per second.
    pub paced: f64,
    /// Bulk upload, bytes per second.
    pub upload: f64,
    /// The proxy's CPU per GB uploaded, seconds.
    pub cpu_per_gb_up: Option<f64>,
}

/// The gateway's resident memory, sampled every 20 ms during one bulk
/// download or upload through it, KiB.
#[derive(Clone, Debug)]
pub struct RssSpan {
    pub min: u64,
    pub max: u64,
    pub samples: usize,
}

/// Everything the HTTP rows measured.
pub struct HttpFigures {
    pub counts: HttpCounts,
    /// Per round, one per path in [`PATHS`] order.
    pub rounds: Vec<[PathRound; 3]>,
    /// One per gateway bulk download.
    pub rss: Vec<RssSpan>,
    /// One per gateway bulk upload.
    pub rss_up: Vec<RssSpan>,
    /// The gateway's RSS before the first download and after the last upload, KiB.
    pub rss_before: u64,
    pub rss_after: u64,
    /// Date, versions, load: the section may be written into a file whose
    /// machine table came from another run.
    pub facts: Vec<(String, String)>,
}

/// A way to the target: the URLs' origin, and oha's further arguments.
struct Way {
    base: String,
    args: Vec<String>,
}

/// Runs every HTTP row.
pub async fn measure(counts: HttpCounts) -> HttpFigures {
    let started = super::report::sh("date -u '+%Y-%m-%d %H:%M'");
    let load_start = super::report::sh("cat /proc/loadavg");
    let dir = tempfile::tempdir().unwrap();
    let target = Nginx::target(
        &dir.path().join("target"),
        counts.bulk_bytes,
        counts.paced_bytes,
    )
    .await;
    let sink = Sink::start().await;
    let proxy = Nginx::proxy(&dir.path().join("proxy"), target.addr, sink.addr).await;
    let ssh: SocketAddr = format!("127.0.0.1:{}", super::harness::sshd::free_port())
        .parse()
        .unwrap();
    let gateway = GatewayProcess::start(Some(ssh)).await;
    let cookie = open_app(gateway.addr, APP, target.addr).await;
    let sink_cookie = open_app(gateway.addr, SINK_APP, sink.addr).await;
    // What every upload sends: a sparse file (its holes read as zeros),
    // which oha reads into memory before it starts the clock.
    let upload_body = dir.path().join("upload.bin");
    std::fs::File::create(&upload_body)
        .unwrap()
        .set_len(counts.bulk_bytes)
        .unwrap();
    let post = |cookie: Option<&str>| {
        let mut args: Vec<String> = vec!["-m".into(), "POST".into(), "-D".into()];
        args.push(upload_body.display().to_string());
        if let Some(cookie) = cookie {
            args.extend(app_args(SINK_APP, gateway.addr.port(), cookie));
        }
        args
    };
    let uploads = [
        Way {
            base: format!("http://{}", sink.addr),
            args: post(None),
        },
        Way {
            base: format!("http://{}", proxy.addr),
            args: post(None),
        },
        Way {
            base: format!("http://{SINK_APP}.apps.localhost:{}", gateway.addr.port()),
            args: post(Some(&sink_cookie)),
        },
    ];
    let ways = [
        Way {
            base: format!("http://{}", target.addr),
            args: Vec::new(),
        },
        Way {
            base: format!("http://{}", proxy.addr),
            args: Vec::new(),
        },
        Way {
            // The app host, which oha dials at the gateway's address, as a
            // browser resolving `*.localhost` to loopback would.
            base: format!("http://{APP}.apps.localhost:{}", gateway.addr.port()),
            args: app_args(APP, gateway.addr.port(), &cookie),
        },
    ];
    let cpu = |i: usize| match i {
        1 => Some(proxy.cpu_time()),
        2 => Some(gateway.cpu_time()),
        _ => None,
    };
    let switches = |i: usize| match i {
        1 => Some(
            proxy
                .pids()
                .iter()
                .map(|p| context_switches(p))
                .sum::<u64>(),
        ),
        2 => Some(context_switches(&gateway.pid().to_string())),
        _ => None,
    };
    let small = |way: &Way, requests: usize, concurrency: usize| {
        let url = format!("{}{SMALL_PATH}", way.base);
        (url, requests, concurrency)
    };
    let limit = Duration::from_secs(300);

    // Warm up: every path's connections and pools, and the page in cache.
    for way in &ways {
        let (url, n, c) = small(way, 2_000, counts.concurrency);
        load(&url, &way.args, n, c, SMALL_BYTES).run(limit).await;
    }

    let mut rounds = Vec::new();
    let mut rss = Vec::new();
    let mut rss_up = Vec::new();
    let rss_before = gateway.rss_kib();
    let perf = super::scale::perf(&gateway, "BENCH_PERF_HTTP").await;
    for round in 0..counts.rounds {
        let mut figures: [PathRound; 3] = Default::default();
        for (i, way) in ways.iter().enumerate() {
            let (url, n, c) = small(way, counts.latency_requests, 1);
            let run = load(&url, &way.args, n, c, SMALL_BYTES).run(limit).await;
            figures[i].p50 = run.p50;
            figures[i].p99 = run.p99;
        }
        for (i, way) in ways.iter().enumerate() {
            let (url, n, c) = small(way, counts.rps_requests, counts.concurrency);
            let (before, switched) = (cpu(i), switches(i));
            let run = load(&url, &way.args, n, c, SMALL_BYTES).run(limit).await;
            figures[i].rps = run.rps;
            figures[i].cpu_per_request =
                before.map(|b| (cpu(i).unwrap() - b).as_secs_f64() / n as f64);
            figures[i].switches_per_request =
                switched.map(|b| (switches(i).unwrap() - b) as f64 / n as f64);
        }
        for (i, way) in ways.iter().enumerate() {
            let url = format!("{}{BULK_PATH}", way.base);
            let (before, machine) = (cpu(i), super::proc_cpu::machine_busy());
            let download = load(&url, &way.args, 1, 1, counts.bulk_bytes);
            let run = bulk(i, &gateway, download, limit, &mut rss).await;
            let gb = counts.bulk_bytes as f64 / 1e9;
            figures[i].machine_cpu_per_gb =
                (super::proc_cpu::machine_busy() - machine).as_secs_f64() / gb;
            figures[i].bulk = run.bytes as f64 / run.secs;
            figures[i].cpu_per_gb = before.map(|b| (cpu(i).unwrap() - b).as_secs_f64() / gb);
        }
        for (i, way) in ways.iter().enumerate() {
            let url = format!("{}{PACED_PATH}", way.base);
            let run = load(&url, &way.args, 1, 1, counts.paced_bytes)
                .run(limit)
                .await;
            figures[i].paced = run.bytes as f64 / run.secs;
        }
        for (i, way) in uploads.iter().enumerate() {
            let url = format!("{}/sink/{}", way.base, counts.bulk_bytes);
            let before = cpu(i);
            let upload = load(&url, &way.args, 1, 1, Sink::ANSWER.len() as u64);
            let run = bulk(i, &gateway, upload, limit, &mut rss_up).await;
            let gb = counts.bulk_bytes as f64 / 1e9;
            figures[i].upload = counts.bulk_bytes as f64 / run.secs;
            figures[i].cpu_per_gb_up = before.map(|b| (cpu(i).unwrap() - b).as_secs_f64() / gb);
        }
        eprintln!(
            "  round {}: p50 {} ms; req/s {}; download {} MB/s; paced {} MB/s; upload {} MB/s (direct, nginx, gatehouse)",
            round + 1,
            list(&figures, |f| format!("{:.3}", f.p50 * 1e3)),
            list(&figures, |f| format!("{:.0}", f.rps)),
            list(&figures, |f| format!("{:.0}", f.bulk / 1e6)),
            list(&figures, |f| format!("{:.0}", f.paced / 1e6)),
            list(&figures, |f| format!("{:.0}", f.upload / 1e6)),
        );
        rounds.push(figures);
    }
    super::scale::perf_done(perf);
    let rss_after = gateway.rss_kib();
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let facts = vec![
        ("date (UTC)".into(), started),
        ("load average at start".into(), load_start),
        (
            "load average at end".into(),
            super::report::sh("cat /proc/loadavg"),
        ),
        ("cores".into(), super::report::sh("nproc")),
        (
            "gatehouse".into(),
            super::report::sh(&format!(
                "git -C {root} describe --always --dirty --abbrev=10 2>/dev/null || echo unknown"
            )),
        ),
        ("nginx".into(), nginx::version()),
        ("load generator".into(), oha::version()),
    ];
    HttpFigures {
        counts,
        rounds,
        rss,
        rss_up,
        rss_before,
        rss_after,
        facts,
    }
}

fn load<'a>(
    url: &'a str,
    args: &'a [String],
    requests: usize,
    concurrency: usize,
    body_bytes: u64,
) -> Load<'a> {
    Load {
        url,
        args,
        requests,
        concurrency,
        body_bytes,
    }
}

fn list(figures: &[PathRound; 3], f: impl Fn(&PathRound) -> String) -> String {
    figures.iter().map(f).collect::<Vec<_>>().join(" / ")
}

/// Context switches of every thread of process `pid` so far.
fn context_switches(pid: &str) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("status")).ok())
        .flat_map(|status| {
            status
                .lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .sum()
}

/// Runs one bulk transfer on path `path`; through the gateway (the third
/// path) with its RSS sampled, the span added to `spans`.
async fn bulk(
    path: usize,
    gateway: &GatewayProcess,
    transfer: Load<'_>,
    limit: Duration,
    spans: &mut Vec<RssSpan>,
) -> oha::Run {
    if path != 2 {
        return transfer.run(limit).await;
    }
    let (run, span) = sampling_rss(gateway, transfer.run(limit)).await;
    spans.push(span);
    run
}

/// Runs `work` while sampling the gateway's RSS every 20 ms.
async fn sampling_rss<T>(
    gateway: &GatewayProcess,
    work: impl std::future::Future<Output = T>,
) -> (T, RssSpan) {
    let mut work = std::pin::pin!(work);
    let mut ticker = tokio::time::interval(Duration::from_millis(20));
    let mut samples = Vec::new();
    let out = loop {
        tokio::select! {
            out = &mut work => break out,
            _ = ticker.tick() => samples.push(gateway.rss_kib()),
        }
    };
    samples.push(gateway.rss_kib());
    let span = RssSpan {
        min: *samples.iter().min().unwrap(),
        max: *samples.iter().max().unwrap(),
        samples: samples.len(),
    };
    (out, span)
}

/// oha's arguments for reaching connection `app` on the gateway's app host
/// with an app session's `cookie`: the host dialled at the gateway's
/// address, as a browser resolving `*.localhost` to loopback would.
fn app_args(app: &str, port: u16, cookie: &str) -> Vec<String> {
    vec![
        "--connect-to".into(),
        format!("{app}.apps.localhost:{port}:127.0.0.1:{port}"),
        "-H".into(),
        format!("Cookie: {cookie}"),
    ]
}

/// The upload's target: `POST /sink/{bytes}` reads the whole body as it
/// streams in, keeps none of it, and answers `200` with [`Sink::ANSWER`]
/// only when exactly `bytes` arrived (`400` otherwise, which fails oha's
/// check). It runs in the bench process, on its runtime.
struct Sink {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Sink {
    const ANSWER: &str = "ok";

    async fn start() -> Sink {
        use axum::extract::{DefaultBodyLimit, Path};
        use futures_util::StreamExt;
        let app = axum::Router::new()
            .route(
                "/sink/{bytes}",
                axum::routing::post(
                    |Path(bytes): Path<u64>, body: axum::body::Body| async move {
                        let mut stream = body.into_data_stream();
                        let mut got = 0u64;
                        while let Some(chunk) = stream.next().await {
                            match chunk {
                                Ok(chunk) => got += chunk.len() as u64,
                                Err(_) => break,
                            }
                        }
                        if got == bytes {
                            (reqwest::StatusCode::OK, Self::ANSWER.to_owned())
                        } else {
                            let short = format!("{got} of {bytes} bytes arrived");
                            (reqwest::StatusCode::BAD_REQUEST, short)
                        }
                    },
                ),
            )
            .layer(DefaultBodyLimit::disable());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Sink { addr, task }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Publishes `target` as the `http` connection `app`, opens it as the
/// admin the way a browser does (launch on the gateway, redeem the ticket
/// on the app host) and returns the app session's cookie (`name=value`).
async fn open_app(gateway: SocketAddr, app: &str, target: SocketAddr) -> String {
    let gw = TestGateway::remote(gateway, None);
    let admin = gw.login("admin", ADMIN_PASSWORD).await;
    gw.connection(
        &admin,
        json!({
            "name": app, "protocol": "http", "url": format!("http://{target}"), "users": ["admin"],
        }),
    )
    .await;
    let host = format!("{app}.apps.localhost");
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .resolve(&host, gateway)
        .build()
        .unwrap();
    let launched = browser
        .get(format!("http://{gateway}/apps/launch/{app}"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(launched.status(), reqwest::StatusCode::SEE_OTHER, "launch");
    let enter = launched.headers()[LOCATION].to_str().unwrap().to_owned();
    let entered = browser.get(&enter).send().await.unwrap();
    assert_eq!(
        entered.status(),
        reqwest::StatusCode::SEE_OTHER,
        "redeeming {enter}"
    );
    let set = entered.headers()[SET_COOKIE].to_str().unwrap();
    set.split(';').next().unwrap().to_owned()
}

// ---- the section of RESULTS.md ----

/// The section's heading: the results file is spliced at it.
pub const HEADING: &str = "## Web applications over HTTP (issue 17)";

/// Allowed growth of the gateway's RSS during one bulk download. A proxy
/// that held even 2% of a 1 GiB body would exceed it; the allocator's
/// per-thread pools and hyper's read buffers (up to ~400 KiB a
/// connection) stay well below it.
const RSS_FLAT_KIB: u64 = 16 * 1024;

impl HttpFigures {
    fn median_of(&self, path: usize, f: impl Fn(&PathRound) -> f64) -> f64 {
        median(self.rounds.iter().map(|r| f(&r[path])).collect())
    }

    /// The median over rounds of `f(path's figures, base's figures)`.
    fn within_round(
        &self,
        path: usize,
        base: usize,
        f: impl Fn(&PathRound, &PathRound) -> f64,
    ) -> f64 {
        median(self.rounds.iter().map(|r| f(&r[path], &r[base])).collect())
    }

    /// Each round's `f(path's figures, base's figures)`, for the table.
    fn rounds_of(
        &self,
        path: usize,
        base: usize,
        f: impl Fn(&PathRound, &PathRound) -> f64,
    ) -> String {
        let each: Vec<String> = self
            .rounds
            .iter()
            .map(|r| format!("{:.2}", f(&r[path], &r[base])))
            .collect();
        each.join(", ")
    }

    /// The Markdown section.
    pub fn render(&self) -> String {
        let c = &self.counts;
        let mut out = format!("{HEADING}\n\n");
        out.push_str(&format!(
            "Written by `BENCH_ONLY=http bench/run` (or the full run); method in bench/README.md. \
             {} rounds, each path once per measure per round; figures are medians over rounds.\n\n",
            c.rounds
        ));
        out.push_str("| run | |\n|---|---|\n");
        for (k, v) in &self.facts {
            out.push_str(&format!("| {k} | {v} |\n"));
        }
        out.push_str(&format!(
            "\n| measure | {} |\n|---|---|---|---|\n",
            PATHS.join(" | ")
        ));
        let row = |label: &str, cell: &dyn Fn(usize) -> String| {
            let cells: Vec<String> = (0..3).map(cell).collect();
            format!("| {label} | {} |\n", cells.join(" | "))
        };
        let kib = SMALL_BYTES / 1024;
        out.push_str(&row(
            &format!("small request ({kib} KiB page), one at a time: latency p50"),
            &|i| format!("{:.3} ms", self.median_of(i, |f| f.p50) * 1e3),
        ));
        out.push_str(&row("the same, p99", &|i| {
            format!("{:.3} ms", self.median_of(i, |f| f.p99) * 1e3)
        }));
        out.push_str(&row("the same, p50 added over direct", &|i| {
            format!(
                "{:+.3} ms",
                self.within_round(i, 0, |f, d| f.p50 - d.p50) * 1e3
            )
        }));
        out.push_str(&row(
            &format!("small requests, {} connections: requests/s", c.concurrency),
            &|i| format!("{:.0}", self.median_of(i, |f| f.rps)),
        ));
        out.push_str(&row("the same, × nginx", &|i| {
            format!("{:.2}×", self.within_round(i, 1, |f, n| f.rps / n.rps))
        }));
        out.push_str(&row("the proxy's CPU per request", &|i| {
            self.cpu(i, |f| f.cpu_per_request)
                .map_or_else(|| "—".into(), |s| format!("{:.1} µs", s * 1e6))
        }));
        out.push_str(&row("the proxy's context switches per request", &|i| {
            self.cpu(i, |f| f.switches_per_request)
                .map_or_else(|| "—".into(), |s| format!("{s:.2}"))
        }));
        let size = human_bytes(c.bulk_bytes);
        out.push_str(&row(&format!("{size} download: MB/s"), &|i| {
            format!("{:.0}", self.median_of(i, |f| f.bulk) / 1e6)
        }));
        out.push_str(&row("the same, × direct", &|i| {
            format!("{:.2}×", self.within_round(i, 0, |f, d| f.bulk / d.bulk))
        }));
        out.push_str(&row("the proxy's CPU per GB downloaded", &|i| {
            self.cpu(i, |f| f.cpu_per_gb)
                .map_or_else(|| "—".into(), |s| format!("{s:.2} s"))
        }));
        out.push_str(&row(
            "the machine's busy CPU per GB downloaded (every process)",
            &|i| format!("{:.2} s", self.median_of(i, |f| f.machine_cpu_per_gb)),
        ));
        let paced_size = human_bytes(c.paced_bytes);
        let gbit = PACED_BYTES_PER_SEC as f64 * 8.0 / 1e9;
        out.push_str(&row(
            &format!("{paced_size} download, the target sending at {gbit} Gbit/s: MB/s"),
            &|i| format!("{:.0}", self.median_of(i, |f| f.paced) / 1e6),
        ));
        out.push_str(&row("the same, × direct", &|i| {
            format!("{:.2}×", self.within_round(i, 0, |f, d| f.paced / d.paced))
        }));
        out.push_str(&row(&format!("{size} upload: MB/s"), &|i| {
            format!("{:.0}", self.median_of(i, |f| f.upload) / 1e6)
        }));
        out.push_str(&row("the same, × direct", &|i| {
            format!(
                "{:.2}×",
                self.within_round(i, 0, |f, d| f.upload / d.upload)
            )
        }));
        out.push_str(&row("the proxy's CPU per GB uploaded", &|i| {
            self.cpu(i, |f| f.cpu_per_gb_up)
                .map_or_else(|| "—".into(), |s| format!("{s:.2} s"))
        }));

        out.push_str(
            "\n### Targets (issue 17)\n\n| measure | figure | target | |\n|---|---|---|---|\n",
        );
        let verdict = |met: bool| if met { "met" } else { "**missed**" };
        let added_ms = |f: &PathRound, d: &PathRound| (f.p50 - d.p50) * 1e3;
        let added = self.within_round(2, 0, added_ms);
        let nginx_added = self.within_round(1, 0, added_ms);
        out.push_str(&format!(
            "| small request latency, gatehouse added over direct, one at a time, p50 (nginx: {nginx_added:+.3} ms; rounds, ms: {}) | {added:+.3} ms | ≤ 0.3 ms | {} |\n",
            self.rounds_of(2, 0, added_ms),
            verdict(added <= 0.3)
        ));
        let rps_ratio = |f: &PathRound, n: &PathRound| f.rps / n.rps;
        let rps = self.within_round(2, 1, rps_ratio);
        out.push_str(&format!(
            "| requests/s at {} connections, gatehouse ÷ nginx (rounds: {}) | {rps:.2}× | ≥ 0.8× | {} |\n",
            c.concurrency,
            self.rounds_of(2, 1, rps_ratio),
            verdict(rps >= 0.8)
        ));
        let bulk_ratio = |f: &PathRound, d: &PathRound| f.bulk / d.bulk;
        let bulk = self.within_round(2, 0, bulk_ratio);
        let nginx_bulk = self.within_round(1, 0, bulk_ratio);
        out.push_str(&format!(
            "| {size} download, gatehouse ÷ direct, on loopback: bound by the 2 cores (nginx: {nginx_bulk:.2}×; rounds: {}) | {bulk:.2}× | ≥ 0.9× | {} |\n",
            self.rounds_of(2, 0, bulk_ratio),
            verdict(bulk >= 0.9)
        ));
        let paced_ratio = |f: &PathRound, d: &PathRound| f.paced / d.paced;
        let paced = self.within_round(2, 0, paced_ratio);
        out.push_str(&format!(
            "| {paced_size} download, gatehouse ÷ direct, the target sending at {gbit} Gbit/s as a network link would (nginx: {:.2}×; rounds: {}) | {paced:.2}× | ≥ 0.9× | {} |\n",
            self.within_round(1, 0, paced_ratio),
            self.rounds_of(2, 0, paced_ratio),
            verdict(paced >= 0.9)
        ));
        let mib = |k: u64| k as f64 / 1024.0;
        for (spans, what) in [(&self.rss, "download"), (&self.rss_up, "upload")] {
            let Some(worst) = spans.iter().max_by_key(|s| s.max - s.min) else {
                continue;
            };
            let each: Vec<String> = spans
                .iter()
                .map(|s| format!("{:.1}–{:.1}", mib(s.min), mib(s.max)))
                .collect();
            out.push_str(&format!(
                "| gateway RSS during each {size} {what} through it, max − min, worst of {} (min–max MiB per {what}: {}; {} samples in the worst) | {:.1} MiB | ≤ {} MiB (flat) | {} |\n",
                spans.len(),
                each.join(", "),
                worst.samples,
                mib(worst.max - worst.min),
                RSS_FLAT_KIB / 1024,
                verdict(worst.max - worst.min <= RSS_FLAT_KIB)
            ));
        }
        out.push_str(&format!(
            "\nThe gateway's RSS was {:.1} MiB before the first download and {:.1} MiB after the last upload.\n",
            mib(self.rss_before),
            mib(self.rss_after)
        ));
        if let (Some(n), Some(g)) = (
            self.cpu(1, |f| f.cpu_per_request),
            self.cpu(2, |f| f.cpu_per_request),
        ) {
            out.push_str(&format!(
                "\nRequests/s move with whatever else runs on this shared machine (see each \
                 round); the proxies' CPU per request is steadier: gatehouse {:.1} µs against \
                 nginx's {:.1} µs, {:.2}× as much (bench/README.md says where it goes).\n",
                g * 1e6,
                n * 1e6,
                g / n
            ));
        }
        out.push_str(
            "\nOn loopback the download is bound by CPU, not by a network: direct has the target \
             `sendfile` to oha, which copies once; a proxy adds a receive and a send of every \
             byte on the same 2 cores. The machine's busy CPU per GB counts every process on the \
             machine, other work on this shared machine included: compare it between the paths \
             of one run only. Where a network link, not the machine's CPU, sets the pace (the \
             paced row: nginx's `limit_rate` on the target), a proxy that keeps up adds nothing.\n",
        );
        out.push_str(&format!(
            "\nThe target is nginx serving static files (`sendfile` on): a {} B page, a sparse \
             {size} file, and a {paced_size} one it sends at {gbit} Gbit/s; uploads go to a sink of the bench's own that reads each body and \
             answers `200` only when all of it arrived. Load generator `oha`: latency {} requests \
             on one connection, requests/s {} requests on {} keep-alive connections, each download \
             one request, the upload one `POST` of a {size} body (Content-Length); every answer is \
             checked (`200`, full body). nginx as the proxy: `keepalive 32` to the target, \
             HTTP/1.1, forwarding headers, in-memory buffers, uploads streamed in 256 KiB buffers \
             (`proxy_request_buffering off`), buffered access log. Gatehouse: \
             its release binary with its defaults, the app opened through a ticket like a \
             browser; every request goes through the app session (counted, logged in its \
             recording). The machine is shared: see the load.\n\n",
            SMALL_BYTES, c.latency_requests, c.rps_requests, c.concurrency
        ));
        out
    }

    fn cpu(&self, path: usize, f: impl Fn(&PathRound) -> Option<f64>) -> Option<f64> {
        let v: Vec<f64> = self.rounds.iter().filter_map(|r| f(&r[path])).collect();
        (!v.is_empty()).then(|| median(v))
    }
}

fn human_bytes(n: u64) -> String {
    if n >= 1 << 30 && n.is_multiple_of(1 << 30) {
        format!("{} GiB", n >> 30)
    } else {
        format!("{} MiB", n >> 20)
    }
}

/// `old` (a results file) with its section at `heading` replaced by `section`, or
/// `section` appended when it has none.
pub fn splice(old: &str, heading: &str, section: &str) -> String {
    match old.find(heading) {
        Some(start) => {
            let rest = &old[start + heading.len()..];
            let end = rest
                .find("\n## ")
                .map_or(old.len(), |i| start + heading.len() + i + 1);
            format!("{}{section}{}", &old[..start], &old[end..])
        }
        None => format!(
            "{}\n{section}",
            old.trim_end_matches('\n').to_owned() + "\n"
        ),
    }
}

/// The section at `heading` of a results file, if it has one.
pub fn section_of<'a>(old: &'a str, heading: &str) -> Option<&'a str> {
    let start = old.find(heading)?;
    let rest = &old[start + heading.len()..];
    let end = rest
        .find("\n## ")
        .map_or(old.len(), |i| start + heading.len() + i + 1);
    Some(&old[start..end])
}
