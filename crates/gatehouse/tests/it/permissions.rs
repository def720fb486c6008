//! Every endpoint checks permissions on the server: a table of roles ×
//! endpoints, plus the unauthenticated column.

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{Sshd, TestGateway, json_of};

struct Case {
    method: Method,
    path: String,
    body: Option<Value>,
    /// Expected status for admin, auditor, user.
    expect: [u16; 3],
}

fn case(method: Method, path: impl Into<String>, body: Option<Value>, expect: [u16; 3]) -> Case {
    Case {
        method,
        path: path.into(),
        body,
        expect,
    }
}

#[tokio::test]
async fn every_endpoint_enforces_its_permission_for_every_role() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let auditor = gw.user(&admin, "eve", "auditor").await;
    let user = gw.user(&admin, "ops1", "user").await;
    let granted_to_nobody = gw.ssh_connection(&admin, &sshd, "vault", &[]).await;
    let new_user =
        |n: &str| json!({ "username": n, "password": "long-enough-pw", "roles": ["user"] });
    let new_conn = |n: &str| json!({ "name": n, "host": "127.0.0.1", "port": sshd.port, "username": "x", "password": "y" });

    let cases = [
        case(Method::GET, "/auth/me", None, [200, 200, 200]),
        case(Method::GET, "/users", None, [200, 403, 403]),
        case(Method::GET, "/connections", None, [200, 200, 200]),
        case(Method::GET, "/connections?all=true", None, [200, 403, 403]),
        case(Method::GET, "/sessions", None, [200, 200, 200]),
        case(
            Method::GET,
            "/sessions/00000000-0000-4000-8000-000000000000",
            None,
            [404, 404, 404],
        ),
        case(Method::GET, "/history", None, [200, 200, 200]),
        case(Method::GET, "/audit", None, [200, 200, 403]),
        case(
            Method::POST,
            "/sessions/end",
            Some(json!({ "ids": ["00000000-0000-4000-8000-000000000000"] })),
            [200, 200, 200],
        ),
        // Not granted to anyone: even an administrator may not open it.
        case(
            Method::GET,
            format!("/connections/{granted_to_nobody}/terminal"),
            None,
            [403, 403, 403],
        ),
    ];
    let tokens = [&admin, &auditor, &user];
    let mut failures = Vec::new();
    for c in &cases {
        for (role, token) in ["admin", "auditor", "user"].iter().zip(tokens) {
            let got = call(&gw, c, Some(token)).await;
            let want = c.expect[["admin", "auditor", "user"]
                .iter()
                .position(|r| r == role)
                .unwrap()];
            if got.0 != want {
                failures.push(format!(
                    "{role} {} {}: got {} want {want}: {}",
                    c.method, c.path, got.0, got.1
                ));
            }
            if got.0 == 403 && got.1["error"]["code"] != "forbidden" {
                failures.push(format!(
                    "{role} {} {}: 403 without a JSON error: {}",
                    c.method, c.path, got.1
                ));
            }
        }
        let anonymous = call(&gw, c, None).await;
        if anonymous.0 != 401 || anonymous.1["error"]["code"] != "unauthenticated" {
            failures.push(format!(
                "anonymous {} {}: got {} {}",
                c.method, c.path, anonymous.0, anonymous.1
            ));
        }
    }
    // Writes: each role tries with a fresh name, so a success cannot mask a later refusal.
    for (i, (role, token)) in ["admin", "auditor", "user"].iter().zip(tokens).enumerate() {
        let want = if i == 0 { 201 } else { 403 };
        for (path, body) in [
            ("/users", new_user(&format!("new-{role}"))),
            ("/connections", new_conn(&format!("new-{role}"))),
        ] {
            let got = call(
                &gw,
                &case(Method::POST, path, Some(body), [want; 3]),
                Some(token),
            )
            .await;
            if got.0 != want {
                failures.push(format!(
                    "{role} POST {path}: got {} want {want}: {}",
                    got.0, got.1
                ));
            }
        }
    }
    for path in ["/users", "/connections"] {
        let got = call(
            &gw,
            &case(Method::POST, path, Some(new_user("anon")), [0; 3]),
            None,
        )
        .await;
        if got.0 != 401 {
            failures.push(format!("anonymous POST {path}: got {}", got.0));
        }
    }
    assert!(
        failures.is_empty(),
        "permission matrix failures:\n{}",
        failures.join("\n")
    );
    // The refused terminals were refused before the gateway dialled the target.
    assert_eq!(sshd.established_connections(), 0);
}

async fn call(gw: &TestGateway, c: &Case, token: Option<&str>) -> (u16, Value) {
    let mut req = gw.http().request(c.method.clone(), gw.url(&c.path));
    if c.path.ends_with("/terminal") {
        // A real upgrade request, as a browser sends it.
        req = req
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
    }
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = &c.body {
        req = req.json(b);
    }
    let (status, body) = json_of(req.send().await.unwrap()).await;
    (status.as_u16(), body)
}
