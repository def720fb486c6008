//! Logging in and out, from scripts (bearer tokens) and browsers (cookies).

use serde_json::json;

use crate::harness::{ADMIN_PASSWORD, TestGateway, json_of};

#[tokio::test]
async fn login_returns_a_token_and_a_locked_down_cookie() {
    let gw = TestGateway::spawn().await;
    let resp = gw
        .http()
        .post(gw.url("/auth/login"))
        .json(&json!({ "username": "admin", "password": ADMIN_PASSWORD }))
        .send()
        .await
        .unwrap();
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
    let (status, body) = json_of(resp).await;
    assert_eq!(status, 200);
    let token = body["token"].as_str().unwrap();
    assert_eq!(body["user"]["username"], "admin");
    assert!(
        body["user"]["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("sessions.end"))
    );
    assert!(
        cookie.starts_with(&format!("gatehouse_session={token}")),
        "{cookie}"
    );
    for attribute in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/"] {
        assert!(
            cookie.contains(attribute),
            "cookie lacks {attribute}: {cookie}"
        );
    }
    let (status, me) = gw.get(Some(token), "/auth/me").await;
    assert_eq!(
        (status.as_u16(), me["username"].as_str()),
        (200, Some("admin"))
    );
}

#[tokio::test]
async fn bad_logins_are_refused_alike_and_audited() {
    let gw = TestGateway::spawn().await;
    for (user, password) in [
        ("admin", "wrong-password"),
        ("nobody", ADMIN_PASSWORD),
        ("bad name!", "x"),
    ] {
        let (status, body) = gw
            .post(
                None,
                "/auth/login",
                json!({ "username": user, "password": password }),
            )
            .await;
        assert_eq!(status, 401, "{user}: {body}");
        assert_eq!(body["error"]["code"], "bad_credentials");
        assert_eq!(body["error"]["message"], "invalid username or password");
    }
    let admin = gw.admin().await;
    let failed = gw.audit(&admin, "auth.login_failed").await;
    assert_eq!(failed.len(), 3);
    assert_eq!(failed[2]["details"]["username"], "admin");
    assert_eq!(failed[2]["client_addr"], "127.0.0.1");
    // A name that matches no account (often a password in the wrong box)
    // is not kept.
    assert_eq!(failed[1]["details"]["username"], "unknown user");
    assert_eq!(failed[0]["details"]["username"], "unknown user");
    let (_, everything) = gw.get(Some(&admin), "/audit?limit=1000").await;
    assert!(!everything.to_string().contains("nobody"), "{everything}");
    assert_eq!(gw.audit(&admin, "auth.login").await.len(), 1);
}

#[tokio::test]
async fn a_password_guesser_is_held_back_with_429_even_when_it_guesses_right() {
    // crates/access/src/throttle.rs: five failures for one user from one
    // address are free; then the client waits 2 s, doubling after each
    // further failure.
    let gw = TestGateway::spawn().await;
    let attempt = |password: &'static str| {
        let gw = &gw;
        async move {
            gw.post(
                None,
                "/auth/login",
                json!({ "username": "admin", "password": password }),
            )
            .await
        }
    };
    for guess in 1..=5 {
        let (status, body) = attempt("wrong-password").await;
        assert_eq!(status, 401, "guess {guess}: {body}");
    }
    let fifth_failure = std::time::Instant::now();

    let (status, body) = attempt("wrong-password").await;
    assert_eq!(status, 429, "the sixth guess is held back: {body}");
    assert_eq!(body["error"]["code"], "too_many_attempts");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("too many failed logins; try again in"),
        "{body}"
    );
    let (status, body) = attempt(ADMIN_PASSWORD).await;
    assert_eq!(
        (status.as_u16(), body["error"]["code"].as_str()),
        (429, Some("too_many_attempts")),
        "the right password is refused while throttled: {body}"
    );
    assert!(body.get("token").is_none());

    // The same person from another address is not locked out by the guesser.
    let elsewhere = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    let resp = elsewhere
        .post(gw.url("/auth/login"))
        .json(&json!({ "username": "admin", "password": ADMIN_PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "from 127.0.0.2");

    // Once the wait is over, the right password works from here again.
    let token = crate::harness::eventually(std::time::Duration::from_secs(10), || async {
        let (status, body) = attempt(ADMIN_PASSWORD).await;
        (status == 200).then(|| body["token"].as_str().unwrap().to_owned())
    })
    .await
    .expect("the throttle lapses");
    let waited = fifth_failure.elapsed();
    assert!(
        waited >= std::time::Duration::from_millis(1500),
        "let in after {waited:?}, before the 2 s wait"
    );
    let failed = gw.audit(&token, "auth.login_failed").await;
    let throttled = failed
        .iter()
        .filter(|e| e["details"]["throttled"] == true)
        .count();
    assert!(throttled >= 2, "held-back attempts are audited: {failed:?}");
}

#[tokio::test]
async fn logout_ends_the_token() {
    let gw = TestGateway::spawn().await;
    let token = gw.admin().await;
    let resp = gw
        .http()
        .post(gw.url("/auth/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let (status, _) = gw.get(Some(&token), "/auth/me").await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn cookie_requests_that_change_state_must_come_from_our_own_origin() {
    let gw = TestGateway::spawn().await;
    let token = gw.admin().await;
    let cookie = format!("gatehouse_session={token}");
    let own_origin = format!("http://{}", gw.addr);
    let create = |origin: Option<&str>, name: &str| {
        let mut req = gw
            .http()
            .post(gw.url("/users"))
            .header("cookie", &cookie)
            .json(&json!({ "username": name, "password": "long-enough-pw", "roles": ["user"] }));
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        req.send()
    };
    // Reading with the cookie works from anywhere (the browser's same-origin policy guards reads).
    let resp = gw
        .http()
        .get(gw.url("/auth/me"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    let (status, body) =
        json_of(create(Some("https://evil.example"), "evil1").await.unwrap()).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "forbidden");
    let (status, _) = json_of(create(None, "evil2").await.unwrap()).await;
    assert_eq!(status, 403, "no Origin at all is refused too");
    let (status, body) = json_of(create(Some(&own_origin), "friend").await.unwrap()).await;
    assert_eq!(status, 201, "{body}");

    // A WebSocket upgrade with the cookie from another site is refused before upgrading.
    let resp = gw
        .http()
        .get(gw.url("/connections/00000000-0000-4000-8000-000000000000/terminal"))
        .header("cookie", &cookie)
        .header("origin", "https://evil.example")
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
}

#[tokio::test]
async fn users_are_created_with_roles_and_checked_input() {
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let (status, body) = gw
        .post(
            Some(&admin),
            "/users",
            json!({ "username": "Ops1", "password": "long-enough-pw", "roles": ["auditor"] }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["username"], "ops1");
    assert_eq!(body["roles"], json!(["auditor"]));
    assert!(body.get("password_hash").is_none());
    let bad = [
        (
            json!({ "username": "ops1", "password": "long-enough-pw" }),
            409,
            "conflict",
        ),
        (
            json!({ "username": "x y", "password": "long-enough-pw" }),
            422,
            "invalid_request",
        ),
        (
            json!({ "username": "ok", "password": "short" }),
            400,
            "invalid_request",
        ),
        (
            json!({ "username": "ok2", "password": "long-enough-pw", "roles": ["wizard"] }),
            404,
            "not_found",
        ),
        (
            json!({ "username": "ok3", "password": "long-enough-pw", "admin": true }),
            422,
            "invalid_request",
        ),
    ];
    for (body, status, code) in bad {
        let (got, resp) = gw.post(Some(&admin), "/users", body.clone()).await;
        assert_eq!(
            (got.as_u16(), resp["error"]["code"].as_str()),
            (status, Some(code)),
            "{body} -> {resp}"
        );
    }
    let audit = gw.audit(&admin, "user.create").await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0]["target"], "ops1");
}
