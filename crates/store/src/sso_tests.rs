//! Single sign-on records on both backends: a sign-in in flight and a
//! one-time code are each taken once and never after they expire; one
//! provider identity is one account.

use gatehouse_domain::{RoleName, Username};
use time::OffsetDateTime;

use crate::testdb::on_both_backends;
use crate::*;

fn pending(state: &[u8], expires_in_ms: i64) -> SsoPending {
    SsoPending {
        state_hash: state.to_vec(),
        provider: "corp".into(),
        nonce: "n".into(),
        pkce_verifier: "v".into(),
        redirect_url: "https://gw/cb".into(),
        next_path: "/".into(),
        cli_port: Some(40123),
        cli_challenge: Some("c".into()),
        expires_at: to_ms(OffsetDateTime::now_utc()) + expires_in_ms,
    }
}

async fn a_sign_in_in_flight_is_taken_once_and_not_after_it_expires(store: Store) {
    store
        .insert_sso_pending(&pending(b"s1", 60_000))
        .await
        .unwrap();
    store
        .insert_sso_pending(&pending(b"old", -1))
        .await
        .unwrap();
    let taken = store.take_sso_pending(b"s1").await.unwrap().unwrap();
    assert_eq!(taken.cli_port, Some(40123));
    assert!(store.take_sso_pending(b"s1").await.unwrap().is_none());
    assert!(store.take_sso_pending(b"old").await.unwrap().is_none());
    assert!(store.take_sso_pending(b"never").await.unwrap().is_none());
}

async fn one_identity_is_one_account_and_codes_are_single_use(store: Store) {
    let user = store
        .create_sso_user(
            NewUser {
                username: Username::parse("alice").unwrap(),
                password_hash: "!sso".into(),
                roles: vec![RoleName::parse("user").unwrap()],
            },
            "corp",
            "sub-1",
        )
        .await
        .unwrap();
    assert_eq!(
        store.sso_user("corp", "sub-1").await.unwrap(),
        Some(user.id)
    );
    assert_eq!(store.sso_user("other", "sub-1").await.unwrap(), None);
    assert!(store.is_sso_user(user.id).await.unwrap());
    // The same person's second first login (another node, same moment).
    let twice = store
        .create_sso_user(
            NewUser {
                username: Username::parse("alice2").unwrap(),
                password_hash: "!sso".into(),
                roles: vec![],
            },
            "corp",
            "sub-1",
        )
        .await;
    assert!(matches!(twice, Err(StoreError::Conflict(_))), "{twice:?}");
    let alice2 = Username::parse("alice2").unwrap();
    assert!(store.user_by_name(&alice2).await.unwrap().is_none());

    let soon = OffsetDateTime::now_utc() + time::Duration::minutes(1);
    store
        .insert_sso_handoff(b"code", user.id, "chal", soon)
        .await
        .unwrap();
    assert_eq!(
        store.take_sso_handoff(b"code").await.unwrap(),
        Some((user.id, "chal".to_owned()))
    );
    assert_eq!(store.take_sso_handoff(b"code").await.unwrap(), None);
    let past = OffsetDateTime::now_utc() - time::Duration::seconds(1);
    store
        .insert_sso_handoff(b"late", user.id, "chal", past)
        .await
        .unwrap();
    assert_eq!(store.take_sso_handoff(b"late").await.unwrap(), None);
}

on_both_backends!(
    a_sign_in_in_flight_is_taken_once_and_not_after_it_expires,
    one_identity_is_one_account_and_codes_are_single_use,
);
