//! "At least one enabled administrator" holds in the database: concurrent
//! changes from different nodes cannot each remove the other's admin role.

use gatehouse_domain::{RoleName, Username};

use crate::testdb::on_both_backends;
use crate::*;

async fn admin(store: &Store, name: &str) -> gatehouse_domain::UserId {
    store
        .create_user(NewUser {
            username: Username::parse(name).unwrap(),
            password_hash: "$argon2id$stub".into(),
            roles: vec![RoleName::parse("admin").unwrap()],
        })
        .await
        .unwrap()
        .id
}

fn admin_role() -> RoleName {
    RoleName::parse("admin").unwrap()
}

async fn the_last_admin_cannot_be_disabled_demoted_or_deleted(store: Store) {
    let role = admin_role();
    let root = admin(&store, "root").await;
    let ops = admin(&store, "ops").await;
    let lock = UserChange {
        disabled: Some(true),
        ..UserChange::default()
    };
    store.change_user(ops, &lock, Some(&role)).await.unwrap();
    let refused = store.change_user(root, &lock, Some(&role)).await;
    assert!(
        matches!(refused, Err(StoreError::LastHolder(_))),
        "{refused:?}"
    );
    let demote = UserChange {
        roles: Some(vec![]),
        ..UserChange::default()
    };
    let refused = store.change_user(root, &demote, Some(&role)).await;
    assert!(
        matches!(refused, Err(StoreError::LastHolder(_))),
        "{refused:?}"
    );
    let refused = store.delete_user_keeping(root, Some(&role)).await;
    assert!(
        matches!(refused, Err(StoreError::LastHolder(_))),
        "{refused:?}"
    );
    let root_now = store.user_by_id(root).await.unwrap().unwrap();
    assert!(
        !root_now.disabled && root_now.roles == [role.clone()],
        "nothing written"
    );
    // Without the rule, and for users who hold no admin role, all goes.
    assert!(store.delete_user_keeping(ops, Some(&role)).await.unwrap());
    store.change_user(root, &demote, None).await.unwrap();
}

async fn two_nodes_removing_each_others_admin_at_once_leave_one(store: Store) {
    let role = admin_role();
    for round in 0..10 {
        let a = admin(&store, &format!("a{round}")).await;
        let b = admin(&store, &format!("b{round}")).await;
        // Only a and b hold admin now: earlier rounds left one of theirs,
        // which this round removes first.
        for u in store.list_users().await.unwrap() {
            if u.id != a && u.id != b {
                store.delete_user(u.id).await.unwrap();
            }
        }
        let lock = UserChange {
            disabled: Some(true),
            ..UserChange::default()
        };
        let (s1, s2) = (store.clone(), store.clone());
        let l1 = lock.clone();
        let (r1, r2) = (role.clone(), role.clone());
        let (x, y) = tokio::join!(
            tokio::spawn(async move { s1.change_user(a, &l1, Some(&r1)).await }),
            tokio::spawn(async move { s2.delete_user_keeping(b, Some(&r2)).await }),
        );
        let (x, y) = (x.unwrap(), y.unwrap());
        assert!(
            x.is_ok() != y.is_ok(),
            "round {round}: exactly one of the two goes through: {x:?} {y:?}"
        );
        let holders = store
            .list_users()
            .await
            .unwrap()
            .into_iter()
            .filter(|u| !u.disabled && u.roles.contains(&role))
            .count();
        assert_eq!(holders, 1, "round {round}");
    }
}

on_both_backends!(
    the_last_admin_cannot_be_disabled_demoted_or_deleted,
    two_nodes_removing_each_others_admin_at_once_leave_one,
);
