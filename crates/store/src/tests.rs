use gatehouse_domain::{
    ConnectionName, EndReason, HostKeySource, Permission, RoleName, SessionId, SshAuth, SshTarget,
    Target, Username,
};
use time::OffsetDateTime;

use crate::testdb::on_both_backends;
use crate::*;

/// An SSH target on port 22 of `host`, logging in as root by password.
pub(crate) fn ssh_target(host: &str, host_key: Option<&str>) -> Target {
    Target::Ssh(SshTarget {
        host: host.into(),
        port: 22,
        username: "root".into(),
        auth: SshAuth::Password,
        host_key: host_key.map(str::to_owned),
        host_key_source: host_key.map(|_| HostKeySource::Administrator),
        allow_forwarding: false,
    })
}

/// Session `id` of `user_id` (ops1, on prod-db) starting now, unrecorded.
pub(crate) fn started(id: SessionId, user_id: gatehouse_domain::UserId) -> HistoryStart {
    HistoryStart {
        id,
        user_id,
        username: "ops1".into(),
        connection_id: gatehouse_domain::ConnectionId::new(),
        connection_name: "prod-db".into(),
        protocol: "ssh".into(),
        client_addr: "203.0.113.7".into(),
        target: "10.0.0.5:22".into(),
        node: "gw-1".into(),
        started_at: OffsetDateTime::now_utc(),
        recording_path: None,
    }
}

/// Session `id` ending now for `reason`, ended by admin, no bytes moved.
pub(crate) fn ended(id: SessionId, reason: EndReason) -> HistoryEnd {
    HistoryEnd {
        id,
        ended_at: OffsetDateTime::now_utc(),
        end_reason: reason,
        ended_by: Some("admin".into()),
        end_message: None,
        bytes_from_client: 0,
        bytes_to_client: 0,
        participants: serde_json::json!([]),
        detail: serde_json::json!({}),
    }
}

pub(crate) fn user(name: &str, roles: &[&str]) -> NewUser {
    NewUser {
        username: Username::parse(name).unwrap(),
        password_hash: "$argon2id$stub".into(),
        roles: roles.iter().map(|r| RoleName::parse(r).unwrap()).collect(),
    }
}

async fn users_get_their_roles_permissions_and_names_are_unique(store: Store) {
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

async fn grants_reach_users_directly_and_through_roles(store: Store) {
    let direct = store.create_user(user("direct", &["user"])).await.unwrap();
    let via_role = store
        .create_user(user("viarole", &["auditor"]))
        .await
        .unwrap();
    let neither = store.create_user(user("neither", &["user"])).await.unwrap();
    let conn = store
        .create_connection(NewConnection {
            name: ConnectionName::parse("prod-db").unwrap(),
            target: crate::tests::ssh_target("127.0.0.1", None),
            secret_sealed: Some(vec![1, 2, 3]),
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
    let ssh = pinned.target.ssh().unwrap();
    assert_eq!(ssh.host_key.as_deref(), Some("ssh-ed25519 AAAA"));
    assert_eq!(ssh.host_key_source, Some(HostKeySource::FirstUse));
}

async fn a_batch_writes_history_and_audit_in_one_go_and_ends_a_row_once(store: Store) {
    let u = store.create_user(user("ops1", &["user"])).await.unwrap();
    let id = SessionId::new();
    let start = HistoryStart {
        recording_path: Some("2026/11/28/x.cast".into()),
        ..started(id, u.id)
    };
    let end = HistoryEnd {
        bytes_from_client: 1,
        bytes_to_client: 2,
        ..ended(id, EndReason::EndedByAdmin)
    };
    let event = crate::NewAuditEvent {
        actor: Some("admin".into()),
        action: "session.end".into(),
        target: Some(id.to_string()),
        client_addr: None,
        details: serde_json::json!({}),
    };
    let writes = [
        crate::Write::HistoryStart(start),
        crate::Write::HistoryEnd(end.clone()),
        crate::Write::Audit(event),
        crate::Write::HistoryEnd(end),
    ];
    let changed = store.write_batch(&writes).await.unwrap();
    assert_eq!(
        changed,
        [true, true, true, false],
        "the second end changes nothing"
    );
    let row = store.history_entry(id).await.unwrap().unwrap();
    assert_eq!(row.ended_by.as_deref(), Some("admin"));
    assert!(
        row.recording.is_some(),
        "the batch keeps the recording path"
    );
    let (total, _) = store
        .list_audit(&crate::AuditQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(total >= 1);
    // Many events go several to a statement; every one lands, in order.
    let many: Vec<_> = (0..250)
        .map(|i| {
            crate::Write::Audit(crate::NewAuditEvent {
                actor: Some(format!("user{i}")),
                action: "session.end_requested".into(),
                target: None,
                client_addr: None,
                details: serde_json::json!({ "i": i }),
            })
        })
        .collect();
    assert_eq!(store.write_batch(&many).await.unwrap(), vec![true; 250]);
    let query = crate::AuditQuery {
        action: Some("session.end_requested".into()),
        limit: 300,
        ..Default::default()
    };
    let (count, newest_first) = store.list_audit(&query).await.unwrap();
    assert_eq!(count, 250);
    assert_eq!(newest_first[0].actor.as_deref(), Some("user249"));
    assert_eq!(newest_first[249].details["i"], 0);
}

async fn a_history_row_is_ended_exactly_once_and_dangling_rows_close_at_start(store: Store) {
    let u = store.create_user(user("ops1", &["user"])).await.unwrap();
    let (a, b) = (SessionId::new(), SessionId::new());
    store.history_start(&started(a, u.id)).await.unwrap();
    store.history_start(&started(b, u.id)).await.unwrap();
    let end = HistoryEnd {
        bytes_from_client: 5,
        bytes_to_client: 7,
        ..ended(a, EndReason::EndedByAdmin)
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

async fn user_changes_replace_roles_and_purge_only_that_users_tokens(store: Store) {
    let admin = store.create_user(user("admin", &["admin"])).await.unwrap();
    let ops = store.create_user(user("ops1", &["user"])).await.unwrap();
    let role = |r: &str| RoleName::parse(r).unwrap();
    let later = OffsetDateTime::now_utc() + time::Duration::HOUR;
    store.insert_token(b"ops-a", ops.id, later).await.unwrap();
    store.insert_token(b"ops-b", ops.id, later).await.unwrap();
    store.insert_token(b"admin", admin.id, later).await.unwrap();

    assert_eq!(
        store
            .count_enabled_with_role(&role("admin"), ops.id)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .count_enabled_with_role(&role("admin"), admin.id)
            .await
            .unwrap(),
        0
    );
    store
        .set_user_roles(ops.id, &[role("admin"), role("auditor")])
        .await
        .unwrap();
    assert!(matches!(
        store.set_user_roles(ops.id, &[role("wizard")]).await,
        Err(StoreError::NotFound(_))
    ));
    let stored = store.user_by_id(ops.id).await.unwrap().unwrap();
    assert_eq!(
        stored.roles,
        [role("admin"), role("auditor")],
        "a refused change keeps the old roles"
    );
    assert_eq!(
        store
            .count_enabled_with_role(&role("admin"), admin.id)
            .await
            .unwrap(),
        1
    );

    store.set_user_disabled(ops.id, true).await.unwrap();
    store
        .set_user_password_hash(ops.id, "$argon2id$new")
        .await
        .unwrap();
    let stored = store.user_by_id(ops.id).await.unwrap().unwrap();
    assert!(stored.disabled);
    assert_eq!(stored.password_hash, "$argon2id$new");
    assert_eq!(
        store
            .count_enabled_with_role(&role("admin"), admin.id)
            .await
            .unwrap(),
        0,
        "a disabled admin does not count"
    );

    assert_eq!(store.delete_user_tokens(ops.id).await.unwrap(), 2);
    assert!(store.token_user(b"ops-a").await.unwrap().is_none());
    assert_eq!(store.token_user(b"admin").await.unwrap(), Some(admin.id));

    let ghost = gatehouse_domain::UserId::new();
    assert!(matches!(
        store.set_user_disabled(ghost, true).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.set_user_roles(ghost, &[]).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn a_connection_update_is_all_or_nothing_and_a_deleted_one_is_gone(store: Store) {
    let ops = store.create_user(user("ops1", &["user"])).await.unwrap();
    let new = |name: &str| NewConnection {
        name: ConnectionName::parse(name).unwrap(),
        target: crate::tests::ssh_target("10.0.0.5", Some("ssh-ed25519 AAAA")),
        secret_sealed: Some(vec![1, 2, 3]),
        users: vec![ops.id],
        roles: vec![],
    };
    let conn = store.create_connection(new("prod-db")).await.unwrap();
    store.create_connection(new("staging")).await.unwrap();

    let taken = ConnectionUpdate {
        name: Some(ConnectionName::parse("staging").unwrap()),
        ..Default::default()
    };
    assert!(matches!(
        store.update_connection(conn.id, taken).await,
        Err(StoreError::Conflict(_))
    ));
    let half = ConnectionUpdate {
        name: Some(ConnectionName::parse("renamed").unwrap()),
        roles: Some(vec![RoleName::parse("wizard").unwrap()]),
        ..Default::default()
    };
    assert!(matches!(
        store.update_connection(conn.id, half).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        store
            .connection(conn.id)
            .await
            .unwrap()
            .unwrap()
            .name
            .as_str(),
        "prod-db"
    );

    let was = conn.target.clone();
    let mut moved = was.ssh().unwrap().clone();
    moved.port = 2222;
    moved.host_key = None;
    moved.host_key_source = None;
    let stale = ConnectionUpdate {
        target: Some((ssh_target("elsewhere", None), Target::Ssh(moved.clone()))),
        ..Default::default()
    };
    assert!(
        matches!(
            store.update_connection(conn.id, stale).await,
            Err(StoreError::Conflict(_))
        ),
        "a target changed meanwhile is not overwritten"
    );
    let updated = store
        .update_connection(
            conn.id,
            ConnectionUpdate {
                target: Some((was, Target::Ssh(moved))),
                secret: Some(Some(vec![9])),
                users: Some(vec![]),
                roles: Some(vec![RoleName::parse("auditor").unwrap()]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let ssh = updated.target.ssh().unwrap();
    assert_eq!((ssh.host.as_str(), ssh.port), ("10.0.0.5", 2222));
    assert_eq!(updated.secret_sealed, Some(vec![9]));
    assert_eq!((&ssh.host_key, ssh.host_key_source), (&None, None));
    assert!(updated.users.is_empty());
    assert!(
        store
            .pin_host_key(conn.id, "ssh-ed25519 BBBB")
            .await
            .unwrap(),
        "pins again on first use"
    );

    assert!(store.delete_connection(conn.id).await.unwrap());
    assert!(!store.delete_connection(conn.id).await.unwrap());
    assert!(store.connection(conn.id).await.unwrap().is_none());
    assert!(matches!(
        store
            .update_connection(conn.id, ConnectionUpdate::default())
            .await,
        Err(StoreError::NotFound(_))
    ));
}

async fn a_deleted_user_takes_their_roles_tokens_and_grants_but_not_their_history(store: Store) {
    let ops = store.create_user(user("ops1", &["user"])).await.unwrap();
    let dev = store.create_user(user("dev2", &["user"])).await.unwrap();
    let conn = store
        .create_connection(NewConnection {
            name: ConnectionName::parse("prod-db").unwrap(),
            target: crate::tests::ssh_target("127.0.0.1", None),
            secret_sealed: Some(vec![1, 2, 3]),
            users: vec![ops.id, dev.id],
            roles: vec![],
        })
        .await
        .unwrap();
    let later = OffsetDateTime::now_utc() + time::Duration::HOUR;
    store.insert_token(b"ops", ops.id, later).await.unwrap();
    let session = SessionId::new();
    store
        .history_start(&HistoryStart {
            connection_id: conn.id,
            ..started(session, ops.id)
        })
        .await
        .unwrap();

    assert!(store.delete_user(ops.id).await.unwrap());
    assert!(!store.delete_user(ops.id).await.unwrap(), "already gone");
    assert!(store.user_by_id(ops.id).await.unwrap().is_none());
    assert!(store.token_user(b"ops").await.unwrap().is_none());
    assert!(!store.user_may_use(ops.id, conn.id).await.unwrap());
    let kept = store.connection(conn.id).await.unwrap().unwrap();
    assert_eq!(kept.users, [dev.id], "other grants stay");
    // Their session's end is still written after they are gone.
    assert!(
        store
            .history_end(&ended(session, EndReason::UserLocked))
            .await
            .unwrap()
    );
    let (total, rows) = store
        .list_history(&HistoryQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(total, 1);
    assert_eq!(rows[0].user, "ops1", "history keeps the name");
}

async fn an_rdp_certificate_is_pinned_once_on_first_use(store: Store) {
    let target: Target = serde_json::from_value(serde_json::json!({
        "protocol": "rdp", "host": "win1", "port": 3389, "username": "svc",
    }))
    .unwrap();
    let conn = store
        .create_connection(NewConnection {
            name: ConnectionName::parse("win1").unwrap(),
            target,
            secret_sealed: Some(vec![1, 2, 3]),
            users: vec![],
            roles: vec![],
        })
        .await
        .unwrap();
    assert!(store.pin_host_key(conn.id, "SHA256:first").await.unwrap());
    assert!(!store.pin_host_key(conn.id, "SHA256:second").await.unwrap());
    let pinned = store.connection(conn.id).await.unwrap().unwrap();
    let rdp = pinned.target.rdp().unwrap();
    assert_eq!(rdp.cert.as_deref(), Some("SHA256:first"));
    assert_eq!(rdp.cert_source, Some(HostKeySource::FirstUse));
}

on_both_backends!(
    an_rdp_certificate_is_pinned_once_on_first_use,
    users_get_their_roles_permissions_and_names_are_unique,
    grants_reach_users_directly_and_through_roles,
    a_batch_writes_history_and_audit_in_one_go_and_ends_a_row_once,
    a_history_row_is_ended_exactly_once_and_dangling_rows_close_at_start,
    user_changes_replace_roles_and_purge_only_that_users_tokens,
    a_connection_update_is_all_or_nothing_and_a_deleted_one_is_gone,
    a_deleted_user_takes_their_roles_tokens_and_grants_but_not_their_history,
);

/// SQLite only: PostgreSQL databases start from the tagged schema.
#[tokio::test]
async fn connections_stored_before_targets_were_tagged_keep_every_setting() {
    use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gatehouse.db");
    // The schema as it was before migration 6, with a connection in it.
    {
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true);
        let pool = SqlitePool::connect_with(options).await.unwrap();
        let all = sqlx::migrate!("./migrations/sqlite");
        let before = sqlx::migrate::Migrator {
            migrations: std::borrow::Cow::Owned(
                all.iter().filter(|m| m.version < 6).cloned().collect(),
            ),
            ..sqlx::migrate::Migrator::DEFAULT
        };
        before.run(&pool).await.unwrap();
        sqlx::query(
            "INSERT INTO connections (id, name, protocol, host, port, username, secret_kind,
                 secret_sealed, host_key, host_key_source, allow_forwarding, created_at, updated_at)
             VALUES ('7b1c2d3e-0000-4000-8000-000000000001', 'prod-db', 'ssh', '10.0.0.5', 2222,
                 'deploy', 'private_key', x'010203', 'ssh-ed25519 AAAA', 'first_use', 1, 0, 0)",
        )
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
    }
    let store = Store::open(&path).await.unwrap();
    let list = store.list_connections().await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(
        list[0].target,
        Target::Ssh(SshTarget {
            host: "10.0.0.5".into(),
            port: 2222,
            username: "deploy".into(),
            auth: SshAuth::PrivateKey,
            host_key: Some("ssh-ed25519 AAAA".into()),
            host_key_source: Some(HostKeySource::FirstUse),
            allow_forwarding: true,
        })
    );
    assert_eq!(list[0].secret_sealed, Some(vec![1, 2, 3]));
}
