//! The scale rows: memory per idle session and ending many at once (a
//! separate `gatehouse serve` process, light target), ending one session
//! (real `sshd`), searching 100,000 live sessions, and the SSE fan-out to
//! 100 dashboards (in-process gateway).

use crate::{proc_cpu, synthetic};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use gatehouse_domain::ConnectionId;
use gatehouse_sessions::{ConnectionRef, SessionHandle};
use serde_json::json;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

use super::harness::{ADMIN_PASSWORD, Terminal, TestGateway};
use super::light_target::LightProcess;
use super::stats::Samples;
use super::web::WebShell;

/// A `gatehouse serve` child process on a free loopback port.
pub struct GatewayProcess {
    child: tokio::process::Child,
    /// Its HTTP address.
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl GatewayProcess {
    /// Starts the release binary (or `$BENCH_GATEWAY_BIN`) with a fresh data directory (and an SSH
    /// listener on `ssh` when given, else on any free port); panics unless every listener answers
    /// within 10 s.
    pub async fn start(ssh: Option<SocketAddr>) -> GatewayProcess {
        let dir = tempfile::tempdir().unwrap();
        let port = super::harness::sshd::free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        // `BENCH_GATEWAY_BIN` runs another build instead (an A/B of two
        // commits, taking turns on the same machine).
        let bin = std::env::var_os("BENCH_GATEWAY_BIN")
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_gatehouse").into());
        let child = tokio::process::Command::new(bin)
            .arg("serve")
            .env("GATEHOUSE_DATA_DIR", dir.path())
            .env("GATEHOUSE_HTTP", addr.to_string())
            .env("GATEHOUSE_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("GATEHOUSE_LOG", "warn")
            // Without one asked for, any free port: the default (2222)
            // may be another gateway's of this run.
            .env(
                "GATEHOUSE_SSH",
                ssh.map_or_else(|| "127.0.0.1:0".to_owned(), |a| a.to_string()),
            )
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("gatehouse serve");
        for listener in std::iter::once(addr).chain(ssh) {
            let deadline = Instant::now() + Duration::from_secs(10);
            while tokio::net::TcpStream::connect(listener).await.is_err() {
                assert!(
                    Instant::now() < deadline,
                    "gatehouse serve did not answer on {listener} within 10 s"
                );
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        }
        GatewayProcess {
            child,
            addr,
            _dir: dir,
        }
    }

    /// Its data directory (recordings are under `recordings/`).
    #[allow(dead_code)] // not every benchmark that includes this module uses it
    pub fn data_dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    /// The gateway's process id.
    pub fn pid(&self) -> u32 {
        self.child.id().unwrap()
    }

    /// CPU time the gateway process has used so far (user and system).
    pub fn cpu_time(&self) -> Duration {
        proc_cpu::cpu_time(&self.pid().to_string())
    }

    /// Resident set size of the gateway process, in KiB.
    pub fn rss_kib(&self) -> u64 {
        let pid = self.child.id().unwrap();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }
}

/// When the environment variable `var` names a file, starts `perf record`
/// of the gateway process into it (and gives it a second to attach).
pub async fn perf(process: &GatewayProcess, var: &str) -> Option<std::process::Child> {
    let out = std::env::var(var).ok()?;
    let child = std::process::Command::new("perf")
        .args([
            "record",
            "-F",
            "2000",
            "--call-graph",
            "dwarf,16384",
            "-o",
            &out,
            "-p",
        ])
        .arg(process.pid().to_string())
        .spawn()
        .ok()?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    Some(child)
}

/// Stops a [`perf`] recording.
pub fn perf_done(perf: Option<std::process::Child>) {
    if let Some(perf) = perf {
        let _ = std::process::Command::new("kill")
            .args(["-INT", &perf.id().to_string()])
            .status();
        let _ = perf.wait_with_output();
    }
}

/// A live idle terminal; `closed` fires with the instant its socket closed.
pub struct Idle {
    /// Its session id.
    pub session: String,
    /// When the gateway closed the socket.
    pub closed: oneshot::Receiver<Instant>,
}

/// Opens `n` idle terminals, `parallel` at a time; each keeps reading (and
/// answering pings) until the gateway closes it.
pub async fn open_idle(
    gw: &Arc<TestGateway>,
    token: &str,
    conn: &str,
    n: usize,
    parallel: usize,
) -> Vec<Idle> {
    let gate = Arc::new(Semaphore::new(parallel));
    let (tx, mut rx) = mpsc::unbounded_channel();
    for _ in 0..n {
        let (gw, token, conn, gate, tx) = (
            gw.clone(),
            token.to_owned(),
            conn.to_owned(),
            gate.clone(),
            tx.clone(),
        );
        tokio::spawn(async move {
            let permit = gate.acquire_owned().await.unwrap();
            let (shell, _) = WebShell::open(&gw, &token, &conn).await;
            drop(permit);
            let (done, closed) = oneshot::channel();
            let _ = tx.send(Idle {
                session: shell.session.clone(),
                closed,
            });
            let mut ws = shell.into_ws();
            loop {
                match ws.next().await {
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => {}
                }
            }
            let _ = done.send(Instant::now());
        });
    }
    let mut idle = Vec::with_capacity(n);
    while idle.len() < n {
        idle.push(rx.recv().await.unwrap());
    }
    idle
}

/// Ends `sessions` in one call; returns the time from sending it until the
/// last of their sockets closed.
pub async fn end_all(gw: &TestGateway, admin: &str, sessions: Vec<Idle>) -> Duration {
    if sessions.is_empty() {
        return Duration::ZERO;
    }
    let ids: Vec<_> = sessions.iter().map(|s| s.session.clone()).collect();
    let sent = Instant::now();
    let (status, body) = gw
        .post(Some(admin), "/sessions/end", json!({ "ids": ids }))
        .await;
    let answered = sent.elapsed();
    assert_eq!(status, 200, "{body}");
    let mut closed = Vec::with_capacity(sessions.len());
    for s in sessions {
        closed.push(s.closed.await.expect("socket closed") - sent);
    }
    closed.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    eprintln!(
        "  ended {}: first closed at {:.1} ms, half at {:.1} ms, last at {:.1} ms; answered at {:.1} ms",
        closed.len(),
        ms(closed[0]),
        ms(closed[closed.len() / 2]),
        ms(closed[closed.len() - 1]),
        ms(answered)
    );
    closed[closed.len() - 1]
}

/// Memory and mass-ending figures from a separate gateway process.
pub struct Memory {
    /// Sessions, KiB per idle session from the baseline after a warm-up,
    /// and from the baseline before any session, at 1,000 and at 10,000.
    pub per_session_kib: Vec<(usize, f64, f64)>,
    /// 1,000 sessions ended in one call: until the last socket closed.
    pub end_1000: Duration,
    /// The gateway's CPU with the most sessions open and idle, as a share
    /// of one core.
    pub idle_cpu: (usize, f64),
}

/// Opens 1,000 then 10,000 idle sessions through a `gatehouse serve`
/// process to the light target; measures its RSS, then ends 1,000 at once.
pub async fn memory(steps: &[usize], dir: &std::path::Path) -> Memory {
    let target = LightProcess::start(dir).await;
    let process = GatewayProcess::start(None).await;
    let gw = Arc::new(TestGateway::remote(process.addr, None));
    let admin = gw.login("admin", ADMIN_PASSWORD).await;
    let body = json!({
        "name": "light", "host": "127.0.0.1", "port": target.port, "username": "bench",
        "password": "any", "users": ["admin"],
    });
    let conn = gw.connection(&admin, body).await;
    // Before any session: what the warm-up leaves for the measured
    // sessions to reuse (pools, caches, the pinned host key) counts in the
    // figure from this baseline.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cold = process.rss_kib();
    // Warm up: pin the host key, fill allocator pools and caches.
    let warm = open_idle(&gw, &admin, &conn, 50, 25).await;
    end_all(&gw, &admin, warm).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let base = process.rss_kib();
    let mut live = Vec::new();
    let mut per_session_kib = Vec::new();
    for &n in steps {
        let more = open_idle(&gw, &admin, &conn, n - live.len(), 64).await;
        live.extend(more);
        tokio::time::sleep(Duration::from_secs(3)).await;
        let rss = process.rss_kib();
        let per = (rss.saturating_sub(base)) as f64 / n as f64;
        let per_cold = (rss.saturating_sub(cold)) as f64 / n as f64;
        eprintln!(
            "  {n} idle sessions: gateway RSS {rss} KiB (base {base}, before any session {cold}), {per:.1} KiB each ({per_cold:.1} from before any session)"
        );
        per_session_kib.push((n, per, per_cold));
    }
    let (cpu, idle) = (process.cpu_time(), Instant::now());
    tokio::time::sleep(Duration::from_secs(5)).await;
    let idle_cpu = (
        live.len(),
        (process.cpu_time() - cpu).as_secs_f64() / idle.elapsed().as_secs_f64(),
    );
    eprintln!(
        "  {} idle sessions: gateway CPU {:.1}% of a core",
        idle_cpu.0,
        idle_cpu.1 * 100.0
    );
    let batch: Vec<_> = live.drain(..1000.min(live.len())).collect();
    // BENCH_PERF=FILE profiles the gateway while it ends them.
    let perf = perf(&process, "BENCH_PERF").await;
    let cpu = process.cpu_time();
    let end_1000 = end_all(&gw, &admin, batch).await;
    eprintln!(
        "  the gateway's CPU while it ended them: {:.1} ms",
        (process.cpu_time() - cpu).as_secs_f64() * 1e3
    );
    perf_done(perf);
    while !live.is_empty() {
        let rest: Vec<_> = live.drain(..1000.min(live.len())).collect();
        end_all(&gw, &admin, rest).await;
    }
    Memory {
        per_session_kib,
        end_1000,
        idle_cpu,
    }
}

/// Ends one session at a time (real sshd): from sending the call until the
/// client's socket closed.
pub async fn end_one(gw: &TestGateway, admin: &str, conn: &str, rounds: usize) -> Samples {
    let mut samples = Samples::default();
    for _ in 0..rounds {
        let mut term = Terminal::open(gw, admin, conn).await;
        let id = term.session_id.clone();
        let sent = Instant::now();
        // The terminal is read while the call is in flight: the close may
        // come before the call's answer, which waits for the audit commit.
        let closed = async {
            let ending = term.ended().await;
            (ending, sent.elapsed())
        };
        let ((status, _), (ending, took)) = tokio::join!(
            gw.post(Some(admin), "/sessions/end", json!({ "ids": [id] })),
            closed
        );
        assert_eq!(status, 200);
        samples.push(took);
        assert!(ending.close.is_some());
    }
    samples
}

/// Registry sessions with no socket, as 100,000 live sessions look to the
/// registry and the API.
pub fn fill(gw: &TestGateway, n: usize) -> Vec<SessionHandle> {
    let connections = synthetic::connections(50);
    (0..n)
        .map(|i| gw.registry().open(synthetic::session(i, &connections)))
        .collect()
}

/// `GET /api/v1/sessions?q=…` round trips (the registry holds `fill`ed sessions).
pub async fn search(gw: &TestGateway, admin: &str, q: &str, rounds: usize) -> Samples {
    let mut samples = Samples::default();
    let url = gw.url(&format!("/sessions?q={q}"));
    for _ in 0..rounds {
        let t = Instant::now();
        let resp = gw.http().get(&url).bearer_auth(admin).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let _ = resp.bytes().await.unwrap();
        samples.push(t.elapsed());
    }
    samples
}

/// `dashboards` SSE subscribers; a session opens in the registry `rounds`
/// times and each subscriber's delay to its `started` event is a sample.
pub async fn sse(gw: &TestGateway, admin: &str, dashboards: usize, rounds: usize) -> Samples {
    let (seen_tx, mut seen) = mpsc::unbounded_channel::<(String, Instant)>();
    let mut ready = Vec::new();
    let mut dashboards_tasks = Vec::new();
    for _ in 0..dashboards {
        let resp = gw
            .http()
            .get(gw.url("/sessions/events"))
            .bearer_auth(admin)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let (ok, up) = oneshot::channel();
        ready.push(up);
        let seen_tx = seen_tx.clone();
        dashboards_tasks.push(tokio::spawn(async move {
            let mut stream = resp.bytes_stream();
            let mut buf = String::new();
            let mut ok = Some(ok);
            while let Some(Ok(chunk)) = stream.next().await {
                buf.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buf.find("\n\n") {
                    let event: String = buf.drain(..end + 2).collect();
                    if event.contains("event: snapshot") {
                        if let Some(ok) = ok.take() {
                            let _ = ok.send(());
                        }
                    } else if event.contains("event: started") {
                        let at = Instant::now();
                        let data = event.lines().find_map(|l| l.strip_prefix("data: "));
                        let v: serde_json::Value = serde_json::from_str(data.unwrap()).unwrap();
                        let _ = seen_tx.send((v["id"].as_str().unwrap().to_owned(), at));
                    }
                }
            }
        }));
    }
    for up in ready {
        up.await.unwrap();
    }
    let connection = ConnectionRef {
        id: ConnectionId::new(),
        name: "sse".into(),
    };
    let mut samples = Samples::default();
    for i in 0..rounds {
        let t = Instant::now();
        let handle = gw
            .registry()
            .open(synthetic::session(i, std::slice::from_ref(&connection)));
        let id = handle.id().to_string();
        let mut got = 0;
        while got < dashboards {
            let (sid, at) = seen.recv().await.unwrap();
            if sid == id {
                samples.push(at - t);
                got += 1;
            }
        }
        drop(handle);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for task in dashboards_tasks {
        task.abort(); // the dashboards disconnect
    }
    samples
}

/// An in-process gateway and its admin's token, for the SSE and search rows.
pub async fn in_process() -> (TestGateway, String) {
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    (gw, admin)
}
