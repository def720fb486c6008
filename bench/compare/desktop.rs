//! The desktop rows (issue 19): real TigerVNC `Xvnc` displays with an
//! `xterm` each (the integration tests' harness, 800×600×24), reached
//! three ways, the paths taking turns round after round:
//! - **gatehouse**: a lean client of the browser's desktop WebSocket
//!   protocol → the gateway (its release binary, as in production) → Xvnc;
//!   the gateway is the VNC client, keeps the screen and sends changed
//!   regions as PNG pictures;
//! - **direct**: a VNC client (`vnc-rs`, the crate the gateway uses) on a
//!   TCP connection straight to Xvnc: the floor;
//! - **websockify**: the same VNC client over a WebSocket to `websockify`
//!   (PyPI) → Xvnc, the transport noVNC uses (the page's own decoding and
//!   drawing are not in it).
//!
//! Then, through the gateway only: bandwidth and gateway CPU for an idle
//! and a busy screen (an xterm scrolling `ls -lR /usr` in a loop), memory
//! and CPU per idle desktop session (N sessions, each to its own Xvnc; and
//! M RDP sessions, each to its own FreeRDP shadow server over Xvfb, in a
//! gateway process of their own), ten busy desktops at once (each
//! session's frames per second), and the size of one minute of recording,
//! typing and busy.
//!
//! `BENCH_DESKTOP_ROWS=idle,rdp,recording` (any of `latency`, `screens`,
//! `idle`, `rdp`, `many`, `recording`) runs only those rows and prints
//! their figures instead of writing the section: for A/B runs of two
//! builds (`BENCH_GATEWAY_BIN`) taking turns.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use vnc::{PixelFormat, VncClient, VncConnector, VncEncoding, VncEvent, X11Event};

use super::harness::rdp::RdpServer;
use super::harness::terminal::Ws;
use super::harness::vnc::{Desktop, Xvnc};
use super::harness::{ADMIN_PASSWORD, TestGateway};
use super::scale::GatewayProcess;
use super::stats::{Samples, median};

/// Where this section sits in `RESULTS.md`.
pub const HEADING: &str = "## Desktops (issue 19)";

/// The paths of the latency rows, in table order.
const PATHS: [&str; 3] = ["gatehouse", "direct", "websockify"];
/// The VNC password of every bench display.
const PASSWORD: &str = "bench-vnc-pw";
/// No message for this long: the screen has settled after a key.
const QUIET: Duration = Duration::from_millis(150);
/// How long anything may take before the bench gives up.
const WAIT: Duration = Duration::from_secs(10);
/// The busy screen: an xterm scrolling until a file `stop` appears in its
/// directory (a Ctrl-C alone may be read as typed while the shell is
/// between two `ls`, and a loop left running would skew every later row).
const BUSY: &str = "rm -f stop; while [ ! -e stop ]; do ls -lR /usr; done";
/// Region messages further apart than this start a new update batch (the
/// gateway flushes every 33 ms; the regions of one flush follow each other
/// as fast as they are encoded).
const BATCH_GAP: Duration = Duration::from_millis(16);
/// The gateway's default recording cap (`recording_max_bytes`).
const CAP: u64 = 64 << 20;
/// The account of every bench RDP server.
const RDP_USER: &str = "bench";
const RDP_PASSWORD: &str = "bench-rdp-pw";
/// X11 keysyms.
const CONTROL: u32 = 0xffe3;
const ENTER: u32 = 0xff0d;

/// How much, how often.
pub struct DesktopCounts {
    pub rounds: usize,
    /// Keys timed per path per round.
    pub keys: usize,
    /// How long the idle and busy bandwidth windows last.
    pub window: Duration,
    /// Idle sessions opened at once for the memory row.
    pub idle_sessions: usize,
    /// Idle RDP sessions opened at once (each server is an Xvfb, an xterm
    /// and a FreeRDP shadow server, heavier than an Xvnc).
    pub rdp_sessions: usize,
    /// Busy desktops at once.
    pub busy_sessions: usize,
    /// How long each recording runs.
    pub record: Duration,
}

impl DesktopCounts {
    pub fn new(quick: bool) -> DesktopCounts {
        if quick {
            DesktopCounts {
                rounds: 2,
                keys: 20,
                window: Duration::from_secs(5),
                idle_sessions: 5,
                rdp_sessions: 3,
                busy_sessions: 10,
                record: Duration::from_secs(15),
            }
        } else {
            DesktopCounts {
                rounds: 5,
                keys: 60,
                window: Duration::from_secs(10),
                idle_sessions: 20,
                rdp_sessions: 10,
                busy_sessions: 10,
                record: Duration::from_secs(60),
            }
        }
    }
}

/// What a client saw of a stream of desktop messages over a window.
#[derive(Clone, Copy, Default)]
struct Stream {
    bytes: u64,
    regions: u64,
    batches: u64,
    secs: f64,
}

impl Stream {
    fn bytes_per_sec(&self) -> f64 {
        self.bytes as f64 / self.secs
    }
    fn regions_per_sec(&self) -> f64 {
        self.regions as f64 / self.secs
    }
    fn batches_per_sec(&self) -> f64 {
        self.batches as f64 / self.secs
    }
}

/// One screen's figures through the gateway: what reached the client and
/// the gateway's CPU (share of one core) over the same window.
struct Screen {
    stream: Stream,
    cpu: f64,
    load: String,
}

/// What the section measured.
pub struct DesktopFigures {
    date: String,
    load_start: String,
    load_end: String,
    commit: String,
    /// Key-to-pixels times per path (`PATHS` order), per round.
    latency: Vec<Vec<Samples>>,
    /// The load average at the start of each round.
    round_load: Vec<String>,
    idle: Screen,
    busy: Screen,
    /// N idle sessions: RSS per session (KiB) from a cold and a warm
    /// baseline, CPU share of one core per session, the load.
    idle_n: usize,
    memory_kib: (f64, f64),
    idle_cpu: f64,
    memory_load: String,
    rdp: Option<RdpIdle>,
    /// The busy desktops at once (empty when the row did not run).
    many: ManyBusy,
    /// Recording bytes per minute: typing, then busy; whether the file
    /// reached the cap; the load.
    recordings: Vec<(&'static str, u64, f64, String)>,
    /// The busy recording's file size each second (seconds, bytes).
    growth: Vec<(f64, u64)>,
}

/// The busy desktops at once, through the gateway and then direct.
#[derive(Default)]
struct ManyBusy {
    /// Each session's stream through the gateway; the gateway's CPU
    /// (in cores), the whole machine's meanwhile, and the load.
    streams: Vec<Stream>,
    cpu: f64,
    machine: f64,
    load: String,
    /// The same displays read by direct VNC clients instead; the
    /// machine's CPU meanwhile; the load.
    direct: Vec<Stream>,
    direct_machine: f64,
    direct_load: String,
}

/// Idle RDP sessions in a gateway process of their own.
struct RdpIdle {
    n: usize,
    /// RSS per session (KiB) over the cold and the warm baseline, a second
    /// after the last opened (its screen just painted) and once still.
    fresh_kib: (f64, f64),
    still_kib: (f64, f64),
    cpu: f64,
    load: String,
}

/// Whether row `name` runs (`BENCH_DESKTOP_ROWS`; all by default).
fn row(name: &str) -> bool {
    std::env::var("BENCH_DESKTOP_ROWS").map_or(true, |rows| rows.split(',').any(|r| r == name))
}

/// Opens an RDP desktop through the gateway and waits for its xterm.
async fn rdp_ready(gw: &TestGateway, token: &str, conn: &str) -> Desktop {
    let mut d = Desktop::open(gw, token, conn).await;
    let shown = d.until(WAIT, |d| d.white_pixels() > 10_000).await;
    assert!(shown, "the xterm never appeared on the RDP desktop");
    quiet(&mut d.ws).await;
    d
}

/// A release gateway process with a connection for each of `bodies`
/// (granted to `admin`): the process, a client of it, the administrator's
/// token and the connections' ids.
async fn gateway_with(
    bodies: impl Iterator<Item = Value>,
) -> (GatewayProcess, TestGateway, String, Vec<String>) {
    let process = GatewayProcess::start(None).await;
    let gw = TestGateway::remote(process.addr, None);
    let admin = gw.login("admin", ADMIN_PASSWORD).await;
    let mut conns = Vec::new();
    for body in bodies {
        conns.push(gw.connection(&admin, body).await);
    }
    (process, gw, admin, conns)
}

/// `n` idle RDP sessions, each to its own FreeRDP shadow server over Xvfb
/// (the integration tests' harness: 1024×768, an xterm), through a
/// gateway process of their own: its RSS per session over a cold baseline
/// (before any desktop) and a warm one (one desktop opened and closed),
/// just after they opened and once their screens were still for longer
/// than the gateway's packing delay; its CPU per session over `window`.
async fn rdp_idle(n: usize, window: Duration) -> RdpIdle {
    eprintln!("desktops: {n} idle RDP sessions, each to its own FreeRDP shadow server…");
    let mut servers = Vec::new();
    for _ in 0..n {
        servers.push(RdpServer::start(RDP_USER, RDP_PASSWORD).await);
    }
    let (process, gw, admin, conns) =
        gateway_with(servers.iter().enumerate().map(|(i, server)| {
            json!({
                "name": format!("rdp{i}"), "protocol": "rdp", "host": "127.0.0.1",
                "port": server.addr.port(), "username": RDP_USER, "password": RDP_PASSWORD,
                "users": ["admin"],
            })
        }))
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cold = process.rss_kib();
    drop(rdp_ready(&gw, &admin, &conns[0]).await);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let warm = process.rss_kib();
    let load = loadavg();
    let mut readers = Vec::new();
    for conn in &conns {
        let d = rdp_ready(&gw, &admin, conn).await;
        readers.push(tokio::spawn(drain(d.ws)));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let fresh = process.rss_kib();
    // Still for longer than the gateway packs a screen after (5 s).
    tokio::time::sleep(Duration::from_secs(8)).await;
    let cpu = process.cpu_time();
    let started = Instant::now();
    tokio::time::sleep(window).await;
    let cpu = (process.cpu_time() - cpu).as_secs_f64() / started.elapsed().as_secs_f64() / n as f64;
    let still = process.rss_kib();
    let per = |rss: u64, base: u64| rss.saturating_sub(base) as f64 / n as f64;
    let figures = RdpIdle {
        n,
        fresh_kib: (per(fresh, cold), per(fresh, warm)),
        still_kib: (per(still, cold), per(still, warm)),
        cpu,
        load,
    };
    eprintln!(
        "  RDP: {:.0} KiB per session just opened (cold), {:.0} KiB once still (cold), {:.0} KiB (warm), {:.3}% of a core each",
        figures.fresh_kib.0,
        figures.still_kib.0,
        figures.still_kib.1,
        cpu * 100.0
    );
    for r in readers {
        r.abort();
    }
    drop(gw);
    drop(process);
    drop(servers);
    figures
}

/// Runs the section.
pub async fn measure(n: DesktopCounts, dir: &Path) -> DesktopFigures {
    let load_start = loadavg();
    let date = sh("date -u '+%Y-%m-%d %H:%M UTC'");
    let commit = sh("git rev-parse --short HEAD");
    let displays = n.idle_sessions.max(n.busy_sessions);
    eprintln!("desktops: starting {displays} Xvnc displays…");
    let mut xvncs = Vec::new();
    for _ in 0..displays {
        xvncs.push(Xvnc::start(PASSWORD).await);
    }
    let (process, gw, admin, conns) = gateway_with(xvncs.iter().enumerate().map(|(i, x)| {
        json!({
            "name": format!("desk{i}"), "protocol": "vnc", "host": "127.0.0.1",
            "port": x.addr.port(), "password": PASSWORD, "users": ["admin"],
        })
    }))
    .await;
    // websockify in front of the first display, as noVNC would reach it.
    let ws_port = super::harness::sshd::free_port();
    let _websockify = spawn(Command::new("websockify").args([
        format!("127.0.0.1:{ws_port}"),
        format!("127.0.0.1:{}", xvncs[0].addr.port()),
    ]));
    listening(&format!("127.0.0.1:{ws_port}")).await;

    let (memory_kib, idle_cpu, memory_load) = if row("idle") {
        // The memory baseline before any desktop: admin logged in, the
        // connections created, settled.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let cold_rss = process.rss_kib();

        eprintln!(
            "desktops: {} idle sessions, each to its own Xvnc…",
            n.idle_sessions
        );
        // A warm baseline too: one desktop opened and closed, settled.
        drop(open_ready(&gw, &admin, &conns[1]).await);
        tokio::time::sleep(Duration::from_secs(3)).await;
        let warm_rss = process.rss_kib();
        let memory_load = loadavg();
        let mut readers = Vec::new();
        for conn in &conns[..n.idle_sessions] {
            let d = open_ready(&gw, &admin, conn).await;
            readers.push(tokio::spawn(drain(d.ws)));
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
        let cpu = process.cpu_time();
        let started = Instant::now();
        tokio::time::sleep(n.window).await;
        let idle_cpu = (process.cpu_time() - cpu).as_secs_f64()
            / started.elapsed().as_secs_f64()
            / n.idle_sessions as f64;
        let rss = process.rss_kib();
        let per = |base: u64| rss.saturating_sub(base) as f64 / n.idle_sessions as f64;
        let memory_kib = (per(cold_rss), per(warm_rss));
        eprintln!(
            "  {:.0} KiB per session (cold), {:.0} KiB (warm), {:.3}% of a core each",
            memory_kib.0,
            memory_kib.1,
            idle_cpu * 100.0
        );
        for r in readers {
            r.abort();
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        (memory_kib, idle_cpu, memory_load)
    } else {
        ((0.0, 0.0), 0.0, String::new())
    };
    let rdp = if row("rdp") {
        Some(rdp_idle(n.rdp_sessions, n.window).await)
    } else {
        None
    };

    let (latency, round_load, idle, busy) = if row("latency") {
        eprintln!("desktops: key press to changed pixels, the paths taking turns…");
        let mut desk = open_ready(&gw, &admin, &conns[0]).await;
        let mut direct = Rfb::connect(TcpStream::connect(xvncs[0].addr).await.unwrap()).await;
        let mut socket = Rfb::connect(websockify(ws_port).await).await;
        let mut latency = vec![Vec::new(); PATHS.len()];
        let mut round_load = Vec::new();
        // The three clients share one display, so every key's echo reaches
        // all three: each client reads until its screen is quiet before its
        // own key. Key by key, the paths take turns.
        for _ in 0..n.rounds {
            round_load.push(loadavg());
            let mut s = vec![Samples::default(); PATHS.len()];
            for k in 0..n.keys {
                if k % 30 == 0 {
                    gw_clear(&mut desk.ws).await;
                }
                quiet(&mut desk.ws).await;
                s[0].push(gw_key(&mut desk.ws, key_for(k)).await);
                direct.settle().await;
                s[1].push(direct.key(key_for(k)).await);
                socket.settle().await;
                s[2].push(socket.key(key_for(k)).await);
            }
            for (path, s) in latency.iter_mut().zip(s) {
                path.push(s);
            }
        }
        direct.close().await;
        socket.close().await;
        for (path, rounds) in PATHS.iter().zip(&latency) {
            let all = Samples::merged(rounds);
            eprintln!(
                "  {path}: p50 {:.1} ms, p99 {:.1} ms",
                all.p50_ms(),
                all.p99_ms()
            );
        }

        eprintln!("desktops: an idle and a busy screen through the gateway…");
        gw_clear(&mut desk.ws).await;
        let idle = screen(&process, &mut desk.ws, n.window).await;
        gw_line(&mut desk.ws, BUSY).await;
        let busy = screen(&process, &mut desk.ws, n.window).await;
        gw_interrupt(&mut desk.ws, &xvncs[0].path("stop")).await;
        drop(desk);
        for (what, s) in [("idle", &idle), ("busy", &busy)] {
            eprintln!(
                "  {what}: {:.1} KB/s, {:.1} batches/s, gateway CPU {:.2}%",
                s.stream.bytes_per_sec() / 1e3,
                s.stream.batches_per_sec(),
                s.cpu * 100.0
            );
        }
        (latency, round_load, idle, busy)
    } else {
        let none = || Screen {
            stream: Stream::default(),
            cpu: 0.0,
            load: String::new(),
        };
        (vec![Vec::new(); PATHS.len()], Vec::new(), none(), none())
    };

    let many = if row("many") {
        eprintln!("desktops: {} busy desktops at once…", n.busy_sessions);
        // Each desktop is read from the moment it opens (a client that stops
        // reading would be ended after 45 s unheard); the count starts for
        // all of them at once when the last is busy.
        let (start_tx, start_rx) = tokio::sync::watch::channel(None::<tokio::time::Instant>);
        let window = n.window;
        let mut tasks = Vec::new();
        for conn in &conns[..n.busy_sessions] {
            let mut d = open_ready(&gw, &admin, conn).await;
            gw_line(&mut d.ws, BUSY).await;
            let mut start = start_rx.clone();
            tasks.push(tokio::spawn(async move {
                let t0 = loop {
                    if let Some(t0) = *start.borrow_and_update() {
                        break t0;
                    }
                    drain_until(
                        &mut d.ws,
                        tokio::time::Instant::now() + Duration::from_millis(100),
                    )
                    .await;
                };
                drain_until(&mut d.ws, t0).await;
                let s = count(&mut d.ws, window).await;
                // The loops run on for the direct clients below.
                let _ = d.ws.close(None).await;
                s
            }));
        }
        let t0 = tokio::time::Instant::now() + Duration::from_secs(2);
        start_tx.send(Some(t0)).unwrap();
        tokio::time::sleep_until(t0).await;
        let many_load = loadavg();
        let cpu = process.cpu_time();
        let machine = crate::proc_cpu::machine_busy();
        tokio::time::sleep_until(t0 + window).await;
        let many_cpu = (process.cpu_time() - cpu).as_secs_f64() / window.as_secs_f64();
        let many_machine =
            (crate::proc_cpu::machine_busy() - machine).as_secs_f64() / window.as_secs_f64();
        let mut many = Vec::new();
        for t in tasks {
            many.push(t.await.unwrap());
        }
        // The same ten busy displays read by ten direct VNC clients (the
        // gateway's sessions closed): what the servers deliver on this machine
        // without the gateway, asking for each update as soon as one arrives.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let mut rfbs = Vec::new();
        for xvnc in &xvncs[..n.busy_sessions] {
            rfbs.push(Rfb::connect_busy(TcpStream::connect(xvnc.addr).await.unwrap()).await);
        }
        let direct_load = loadavg();
        let machine = crate::proc_cpu::machine_busy();
        let started = Instant::now();
        let tasks: Vec<_> = rfbs
            .into_iter()
            .zip(&xvncs)
            .map(|(mut rfb, xvnc)| {
                let stop = xvnc.path("stop");
                tokio::spawn(async move {
                    let s = rfb.count(window).await;
                    rfb.stop(&stop).await;
                    rfb.close().await;
                    s
                })
            })
            .collect();
        tokio::time::sleep(window).await;
        let direct_machine = (crate::proc_cpu::machine_busy() - machine).as_secs_f64()
            / started.elapsed().as_secs_f64();
        let mut many_direct = Vec::new();
        for t in tasks {
            many_direct.push(t.await.unwrap());
        }
        eprintln!(
            "  direct: update batches/s {:?}; the machine's CPU {:.0}%",
            many_direct
                .iter()
                .map(|s| s.batches_per_sec().round())
                .collect::<Vec<_>>(),
            direct_machine * 100.0
        );
        eprintln!(
            "  update batches/s: {:?}; gateway CPU {:.0}%",
            many.iter()
                .map(|s| s.batches_per_sec().round())
                .collect::<Vec<_>>(),
            many_cpu * 100.0
        );
        ManyBusy {
            streams: many,
            cpu: many_cpu,
            machine: many_machine,
            load: many_load,
            direct: many_direct,
            direct_machine,
            direct_load,
        }
    } else {
        ManyBusy::default()
    };

    let mut recordings = Vec::new();
    let mut growth: Vec<(f64, u64)> = Vec::new();
    if row("recording") {
        eprintln!("desktops: a recorded minute of typing and of a busy screen…");
    }
    for (what, i) in [("typing", 0), ("busy screen", 1)]
        .into_iter()
        .filter(|_| row("recording"))
    {
        let conn = &conns[i];
        let load = loadavg();
        let mut d = open_ready(&gw, &admin, conn).await;
        let session = d.session_id.clone();
        let started = Instant::now();
        if what == "typing" {
            // A steady typist: five keys a second, a new line every 40.
            let mut k = 0;
            while started.elapsed() < n.record {
                if k % 40 == 39 {
                    gw_clear(&mut d.ws).await;
                } else {
                    gw_press(&mut d.ws, key_for(k)).await;
                }
                k += 1;
                let until = started + Duration::from_millis(200 * k as u64);
                drain_until(&mut d.ws, tokio::time::Instant::from_std(until)).await;
            }
        } else {
            gw_line(&mut d.ws, BUSY).await;
            // The file's size every second, to see how fast it grows until
            // the cap stops it.
            let mut at = Duration::ZERO;
            while at < n.record {
                at += Duration::from_secs(1);
                drain_until(&mut d.ws, tokio::time::Instant::from_std(started + at)).await;
                let size = find(
                    &process.data_dir().join("recordings"),
                    &format!("{session}.cast"),
                )
                .and_then(|p| std::fs::metadata(p).ok())
                .map_or(0, |m| m.len());
                growth.push((started.elapsed().as_secs_f64(), size));
            }
            gw_interrupt(&mut d.ws, &xvncs[i].path("stop")).await;
        }
        let secs = started.elapsed().as_secs_f64();
        let _ = d.ws.close(None).await;
        drop(d);
        let size = recording_size(process.data_dir(), &session).await;
        eprintln!("  {what}: {size} bytes in {secs:.0} s");
        recordings.push((what, size, secs, load));
    }
    drop(gw);
    drop(process);
    drop(xvncs);
    let _ = dir;
    DesktopFigures {
        date,
        load_start,
        load_end: loadavg(),
        commit,
        latency,
        round_load,
        idle,
        busy,
        idle_n: n.idle_sessions,
        memory_kib,
        idle_cpu,
        memory_load,
        rdp,
        many,
        recordings,
        growth,
    }
}

/// Lowercase letters in turn: each one's echo changes the xterm's pixels.
fn key_for(k: usize) -> u32 {
    u32::from(b'a') + (k % 26) as u32
}

/// Opens a desktop through the gateway, waits for the xterm to show and
/// puts the pointer over it (without a window manager, keys go to the
/// window under the pointer), and lets the screen settle.
async fn open_ready(gw: &TestGateway, token: &str, conn: &str) -> Desktop {
    let mut d = Desktop::open(gw, token, conn).await;
    let shown = d.until(WAIT, |d| d.white_pixels() > 10_000).await;
    assert!(shown, "the xterm never appeared on the desktop");
    send(
        &mut d.ws,
        json!({ "type": "pointer", "x": 100, "y": 100, "buttons": 0 }),
    )
    .await;
    quiet(&mut d.ws).await;
    d
}

async fn send(ws: &mut Ws, value: serde_json::Value) {
    ws.send(Message::Text(value.to_string().into()))
        .await
        .unwrap();
}

async fn gw_key_event(ws: &mut Ws, keysym: u32, down: bool) {
    send(ws, json!({ "type": "key", "keysym": keysym, "down": down })).await;
}

/// Presses and releases a key, reading nothing.
async fn gw_press(ws: &mut Ws, keysym: u32) {
    gw_key_event(ws, keysym, true).await;
    gw_key_event(ws, keysym, false).await;
}

/// Types `line` and Enter, then lets the screen settle a moment.
async fn gw_line(ws: &mut Ws, line: &str) {
    for c in line.chars() {
        gw_press(ws, c as u32).await;
    }
    gw_press(ws, ENTER).await;
    drain_until(ws, tokio::time::Instant::now() + Duration::from_millis(300)).await;
}

/// Ctrl+`key`.
async fn gw_ctrl(ws: &mut Ws, key: u32) {
    gw_key_event(ws, CONTROL, true).await;
    gw_press(ws, key).await;
    gw_key_event(ws, CONTROL, false).await;
}

/// Ctrl-U (the line typed so far is erased), then quiet.
async fn gw_clear(ws: &mut Ws) {
    gw_ctrl(ws, u32::from(b'u')).await;
    quiet(ws).await;
}

/// Stops a busy loop: its `stop` file, then Ctrl-C (ending the `ls` at
/// work) until the screen has been still for a second.
async fn gw_interrupt(ws: &mut Ws, stop: &Path) {
    std::fs::write(stop, b"").unwrap();
    for _ in 0..10 {
        gw_ctrl(ws, u32::from(b'c')).await;
        if still(ws, Duration::from_secs(1), Duration::from_secs(10)).await {
            return;
        }
    }
    panic!("the busy loop did not stop");
}

/// Reads until nothing arrives for `quiet`; false if that takes longer
/// than `limit`.
async fn still(ws: &mut Ws, quiet: Duration, limit: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout(quiet, ws.next()).await {
            Err(_) => return true,
            Ok(Some(Ok(_))) => {}
            Ok(other) => panic!("the desktop closed: {other:?}"),
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
    }
}

/// Reads until nothing arrives for [`QUIET`].
async fn quiet(ws: &mut Ws) {
    assert!(still(ws, QUIET, WAIT).await, "the screen did not settle");
}

/// One timed key through the gateway (its screen quiet): the key-down
/// message sent, until the first region message arrives; then the release.
async fn gw_key(ws: &mut Ws, keysym: u32) -> Duration {
    // A random phase against the gateway's 33 ms flush tick.
    tokio::time::sleep(Duration::from_millis(u64::from(jitter() % 33))).await;
    gw_key_event(ws, keysym, true).await;
    let sent = Instant::now();
    let took = loop {
        match tokio::time::timeout(WAIT, ws.next()).await {
            Ok(Some(Ok(Message::Binary(_)))) => break sent.elapsed(),
            Ok(Some(Ok(_))) => {}
            other => panic!("no region after a key: {other:?}"),
        }
    };
    gw_key_event(ws, keysym, false).await;
    took
}

/// Reads (and drops) whatever arrives until `until`.
async fn drain_until(ws: &mut Ws, until: tokio::time::Instant) {
    while let Ok(msg) = tokio::time::timeout_at(until, ws.next()).await {
        assert!(matches!(msg, Some(Ok(_))), "the desktop closed: {msg:?}");
    }
}

/// Reads a desktop's messages for as long as it is open (an idle session
/// kept alive: its pings answered).
async fn drain(mut ws: Ws) {
    while let Some(Ok(_)) = ws.next().await {}
}

/// Counts what arrives over `window`.
async fn count(ws: &mut Ws, window: Duration) -> Stream {
    let started = Instant::now();
    let until = tokio::time::Instant::now() + window;
    let mut s = Stream::default();
    let mut last: Option<Instant> = None;
    while let Ok(msg) = tokio::time::timeout_at(until, ws.next()).await {
        match msg {
            Some(Ok(Message::Binary(frame))) => {
                let now = Instant::now();
                s.bytes += frame.len() as u64;
                s.regions += 1;
                if last.is_none_or(|l| now - l >= BATCH_GAP) {
                    s.batches += 1;
                }
                last = Some(now);
            }
            Some(Ok(Message::Text(text))) => s.bytes += text.len() as u64,
            Some(Ok(_)) => {}
            other => panic!("the desktop closed: {other:?}"),
        }
    }
    s.secs = started.elapsed().as_secs_f64();
    s
}

/// One screen through the gateway over `window`: what reached the client,
/// and the gateway's CPU meanwhile.
async fn screen(process: &GatewayProcess, ws: &mut Ws, window: Duration) -> Screen {
    let load = loadavg();
    let cpu = process.cpu_time();
    let started = Instant::now();
    let stream = count(ws, window).await;
    let cpu = (process.cpu_time() - cpu).as_secs_f64() / started.elapsed().as_secs_f64();
    Screen { stream, cpu, load }
}

/// A VNC client straight to the server (or over websockify), keeping a
/// framebuffer of its own to tell when pixels change. It asks for the
/// next update as soon as one arrives, as noVNC does.
struct Rfb {
    client: VncClient,
    width: usize,
    height: usize,
    pixels: Vec<u8>,
}

impl Rfb {
    async fn connect<S>(stream: S) -> Rfb
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + Sync + 'static,
    {
        let mut rfb = Rfb::connect_busy(stream).await;
        rfb.settle().await;
        // The pointer over the xterm, as in the gateway's session.
        rfb.input(X11Event::PointerEvent((100, 100, 0).into()))
            .await;
        rfb.settle().await;
        assert!(rfb.width > 0, "no screen from the VNC server");
        rfb
    }

    async fn input(&self, event: X11Event) {
        self.client.input(event).await.unwrap();
    }

    /// The next event, if one comes within `wait` (the wait is dropped, and
    /// with it vnc-rs's lock, when none does).
    async fn next(&self, wait: Duration) -> Option<VncEvent> {
        match tokio::time::timeout(wait, self.client.recv_event()).await {
            Ok(event) => Some(event.unwrap()),
            Err(_) => None,
        }
    }

    /// Applies an event; true when it changed pixels.
    fn apply(&mut self, event: VncEvent) -> bool {
        match event {
            VncEvent::SetResolution(s) => {
                self.width = usize::from(s.width);
                self.height = usize::from(s.height);
                self.pixels = vec![0; self.width * self.height * 4];
                false
            }
            VncEvent::RawImage(r, data) => {
                let mut changed = false;
                let (x, w) = (usize::from(r.x), usize::from(r.width));
                for row in 0..usize::from(r.height) {
                    let y = usize::from(r.y) + row;
                    let Some(src) = data.get(row * w * 4..(row + 1) * w * 4) else {
                        break;
                    };
                    let at = (y * self.width + x) * 4;
                    let Some(dst) = self.pixels.get_mut(at..at + w * 4) else {
                        break;
                    };
                    if dst != src {
                        dst.copy_from_slice(src);
                        changed = true;
                    }
                }
                changed
            }
            VncEvent::Copy(..) => true,
            VncEvent::Error(e) => panic!("the VNC client failed: {e}"),
            _ => false,
        }
    }

    /// Reads until nothing arrives for [`QUIET`], asking for updates.
    async fn settle(&mut self) {
        let deadline = Instant::now() + WAIT;
        loop {
            self.input(X11Event::Refresh).await;
            match self.next(QUIET).await {
                None => return,
                Some(event) => {
                    self.apply(event);
                }
            }
            assert!(Instant::now() < deadline, "the screen did not settle");
        }
    }

    /// One timed key (the screen settled): an update request outstanding,
    /// the key-down sent, until the first update that changes pixels; then
    /// the release.
    async fn key(&mut self, keysym: u32) -> Duration {
        tokio::time::sleep(Duration::from_millis(u64::from(jitter() % 33))).await;
        self.input(X11Event::Refresh).await;
        self.input(X11Event::KeyEvent((keysym, true).into())).await;
        let sent = Instant::now();
        let took = loop {
            let event = self.next(WAIT).await.expect("an update after a key");
            let changed = self.apply(event);
            self.input(X11Event::Refresh).await;
            if changed {
                break sent.elapsed();
            }
        };
        self.input(X11Event::KeyEvent((keysym, false).into())).await;
        took
    }

    async fn close(self) {
        let _ = self.client.close().await;
    }

    /// Connects to a busy display: the first screen, without waiting for
    /// it to settle.
    async fn connect_busy<S>(stream: S) -> Rfb
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + Sync + 'static,
    {
        // The gateway's own choices (crates/desktop/src/vnc.rs).
        let client = VncConnector::new(stream)
            .set_auth_method(async { Ok(PASSWORD.to_owned()) })
            .add_encoding(VncEncoding::Zrle)
            .add_encoding(VncEncoding::CopyRect)
            .add_encoding(VncEncoding::Raw)
            .add_encoding(VncEncoding::DesktopSizePseudo)
            .allow_shared(true)
            .set_pixel_format(PixelFormat::rgba())
            .build()
            .unwrap()
            .try_start()
            .await
            .unwrap()
            .finish()
            .unwrap();
        Rfb {
            client,
            width: 0,
            height: 0,
            pixels: Vec::new(),
        }
    }

    /// Counts the updates that arrive over `window`, asking for the next
    /// as soon as one arrives (as noVNC does) and painting each.
    async fn count(&mut self, window: Duration) -> Stream {
        let started = Instant::now();
        let until = started + window;
        let mut s = Stream::default();
        let mut last: Option<Instant> = None;
        self.input(X11Event::Refresh).await;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let Some(event) = self.next(left).await else {
                break;
            };
            if matches!(event, VncEvent::RawImage(..) | VncEvent::Copy(..)) {
                let now = Instant::now();
                s.regions += 1;
                if last.is_none_or(|l| now - l >= BATCH_GAP) {
                    s.batches += 1;
                }
                last = Some(now);
                self.apply(event);
                self.input(X11Event::Refresh).await;
            } else {
                self.apply(event);
            }
        }
        s.secs = started.elapsed().as_secs_f64();
        s
    }

    /// Stops a busy loop as [`gw_interrupt`] does, through this client.
    async fn stop(&mut self, stop: &Path) {
        std::fs::write(stop, b"").unwrap();
        for _ in 0..10 {
            for (key, down) in [
                (CONTROL, true),
                (u32::from(b'c'), true),
                (u32::from(b'c'), false),
                (CONTROL, false),
            ] {
                self.input(X11Event::KeyEvent((key, down).into())).await;
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                self.input(X11Event::Refresh).await;
                match self.next(Duration::from_secs(1)).await {
                    None => return,
                    Some(event) => {
                        self.apply(event);
                    }
                }
                if Instant::now() >= deadline {
                    break;
                }
            }
        }
        panic!("the busy loop did not stop");
    }
}

/// A WebSocket to websockify (noVNC's transport, subprotocol `binary`),
/// as a byte stream for the VNC client.
async fn websockify(port: u16) -> tokio::io::DuplexStream {
    let mut req = format!("ws://127.0.0.1:{port}/")
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("sec-websocket-protocol", "binary".parse().unwrap());
    let (ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let (mine, theirs) = tokio::io::duplex(256 * 1024);
    let (mut from_client, mut to_client) = tokio::io::split(theirs);
    let (mut sink, mut stream) = ws.split();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = from_client.read(&mut buf).await {
            if n == 0
                || sink
                    .send(Message::Binary(buf[..n].to_vec().into()))
                    .await
                    .is_err()
            {
                break;
            }
        }
    });
    tokio::spawn(async move {
        while let Some(Ok(msg)) = stream.next().await {
            if let Message::Binary(data) = msg
                && to_client.write_all(&data).await.is_err()
            {
                break;
            }
        }
    });
    mine
}

/// The size of session `id`'s recording, once the gateway has closed it
/// (the file stops growing).
async fn recording_size(data_dir: &Path, id: &str) -> u64 {
    let name = format!("{id}.cast");
    let deadline = Instant::now() + WAIT;
    let mut last = None;
    loop {
        let size = find(&data_dir.join("recordings"), &name)
            .and_then(|p| std::fs::metadata(p).ok())
            .map(|m| m.len());
        if let Some(size) = size
            && last == Some(size)
        {
            return size;
        }
        assert!(Instant::now() < deadline, "no recording {name}");
        last = size;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn find(dir: &Path, name: &str) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if let Some(found) = find(&path, name) {
                return Some(found);
            }
        } else if path.file_name().is_some_and(|n| n == name) {
            return Some(path);
        }
    }
    None
}

/// Waits until something listens on `addr`.
async fn listening(addr: &str) {
    let deadline = Instant::now() + WAIT;
    while TcpStream::connect(addr).await.is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {addr}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn spawn(cmd: &mut Command) -> Child {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("websockify (PyPI; bench/run installs it)")
}

fn jitter() -> u32 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(Instant::now()) as u32
}

fn sh(cmd: &str) -> String {
    std::process::Command::new("sh")
        .args(["-c", cmd])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// The 1-, 5- and 15-minute load averages.
fn loadavg() -> String {
    let l = sh("cat /proc/loadavg");
    l.split(' ').take(3).collect::<Vec<_>>().join(" ")
}

fn ms(d: f64) -> String {
    format!("{d:.1} ms")
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "**missed**" }
}

impl DesktopFigures {
    /// The section, as Markdown.
    pub fn render(&self) -> String {
        let mut o = String::new();
        let p = |o: &mut String, s: String| {
            o.push_str(&s);
            o.push('\n');
        };
        p(&mut o, format!("{HEADING}\n"));
        p(
            &mut o,
            format!(
                "{} on commit {}; load average {} at the start, {} at the end \
                 (the machine is shared with other builders). Real TigerVNC `Xvnc` \
                 displays (800×600×24) with an `xterm` each; the gateway is its \
                 release binary with its defaults (recording on). Method: \
                 [README](README.md#the-desktop-rows-issue-19).\n",
                self.date, self.commit, self.load_start, self.load_end
            ),
        );

        p(
            &mut o,
            "### Key press to changed pixels, on loopback\n".to_owned(),
        );
        p(
            &mut o,
            "| round | load | gatehouse p50 | direct p50 | websockify p50 | added p50 (gatehouse − direct) |"
                .to_owned(),
        );
        p(&mut o, "|---|---|---|---|---|---|".to_owned());
        let mut added = Vec::new();
        for r in 0..self.latency[0].len() {
            let [g, d, w] = [0, 1, 2].map(|i| self.latency[i][r].p50_ms());
            added.push(g - d);
            p(
                &mut o,
                format!(
                    "| {} | {} | {} | {} | {} | {} |",
                    r + 1,
                    self.round_load[r],
                    ms(g),
                    ms(d),
                    ms(w),
                    ms(g - d)
                ),
            );
        }
        p(&mut o, String::new());
        p(
            &mut o,
            "| path | keys | p50 | p99 |\n|---|---|---|---|".to_owned(),
        );
        let all: Vec<Samples> = self.latency.iter().map(|r| Samples::merged(r)).collect();
        for (i, path) in PATHS.iter().enumerate() {
            p(
                &mut o,
                format!(
                    "| {path} | {} | {} | {} |",
                    all[i].len(),
                    ms(all[i].p50_ms()),
                    ms(all[i].p99_ms())
                ),
            );
        }
        let added_p50 = median(added);
        let added_p99 = all[0].p99_ms() - all[1].p99_ms();
        p(&mut o, String::new());

        p(
            &mut o,
            "### Bandwidth and gateway CPU per session\n\n\
             | screen | load | to the browser | region messages/s | update batches/s | gateway CPU (one core) |\n\
             |---|---|---|---|---|---|"
                .to_owned(),
        );
        for (what, s) in [
            ("idle", &self.idle),
            ("busy (`ls -lR /usr` scrolling)", &self.busy),
        ] {
            p(
                &mut o,
                format!(
                    "| {what} | {} | {:.1} KB/s | {:.1} | {:.1} | {:.2}% |",
                    s.load,
                    s.stream.bytes_per_sec() / 1e3,
                    s.stream.regions_per_sec(),
                    s.stream.batches_per_sec(),
                    s.cpu * 100.0
                ),
            );
        }
        p(&mut o, String::new());

        let mut fps: Vec<f64> = self
            .many
            .streams
            .iter()
            .map(Stream::batches_per_sec)
            .collect();
        fps.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let regions: Vec<f64> = self
            .many
            .streams
            .iter()
            .map(Stream::regions_per_sec)
            .collect();
        let bytes: f64 = self.many.streams.iter().map(Stream::bytes_per_sec).sum();
        let mut direct_fps: Vec<f64> = self
            .many
            .direct
            .iter()
            .map(Stream::batches_per_sec)
            .collect();
        direct_fps.sort_by(|a, b| a.partial_cmp(b).unwrap());
        p(
            &mut o,
            format!(
                "### {} busy desktops at once\n\n\
                 Load {} at the start. Each session's update batches per second, lowest first: {}. \
                 Region messages per second: {}. To the browsers in all: {:.1} MB/s; \
                 the gateway's CPU: {:.0}% of one core; the whole machine's busy CPU \
                 (`/proc/stat`; the ten Xvnc servers, xterms and `ls` loops, the gateway, \
                 the bench and other builders): {:.0}% of one core, of 200%.\n\n\
                 Then the same ten busy displays read by ten direct VNC clients (`vnc-rs`, \
                 asking for each update as soon as one arrives; the gateway's sessions closed), \
                 load {} at the start: update batches per second, lowest first: {}; \
                 the machine's busy CPU {:.0}% of one core.\n",
                self.many.streams.len(),
                self.many.load,
                fps.iter()
                    .map(|f| format!("{f:.1}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                regions
                    .iter()
                    .map(|f| format!("{f:.1}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                bytes / 1e6,
                self.many.cpu * 100.0,
                self.many.machine * 100.0,
                self.many.direct_load,
                direct_fps
                    .iter()
                    .map(|f| format!("{f:.1}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                self.many.direct_machine * 100.0
            ),
        );

        p(
            &mut o,
            format!(
                "### Idle desktop sessions\n\n\
                 {n} idle sessions, each to its own Xvnc (load {load}): gateway RSS {cold:.0} KiB per \
                 session over the baseline taken before any desktop opened, {warm:.0} KiB over a \
                 baseline taken after one desktop was opened and closed; the gateway's CPU over \
                 the idle window {cpu:.3}% of one core per session. An 800×600 screen's RGBA \
                 framebuffer is {fb:.0} KiB while it changes; a screen still for 5 s is held \
                 deflated.\n",
                n = self.idle_n,
                load = self.memory_load,
                cold = self.memory_kib.0,
                warm = self.memory_kib.1,
                cpu = self.idle_cpu * 100.0,
                fb = 800.0 * 600.0 * 4.0 / 1024.0,
            ),
        );
        if let Some(rdp) = &self.rdp {
            p(
                &mut o,
                format!(
                    "{n} idle RDP sessions, each to its own FreeRDP shadow server over Xvfb \
                     (1024×768, an xterm; the integration tests' harness), in a gateway process \
                     of their own (load {load}): RSS per session {fresh:.0} KiB over the cold \
                     baseline a second after the last opened, {cold:.0} KiB once the screens were \
                     still for 8 s ({warm:.0} KiB over the warm baseline); the gateway's CPU over \
                     the idle window {cpu:.3}% of one core per session. A 1024×768 screen is \
                     {fb:.0} KiB at 4 bytes a pixel, held twice while it changes (IronRDP's \
                     picture and the framebuffer); a still one, once, deflated.\n",
                    n = rdp.n,
                    load = rdp.load,
                    fresh = rdp.fresh_kib.0,
                    cold = rdp.still_kib.0,
                    warm = rdp.still_kib.1,
                    cpu = rdp.cpu * 100.0,
                    fb = 1024.0 * 768.0 * 4.0 / 1024.0,
                ),
            );
        }

        p(
            &mut o,
            "### Recording size\n\n| recorded | load | seconds | file | per minute |\n|---|---|---|---|---|"
                .to_owned(),
        );
        for (what, size, secs, load) in &self.recordings {
            p(
                &mut o,
                format!(
                    "| {what} | {load} | {secs:.0} | {:.2} MB | {:.2} MB |",
                    *size as f64 / 1e6,
                    *size as f64 / 1e6 * 60.0 / secs
                ),
            );
        }
        // The busy screen's rate before the cap: from the first second's
        // size to the last below the cap.
        let below: Vec<_> = self
            .growth
            .iter()
            .filter(|(_, size)| *size < CAP * 95 / 100)
            .collect();
        if let (Some(first), Some(last)) = (below.first(), below.last())
            && last.0 > first.0
        {
            let rate = (last.1 - first.1) as f64 / (last.0 - first.0);
            let capped = self.growth.iter().find(|(_, size)| *size >= CAP * 95 / 100);
            p(
                &mut o,
                format!(
                    "\nThe busy recording grew {:.2} MB a second ({:.1} MB a minute) from {:.0} s to {:.0} s{}.",
                    rate / 1e6,
                    rate * 60.0 / 1e6,
                    first.0,
                    last.0,
                    capped.map_or(String::new(), |(t, _)| format!(
                        "; it reached the gateway's default cap of 64 MiB \
                         (`recording_max_bytes`) at {t:.0} s, where recording stops"
                    ))
                ),
            );
        }
        p(&mut o, String::new());

        let min_fps = fps.first().copied().unwrap_or(0.0);
        let mem = self.memory_kib.0 / 1024.0;
        p(
            &mut o,
            "### Targets\n\n| target | measured | |\n|---|---|---|".to_owned(),
        );
        for (target, measured, met) in [
            (
                "added latency ≤ 30 ms p50".to_owned(),
                format!(
                    "{} (median of the rounds' differences); p99 added {}",
                    ms(added_p50),
                    ms(added_p99)
                ),
                added_p50 <= 30.0,
            ),
            (
                "idle desktop session ≤ 2 MiB of gateway memory".to_owned(),
                format!("{mem:.2} MiB"),
                mem <= 2.0,
            ),
            (
                "idle desktop session ≤ 1% of a core".to_owned(),
                format!("{:.3}%", self.idle_cpu * 100.0),
                self.idle_cpu <= 0.01,
            ),
            (
                "idle RDP session ≤ 2 MiB of gateway memory".to_owned(),
                self.rdp.as_ref().map_or("not measured".to_owned(), |r| {
                    format!("{:.2} MiB", r.still_kib.0 / 1024.0)
                }),
                self.rdp.as_ref().is_some_and(|r| r.still_kib.0 <= 2048.0),
            ),
            (
                "idle RDP session ≤ 1% of a core".to_owned(),
                self.rdp.as_ref().map_or("not measured".to_owned(), |r| {
                    format!("{:.3}%", r.cpu * 100.0)
                }),
                self.rdp.as_ref().is_some_and(|r| r.cpu <= 0.01),
            ),
            (
                format!(
                    "{} busy desktops each ≥ 10 frames/s",
                    self.many.streams.len()
                ),
                format!("lowest {min_fps:.1} update batches/s"),
                min_fps >= 10.0,
            ),
        ] {
            p(
                &mut o,
                format!("| {target} | {measured} | {} |", verdict(met)),
            );
        }
        o
    }
}
