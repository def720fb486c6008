use std::time::Duration;

use gatehouse_domain::{ConnectionId, EndReason, Protocol, UserId};

use crate::*;

pub(crate) fn new_session(user: &str, user_id: UserId, connection: &str, addr: &str) -> NewSession {
    NewSession {
        user: user.into(),
        user_id,
        connection: ConnectionRef {
            id: ConnectionId::new(),
            name: connection.into(),
        },
        protocol: Protocol::Ssh,
        client_addr: addr.into(),
        target: "10.0.0.5:22".into(),
        recording: false,
        record_input: false,
        terminal: Some(Terminal { cols: 80, rows: 24 }),
        limits: Default::default(),
    }
}

fn ended(rx: &mut tokio::sync::mpsc::UnboundedReceiver<Lifecycle>) -> Vec<EndedSession> {
    let mut out = Vec::new();
    while let Ok(msg) = rx.try_recv() {
        if let Lifecycle::Ended(e) = msg {
            out.push(e);
        }
    }
    out
}

#[tokio::test]
async fn a_session_is_listed_until_its_handle_drops_and_ends_exactly_once() {
    let (registry, mut lifecycle) = Registry::new("gw-1");
    let handle = registry.open(new_session("ops1", UserId::new(), "prod-db", "203.0.113.7"));
    let id = handle.id();
    assert_eq!(
        registry.list(&ListQuery::default(), Visibility::All).total,
        1
    );

    assert!(registry.end(
        id,
        EndRequest {
            reason: EndReason::EndedByAdmin,
            by: Some("admin".into()),
            message: None
        }
    ));
    // A later, different request does not overwrite the first.
    assert!(registry.end(id, EndRequest::because(EndReason::IdleTimeout)));
    handle.ended().await;
    let stood = handle.finish(EndReason::ClientClosed);
    assert_eq!(stood.reason, EndReason::EndedByAdmin);

    assert!(registry.is_empty());
    assert!(!registry.end(id, EndRequest::because(EndReason::EndedByAdmin)));
    let ends = ended(&mut lifecycle);
    assert_eq!(ends.len(), 1);
    assert_eq!(ends[0].end_reason, EndReason::EndedByAdmin);
    assert_eq!(ends[0].ended_by.as_deref(), Some("admin"));
}

#[tokio::test]
async fn a_dropped_handle_without_a_reason_ends_as_error() {
    let (registry, mut lifecycle) = Registry::new("gw-1");
    drop(registry.open(new_session("ops1", UserId::new(), "prod-db", "::1")));
    let ends = ended(&mut lifecycle);
    assert_eq!(ends.len(), 1);
    assert_eq!(ends[0].end_reason, EndReason::Error);
}

#[tokio::test]
async fn search_is_case_insensitive_across_fields_and_never_spans_two() {
    let (registry, _lifecycle) = Registry::new("gw-1");
    let _a = registry.open(new_session("ops1", UserId::new(), "Prod-DB", "203.0.113.7"));
    let _b = registry.open(new_session(
        "dev2",
        UserId::new(),
        "staging",
        "198.51.100.2",
    ));
    let count = |q: &str| registry.list(&ListQuery::search(q), Visibility::All).total;
    assert_eq!(count("prod-db"), 1);
    assert_eq!(count("OPS"), 1);
    assert_eq!(count("198.51"), 1);
    assert_eq!(count("ssh"), 2);
    assert_eq!(count("10.0.0.5"), 2);
    assert_eq!(count("nothing-like-this"), 0);
    // "ops1" + "prod" would only match if fields were concatenated.
    assert_eq!(count("ops1prod"), 0);
}

#[tokio::test]
async fn several_words_must_all_match_and_ids_and_nodes_are_searched() {
    let (registry, _lifecycle) = Registry::new("gw-east");
    let alice = UserId::new();
    let a = registry.open(new_session("alice", alice, "prod-db", "203.0.113.7"));
    let _b = registry.open(new_session("alice", alice, "staging", "203.0.113.7"));
    let _c = registry.open(new_session(
        "bob",
        UserId::new(),
        "prod-web",
        "198.51.100.2",
    ));
    let count = |q: &str| registry.list(&ListQuery::search(q), Visibility::All).total;
    assert_eq!(count("alice prod"), 1);
    assert_eq!(
        count("  PROD   alice "),
        1,
        "order, case and spaces do not matter"
    );
    assert_eq!(count("prod"), 2);
    assert_eq!(count("alice prod staging"), 0);
    assert_eq!(count("gw-east"), 3);
    let id = a.id().to_string();
    assert_eq!(count(&id[..13]), 1);
    assert_eq!(count(&format!("{} alice", &id[24..])), 1);
}

#[tokio::test]
async fn search_index_forgets_closed_sessions_and_survives_compaction() {
    let (registry, _lifecycle) = Registry::new("gw-1");
    let mut handles: Vec<_> = (0..300)
        .map(|i| registry.open(new_session(&format!("user{i}"), UserId::new(), "db", "::1")))
        .collect();
    let count = |q: &str| registry.list(&ListQuery::search(q), Visibility::All).total;
    assert_eq!(count("user1"), 111); // user1, user10–19, user100–199
    // Close every second session: enough dead slots to compact the index.
    let mut kept = Vec::new();
    for (i, h) in handles.drain(..).enumerate() {
        if i % 2 == 0 {
            kept.push(h);
        }
    }
    assert_eq!(count("user1"), 55); // the even ones among those 111
    assert_eq!(count("user299"), 0);
    assert_eq!(count("user298"), 1);
    assert_eq!(count(""), 150);
    // Newest first, by start, through the index alone.
    let page = registry.list(&ListQuery::search("user2"), Visibility::All);
    assert_eq!(page.items[0].user, "user298");
    // A NUL in the query may join fields of one session, never two sessions.
    assert_eq!(count("user2\0db"), 1);
    assert_eq!(count("10.0.0.5:22\0user"), 0);
    // Sessions opened after a compaction are found too.
    kept.push(registry.open(new_session("late", UserId::new(), "db", "::1")));
    assert_eq!(count("late"), 1);
}

#[tokio::test]
async fn users_without_view_all_see_only_their_own() {
    let (registry, _lifecycle) = Registry::new("gw-1");
    let me = UserId::new();
    let _mine = registry.open(new_session("me", me, "a", "::1"));
    let _theirs = registry.open(new_session("them", UserId::new(), "a", "::1"));
    let page = registry.list(&ListQuery::default(), Visibility::OwnedBy(me));
    assert_eq!(page.total, 1);
    assert_eq!(page.items[0].user, "me");
    let (snapshot, _rx) = registry.subscribe(Visibility::OwnedBy(me));
    assert_eq!(snapshot.len(), 1);
}

#[tokio::test]
async fn listing_sorts_and_pages() {
    let (registry, _lifecycle) = Registry::new("gw-1");
    let handles: Vec<_> = ["carol", "alice", "bob", "dave"]
        .iter()
        .map(|u| registry.open(new_session(u, UserId::new(), "c", "::1")))
        .collect();
    let users = |sort: &str, limit, offset| {
        let q = ListQuery::parse(None, Some(sort), Some(limit), Some(offset)).unwrap();
        let page = registry.list(&q, Visibility::All);
        assert_eq!(page.total, 4);
        page.items.into_iter().map(|s| s.user).collect::<Vec<_>>()
    };
    assert_eq!(users("user", 2, 0), ["alice", "bob"]);
    assert_eq!(users("user", 2, 2), ["carol", "dave"]);
    assert_eq!(users("-user", 3, 0), ["dave", "carol", "bob"]);
    assert!(users("user", 2, 10).is_empty());
    assert!(ListQuery::parse(None, Some("password"), None, None).is_err());
    assert!(ListQuery::parse(None, None, Some(0), None).is_err());
    drop(handles);
}

#[tokio::test]
async fn the_feed_follows_its_snapshot_without_gaps() {
    let (registry, _lifecycle) = Registry::new("gw-1");
    let first = registry.open(new_session("a", UserId::new(), "c", "::1"));
    let (snapshot, mut rx) = registry.subscribe(Visibility::All);
    assert_eq!(snapshot.len(), 1);
    let second = registry.open(new_session("b", UserId::new(), "c", "::1"));
    second.record_input(b"abc");
    assert_eq!(registry.publish_updates(), 1);
    assert_eq!(
        registry.publish_updates(),
        0,
        "no activity since the last tick"
    );
    drop(first);
    match rx.recv().await.unwrap() {
        SessionEvent::Started(s) => assert_eq!(s.user, "b"),
        other => panic!("expected started, got {other:?}"),
    }
    match rx.recv().await.unwrap() {
        SessionEvent::Updated(s) => assert_eq!(s.bytes_from_client, 3),
        other => panic!("expected updated, got {other:?}"),
    }
    match rx.recv().await.unwrap() {
        SessionEvent::Ended(e) => assert_eq!(e.session.user, "a"),
        other => panic!("expected ended, got {other:?}"),
    }
    drop(second);
}

#[tokio::test]
async fn a_forward_let_go_after_the_end_does_not_bring_the_session_back() {
    let (registry, _lifecycle) = Registry::new("gw-1");
    let handle = registry.open(new_session("a", UserId::new(), "c", "::1"));
    let forward = handle.add_forward(crate::ForwardKind::Local, "db:5432".into());
    let (_, mut rx) = registry.subscribe(Visibility::All);
    drop(handle);
    drop(forward);
    match rx.recv().await.unwrap() {
        SessionEvent::Ended(e) => assert_eq!(e.session.user, "a"),
        other => panic!("expected ended, got {other:?}"),
    }
    assert!(
        rx.try_recv().is_err(),
        "nothing follows the end: {:?}",
        rx.try_recv()
    );
}

#[tokio::test]
async fn end_all_empties_the_registry_once_front_ends_let_go() {
    let (registry, mut lifecycle) = Registry::new("gw-1");
    let handles: Vec<_> = (0..3)
        .map(|i| registry.open(new_session(&format!("u{i}"), UserId::new(), "c", "::1")))
        .collect();
    assert_eq!(
        registry.end_all(EndRequest::because(EndReason::GatewayShutdown)),
        3
    );
    assert!(!registry.wait_until_empty(Duration::from_millis(10)).await);
    let relays: Vec<_> = handles
        .into_iter()
        .map(|h| {
            tokio::spawn(async move {
                h.ended().await;
                h.finish(EndReason::ClientClosed).reason
            })
        })
        .collect();
    for relay in relays {
        assert_eq!(relay.await.unwrap(), EndReason::GatewayShutdown);
    }
    assert!(registry.wait_until_empty(Duration::from_secs(1)).await);
    // Once empty, every end is already queued for the history writer.
    let ends = ended(&mut lifecycle);
    assert_eq!(ends.len(), 3);
    assert!(
        ends.iter()
            .all(|e| e.end_reason == EndReason::GatewayShutdown)
    );
}

#[tokio::test]
async fn end_where_ends_exactly_the_chosen_owners_sessions() {
    let (registry, _lifecycle) = Registry::new("gw-1");
    let (alice, bob) = (UserId::new(), UserId::new());
    let handles = [
        registry.open(new_session("alice", alice, "a", "::1")),
        registry.open(new_session("alice", alice, "b", "::1")),
        registry.open(new_session("bob", bob, "a", "::1")),
    ];
    let ended = registry.end_where(
        |user, _| user == alice,
        EndRequest::because(EndReason::UserLocked),
    );
    assert_eq!(ended.len(), 2);
    assert!(ended.contains(&handles[0].id()) && ended.contains(&handles[1].id()));
    assert_eq!(
        handles[0].end_request().unwrap().reason,
        EndReason::UserLocked
    );
    assert!(
        handles[2].end_request().is_none(),
        "bob's session is untouched"
    );
    assert_eq!(
        registry.owners().len(),
        3,
        "listed until their front ends let go"
    );
}

fn limited(idle: Option<u64>, max: Option<u64>) -> NewSession {
    let limit = |s: u64, by: &str| Limit {
        after: Duration::from_secs(s),
        set_by: by.into(),
    };
    NewSession {
        terminal: Some(Terminal { cols: 80, rows: 24 }),
        limits: SessionLimits {
            idle_timeout: idle.map(|s| limit(s, "connection prod-db")),
            max_duration: max.map(|s| limit(s, "role ops")),
        },
        ..new_session("ops1", UserId::new(), "prod-db", "::1")
    }
}

#[tokio::test(start_paused = true)]
async fn an_idle_session_is_warned_then_ended_and_input_resets_the_clock() {
    let (registry, mut lifecycle) = Registry::new("gw-1");
    let warn = Duration::from_secs(60);
    let handle = registry.open(limited(Some(300), None));
    let warnings = handle.warnings();

    tokio::time::advance(Duration::from_secs(200)).await;
    assert_eq!(registry.enforce(warn), 0);
    assert_eq!(
        *warnings.borrow(),
        None,
        "not yet within the warning window"
    );
    assert_eq!(
        registry.get(handle.id()).unwrap().ends_in_seconds,
        Some(100)
    );

    tokio::time::advance(Duration::from_secs(50)).await;
    registry.enforce(warn);
    assert_eq!(
        *warnings.borrow(),
        Some(Warning {
            reason: EndReason::IdleTimeout,
            seconds_left: 50
        })
    );

    // Typing withdraws the warning and restarts the idle clock.
    handle.record_input(b"x");
    assert_eq!(*warnings.borrow(), None);
    tokio::time::advance(Duration::from_secs(299)).await;
    assert_eq!(
        registry.enforce(warn),
        0,
        "299 s after the last input is not yet 300"
    );
    assert!(
        warnings.borrow().is_some(),
        "warned again in the new idle period"
    );

    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(registry.enforce(warn), 1);
    handle.ended().await;
    let request = handle.finish(EndReason::ClientClosed);
    assert_eq!(request.reason, EndReason::IdleTimeout);
    assert_eq!(request.by, None);
    assert_eq!(
        request.message.as_deref(),
        Some("no input for 5m (idle limit set by connection prod-db)")
    );
    assert_eq!(ended(&mut lifecycle)[0].end_reason, EndReason::IdleTimeout);
}

#[tokio::test(start_paused = true)]
async fn keep_alive_counts_as_activity() {
    let (registry, _lifecycle) = Registry::new("gw-1");
    let handle = registry.open(limited(Some(120), None));
    tokio::time::advance(Duration::from_secs(100)).await;
    registry.enforce(Duration::from_secs(60));
    assert!(handle.warnings().borrow().is_some());
    handle.keep_alive();
    tokio::time::advance(Duration::from_secs(100)).await;
    assert_eq!(registry.enforce(Duration::from_secs(60)), 0);
    assert!(handle.end_request().is_none());
}

#[tokio::test(start_paused = true)]
async fn a_session_past_its_maximum_duration_ends_however_busy_it_is() {
    let (registry, _lifecycle) = Registry::new("gw-1");
    let warn = Duration::from_secs(60);
    let handle = registry.open(limited(None, Some(3600)));
    let warnings = handle.warnings();
    tokio::time::advance(Duration::from_secs(3550)).await;
    handle.record_input(b"x");
    registry.enforce(warn);
    assert_eq!(
        *warnings.borrow(),
        Some(Warning {
            reason: EndReason::MaxDuration,
            seconds_left: 50
        })
    );
    handle.record_input(b"x");
    assert!(
        warnings.borrow().is_some(),
        "input does not withdraw a duration warning"
    );
    tokio::time::advance(Duration::from_secs(50)).await;
    handle.record_input(b"x");
    assert_eq!(registry.enforce(warn), 1);
    let request = handle.end_request().unwrap();
    assert_eq!(request.reason, EndReason::MaxDuration);
    assert!(
        request
            .message
            .unwrap()
            .contains("maximum duration of 1h (set by role ops)")
    );
}

#[tokio::test(start_paused = true)]
async fn sessions_without_limits_are_left_alone() {
    let (registry, _lifecycle) = Registry::new("gw-1");
    let handle = registry.open(new_session("ops1", UserId::new(), "c", "::1"));
    tokio::time::advance(Duration::from_secs(365 * 86400)).await;
    assert_eq!(registry.enforce(Duration::from_secs(60)), 0);
    assert!(handle.end_request().is_none());
    assert_eq!(registry.get(handle.id()).unwrap().ends_in_seconds, None);
}

#[tokio::test]
async fn a_watcher_sees_the_screen_so_far_then_every_change_and_is_listed_meanwhile() {
    let (registry, _lifecycle) = Registry::new("gw-1");
    let handle = registry.open(new_session("ops1", UserId::new(), "prod-db", "::1"));
    handle.record_output(&bytes::Bytes::from_static(b"printed before\r\n"));
    let (_, mut feed) = registry.subscribe(Visibility::All);

    let mut watcher = registry.watch(handle.id(), "admin", "10.0.0.9").unwrap();
    assert_eq!(watcher.screen, b"printed before\r\n");
    assert_eq!((watcher.cols, watcher.rows), (80, 24));
    let people = registry.get(handle.id()).unwrap().participants;
    assert_eq!(people.len(), 2);
    assert_eq!(
        (people[1].user.as_str(), people[1].mode),
        ("admin", ParticipantMode::Observer)
    );
    match feed.recv().await.unwrap() {
        SessionEvent::Updated(s) => {
            assert_eq!(s.participants.len(), 2, "joining is announced at once")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        handle.participants().borrow().len(),
        2,
        "the owner can see who watches"
    );

    handle.record_output(&bytes::Bytes::from_static(b"after"));
    match watcher.next().await {
        WatchEvent::Output(b) => assert_eq!(&b[..], b"after"),
        other => panic!("{other:?}"),
    }
    drop(watcher);
    assert_eq!(registry.get(handle.id()).unwrap().participants.len(), 1);
}

#[tokio::test]
async fn a_watcher_that_falls_behind_is_repainted_not_buffered() {
    let (registry, _lifecycle) = Registry::new("gw-1");
    let handle = registry.open(new_session("ops1", UserId::new(), "prod-db", "::1"));
    let mut watcher = registry.watch(handle.id(), "admin", "::1").unwrap();
    for i in 0..1000 {
        handle.record_output(&bytes::Bytes::from(format!("line {i}\r\n")));
    }
    match watcher.next().await {
        WatchEvent::Repaint { screen, .. } => {
            assert!(screen.ends_with(b"line 999\r\n"));
            assert!(screen.len() <= 64 * 1024);
        }
        other => panic!("expected a repaint, got {other:?}"),
    }
    registry.end(handle.id(), EndRequest::because(EndReason::EndedByAdmin));
    assert!(
        matches!(watcher.next().await, WatchEvent::Ended(r) if r.reason == EndReason::EndedByAdmin)
    );
    assert!(
        registry.watch(handle.id(), "late", "::1").is_none(),
        "an ending session takes no watchers"
    );
}

#[tokio::test]
async fn shared_sessions_admit_only_invitees_and_only_interactive_ones_may_type() {
    let (registry, _lifecycle) = Registry::new("gw-1");
    let handle = registry.open(new_session("ops1", UserId::new(), "prod-db", "::1"));
    let mut input = handle
        .participant_input()
        .expect("the front end takes the input once");
    assert!(handle.participant_input().is_none());
    let (pair, watcher, stranger) = (UserId::new(), UserId::new(), UserId::new());
    assert!(registry.share(handle.id(), pair, ParticipantMode::Interactive));
    assert!(registry.share(handle.id(), watcher, ParticipantMode::Observer));

    assert!(
        registry
            .join(handle.id(), stranger, "mallory", "::1")
            .is_none()
    );
    assert_eq!(registry.shared_with(pair).len(), 1);
    assert!(registry.shared_with(stranger).is_empty());

    let typist = registry.join(handle.id(), pair, "dev2", "::1").unwrap();
    let mut viewer = registry.join(handle.id(), watcher, "eve", "::1").unwrap();
    assert_eq!(typist.mode(), ParticipantMode::Interactive);
    let ls = bytes::Bytes::from_static(b"ls\n");
    assert_eq!(typist.input(&ls).await, Input::Accepted);
    let rm = bytes::Bytes::from_static(b"rm -rf /\n");
    assert_eq!(viewer.input(&rm).await, Input::Ignored);
    assert_eq!(&input.recv().await.unwrap()[..], b"ls\n");
    assert!(
        input.try_recv().is_err(),
        "the observer's keys went nowhere"
    );

    // Removing one participant leaves the session and the others alone.
    assert!(registry.remove_participant(handle.id(), viewer.participant_id(), "ops1"));
    assert!(matches!(viewer.next().await, WatchEvent::Removed { by } if by == "ops1"));
    drop(viewer);
    assert_eq!(registry.get(handle.id()).unwrap().participants.len(), 2);
    assert!(handle.end_request().is_none());
    drop(typist);
}

#[tokio::test]
async fn removing_a_participant_withdraws_their_invitation_and_unshare_withdraws_an_unused_one() {
    let (registry, _lifecycle) = Registry::new("gw-1");
    let handle = registry.open(new_session("ops1", UserId::new(), "prod-db", "::1"));
    let (dev, eve) = (UserId::new(), UserId::new());
    registry.share(handle.id(), dev, ParticipantMode::Interactive);
    registry.share(handle.id(), eve, ParticipantMode::Observer);
    let mut first = registry.join(handle.id(), dev, "dev2", "::1").unwrap();
    let mut second = registry.join(handle.id(), dev, "dev2", "::2").unwrap();

    assert!(registry.remove_participant(handle.id(), first.participant_id(), "ops1"));
    assert!(matches!(first.next().await, WatchEvent::Removed { by } if by == "ops1"));
    assert!(
        matches!(second.next().await, WatchEvent::Removed { by } if by == "ops1"),
        "the same invitation's other join goes with it"
    );
    assert!(
        registry.join(handle.id(), dev, "dev2", "::1").is_none(),
        "a removed participant cannot simply join again"
    );
    assert!(registry.shared_with(dev).is_empty());

    // An invitation nobody used yet.
    assert!(registry.unshare(handle.id(), eve, "ops1"));
    assert!(!registry.unshare(handle.id(), eve, "ops1"), "only once");
    assert!(registry.shared_with(eve).is_empty());
    assert!(registry.join(handle.id(), eve, "eve", "::1").is_none());
}

#[tokio::test]
async fn a_participant_waiting_on_a_full_input_queue_still_hears_removal_and_the_end() {
    let (registry, _lifecycle) = Registry::new("gw-1");
    let handle = registry.open(new_session("ops1", UserId::new(), "prod-db", "::1"));
    // The front end took the input but stopped reading it (a stuck target).
    let _input = handle.participant_input().unwrap();
    let dev = UserId::new();
    registry.share(handle.id(), dev, ParticipantMode::Interactive);
    let typist = registry.join(handle.id(), dev, "dev2", "::1").unwrap();
    let paste = bytes::Bytes::from(vec![b'x'; 1 << 20]);
    let mut accepted = 0;
    loop {
        let sent = tokio::time::timeout(Duration::from_millis(100), typist.input(&paste)).await;
        match sent {
            Ok(Input::Accepted) => accepted += 1,
            Ok(other) => panic!("unexpected {other:?}"),
            Err(_) => break,
        }
        assert!(accepted <= 64, "the queue is bounded");
    }
    let before = registry.get(handle.id()).unwrap().bytes_from_client;
    let waiting = typist.input(&paste);
    registry.remove_participant(handle.id(), typist.participant_id(), "ops1");
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(1), waiting).await,
        Ok(Input::Removed)
    );
    assert_eq!(
        registry.get(handle.id()).unwrap().bytes_from_client,
        before,
        "refused input is not counted"
    );

    let other = UserId::new();
    registry.share(handle.id(), other, ParticipantMode::Interactive);
    let late = registry.join(handle.id(), other, "eve", "::1").unwrap();
    let waiting = late.input(&paste);
    registry.end(handle.id(), EndRequest::because(EndReason::EndedByAdmin));
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(1), waiting).await,
        Ok(Input::Ended)
    );
}

mod search_properties {
    use proptest::prelude::*;

    use super::*;

    /// Letters that change when lowercased, or change length (`İ`), or
    /// lowercase by position (`Σ`), beside plain ones and the NUL that
    /// separates fields in the index.
    const CHARS: &[char] = &[
        'a', 'b', 'c', 'A', 'B', 'C', '0', '9', ' ', '.', '_', '-', 'Ä', 'ö', 'Σ', 'σ', '\u{130}',
        '\0',
    ];

    fn text(chars: &'static [char], len: std::ops::Range<usize>) -> impl Strategy<Value = String> {
        proptest::collection::vec(proptest::sample::select(chars), len)
            .prop_map(|c| c.into_iter().collect())
    }

    const NAME: &[char] = &[
        'a', 'b', 'c', 'x', 'y', 'z', 'A', 'B', 'Z', '0', '5', '9', '.', '_', '-',
    ];

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

        /// Whatever is typed in the search box, the registry's index
        /// answers exactly what a plain, case-insensitive substring search
        /// of each session's fields answers for every word (a word never
        /// spans two fields), and never panics.
        #[test]
        fn search_matches_a_plain_substring_search_of_the_fields(
            users in proptest::collection::vec(text(CHARS, 1..10), 1..6),
            needle in text(CHARS, 0..4),
        ) {
            let (registry, _lifecycle) = Registry::new("gw-1");
            let handles: Vec<_> = users
                .iter()
                .map(|u| registry.open(new_session(u, UserId::new(), "prod-db", "203.0.113.7")))
                .collect();
            let page = registry.list(&ListQuery::search(&needle), Visibility::All);
            let wanted = needle.to_lowercase();
            let expected = users
                .iter()
                .zip(&handles)
                .filter(|(u, h)| {
                    let id = h.id().to_string();
                    let fields = [u.as_str(), "prod-db", "ssh", "203.0.113.7", "10.0.0.5:22", &id, "gw-1"];
                    let text = fields.join("\0").to_lowercase();
                    wanted.split_whitespace().all(|w| text.contains(w))
                })
                .count();
            prop_assert_eq!(page.total, expected, "needle {:?} over {:?}", needle, users);
            drop(handles);
        }

        /// Any piece of a user's name, typed in any case, finds their session.
        #[test]
        fn any_piece_of_a_user_name_finds_the_session(
            user in text(NAME, 1..16),
            start in 0usize..16,
            len in 1usize..16,
            upper in any::<bool>(),
        ) {
            let (registry, _lifecycle) = Registry::new("gw-1");
            let _handle = registry.open(new_session(&user, UserId::new(), "prod-db", "203.0.113.7"));
            let start = start % user.len();
            let end = (start + len).min(user.len());
            let piece = &user[start..end];
            let typed = if upper { piece.to_uppercase() } else { piece.to_lowercase() };
            let page = registry.list(&ListQuery::search(&typed), Visibility::All);
            prop_assert_eq!(page.total, 1, "{:?} in {:?}", typed, user);
        }
    }
}

#[tokio::test]
async fn the_tally_counts_live_sessions_and_keeps_the_bytes_of_ended_ones() {
    let (registry, _lifecycle) = Registry::new("gw-1");
    let ssh_of = |r: &Registry| {
        r.tally()
            .into_iter()
            .find(|(p, _)| *p == Protocol::Ssh)
            .map(|(_, t)| t)
            .unwrap()
    };
    let first = registry.open(new_session("ops1", UserId::new(), "prod-db", "::1"));
    let mut tcp = new_session("ops2", UserId::new(), "prod-pg", "::1");
    tcp.protocol = Protocol::Tcp;
    tcp.terminal = None;
    let tunnel = registry.open(tcp);
    first.record_transfer(10, 1000);
    tunnel.record_transfer(7, 0);
    let live = ssh_of(&registry);
    assert_eq!(
        (live.live, live.bytes_from_clients, live.bytes_to_clients),
        (1, 10, 1000)
    );

    first.finish(EndReason::ClientClosed);
    let after = ssh_of(&registry);
    assert_eq!(
        (after.live, after.bytes_from_clients, after.bytes_to_clients),
        (0, 10, 1000),
        "an ended session's bytes stay counted"
    );
    let tcp = registry
        .tally()
        .into_iter()
        .find(|(p, _)| *p == Protocol::Tcp)
        .unwrap()
        .1;
    assert_eq!((tcp.live, tcp.bytes_from_clients), (1, 7));
    drop(tunnel);
}
