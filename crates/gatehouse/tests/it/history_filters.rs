//! History and audit narrowed by who, what, why and when (issue 21): the
//! filters an administrator with a thousand ended sessions needs, and the
//! names an audit row about a session shows instead of its id.

use gatehouse_domain::{ConnectionId, EndReason, Protocol, UserId};
use gatehouse_sessions::{ConnectionRef, EndRequest, NewSession};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::harness::TestGateway;

/// The owners of the seeded sessions, in turn.
pub const USERS: [&str; 4] = ["alice", "bob", "carol", "dave"];
/// The connections they used, in turn (five, so users and connections mix).
pub const CONNECTIONS: [&str; 5] = ["prod-db", "prod-web", "staging", "build", "backup"];

/// Writes `n` ended sessions to history the way real ones get there: opened
/// in the gateway's own registry and ended through it, so the history writer
/// and the audit subscriber record them (no SSH behind them — a thousand
/// real SSH sessions would take minutes on this machine). Session `i` is
/// `USERS[i % 4]` on `CONNECTIONS[i % 5]`; every tenth was ended by `admin`,
/// the rest closed by their client.
pub async fn ended_sessions(gw: &TestGateway, n: usize) {
    let users: Vec<_> = USERS
        .iter()
        .map(|u| (u.to_string(), UserId::new()))
        .collect();
    let connections: Vec<_> = CONNECTIONS
        .iter()
        .map(|name| ConnectionRef {
            id: ConnectionId::new(),
            name: name.to_string(),
        })
        .collect();
    for i in 0..n {
        let (user, user_id) = users[i % users.len()].clone();
        let handle = gw.registry().open(NewSession {
            user,
            user_id,
            connection: connections[i % connections.len()].clone(),
            protocol: Protocol::Ssh,
            client_addr: format!("198.51.100.{}", i % 250),
            target: "192.0.2.10:22".into(),
            recording: false,
            record_input: false,
            terminal: None,
            limits: Default::default(),
        });
        if i % 10 == 0 {
            gw.registry().end(
                handle.id(),
                EndRequest {
                    reason: EndReason::EndedByAdmin,
                    by: Some("admin".into()),
                    message: None,
                },
            );
        }
        handle.finish(EndReason::ClientClosed);
    }
    gw.registry().flush_lifecycle().await;
}

fn at(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap().replace('+', "%2B")
}

async fn total(gw: &TestGateway, token: &str, path: &str) -> (i64, Vec<Value>) {
    let (status, body) = gw.get(Some(token), path).await;
    assert_eq!(status, 200, "{path}: {body}");
    (
        body["total"].as_i64().unwrap(),
        body["items"].as_array().unwrap().clone(),
    )
}

#[tokio::test]
async fn history_filters_by_user_connection_reason_and_time() {
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let before = OffsetDateTime::now_utc() - time::Duration::seconds(1);
    ended_sessions(&gw, 200).await;
    let after = OffsetDateTime::now_utc() + time::Duration::seconds(1);

    assert_eq!(total(&gw, &admin, "/history?limit=1").await.0, 200);
    let (n, rows) = total(&gw, &admin, "/history?user=ALICE&limit=1000").await;
    assert_eq!(n, 50, "a user is matched by name, whatever the case");
    assert!(rows.iter().all(|r| r["user"] == "alice"));
    let (n, rows) = total(&gw, &admin, "/history?connection=prod-db&limit=1000").await;
    assert_eq!(n, 40);
    assert!(rows.iter().all(|r| r["connection"]["name"] == "prod-db"));
    assert_eq!(
        total(&gw, &admin, "/history?connection=prod").await.0,
        0,
        "a connection filter is its whole name, not a part of it"
    );
    let (n, rows) = total(&gw, &admin, "/history?reason=ended_by_admin&limit=1000").await;
    assert_eq!(n, 20);
    assert!(rows.iter().all(|r| r["ended_by"] == "admin"));
    // Sessions 0, 20, 40, … are alice's and ended by admin.
    let (n, _) = total(&gw, &admin, "/history?user=alice&reason=ended_by_admin").await;
    assert_eq!(n, 10, "filters combine");

    let inside = format!("/history?from={}&to={}", at(before), at(after));
    assert_eq!(total(&gw, &admin, &inside).await.0, 200);
    let later = format!("/history?from={}", at(after));
    assert_eq!(
        total(&gw, &admin, &later).await.0,
        0,
        "none ran after `from`"
    );
    let earlier = format!("/history?to={}", at(before));
    assert_eq!(
        total(&gw, &admin, &earlier).await.0,
        0,
        "none started before `to`"
    );

    for bad in [
        "/history?reason=ended_by_martians",
        "/history?from=yesterday",
        "/history?to=2026-13-01T00:00:00Z",
        &format!("/history?from={}&to={}", at(after), at(before)),
        "/audit?from=2026-11-28",
        // An empty time is no time (the OpenAPI document says date-time).
        "/history?to=",
        "/audit?to=",
        &format!("/audit?from={}&to={}", at(after), at(before)),
    ] {
        let (status, body) = gw.get(Some(&admin), bad).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["error"]["code"], "invalid_request", "{bad}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().len() > 10);
    }

    // A plain user's filters narrow their own history; they never widen it.
    let ops = gw.user(&admin, "ops1", "user").await;
    assert_eq!(total(&gw, &ops, "/history?user=alice").await.0, 0);

    // One session's row, for the replay page: an auditor's to read, not another user's.
    let (_, ended_by_admin) = total(&gw, &admin, "/history?reason=ended_by_admin&limit=1").await;
    let id = ended_by_admin[0]["id"].as_str().unwrap();
    let (status, row) = gw.get(Some(&admin), &format!("/history/{id}")).await;
    assert_eq!(status, 200, "{row}");
    assert_eq!(row["ended_by"], "admin");
    assert_eq!(row["end_reason"], "ended_by_admin");
    let (status, body) = gw.get(Some(&ops), &format!("/history/{id}")).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "not_found");
}

#[tokio::test]
async fn audit_names_the_session_and_filters_by_user_connection_and_time() {
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let before = OffsetDateTime::now_utc() - time::Duration::seconds(1);
    ended_sessions(&gw, 40).await;
    let after = OffsetDateTime::now_utc() + time::Duration::seconds(1);

    let (n, rows) = total(&gw, &admin, "/audit?action=session.start&limit=1000").await;
    assert_eq!(n, 40);
    for r in &rows {
        let session = &r["session"];
        assert!(
            USERS.contains(&session["user"].as_str().unwrap())
                && CONNECTIONS.contains(&session["connection"].as_str().unwrap()),
            "an event about a session names its user and connection: {r}"
        );
    }
    // alice's 10 sessions each started and ended; admin's login is not hers.
    let (n, rows) = total(&gw, &admin, "/audit?user=Alice&limit=1000").await;
    assert_eq!(n, 20, "{rows:?}");
    assert!(rows.iter().all(|r| r["session"]["user"] == "alice"));
    let (n, _) = total(&gw, &admin, "/audit?user=admin&action=session.end").await;
    assert_eq!(n, 4, "admin ended every tenth session");
    let (n, rows) = total(&gw, &admin, "/audit?connection=prod-db&limit=1000").await;
    assert_eq!(n, 16);
    assert!(rows.iter().all(|r| r["session"]["connection"] == "prod-db"));

    let inside = format!(
        "/audit?action=session.end&from={}&to={}",
        at(before),
        at(after)
    );
    assert_eq!(total(&gw, &admin, &inside).await.0, 40);
    let later = format!("/audit?from={}", at(after));
    assert_eq!(total(&gw, &admin, &later).await.0, 0);
}
