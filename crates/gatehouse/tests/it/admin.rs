//! Administration: an administrator changes users (roles, disabled,
//! password) and connections (settings, secret, host key, grants), or
//! deletes a connection, and the change takes effect on the next request.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::sshd::{PASSWORD, TARGET_USER};
use crate::harness::terminal::{connect, next_control};
use crate::harness::{Sshd, Terminal, TestGateway};

const MISSING: &str = "00000000-0000-4000-8000-000000000000";

async fn permissions(gw: &TestGateway, token: &str) -> Vec<String> {
    let (status, me) = gw.get(Some(token), "/auth/me").await;
    assert_eq!(status, 200, "{me}");
    me["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_owned())
        .collect()
}

async fn login_status(gw: &TestGateway, username: &str, password: &str) -> StatusCode {
    gw.post(
        None,
        "/auth/login",
        json!({ "username": username, "password": password }),
    )
    .await
    .0
}

/// Opens a terminal the gateway cannot connect; returns the error message.
async fn refused(gw: &TestGateway, token: &str, conn: &str) -> Value {
    let mut ws = connect(gw, token, conn)
        .await
        .expect("upgrade succeeds; the error comes after");
    let msg = next_control(&mut ws).await.expect("an error message");
    assert_eq!(msg["type"], "error", "{msg}");
    msg
}

/// Opens a terminal on `conn` and checks the shell answers.
async fn works(gw: &TestGateway, token: &str, conn: &str) {
    let mut term = Terminal::open(gw, token, conn).await;
    term.run("echo ok-$((2+2))").await;
    term.expect("ok-4").await;
}

#[tokio::test]
async fn an_admin_changes_a_users_roles_and_their_permissions_follow() {
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let ops = gw.user(&admin, "ops1", "user").await;
    let id = gw.user_id(&admin, "ops1").await;
    assert!(permissions(&gw, &ops).await.is_empty());
    assert_eq!(gw.get(Some(&ops), "/audit").await.0, 403);

    let (status, body) = gw
        .patch(
            Some(&admin),
            &format!("/users/{id}"),
            json!({ "roles": ["auditor"] }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["username"], "ops1");
    assert_eq!(body["roles"], json!(["auditor"]));
    assert_eq!(body["disabled"], false);
    assert!(body.get("password_hash").is_none(), "{body}");

    // The same login now carries the auditor's permissions.
    let mut now = permissions(&gw, &ops).await;
    now.sort();
    assert_eq!(now, ["audit.view", "sessions.view", "sessions.watch"]);
    assert_eq!(gw.get(Some(&ops), "/audit").await.0, 200);

    let bad = [
        (
            format!("/users/{id}"),
            json!({ "roles": ["wizard"] }),
            404,
            "not_found",
        ),
        (
            format!("/users/{MISSING}"),
            json!({ "disabled": true }),
            404,
            "not_found",
        ),
        (
            "/users/not-a-uuid".to_owned(),
            json!({ "disabled": true }),
            400,
            "invalid_request",
        ),
        (
            format!("/users/{id}"),
            json!({ "admin": true }),
            422,
            "invalid_request",
        ),
    ];
    for (path, body, want, code) in bad {
        let (status, resp) = gw.patch(Some(&admin), &path, body.clone()).await;
        assert_eq!(
            (status.as_u16(), resp["error"]["code"].as_str()),
            (want, Some(code)),
            "{path} {body} -> {resp}"
        );
    }
    // The refused role change changed nothing.
    assert_eq!(permissions(&gw, &ops).await.len(), 3);

    let events = gw.audit(&admin, "user.update").await;
    assert_eq!(
        events.len(),
        1,
        "refused changes are not audited as changes"
    );
    assert_eq!(events[0]["actor"], "admin");
    assert_eq!(events[0]["target"], "ops1");
    assert_eq!(events[0]["details"], json!({ "roles": ["auditor"] }));
}

#[tokio::test]
async fn disabling_a_user_ends_their_logins_at_once_and_re_enabling_lets_them_back() {
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let ops = gw.user(&admin, "ops1", "user").await;
    let id = gw.user_id(&admin, "ops1").await;
    let me_by_cookie = |token: String| {
        gw.http()
            .get(gw.url("/auth/me"))
            .header("cookie", format!("gatehouse_session={token}"))
            .send()
    };
    assert_eq!(me_by_cookie(ops.clone()).await.unwrap().status(), 200);

    let (status, body) = gw
        .patch(
            Some(&admin),
            &format!("/users/{id}"),
            json!({ "disabled": true }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["disabled"], true);
    let (status, body) = gw.get(Some(&ops), "/auth/me").await;
    assert_eq!(
        (status.as_u16(), body["error"]["code"].as_str()),
        (401, Some("unauthenticated"))
    );
    assert_eq!(
        me_by_cookie(ops.clone()).await.unwrap().status(),
        401,
        "the cookie ends too"
    );
    // A disabled account is a locked one: the right password is told so.
    assert_eq!(login_status(&gw, "ops1", "ops1-password").await, 403);

    let (status, body) = gw
        .patch(
            Some(&admin),
            &format!("/users/{id}"),
            json!({ "disabled": false }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["disabled"], false);
    let again = gw.login("ops1", "ops1-password").await;
    assert_eq!(gw.get(Some(&again), "/auth/me").await.0, 200);
    assert_eq!(
        gw.get(Some(&ops), "/auth/me").await.0,
        401,
        "the old login stays ended"
    );

    let events = gw.audit(&admin, "user.update").await;
    let details: Vec<&Value> = events.iter().map(|e| &e["details"]).collect();
    assert_eq!(
        details,
        [&json!({ "disabled": false }), &json!({ "disabled": true })]
    );
    assert!(
        events
            .iter()
            .all(|e| e["actor"] == "admin" && e["target"] == "ops1")
    );
}

#[tokio::test]
async fn a_new_password_ends_old_logins_and_only_the_new_one_works() {
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let ops = gw.user(&admin, "ops1", "user").await;
    let id = gw.user_id(&admin, "ops1").await;
    let path = format!("/users/{id}");

    let (status, body) = gw
        .patch(Some(&admin), &path, json!({ "password": "short" }))
        .await;
    assert_eq!(
        (status.as_u16(), body["error"]["code"].as_str()),
        (400, Some("invalid_request")),
        "{body}"
    );
    assert_eq!(
        gw.get(Some(&ops), "/auth/me").await.0,
        200,
        "a refused password changes nothing"
    );

    let new_password = "a-brand-new-passphrase";
    let (status, body) = gw
        .patch(Some(&admin), &path, json!({ "password": new_password }))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(!body.to_string().contains(new_password), "{body}");
    assert_eq!(gw.get(Some(&ops), "/auth/me").await.0, 401);
    assert_eq!(login_status(&gw, "ops1", "ops1-password").await, 401);
    let fresh = gw.login("ops1", new_password).await;
    assert_eq!(gw.get(Some(&fresh), "/auth/me").await.0, 200);

    let events = gw.audit(&admin, "user.update").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["actor"], "admin");
    assert_eq!(events[0]["details"], json!({ "password_changed": true }));
    let (_, audit) = gw.get(Some(&admin), "/audit").await;
    assert!(
        !audit.to_string().contains(new_password),
        "password in the audit log"
    );
}

#[tokio::test]
async fn the_last_enabled_admin_cannot_be_disabled_or_demoted() {
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let admin_path = format!("/users/{}", gw.user_id(&admin, "admin").await);
    for change in [
        json!({ "disabled": true }),
        json!({ "roles": ["user"] }),
        json!({ "roles": [] }),
    ] {
        let (status, body) = gw.patch(Some(&admin), &admin_path, change.clone()).await;
        assert_eq!(
            (status.as_u16(), body["error"]["code"].as_str()),
            (400, Some("invalid_request")),
            "{change} -> {body}"
        );
        assert!(
            body["error"]["message"].as_str().unwrap().contains("admin"),
            "{body}"
        );
    }
    assert_eq!(permissions(&gw, &admin).await.len(), 6, "nothing changed");

    // A second admin, disabled, does not count.
    gw.user(&admin, "root2", "admin").await;
    let second_path = format!("/users/{}", gw.user_id(&admin, "root2").await);
    let (status, _) = gw
        .patch(Some(&admin), &second_path, json!({ "disabled": true }))
        .await;
    assert_eq!(status, 200);
    let (status, _) = gw
        .patch(Some(&admin), &admin_path, json!({ "roles": ["user"] }))
        .await;
    assert_eq!(status, 400);

    // Enabled again, it does: the first admin may step down.
    let (status, _) = gw
        .patch(Some(&admin), &second_path, json!({ "disabled": false }))
        .await;
    assert_eq!(status, 200);
    let (status, body) = gw
        .patch(Some(&admin), &admin_path, json!({ "roles": ["auditor"] }))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        gw.patch(Some(&admin), &second_path, json!({ "roles": ["user"] }))
            .await
            .0,
        403
    );

    // Now root2 is the last one (logging in again: disabling ended its first login).
    let second = gw.login("root2", "root2-password").await;
    let (status, _) = gw
        .patch(Some(&second), &second_path, json!({ "disabled": true }))
        .await;
    assert_eq!(status, 400);
    let (status, _) = gw
        .patch(
            Some(&second),
            &second_path,
            json!({ "roles": ["admin", "auditor"] }),
        )
        .await;
    assert_eq!(status, 200, "keeping admin among other roles is fine");
}

#[tokio::test]
async fn users_and_auditors_may_not_administer_and_strangers_must_log_in() {
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let auditor = gw.user(&admin, "eve", "auditor").await;
    let user = gw.user(&admin, "ops1", "user").await;
    let ops_id = gw.user_id(&admin, "ops1").await;
    let conn = gw
        .connection(
            &admin,
            json!({ "name": "prod-db", "host": "127.0.0.1", "port": 22,
                                    "username": "x", "password": "y", "users": ["ops1"] }),
        )
        .await;

    let mut failures = Vec::new();
    for (who, token) in [
        ("auditor", Some(&auditor)),
        ("user", Some(&user)),
        ("anonymous", None),
    ] {
        let want = if token.is_some() {
            (403, "forbidden")
        } else {
            (401, "unauthenticated")
        };
        let token = token.map(String::as_str);
        for (id, conn_id) in [(ops_id.as_str(), conn.as_str()), (MISSING, MISSING)] {
            let calls = [
                (
                    "PATCH user",
                    gw.patch(
                        token,
                        &format!("/users/{id}"),
                        json!({ "roles": ["admin"] }),
                    )
                    .await,
                ),
                (
                    "PATCH connection",
                    gw.patch(
                        token,
                        &format!("/connections/{conn_id}"),
                        json!({ "users": ["ops1", "eve"] }),
                    )
                    .await,
                ),
                (
                    "DELETE connection",
                    gw.delete(token, &format!("/connections/{conn_id}")).await,
                ),
            ];
            for (what, (status, body)) in calls {
                if (status.as_u16(), body["error"]["code"].as_str()) != (want.0, Some(want.1)) {
                    failures.push(format!("{who} {what} {id}: {status} {body}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        permissions(&gw, &user).await.is_empty(),
        "nobody made themselves admin"
    );
    let (_, listed) = gw.get(Some(&admin), "/connections?all=true").await;
    assert_eq!(listed[0]["users"], json!(["ops1"]), "grants unchanged");
    assert!(gw.audit(&admin, "user.update").await.is_empty());
    assert!(gw.audit(&admin, "connection.update").await.is_empty());
    assert!(gw.audit(&admin, "connection.delete").await.is_empty());
}

#[tokio::test]
async fn editing_a_connections_grants_changes_who_may_open_it() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let ops = gw.user(&admin, "ops1", "user").await;
    let dev = gw.user(&admin, "dev2", "user").await;
    let eve = gw.user(&admin, "eve", "auditor").await;
    let conn = gw.ssh_connection(&admin, &sshd, "prod-db", &["ops1"]).await;
    let path = format!("/connections/{conn}");
    works(&gw, &ops, &conn).await;
    assert_eq!(connect(&gw, &dev, &conn).await.err(), Some(403));

    let (status, body) = gw
        .patch(Some(&admin), &path, json!({ "users": ["dev2"] }))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["users"], json!(["dev2"]));
    assert_eq!(
        connect(&gw, &ops, &conn).await.err(),
        Some(403),
        "ops1 lost the grant"
    );
    works(&gw, &dev, &conn).await;

    // Through a role instead; an empty list takes every direct grant away.
    let (status, body) = gw
        .patch(
            Some(&admin),
            &path,
            json!({ "users": [], "roles": ["auditor"] }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (&body["users"], &body["roles"]),
        (&json!([]), &json!(["auditor"]))
    );
    assert_eq!(connect(&gw, &dev, &conn).await.err(), Some(403));
    works(&gw, &eve, &conn).await;
    let (_, listed) = gw.get(Some(&eve), "/connections").await;
    assert_eq!(listed[0]["name"], "prod-db");

    let events = gw.audit(&admin, "connection.update").await;
    assert_eq!(events.len(), 2);
    assert_eq!(events[1]["actor"], "admin");
    assert_eq!(events[1]["target"], "prod-db");
    assert_eq!(events[1]["details"]["users"], json!(["dev2"]));
    assert_eq!(events[0]["details"]["roles"], json!(["auditor"]));
}

#[tokio::test]
async fn connection_settings_are_checked_and_a_refused_change_changes_nothing() {
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let new = |name: &str| json!({ "name": name, "host": "10.0.0.5", "port": 22, "username": "deploy", "password": "pw", "users": ["admin"] });
    let conn = gw.connection(&admin, new("prod-db")).await;
    gw.connection(&admin, new("staging")).await;
    let path = format!("/connections/{conn}");

    let bad = [
        (json!({ "name": "staging" }), 409, "conflict"),
        (
            json!({ "name": "renamed", "users": ["ghost"] }),
            404,
            "not_found",
        ),
        (
            json!({ "name": "renamed", "roles": ["wizard"] }),
            404,
            "not_found",
        ),
        (json!({ "host": "h;rm -rf" }), 400, "invalid_request"),
        (json!({ "port": 0 }), 400, "invalid_request"),
        (json!({ "username": " " }), 400, "invalid_request"),
        (
            json!({ "password": "p", "private_key": "k" }),
            400,
            "invalid_request",
        ),
        (json!({ "password": "" }), 400, "invalid_request"),
        (
            json!({ "private_key": "not a key" }),
            400,
            "invalid_request",
        ),
        (json!({ "host_key": "nope" }), 400, "invalid_request"),
        (json!({ "protocol": "rdp" }), 422, "invalid_request"),
    ];
    for (body, want, code) in bad {
        let (status, resp) = gw.patch(Some(&admin), &path, body.clone()).await;
        assert_eq!(
            (status.as_u16(), resp["error"]["code"].as_str()),
            (want, Some(code)),
            "{body} -> {resp}"
        );
    }
    let (status, resp) = gw
        .patch(
            Some(&admin),
            &format!("/connections/{MISSING}"),
            json!({ "port": 2222 }),
        )
        .await;
    assert_eq!(
        (status.as_u16(), resp["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let (status, resp) = gw
        .patch(Some(&admin), "/connections/nope", json!({ "port": 2222 }))
        .await;
    assert_eq!(
        (status.as_u16(), resp["error"]["code"].as_str()),
        (400, Some("invalid_request"))
    );
    let (_, listed) = gw.get(Some(&admin), "/connections?all=true").await;
    assert_eq!(
        listed[0]["name"], "prod-db",
        "no half-applied change: {listed}"
    );
    assert_eq!(listed[0]["users"], json!(["admin"]));

    let (status, body) = gw
        .patch(
            Some(&admin),
            &path,
            json!({ "name": "prod-db-2", "host": "db.internal", "port": 2222, "username": "svc" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (
            &body["name"],
            &body["host"],
            &body["port"],
            &body["username"],
            &body["users"]
        ),
        (
            &json!("prod-db-2"),
            &json!("db.internal"),
            &json!(2222),
            &json!("svc"),
            &json!(["admin"])
        )
    );
    let events = gw.audit(&admin, "connection.update").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["target"], "prod-db-2");
    assert_eq!(events[0]["details"]["name"], "prod-db-2");
    assert_eq!(events[0]["details"]["port"], 2222);
}

#[tokio::test]
async fn a_replaced_secret_is_used_by_the_next_session_and_never_shown() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let conn = gw
        .connection(&admin, json!({ "name": "pw-box", "host": "127.0.0.1", "port": sshd.port,
                                    "username": TARGET_USER, "password": "not-the-password", "users": ["admin"] }))
        .await;
    let path = format!("/connections/{conn}");
    assert_eq!(
        refused(&gw, &admin, &conn).await["code"],
        "target_auth_failed"
    );

    let (status, body) = gw
        .patch(Some(&admin), &path, json!({ "password": PASSWORD }))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["auth"], "password");
    works(&gw, &admin, &conn).await;

    // Switch to a key, then to a key the target does not accept.
    let key = sshd.client_key();
    let key_marker = key.lines().nth(1).unwrap().to_owned();
    let (status, switched) = gw
        .patch(Some(&admin), &path, json!({ "private_key": key }))
        .await;
    assert_eq!(status, 200, "{switched}");
    assert_eq!(switched["auth"], "private_key");
    works(&gw, &admin, &conn).await;
    let (status, _) = gw
        .patch(
            Some(&admin),
            &path,
            json!({ "private_key": sshd.unknown_key() }),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        refused(&gw, &admin, &conn).await["code"],
        "target_auth_failed"
    );

    let events = gw.audit(&admin, "connection.update").await;
    assert_eq!(events.len(), 3);
    assert!(
        events
            .iter()
            .all(|e| e["details"]["secret_changed"] == true && e["actor"] == "admin"),
        "{events:?}"
    );
    assert_eq!(events[2]["details"]["auth"], "password");
    let (_, audit) = gw.get(Some(&admin), "/audit").await;
    let (_, listed) = gw.get(Some(&admin), "/connections?all=true").await;
    for text in [
        body.to_string(),
        switched.to_string(),
        audit.to_string(),
        listed.to_string(),
    ] {
        assert!(
            !text.contains(PASSWORD) && !text.contains(&key_marker),
            "secret leaked: {text}"
        );
    }
}

#[tokio::test]
async fn clearing_the_host_key_pins_the_next_one_seen() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let conn = gw
        .connection(
            &admin,
            json!({ "name": "moved", "host": "127.0.0.1", "port": sshd.port,
                                    "username": TARGET_USER, "private_key": sshd.client_key(),
                                    "host_key": sshd.other_host_key(), "users": ["admin"] }),
        )
        .await;
    let path = format!("/connections/{conn}");
    assert_eq!(
        refused(&gw, &admin, &conn).await["code"],
        "host_key_mismatch"
    );

    // A change that does not mention the host key leaves it alone.
    let (_, body) = gw
        .patch(Some(&admin), &path, json!({ "username": TARGET_USER }))
        .await;
    assert_eq!(body["host_key_source"], "administrator");
    assert_eq!(
        refused(&gw, &admin, &conn).await["code"],
        "host_key_mismatch"
    );

    let (status, body) = gw
        .patch(Some(&admin), &path, json!({ "host_key": null }))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.get("host_key_fingerprint").is_none() && body.get("host_key_source").is_none(),
        "{body}"
    );
    works(&gw, &admin, &conn).await;
    let (_, listed) = gw.get(Some(&admin), "/connections?all=true").await;
    assert_eq!(
        listed[0]["host_key_fingerprint"],
        sshd.host_key_fingerprint().as_str()
    );
    assert_eq!(listed[0]["host_key_source"], "first_use");
    assert_eq!(
        gw.audit(&admin, "connection.host_key_pinned").await.len(),
        1
    );

    // An administrator can pin it explicitly, too.
    let (status, body) = gw
        .patch(Some(&admin), &path, json!({ "host_key": sshd.host_key() }))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["host_key_source"], "administrator");
    assert_eq!(
        body["host_key_fingerprint"],
        sshd.host_key_fingerprint().as_str()
    );
    works(&gw, &admin, &conn).await;

    let events = gw.audit(&admin, "connection.update").await;
    assert_eq!(
        events[1]["details"]["host_key_fingerprint"],
        Value::Null,
        "{events:?}"
    );
    assert_eq!(
        events[0]["details"]["host_key_fingerprint"],
        sshd.host_key_fingerprint().as_str()
    );
}

#[tokio::test]
async fn a_deleted_connection_cannot_be_opened_but_its_history_stays() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let ops = gw.user(&admin, "ops1", "user").await;
    let conn = gw.ssh_connection(&admin, &sshd, "retired", &["ops1"]).await;
    let mut term = Terminal::open(&gw, &ops, &conn).await;
    term.run("echo ok-$((2+2))").await;
    term.expect("ok-4").await;
    let (status, _) = gw
        .post(
            Some(&ops),
            "/sessions/end",
            json!({ "ids": [term.session_id] }),
        )
        .await;
    assert_eq!(status, 200);
    term.ended().await;
    gw.ended_history(&admin, &term.session_id).await;

    let (status, body) = gw
        .delete(Some(&admin), &format!("/connections/{conn}"))
        .await;
    assert_eq!((status.as_u16(), body), (204, Value::Null));
    assert_eq!(connect(&gw, &ops, &conn).await.err(), Some(404));
    let (_, listed) = gw.get(Some(&admin), "/connections?all=true").await;
    assert_eq!(listed, json!([]));
    let (_, mine) = gw.get(Some(&ops), "/connections").await;
    assert_eq!(mine, json!([]));
    let (status, body) = gw
        .delete(Some(&admin), &format!("/connections/{conn}"))
        .await;
    assert_eq!(
        (status.as_u16(), body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );

    let row = gw.ended_history(&admin, &term.session_id).await;
    assert_eq!(row["connection"]["name"], "retired");
    assert_eq!(row["connection"]["id"], conn.as_str());
    let events = gw.audit(&admin, "connection.delete").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["actor"], "admin");
    assert_eq!(events[0]["target"], "retired");
    assert_eq!(events[0]["details"]["id"], conn.as_str());
}
