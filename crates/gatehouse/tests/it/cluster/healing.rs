//! PostgreSQL restarted under live sessions (issue 20): the sessions keep
//! relaying, the nodes reconnect, publish again and listen again, a live
//! feed heals without being reopened, and history has every session once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{client, closed_within, echo_for_ops1, node};
use crate::feed::Feed;
use crate::harness::postgres::Postgres;
use crate::harness::{TestGateway, eventually};
use crate::tunnels::Tunnel;

/// Live sessions held through the restart, over two nodes.
const SESSIONS: usize = 50;

/// How long PostgreSQL stays down.
const OUTAGE: Duration = Duration::from_secs(20);

/// Echoes one line through every client.
async fn all_echo(clients: &mut [tokio::net::TcpStream]) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    for (i, stream) in clients.iter_mut().enumerate() {
        let line = format!("n{i:04}\n");
        stream.write_all(line.as_bytes()).await.unwrap();
        let mut back = vec![0u8; line.len()];
        tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut back))
            .await
            .unwrap_or_else(|_| panic!("client {i} got no echo in time"))
            .unwrap();
        assert_eq!(back, line.as_bytes());
    }
}

/// Reads `feed` until an event `name` about session `id` (within `limit`).
async fn feed_shows(feed: &mut Feed, name: &str, id: &str, limit: Duration) -> bool {
    tokio::time::timeout(limit, async {
        loop {
            let (event, data) = feed.next().await;
            let about = |d: &Value| d["id"] == id || d["session"]["id"] == id;
            if event == name && about(&data) {
                return;
            }
        }
    })
    .await
    .is_ok()
}

/// Every live session `gw` lists.
async fn live_ids(gw: &TestGateway, admin: &str) -> Vec<String> {
    let list = gw.sessions(admin, "").await;
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect()
}

/// `/readyz`'s status and body.
async fn readiness(gw: &TestGateway) -> (u16, Value) {
    let resp = reqwest::get(format!("http://{}/readyz", gw.addr))
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

/// `/healthz`'s status.
async fn health(gw: &TestGateway) -> u16 {
    let resp = reqwest::get(format!("http://{}/healthz", gw.addr))
        .await
        .unwrap();
    resp.status().as_u16()
}

#[tokio::test]
async fn a_postgresql_restart_under_live_sessions_loses_nothing_and_the_feed_heals() {
    // A server of this test's own: the shared one serves other tests.
    let pg = Arc::new(tokio::task::spawn_blocking(Postgres::start).await.unwrap());
    let url = {
        let pg = pg.clone();
        tokio::task::spawn_blocking(move || pg.create_database())
            .await
            .unwrap()
    };
    let a = node(&url, "gw-a").await;
    let b = node(&url, "gw-b").await;
    let (admin, ops) = echo_for_ops1(&a).await;

    // Half the sessions on each node.
    let opened = futures_util::future::join_all((0..SESSIONS).map(|i| {
        let gw = if i % 2 == 0 { &a } else { &b };
        let ops = ops.clone();
        async move {
            let tunnel = Tunnel::open(gw, &ops, "echo", &[]).await;
            let stream = client(&tunnel).await;
            (tunnel, stream)
        }
    }))
    .await;
    let (mut tunnels, mut clients): (Vec<Tunnel>, Vec<tokio::net::TcpStream>) =
        opened.into_iter().unzip();
    let all = eventually(Duration::from_secs(10), || async {
        let ids = live_ids(&a, &admin).await;
        (ids.len() == SESSIONS).then_some(ids)
    })
    .await
    .expect("A lists every session");
    let on_b: Vec<String> = b.sessions(&admin, "gw-b").await["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(on_b.len(), SESSIONS / 2);
    let mut feed = Feed::open(&a, &admin).await;
    assert_eq!(feed.next().await.0, "snapshot");

    // PostgreSQL goes down (connections cut, as a restart does).
    let down = Instant::now();
    {
        let pg = pg.clone();
        tokio::task::spawn_blocking(move || pg.stop())
            .await
            .unwrap();
    }
    // The sessions keep relaying meanwhile.
    all_echo(&mut clients).await;
    // One ends while the database is away: its client leaves (the last
    // tunnel is B's).
    let gone_client = clients.pop().unwrap();
    let gone_tunnel = tunnels.pop().unwrap();
    drop((gone_client, gone_tunnel));
    // Longer than a node's stale time (10 s) and the pool's wait for a
    // connection (10 s): no heartbeat, publish or history write gets through.
    tokio::time::sleep(OUTAGE).await;
    all_echo(&mut clients).await;
    // A load balancer asking A meanwhile hears it is not ready (its store
    // does not answer), though it is alive and its sessions relay.
    let ready = readiness(&a).await;
    assert_eq!(ready.0, 503, "{}", ready.1);
    assert_eq!(ready.1["error"]["code"], "not_ready");
    assert_eq!(health(&a).await, 200);
    {
        let pg = pg.clone();
        tokio::task::spawn_blocking(move || pg.start_again())
            .await
            .unwrap();
    }
    println!(
        "cluster: PostgreSQL was down {:?} under {SESSIONS} live sessions",
        down.elapsed()
    );
    all_echo(&mut clients).await;
    // Ready again once the store answers.
    let ready = eventually(Duration::from_secs(15), || async {
        let ready = readiness(&a).await;
        (ready.0 == 200).then_some(ready.1)
    })
    .await
    .expect("A is ready again after PostgreSQL came back");
    assert_eq!(ready, json!({ "status": "ready" }));
    // B too, once it hears the other nodes again: until its LISTEN
    // connection is back, End Sessions calls sent to it would be lost, and
    // it says so.
    let ready = eventually(Duration::from_secs(15), || async {
        let ready = readiness(&b).await;
        (ready.0 == 200).then_some(ready.1)
    })
    .await
    .expect("B is ready again after PostgreSQL came back");
    assert_eq!(ready, json!({ "status": "ready" }));

    // Which session ended: the one B no longer holds.
    let gone = eventually(Duration::from_secs(20), || async {
        let now = b.sessions(&admin, "gw-b").await;
        let now: Vec<&str> = now["items"]
            .as_array()?
            .iter()
            .filter_map(|s| s["id"].as_str())
            .collect();
        let gone: Vec<&String> = on_b
            .iter()
            .filter(|id| !now.contains(&id.as_str()))
            .collect();
        (now.len() == SESSIONS / 2 - 1 && gone.len() == 1).then(|| gone[0].clone())
    })
    .await
    .expect("B lists all but the ended session once the database is back");
    // A's feed, never reopened, hears of the end and of a new session on B.
    assert!(
        feed_shows(&mut feed, "ended", &gone, Duration::from_secs(15)).await,
        "A's feed missed the end of {gone}"
    );
    let healed = Instant::now();
    let newer = Tunnel::open(&b, &ops, "echo", &[]).await;
    clients.push(client(&newer).await);
    tunnels.push(newer);
    let new_id = eventually(Duration::from_secs(10), || async {
        let ids = live_ids(&b, &admin).await;
        ids.into_iter().find(|id| !all.contains(id) && *id != gone)
    })
    .await
    .expect("a new session on B");
    assert!(
        feed_shows(&mut feed, "started", &new_id, Duration::from_secs(5)).await,
        "A's feed missed a session started on B after the restart"
    );
    println!(
        "cluster: after the restart, A's feed showed a session started on B {:?} after it was opened",
        healed.elapsed()
    );

    // End Sessions from A reaches B again (B listens again).
    let live = live_ids(&a, &admin).await;
    assert_eq!(live.len(), SESSIONS, "{live:?}");
    let (status, body) = a
        .post(Some(&admin), "/sessions/end", json!({ "ids": live }))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["ended"].as_array().unwrap().len(), &body["missing"]),
        (SESSIONS, &json!([])),
        "{body}"
    );
    for stream in &mut clients {
        assert!(closed_within(stream, Duration::from_secs(10)).await);
    }

    // History has every session exactly once, each with its true end. The
    // ends reached during the outage are written by the history writer's
    // retries (for up to 60 s), which a loaded machine slows.
    let mut expected: Vec<String> = all.clone();
    expected.push(new_id.clone());
    let rows = eventually(Duration::from_secs(30), || async {
        let (_, body) = a.get(Some(&admin), "/history?limit=1000").await;
        let rows = body["items"].as_array()?.clone();
        (rows.len() >= expected.len() && rows.iter().all(|r| !r["ended_at"].is_null()))
            .then_some(rows)
    })
    .await;
    let (_, body) = a.get(Some(&admin), "/history?limit=1000").await;
    let rows = rows.unwrap_or_else(|| panic!("history never had every session ended: {body}"));
    assert_eq!(rows.len(), expected.len(), "{rows:?}");
    for id in &expected {
        let mine: Vec<&Value> = rows.iter().filter(|r| r["id"] == id.as_str()).collect();
        assert_eq!(mine.len(), 1, "{id}: {mine:?}");
        let reason = mine[0]["end_reason"].as_str();
        if *id == gone {
            assert_eq!(reason, Some("client_closed"), "{id}");
        } else {
            assert_eq!(reason, Some("ended_by_admin"), "{id}");
        }
    }
    drop(tunnels);
}

#[tokio::test]
async fn a_lock_no_node_heard_of_ends_the_users_sessions_once_the_nodes_listen_again() {
    let (a, b, url) = super::two_nodes().await;
    let (admin, ops) = echo_for_ops1(&a).await;
    let on_a = Tunnel::open(&a, &ops, "echo", &[]).await;
    let on_b = Tunnel::open(&b, &ops, "echo", &[]).await;
    let mut clients = vec![client(&on_a).await, client(&on_b).await];
    all_echo(&mut clients).await;

    // The lock is written while no node hears of it — as when it was made
    // during a gap in their listening: straight to the database, no NOTIFY.
    let pg = Postgres::shared();
    pg.sql(
        &url,
        "UPDATE users SET disabled = true WHERE username = 'ops1'",
    );
    all_echo(&mut clients).await;
    // Both nodes' LISTEN connections are cut, as a restart does. Each
    // listens again and, not knowing what it missed, re-checks its
    // sessions against the accounts as they stand.
    let cut = pg.sql(
        &url,
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = current_database() AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()",
    );
    assert_eq!(cut.trim(), "2", "one listening connection per node");
    for stream in &mut clients {
        assert!(closed_within(stream, Duration::from_secs(10)).await);
    }
    for gw in [&a, &b] {
        let ready = eventually(Duration::from_secs(10), || async {
            let ready = readiness(gw).await;
            (ready.0 == 200).then_some(ready.1)
        })
        .await;
        assert!(ready.is_some(), "a node listens again");
    }
    let rows = eventually(Duration::from_secs(10), || async {
        let (_, body) = a.get(Some(&admin), "/history?limit=10").await;
        let rows = body["items"].as_array()?.clone();
        (rows.len() == 2 && rows.iter().all(|r| !r["ended_at"].is_null())).then_some(rows)
    })
    .await
    .expect("both sessions end in history");
    for row in rows {
        assert_eq!(row["end_reason"], "user_locked", "{row}");
    }
    drop((on_a, on_b));
}
