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
