//! The native SSH rows (issue 24): real OpenSSH clients through the
//! gateway's SSH listener to a real `sshd`, each with a pty (`ssh -tt`) on
//! the target's shell and recorded (the gateway's default). A morning rush
//! of password logins (with the gateway's RSS while their sessions idle
//! and after they end) and one of key logins, whose sessions then sit idle
//! for the memory per session at 100 and 1,000.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

use super::harness::{ADMIN_PASSWORD, Sshd, TestGateway};
use super::scale::GatewayProcess;
use super::stats::Samples;

/// Where this section sits in `RESULTS.md`.
pub const HEADING: &str = "## Native SSH to a real sshd: logins and idle sessions (issue 24)";

/// How many logins, how fast.
#[derive(Clone)]
pub struct NativeCounts {
    pub password: usize,
    pub password_rate: u32,
    /// Key logins at `key_rate`, paused at each step to measure memory.
    pub key_steps: Vec<usize>,
    pub key_rate: u32,
}

impl NativeCounts {
    pub fn new(quick: bool) -> NativeCounts {
        if quick {
            NativeCounts {
                password: 20,
                password_rate: 10,
                key_steps: vec![20, 100],
                key_rate: 20,
            }
        } else {
            NativeCounts {
                password: 100,
                password_rate: 10,
                key_steps: vec![100, 1000],
                key_rate: 20,
            }
        }
    }
}

/// One rush: logins started at a steady rate.
#[derive(Default)]
pub struct Rush {
    pub started: usize,
    pub rate: u32,
    /// Login time (client started → first byte of the target's prompt) of
    /// the logins that succeeded.
    pub latency: Samples,
    /// What `ssh` said for each login that failed.
    pub failed: Vec<String>,
}

impl Rush {
    fn ok(&self) -> usize {
        self.latency.len()
    }
}

/// What the section measured.
pub struct NativeFigures {
    pub date: String,
    pub load_start: String,
    pub load_end: String,
    pub commit: String,
    pub password: Rush,
    /// Gateway RSS (KiB): before any session, with the password sessions
    /// idle, 5 s after they ended.
    pub password_rss: (u64, u64, u64),
    pub key: Rush,
    /// Gateway RSS before any session (KiB), and at each step: (sessions, RSS KiB).
    pub key_base: u64,
    pub key_rss: Vec<(usize, u64)>,
}

/// A live `ssh -tt` client sitting at the target's prompt.
struct Client {
    child: Child,
    stdin: tokio::process::ChildStdin,
    /// Kept open: nothing more is written to an idle prompt.
    _stdout: tokio::process::ChildStdout,
}

/// The `ssh_config` for the gateway's listener, by key and by password.
struct Config {
    path: PathBuf,
    askpass: PathBuf,
}

impl Config {
    fn write(dir: &Path, ssh_port: u16, key: &str) -> Config {
        use std::os::unix::fs::PermissionsExt;
        let id = dir.join("native_id");
        std::fs::write(&id, key).unwrap();
        std::fs::set_permissions(&id, std::fs::Permissions::from_mode(0o600)).unwrap();
        let askpass = dir.join("native_askpass");
        std::fs::write(&askpass, format!("#!/bin/sh\necho '{ADMIN_PASSWORD}'\n")).unwrap();
        std::fs::set_permissions(&askpass, std::fs::Permissions::from_mode(0o700)).unwrap();
        let common = format!(
            "  HostName 127.0.0.1\n  Port {ssh_port}\n  User admin:bench\n  \
             StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n  \
             ControlMaster no\n  ControlPath none\n  ConnectTimeout 60\n"
        );
        let config = format!(
            "Host by-key\n{common}  IdentityFile {id}\n  IdentitiesOnly yes\n  \
             PreferredAuthentications publickey\n  BatchMode yes\n\
             Host by-password\n{common}  PubkeyAuthentication no\n  \
             PreferredAuthentications password\n  NumberOfPasswordPrompts 1\n",
            id = id.display()
        );
        let path = dir.join("native_ssh_config");
        std::fs::write(&path, config).unwrap();
        Config { path, askpass }
    }

    /// Starts `ssh -tt ALIAS` and waits for the target's prompt: the
    /// client and its login time, or what `ssh` printed.
    async fn login(&self, alias: &str) -> Result<(Client, Duration), String> {
        let t = Instant::now();
        let mut child = Command::new("ssh")
            .arg("-F")
            .arg(&self.path)
            .args(["-tt", alias])
            .env("SSH_ASKPASS", &self.askpass)
            .env("SSH_ASKPASS_REQUIRE", "force")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("spawn ssh: {e}"))?;
        let stdin = child.stdin.take().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        let deadline = t + Duration::from_secs(90);
        let outcome = loop {
            if seen.windows(2).any(|w| w == b"$ ") {
                break Ok(t.elapsed());
            }
            match tokio::time::timeout_at(deadline.into(), stdout.read(&mut buf)).await {
                Err(_) => break Err("no prompt within 90 s".to_owned()),
                Ok(Ok(0)) | Ok(Err(_)) => break Err("closed before the prompt".to_owned()),
                Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
            }
        };
        match outcome {
            Ok(took) => {
                drop(stderr);
                let client = Client {
                    child,
                    stdin,
                    _stdout: stdout,
                };
                Ok((client, took))
            }
            Err(why) => {
                let _ = child.start_kill();
                let mut said = String::new();
                let _ =
                    tokio::time::timeout(Duration::from_secs(2), stderr.read_to_string(&mut said))
                        .await;
                Err(format!("{why}: {}", said.trim()))
            }
        }
    }
}

/// `n` logins started `rate` a second, each in its own task; waits for all.
async fn rush(
    config: &std::sync::Arc<Config>,
    alias: &'static str,
    n: usize,
    rate: u32,
    into: &mut Rush,
    live: &mut Vec<Client>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(1) / rate);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut running = Vec::with_capacity(n);
    for _ in 0..n {
        tick.tick().await;
        let config = config.clone();
        running.push(tokio::spawn(async move { config.login(alias).await }));
    }
    into.started += n;
    into.rate = rate;
    for r in running {
        match r.await.unwrap() {
            Ok((client, took)) => {
                into.latency.push(took);
                live.push(client);
            }
            Err(why) => {
                eprintln!("  a login through the gateway failed: {why}");
                into.failed.push(why);
            }
        }
    }
}

/// Logs every client out (`exit` at the prompt) and waits for them.
async fn log_out(live: Vec<Client>) {
    let waits: Vec<_> = live
        .into_iter()
        .map(|mut c| {
            tokio::spawn(async move {
                let _ = c.stdin.write_all(b"exit\n").await;
                if tokio::time::timeout(Duration::from_secs(20), c.child.wait())
                    .await
                    .is_err()
                {
                    let _ = c.child.kill().await;
                }
            })
        })
        .collect();
    for w in waits {
        let _ = w.await;
    }
}

/// A gateway process with an SSH listener, the admin's key registered and
/// the connection `bench` to `target`; its RSS settled.
async fn gateway(target: &Sshd) -> (GatewayProcess, TestGateway, u16) {
    let port = super::harness::sshd::free_port();
    let process = GatewayProcess::start(Some(format!("127.0.0.1:{port}").parse().unwrap())).await;
    let gw = TestGateway::remote(process.addr, None);
    let admin = gw.login("admin", ADMIN_PASSWORD).await;
    gw.ssh_connection(&admin, target, "bench", &["admin"]).await;
    super::register_key(&gw, &admin, target).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    (process, gw, port)
}

/// With `BENCH_HEAPTRACK=FILE`, attaches heaptrack to the gateway before
/// the key logins (it sees only what is allocated from then on); the
/// gateway is killed with its sessions live, so their memory is what
/// `heaptrack_print` lists as leaked.
async fn heaptrack(process: &GatewayProcess) -> Option<Child> {
    let out = std::env::var("BENCH_HEAPTRACK").ok()?;
    let child = Command::new("heaptrack")
        .args(["-o", &out, "-p", &process.pid().to_string()])
        .stdout(Stdio::null())
        .spawn()
        .ok()?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    Some(child)
}

fn sh(cmd: &str) -> String {
    std::process::Command::new("sh")
        .args(["-c", cmd])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// Runs the section: a password rush on one gateway process, a key rush
/// with memory steps on a fresh one, both to the same real `sshd`.
pub async fn measure(n: NativeCounts, dir: &Path) -> NativeFigures {
    let load_start = sh("cat /proc/loadavg");
    let target = Sshd::start().await;

    eprintln!(
        "native SSH: {} password logins at {}/s…",
        n.password, n.password_rate
    );
    let (process, _gw, port) = gateway(&target).await;
    let config = std::sync::Arc::new(Config::write(dir, port, &target.client_key()));
    let base = process.rss_kib();
    let mut password = Rush::default();
    let mut live = Vec::new();
    rush(
        &config,
        "by-password",
        n.password,
        n.password_rate,
        &mut password,
        &mut live,
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let idle = process.rss_kib();
    log_out(std::mem::take(&mut live)).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let after = process.rss_kib();
    eprintln!(
        "  {} of {} succeeded, p50 {:.0} ms, p99 {:.0} ms; RSS {base} KiB before, {idle} with the sessions idle, {after} after they ended",
        password.ok(),
        password.started,
        password.latency.p50_ms(),
        password.latency.p99_ms()
    );
    drop(process);

    eprintln!(
        "native SSH: key logins at {}/s, memory at {:?} idle sessions…",
        n.key_rate, n.key_steps
    );
    let (process, _gw, port) = gateway(&target).await;
    let config = std::sync::Arc::new(Config::write(dir, port, &target.client_key()));
    let key_base = process.rss_kib();
    let heaptrack = heaptrack(&process).await;
    let mut key = Rush::default();
    let mut key_rss = Vec::new();
    for &step in &n.key_steps {
        let more = step.saturating_sub(key.started);
        rush(&config, "by-key", more, n.key_rate, &mut key, &mut live).await;
        tokio::time::sleep(Duration::from_secs(5)).await;
        let rss = process.rss_kib();
        eprintln!(
            "  {} live ({} failed): RSS {rss} KiB, {:.1} KiB each over {key_base} before any session",
            live.len(),
            key.failed.len(),
            rss.saturating_sub(key_base) as f64 / live.len().max(1) as f64
        );
        key_rss.push((live.len(), rss));
        if let Ok(file) = std::env::var("BENCH_NATIVE_PAUSE") {
            // Hold the sessions until FILE exists: time to profile by hand.
            eprintln!("  gateway pid {}: waiting for {file}", process.pid());
            while !Path::new(&file).exists() {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
    eprintln!(
        "  {} of {} key logins succeeded, p50 {:.0} ms, p99 {:.0} ms",
        key.ok(),
        key.started,
        key.latency.p50_ms(),
        key.latency.p99_ms()
    );
    if let Some(mut heaptrack) = heaptrack {
        // Killed with its sessions live: what they hold is what heaptrack
        // reports as leaked.
        drop(process);
        let _ = heaptrack.wait().await;
        log_out(live).await;
    } else {
        log_out(live).await;
        drop(process);
    }
    NativeFigures {
        date: sh("date -u '+%Y-%m-%d %H:%M'"),
        load_start,
        load_end: sh("cat /proc/loadavg"),
        commit: sh("git rev-parse --short=10 HEAD"),
        password,
        password_rss: (base, idle, after),
        key,
        key_base,
        key_rss,
    }
}

impl NativeFigures {
    /// The section for `RESULTS.md`.
    pub fn render(&self) -> String {
        let mib = |kib: u64| kib as f64 / 1024.0;
        let verdict = |met: bool| if met { "met" } else { "**missed**" };
        let mut s = format!(
            "{HEADING}\n\nWritten by `BENCH_ONLY=native bench/run` (or the full run); method in bench/README.md. \
             OpenSSH clients (`ssh -tt`, a pty on the target's shell) → the gateway's SSH listener (`gatehouse serve`, release, defaults: sessions recorded) → a real `sshd` (`MaxStartups 500:30:1000`). \
             Login time is from starting `ssh` to the first byte of the target's prompt.\n\n\
             | run | |\n|---|---|\n| date (UTC) | {} |\n| load average at start | {} |\n| load average at end | {} |\n| gatehouse | {} |\n\n",
            self.date, self.load_start, self.load_end, self.commit
        );
        s += "| measure | figure | target | |\n|---|---|---|---|\n";
        for (what, r) in [("password", &self.password), ("key", &self.key)] {
            let times = if r.ok() > 0 {
                format!(
                    "p50 {:.0} ms, p99 {:.0} ms",
                    r.latency.p50_ms(),
                    r.latency.p99_ms()
                )
            } else {
                "none".into()
            };
            s += &format!(
                "| {} {what} logins at {} a second through the SSH listener: succeeded (login time {times}) | {} of {} | all | {} |\n",
                r.started,
                r.rate,
                r.ok(),
                r.started,
                verdict(r.failed.is_empty() && r.ok() == r.started)
            );
        }
        let (base, idle, after) = self.password_rss;
        s += &format!(
            "| gateway RSS growth with the {} password sessions idle (before any: {:.1} MiB) | {:.1} MiB | — | |\n",
            self.password.ok(),
            mib(base),
            mib(idle.saturating_sub(base))
        );
        s += &format!(
            "| gateway RSS growth 5 s after those sessions ended | {:.1} MiB | ≤ 100 MiB | {} |\n",
            mib(after.saturating_sub(base)),
            verdict(after.saturating_sub(base) <= 100 * 1024)
        );
        let mut prev: Option<(usize, u64)> = None;
        for &(n, rss) in &self.key_rss {
            let per = rss.saturating_sub(self.key_base) as f64 / n.max(1) as f64;
            let step = prev
                .map(|(pn, prss)| {
                    format!(
                        "; the sessions from {pn} to {n}: {:.1} KiB each",
                        rss.saturating_sub(prss) as f64 / (n - pn).max(1) as f64
                    )
                })
                .unwrap_or_default();
            let judged = n >= 1000;
            s += &format!(
                "| gateway memory per idle native session at {n} sessions by key, RSS delta ÷ N from before any session ({:.1} MiB{step}) | {per:.1} KiB | {} | {} |\n",
                mib(self.key_base),
                if judged { "≤ 100 KiB" } else { "—" },
                if judged { verdict(per <= 100.0) } else { "" }
            );
            prev = Some((n, rss));
        }
        let failures: Vec<_> = self
            .password
            .failed
            .iter()
            .chain(&self.key.failed)
            .take(5)
            .collect();
        if !failures.is_empty() {
            s += "\nWhat `ssh` said for the first failed logins:\n\n";
            for f in failures {
                s += &format!("- `{}`\n", f.replace('`', "'").replace('\n', " / "));
            }
        }
        s
    }
}
