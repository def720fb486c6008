//! Several gateway nodes on one real PostgreSQL (issue 20).

mod across;
mod browser;
mod desktops;
mod healing;
mod keys;

use std::time::Duration;

use secrecy::SecretString;
use serde_json::json;

use crate::feed::Feed;
use crate::harness::postgres::Postgres;
use crate::harness::{ADMIN_PASSWORD, TestGateway, eventually, test_config};
use crate::restart::GatewayProcess;
use crate::tunnels::Tunnel;

/// The secret key the in-process nodes of a test share (base64 of 32 bytes).
pub(super) const SHARED_KEY: &str = "c2hhcmVkLWNsdXN0ZXIta2V5LWZvci10ZXN0cy0zMiE=";

/// A database of its own on the shared PostgreSQL, for one test's nodes.
pub(super) async fn fresh_database() -> String {
    let pg = Postgres::shared();
    tokio::task::spawn_blocking(|| pg.create_database())
        .await
        .unwrap()
}

/// Two nodes, `gw-a` and `gw-b`, on a [`fresh_database`], and its URL.
pub(super) async fn two_nodes() -> (TestGateway, TestGateway, String) {
    let url = fresh_database().await;
    let a = node(&url, "gw-a").await;
    let b = node(&url, "gw-b").await;
    (a, b, url)
}

/// A gateway named `node` on the PostgreSQL database `url`, holding the
/// secret key every node of the test shares.
pub(super) async fn node(url: &str, node: &str) -> TestGateway {
    node_with_key(url, node, SHARED_KEY).await
}

/// [`node`] with its own secret `key` file.
pub(super) async fn node_with_key(url: &str, node: &str, key: &str) -> TestGateway {
    let url = url.to_owned();
    let node = node.to_owned();
    let key = key.to_owned();
    TestGateway::spawn_with(move |c| {
        std::fs::write(c.data_dir.join("secret.key"), key).unwrap();
        c.database_url = Some(SecretString::from(url));
        c.node = node;
    })
    .await
}

#[tokio::test]
async fn nodes_on_one_postgres_share_accounts_and_keep_one_admin_between_them() {
    let url = fresh_database().await;
    let a = node(&url, "gw-a").await;
    // The second node finds the administrator the first one created.
    let b = node(&url, "gw-b").await;
    let admin_a = a.admin().await;
    b.login("admin", ADMIN_PASSWORD).await;
    // An account made on A logs in on B; A's token works on B too.
    a.user(&admin_a, "root2", "admin").await;
    b.login("root2", "root2-password").await;
    let (status, me) = b.get(Some(&admin_a), "/auth/me").await;
    assert_eq!(
        (status.as_u16(), me["username"].as_str()),
        (200, Some("admin"))
    );

    // Two administrators, each on their own node, lock the other at the
    // same moment: the database lets exactly one of them through.
    let admin_id = a.user_id(&admin_a, "admin").await;
    let root2_id = a.user_id(&admin_a, "root2").await;
    for round in 0..5 {
        let admin_b = b.login("admin", ADMIN_PASSWORD).await;
        let root2_a = a.login("root2", "root2-password").await;
        let (root2_path, admin_path) = (format!("/users/{root2_id}"), format!("/users/{admin_id}"));
        let ((s1, b1), (s2, b2)) = tokio::join!(
            b.patch(Some(&admin_b), &root2_path, json!({ "disabled": true }),),
            a.patch(Some(&root2_a), &admin_path, json!({ "disabled": true }),),
        );
        // The loser is refused as the last admin or, had the winner's lock
        // landed first, finds its own login gone.
        let statuses = [s1.as_u16(), s2.as_u16()];
        assert_eq!(
            statuses.iter().filter(|s| **s == 200).count(),
            1,
            "round {round}: {s1} {b1} / {s2} {b2}"
        );
        let (winner, loser_id) = if s1.as_u16() == 200 {
            (&admin_b, &root2_id)
        } else {
            (&root2_a, &admin_id)
        };
        let (_, users) = b.get(Some(winner), "/users").await;
        let enabled_admins = users
            .as_array()
            .or(users["items"].as_array())
            .unwrap()
            .iter()
            .filter(|u| u["disabled"] == false)
            .filter(|u| u["roles"].as_array().unwrap().contains(&json!("admin")))
            .count();
        assert_eq!(enabled_admins, 1, "round {round}: {users}");
        let (status, body) = a
            .patch(
                Some(winner),
                &format!("/users/{loser_id}"),
                json!({ "disabled": false }),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
}

#[tokio::test]
async fn each_node_heartbeats_its_own_row_and_a_live_nodes_name_is_refused() {
    let (a, b, url) = two_nodes().await;
    let store = gatehouse_store::Store::connect(&url).await.unwrap();
    let names = |nodes: Vec<gatehouse_store::NodeRecord>| {
        nodes.into_iter().map(|n| n.name).collect::<Vec<_>>()
    };
    assert_eq!(names(store.nodes().await.unwrap()), ["gw-a", "gw-b"]);
    // The heartbeat moves on while the node runs.
    let first = store.nodes().await.unwrap()[1].heartbeat_at;
    let beat = eventually(Duration::from_secs(10), || {
        let store = store.clone();
        async move {
            let now = store.nodes().await.unwrap()[1].heartbeat_at;
            (now > first).then_some(now)
        }
    })
    .await;
    assert!(beat.is_some(), "gw-b never heartbeat");

    // A second process under a live node's name waits out one stale
    // period, sees the heartbeat go on, and refuses to start.
    let mut config = test_config(b.data_dir.path());
    config.database_url = Some(SecretString::from(url.clone()));
    config.node = "gw-b".into();
    let started = std::time::Instant::now();
    let refused = gatehouse::app::Application::build(config, None, None).await;
    let error = format!("{:#}", refused.err().expect("refused"));
    assert!(error.contains("node name \"gw-b\""), "{error}");
    assert!(started.elapsed() >= gatehouse::node::STALE_AFTER);

    // A clean stop gives the row up.
    a.shut_down();
    assert!(a.stopped_within(Duration::from_secs(10)).await);
    assert_eq!(names(store.nodes().await.unwrap()), ["gw-b"]);
}

/// A TCP echo server on loopback: the lightest real target a tunnel
/// session can carry.
pub(super) async fn echo_server() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = stream.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

/// A client through `tunnel`, after one echoed round trip.
/// On `gw`'s database: the administrator's token, and `ops1`'s, who is
/// granted the tcp connection `echo` to an [`echo_server`] of its own.
pub(super) async fn echo_for_ops1(gw: &TestGateway) -> (String, String) {
    let admin = gw.admin().await;
    gw.user(&admin, "ops1", "user").await;
    let echo = echo_server().await;
    gw.connection(
        &admin,
        json!({ "name": "echo", "protocol": "tcp", "host": "127.0.0.1", "port": echo.port(), "users": ["ops1"] }),
    )
    .await;
    let ops = gw.login("ops1", "ops1-password").await;
    (admin, ops)
}

pub(super) async fn client(tunnel: &Tunnel) -> tokio::net::TcpStream {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(tunnel.local).await.unwrap();
    stream.write_all(b"ping\n").await.unwrap();
    let mut back = [0u8; 5];
    tokio::time::timeout(Duration::from_secs(10), stream.read_exact(&mut back))
        .await
        .expect("echo in time")
        .unwrap();
    assert_eq!(&back, b"ping\n");
    stream
}

/// Waits until the client's socket is closed by the far side; false if it
/// is still open after `limit`.
pub(super) async fn closed_within(stream: &mut tokio::net::TcpStream, limit: Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 64];
    tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

/// The one live session on `node` (as `gw` lists every node's) that is not
/// in `known`.
async fn new_session_on(gw: &TestGateway, admin: &str, node: &str, known: &[String]) -> String {
    let found = eventually(Duration::from_secs(10), || async {
        let list = gw.sessions(admin, "").await;
        list["items"]
            .as_array()?
            .iter()
            .filter(|s| s["node"] == node)
            .filter_map(|s| s["id"].as_str())
            .find(|id| !known.iter().any(|k| k == id))
            .map(str::to_owned)
    })
    .await;
    found.unwrap_or_else(|| panic!("no new session on {node}"))
}

/// The `end_reason` of `session` in `gw`'s history, once it has one.
async fn end_reason(
    gw: &TestGateway,
    admin: &str,
    session: &str,
    limit: Duration,
) -> Option<String> {
    eventually(limit, || async {
        let (_, body) = gw.get(Some(admin), "/history?limit=1000").await;
        body["items"]
            .as_array()?
            .iter()
            .find(|r| r["id"] == session)?["end_reason"]
            .as_str()
            .map(str::to_owned)
    })
    .await
}

/// Starts `gatehouse serve` as node `name` on `url`, sharing `key`.
async fn node_process(
    url: &str,
    name: &str,
    key: &std::path::Path,
) -> (tempfile::TempDir, GatewayProcess) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(key, dir.path().join("secret.key")).unwrap();
    let url = std::ffi::OsString::from(url);
    let extra = [std::ffi::OsStr::new("--database-url"), url.as_os_str()];
    let process = GatewayProcess::start_node(dir.path(), name, &extra, None).await;
    (dir, process)
}

#[tokio::test]
async fn three_node_processes_show_one_active_sessions_view_end_each_others_sessions_and_reap_a_killed_one()
 {
    let url = fresh_database().await;
    // The secret key every node shares, made by a first throwaway start.
    let key_dir = tempfile::tempdir().unwrap();
    gatehouse_access::SecretBox::load_or_create(&key_dir.path().join("secret.key")).unwrap();
    let key = key_dir.path().join("secret.key");
    let (_da, a) = node_process(&url, "gw-a", &key).await;
    let (_db, b) = node_process(&url, "gw-b", &key).await;
    let (dc, mut c) = node_process(&url, "gw-c", &key).await;
    let (a, b) = (&a.gw, &b.gw);
    let (admin, ops) = echo_for_ops1(a).await;

    // A session on each node; A's live feed sees B's within a second of B
    // listing it.
    let mut feed = Feed::open(a, &admin).await;
    assert_eq!(feed.next().await.0, "snapshot");
    // Read as it comes, so each `started` is timed when it arrives.
    let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
    let reader = tokio::spawn(async move {
        loop {
            let (name, data) = feed.next().await;
            if name == "started" {
                let id = data["id"].as_str().unwrap_or_default().to_owned();
                let _ = seen_tx.send((id, std::time::Instant::now()));
            }
        }
    });
    let ta = Tunnel::open(a, &ops, "echo", &[]).await;
    let _ca = client(&ta).await;
    let sa = new_session_on(a, &admin, "gw-a", &[]).await;
    let tb = Tunnel::open(b, &ops, "echo", &[]).await;
    let mut cb = client(&tb).await;
    let listed_on_b = {
        let sb = new_session_on(b, &admin, "gw-b", &[]).await;
        (sb, std::time::Instant::now())
    };
    let (sb, on_b) = listed_on_b;
    let seen_on_a = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match seen.recv().await {
                Some((id, at)) if id == sb => return at,
                Some(_) => {}
                None => panic!("A's feed ended"),
            }
        }
    })
    .await
    .expect("B's session on A's feed");
    reader.abort();
    match seen_on_a.checked_duration_since(on_b) {
        Some(lag) => {
            println!(
                "cluster: gw-a's live feed showed gw-b's new session {lag:?} after gw-b's own list did"
            );
            assert!(lag < Duration::from_secs(1), "{lag:?}");
        }
        None => println!(
            "cluster: gw-a's live feed showed gw-b's new session {:?} before gw-b's own list (polled) did",
            on_b - seen_on_a
        ),
    }
    let tc = Tunnel::open(&c.gw, &ops, "echo", &[]).await;
    let mut cc = client(&tc).await;
    let sc = new_session_on(&c.gw, &admin, "gw-c", &[]).await;

    // Every node lists, searches, sorts and pages all three, with `node`.
    for gw in [a, b, &c.gw] {
        let all = eventually(Duration::from_secs(3), || async {
            let list = gw.sessions(&admin, "").await;
            (list["total"] == 3).then_some(list)
        })
        .await
        .expect("every node lists the three sessions");
        let mut nodes: Vec<&str> = all["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["node"].as_str().unwrap())
            .collect();
        nodes.sort_unstable();
        assert_eq!(nodes, ["gw-a", "gw-b", "gw-c"]);
        let found = gw.sessions(&admin, "OPS1%20gw-c%20echo").await;
        assert_eq!(
            (found["total"].as_u64(), &found["items"][0]["id"]),
            (Some(1), &json!(sc))
        );
        let (_, page) = gw
            .get(Some(&admin), "/sessions?sort=-started_at&limit=2&offset=1")
            .await;
        let ids: Vec<&str> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap())
            .collect();
        assert_eq!(
            (page["total"].as_u64(), ids),
            (Some(3), vec![sb.as_str(), sa.as_str()])
        );
    }

    // A ends B's session: B ends it, the client's socket closes, and A
    // answers the true outcome.
    let started = std::time::Instant::now();
    let (status, body) = a
        .post(Some(&admin), "/sessions/end", json!({ "ids": [sb] }))
        .await;
    let answered = started.elapsed();
    assert_eq!(
        (status.as_u16(), &body["ended"]),
        (200, &json!([sb])),
        "{body}"
    );
    assert!(closed_within(&mut cb, Duration::from_secs(5)).await);
    let closed = started.elapsed();
    println!(
        "cluster: end across nodes (gw-a ends a session on gw-b): answered in {answered:?}, client socket closed {closed:?} after the call"
    );
    assert_eq!(
        end_reason(a, &admin, &sb, Duration::from_secs(5))
            .await
            .as_deref(),
        Some("ended_by_admin")
    );
    let (_, again) = a
        .post(Some(&admin), "/sessions/end", json!({ "ids": [sb] }))
        .await;
    assert_eq!(
        (&again["ended"], &again["missing"]),
        (&json!([]), &json!([sb]))
    );
    // A few more, for a spread: ended on A, relayed by C.
    let mut took = vec![closed];
    let mut known = vec![sc.clone()];
    for _ in 0..5 {
        let tunnel = Tunnel::open(&c.gw, &ops, "echo", &[]).await;
        let mut client = client(&tunnel).await;
        let id = new_session_on(a, &admin, "gw-c", &known).await;
        let started = std::time::Instant::now();
        let (_, body) = a
            .post(Some(&admin), "/sessions/end", json!({ "ids": [id] }))
            .await;
        assert_eq!(body["ended"], json!([id]));
        assert!(closed_within(&mut client, Duration::from_secs(5)).await);
        took.push(started.elapsed());
        known.push(id);
    }
    took.sort_unstable();
    println!(
        "cluster: end across nodes, call to client socket closed, {} samples: median {:?}, max {:?}",
        took.len(),
        took[took.len() / 2],
        took[took.len() - 1]
    );

    // Locking ops1 on A ends their sessions on B and C too.
    let tb2 = Tunnel::open(b, &ops, "echo", &[]).await;
    let mut cb2 = client(&tb2).await;
    let sb2 = new_session_on(b, &admin, "gw-b", std::slice::from_ref(&sb)).await;
    let ops_id = a.user_id(&admin, "ops1").await;
    let (status, body) = a
        .post(Some(&admin), &format!("/users/{ops_id}/lock"), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        closed_within(&mut cb2, Duration::from_secs(5)).await,
        "B's session outlived the lock"
    );
    assert!(
        closed_within(&mut cc, Duration::from_secs(5)).await,
        "C's session outlived the lock"
    );
    for s in [&sa, &sb2, &sc] {
        assert_eq!(
            end_reason(b, &admin, s, Duration::from_secs(5))
                .await
                .as_deref(),
            Some("user_locked"),
            "{s}"
        );
    }
    drop((ta, tb, tb2, tc));

    // C dies (kill -9) holding a session: the survivors record it as
    // node_lost within 15 s and drop it from their lists.
    let (status, body) = a
        .post(Some(&admin), &format!("/users/{ops_id}/unlock"), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    let ops = a.login("ops1", "ops1-password").await;
    // Deleting a connection on A ends its sessions on B.
    let echo = echo_server().await;
    let echo2 = a
        .connection(
            &admin,
            json!({ "name": "echo2", "protocol": "tcp", "host": "127.0.0.1", "port": echo.port(), "users": ["ops1"] }),
        )
        .await;
    let tb3 = Tunnel::open(b, &ops, "echo2", &[]).await;
    let mut cb3 = client(&tb3).await;
    let sb3 = new_session_on(a, &admin, "gw-b", &[sb.clone(), sb2.clone()]).await;
    let (status, body) = a
        .delete(Some(&admin), &format!("/connections/{echo2}"))
        .await;
    assert!(status.is_success(), "{status} {body}");
    assert!(
        closed_within(&mut cb3, Duration::from_secs(5)).await,
        "B's session outlived its connection"
    );
    assert_eq!(
        end_reason(a, &admin, &sb3, Duration::from_secs(5))
            .await
            .as_deref(),
        Some("access_revoked")
    );
    drop(tb3);
    let tc2 = Tunnel::open(&c.gw, &ops, "echo", &[]).await;
    let _cc2 = client(&tc2).await;
    let sc2 = new_session_on(a, &admin, "gw-c", &known).await;
    c.child.start_kill().unwrap();
    let killed = std::time::Instant::now();
    c.child.wait().await.unwrap();
    let lost = end_reason(a, &admin, &sc2, Duration::from_secs(20)).await;
    let after = killed.elapsed();
    println!("cluster: a kill -9'd node's session was recorded node_lost {after:?} after the kill");
    assert_eq!(lost.as_deref(), Some("node_lost"));
    assert!(after <= Duration::from_secs(15), "{after:?}");
    for gw in [a, b] {
        let gone = eventually(Duration::from_secs(3), || async {
            let list = gw.sessions(&admin, "gw-c").await;
            (list["total"] == 0).then_some(())
        })
        .await;
        assert!(gone.is_some(), "{}", gw.sessions(&admin, "").await);
    }
    // C comes back: its old session stays ended.
    drop(tc2);
    let c2 = GatewayProcess::start_node(
        dc.path(),
        "gw-c",
        &[
            std::ffi::OsStr::new("--database-url"),
            std::ffi::OsStr::new(&url),
        ],
        None,
    )
    .await;
    assert_eq!(c2.gw.sessions(&admin, "").await["total"], 0);
    assert_eq!(
        end_reason(&c2.gw, &admin, &sc2, Duration::from_secs(1))
            .await
            .as_deref(),
        Some("node_lost")
    );
    assert_eq!(
        a.audit(&admin, "session.end")
            .await
            .iter()
            .filter(|e| e["target"] == sc2.as_str())
            .count(),
        1
    );

    // C stops cleanly with a session: it ends as gateway_shutdown and
    // leaves the other nodes' lists.
    let tc3 = Tunnel::open(&c2.gw, &ops, "echo", &[]).await;
    let mut cc3 = client(&tc3).await;
    let sc3 = new_session_on(a, &admin, "gw-c", &known).await;
    let pid = c2.child.id().unwrap().to_string();
    let termed = tokio::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await;
    assert!(termed.unwrap().success());
    assert!(closed_within(&mut cc3, Duration::from_secs(10)).await);
    let gone = eventually(Duration::from_secs(5), || async {
        let list = a.sessions(&admin, "gw-c").await;
        (list["total"] == 0).then_some(())
    })
    .await;
    assert!(gone.is_some(), "{}", a.sessions(&admin, "").await);
    assert_eq!(
        end_reason(a, &admin, &sc3, Duration::from_secs(5))
            .await
            .as_deref(),
        Some("gateway_shutdown")
    );
}
