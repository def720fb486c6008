use time::{Duration, OffsetDateTime};

use crate::testdb::on_both_backends;
use crate::tests::user;
use crate::*;

fn request(id: &str, user_id: gatehouse_domain::UserId, ttl: Duration) -> ApprovalRecord {
    let now = OffsetDateTime::now_utc();
    ApprovalRecord {
        id: id.into(),
        user_id,
        client_addr: "203.0.113.7".into(),
        connection: Some("prod-db".into()),
        created_at: now,
        expires_at: now + ttl,
        decision: None,
    }
}

/// Only the request's own user decides it, once, before it expires; a
/// deleted user's requests go with them.
async fn an_approval_is_decided_once_by_its_own_user_before_it_expires(store: Store) {
    let sso = store.create_user(user("sso1", &["user"])).await.unwrap();
    let other = store.create_user(user("ops1", &["user"])).await.unwrap();
    store
        .insert_approval(&request("live", sso.id, Duration::minutes(1)))
        .await
        .unwrap();
    store
        .insert_approval(&request("late", sso.id, Duration::seconds(-1)))
        .await
        .unwrap();

    assert!(
        !store
            .decide_approval("live", other.id, "approved")
            .await
            .unwrap()
    );
    assert!(
        !store
            .decide_approval("late", sso.id, "approved")
            .await
            .unwrap()
    );
    assert!(
        !store
            .decide_approval("nope", sso.id, "approved")
            .await
            .unwrap()
    );
    assert!(
        store
            .decide_approval("live", sso.id, "denied")
            .await
            .unwrap()
    );
    assert!(
        !store
            .decide_approval("live", sso.id, "approved")
            .await
            .unwrap(),
        "decided once"
    );
    let live = store.approval("live").await.unwrap().unwrap();
    assert_eq!(live.decision.as_deref(), Some("denied"));
    assert_eq!(live.connection.as_deref(), Some("prod-db"));
    assert_eq!(live.user_id, sso.id);

    // Expired ones are purged after the grace given; the others stay.
    assert_eq!(
        store
            .purge_approvals(OffsetDateTime::now_utc())
            .await
            .unwrap(),
        1
    );
    assert!(store.approval("late").await.unwrap().is_none());
    assert!(store.delete_user_keeping(sso.id, None).await.unwrap());
    assert!(store.approval("live").await.unwrap().is_none());
}

on_both_backends!(an_approval_is_decided_once_by_its_own_user_before_it_expires);
