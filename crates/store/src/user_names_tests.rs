//! Share suggestions look names up by prefix: only enabled users, never the
//! caller, at most the limit, and a prefix matches from the start only.

use gatehouse_domain::Username;

use crate::testdb::on_both_backends;
use crate::*;

async fn user(store: &Store, name: &str) -> gatehouse_domain::UserId {
    store
        .create_user(NewUser {
            username: Username::parse(name).unwrap(),
            password_hash: "$argon2id$stub".into(),
            roles: vec![],
        })
        .await
        .unwrap()
        .id
}

async fn names_by_prefix_skip_locked_users_and_the_caller(store: Store) {
    let me = user(&store, "kate").await;
    for name in ["kim", "kimberly", "kim_2", "akim", "ki-m"] {
        user(&store, name).await;
    }
    let locked = user(&store, "kimlocked").await;
    store.set_user_disabled(locked, true).await.unwrap();
    let names = |prefix: &'static str, limit| {
        let store = store.clone();
        async move {
            store
                .enabled_usernames_starting_with(&Username::parse(prefix).unwrap(), me, limit)
                .await
                .unwrap()
                .iter()
                .map(|u| u.as_str().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(names("ki", 10).await, ["ki-m", "kim", "kim_2", "kimberly"]);
    assert_eq!(names("KIM", 10).await, ["kim", "kim_2", "kimberly"]);
    // `_` is a name character here, not a wildcard.
    assert_eq!(names("kim_", 10).await, ["kim_2"]);
    assert_eq!(names("ki", 2).await, ["ki-m", "kim"]);
    assert!(
        names("ka", 10).await.is_empty(),
        "the caller is not suggested"
    );
}

on_both_backends!(names_by_prefix_skip_locked_users_and_the_caller);
