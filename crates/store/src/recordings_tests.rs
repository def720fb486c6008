//! Recording settings, completion and the search index, on both backends.

use gatehouse_domain::{ConnectionId, ConnectionName, EndReason, SessionId, Username};
use time::OffsetDateTime;

use crate::testdb::on_both_backends;
use crate::tests::{ended, started};
use crate::*;

async fn ops1(store: &Store) -> gatehouse_domain::UserId {
    let user = store
        .create_user(NewUser {
            username: Username::parse("ops1").unwrap(),
            password_hash: "x".into(),
            roles: vec![],
        })
        .await
        .unwrap();
    user.id
}

async fn recorded(store: &Store, user: gatehouse_domain::UserId, text: &str) -> SessionId {
    let id = SessionId::new();
    store
        .history_start(&HistoryStart {
            recording_path: Some(format!("x/{id}.cast")),
            ..started(id, user)
        })
        .await
        .unwrap();
    store
        .history_end(&ended(id, EndReason::ClientClosed))
        .await
        .unwrap();
    store
        .recording_done(&RecordingDone {
            id,
            bytes: 1234,
            duration_ms: 5678,
            truncated: false,
            text: text.into(),
        })
        .await
        .unwrap();
    id
}

async fn search(store: &Store, text: &str) -> Vec<SessionId> {
    let (total, rows) = store
        .list_history(&HistoryQuery {
            text: Some(text.into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(total as usize, rows.len());
    rows.into_iter().map(|r| r.id).collect()
}

async fn text_search_finds_the_session_whose_output_contained_it(store: Store) {
    let user = ops1(&store).await;
    let wiped = recorded(
        &store,
        user,
        "$ cd /var/lib\n$ sudo RM -RF ./data\n$ exit\n",
    )
    .await;
    let _other = recorded(&store, user, "$ ls -la\ntotal 0\n$ rm notes.txt\n").await;
    let quoted = recorded(&store, user, "$ echo \"it's done\"\n").await;

    assert_eq!(
        search(&store, "rm -rf").await,
        [wiped],
        "case-insensitive substring"
    );
    assert_eq!(
        search(&store, "\"it's").await,
        [quoted],
        "quotes are literal"
    );
    assert!(search(&store, "mkfs").await.is_empty());
    assert!(
        search(&store, "rm").await.is_empty(),
        "shorter than a trigram finds nothing, on either backend"
    );
    let percent = recorded(&store, user, "disk 100% full_now\n").await;
    assert_eq!(search(&store, "0% f").await, [percent], "% is literal");
    assert!(search(&store, "1%0").await.is_empty(), "% is no wildcard");
    assert!(search(&store, "fu_l").await.is_empty(), "_ is no wildcard");
    let row = store.history_entry(wiped).await.unwrap().unwrap();
    let info = row.recording.unwrap();
    assert_eq!((info.bytes, info.duration_ms), (Some(1234), Some(5678)));

    store.forget_recording(wiped).await.unwrap();
    assert!(search(&store, "rm -rf").await.is_empty());
    assert!(
        store
            .history_entry(wiped)
            .await
            .unwrap()
            .unwrap()
            .recording
            .is_none()
    );
    let expired = store
        .expired_recordings(OffsetDateTime::now_utc() + time::Duration::MINUTE)
        .await
        .unwrap();
    assert_eq!(expired.len(), 3);
}

async fn connections_record_by_default_and_keystrokes_only_when_set(store: Store) {
    let conn = store
        .create_connection(NewConnection {
            name: ConnectionName::parse("prod-db").unwrap(),
            target: crate::tests::ssh_target("127.0.0.1", None),
            secret_sealed: Some(vec![1]),
            users: vec![],
            roles: vec![],
        })
        .await
        .unwrap();
    assert_eq!(
        store.connection_recording(conn.id).await.unwrap(),
        RecordingSettings {
            recording: true,
            record_input: false
        }
    );
    let off = RecordingSettings {
        recording: false,
        record_input: true,
    };
    store.set_connection_recording(conn.id, off).await.unwrap();
    assert_eq!(store.connection_recording(conn.id).await.unwrap(), off);
    let nobody = ConnectionId::new();
    assert!(matches!(
        store.set_connection_recording(nobody, off).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.connection_recording(nobody).await,
        Err(StoreError::NotFound(_))
    ));
}

on_both_backends!(
    text_search_finds_the_session_whose_output_contained_it,
    connections_record_by_default_and_keystrokes_only_when_set,
);
