//! The gateway serves HTTPS itself: HTTP/2 for browsers, HSTS, a Secure
//! session cookie, the browser terminal over `wss://`, and a certificate
//! renewed on SIGHUP without dropping anyone. Plain HTTP stays on loopback.

use std::ffi::OsStr;
use std::time::Duration;

use reqwest::{StatusCode, Version};
use serde_json::json;
use tokio::process::Command;

use crate::harness::tls::{TestCert, der_of, https_client, peer_certificate};
use crate::harness::{ADMIN_PASSWORD, Sshd, Terminal, TestGateway, eventually};
use crate::restart::{GatewayProcess, open_session};

async fn spawn_tls(cert: &TestCert) -> TestGateway {
    TestGateway::spawn_with(|c| c.tls = Some(cert.files())).await
}

#[tokio::test]
async fn a_browser_logs_in_over_https_with_http2_hsts_and_a_secure_cookie() {
    let dir = tempfile::tempdir().unwrap();
    let cert = TestCert::generate(dir.path(), "gw");
    let gw = spawn_tls(&cert).await;
    assert!(gw.url("/").starts_with("https://127.0.0.1:"));

    let resp = gw
        .http()
        .post(gw.url("/auth/login"))
        .json(&json!({ "username": "admin", "password": ADMIN_PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.version(), Version::HTTP_2, "ALPN offers h2");
    assert_eq!(peer_certificate(&resp), cert.der());
    assert_eq!(
        resp.headers()["strict-transport-security"],
        "max-age=31536000"
    );
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("gatehouse_session="), "{cookie}");
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(cookie.contains("; HttpOnly"), "{cookie}");

    // Every answer carries HSTS: the UI's pages and the API's errors too.
    let page = gw
        .http()
        .get(format!("https://{}/", gw.addr))
        .send()
        .await
        .unwrap();
    assert!(page.headers().contains_key("strict-transport-security"));
    let (status, _) = gw.get(None, "/auth/me").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // The client's address still reaches the audit log through TLS.
    let admin = gw.admin().await;
    let logins = gw.audit(&admin, "auth.login").await;
    assert_eq!(logins[0]["client_addr"], "127.0.0.1");
}

#[tokio::test]
async fn the_session_cookie_works_over_http2_from_the_gateways_own_origin_only() {
    let dir = tempfile::tempdir().unwrap();
    let cert = TestCert::generate(dir.path(), "gw");
    let gw = spawn_tls(&cert).await;
    let token = gw.admin().await;
    let origin = format!("https://{}", gw.addr);
    // HTTP/2 has no Host header: the same-origin check reads :authority.
    let logout = |from: String| {
        gw.http()
            .post(gw.url("/auth/logout"))
            .header("cookie", format!("gatehouse_session={token}"))
            .header("origin", from)
            .send()
    };
    let cross = logout("https://evil.example".into()).await.unwrap();
    assert_eq!(cross.version(), Version::HTTP_2);
    assert_eq!(cross.status(), StatusCode::FORBIDDEN);
    let own = logout(origin).await.unwrap();
    assert_eq!(own.version(), Version::HTTP_2);
    assert_eq!(own.status(), StatusCode::NO_CONTENT);
    let (status, _) = gw.get(Some(&token), "/auth/me").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "logged out");
}

#[tokio::test]
async fn http1_clients_are_served_and_plain_http_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let cert = TestCert::generate(dir.path(), "gw");
    let gw = spawn_tls(&cert).await;
    let http1 = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&cert.pem()).unwrap()])
        .http1_only()
        .build()
        .unwrap();
    let resp = http1.get(gw.url("/openapi.json")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.version(), Version::HTTP_11);
    assert!(resp.headers().contains_key("strict-transport-security"));

    let plain = reqwest::Client::new()
        .get(format!("http://{}/api/v1/openapi.json", gw.addr))
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    assert!(plain.is_err(), "plain HTTP answered: {plain:?}");
    // The certificate is checked: a client that does not trust it stops.
    let untrusting = reqwest::Client::new()
        .get(gw.url("/openapi.json"))
        .send()
        .await;
    assert!(untrusting.is_err(), "{untrusting:?}");
}

#[tokio::test]
async fn the_browser_terminal_and_the_cli_work_over_tls() {
    let sshd = Sshd::start().await;
    let dir = tempfile::tempdir().unwrap();
    let cert = TestCert::generate(dir.path(), "gw");
    let gw = spawn_tls(&cert).await;
    let admin = gw.admin().await;
    let conn = gw
        .ssh_connection(&admin, &sshd, "prod-db", &["admin"])
        .await;

    assert!(gw.ws_url("/").starts_with("wss://"));
    let mut term = Terminal::open(&gw, &admin, &conn).await;
    term.run("echo over-tls-$((6*7))").await;
    term.expect("over-tls-42").await;
    let listed = gw.sessions(&admin, "").await;
    assert_eq!(listed["items"][0]["client_addr"], "127.0.0.1");

    // The CLI speaks HTTPS too, trusting what SSL_CERT_FILE names.
    let out = gw.cli(&admin, &["sessions", "list", "--json"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed["items"][0]["id"], term.session_id.as_str());
}

/// The real binary and a real SIGHUP: renewals need no restart, a broken
/// renewal changes nothing, and nobody connected notices either.
#[tokio::test]
async fn sighup_reloads_the_certificate_and_open_connections_keep_theirs() {
    let sshd = Sshd::start().await;
    let dir = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let live = TestCert::generate(dir.path(), "live");
    let first = live.der();
    let renewed = TestCert::generate(dir.path(), "renewed");
    let args: [&OsStr; 4] = [
        "--tls-cert".as_ref(),
        live.cert.as_os_str(),
        "--tls-key".as_ref(),
        live.key.as_os_str(),
    ];
    // The harness trusts the first certificate, and keeps its connection.
    let trusted_first = dir.path().join("first.crt");
    std::fs::copy(&live.cert, &trusted_first).unwrap();
    let gateway = GatewayProcess::start_with(data.path(), &args, Some(&trusted_first)).await;
    let gw = &gateway.gw;
    let (_, mut term) = open_session(gw, &sshd).await;
    let before = gw.http().get(gw.url("/openapi.json")).send().await.unwrap();
    assert_eq!(peer_certificate(&before), first);

    let hangup = || async {
        let pid = gateway.child.id().unwrap().to_string();
        let kill = Command::new("kill").args(["-HUP", &pid]).status().await;
        assert!(kill.unwrap().success());
    };
    // Half a renewal: the new certificate with the old key. Refused, logged,
    // and the old pair is still what new connections get.
    std::fs::copy(&renewed.cert, &live.cert).unwrap();
    hangup().await;
    logged(&gateway, "the TLS certificate did not load").await;
    let fresh = https_client(&std::fs::read(&trusted_first).unwrap())
        .get(gw.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(peer_certificate(&fresh), first);

    // The whole renewal: new connections get the new certificate...
    renewed.install_as(&live);
    hangup().await;
    logged(&gateway, "reloaded the TLS certificate").await;
    let fresh = https_client(&renewed.pem())
        .get(gw.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(fresh.status(), StatusCode::OK);
    assert_eq!(peer_certificate(&fresh), der_of(&renewed.cert));
    assert!(
        https_client(&std::fs::read(&trusted_first).unwrap())
            .get(gw.url("/openapi.json"))
            .send()
            .await
            .is_err(),
        "a new connection still got the old certificate"
    );

    // ...while the connections made before go on with theirs.
    let after = gw.http().get(gw.url("/openapi.json")).send().await.unwrap();
    assert_eq!(after.status(), StatusCode::OK);
    assert_eq!(peer_certificate(&after), first, "the same connection");
    term.run("echo still-$((40+2))").await;
    term.expect("still-42").await;
    let admin = gw.admin().await;
    assert_eq!(gw.sessions(&admin, "").await["total"], 1);
}

/// Waits (up to 5 s) until the gateway process has logged `needle`.
async fn logged(gateway: &GatewayProcess, needle: &str) {
    eventually(Duration::from_secs(5), || async {
        gateway.log_so_far().contains(needle).then_some(())
    })
    .await
    .unwrap_or_else(|| panic!("{needle:?} not logged:\n{}", gateway.log_so_far()));
}

#[tokio::test]
async fn plain_http_off_loopback_is_refused_at_start() {
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["serve", "--http", "0.0.0.0:0", "--ssh", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(data.path().join("data"))
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("refusing to serve plain HTTP on 0.0.0.0:0"),
        "{stderr}"
    );
    assert!(!data.path().join("data").exists(), "nothing was created");
}
