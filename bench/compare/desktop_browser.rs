//! Key press in the browser to drawn pixels, in Chromium (issue 19): one
//! TigerVNC `Xvnc` display with an `xterm` (the integration tests'
//! harness), and in one Debian Chromium driven by playwright-core
//! (`crates/web/ui/tests/desktop-latency.bench.mjs`) two clients of it at
//! once:
//! - **gatehouse**: the real desktop tab (My connections → the VNC
//!   connection) served by the release `gatehouse serve`;
//! - **noVNC**: the `@novnc/novnc` package's RFB client through
//!   `websockify` (PyPI) straight to the display — the direct path.
//!
//! Each key's time runs from the page's keydown to the first draw on the
//! page's canvas that changed pixels, both taken in the page. The section
//! is its own subsection of the Desktops section of `RESULTS.md`, spliced
//! in after the rest of that section is written.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::process::Command;

use super::harness::vnc::Xvnc;
use super::harness::{ADMIN_PASSWORD, TestGateway};
use super::report::sh;
use super::scale::GatewayProcess;
use super::stats::{Samples, median};

/// This subsection's heading; it sits in the section at `PARENT`.
pub const HEADING: &str = "### Key press to drawn pixels, in Chromium";
/// The section it belongs to (`compare/desktop.rs` writes the rest of it).
const PARENT: &str = "## Desktops (issue 19)";
/// The VNC password of the bench display.
const PASSWORD: &str = "bench-vnc-pw";
/// The paths, in table order, as the page names them.
const PATHS: [(&str, &str); 2] = [("gatehouse", "gatehouse"), ("novnc", "noVNC")];
/// The target for the added latency's median.
const TARGET_MS: f64 = 30.0;

/// How much.
pub struct BrowserCounts {
    pub rounds: usize,
    /// Keys timed per path per round.
    pub keys: usize,
}

impl BrowserCounts {
    pub fn new(quick: bool) -> BrowserCounts {
        if quick {
            BrowserCounts {
                rounds: 2,
                keys: 20,
            }
        } else {
            BrowserCounts {
                rounds: 5,
                keys: 60,
            }
        }
    }
}

/// One timed key as the page saw it, in ms after its keydown.
#[derive(Clone, Copy)]
struct Key {
    /// The first binary WebSocket message after the keydown.
    msg: Option<f64>,
    /// The first draw on the visible canvas after it.
    first: f64,
    /// The first draw that changed pixels.
    changed: f64,
}

/// One path's keys in one round.
#[derive(Default)]
struct PathRound {
    keys: Vec<Key>,
    /// Keys whose echo was not drawn within the page's timeout.
    missed: usize,
}

impl PathRound {
    fn samples(&self, f: impl Fn(&Key) -> Option<f64>) -> Samples {
        let mut s = Samples::default();
        for k in &self.keys {
            if let Some(ms) = f(k) {
                s.push(Duration::from_secs_f64(ms.max(0.0) / 1e3));
            }
        }
        s
    }
}

/// What the subsection measured.
pub struct BrowserFigures {
    date: String,
    load_start: String,
    load_end: String,
    commit: String,
    chromium: String,
    novnc: String,
    websockify: String,
    /// Per round: its load at the start, then each path's keys (`PATHS` order).
    rounds: Vec<(String, Vec<PathRound>)>,
    /// The pages' `document.visibilityState` during the run.
    visibility: String,
    seconds: f64,
}

/// Runs the subsection.
pub async fn measure(n: BrowserCounts) -> BrowserFigures {
    let started = Instant::now();
    let load_start = loadavg();
    let date = sh("date -u '+%Y-%m-%d %H:%M UTC'");
    let commit = sh("git rev-parse --short HEAD");
    let ui = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../web/ui");
    let novnc = std::fs::read_to_string(ui.join("node_modules/@novnc/novnc/package.json"))
        .ok()
        .and_then(|s| serde_json::from_str::<Value>(&s).ok())
        .and_then(|v| v["version"].as_str().map(str::to_owned))
        .expect("@novnc/novnc in crates/web/ui/node_modules (building the web crate runs npm ci)");
    let chromium = sh("chromium --version");
    let websockify = sh("python3 -m pip show websockify 2>/dev/null | sed -n 's/^Version: //p'");

    eprintln!("desktop-browser: an Xvnc display, the gateway and websockify…");
    let xvnc = Xvnc::start(PASSWORD).await;
    let process = GatewayProcess::start(None).await;
    let gw = TestGateway::remote(process.addr, None);
    let admin = gw.login("admin", ADMIN_PASSWORD).await;
    let name = "browser-desk";
    let body = json!({
        "name": name, "protocol": "vnc", "host": "127.0.0.1",
        "port": xvnc.addr.port(), "password": PASSWORD, "users": ["admin"],
    });
    gw.connection(&admin, body).await;
    // noVNC's page as deployments serve it: by websockify (--web), the
    // package's files beside it.
    let web = tempfile::tempdir().unwrap();
    let package = ui.join("node_modules/@novnc/novnc");
    for dir in ["core", "vendor"] {
        std::os::unix::fs::symlink(package.join(dir), web.path().join(dir)).unwrap();
    }
    std::fs::copy(
        ui.join("tests/novnc-latency.html"),
        web.path().join("index.html"),
    )
    .unwrap();
    let ws_port = super::harness::sshd::free_port();
    let _websockify = Command::new("websockify")
        .arg("--web")
        .arg(web.path())
        .args([
            format!("127.0.0.1:{ws_port}"),
            format!("127.0.0.1:{}", xvnc.addr.port()),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("websockify (PyPI; bench/run installs it)");
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", ws_port)).await.is_err() {
        assert!(Instant::now() < deadline, "websockify did not listen");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    eprintln!(
        "desktop-browser: {} rounds of {} keys per path in Chromium…",
        n.rounds, n.keys
    );
    let out = Command::new("node")
        .arg("tests/desktop-latency.bench.mjs")
        .current_dir(&ui)
        .env("GATEHOUSE_URL", format!("http://{}", process.addr))
        .env("GATEHOUSE_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("DESKTOP_NAME", name)
        .env("WEBSOCKIFY_URL", format!("ws://127.0.0.1:{ws_port}"))
        .env("VNC_PASSWORD", PASSWORD)
        .env("ROUNDS", n.rounds.to_string())
        .env("KEYS", n.keys.to_string())
        .stderr(Stdio::inherit())
        .output()
        .await
        .expect("node (scripts/prerequisites installs it)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the browser measurement failed: {stdout}"
    );
    let result: Value = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .expect("the page printed no result");
    // Every key's times, for a closer look.
    if let Ok(raw) = std::env::var("BENCH_DESKTOP_BROWSER_RAW") {
        std::fs::write(&raw, result.to_string()).unwrap();
    }

    let mut rounds = Vec::new();
    for r in result["rounds"].as_array().unwrap() {
        let mut paths = Vec::new();
        for (key, _) in PATHS {
            let mut p = PathRound::default();
            for k in r[key].as_array().unwrap() {
                match (k["first"].as_f64(), k["changed"].as_f64()) {
                    (Some(first), Some(changed)) => p.keys.push(Key {
                        msg: k["msg"].as_f64(),
                        first,
                        changed,
                    }),
                    _ => p.missed += 1,
                }
            }
            paths.push(p);
        }
        rounds.push((r["load"].as_str().unwrap_or_default().to_owned(), paths));
    }
    let figures = BrowserFigures {
        date,
        load_start,
        load_end: loadavg(),
        commit,
        chromium,
        novnc,
        websockify,
        rounds,
        visibility: PATHS
            .iter()
            .map(|(key, label)| {
                let state = result["visibility"][key].as_str().unwrap_or("unknown");
                format!("{label} {state}")
            })
            .collect::<Vec<_>>()
            .join(", "),
        seconds: started.elapsed().as_secs_f64(),
    };
    for (i, (key, _)) in PATHS.iter().enumerate() {
        let all = figures.merged(i, |k| Some(k.changed));
        eprintln!(
            "  {key}: p50 {:.1} ms, p99 {:.1} ms",
            all.p50_ms(),
            all.p99_ms()
        );
    }
    figures
}

impl BrowserFigures {
    /// Path `i`'s samples of `f` over all rounds.
    fn merged(&self, i: usize, f: impl Fn(&Key) -> Option<f64> + Copy) -> Samples {
        let parts: Vec<Samples> = self.rounds.iter().map(|(_, p)| p[i].samples(f)).collect();
        Samples::merged(&parts)
    }

    /// The subsection, as Markdown.
    pub fn render(&self) -> String {
        let mut o = String::new();
        o.push_str(HEADING);
        o.push_str("\n\n");
        o.push_str(&format!(
            "{} on commit {}; load average {} at the start, {} at the end (the machine is shared \
             with other builders); {:.0} s in all. One {} (headless, driven by playwright-core), \
             one Xvnc display (800×600×24) with an xterm, two clients of it at once: \
             *gatehouse*, the desktop tab opened from My connections, served by the release \
             `gatehouse serve` with its defaults (recording on); *noVNC*, `@novnc/novnc` {}'s RFB \
             client with its defaults through `websockify` {} straight to the display. Times \
             are taken in the page: from the letter's keydown to the first draw on the \
             visible canvas that changed pixels. The pages' visibility: {}. \
             Method: [README](README.md#key-press-to-drawn-pixels-in-chromium-issue-19).\n\n",
            self.date,
            self.commit,
            self.load_start,
            self.load_end,
            self.seconds,
            self.chromium,
            self.novnc,
            self.websockify,
            self.visibility,
        ));
        o.push_str(
            "| round | load | gatehouse p50 | noVNC p50 | added p50 (gatehouse − noVNC) |\n",
        );
        o.push_str("|---|---|---|---|---|\n");
        let mut added = Vec::new();
        for (i, (load, paths)) in self.rounds.iter().enumerate() {
            let g = paths[0].samples(|k| Some(k.changed)).p50_ms();
            let v = paths[1].samples(|k| Some(k.changed)).p50_ms();
            added.push(g - v);
            o.push_str(&format!(
                "| {} | {load} | {g:.1} ms | {v:.1} ms | {:.1} ms |\n",
                i + 1,
                g - v
            ));
        }
        o.push_str(
            "\n| path | keys | missed | p50 | p99 | key to first binary message p50 / p99 | \
             that message to drawn p50 / p99 | first draw changed nothing |\n\
             |---|---|---|---|---|---|---|---|\n",
        );
        for (i, (_, label)) in PATHS.iter().enumerate() {
            let changed = self.merged(i, |k| Some(k.changed));
            let msg = self.merged(i, |k| k.msg);
            let page = self.merged(i, |k| k.msg.map(|m| k.changed - m));
            let missed: usize = self.rounds.iter().map(|(_, p)| p[i].missed).sum();
            let idle_draws: usize = self
                .rounds
                .iter()
                .map(|(_, p)| p[i].keys.iter().filter(|k| k.first < k.changed).count())
                .sum();
            let pair = |s: &Samples| {
                if s.len() > 0 {
                    format!("{:.1} / {:.1} ms", s.p50_ms(), s.p99_ms())
                } else {
                    "—".to_owned()
                }
            };
            o.push_str(&format!(
                "| {label} | {} | {missed} | {:.1} ms | {:.1} ms | {} | {} | {idle_draws} |\n",
                changed.len(),
                changed.p50_ms(),
                changed.p99_ms(),
                pair(&msg),
                pair(&page),
            ));
        }
        let g = self.merged(0, |k| Some(k.changed));
        let v = self.merged(1, |k| Some(k.changed));
        let added_p50 = median(added);
        o.push_str(&format!(
            "\n| target | measured | |\n|---|---|---|\n\
             | added latency ≤ 30 ms p50, key press in the browser to drawn pixels | {added_p50:.1} ms \
             (median of the rounds' differences); p99 added {:.1} ms | {} |\n",
            g.p99_ms() - v.p99_ms(),
            if added_p50 <= TARGET_MS {
                "met"
            } else {
                "**missed**"
            },
        ));
        o
    }
}

/// `doc` with `section` (this subsection) in place of its old one, or at
/// the end of the Desktops section when it has none (a Desktops section is
/// added when the file has none either).
pub fn splice(doc: &str, section: &str) -> String {
    let section = format!("{}\n", section.trim_end());
    if let Some((start, end)) = bounds(doc) {
        let gap = if end < doc.len() { "\n" } else { "" };
        return format!("{}{section}{gap}{}", &doc[..start], &doc[end..]);
    }
    match doc.find(PARENT) {
        Some(parent) => {
            let rest = &doc[parent + PARENT.len()..];
            match rest.find("\n## ") {
                Some(i) => {
                    let end = parent + PARENT.len() + i + 1;
                    let head = doc[..end].trim_end_matches('\n');
                    format!("{head}\n\n{section}\n{}", &doc[end..])
                }
                None => format!("{}\n\n{section}", doc.trim_end_matches('\n')),
            }
        }
        None => format!("{}\n\n{PARENT}\n\n{section}", doc.trim_end_matches('\n')),
    }
}

/// This subsection of a results file, if it has one.
pub fn section_of(doc: &str) -> Option<&str> {
    bounds(doc).map(|(start, end)| &doc[start..end])
}

/// Where this subsection starts and ends in `doc` (up to the next heading
/// of its level or above, or the end).
fn bounds(doc: &str) -> Option<(usize, usize)> {
    let start = doc.find(HEADING)?;
    let rest = &doc[start + HEADING.len()..];
    let end = [rest.find("\n### "), rest.find("\n## ")]
        .into_iter()
        .flatten()
        .min()
        .map_or(doc.len(), |i| start + HEADING.len() + i + 1);
    Some((start, end))
}

/// The 1-, 5- and 15-minute load averages.
fn loadavg() -> String {
    let l = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    l.split(' ').take(3).collect::<Vec<_>>().join(" ")
}
