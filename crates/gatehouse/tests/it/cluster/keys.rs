//! Nodes must share one secret key: a node started with another is refused.

use secrecy::SecretString;

use super::{SHARED_KEY, fresh_database, node};
use crate::harness::test_config;

/// Another 32-byte key, base64.
const OTHER_KEY: &str = "YW5vdGhlci1rZXktdGhhdC1kb2VzLW5vdC1tYXRjaCE=";

#[tokio::test]
async fn a_node_started_with_another_secret_key_is_refused_and_leaves_no_row() {
    let url = fresh_database().await;
    let _a = node(&url, "gw-a").await;
    let store = gatehouse_store::Store::connect(&url).await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("secret.key"), OTHER_KEY).unwrap();
    let mut config = test_config(dir.path());
    config.database_url = Some(SecretString::from(url.clone()));
    config.node = "gw-b".into();
    let refused = gatehouse::app::Application::build(config, None, None).await;
    let error = format!(
        "{:#}",
        refused.err().expect("a node with another key is refused")
    );
    assert!(
        error.contains("secret key differs") && error.contains("gw-a"),
        "{error}"
    );
    // The key itself is never in the message.
    assert!(!error.contains(OTHER_KEY) && !error.contains(SHARED_KEY));
    // It gave its row back; the same name with the right key joins.
    let names = |store: gatehouse_store::Store| async move {
        let nodes = store.nodes().await.unwrap();
        nodes.into_iter().map(|n| n.name).collect::<Vec<_>>()
    };
    assert_eq!(names(store.clone()).await, ["gw-a"]);
    let _b = node(&url, "gw-b").await;
    assert_eq!(names(store.clone()).await, ["gw-a", "gw-b"]);
    // Both published the same fingerprint and a URL the other can reach.
    let links = store.node_links().await.unwrap();
    assert_eq!(links.len(), 2);
    assert_eq!(links[0].key_fingerprint, links[1].key_fingerprint);
    for link in &links {
        let url = link.url.as_deref().expect("a published URL");
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    }
}
