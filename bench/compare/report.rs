//! The results table: machine and versions, each path's figures, and each
//! target of issue 8 with its measured figure and met / missed.

use super::scale::Memory;
use super::stats::{Samples, median};

/// What one path measured.
pub struct PathFigures {
    /// Bulk output rates, bytes per second, one per round (OpenSSH: the
    /// raw channel; web: its pty).
    pub rates: Vec<f64>,
    /// Bulk output rates through a pty on the target, one per round.
    pub pty_rates: Vec<f64>,
    /// Raw-channel rates with AES-128-GCM on the client's hop, one per
    /// round (OpenSSH paths only).
    pub gcm_rates: Vec<f64>,
    /// The whole machine's busy CPU seconds per GB in the raw-channel runs
    /// (every process: client, servers, gateway), one per round: with the
    /// default cipher, and with AES-128-GCM (OpenSSH paths only).
    pub machine_cpu_per_gb: (Vec<f64>, Vec<f64>),
    /// Keystroke round trips.
    pub echo: Samples,
    /// Connect to first prompt byte.
    pub start: Samples,
    /// The same with the client's key exchange pinned to curve25519
    /// (OpenSSH paths only).
    pub start_curve25519: Option<Samples>,
    /// The gateway's CPU seconds per GB of bulk output it relayed (the raw
    /// channel for gatehouse-ssh); `None` for the paths without it.
    pub cpu_per_gb: Option<f64>,
}

impl PathFigures {
    /// The median bulk output rate.
    pub fn bytes_per_sec(&self) -> f64 {
        median(self.rates.clone())
    }

    /// The median bulk output rate through a pty.
    pub fn pty_bytes_per_sec(&self) -> f64 {
        median(self.pty_rates.clone())
    }

    /// This path's bulk output against `base`'s: the median of the ratios
    /// of the rounds (both paths ran once in each round).
    pub fn ratio(&self, base: &PathFigures) -> f64 {
        ratio(&self.rates, &base.rates)
    }

    /// The same through a pty.
    pub fn pty_ratio(&self, base: &PathFigures) -> f64 {
        ratio(&self.pty_rates, &base.pty_rates)
    }

    /// The same with AES-128-GCM on both paths' client hops; `None` where
    /// either path has no such figures.
    pub fn gcm_ratio(&self, base: &PathFigures) -> Option<f64> {
        (!self.gcm_rates.is_empty() && !base.gcm_rates.is_empty())
            .then(|| ratio(&self.gcm_rates, &base.gcm_rates))
    }

    /// One line for the progress output.
    pub fn summary(&self) -> String {
        format!(
            "{:.0} MB/s, {:.0} MB/s through a pty, echo p50 {:.3} ms, start p50 {:.1} ms",
            self.bytes_per_sec() / 1e6,
            self.pty_bytes_per_sec() / 1e6,
            self.echo.p50_ms(),
            self.start.p50_ms()
        )
    }
}

fn ratio(rates: &[f64], base: &[f64]) -> f64 {
    median(rates.iter().zip(base).map(|(r, b)| r / b).collect())
}

/// Everything one run measured.
pub struct Report {
    machine: Vec<(String, String)>,
    paths: Vec<(String, PathFigures)>,
    /// One session ended at a time.
    pub end_one: Option<Samples>,
    /// Memory per idle session and ending 1,000.
    pub memory: Option<Memory>,
    /// SSE: session start to each of 100 dashboards.
    pub sse: Option<Samples>,
    /// A login flood and a morning rush.
    pub logins: Option<super::logins::Logins>,
    /// Sessions in the registry during the search rows.
    pub search_sessions: usize,
    /// The query of the `search` row.
    pub search_query: String,
    /// `GET /sessions?q=` matching one session.
    pub search: Option<Samples>,
    /// `GET /sessions?q=` matching none.
    pub search_none: Option<Samples>,
    /// Bulk output through a bare pty on this machine, one per round.
    pub bare_pty: Vec<f64>,
}

const PATHS: [&str; 4] = ["direct", "jump", "gatehouse-ssh", "gatehouse-web"];

pub fn sh(cmd: &str) -> String {
    std::process::Command::new("sh")
        .args(["-c", cmd])
        .output()
        .map(|o| {
            let mut s = String::from_utf8_lossy(&o.stdout).trim().to_owned();
            if s.is_empty() {
                s = String::from_utf8_lossy(&o.stderr).trim().to_owned();
            }
            s
        })
        .unwrap_or_default()
}

impl Report {
    /// Reads the machine's description and the versions now.
    pub fn new() -> Report {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
        let machine = vec![
            ("date (UTC)".into(), sh("date -u '+%Y-%m-%d %H:%M'")),
            (
                "CPU".into(),
                sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"),
            ),
            ("cores".into(), sh("nproc")),
            (
                "RAM".into(),
                sh("awk '/MemTotal/ {printf \"%.1f GiB\", $2/1048576}' /proc/meminfo"),
            ),
            ("kernel".into(), sh("uname -sr")),
            ("rustc".into(), sh("rustc -V")),
            ("OpenSSH".into(), sh("ssh -V 2>&1")),
            (
                "gatehouse".into(),
                sh(&format!(
                    "git -C {root} describe --always --dirty --abbrev=10 2>/dev/null || echo unknown"
                )),
            ),
            ("load average at start".into(), sh("cat /proc/loadavg")),
        ];
        Report {
            machine,
            paths: Vec::new(),
            end_one: None,
            memory: None,
            sse: None,
            logins: None,
            search_sessions: 0,
            search_query: String::new(),
            search: None,
            search_none: None,
            bare_pty: Vec::new(),
        }
    }

    /// Records one path's figures.
    pub fn path(&mut self, name: &str, figures: PathFigures) {
        self.paths.push((name.into(), figures));
    }

    fn get(&self, name: &str) -> Option<&PathFigures> {
        self.paths.iter().find(|(n, _)| n == name).map(|(_, f)| f)
    }

    fn path_row(&self, label: &str, cell: impl Fn(&PathFigures) -> String) -> String {
        let cells: Vec<String> = PATHS
            .iter()
            .map(|p| self.get(p).map(&cell).unwrap_or_else(|| "n/a".into()))
            .collect();
        format!("| {label} | {} |\n", cells.join(" | "))
    }

    /// The Markdown document.
    pub fn render(&self) -> String {
        let mut out = String::from("# Gatehouse benchmark results\n\n");
        out.push_str("Written by `bench/run` (one run, one machine; see bench/README.md).\n\n");
        out.push_str("| machine | |\n|---|---|\n");
        for (k, v) in &self.machine {
            out.push_str(&format!("| {k} | {v} |\n"));
        }
        out.push_str(&format!(
            "| load average at end | {} |\n\n",
            sh("cat /proc/loadavg")
        ));
        out.push_str(
            "The machine is shared: other builds may have run during the run (see the load). \
             Ratios against *direct* within this run are the headline.\n\n",
        );

        out.push_str("## The four paths (same run, same real `sshd` target)\n\n");
        out.push_str(&format!("| measure | {} |\n", PATHS.join(" | ")));
        out.push_str("|---|---|---|---|---|\n");
        out.push_str(&self.path_row("bulk output, MB/s (median)", |f| {
            format!("{:.0}", f.bytes_per_sec() / 1e6)
        }));
        if let Some(direct) = self.get("direct") {
            out.push_str(&self.path_row("bulk output, × direct", |f| {
                format!("{:.2}×", f.ratio(direct))
            }));
        }
        let gcm = |f: &PathFigures| {
            if f.gcm_rates.is_empty() {
                "—".into()
            } else {
                format!("{:.0}", median(f.gcm_rates.clone()) / 1e6)
            }
        };
        out.push_str(&self.path_row(
            "bulk output, AES-128-GCM on the client's hop (`ssh -c`), MB/s",
            gcm,
        ));
        if let Some(direct) = self.get("direct") {
            out.push_str(&self.path_row("bulk output, AES-128-GCM, × direct", |f| {
                f.gcm_ratio(direct)
                    .map_or_else(|| "—".into(), |r| format!("{r:.2}×"))
            }));
        }
        out.push_str(&self.path_row(
            "bulk output through a pty (`ssh -tt`; web always), MB/s",
            |f| format!("{:.0}", f.pty_bytes_per_sec() / 1e6),
        ));
        if let Some(direct) = self.get("direct") {
            out.push_str(&self.path_row("bulk output through a pty, × direct", |f| {
                format!("{:.2}×", f.pty_ratio(direct))
            }));
        }
        out.push_str(&self.path_row(
            "gateway CPU per GB of bulk output (gatehouse-ssh: the raw channel, login and \
             teardown included; gatehouse-web: the pty)",
            |f| {
                f.cpu_per_gb
                    .map_or_else(|| "—".into(), |s| format!("{s:.2} s"))
            },
        ));
        out.push_str(&self.path_row(
            "machine CPU per GB of bulk output, raw channel, every process on the machine \
             (default cipher / AES-128-GCM)",
            |f| match &f.machine_cpu_per_gb {
                (d, g) if !d.is_empty() && !g.is_empty() => {
                    format!("{:.2} s / {:.2} s", median(d.clone()), median(g.clone()))
                }
                _ => "—".into(),
            },
        ));
        out.push_str(&self.path_row("keystroke echo p50", |f| {
            format!("{:.3} ms", f.echo.p50_ms())
        }));
        out.push_str(&self.path_row("keystroke echo p99", |f| {
            format!("{:.3} ms", f.echo.p99_ms())
        }));
        out.push_str(
            &self.path_row("session start to first prompt byte, p50", |f| {
                format!("{:.1} ms", f.start.p50_ms())
            }),
        );
        out.push_str(&self.path_row(
            "session start, key exchange curve25519 on the client's hop, p50",
            |f| {
                f.start_curve25519
                    .as_ref()
                    .map_or_else(|| "—".into(), |s| format!("{:.1} ms", s.p50_ms()))
            },
        ));
        out.push_str(
            "\nOpenSSH paths: `ssh -F bench-config ALIAS` (ed25519 key; the cipher is what OpenSSH's client \
             and the server agree on by default: ChaCha20-Poly1305 with `sshd`, AES-128-GCM with \
             Gatehouse, which offers only AES-GCM — the AES-128-GCM rows pin it on every path); bulk output is \
             `ssh -T ALIAS 'head -c N /dev/zero'` on the raw channel, echo and start use `ssh -tt` (the target's pty \
             echoes). gatehouse-web: the browser's WebSocket protocol; its bulk output goes through the \
             session's pty (the browser terminal always has one) and arrives in binary frames. Rates are \
             timed from the first byte to the last.\n\n",
        );

        out.push_str(
            "## Targets (issue 8)\n\n| measure | figure | target | |\n|---|---|---|---|\n",
        );
        for row in self.targets() {
            out.push_str(&row);
        }
        out.push_str("\nNotes:\n\n");
        out.push_str(
            "- Recording is on for both gateway paths, with the gateway's defaults. Its size cap \
             (`recording_max_bytes`, 64 MiB) stops a recording of zero-byte bulk output after \
             about 10 MiB: each zero byte is written as `\\u0000` (6 bytes) in the asciicast \
             file. So the bulk rows mostly measure the relay without recording; \
             bench/recording_overhead.rs measures what recording costs.\n",
        );
        if let (Some(web), Some(direct)) = (self.get("gatehouse-web"), self.get("direct")) {
            out.push_str(&format!(
                "- The web terminal's output always passes through a pty on the target, and the pty \
                 caps it: through the same pty, gatehouse-web delivers {:.2}× direct (`ssh -tt`). \
                 The target above compares it with direct's raw channel, as the issue sets it.\n",
                web.pty_ratio(direct)
            ));
            if !self.bare_pty.is_empty() {
                let bare = median(self.bare_pty.clone());
                out.push_str(&format!(
                    "- A bare pty on this machine, no SSH and no network (`script -qc 'head -c N \
                     /dev/zero'`), delivers {:.0} MB/s, {:.2}× direct's raw channel (median of the \
                     rounds' ratios): a terminal's output cannot reach 0.5× direct here, whatever \
                     carries it.\n",
                    bare / 1e6,
                    ratio(&self.bare_pty, &direct.rates)
                ));
            }
        }
        if let Some(note) = self.cpu_ceiling() {
            out.push_str(&note);
        }
        out.push_str(
            "- Session start: OpenSSH's client and sshd agree on the post-quantum hybrid key exchange \
             (sntrup761x25519); russh (the gateway's listener, and its client to the target) agrees on \
             curve25519 with OpenSSH 9.2, so a path through the gateway can start sooner than direct, \
             and jump pays the hybrid exchange twice. The curve25519 rows pin the client's exchange on \
             every OpenSSH path and are the like-for-like comparison.\n",
        );
        out.push_str(
            "- The memory and 1,000-session rows use Gatehouse's real code in a `gatehouse serve` \
             process with its defaults (sessions recorded); only the SSH server at the far end is a \
             stand-in (bench/compare/light_target.rs).\n",
        );
        if let Some(m) = &self.memory {
            let (n, share) = m.idle_cpu;
            out.push_str(&format!(
                "- While {n} sessions sat idle (terminals open, nothing typed), the gateway used \
                 {:.1}% of one core.\n",
                share * 100.0
            ));
        }
        out
    }

    /// How far the machine's CPU lets gatehouse-ssh go against direct: the
    /// rate at which it would keep every core busy, given what a GB costs
    /// the machine on its path, over direct's rate.
    fn cpu_ceiling(&self) -> Option<String> {
        let (direct, gw) = (self.get("direct")?, self.get("gatehouse-ssh")?);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        let figures = |rates: &[f64], d: &[f64], g: &[f64]| {
            (!rates.is_empty() && !d.is_empty() && !g.is_empty()).then_some(())?;
            let busy: Vec<f64> = rates.iter().zip(d).map(|(r, c)| r * c / 1e9).collect();
            let (d, g) = (median(d.to_vec()), median(g.to_vec()));
            Some((
                median(busy) / cores,
                d,
                g,
                cores / g * 1e9 / median(rates.to_vec()),
            ))
        };
        let (dm, gm) = (&direct.machine_cpu_per_gb, &gw.machine_cpu_per_gb);
        let (share, d, g, ceiling) = figures(&direct.rates, &dm.0, &gm.0)?;
        let (share2, d2, g2, ceiling2) = figures(&direct.gcm_rates, &dm.1, &gm.1)?;
        Some(format!(
            "- The machine's {cores} cores bound gatehouse-ssh ÷ direct. While direct runs, they \
             are {:.0}% busy ({:.0}% on AES-128-GCM). A GB costs the machine {g:.2} CPU-seconds \
             through the gateway against {d:.2} direct ({g2:.2} against {d2:.2} on AES-128-GCM): \
             with every core busy, gatehouse-ssh could deliver at most {ceiling:.2}× direct's \
             rate, and {ceiling2:.2}× on AES-128-GCM. A gateway decrypts and re-encrypts every \
             byte, CPU that direct does not spend; the more of the cores direct keeps busy, the \
             lower this ceiling.\n",
            share * 100.0,
            share2 * 100.0,
        ))
    }

    fn targets(&self) -> Vec<String> {
        let mut rows = Vec::new();
        let mut row = |m: &str, fig: String, target: &str, met: Option<bool>| {
            let verdict = match met {
                Some(true) => "met",
                Some(false) => "**missed**",
                None => "not available",
            };
            rows.push(format!("| {m} | {fig} | {target} | {verdict} |\n"));
        };
        let direct = self.get("direct");
        let jump = self.get("jump");
        let na = || "n/a".to_owned();
        let ratio = |p: Option<&PathFigures>, base: Option<&PathFigures>| Some(p?.ratio(base?));
        for (path, floor, base, base_name) in [
            ("gatehouse-ssh", 0.95, direct, "direct"),
            ("gatehouse-ssh", 1.2, jump, "jump"),
            ("gatehouse-web", 0.5, direct, "direct"),
        ] {
            let r = ratio(self.get(path), base);
            row(
                &format!("bulk output, {path} ÷ {base_name}"),
                r.map_or_else(na, |r| format!("{r:.2}×")),
                &format!("≥ {floor}×"),
                r.map(|r| r >= floor),
            );
            if path == "gatehouse-ssh" {
                let r = self.get(path).zip(base).and_then(|(p, b)| p.gcm_ratio(b));
                row(
                    &format!(
                        "bulk output, {path} ÷ {base_name}, both on AES-128-GCM (like for like)"
                    ),
                    r.map_or_else(na, |r| format!("{r:.2}×")),
                    &format!("≥ {floor}×"),
                    r.map(|r| r >= floor),
                );
            }
        }
        for path in ["gatehouse-ssh", "gatehouse-web"] {
            let p = self.get(path);
            let added = |f: fn(&Samples) -> f64| Some(f(&p?.echo) - f(&direct?.echo));
            let (p50, p99) = (added(Samples::p50_ms), added(Samples::p99_ms));
            // The web client is not an ssh process: say what it is, on the
            // rows, rather than let a reader take them as like for like.
            let how = match path {
                "gatehouse-web" => WEB_CLIENT,
                _ => "",
            };
            row(
                &format!("keystroke echo, {path}{how} added over direct, p50"),
                p50.map_or_else(na, |v| format!("{v:+.3} ms")),
                "≤ 0.3 ms",
                p50.map(|v| v <= 0.3),
            );
            row(
                &format!("keystroke echo, {path}{how} added over direct, p99"),
                p99.map_or_else(na, |v| format!("{v:+.3} ms")),
                "≤ 1 ms",
                p99.map(|v| v <= 1.0),
            );
            let start = (|| Some(p?.start.p50_ms() - direct?.start.p50_ms()))();
            row(
                &format!("session start, {path}{how} added over direct (p50)"),
                start.map_or_else(na, |v| format!("{v:+.1} ms")),
                "≤ 20 ms",
                start.map(|v| v <= 20.0),
            );
            // Like for like: direct on the key exchange the gateway's hops
            // use. The web path has no SSH client hop to pin, so it has no
            // like-for-like row.
            if path == "gatehouse-web" {
                continue;
            }
            let start = (|| {
                let p = p?;
                let mine = p.start_curve25519.as_ref().unwrap_or(&p.start);
                Some(mine.p50_ms() - direct?.start_curve25519.as_ref()?.p50_ms())
            })();
            row(
                &format!(
                    "session start, {path} added over direct, both on curve25519 (like for like, p50)"
                ),
                start.map_or_else(na, |v| format!("{v:+.1} ms")),
                "≤ 20 ms",
                start.map(|v| v <= 20.0),
            );
        }
        if let Some(m) = &self.memory {
            let most = m
                .per_session_kib
                .iter()
                .map(|(n, ..)| *n)
                .max()
                .unwrap_or(0);
            for (n, kib, cold) in &m.per_session_kib {
                let fit = if *n >= 1000 && *n % 1000 != 0 {
                    format!(
                        " (as many as fit: the open-file limit here is {}; a session holds two sockets)",
                        sh("ulimit -n")
                    )
                } else {
                    String::new()
                };
                // Judged on the baseline taken before any session: memory
                // the warm-up left for the measured sessions to reuse counts
                // against them, not for them.
                row(
                    &format!(
                        "gateway memory per idle session at {n} sessions{fit}, RSS delta ÷ N from before any session (light target; from after a 50-session warm-up: {kib:.1} KiB)"
                    ),
                    format!("{cold:.1} KiB"),
                    "≤ 100 KiB",
                    Some(*cold <= 100.0),
                );
            }
            row(
                "idle sessions live at once in one gateway process (light target)",
                format!("{most}"),
                "10,000",
                Some(most >= 10_000),
            );
            let ms = m.end_1000.as_secs_f64() * 1e3;
            row(
                &format!(
                    "end 1,000 sessions in one call, until the last client socket closed (light target, {most} live)"
                ),
                format!("{ms:.1} ms"),
                "≤ 100 ms",
                Some(ms <= 100.0),
            );
        }
        if let Some(s) = &self.end_one {
            row(
                &format!(
                    "end 1 session, call sent → client socket closed, p99 (real sshd, {} rounds; p50 {:.2} ms)",
                    s.len(),
                    s.p50_ms()
                ),
                format!("{:.2} ms", s.p99_ms()),
                "≤ 5 ms",
                Some(s.p99_ms() <= 5.0),
            );
        }
        if let Some(s) = &self.search {
            let none = self.search_none.as_ref().map_or(String::new(), |n| {
                format!(
                    "; matching none: p50 {:.1} ms, p99 {:.1} ms",
                    n.p50_ms(),
                    n.p99_ms()
                )
            });
            row(
                &format!(
                    "`GET /api/v1/sessions?q={}` with {} live sessions, p99 (p50 {:.1} ms{none})",
                    self.search_query,
                    self.search_sessions,
                    s.p50_ms()
                ),
                format!("{:.1} ms", s.p99_ms()),
                "≤ 20 ms",
                Some(s.p99_ms() <= 20.0 && self.search_sessions >= 100_000),
            );
        }
        if let Some(l) = &self.logins {
            let statuses: Vec<String> = l
                .flood_statuses
                .iter()
                .map(|(s, n)| format!("{n}× {s}"))
                .collect();
            let mib = |kib: u64| kib as f64 / 1024.0;
            // The bound: Argon2 runs on one worker per core, each with its
            // own 19 MiB; everything else a refused login holds is small.
            row(
                &format!(
                    "{} bad web logins at once from {} addresses: gateway RSS growth at the peak ({})",
                    l.flood,
                    l.flood.div_ceil(2),
                    statuses.join(", ")
                ),
                format!("{:.1} MiB", mib(l.flood_peak_kib)),
                "≤ 100 MiB",
                Some(mib(l.flood_peak_kib) <= 100.0),
            );
            row(
                "the same, 3 s after the flood",
                format!("{:.1} MiB", mib(l.flood_after_kib)),
                "≤ 100 MiB",
                Some(mib(l.flood_after_kib) <= 100.0),
            );
            row(
                &format!(
                    "{} good web logins at 10 a second: succeeded (p50 {:.0} ms, p99 {:.0} ms)",
                    l.rush,
                    l.rush_latency.p50_ms(),
                    l.rush_latency.p99_ms()
                ),
                format!("{} of {}", l.rush_ok, l.rush),
                "all",
                Some(l.rush_ok == l.rush),
            );
            row(
                &format!(
                    "gateway RSS growth after the flood and {} good logins",
                    l.rush
                ),
                format!("{:.1} MiB", mib(l.rush_after_kib)),
                "≤ 100 MiB",
                Some(mib(l.rush_after_kib) <= 100.0),
            );
        }
        if let Some(s) = &self.sse {
            row(
                &format!(
                    "SSE: session start → each of 100 dashboards sees it, p99 (sessions opened directly in an in-process gateway's registry, no SSH; {} samples; p50 {:.1} ms)",
                    s.len(),
                    s.p50_ms()
                ),
                format!("{:.1} ms", s.p99_ms()),
                "≤ 100 ms",
                Some(s.p99_ms() <= 100.0),
            );
        }
        rows
    }
}

/// What the web path's client is, for its rows: not an `ssh` process.
const WEB_CLIENT: &str = " (an in-process WebSocket client already holding a token, over plaintext ws://, against an ssh process with a full handshake and an encrypted hop: not like for like)";
