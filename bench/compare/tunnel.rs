//! The TCP tunnel rows (issue 18): one target of the bench's own on
//! loopback, reached four ways, the paths taking turns round after round:
//! - **direct**: a TCP connection to the target;
//! - **gatehouse tunnel**: `gatehouse tunnel` (the release binary, the
//!   user's real command) → the gateway's WebSocket → the target;
//! - **OpenSSH ssh -L**: `ssh -N -L` through a real `sshd` (its default
//!   cipher) → the target;
//! - **gatehouse ssh -L**: `ssh -N -L PORT:CONNECTION:PORT` through the
//!   gateway's SSH listener (issue 18's native path) → the target.
//!
//! The target serves a counted stream: a connection that sends `B` and a
//! length gets that many bytes and then the close (bulk, timed from the
//! first byte to the last); `P` does the same paced at 1 Gbit/s, as a
//! real network link would (on loopback every path is CPU-bound, and the
//! paced row shows whether a path keeps up with a fast LAN); one that
//! sends `E` gets every byte back (a 32-byte ping-pong, each round trip
//! timed).

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};

use super::harness::{ADMIN_PASSWORD, Sshd, TestGateway};
use super::scale::GatewayProcess;
use super::stats::{Samples, median};

/// Where this section sits in `RESULTS.md`.
pub const HEADING: &str = "## TCP tunnels (issue 18)";

/// The paths, in table order.
const PATHS: [&str; 4] = [
    "direct",
    "gatehouse tunnel",
    "OpenSSH ssh -L",
    "gatehouse ssh -L",
];
/// One ping's size: a small query or a keystroke of a remote desktop.
const PING: usize = 32;
/// The paced stream's rate: 1 Gbit/s.
const PACE: f64 = 125e6;

/// How much, how often.
pub struct TunnelCounts {
    pub bulk_bytes: u64,
    pub paced_bytes: u64,
    pub rounds: usize,
    pub pings: usize,
}

impl TunnelCounts {
    pub fn new(quick: bool) -> TunnelCounts {
        if quick {
            TunnelCounts {
                bulk_bytes: 64 << 20,
                paced_bytes: 32 << 20,
                rounds: 3,
                pings: 200,
            }
        } else {
            TunnelCounts {
                bulk_bytes: 512 << 20,
                paced_bytes: 256 << 20,
                rounds: 5,
                pings: 2000,
            }
        }
    }
}

/// What the section measured.
pub struct TunnelFigures {
    date: String,
    load_start: String,
    load_end: String,
    commit: String,
    bulk_bytes: u64,
    /// Bytes per second, per path (`PATHS` order), one per round.
    rates: Vec<Vec<f64>>,
    /// The same with the target paced at 1 Gbit/s.
    paced: Vec<Vec<f64>>,
    /// Bytes per second through two kernel-only relays in a row
    /// (`splice_relay.rs`), one per round.
    floor: Vec<f64>,
    /// Round-trip times per path, over every round.
    pings: Vec<Samples>,
    /// The gateway's CPU seconds per GB of the tunnel's bulk runs.
    tunnel_cpu_per_gb: f64,
    /// The same for the client, `gatehouse tunnel`.
    client_cpu_per_gb: f64,
}

/// The bench's target: `B` + u64 length → that many bytes; `E` → echo.
async fn target() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let _ = tcp.set_nodelay(true);
            tokio::spawn(async move {
                let mut mode = [0u8; 1];
                if tcp.read_exact(&mut mode).await.is_err() {
                    return;
                }
                if mode[0] == b'B' || mode[0] == b'P' {
                    let Ok(mut left) = tcp.read_u64().await else {
                        return;
                    };
                    let paced = mode[0] == b'P';
                    let block = vec![0u8; if paced { 64 * 1024 } else { 256 * 1024 }];
                    let (start, mut sent) = (tokio::time::Instant::now(), 0u64);
                    while left > 0 {
                        if paced {
                            let due = Duration::from_secs_f64(sent as f64 / PACE);
                            tokio::time::sleep_until(start + due).await;
                        }
                        let n = left.min(block.len() as u64) as usize;
                        if tcp.write_all(&block[..n]).await.is_err() {
                            return;
                        }
                        left -= n as u64;
                        sent += n as u64;
                    }
                    let _ = tcp.shutdown().await;
                } else {
                    let (mut r, mut w) = tcp.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                }
            });
        }
    });
    addr
}

/// Bytes per second of one bulk download through `via` (`P`aced or `B`ulk).
async fn bulk(via: SocketAddr, mode: u8, bytes: u64) -> f64 {
    let mut tcp = TcpStream::connect(via).await.unwrap();
    tcp.write_all(&[mode]).await.unwrap();
    tcp.write_u64(bytes).await.unwrap();
    let mut buf = vec![0u8; 256 * 1024];
    let n = tcp.read(&mut buf).await.unwrap();
    assert!(n > 0, "no bytes through {via}");
    let first = Instant::now();
    let mut got = n as u64;
    loop {
        let n = tcp.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        got += n as u64;
    }
    assert_eq!(got, bytes, "a short stream through {via}");
    (got - n as u64) as f64 / first.elapsed().as_secs_f64()
}

/// `count` timed 32-byte round trips through `via`.
async fn ping_pong(via: SocketAddr, count: usize, into: &mut Samples) {
    let mut tcp = TcpStream::connect(via).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    tcp.write_all(b"E").await.unwrap();
    let ping = [7u8; PING];
    let mut back = [0u8; PING];
    // The first few warm the path (the tunnel's dial happens on the first).
    for i in 0..count + 10 {
        let t = Instant::now();
        tcp.write_all(&ping).await.unwrap();
        tcp.read_exact(&mut back).await.unwrap();
        if i >= 10 {
            into.push(t.elapsed());
        }
    }
}

/// Waits until something listens on `addr`.
async fn listening(addr: SocketAddr, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(addr).await.is_err() {
        assert!(Instant::now() < deadline, "{what} did not listen on {addr}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn local() -> SocketAddr {
    format!("127.0.0.1:{}", super::harness::sshd::free_port())
        .parse()
        .unwrap()
}

fn spawn(cmd: &mut Command) -> Child {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

fn sh(cmd: &str) -> String {
    std::process::Command::new("sh")
        .args(["-c", cmd])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// Runs the section.
pub async fn measure(n: TunnelCounts, dir: &Path) -> TunnelFigures {
    let load_start = sh("cat /proc/loadavg");
    let target_addr = target().await;
    let sshd = Sshd::start().await;
    let ssh_addr = local();
    let process = GatewayProcess::start(Some(ssh_addr)).await;
    let gw = TestGateway::remote(process.addr, None);
    let admin = gw.login("admin", ADMIN_PASSWORD).await;
    gw.connection(
        &admin,
        json!({ "name": "bench-tcp", "protocol": "tcp", "host": "127.0.0.1",
                "port": target_addr.port(), "users": ["admin"] }),
    )
    .await;
    let (status, body) = gw
        .post(
            Some(&admin),
            "/profile/keys",
            json!({ "name": "bench", "public_key": sshd.client_public_key().trim() }),
        )
        .await;
    assert!(status.is_success(), "register key: {status} {body}");

    let key = dir.join("tunnel_id");
    std::fs::write(&key, sshd.client_key()).unwrap();
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let ssh = |port: u16, user: &str, forward: String| {
        let mut cmd = Command::new("ssh");
        cmd.args(["-N", "-F", "/dev/null", "-i"])
            .arg(&key)
            .args([
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "LogLevel=ERROR",
                "-o",
                "BatchMode=yes",
                "-o",
                "ExitOnForwardFailure=yes",
                "-p",
                &port.to_string(),
                "-L",
                &forward,
            ])
            .arg(format!("{user}@127.0.0.1"));
        spawn(&mut cmd)
    };

    let tunnel_at = local();
    // The same build as the gateway's (`BENCH_GATEWAY_BIN` for an A/B of
    // two commits): both ends of the tunnel are one commit's code.
    let bin = std::env::var_os("BENCH_GATEWAY_BIN")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_gatehouse").into());
    let _tunnel = spawn(
        Command::new(bin)
            .args(["tunnel", "bench-tcp", "--for", "bench", "--listen"])
            .arg(tunnel_at.to_string())
            .env("GATEHOUSE_URL", format!("http://{}", process.addr))
            .env("GATEHOUSE_TOKEN", &admin),
    );
    let openssh_at = local();
    let _openssh = ssh(
        sshd.port,
        super::harness::sshd::TARGET_USER,
        format!("{}:127.0.0.1:{}", openssh_at.port(), target_addr.port()),
    );
    let native_at = local();
    let _native = ssh(
        ssh_addr.port(),
        "admin",
        format!("{}:bench-tcp:{}", native_at.port(), target_addr.port()),
    );
    let vias = [target_addr, tunnel_at, openssh_at, native_at];
    let floor_at = super::splice_relay::start(super::splice_relay::start(target_addr));
    for (via, path) in vias.iter().zip(PATHS) {
        listening(*via, path).await;
    }

    eprintln!(
        "TCP tunnels: {} rounds of {} MiB bulk and {} round trips on each path…",
        n.rounds,
        n.bulk_bytes >> 20,
        n.pings
    );
    let mut rates = vec![Vec::new(); PATHS.len()];
    let mut paced = vec![Vec::new(); PATHS.len()];
    let mut floor = Vec::new();
    let mut pings = vec![Samples::default(); PATHS.len()];
    let client_pid = _tunnel.id().unwrap().to_string();
    let client_cpu = || super::proc_cpu::cpu_time(&client_pid);
    let (mut tunnel_cpu, mut client_cpu_sum, mut tunnel_bytes) =
        (Duration::ZERO, Duration::ZERO, 0u64);
    let gb = n.bulk_bytes as f64 / 1e9;
    for round in 0..n.rounds {
        for (i, via) in vias.iter().enumerate() {
            let (cpu, client) = (process.cpu_time(), client_cpu());
            rates[i].push(bulk(*via, b'B', n.bulk_bytes).await);
            if i == 1 {
                let (gateway, client) = (process.cpu_time() - cpu, client_cpu() - client);
                tunnel_cpu += gateway;
                client_cpu_sum += client;
                tunnel_bytes += n.bulk_bytes;
                // Each round's own figures, for an A/B of two builds.
                eprintln!(
                    "  round {}: tunnel {:.0} MB/s, direct {:.0} MB/s, {:.2}× direct; CPU per GB: gateway {:.2} s, client {:.2} s",
                    round + 1,
                    rates[1][round] / 1e6,
                    rates[0][round] / 1e6,
                    rates[1][round] / rates[0][round],
                    gateway.as_secs_f64() / gb,
                    client.as_secs_f64() / gb,
                );
            }
            paced[i].push(bulk(*via, b'P', n.paced_bytes).await);
            ping_pong(*via, n.pings / n.rounds.max(1), &mut pings[i]).await;
        }
        floor.push(bulk(floor_at, b'B', n.bulk_bytes).await);
        eprintln!(
            "  round {}: two splice relays {:.0} MB/s, {:.2}× direct",
            round + 1,
            floor[round] / 1e6,
            floor[round] / rates[0][round]
        );
    }
    for (i, path) in PATHS.iter().enumerate() {
        eprintln!(
            "  {path}: {:.0} MB/s ({:.0} MB/s paced), round trip p50 {:.3} ms p99 {:.3} ms",
            median(rates[i].clone()) / 1e6,
            median(paced[i].clone()) / 1e6,
            pings[i].p50_ms(),
            pings[i].p99_ms()
        );
    }
    TunnelFigures {
        date: sh("date -u '+%Y-%m-%d %H:%M'"),
        load_start,
        load_end: sh("cat /proc/loadavg"),
        commit: sh("git rev-parse --short=10 HEAD"),
        bulk_bytes: n.bulk_bytes,
        rates,
        paced,
        floor,
        pings,
        tunnel_cpu_per_gb: tunnel_cpu.as_secs_f64() / (tunnel_bytes.max(1) as f64 / 1e9),
        client_cpu_per_gb: client_cpu_sum.as_secs_f64() / (tunnel_bytes.max(1) as f64 / 1e9),
    }
}

impl TunnelFigures {
    /// The median over rounds of path `i`'s rate divided by path `j`'s in
    /// the same round: a slow spell on this shared machine hits a round's
    /// paths alike.
    fn ratio(rates: &[Vec<f64>], i: usize, j: usize) -> f64 {
        median(rates[i].iter().zip(&rates[j]).map(|(a, b)| a / b).collect())
    }

    pub fn render(&self) -> String {
        let verdict = |met: bool| if met { "met" } else { "**missed**" };
        let mut s = format!(
            "{HEADING}\n\nWritten by `BENCH_ONLY=tunnels bench/run` (or the full run); method in bench/README.md. \
             One target of the bench's own on loopback: a counted download of {} MiB per run (timed from the first byte to the last) and 32-byte ping-pongs. \
             Paths: direct TCP; `gatehouse tunnel` (the release CLI) → the gateway's tunnel WebSocket (`gatehouse serve`, release) → target; \
             OpenSSH `ssh -N -L` → a real `sshd` (default cipher, ChaCha20-Poly1305) → target; `ssh -N -L PORT:bench-tcp:PORT` → the gateway's SSH listener (AES-GCM) → target. \
             Client, gateway, sshd and target share the machine's 2 cores.\n\n\
             | run | |\n|---|---|\n| date (UTC) | {} |\n| load average at start | {} |\n| load average at end | {} |\n| gatehouse | {} |\n\n",
            self.bulk_bytes >> 20,
            self.date,
            self.load_start,
            self.load_end,
            self.commit
        );
        s += &format!(
            "| measure | {} |\n|---|---|---|---|---|\n",
            PATHS.join(" | ")
        );
        let row = |name: &str, cells: Vec<String>| format!("| {name} | {} |\n", cells.join(" | "));
        s += &row(
            "bulk download, MB/s (median of rounds)",
            self.rates
                .iter()
                .map(|r| format!("{:.0}", median(r.clone()) / 1e6))
                .collect(),
        );
        s += &row(
            "bulk download, × direct (median of per-round ratios)",
            (0..PATHS.len())
                .map(|i| format!("{:.2}×", Self::ratio(&self.rates, i, 0)))
                .collect(),
        );
        s += &row(
            "paced download (target sends at 1 Gbit/s), MB/s (median of rounds)",
            self.paced
                .iter()
                .map(|r| format!("{:.0}", median(r.clone()) / 1e6))
                .collect(),
        );
        s += &row(
            "paced download, × direct (median of per-round ratios)",
            (0..PATHS.len())
                .map(|i| format!("{:.2}×", Self::ratio(&self.paced, i, 0)))
                .collect(),
        );
        s += &row(
            "round trip p50",
            self.pings
                .iter()
                .map(|p| format!("{:.3} ms", p.p50_ms()))
                .collect(),
        );
        s += &row(
            "round trip p99",
            self.pings
                .iter()
                .map(|p| format!("{:.3} ms", p.p99_ms()))
                .collect(),
        );
        let direct = self.pings[0].p50_ms();
        s += &row(
            "added round trip p50 (over direct)",
            self.pings
                .iter()
                .map(|p| format!("{:.3} ms", p.p50_ms() - direct))
                .collect(),
        );
        let vs_direct = Self::ratio(&self.rates, 1, 0);
        let paced_vs_direct = Self::ratio(&self.paced, 1, 0);
        let vs_ssh = Self::ratio(&self.rates, 1, 2);
        let added = self.pings[1].p50_ms() - direct;
        let floor = Self::ratio(&[self.floor.clone(), self.rates[0].clone()], 0, 1);
        s += &format!(
            "\n| target | figure | |\n|---|---|---|\n\
             | `gatehouse tunnel` bulk ≥ 0.9× direct (loopback: CPU-bound; two bare relays reach {floor:.2}×) | {vs_direct:.2}× | {} |\n\
             | `gatehouse tunnel` bulk ≥ 0.9× direct (paced at 1 Gbit/s) | {paced_vs_direct:.2}× | {} |\n\
             | `gatehouse tunnel` bulk ≥ 1.2× OpenSSH `ssh -L` | {vs_ssh:.2}× | {} |\n\
             | `gatehouse tunnel` added round trip ≤ 0.3 ms p50 | {added:.3} ms | {} |\n\
             | gateway CPU per GB through `gatehouse tunnel` | {:.2} s | — |\n\
             | client (`gatehouse tunnel`) CPU per GB | {:.2} s | — |\n\n",
            verdict(vs_direct >= 0.9),
            verdict(paced_vs_direct >= 0.9),
            verdict(vs_ssh >= 1.2),
            verdict(added <= 0.3),
            self.tunnel_cpu_per_gb,
            self.client_cpu_per_gb,
        );
        s += &format!(
            "Two bare relays in a row — each passes bytes on in the kernel (`splice` through a pipe: \
             no byte copied through user space, no framing, no encryption, no accounting; \
             bench/compare/splice_relay.rs), as a tunnel's two hops (`gatehouse tunnel` → gateway → \
             target) — deliver {:.0} MB/s, {floor:.2}× direct (median of per-round ratios; rounds: \
             {}): two hops on this 2-core loopback cost that much, whatever carries them. Where a link \
             sets the pace (the paced row), the tunnel adds nothing.\n\n",
            median(self.floor.clone()) / 1e6,
            self.floor
                .iter()
                .zip(&self.rates[0])
                .map(|(f, d)| format!("{:.2}", f / d))
                .collect::<Vec<_>>()
                .join(", "),
        );
        s
    }
}
