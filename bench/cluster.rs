//! The cluster's figures (issue 20): three `gatehouse serve` processes on
//! one real PostgreSQL (crates/pgtest), with tunnel sessions as the
//! lightweight load (one WebSocket each, to a TCP echo target that is
//! never dialled: a tunnel session opens before its first TCP connection).
//!
//! - **end across nodes**: node A ends sessions that nodes B and C relay;
//!   the time from A's `POST /sessions/end` to each client's socket
//!   closing — for one session (many rounds) and for 1,000 spread over
//!   the three nodes (one call), p50/p99;
//! - **list and search across nodes**: `GET /sessions?limit=50` and a
//!   search on every node while the three hold 30,000 sessions (10,000 a
//!   node). The client sockets of those are held by copies of this bench
//!   (re-executed as *holders*, [`HOLDER`]), at most [`PER_HOLDER`] each:
//!   one process may not open more files than the open-file limit (20,000
//!   here, and raising it is refused), and each node holds one socket per
//!   session, so it needs 10,000 and some.
//!
//! Writes `$BENCH_CLUSTER_RESULTS` (default `bench/CLUSTER.md`) and prints
//! it. Run through `BENCH_ONLY=cluster bench/run` (as root: the PostgreSQL
//! server runs as the `postgres` user); `BENCH_QUICK=1` for a smoke run.

#![allow(missing_docs, unreachable_pub)]

#[path = "compare/stats.rs"]
#[allow(dead_code)]
mod stats;

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};
use stats::Samples;
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const ADMIN_PASSWORD: &str = "admin-password-for-the-cluster-bench";
const NODES: [&str; 3] = ["gw-a", "gw-b", "gw-c"];

struct Counts {
    one_rounds: usize,
    many: usize,
    many_rounds: usize,
    list_sessions: usize,
    list_rounds: usize,
}

impl Counts {
    fn from_env() -> Counts {
        if std::env::var_os("BENCH_QUICK").is_some() {
            Counts {
                one_rounds: 20,
                many: 300,
                many_rounds: 1,
                list_sessions: 1_500,
                list_rounds: 20,
            }
        } else {
            Counts {
                one_rounds: 200,
                many: 1_000,
                many_rounds: 3,
                list_sessions: most_sessions(),
                list_rounds: 100,
            }
        }
    }
}

/// 30,000 (10,000 a node), or `BENCH_CLUSTER_SESSIONS`.
fn most_sessions() -> usize {
    std::env::var("BENCH_CLUSTER_SESSIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(30_000)
}

/// Set in a holder's environment: `BASE TOKEN CONNECTION COUNT`.
const HOLDER: &str = "BENCH_CLUSTER_HOLD";

/// Sessions one holder process opens at most: well under the open-file
/// limit of 20,000, with room for the runtime's own files.
const PER_HOLDER: usize = 10_000;

/// This process's open-file limit.
fn open_file_limit() -> usize {
    std::process::Command::new("sh")
        .args(["-c", "ulimit -n"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse().ok())
        .unwrap_or(1024)
}

/// A holder: opens its sessions on one node, says `held N` on stdout, and
/// keeps them until its stdin closes (the bench ended or died).
async fn hold(spec: &str) {
    let mut parts = spec.split(' ');
    let (Some(base), Some(token), Some(conn), Some(count)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        panic!("{HOLDER}: BASE TOKEN CONNECTION COUNT");
    };
    let count: usize = count.parse().unwrap();
    let node = Node {
        _child: None,
        pid: 0,
        base: base.to_owned(),
    };
    let held = open_many(std::slice::from_ref(&node), &[0], token, conn, count).await;
    println!("held {}", held.len());
    let mut stdin = tokio::io::stdin();
    let mut buf = [0u8; 64];
    while tokio::io::AsyncReadExt::read(&mut stdin, &mut buf)
        .await
        .is_ok_and(|n| n > 0)
    {}
}

/// Holder processes, each keeping up to [`PER_HOLDER`] sessions open.
struct Holders {
    children: Vec<Child>,
}

/// Opens `n` sessions spread evenly over `nodes` in holder processes, at
/// once; returns when every holder holds its share.
async fn hold_many(nodes: &[Node], token: &str, conn: &str, n: usize) -> Holders {
    let per_holder = PER_HOLDER.min(open_file_limit().saturating_sub(512)).max(1);
    let mut children = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        let mut share = n / nodes.len() + usize::from(i < n % nodes.len());
        while share > 0 {
            let take = share.min(per_holder);
            share -= take;
            let child = Command::new(std::env::current_exe().unwrap())
                .env(HOLDER, format!("{} {token} {conn} {take}", node.base))
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .unwrap();
            children.push(child);
        }
    }
    for child in &mut children {
        let out = child.stdout.take().unwrap();
        let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(out));
        let line = lines.next_line().await.unwrap().unwrap_or_default();
        assert!(line.starts_with("held "), "a holder failed: {line:?}");
    }
    Holders { children }
}

/// How many files `pid` has open.
fn open_files(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// One gateway process.
struct Node {
    _child: Option<Child>,
    pid: u32,
    base: String,
}

async fn start_node(url: &str, name: &str, key: &str) -> (tempfile::TempDir, Node) {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["serve", "--data-dir"])
        .arg(dir.path())
        .args([
            "--http",
            &format!("127.0.0.1:{port}"),
            "--ssh",
            "127.0.0.1:0",
            "--node",
            name,
        ])
        .args(["--database-url", url])
        .env("GATEHOUSE_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("GATEHOUSE_SECRET_KEY", key)
        .env("GATEHOUSE_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    for _ in 0..300 {
        if http.get(format!("{base}/healthz")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (
        dir,
        Node {
            pid: child.id().unwrap_or(0),
            _child: Some(child),
            base,
        },
    )
}

/// An open tunnel session: its socket is read by a task that reports when
/// the gateway closed it.
struct Session {
    closed: tokio::sync::oneshot::Receiver<Instant>,
}

async fn open_session(node: &Node, token: &str, connection: &str) -> Session {
    let ws = node.base.replace("http://", "ws://");
    let mut req = format!("{ws}/api/v1/connections/{connection}/tunnel")
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("a tunnel opens");
    let (tx, closed) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        // Reading answers the gateway's pings; the end is the socket closing.
        while let Some(Ok(msg)) = socket.next().await {
            if msg.is_close() {
                break;
            }
        }
        let _ = tx.send(Instant::now());
    });
    Session { closed }
}

async fn list(http: &reqwest::Client, node: &Node, token: &str, query: &str) -> Value {
    http.get(format!("{}/api/v1/sessions?{query}", node.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Waits until `node` lists `n` sessions; returns the ids of (at most) the
/// first 1,000, the API's largest page.
async fn until_listed(http: &reqwest::Client, node: &Node, token: &str, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let body = list(http, node, token, "limit=1000").await;
        if body["total"].as_u64() == Some(n as u64) {
            return body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["id"].as_str().unwrap().to_owned())
                .collect();
        }
        assert!(
            Instant::now() < deadline,
            "{} never listed {n} sessions ({})",
            node.base,
            body["total"]
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn end(http: &reqwest::Client, node: &Node, token: &str, ids: &[String]) -> Value {
    http.post(format!("{}/api/v1/sessions/end", node.base))
        .bearer_auth(token)
        .json(&json!({ "ids": ids }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Opens `n` sessions spread over the nodes (`only`: on those), in waves.
async fn open_many(
    nodes: &[Node],
    only: &[usize],
    token: &str,
    conn: &str,
    n: usize,
) -> Vec<Session> {
    let mut sessions = Vec::with_capacity(n);
    for wave in (0..n).collect::<Vec<_>>().chunks(200) {
        let opened = futures_util::future::join_all(
            wave.iter()
                .map(|i| open_session(&nodes[only[i % only.len()]], token, conn)),
        )
        .await;
        sessions.extend(opened);
    }
    sessions
}

#[tokio::main]
async fn main() {
    if let Ok(spec) = std::env::var(HOLDER) {
        return hold(&spec).await;
    }
    let n = Counts::from_env();
    let pg = tokio::task::spawn_blocking(gatehouse_pgtest::Postgres::start)
        .await
        .unwrap();
    let url = pg.create_database();
    let key = {
        use base64::Engine;
        let mut bytes = [0u8; 32];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (std::process::id() as u8).wrapping_add(i as u8 * 7);
        }
        base64::engine::general_purpose::STANDARD.encode(bytes)
    };
    let mut dirs = Vec::new();
    let mut nodes = Vec::new();
    for name in NODES {
        let (dir, node) = start_node(&url, name, &key).await;
        dirs.push(dir);
        nodes.push(node);
    }
    let http = reqwest::Client::new();
    let login: Value = http
        .post(format!("{}/api/v1/auth/login", nodes[0].base))
        .json(&json!({ "username": "admin", "password": ADMIN_PASSWORD }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"].as_str().expect("admin logs in").to_owned();
    // The target is never dialled: no TCP connection goes through the tunnels.
    let created: Value = http
        .post(format!("{}/api/v1/connections", nodes[0].base))
        .bearer_auth(&token)
        .json(&json!({ "name": "echo", "protocol": "tcp", "host": "127.0.0.1", "port": 9, "users": ["admin"] }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let conn = created["id"].as_str().expect("a connection").to_owned();
    let a = &nodes[0];

    // One session on B or C, ended from A: call to socket closed.
    eprintln!(
        "cluster: end across nodes, one session, {} rounds…",
        n.one_rounds
    );
    let mut one = Samples::default();
    let mut one_answered = Samples::default();
    for round in 0..n.one_rounds {
        let owner = &nodes[1 + round % 2];
        let session = open_session(owner, &token, &conn).await;
        let ids = until_listed(&http, a, &token, 1).await;
        let started = Instant::now();
        let body = end(&http, a, &token, &ids).await;
        one_answered.push(started.elapsed());
        assert_eq!(body["ended"].as_array().map(Vec::len), Some(1), "{body}");
        let closed = session.closed.await.unwrap();
        one.push(closed - started);
        until_listed(&http, a, &token, 0).await;
    }

    // 1,000 over the three nodes, ended from A in one call.
    eprintln!(
        "cluster: end across nodes, {} sessions, {} rounds…",
        n.many, n.many_rounds
    );
    let mut many = Samples::default();
    let mut many_last = Samples::default();
    let mut many_answered = Samples::default();
    for _ in 0..n.many_rounds {
        let sessions = open_many(&nodes, &[0, 1, 2], &token, &conn, n.many).await;
        let ids = until_listed(&http, a, &token, n.many).await;
        let started = Instant::now();
        let body = end(&http, a, &token, &ids).await;
        many_answered.push(started.elapsed());
        assert_eq!(
            body["ended"].as_array().map(Vec::len),
            Some(n.many),
            "{}",
            body["missing"]
        );
        let mut last = Duration::ZERO;
        for s in sessions {
            let took = s.closed.await.unwrap() - started;
            last = last.max(took);
            many.push(took);
        }
        many_last.push(last);
        until_listed(&http, a, &token, 0).await;
    }

    // List and search on every node with as many sessions as fit.
    eprintln!(
        "cluster: list and search across nodes at {} sessions…",
        n.list_sessions
    );
    let opened = Instant::now();
    let holders = hold_many(&nodes, &token, &conn, n.list_sessions).await;
    let all_open = opened.elapsed();
    let mut listed_after = Vec::new();
    for node in &nodes {
        until_listed(&http, node, &token, n.list_sessions).await;
        listed_after.push(opened.elapsed());
    }
    let node_files: Vec<usize> = nodes.iter().map(|node| open_files(node.pid)).collect();
    let mut lists = Samples::default();
    let mut searches = Samples::default();
    for round in 0..n.list_rounds {
        let node = &nodes[round % 3];
        let t = Instant::now();
        let body = list(&http, node, &token, "limit=50&sort=-started_at").await;
        lists.push(t.elapsed());
        assert_eq!(body["total"].as_u64(), Some(n.list_sessions as u64));
        // A search that matches one node's sessions: a third of them.
        let t = Instant::now();
        let body = list(
            &http,
            node,
            &token,
            &format!("q={}&limit=50", NODES[(round + 1) % 3]),
        )
        .await;
        searches.push(t.elapsed());
        assert!(body["total"].as_u64().unwrap_or(0) > 0);
    }

    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let table = format!(
        "# Cluster figures (issue 20)\n\n\
         Three `gatehouse serve` processes (`{profile}` build) on one PostgreSQL {pgv} on this machine, \
         tunnel sessions as the load (one WebSocket each). Written by `cargo bench -p gatehouse --bench cluster` \
         (`BENCH_ONLY=cluster bench/run`){quick}.\n\n\
         | measure | samples | p50 | p99 | target |\n|---|---|---|---|---|\n\
         | end across nodes, 1 session: A's call → client socket closed | {} | {:.1} ms | {:.1} ms | ≤ 200 ms p99: {} |\n\
         | end across nodes, 1 session: A's answer | {} | {:.1} ms | {:.1} ms | |\n\
         | end across nodes, {many} sessions over 3 nodes in one call: call → each socket closed | {} | {:.1} ms | {:.1} ms | ≤ 200 ms p99: {} |\n\
         | … the last socket closed (per call) | {} | {:.1} ms | {:.1} ms | |\n\
         | … A's answer | {} | {:.1} ms | {:.1} ms | |\n\
         | `GET /sessions?limit=50` on any node at {ls} sessions (a third per node) | {} | {:.1} ms | {:.1} ms | |\n\
         | search (`q=NODE`, a third match) on any node at {ls} sessions | {} | {:.1} ms | {:.1} ms | |\n\n\
         Every node listed all {ls} sessions {listed} after the first was opened \
         (all were open after {all_open:.1} s); {holders} holder processes held the client sockets, and the nodes \
         had {files} files open.\n",
        one.len(),
        one.p50_ms(),
        one.p99_ms(),
        met(one.p99_ms()),
        one_answered.len(),
        one_answered.p50_ms(),
        one_answered.p99_ms(),
        many.len(),
        many.p50_ms(),
        many.p99_ms(),
        met(many.p99_ms()),
        many_last.len(),
        many_last.p50_ms(),
        many_last.p99_ms(),
        many_answered.len(),
        many_answered.p50_ms(),
        many_answered.p99_ms(),
        lists.len(),
        lists.p50_ms(),
        lists.p99_ms(),
        searches.len(),
        searches.p50_ms(),
        searches.p99_ms(),
        profile = if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        pgv = pg_version(),
        quick = if std::env::var_os("BENCH_QUICK").is_some() {
            ", `BENCH_QUICK=1` (small counts)"
        } else {
            ""
        },
        many = n.many,
        ls = n.list_sessions,
        all_open = all_open.as_secs_f64(),
        holders = holders.children.len(),
        files = node_files
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" / "),
        listed = listed_after
            .iter()
            .map(|d| format!("{:.1} s", ms(*d) / 1e3))
            .collect::<Vec<_>>()
            .join(" / "),
    );
    println!("{table}");
    let out = std::env::var("BENCH_CLUSTER_RESULTS").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../bench/CLUSTER.md").to_owned()
    });
    std::fs::write(&out, table).unwrap();
    eprintln!("cluster: wrote {out}");
    drop(holders);
    drop(nodes);
    drop(dirs);
}

fn met(p99_ms: f64) -> &'static str {
    if p99_ms <= 200.0 { "met" } else { "missed" }
}

fn pg_version() -> String {
    std::fs::read_dir("/usr/lib/postgresql")
        .ok()
        .and_then(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .max()
        })
        .unwrap_or_default()
}
