//! The API's contract: its OpenAPI description, JSON errors for bad input,
//! and secrets that never come back out.

use serde_json::json;

use crate::harness::{Sshd, Terminal, TestGateway, json_of};

#[tokio::test]
async fn the_openapi_document_describes_every_endpoint() {
    let gw = TestGateway::spawn().await;
    let (status, doc) = gw.get(None, "/openapi.json").await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    let expected = [
        ("/api/v1/auth/login", "post"),
        ("/api/v1/auth/logout", "post"),
        ("/api/v1/auth/me", "get"),
        ("/api/v1/auth/login/code", "post"),
        ("/api/v1/profile/second-factor", "get"),
        ("/api/v1/profile/second-factor/enrol", "post"),
        ("/api/v1/profile/second-factor/confirm", "post"),
        ("/api/v1/profile/second-factor/disable", "post"),
        ("/api/v1/users/{id}/second-factor", "delete"),
        ("/api/v1/roles/{name}/second-factor", "put"),
        ("/api/v1/auth/providers", "get"),
        ("/api/v1/auth/oidc/{name}/start", "get"),
        ("/api/v1/auth/oidc/{name}/callback", "get"),
        ("/api/v1/auth/oidc/token", "post"),
        ("/api/v1/users", "get"),
        ("/api/v1/users", "post"),
        ("/api/v1/users/{id}", "patch"),
        ("/api/v1/users/{id}", "delete"),
        ("/api/v1/users/{id}/lock", "post"),
        ("/api/v1/users/{id}/unlock", "post"),
        ("/api/v1/connections", "get"),
        ("/api/v1/connections", "post"),
        ("/api/v1/connections/{id}", "patch"),
        ("/api/v1/connections/{id}", "delete"),
        ("/api/v1/connections/{id}/terminal", "get"),
        ("/api/v1/connections/{id}/tunnel", "get"),
        ("/api/v1/connections/{id}/limits", "get"),
        ("/api/v1/connections/{id}/limits", "put"),
        ("/api/v1/roles", "get"),
        ("/api/v1/roles/{name}/limits", "put"),
        ("/api/v1/sessions", "get"),
        ("/api/v1/sessions/{id}", "get"),
        ("/api/v1/sessions/{id}/watch", "get"),
        ("/api/v1/sessions/{id}/join", "get"),
        ("/api/v1/sessions/{id}/share", "post"),
        ("/api/v1/sessions/shared", "get"),
        (
            "/api/v1/sessions/{id}/participants/{participant}/remove",
            "post",
        ),
        ("/api/v1/sessions/{id}/unshare", "post"),
        ("/api/v1/sessions/events", "get"),
        ("/api/v1/sessions/end", "post"),
        ("/api/v1/history", "get"),
        ("/api/v1/history/{id}", "get"),
        ("/api/v1/history/{id}/recording", "get"),
        ("/api/v1/connections/{id}/recording", "get"),
        ("/api/v1/connections/{id}/recording", "put"),
        ("/api/v1/audit", "get"),
        ("/api/v1/profile/keys", "post"),
        ("/api/v1/profile/keys/{id}", "delete"),
        ("/api/v1/gateway", "get"),
        ("/api/v1/ssh-approvals/{id}", "get"),
        ("/api/v1/ssh-approvals/{id}/approve", "post"),
        ("/api/v1/ssh-approvals/{id}/deny", "post"),
        ("/api/v1/connections/{id}/desktop", "get"),
        ("/api/v1/sessions/{id}/desktop/watch", "get"),
        ("/api/v1/sessions/{id}/desktop/join", "get"),
        ("/api/v1/sessions/{id}/share/suggestions", "get"),
    ];
    for (path, method) in expected {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing"
        );
    }
    assert_eq!(
        paths.len(),
        50,
        "paths: {:?}",
        paths.keys().collect::<Vec<_>>()
    );
    assert!(doc["components"]["schemas"]["SessionView"]["properties"]["idle_seconds"].is_object());
    let recording = &doc["components"]["schemas"]["RecordingInfo"]["properties"];
    assert!(recording["duration_ms"].is_object(), "{recording}");
    assert!(
        recording.get("path").is_none(),
        "the file path stays inside the gateway"
    );
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

/// Issue 16, fix 5: the live document is valid OpenAPI, checked by
/// `openapi-spec-validator` (installed by scripts/prerequisites), not only
/// the parts this file asserts. The validator's own words are the failure.
#[tokio::test]
async fn the_openapi_document_passes_openapi_spec_validator() {
    use std::io::Write;
    use std::process::{Command, Stdio};

    let gw = TestGateway::spawn().await;
    let doc = gw
        .http()
        .get(gw.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let mut validator = Command::new("openapi-spec-validator")
        .args(["--validation-errors", "all", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openapi-spec-validator is missing: run scripts/prerequisites");
    validator.stdin.take().unwrap().write_all(&doc).unwrap();
    let out = validator.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the OpenAPI document is invalid:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Issue 16, fix 5: what the validator accepts but clients still trip on —
/// a repeated operationId, a response without a description, a query
/// parameter declared in the path, an id without `format: uuid`, an error
/// answer the server gives but the document does not list.
#[tokio::test]
async fn every_operation_is_unique_described_and_lists_its_error_answers() {
    let gw = TestGateway::spawn().await;
    let (_, doc) = gw.get(None, "/openapi.json").await;
    let mut ids = std::collections::BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let here = format!("{method} {path}");
            let id = op["operationId"].as_str().unwrap().to_owned();
            assert!(ids.insert(id.clone()), "{here}: operationId {id} repeats");
            let responses = op["responses"].as_object().unwrap();
            for (status, r) in responses {
                assert!(
                    r["description"].as_str().is_some_and(|d| !d.is_empty()),
                    "{here} {status}: no description"
                );
            }
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            for p in &params {
                let name = p["name"].as_str().unwrap();
                if p["in"] == "path" {
                    assert!(
                        path.contains(&format!("{{{name}}}")),
                        "{here}: {name} is not in the path"
                    );
                    if name != "name" {
                        assert_eq!(p["schema"]["format"], "uuid", "{here}: {name}");
                    }
                }
            }
            let mut want = vec![];
            if op.get("security").is_none() {
                want.push("401");
            }
            if params.iter().any(|p| p["in"] == "path") {
                want.extend(["400", "404"]);
            }
            if params.iter().any(|p| p["in"] == "query") {
                want.push("400");
            }
            if op.get("requestBody").is_some() {
                want.extend(["400", "413", "415", "422"]);
            }
            for status in want {
                let r = &responses
                    .get(status)
                    .unwrap_or_else(|| panic!("{here}: no {status}"));
                assert_eq!(
                    r["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/ErrorBody",
                    "{here} {status}"
                );
            }
        }
    }
    assert_eq!(ids.len(), 57);
}

#[tokio::test]
async fn bad_input_gets_a_json_error_with_the_right_status() {
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let raw = |body: &'static str, content_type: Option<&'static str>| {
        let mut req = gw
            .http()
            .post(gw.url("/sessions/end"))
            .bearer_auth(&admin)
            .body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        req.send()
    };
    let cases = [
        (json_of(raw("{\"ids\": [", Some("application/json")).await.unwrap()).await, 400, "malformed_json"),
        (json_of(raw("{\"ids\": []}", None).await.unwrap()).await, 415, "unsupported_media_type"),
        (json_of(raw("{\"ids\": [\"not-a-uuid\"]}", Some("application/json")).await.unwrap()).await, 422, "invalid_request"),
        (json_of(raw("{\"ids\": [], \"force\": true}", Some("application/json")).await.unwrap()).await, 422, "invalid_request"),
        // serde would fill a struct from an array of its fields; the contract says object.
        (json_of(raw("[[], null]", Some("application/json")).await.unwrap()).await, 422, "invalid_request"),
        (gw.put(&admin, "/roles/user/limits", json!({ "idle_timeout_seconds": u64::MAX })).await, 400, "invalid_request"),
        (json_of(raw("{\"ids\": []}", Some("application/json")).await.unwrap()).await, 400, "invalid_request"),
        (gw.get(Some(&admin), "/sessions/not-a-uuid").await, 400, "invalid_request"),
        (gw.get(Some(&admin), "/sessions?sort=password").await, 400, "invalid_request"),
        (gw.get(Some(&admin), "/sessions?limit=0").await, 400, "invalid_request"),
        (gw.get(Some(&admin), "/sessions?bogus=1").await, 400, "invalid_request"),
        (gw.get(Some(&admin), "/history?limit=100000").await, 400, "invalid_request"),
        (gw.get(Some(&admin), "/no/such/endpoint").await, 404, "not_found"),
        (gw.get(Some(&admin), "/sessions/end").await, 405, "method_not_allowed"),
        (json_of(gw.http().delete(gw.url("/sessions")).bearer_auth(&admin).send().await.unwrap()).await, 405, "method_not_allowed"),
        (gw.post(Some(&admin), "/sessions/end", json!({ "ids": ["00000000-0000-4000-8000-000000000000"], "reason": "x".repeat(501) })).await, 400, "invalid_request"),
    ];
    for (i, ((status, body), want_status, want_code)) in cases.into_iter().enumerate() {
        assert_eq!(status.as_u16(), want_status, "case {i}: {body}");
        assert_eq!(body["error"]["code"], want_code, "case {i}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "case {i}: {body}"
        );
    }

    // Past End Sessions' own limit (sized for 10,000 ids, about 400 KiB).
    let huge = json!({ "ids": [], "reason": "x".repeat(1_000_000) });
    let (status, body) = gw.post(Some(&admin), "/sessions/end", huge).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["code"], "payload_too_large");
}

#[tokio::test]
async fn connection_secrets_never_leave_the_gateway_and_are_encrypted_at_rest() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let password = "S3cret-target-password";
    let (status, created) = gw
        .post(
            Some(&admin),
            "/connections",
            json!({
            "name": "db", "host": "127.0.0.1", "port": sshd.port, "username": "svc",
            "password": password, "users": ["admin"] }),
        )
        .await;
    assert_eq!(status, 201);
    let key = sshd.client_key();
    let key_marker = key.lines().nth(1).unwrap().to_owned();
    gw.post(
        Some(&admin),
        "/connections",
        json!({
        "name": "db-key", "host": "127.0.0.1", "port": sshd.port, "username": "svc",
        "private_key": key, "users": ["admin"] }),
    )
    .await;
    let (_, listed) = gw.get(Some(&admin), "/connections?all=true").await;
    let (_, audit) = gw.get(Some(&admin), "/audit").await;
    for text in [created.to_string(), listed.to_string(), audit.to_string()] {
        assert!(
            !text.contains(password) && !text.contains(&key_marker),
            "secret leaked: {text}"
        );
    }
    assert_eq!(listed[0]["auth"], "password");
    assert_eq!(listed[1]["auth"], "private_key");

    let mut on_disk = Vec::new();
    for entry in std::fs::read_dir(gw.data_dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("gatehouse.db")
        {
            on_disk.extend(std::fs::read(path).unwrap());
        }
    }
    assert!(!on_disk.is_empty());
    let contains = |needle: &[u8]| on_disk.windows(needle.len()).any(|w| w == needle);
    assert!(
        !contains(password.as_bytes()),
        "password stored in plain text"
    );
    assert!(
        !contains(key_marker.as_bytes()),
        "private key stored in plain text"
    );

    let bad = [
        json!({ "name": "both", "host": "h", "username": "u", "password": "p", "private_key": "k" }),
        json!({ "name": "neither", "host": "h", "username": "u" }),
        json!({ "name": "badkey", "host": "h", "username": "u", "private_key": "not a key" }),
        json!({ "name": "badhost", "host": "h;rm -rf", "username": "u", "password": "p" }),
        json!({ "name": "badhostkey", "host": "h", "username": "u", "password": "p", "host_key": "nope" }),
        json!({ "name": "nouser", "host": "h", "username": "u", "password": "p", "users": ["ghost"] }),
        json!({ "name": "db", "host": "h", "username": "u", "password": "p" }),
    ];
    let want = [400, 400, 400, 400, 400, 404, 409];
    for (body, want) in bad.iter().zip(want) {
        let (status, resp) = gw.post(Some(&admin), "/connections", body.clone()).await;
        assert_eq!(status.as_u16(), want, "{body} -> {resp}");
    }
}

/// Issue 16, fix 4: `/history?text=a%00b` answered 500 (SQLite's full-text
/// `MATCH` fails on a NUL byte), and any logged-in user could send it.
#[tokio::test]
async fn a_nul_byte_in_a_search_is_a_400_never_a_500() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let ops = gw.user(&admin, "ops1", "user").await;
    let conn = gw.ssh_connection(&admin, &sshd, "box", &["ops1"]).await;
    // An ended, recorded session, so every search has rows to look through.
    let mut term = Terminal::open(&gw, &ops, &conn).await;
    term.run("echo abc-$((6*7))").await;
    term.expect("abc-42").await;
    term.run("exit").await;
    term.ended().await;
    gw.recordings_complete().await;
    gw.ended_history(&ops, &term.session_id).await;

    for (who, path) in [
        (&ops, "/history?text=a%00b"),
        (&ops, "/history?text=abc%00"),
        (&ops, "/history?q=a%00b"),
        (&admin, "/history?q=%00&text=abc"),
        (&admin, "/audit?action=session.end%00"),
    ] {
        let (status, body) = gw.get(Some(who), path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["error"]["code"], "invalid_request", "{path}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("NUL")),
            "{path}: {body}"
        );
    }
    // The live list searches in memory, where a NUL is only a character no
    // session's fields contain.
    for path in ["/sessions?q=a%00b", "/sessions?q=%00"] {
        let (status, body) = gw.get(Some(&ops), path).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    // Other odd input still searches: quotes, FTS operators, LIKE wildcards
    // and control characters.
    for path in [
        "/history?text=%22%01%27*",
        "/history?text=abc%20OR%20NEAR(",
        "/history?q=%25_%5C%01",
        "/audit?action=%22%27%25",
    ] {
        let (status, body) = gw.get(Some(&admin), path).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    let (status, found) = gw.get(Some(&ops), "/history?text=abc-42").await;
    assert_eq!(
        (status.as_u16(), &found["total"]),
        (200, &json!(1)),
        "{found}"
    );
}
