//! Single sign-on with OpenID Connect (issue 22), against a real provider
//! (`oidc-provider` from npm) that the tests start: first logins create the
//! account with the roles its groups map to, refusals are pages a person
//! can read, roles that shrink at the next login end the sessions that
//! needed them, and `gatehouse login --sso` gets a token through the
//! browser's flow. The Chromium walk through the login page is in
//! browser.rs (`sso.test.mjs`).

use std::process::Stdio;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::harness::oidc::{NAME, OidcProvider, walk};
use crate::harness::{Sshd, Terminal, TestGateway};

/// A gateway with the test provider configured, and the provider running
/// with `accounts`.
pub(crate) async fn with_provider(
    create_users: bool,
    accounts: &[(&str, &[&str])],
) -> (TestGateway, OidcProvider) {
    let mut op = OidcProvider::new();
    let settings = op.settings(create_users);
    let gw = TestGateway::spawn_with(|c| c.oidc = vec![settings]).await;
    op.start(&gw, accounts).await;
    (gw, op)
}

async fn failed_logins(gw: &TestGateway, admin: &str) -> Vec<serde_json::Value> {
    gw.audit(admin, "auth.login_failed")
        .await
        .into_iter()
        .filter(|e| e["details"]["method"] == "oidc")
        .collect()
}

#[tokio::test]
async fn a_first_sso_login_creates_the_account_with_the_mapped_roles_and_no_password() {
    let (gw, _op) = with_provider(true, &[("alice", &["ops-admins", "sales"])]).await;
    let (status, providers) = gw.get(None, "/auth/providers").await;
    assert_eq!(status, 200);
    assert_eq!(
        providers,
        json!([{ "name": NAME, "display_name": "Test IdP",
                 "start_url": format!("/api/v1/auth/oidc/{NAME}/start") }])
    );

    let token = gw.sso_login("alice").await.unwrap_or_else(|w| {
        panic!("refused: {} {}", w.status, w.body);
    });
    let (status, me) = gw.get(Some(&token), "/auth/me").await;
    assert_eq!(status, 200);
    assert_eq!(me["username"], "alice");
    assert!(
        me["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("users.manage")),
        "ops-admins maps to admin: {me}"
    );
    let admin = gw.admin().await;
    let (_, users) = gw.get(Some(&admin), "/users").await;
    let alice = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "alice")
        .unwrap();
    assert_eq!(alice["roles"], json!(["admin"]));
    // Nor can an administrator give it one.
    let (status, body) = gw
        .patch(
            Some(&admin),
            &format!("/users/{}", alice["id"].as_str().unwrap()),
            json!({ "password": "a-long-enough-password" }),
        )
        .await;
    assert_eq!(status, 400, "{body}");

    // An SSO account has no gateway password: nothing logs in as it.
    for password in ["", "!sso", "any"] {
        let (status, _) = gw
            .post(
                None,
                "/auth/login",
                json!({ "username": "alice", "password": password }),
            )
            .await;
        assert_eq!(status, 401, "password {password:?}");
    }
    let logins = gw.audit(&admin, "auth.login").await;
    let sso = logins
        .iter()
        .find(|e| e["actor"] == "alice" && e["details"]["method"] == "oidc")
        .unwrap_or_else(|| panic!("no oidc login audited: {logins:?}"));
    assert_eq!(sso["details"]["provider"], NAME);
    assert_eq!(sso["details"]["created"], true);
}

#[tokio::test]
async fn refusals_are_pages_that_say_why() {
    let (gw, op) = with_provider(true, &[("alice", &["ops"]), ("bob", &["sales"])]).await;
    let admin = gw.admin().await;

    // Groups that map to no role.
    let refused = gw.sso_login("bob").await.unwrap_err();
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(
        refused
            .body
            .contains("your groups give you no role on this gateway"),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("sales"), "{}", refused.body);
    let (_, users) = gw.get(Some(&admin), "/users").await;
    assert!(
        !users.to_string().contains("\"bob\""),
        "bob was not created"
    );

    // A state this gateway never issued.
    let resp = gw
        .http()
        .get(gw.url(&format!(
            "/auth/oidc/{NAME}/callback?state=forged&code=whatever"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(resp.text().await.unwrap().contains("wrong state"));

    // The same callback twice: the state is single use.
    let first = walk(
        &gw.url(&format!("/auth/oidc/{NAME}/start")),
        "alice",
        |url| url.contains("/callback?"),
    )
    .await;
    let callback = first.url;
    let used = gw.http().get(&callback).send().await.unwrap();
    assert_eq!(used.status(), 200, "the first use logs in");
    let again = gw.http().get(&callback).send().await.unwrap();
    assert_eq!(again.status(), 403);
    assert!(again.text().await.unwrap().contains("already used"));

    // A used code under a fresh state: the provider refuses it, and so
    // does the gateway.
    let code = query_param(&callback, "code");
    let second = walk(
        &gw.url(&format!("/auth/oidc/{NAME}/start")),
        "alice",
        |url| url.contains("/callback?"),
    )
    .await;
    let state = query_param(&second.url, "state");
    let replay = gw
        .http()
        .get(gw.url(&format!(
            "/auth/oidc/{NAME}/callback?state={state}&code={code}"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 403);
    assert!(
        replay
            .text()
            .await
            .unwrap()
            .contains("refused the sign-in code")
    );

    // An id_token signed by a key the provider's published keys do not hold.
    op.set_mode("wrong-key").await;
    let forged = gw.sso_login("alice").await.unwrap_err();
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(
        forged.body.contains("failed verification"),
        "{}",
        forged.body
    );

    // An id_token that has expired by the time it arrives.
    op.set_mode("expired").await;
    let expired = gw.sso_login("alice").await.unwrap_err();
    assert_eq!(expired.status, StatusCode::FORBIDDEN);
    assert!(expired.body.contains("Expired"), "{}", expired.body);

    op.set_mode("normal").await;
    gw.sso_login("alice")
        .await
        .expect("the provider works again");

    let reasons: Vec<String> = failed_logins(&gw, &admin)
        .await
        .iter()
        .map(|e| e["details"]["reason"].as_str().unwrap().to_owned())
        .collect();
    for reason in [
        "no_role_or_account",
        "unknown_state",
        "code_refused",
        "token_invalid",
    ] {
        assert!(
            reasons.iter().any(|r| r == reason),
            "{reason} audited: {reasons:?}"
        );
    }
    // And counted, by method, for operators.
    let metrics = gw
        .http()
        .get(format!("http://{}/metrics", gw.addr))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("gatehouse_login_failures_total{method=\"oidc\"}"),
        "{metrics}"
    );
}

fn query_param(url: &str, name: &str) -> String {
    reqwest::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no {name} in {url}"))
}

#[tokio::test]
async fn roles_that_shrink_at_the_next_sso_login_end_the_sessions_that_needed_them() {
    let sshd = Sshd::start().await;
    let (gw, op) = with_provider(true, &[("alice", &["ops", "db"])]).await;
    let admin = gw.admin().await;
    // Only the auditor role (from the `db` group) may open this one.
    let reports = gw
        .connection(
            &admin,
            json!({
                "name": "reports", "host": "127.0.0.1", "port": sshd.port,
                "username": crate::harness::sshd::TARGET_USER,
                "private_key": sshd.client_key(), "users": [], "roles": ["auditor"],
            }),
        )
        .await;
    let token = gw
        .sso_login("alice")
        .await
        .unwrap_or_else(|w| panic!("{}", w.body));
    let mut term = Terminal::open(&gw, &token, &reports).await;
    term.run("echo still-$((6*7))").await;
    term.expect("still-42").await;

    // Same groups again: nothing changes, the session goes on.
    gw.sso_login("alice")
        .await
        .unwrap_or_else(|w| panic!("{}", w.body));
    term.run("echo again-$((6*7))").await;
    term.expect("again-42").await;

    op.set_groups("alice", &["ops"]).await;
    let second = gw
        .sso_login("alice")
        .await
        .unwrap_or_else(|w| panic!("{}", w.body));
    let ended = term.ended().await;
    assert_eq!(
        ended.message["reason"], "access_revoked",
        "{:?}",
        ended.message
    );
    let (_, me) = gw.get(Some(&second), "/auth/me").await;
    assert!(
        !me["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("audit.view")),
        "{me}"
    );
    let (_, users) = gw.get(Some(&admin), "/users").await;
    let alice = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "alice")
        .cloned()
        .unwrap();
    assert_eq!(alice["roles"], json!(["user"]));
}

#[tokio::test]
async fn without_create_users_only_an_existing_account_may_sign_in() {
    let (gw, _op) = with_provider(false, &[("carol", &["ops"])]).await;
    let refused = gw.sso_login("carol").await.unwrap_err();
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(
        refused.body.contains("there is no account named carol"),
        "{}",
        refused.body
    );
    let admin = gw.admin().await;
    gw.user(&admin, "carol", "user").await;
    let token = gw
        .sso_login("carol")
        .await
        .unwrap_or_else(|w| panic!("{}", w.body));
    let (status, _) = gw.get(Some(&token), "/auth/me").await;
    assert_eq!(status, 200);
    // Linked to the provider now: the password the administrator set is gone.
    let (status, _) = gw
        .post(
            None,
            "/auth/login",
            json!({ "username": "carol", "password": "carol-password" }),
        )
        .await;
    assert_eq!(status, 401);
}

/// Runs `gatehouse login --sso` against `gw` and plays `user`'s browser on
/// the address it prints: the CLI's output, and the loopback URL the
/// gateway sent the browser to.
async fn cli_sso_login(gw: &TestGateway, user: &str) -> (std::process::Output, String) {
    let mut cli = tokio::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["login", "--sso", NAME, "--no-browser"])
        .env("GATEHOUSE_URL", format!("http://{}", gw.addr))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(cli.stderr.take().unwrap()).lines();
    let url = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(line) = stderr.next_line().await.unwrap() {
            if let Some(url) = line.trim().strip_prefix("http") {
                return format!("http{url}");
            }
        }
        panic!("the CLI printed no address");
    })
    .await
    .unwrap();
    assert!(url.contains("cli_challenge="), "{url}");
    // The rest of what the CLI says, for the caller.
    let said = tokio::spawn(async move {
        let mut rest = String::new();
        while let Ok(Some(line)) = stderr.next_line().await {
            rest.push_str(&line);
            rest.push('\n');
        }
        rest
    });

    // The browser: the provider's forms, then the gateway, then the CLI's
    // loopback address.
    let mut loopback = None;
    let done = walk(&url, user, |u| {
        if u.starts_with("http://127.0.0.1:") && u.contains("/callback?") {
            loopback = Some(u.to_owned());
        }
        false
    })
    .await;
    assert_eq!(done.status, 200, "{}", done.body);
    let loopback = loopback.expect("the gateway sent the browser to the CLI");

    let mut out = tokio::time::timeout(Duration::from_secs(20), cli.wait_with_output())
        .await
        .expect("the CLI ends once the browser is back")
        .unwrap();
    out.stderr = said.await.unwrap().into_bytes();
    (out, loopback)
}

#[tokio::test]
async fn gatehouse_login_sso_gets_a_token_through_the_browser_flow() {
    let (gw, _op) = with_provider(true, &[("dana", &["ops"])]).await;
    let (out, loopback) = cli_sso_login(&gw, "dana").await;
    assert!(out.status.success(), "{out:?}");
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(loopback.contains("code="), "{loopback}");
    assert!(!loopback.contains(&token), "the token travelled in a URL");
    let (status, me) = gw.get(Some(&token), "/auth/me").await;
    assert_eq!(status, 200);
    assert_eq!(me["username"], "dana");

    // The code was single use: trading it again fails.
    let code = query_param(&loopback, "code");
    let (status, body) = gw
        .post(
            None,
            "/auth/oidc/token",
            json!({ "code": code, "verifier": "x".repeat(64) }),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "invalid_grant");
}

/// A refusal reaches the CLI too: it says why and fails at once instead of
/// waiting for a code that will not come.
#[tokio::test]
async fn gatehouse_login_sso_says_why_the_gateway_refused() {
    let (gw, _op) = with_provider(true, &[("erin", &["sales"])]).await;
    let (out, loopback) = cli_sso_login(&gw, "erin").await;
    assert!(!out.status.success(), "{out:?}");
    assert!(out.stdout.is_empty(), "no token: {out:?}");
    assert!(loopback.contains("error="), "{loopback}");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("your groups give you no role on this gateway"),
        "{said}"
    );
}
