//! Several gateway nodes on one real PostgreSQL (issue 20).

use std::time::Duration;

use secrecy::SecretString;
use serde_json::json;

use crate::harness::postgres::Postgres;
use crate::harness::{ADMIN_PASSWORD, TestGateway, eventually, test_config};

/// A gateway named `node` on the PostgreSQL database `url`.
async fn node(url: &str, node: &str) -> TestGateway {
    let url = url.to_owned();
    let node = node.to_owned();
    TestGateway::spawn_with(move |c| {
        c.database_url = Some(SecretString::from(url));
        c.node = node;
    })
    .await
}

#[tokio::test]
async fn nodes_on_one_postgres_share_accounts_and_keep_one_admin_between_them() {
    let pg = Postgres::shared();
    let url = tokio::task::spawn_blocking(|| pg.create_database())
        .await
        .unwrap();
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
    let pg = Postgres::shared();
    let url = tokio::task::spawn_blocking(|| pg.create_database())
        .await
        .unwrap();
    let a = node(&url, "gw-a").await;
    let b = node(&url, "gw-b").await;
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
