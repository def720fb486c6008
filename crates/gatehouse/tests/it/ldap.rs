//! LDAP login against a real OpenLDAP `slapd`: people log in with their
//! directory password on the web and the SSH listener, get roles from their
//! groups at every login, and lose sessions when a group is taken away.
//! A directory that is down or silent refuses logins promptly.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::ldap::{self, Slapd};
use crate::harness::{Sshd, TestGateway, eventually};
use crate::native_ssh::{Client, run};

/// A directory with carol (ops, staff), dave (staff) and erin (no mapped
/// group), and a gateway that logs them in against it.
async fn setup() -> (Slapd, TestGateway) {
    let slapd = Slapd::start().await;
    slapd.person("carol", "carol-directory-pw").await;
    slapd.person("dave", "dave-directory-pw").await;
    slapd.person("erin", "erin-directory-pw").await;
    slapd.group("ops", &["carol"]).await;
    slapd.group("staff", &["carol", "dave"]).await;
    slapd.group("interns", &["erin"]).await;
    let config = ldap::config(&slapd);
    let gw = TestGateway::spawn_with(move |c| c.ldap = Some(config)).await;
    (slapd, gw)
}

async fn try_login(gw: &TestGateway, user: &str, password: &str) -> (reqwest::StatusCode, Value) {
    gw.post(
        None,
        "/auth/login",
        json!({ "username": user, "password": password }),
    )
    .await
}

fn permissions(body: &Value) -> Vec<String> {
    body["user"]["permissions"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| p.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn directory_users_log_in_with_the_roles_their_groups_give() {
    let (_slapd, gw) = setup().await;

    let (status, carol) = try_login(&gw, "carol", "carol-directory-pw").await;
    assert_eq!(status, 200, "{carol}");
    assert!(
        permissions(&carol).contains(&"users.manage".into()),
        "{carol}"
    );
    let (status, dave) = try_login(&gw, "dave", "dave-directory-pw").await;
    assert_eq!(status, 200, "{dave}");
    assert!(
        !permissions(&dave).contains(&"sessions.view".into()),
        "{dave}"
    );

    // The accounts exist now, with the roles their groups map to.
    let admin = gw.admin().await;
    let (_, users) = gw.get(Some(&admin), "/users").await;
    let roles = |name: &str| {
        users
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["username"] == name)
            .map(|u| {
                let mut r: Vec<String> = serde_json::from_value(u["roles"].clone()).unwrap();
                r.sort();
                r
            })
    };
    assert_eq!(
        roles("carol"),
        Some(vec!["admin".into(), "user".into()]),
        "{users}"
    );
    assert_eq!(roles("dave"), Some(vec!["user".into()]));

    // Wrong password, unknown person, and an empty password (which would
    // be an unauthenticated bind, accepted by any directory) are refused.
    for (user, password) in [
        ("dave", "not-daves-password"),
        ("nobody", "whatever-password"),
        ("dave", ""),
    ] {
        let (status, body) = try_login(&gw, user, password).await;
        assert_eq!(status, 401, "{user}/{password:?}: {body}");
        assert_eq!(body["error"]["code"], "bad_credentials");
    }

    // Right password, but no group of erin's maps to a role: a clear refusal.
    let (status, body) = try_login(&gw, "erin", "erin-directory-pw").await;
    assert_eq!(status, 403, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("no directory group"), "{message}");

    // The local admin still logs in with the local password.
    let (status, _) = try_login(&gw, "admin", crate::harness::ADMIN_PASSWORD).await;
    assert_eq!(status, 200);

    // Audited as LDAP logins, both ways.
    let logins = gw.audit(&admin, "auth.login").await;
    assert!(
        logins
            .iter()
            .any(|e| e["actor"] == "carol" && e["details"]["method"] == "ldap"),
        "{logins:?}"
    );
    let failed = gw.audit(&admin, "auth.login_failed").await;
    assert!(
        failed
            .iter()
            .any(|e| e["details"]["username"] == "dave" && e["details"]["method"] == "ldap"),
        "{failed:?}"
    );
    // The password is nowhere in the database.
    let db = std::fs::read(gw.data_dir.path().join("gatehouse.db")).unwrap();
    let text = String::from_utf8_lossy(&db);
    assert!(!text.contains("carol-directory-pw"));
}

#[tokio::test]
async fn wrong_directory_passwords_are_throttled_like_local_ones() {
    let (_slapd, gw) = setup().await;
    let mut last = None;
    for _ in 0..8 {
        let (status, _) = try_login(&gw, "dave", "wrong-password!").await;
        last = Some(status);
    }
    assert_eq!(last, Some(reqwest::StatusCode::TOO_MANY_REQUESTS));
}

#[tokio::test]
async fn a_group_taken_away_shrinks_roles_at_the_next_login_and_ends_the_session_it_allowed() {
    let sshd = Sshd::start().await;
    let (slapd, gw) = setup().await;
    let admin = gw.admin().await;
    // carol reaches `box` only through the admin role, which `ops` gives.
    let body = json!({
        "name": "box", "host": "127.0.0.1", "port": sshd.port,
        "username": crate::harness::sshd::TARGET_USER,
        "private_key": sshd.client_key(), "roles": ["admin"],
    });
    gw.connection(&admin, body).await;

    // Native SSH, password checked by the directory; a long command keeps
    // the session open.
    let carol = gw.login("carol", "carol-directory-pw").await;
    let client = Client::unregistered(&gw, &carol).await;
    let wrong = run(client.ssh_with_password("carol:box", "not-it", "password", &["true"])).await;
    assert_eq!(wrong.0, Some(255), "{wrong:?}");
    let ssh = client
        .ssh_with_password("carol:box", "carol-directory-pw", "password", &["sleep 60"])
        .spawn()
        .unwrap();
    let live = eventually(Duration::from_secs(20), || async {
        let body = gw.sessions(&admin, "carol").await;
        (body["total"] == 1).then_some(body)
    })
    .await;
    assert!(live.is_some(), "carol's SSH session opened");

    // The directory's administrator takes carol out of ops; at her next
    // login her roles shrink to `user`, and the session `box` needed ends.
    slapd.remove_member("ops", "carol").await;
    let (status, again) = try_login(&gw, "carol", "carol-directory-pw").await;
    assert_eq!(status, 200, "{again}");
    assert!(
        !permissions(&again).contains(&"users.manage".into()),
        "{again}"
    );

    let exited = tokio::time::timeout(Duration::from_secs(15), ssh.wait_with_output())
        .await
        .expect("carol's ssh ends when her session is revoked")
        .unwrap();
    assert_ne!(exited.status.code(), Some(0));
    let ended = eventually(Duration::from_secs(10), || async {
        gw.registry().flush_lifecycle().await;
        let (_, body) = gw.get(Some(&admin), "/history?q=carol").await;
        let row = body["items"].as_array()?.first()?.clone();
        (!row["ended_at"].is_null()).then_some(row)
    })
    .await
    .expect("the session reaches history");
    assert_eq!(ended["end_reason"], "access_revoked", "{ended}");

    // SSH logins audited as `ldap` when they fail.
    let failed = gw.audit(&admin, "auth.ssh_login_failed").await;
    assert!(
        failed.iter().any(|e| e["details"]["method"] == "ldap"),
        "{failed:?}"
    );
}

#[tokio::test]
async fn a_directory_that_is_down_or_silent_refuses_logins_promptly() {
    let (mut slapd, gw) = setup().await;
    let (status, _) = try_login(&gw, "dave", "dave-directory-pw").await;
    assert_eq!(status, 200);

    slapd.stop().await;
    let started = Instant::now();
    let (status, body) = try_login(&gw, "dave", "dave-directory-pw").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "directory_unavailable");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    // A directory that accepts the connection and never answers: refused
    // after the configured timeout (2 s per step), not left hanging.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            open.push(socket);
        }
    });
    let mut config = ldap::config(&slapd);
    config.url = format!("ldap://127.0.0.1:{port}");
    let quiet = TestGateway::spawn_with(move |c| c.ldap = Some(config)).await;
    let started = Instant::now();
    let (status, body) = try_login(&quiet, "dave", "dave-directory-pw").await;
    assert_eq!(status, 503, "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    held.abort();

    // Not counted as guesses: the directory's outage locks nobody out.
    let admin = gw.admin().await;
    let failed = gw.audit(&admin, "auth.login_failed").await;
    assert!(
        failed
            .iter()
            .any(|e| e["details"]["directory_unavailable"] == true),
        "{failed:?}"
    );
}

#[tokio::test]
async fn users_found_by_a_service_account_search_log_in_too() {
    let slapd = Slapd::start().await;
    slapd.person("frank", "frank-directory-pw").await;
    slapd.group("staff", &["frank"]).await;
    let dir = tempfile::tempdir().unwrap();
    let config = ldap::search_config(&slapd, &dir.path().join("ldap-password"));
    let gw = TestGateway::spawn_with(move |c| c.ldap = Some(config)).await;

    let (status, body) = try_login(&gw, "frank", "frank-directory-pw").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["username"], "frank");
    let (status, _) = try_login(&gw, "frank", "not-franks-password").await;
    assert_eq!(status, 401);
    // The search finds nobody for a name that is not a person's uid.
    let (status, _) = try_login(&gw, "staff", "frank-directory-pw").await;
    assert_eq!(status, 401);
}
