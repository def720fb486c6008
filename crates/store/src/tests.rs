use gatehouse_domain::{
    ConnectionName, EndReason, Permission, Protocol, RoleName, SessionId, Username,
};
use time::OffsetDateTime;

use crate::*;

async fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("gatehouse.db")).await.unwrap();
    (dir, store)
}

fn user(name: &str, roles: &[&str]) -> NewUser {
    NewUser {
        username: Username::parse(name).unwrap(),
        password_hash: "$argon2id$stub".into(),
        roles: roles.iter().map(|r| RoleName::parse(r).unwrap()).collect(),
    }
}

#[tokio::test]
async fn users_get_their_roles_permissions_and_names_are_unique() {
    let (_dir, store) = store().await;
    let auditor = store.create_user(user("eve", &["auditor"])).await.unwrap();
    let mut perms = store.user_permissions(auditor.id).await.unwrap();
    perms.sort();
    assert_eq!(
        perms,
        [
            Permission::SessionsView,
            Permission::SessionsWatch,
            Permission::AuditView
        ]
    );
    assert!(matches!(
        store.create_user(user("EVE", &[])).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.create_user(user("bob", &["wizard"])).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(
        store
            .user_by_name(&Username::parse("bob").unwrap())
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn grants_reach_users_directly_and_through_roles() {
    let (_dir, store) = store().await;
    let direct = store.create_user(user("direct", &["user"])).await.unwrap();
    let via_role = store
        .create_user(user("viarole", &["auditor"]))
        .await
        .unwrap();
    let neither = store.create_user(user("neither", &["user"])).await.unwrap();
    let conn = store
        .create_connection(NewConnection {
            name: ConnectionName::parse("prod-db").unwrap(),
            protocol: Protocol::Ssh,
            host: "127.0.0.1".into(),
            port: 22,
            username: "root".into(),
            secret_kind: SecretKind::Password,
            secret_sealed: vec![1, 2, 3],
            host_key: None,
            users: vec![direct.id],
            roles: vec![RoleName::parse("auditor").unwrap()],
        })
        .await
        .unwrap();
    assert!(store.user_may_use(direct.id, conn.id).await.unwrap());
    assert!(store.user_may_use(via_role.id, conn.id).await.unwrap());
    assert!(!store.user_may_use(neither.id, conn.id).await.unwrap());
    assert_eq!(
        store.connections_for_user(via_role.id).await.unwrap().len(),
        1
    );
    assert!(
        store
            .connections_for_user(neither.id)
            .await
            .unwrap()
            .is_empty()
    );

    assert!(
        store
            .pin_host_key(conn.id, "ssh-ed25519 AAAA")
            .await
            .unwrap()
    );
    assert!(
        !store
            .pin_host_key(conn.id, "ssh-ed25519 BBBB")
            .await
            .unwrap()
    );
    let pinned = store.connection(conn.id).await.unwrap().unwrap();
    assert_eq!(pinned.host_key.as_deref(), Some("ssh-ed25519 AAAA"));
    assert_eq!(pinned.host_key_source, Some(HostKeySource::FirstUse));
}

#[tokio::test]
async fn a_history_row_is_ended_exactly_once_and_dangling_rows_close_at_start() {
    let (_dir, store) = store().await;
    let u = store.create_user(user("ops1", &["user"])).await.unwrap();
    let start = |id| HistoryStart {
        id,
        user_id: u.id,
        username: "ops1".into(),
        connection_id: gatehouse_domain::ConnectionId::new(),
        connection_name: "prod-db".into(),
        protocol: "ssh".into(),
        client_addr: "203.0.113.7".into(),
        target: "10.0.0.5:22".into(),
        node: "gw-1".into(),
        started_at: OffsetDateTime::now_utc(),
    };
    let (a, b) = (SessionId::new(), SessionId::new());
    store.history_start(&start(a)).await.unwrap();
    store.history_start(&start(b)).await.unwrap();
    let end = HistoryEnd {
        id: a,
        ended_at: OffsetDateTime::now_utc(),
        end_reason: EndReason::EndedByAdmin,
        ended_by: Some("admin".into()),
        end_message: None,
        bytes_from_client: 5,
        bytes_to_client: 7,
        participants: serde_json::json!([]),
    };
    assert!(store.history_end(&end).await.unwrap());
    assert!(
        !store.history_end(&end).await.unwrap(),
        "second end must not rewrite"
    );

    let closed = store
        .close_open_history(
            "gw-1",
            EndReason::GatewayShutdown,
            OffsetDateTime::now_utc(),
        )
        .await
        .unwrap();
    assert_eq!(closed, [b]);

    let all = HistoryQuery {
        limit: 10,
        ..Default::default()
    };
    assert_eq!(store.list_history(&all).await.unwrap().0, 2);
    let admin_ended = HistoryQuery {
        q: Some("ADMIN".into()),
        limit: 10,
        ..Default::default()
    };
    let (n, rows) = store.list_history(&admin_ended).await.unwrap();
    assert_eq!(n, 1);
    assert_eq!(rows[0].end_reason, Some(EndReason::EndedByAdmin));
    let literal = HistoryQuery {
        q: Some("%".into()),
        limit: 10,
        ..Default::default()
    };
    assert_eq!(
        store.list_history(&literal).await.unwrap().0,
        0,
        "% is literal, not a wildcard"
    );
}
