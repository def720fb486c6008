//! Second factors on both backends: a code step, a recovery code and a
//! pending login are each taken once.

use gatehouse_domain::RoleName;
use time::{Duration, OffsetDateTime};

use crate::testdb::on_both_backends;
use crate::tests::user;
use crate::*;

on_both_backends!(
    a_code_step_is_taken_once_and_never_an_earlier_one,
    recovery_codes_and_pending_logins_are_used_once,
    a_role_can_require_a_second_factor,
);

async fn a_code_step_is_taken_once_and_never_an_earlier_one(store: Store) {
    let ops = store.create_user(user("ops1", &["user"])).await.unwrap();
    store.begin_second_factor(ops.id, b"sealed").await.unwrap();
    // Unconfirmed: only the confirming code (enabled = false) is taken.
    assert!(
        !store
            .take_second_factor_step(ops.id, 100, true)
            .await
            .unwrap()
    );
    assert!(
        store
            .take_second_factor_step(ops.id, 100, false)
            .await
            .unwrap()
    );
    store.enable_second_factor(ops.id, &[]).await.unwrap();
    let stored = store.second_factor(ops.id).await.unwrap().unwrap();
    assert!(stored.enabled);
    assert_eq!(stored.last_step, Some(100));
    assert!(
        !store
            .take_second_factor_step(ops.id, 100, true)
            .await
            .unwrap()
    );
    assert!(
        !store
            .take_second_factor_step(ops.id, 99, true)
            .await
            .unwrap()
    );
    assert!(
        store
            .take_second_factor_step(ops.id, 101, true)
            .await
            .unwrap()
    );
    // An enabled authenticator is not replaced by a new enrolment.
    assert!(matches!(
        store.begin_second_factor(ops.id, b"other").await,
        Err(StoreError::Conflict(_))
    ));
    assert!(store.delete_second_factor(ops.id).await.unwrap());
    assert!(store.second_factor(ops.id).await.unwrap().is_none());
}

async fn recovery_codes_and_pending_logins_are_used_once(store: Store) {
    let ops = store.create_user(user("ops1", &["user"])).await.unwrap();
    store.begin_second_factor(ops.id, b"sealed").await.unwrap();
    let codes = vec![b"one".to_vec(), b"two".to_vec()];
    store.enable_second_factor(ops.id, &codes).await.unwrap();
    assert_eq!(store.recovery_codes_left(ops.id).await.unwrap(), 2);
    assert!(store.take_recovery_code(ops.id, b"one").await.unwrap());
    assert!(!store.take_recovery_code(ops.id, b"one").await.unwrap());
    assert_eq!(store.recovery_codes_left(ops.id).await.unwrap(), 1);

    let later = OffsetDateTime::now_utc() + Duration::minutes(5);
    store
        .insert_pending_login(b"p1", ops.id, later)
        .await
        .unwrap();
    assert_eq!(store.pending_login_user(b"p1").await.unwrap(), Some(ops.id));
    assert!(store.take_pending_login(b"p1").await.unwrap());
    assert!(!store.take_pending_login(b"p1").await.unwrap());
    assert_eq!(store.pending_login_user(b"p1").await.unwrap(), None);
    let past = OffsetDateTime::now_utc() - Duration::seconds(1);
    store
        .insert_pending_login(b"p2", ops.id, past)
        .await
        .unwrap();
    assert_eq!(store.pending_login_user(b"p2").await.unwrap(), None);
    assert!(!store.take_pending_login(b"p2").await.unwrap());
}

async fn a_role_can_require_a_second_factor(store: Store) {
    let ops = store.create_user(user("ops1", &["user"])).await.unwrap();
    let boss = store.create_user(user("boss", &["admin"])).await.unwrap();
    let admin = RoleName::parse("admin").unwrap();
    assert!(!store.second_factor_required(boss.id).await.unwrap());
    store.set_role_second_factor(&admin, true).await.unwrap();
    assert!(store.second_factor_required(boss.id).await.unwrap());
    assert!(!store.second_factor_required(ops.id).await.unwrap());
    let listed = store.list_roles().await.unwrap();
    let flags: Vec<(&str, bool)> = listed
        .iter()
        .map(|r| (r.name.as_str(), r.require_second_factor))
        .collect();
    assert_eq!(
        flags,
        [("admin", true), ("auditor", false), ("user", false)]
    );
    let nobody = RoleName::parse("nobody").unwrap();
    assert!(matches!(
        store.set_role_second_factor(&nobody, true).await,
        Err(StoreError::NotFound(_))
    ));
}
