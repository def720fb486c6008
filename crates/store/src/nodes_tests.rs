//! Node rows: one live process per name; a dead one's name is free again
//! once its heartbeat is stale.

use std::time::Duration;

use time::OffsetDateTime;

use crate::testdb::on_both_backends;
use crate::*;

const STALE: Duration = Duration::from_secs(10);

async fn a_live_node_keeps_its_name_and_a_dead_ones_is_taken_over(store: Store) {
    let t0 = OffsetDateTime::now_utc();
    assert!(store.claim_node("gw-1", "run-a", t0, STALE).await.unwrap());
    assert!(store.claim_node("gw-2", "run-x", t0, STALE).await.unwrap());
    // A second process under the same name while the first heartbeats.
    let t1 = t0 + Duration::from_secs(3);
    assert!(store.node_heartbeat("gw-1", "run-a", t1).await.unwrap());
    assert!(!store.claim_node("gw-1", "run-b", t1, STALE).await.unwrap());
    // The first one dies: past the stale time its name is free.
    let t2 = t1 + STALE + Duration::from_secs(1);
    assert!(store.claim_node("gw-1", "run-b", t2, STALE).await.unwrap());
    assert!(
        !store.node_heartbeat("gw-1", "run-a", t2).await.unwrap(),
        "the old run learns it lost its row"
    );
    let nodes = store.nodes().await.unwrap();
    let names: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["gw-1", "gw-2"]);
    assert_eq!(nodes[0].started_at, from_ms(to_ms(t2)));
    // A clean stop gives the row up; a stale run's release changes nothing.
    store.release_node("gw-1", "run-a").await.unwrap();
    assert_eq!(store.nodes().await.unwrap().len(), 2);
    store.release_node("gw-1", "run-b").await.unwrap();
    assert_eq!(store.nodes().await.unwrap().len(), 1);
}

on_both_backends!(a_live_node_keeps_its_name_and_a_dead_ones_is_taken_over);

async fn a_dead_nodes_sessions_are_reaped_once_and_its_published_rows_go(store: Store) {
    use gatehouse_domain::{EndReason, SessionId};
    let t0 = OffsetDateTime::now_utc();
    let owner = store
        .create_user(crate::tests::user("ops1", &["user"]))
        .await
        .unwrap();
    assert!(store.claim_node("gw-1", "run-a", t0, STALE).await.unwrap());
    assert!(store.claim_node("gw-2", "run-x", t0, STALE).await.unwrap());
    let (lost, kept) = (SessionId::new(), SessionId::new());
    store
        .history_start(&crate::tests::started(lost, owner.id))
        .await
        .unwrap();
    store
        .history_start(&crate::HistoryStart {
            node: "gw-2".into(),
            ..crate::tests::started(kept, owner.id)
        })
        .await
        .unwrap();
    let pic = |id: SessionId| (id.to_string(), format!("{{\"id\":\"{id}\"}}"));
    store
        .publish_live_sessions("gw-1", &[pic(lost)], &[], t0, 1, 0)
        .await
        .unwrap();
    store
        .publish_live_sessions("gw-2", &[pic(kept)], &[], t0, 1, 0)
        .await
        .unwrap();
    // gw-2 sees gw-1's session, and gw-2's own roll-up cannot take it over.
    assert_eq!(
        store.live_sessions_elsewhere("gw-2").await.unwrap(),
        [("gw-1".to_owned(), pic(lost).1)]
    );
    store
        .publish_live_sessions("gw-2", &[(lost.to_string(), "{}".into())], &[], t0, 2, 0)
        .await
        .unwrap();
    assert_eq!(
        store.live_sessions_elsewhere("gw-2").await.unwrap()[0].0,
        "gw-1"
    );

    // gw-2 keeps beating, gw-1 does not: two survivors reaping at once
    // close gw-1's history exactly once between them.
    let t1 = t0 + STALE + Duration::from_secs(1);
    assert!(store.node_heartbeat("gw-2", "run-x", t1).await.unwrap());
    let stale = t1 - STALE;
    let (r1, r2) = tokio::join!(
        store.reap_dead_nodes(stale, t1),
        store.reap_dead_nodes(stale, t1)
    );
    let mut reaped = r1.unwrap();
    reaped.extend(r2.unwrap());
    assert_eq!(
        reaped,
        [crate::ReapedNode {
            name: "gw-1".into(),
            sessions: vec![lost]
        }]
    );
    let row = store.history_entry(lost).await.unwrap().unwrap();
    assert_eq!(row.end_reason, Some(EndReason::NodeLost));
    assert_eq!(
        store.history_entry(kept).await.unwrap().unwrap().ended_at,
        None
    );
    assert!(
        store
            .live_sessions_elsewhere("gw-2")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.live_sessions_elsewhere("gw-1").await.unwrap().len(),
        1
    );
    // The node comes back: nothing of its old sessions is left to resurrect.
    assert!(store.claim_node("gw-1", "run-b", t1, STALE).await.unwrap());
    assert!(store.reap_dead_nodes(stale, t1).await.unwrap().is_empty());
    assert_eq!(store.unpublish_node("gw-2").await.unwrap(), 1);
}

on_both_backends!(a_dead_nodes_sessions_are_reaped_once_and_its_published_rows_go);

async fn readers_get_only_what_a_node_changed_since_their_last_read(store: Store) {
    let t0 = OffsetDateTime::now_utc();
    let id = |n: u128| format!("00000000-0000-4000-8000-{n:012}");
    let pic = |n: u128, v: &str| (id(n), format!("{{\"v\":\"{v}\"}}"));
    let row = |node: &str, n: u128, view: Option<&str>, seq: i64| LiveRow {
        node: node.into(),
        id: id(n),
        view: view.map(|v| format!("{{\"v\":\"{v}\"}}")),
        seq,
    };
    store
        .publish_live_sessions("gw-1", &[pic(1, "a"), pic(2, "a")], &[], t0, 10, 0)
        .await
        .unwrap();
    store
        .publish_live_sessions("gw-2", &[pic(3, "a")], &[], t0, 5, 0)
        .await
        .unwrap();
    assert_eq!(
        store.live_session_marks("gw-3").await.unwrap(),
        [("gw-1".to_owned(), 10), ("gw-2".to_owned(), 5)]
    );
    // One update and one end: only those two rows, the end a tombstone.
    store
        .publish_live_sessions("gw-1", &[pic(2, "b")], &[id(1)], t0, 11, 0)
        .await
        .unwrap();
    let mut changes = store.live_session_changes("gw-1", 10).await.unwrap();
    changes.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(
        changes,
        [row("gw-1", 1, None, 11), row("gw-1", 2, Some("b"), 11)]
    );
    assert!(
        store
            .live_session_changes("gw-1", 11)
            .await
            .unwrap()
            .is_empty()
    );
    // A full read has the tombstone too; the plain list does not.
    assert_eq!(
        store.live_sessions_full("gw-3", None).await.unwrap().len(),
        3
    );
    assert_eq!(
        store
            .live_sessions_full("gw-3", Some("gw-2"))
            .await
            .unwrap(),
        [row("gw-2", 3, Some("a"), 5)]
    );
    assert!(
        store
            .live_sessions_full("gw-2", Some("gw-2"))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.live_sessions_elsewhere("gw-2").await.unwrap().len(),
        1
    );
    // Tombstones older than the owner says are forgotten; live rows stay.
    store
        .publish_live_sessions("gw-1", &[], &[], t0, 12, 12)
        .await
        .unwrap();
    assert_eq!(
        store
            .live_sessions_full("gw-3", Some("gw-1"))
            .await
            .unwrap(),
        [row("gw-1", 2, Some("b"), 11)]
    );
}

on_both_backends!(readers_get_only_what_a_node_changed_since_their_last_read);

async fn a_node_publishes_its_url_and_key_fingerprint_for_the_others(store: Store) {
    let t0 = OffsetDateTime::now_utc();
    assert!(store.claim_node("gw-1", "run-a", t0, STALE).await.unwrap());
    assert!(store.claim_node("gw-2", "run-x", t0, STALE).await.unwrap());
    assert!(
        store
            .set_node_link("gw-1", "run-a", None, "f1")
            .await
            .unwrap()
    );
    assert!(
        store
            .set_node_link("gw-1", "run-a", Some("http://10.0.0.1:8080"), "f1")
            .await
            .unwrap()
    );
    assert!(
        store
            .set_node_link("gw-1", "run-a", None, "f1")
            .await
            .unwrap()
    );
    // Only the run holding the row may speak for it.
    assert!(
        !store
            .set_node_link("gw-2", "run-other", Some("http://evil"), "f2")
            .await
            .unwrap()
    );
    let links = store.node_links().await.unwrap();
    assert_eq!(
        links,
        [
            NodeLink {
                name: "gw-1".into(),
                url: Some("http://10.0.0.1:8080".into()),
                key_fingerprint: Some("f1".into()),
            },
            NodeLink {
                name: "gw-2".into(),
                url: None,
                key_fingerprint: None,
            },
        ]
    );
}

on_both_backends!(a_node_publishes_its_url_and_key_fingerprint_for_the_others);
