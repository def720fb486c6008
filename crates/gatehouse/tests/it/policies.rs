//! Ending sessions by policy: a locked or deleted user loses every session
//! at once and cannot log back in; a session does not outlive the grant it
//! was opened under; and End Sessions takes a filter as well as ids.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::terminal::connect;
use crate::harness::{Sshd, Terminal, TestGateway, stdout};

const MISSING: &str = "00000000-0000-4000-8000-000000000000";

async fn login(gw: &TestGateway, username: &str, password: &str) -> (StatusCode, Value) {
    gw.post(
        None,
        "/auth/login",
        json!({ "username": username, "password": password }),
    )
    .await
}

/// The ids of the live sessions the administrator sees.
async fn live(gw: &TestGateway, admin: &str) -> BTreeSet<String> {
    let page = gw.sessions(admin, "").await;
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect()
}

fn ids(list: &Value) -> BTreeSet<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

fn set_of(terms: &[&Terminal]) -> BTreeSet<String> {
    terms.iter().map(|t| t.session_id.clone()).collect()
}

/// The shell still answers: the session was left alone.
async fn still_works(term: &mut Terminal, n: u32) {
    term.run(&format!("echo alive-$(({n}+1))")).await;
    term.expect(&format!("alive-{}", n + 1)).await;
}

#[tokio::test]
async fn locking_a_user_ends_all_their_sessions_at_once_and_refuses_their_logins_clearly() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let ops = gw.user(&admin, "ops1", "user").await;
    let dev = gw.user(&admin, "dev2", "user").await;
    let prod = gw
        .ssh_connection(&admin, &sshd, "prod-db", &["ops1", "dev2"])
        .await;
    let staging = gw.ssh_connection(&admin, &sshd, "staging", &["ops1"]).await;
    let mut theirs = vec![
        Terminal::open(&gw, &ops, &prod).await,
        Terminal::open(&gw, &ops, &prod).await,
        Terminal::open(&gw, &ops, &staging).await,
    ];
    let mut bystander = Terminal::open(&gw, &dev, &prod).await;
    let id = gw.user_id(&admin, "ops1").await;

    let (status, body) = gw
        .post(Some(&admin), &format!("/users/{id}/lock"), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["username"], "ops1");
    assert_eq!(body["disabled"], true);

    for term in &mut theirs {
        let ending = term.ended().await;
        assert_eq!(ending.message["type"], "ended");
        assert_eq!(ending.message["reason"], "user_locked");
        assert_eq!(ending.message["by"], "admin");
        assert_eq!(ending.message["message"], "account locked by admin");
        assert_eq!(ending.close.expect("a close frame").code, 1000.into());
    }
    still_works(&mut bystander, 1).await;
    assert_eq!(live(&gw, &admin).await, set_of(&[&bystander]));
    for term in &theirs {
        let row = gw.ended_history(&admin, &term.session_id).await;
        assert_eq!(row["end_reason"], "user_locked");
        assert_eq!(row["ended_by"], "admin");
        assert_eq!(row["user"], "ops1");
    }

    // Their old login is gone, and so is the way back in.
    let (status, body) = gw.get(Some(&ops), "/auth/me").await;
    assert_eq!(
        (status.as_u16(), body["error"]["code"].as_str()),
        (401, Some("unauthenticated"))
    );
    assert_eq!(connect(&gw, &ops, &prod).await.err(), Some(401));
    let (status, body) = login(&gw, "ops1", "ops1-password").await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "account_locked");
    assert_eq!(
        body["error"]["message"],
        "This account is locked. Ask an administrator to unlock it."
    );
    // A password guesser learns nothing about the lock.
    let (status, body) = login(&gw, "ops1", "a-wrong-guess").await;
    assert_eq!(
        (status.as_u16(), body["error"]["code"].as_str()),
        (401, Some("bad_credentials"))
    );

    let locks = gw.audit(&admin, "user.lock").await;
    assert_eq!(locks.len(), 1);
    assert_eq!(locks[0]["actor"], "admin");
    assert_eq!(locks[0]["target"], "ops1");
    assert_eq!(
        ids(&locks[0]["details"]["ended_sessions"]),
        set_of(&[&theirs[0], &theirs[1], &theirs[2]])
    );
    let ends = gw.audit(&admin, "session.end").await;
    let by_admin: BTreeSet<String> = ends
        .iter()
        .filter(|e| e["actor"] == "admin" && e["details"]["end_reason"] == "user_locked")
        .map(|e| e["target"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(by_admin, set_of(&[&theirs[0], &theirs[1], &theirs[2]]));
    let refused = gw.audit(&admin, "auth.login_failed").await;
    assert_eq!(refused[1]["details"]["account_locked"], true);
    assert!(refused[0]["details"].get("account_locked").is_none());

    // Unlocked, they log in and work again.
    let (status, body) = gw
        .post(Some(&admin), &format!("/users/{id}/unlock"), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["disabled"], false);
    let again = gw.login("ops1", "ops1-password").await;
    let mut back = Terminal::open(&gw, &again, &staging).await;
    still_works(&mut back, 2).await;
    let unlocks = gw.audit(&admin, "user.unlock").await;
    assert_eq!(unlocks.len(), 1);
    assert_eq!(unlocks[0]["actor"], "admin");
    assert_eq!(unlocks[0]["target"], "ops1");
}

#[tokio::test]
async fn disabling_a_user_through_patch_locks_them_the_same_way() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let ops = gw.user(&admin, "ops1", "user").await;
    let prod = gw.ssh_connection(&admin, &sshd, "prod-db", &["ops1"]).await;
    let mut term = Terminal::open(&gw, &ops, &prod).await;
    let id = gw.user_id(&admin, "ops1").await;

    let (status, body) = gw
        .patch(
            Some(&admin),
            &format!("/users/{id}"),
            json!({ "disabled": true }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let ending = term.ended().await;
    assert_eq!(ending.message["reason"], "user_locked");
    assert_eq!(ending.message["by"], "admin");
    assert_eq!(
        gw.ended_history(&admin, &term.session_id).await["end_reason"],
        "user_locked"
    );
    assert_eq!(login(&gw, "ops1", "ops1-password").await.0, 403);
}

#[tokio::test]
async fn deleting_a_user_ends_their_sessions_and_history_keeps_their_name() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let ops = gw.user(&admin, "ops1", "user").await;
    let dev = gw.user(&admin, "dev2", "user").await;
    let prod = gw
        .ssh_connection(&admin, &sshd, "prod-db", &["ops1", "dev2"])
        .await;
    let mut theirs = vec![
        Terminal::open(&gw, &ops, &prod).await,
        Terminal::open(&gw, &ops, &prod).await,
    ];
    let mut bystander = Terminal::open(&gw, &dev, &prod).await;
    let id = gw.user_id(&admin, "ops1").await;

    let (status, body) = gw.delete(Some(&admin), &format!("/users/{id}")).await;
    assert_eq!((status.as_u16(), body), (204, Value::Null));
    for term in &mut theirs {
        let ending = term.ended().await;
        assert_eq!(ending.message["reason"], "user_locked");
        assert_eq!(ending.message["by"], "admin");
        assert_eq!(ending.message["message"], "account deleted by admin");
    }
    still_works(&mut bystander, 3).await;
    for term in &theirs {
        let row = gw.ended_history(&admin, &term.session_id).await;
        assert_eq!(row["end_reason"], "user_locked");
        assert_eq!(row["user"], "ops1", "history keeps the name");
    }

    let (_, users) = gw.get(Some(&admin), "/users").await;
    assert!(
        users
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u["username"] != "ops1"),
        "{users}"
    );
    let (_, listed) = gw.get(Some(&admin), "/connections?all=true").await;
    assert_eq!(
        listed[0]["users"],
        json!(["dev2"]),
        "their grant went with them"
    );
    assert_eq!(gw.get(Some(&ops), "/auth/me").await.0, 401);
    let (status, body) = login(&gw, "ops1", "ops1-password").await;
    assert_eq!(
        (status.as_u16(), body["error"]["code"].as_str()),
        (401, Some("bad_credentials"))
    );
    let (status, body) = gw.delete(Some(&admin), &format!("/users/{id}")).await;
    assert_eq!(
        (status.as_u16(), body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );

    let deletes = gw.audit(&admin, "user.delete").await;
    assert_eq!(deletes.len(), 1);
    assert_eq!(deletes[0]["actor"], "admin");
    assert_eq!(deletes[0]["target"], "ops1");
    assert_eq!(
        ids(&deletes[0]["details"]["ended_sessions"]),
        set_of(&[&theirs[0], &theirs[1]])
    );

    // The name is free again; the new account inherits nothing.
    let fresh = gw.user(&admin, "ops1", "user").await;
    assert_eq!(connect(&gw, &fresh, &prod).await.err(), Some(403));
}

#[tokio::test]
async fn removing_a_users_direct_grant_ends_only_their_sessions_on_that_connection() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let ops = gw.user(&admin, "ops1", "user").await;
    let dev = gw.user(&admin, "dev2", "user").await;
    let prod = gw
        .ssh_connection(&admin, &sshd, "prod-db", &["ops1", "dev2"])
        .await;
    let staging = gw.ssh_connection(&admin, &sshd, "staging", &["ops1"]).await;
    let mut revoked = Terminal::open(&gw, &ops, &prod).await;
    let mut elsewhere = Terminal::open(&gw, &ops, &staging).await;
    let mut colleague = Terminal::open(&gw, &dev, &prod).await;

    let (status, body) = gw
        .patch(
            Some(&admin),
            &format!("/connections/{prod}"),
            json!({ "users": ["dev2"] }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let ending = revoked.ended().await;
    assert_eq!(ending.message["reason"], "access_revoked");
    assert_eq!(ending.message["by"], "admin");
    assert_eq!(ending.message["message"], "access to prod-db was revoked");
    still_works(&mut elsewhere, 4).await;
    still_works(&mut colleague, 5).await;
    assert_eq!(live(&gw, &admin).await, set_of(&[&elsewhere, &colleague]));

    let row = gw.ended_history(&admin, &revoked.session_id).await;
    assert_eq!(row["end_reason"], "access_revoked");
    assert_eq!(row["ended_by"], "admin");
    let events = gw.audit(&admin, "session.access_revoked").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["actor"], "admin");
    assert_eq!(events[0]["target"], revoked.session_id.as_str());
    assert_eq!(events[0]["details"]["owner"], "ops1");
    assert_eq!(events[0]["details"]["connection"], "prod-db");

    // A change that keeps every grant ends nothing.
    let (status, _) = gw
        .patch(
            Some(&admin),
            &format!("/connections/{prod}"),
            json!({ "users": ["dev2"], "roles": [] }),
        )
        .await;
    assert_eq!(status, 200);
    still_works(&mut colleague, 6).await;
    assert_eq!(gw.audit(&admin, "session.access_revoked").await.len(), 1);
}

#[tokio::test]
async fn removing_a_role_ends_the_sessions_held_only_through_that_role() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let eve = gw.user(&admin, "eve", "auditor").await;
    let gus = gw.user(&admin, "gus", "auditor").await;
    let fred = gw.user(&admin, "fred", "auditor").await;
    let audit_box = gw
        .connection(
            &admin,
            json!({ "name": "audit-box", "host": "127.0.0.1", "port": sshd.port,
                    "username": crate::harness::sshd::TARGET_USER, "private_key": sshd.client_key(),
                    "users": ["fred"], "roles": ["auditor"] }),
        )
        .await;
    let mut eves = Terminal::open(&gw, &eve, &audit_box).await;
    let mut guss = Terminal::open(&gw, &gus, &audit_box).await;
    let mut freds = Terminal::open(&gw, &fred, &audit_box).await;

    // eve loses the role that granted her the connection.
    let eve_id = gw.user_id(&admin, "eve").await;
    let (status, body) = gw
        .patch(
            Some(&admin),
            &format!("/users/{eve_id}"),
            json!({ "roles": ["user"] }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let ending = eves.ended().await;
    assert_eq!(ending.message["reason"], "access_revoked");
    assert_eq!(ending.message["by"], "admin");
    still_works(&mut guss, 7).await;
    still_works(&mut freds, 8).await;

    // The connection stops granting the role: gus goes, fred (granted
    // directly as well) stays.
    let (status, body) = gw
        .patch(
            Some(&admin),
            &format!("/connections/{audit_box}"),
            json!({ "roles": [] }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let ending = guss.ended().await;
    assert_eq!(ending.message["reason"], "access_revoked");
    still_works(&mut freds, 9).await;
    assert_eq!(live(&gw, &admin).await, set_of(&[&freds]));
    for term in [&eves, &guss] {
        assert_eq!(
            gw.ended_history(&admin, &term.session_id).await["end_reason"],
            "access_revoked"
        );
    }
    let events = gw.audit(&admin, "session.access_revoked").await;
    let owners: Vec<&Value> = events.iter().map(|e| &e["details"]["owner"]).collect();
    assert_eq!(owners, [&json!("gus"), &json!("eve")]);
}

#[tokio::test]
async fn deleting_a_connection_ends_its_sessions() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let ops = gw.user(&admin, "ops1", "user").await;
    let retired = gw.ssh_connection(&admin, &sshd, "retired", &["ops1"]).await;
    let kept = gw.ssh_connection(&admin, &sshd, "kept", &["ops1"]).await;
    let mut on_retired = vec![
        Terminal::open(&gw, &ops, &retired).await,
        Terminal::open(&gw, &ops, &retired).await,
    ];
    let mut on_kept = Terminal::open(&gw, &ops, &kept).await;

    let (status, _) = gw
        .delete(Some(&admin), &format!("/connections/{retired}"))
        .await;
    assert_eq!(status, 204);
    for term in &mut on_retired {
        let ending = term.ended().await;
        assert_eq!(ending.message["reason"], "access_revoked");
        assert_eq!(ending.message["by"], "admin");
        assert_eq!(ending.message["message"], "connection retired was deleted");
    }
    still_works(&mut on_kept, 10).await;
    for term in &on_retired {
        let row = gw.ended_history(&admin, &term.session_id).await;
        assert_eq!(row["end_reason"], "access_revoked");
        assert_eq!(row["connection"]["name"], "retired");
    }
    assert_eq!(gw.audit(&admin, "session.access_revoked").await.len(), 2);
}

#[tokio::test]
async fn a_filter_ends_exactly_the_matching_sessions() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let ops = gw.user(&admin, "ops1", "user").await;
    let dev = gw.user(&admin, "dev2", "user").await;
    let prod = gw
        .ssh_connection(&admin, &sshd, "prod-db", &["ops1", "dev2"])
        .await;
    let staging = gw
        .ssh_connection(&admin, &sshd, "staging", &["ops1", "dev2"])
        .await;
    let mut ops_prod = Terminal::open(&gw, &ops, &prod).await;
    let mut dev_prod = Terminal::open(&gw, &dev, &prod).await;
    let mut ops_staging = Terminal::open(&gw, &ops, &staging).await;
    let mut dev_staging = vec![
        Terminal::open(&gw, &dev, &staging).await,
        Terminal::open(&gw, &dev, &staging).await,
    ];

    let end = |body: Value| gw.post(Some(&admin), "/sessions/end", body);
    let (status, body) = end(json!({ "q": "PROD", "reason": "prod freeze" })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(ids(&body["ended"]), set_of(&[&ops_prod, &dev_prod]));
    assert_eq!(body["missing"], json!([]));
    for term in [&mut ops_prod, &mut dev_prod] {
        let ending = term.ended().await;
        assert_eq!(ending.message["reason"], "ended_by_admin");
        assert_eq!(ending.message["message"], "prod freeze");
    }

    let (status, body) = end(json!({ "user": "ops1" })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(ids(&body["ended"]), set_of(&[&ops_staging]));
    ops_staging.ended().await;
    still_works(&mut dev_staging[0], 11).await;

    // A filter and ids together: the union; unknown ids are reported.
    let (status, body) =
        end(json!({ "connection": "staging", "ids": [MISSING, dev_staging[0].session_id] })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        ids(&body["ended"]),
        set_of(&[&dev_staging[0], &dev_staging[1]])
    );
    assert_eq!(body["missing"], json!([MISSING]));
    for term in &mut dev_staging {
        assert_eq!(term.ended().await.message["reason"], "ended_by_admin");
    }
    assert!(live(&gw, &admin).await.is_empty());

    // Nothing left to match is not an error; an empty request is.
    let (status, body) = end(json!({ "connection": "staging" })).await;
    assert_eq!(
        (status.as_u16(), &body),
        (200, &json!({ "ended": [], "missing": [] }))
    );
    for (bad, want) in [
        (json!({}), 400),
        (json!({ "ids": [] }), 400),
        (json!({ "q": "  " }), 400),
        (json!({ "user": "not a name!" }), 422),
    ] {
        let (status, body) = end(bad.clone()).await;
        assert_eq!(status.as_u16(), want, "{bad} -> {body}");
        assert_eq!(body["error"]["code"], "invalid_request");
    }

    let requested = gw.audit(&admin, "session.end_requested").await;
    assert_eq!(requested.len(), 5);
    assert!(requested.iter().all(|e| e["actor"] == "admin"));
    let by_search = requested
        .iter()
        .find(|e| e["target"] == ops_prod.session_id.as_str())
        .unwrap();
    assert_eq!(by_search["details"]["filter"]["q"], "PROD");
}

#[tokio::test]
async fn a_plain_users_filter_reaches_only_their_own_sessions() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let ops = gw.user(&admin, "ops1", "user").await;
    let dev = gw.user(&admin, "dev2", "user").await;
    let auditor = gw.user(&admin, "eve", "auditor").await;
    let prod = gw
        .ssh_connection(&admin, &sshd, "prod-db", &["ops1", "dev2"])
        .await;
    let mut mine = Terminal::open(&gw, &ops, &prod).await;
    let mut theirs = Terminal::open(&gw, &dev, &prod).await;

    let (status, body) = gw
        .post(Some(&ops), "/sessions/end", json!({ "user": "dev2" }))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({ "ended": [], "missing": [] }));

    // An auditor sees both but may end neither: nothing ends.
    let (status, body) = gw
        .post(Some(&auditor), "/sessions/end", json!({ "q": "prod" }))
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "forbidden");
    assert_eq!(live(&gw, &admin).await.len(), 2);

    let (status, body) = gw
        .post(Some(&ops), "/sessions/end", json!({ "q": "prod" }))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({ "ended": [mine.session_id], "missing": [] }));
    let ending = mine.ended().await;
    assert_eq!(ending.message["reason"], "ended_by_owner");
    assert_eq!(ending.message["by"], "ops1");
    still_works(&mut theirs, 12).await;
}

#[tokio::test]
async fn locking_unlocking_and_deleting_users_need_users_manage() {
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let auditor = gw.user(&admin, "eve", "auditor").await;
    let user = gw.user(&admin, "ops1", "user").await;
    gw.user(&admin, "target", "user").await;
    let target = gw.user_id(&admin, "target").await;
    let admin_id = gw.user_id(&admin, "admin").await;

    let calls = [
        ("lock", format!("/users/{target}/lock")),
        ("unlock", format!("/users/{target}/unlock")),
        ("delete", format!("/users/{target}")),
    ];
    for (what, path) in &calls {
        for (who, token, want) in [
            ("auditor", Some(auditor.as_str()), 403),
            ("user", Some(user.as_str()), 403),
            ("anonymous", None, 401),
        ] {
            let (status, body) = if *what == "delete" {
                gw.delete(token, path).await
            } else {
                gw.post(token, path, json!({})).await
            };
            assert_eq!(status.as_u16(), want, "{who} {what}: {body}");
            assert!(body["error"]["code"].is_string(), "{who} {what}: {body}");
        }
    }

    // Never the last administrator; never an unknown or malformed id.
    for (status, body) in [
        gw.post(Some(&admin), &format!("/users/{admin_id}/lock"), json!({}))
            .await,
        gw.delete(Some(&admin), &format!("/users/{admin_id}")).await,
    ] {
        assert_eq!(status, 400, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("last enabled user with the admin role"),
            "{body}"
        );
    }
    assert_eq!(
        gw.post(Some(&admin), &format!("/users/{MISSING}/lock"), json!({}))
            .await
            .0,
        404
    );
    assert_eq!(
        gw.post(Some(&admin), "/users/nope/unlock", json!({}))
            .await
            .0,
        400
    );
    assert_eq!(
        gw.delete(Some(&admin), &format!("/users/{MISSING}"))
            .await
            .0,
        404
    );

    assert_eq!(gw.get(Some(&admin), "/auth/me").await.0, 200);
    assert_eq!(login(&gw, "target", "target-password").await.0, 200);
    for action in ["user.lock", "user.unlock", "user.delete"] {
        assert!(gw.audit(&admin, action).await.is_empty(), "{action}");
    }
}

#[tokio::test]
async fn the_cli_locks_users_and_ends_sessions_by_search() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let ops = gw.user(&admin, "ops1", "user").await;
    let dev = gw.user(&admin, "dev2", "user").await;
    let prod = gw.ssh_connection(&admin, &sshd, "prod-db", &["ops1"]).await;
    let staging = gw.ssh_connection(&admin, &sshd, "staging", &["dev2"]).await;
    let mut on_prod = Terminal::open(&gw, &ops, &prod).await;
    let mut on_staging = Terminal::open(&gw, &dev, &staging).await;

    let listed = gw.cli(&admin, &["users", "list"]).await;
    assert!(listed.status.success(), "{listed:?}");
    let text = stdout(&listed);
    assert!(text.starts_with("USERNAME "), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("ops1 ") && l.contains("active")),
        "{text}"
    );

    let locked = gw.cli(&admin, &["users", "lock", "OPS1"]).await;
    assert!(locked.status.success(), "{locked:?}");
    assert!(stdout(&locked).starts_with("locked ops1"), "{locked:?}");
    let ending = on_prod.ended().await;
    assert_eq!(ending.message["reason"], "user_locked");
    assert_eq!(ending.message["by"], "admin");
    let users = gw.cli(&admin, &["users", "list", "--json"]).await;
    let users: Value = serde_json::from_slice(&users.stdout).unwrap();
    let ops_row = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "ops1")
        .unwrap();
    assert_eq!(ops_row["disabled"], true);
    assert_eq!(login(&gw, "ops1", "ops1-password").await.0, 403);

    let unlocked = gw.cli(&admin, &["users", "unlock", "ops1"]).await;
    assert!(unlocked.status.success(), "{unlocked:?}");
    assert_eq!(login(&gw, "ops1", "ops1-password").await.0, 200);
    let ghost = gw.cli(&admin, &["users", "lock", "ghost"]).await;
    assert!(!ghost.status.success());
    assert!(
        String::from_utf8_lossy(&ghost.stderr).contains("no user named"),
        "{ghost:?}"
    );
    let not_allowed = gw.cli(&dev, &["users", "lock", "ops1"]).await;
    assert!(!not_allowed.status.success());
    assert!(
        String::from_utf8_lossy(&not_allowed.stderr).contains("users.manage"),
        "{not_allowed:?}"
    );

    let ended = gw
        .cli(
            &admin,
            &["sessions", "end", "--search", "STAG", "--reason", "rebuild"],
        )
        .await;
    assert!(ended.status.success(), "{ended:?}");
    assert_eq!(
        stdout(&ended).trim(),
        format!("ended   {}", on_staging.session_id)
    );
    let ending = on_staging.ended().await;
    assert_eq!(ending.message["reason"], "ended_by_admin");
    assert_eq!(ending.message["message"], "rebuild");
    let nothing = gw.cli(&admin, &["sessions", "end", "--user", "dev2"]).await;
    assert!(nothing.status.success(), "{nothing:?}");
    assert_eq!(stdout(&nothing).trim(), "no live session matched");
    let neither = gw.cli(&admin, &["sessions", "end"]).await;
    assert!(!neither.status.success(), "ids or a filter are required");
}
