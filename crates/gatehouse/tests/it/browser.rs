//! The web interface in a real browser: Debian's Chromium driven by
//! playwright-core (crates/web/ui/tests/*.test.mjs) against this harness's
//! gateway, sshd and httpbin.

use std::path::PathBuf;

use crate::harness::httpbin::Httpbin;
use crate::harness::sshd::{PASSWORD, TARGET_USER};
use crate::harness::tls::TestCert;
use crate::harness::{ADMIN_PASSWORD, Sshd, TestGateway};

fn ui_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../web/ui")
}

/// Runs one browser test file with `node --test`; its output is shown on failure.
async fn node_test(gw: &TestGateway, file: &str) {
    node_test_with(gw, file, &[]).await;
}

pub(crate) async fn node_test_with(gw: &TestGateway, file: &str, env: &[(&str, String)]) {
    let shots = std::env::var_os("UPDATE_SCREENSHOTS")
        .map(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots"))
        .unwrap_or_else(|| std::env::temp_dir().join("gatehouse-screenshots"));
    let out = tokio::process::Command::new("node")
        .args(["--test", "--test-reporter=tap"])
        .arg(format!("tests/{file}"))
        .current_dir(ui_dir())
        .env("GATEHOUSE_URL", format!("{}://{}", gw.scheme(), gw.addr))
        .env("GATEHOUSE_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("SCREENSHOT_DIR", shots)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .await
        .expect("node (scripts/test installs it with the UI's packages)");
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "browser test {file} failed:\n{report}"
    );
    // Guard against a runner that found nothing to run.
    assert!(
        report.contains("# pass ") && !report.contains("# pass 0"),
        "{report}"
    );
}

#[tokio::test]
async fn active_sessions_live_search_and_end_in_the_browser() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    gw.user(&admin, "ops1", "user").await;
    gw.ssh_connection(&admin, &sshd, "prod-db", &["ops1", "admin"])
        .await;
    node_test(&gw, "active-sessions.test.mjs").await;
}

#[tokio::test]
async fn history_and_audit_page_through_a_thousand_sessions_and_filter_them() {
    const SEEDED: usize = 1000;
    let gw = TestGateway::spawn().await;
    crate::history_filters::ended_sessions(&gw, SEEDED).await;
    node_test_with(&gw, "history.test.mjs", &[("SEEDED", SEEDED.to_string())]).await;
}

#[tokio::test]
async fn the_browser_uses_http2_and_a_wss_terminal_when_the_gateway_serves_https() {
    let sshd = Sshd::start().await;
    let dir = tempfile::tempdir().unwrap();
    let cert = TestCert::generate(dir.path(), "gw");
    let gw = TestGateway::spawn_with(|c| c.tls = Some(cert.files())).await;
    let admin = gw.admin().await;
    gw.user(&admin, "ops1", "user").await;
    gw.ssh_connection(&admin, &sshd, "prod-db", &["ops1"]).await;
    node_test(&gw, "https.test.mjs").await;
}

#[tokio::test]
async fn administration_pages_create_users_and_connections_in_the_browser() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    node_test_with(
        &gw,
        "administration.test.mjs",
        &[
            ("SSHD_PORT", sshd.port.to_string()),
            ("TARGET_USER", TARGET_USER.to_owned()),
            ("TARGET_PASSWORD", PASSWORD.to_owned()),
        ],
    )
    .await;
}

#[tokio::test]
async fn an_idle_browser_terminal_is_warned_and_then_ends() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn_with(|c| {
        c.idle_timeout = Some(std::time::Duration::from_secs(4));
        c.session_warning = std::time::Duration::from_secs(3);
        c.policy_interval = std::time::Duration::from_millis(100);
    })
    .await;
    let admin = gw.admin().await;
    gw.ssh_connection(&admin, &sshd, "prod-db", &["admin"])
        .await;
    node_test(&gw, "limits.test.mjs").await;
}

#[tokio::test]
async fn watching_a_session_from_active_sessions_in_the_browser() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    gw.user(&admin, "ops1", "user").await;
    gw.ssh_connection(&admin, &sshd, "prod-db", &["ops1"]).await;
    node_test(&gw, "watch.test.mjs").await;
}

#[tokio::test]
async fn locking_a_user_from_the_users_page_ends_their_sessions() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    gw.user(&admin, "ops1", "user").await;
    gw.ssh_connection(&admin, &sshd, "prod-db", &["ops1"]).await;
    node_test(&gw, "policies.test.mjs").await;
}

#[tokio::test]
async fn sharing_a_session_from_the_terminal_tab_in_the_browser() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    gw.user(&admin, "ops1", "user").await;
    gw.user(&admin, "dev2", "user").await;
    gw.ssh_connection(&admin, &sshd, "prod-db", &["ops1"]).await;
    node_test(&gw, "sharing.test.mjs").await;
}

#[tokio::test]
async fn replaying_a_recording_from_history_in_the_browser() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let ops = gw.user(&admin, "ops1", "user").await;
    let conn = gw.ssh_connection(&admin, &sshd, "prod-db", &["ops1"]).await;
    let mut term = crate::harness::Terminal::open(&gw, &ops, &conn).await;
    term.run("echo replayed-$((6*7))").await;
    term.expect("replayed-42").await;
    term.run("exit").await;
    term.ended().await;
    gw.recordings_complete().await;
    gw.ended_history(&admin, &term.session_id).await;
    node_test_with(
        &gw,
        "replay.test.mjs",
        &[("SESSION_ID", term.session_id.clone())],
    )
    .await;
}

#[tokio::test]
async fn a_web_application_published_opened_watched_ended_and_replayed_in_the_browser() {
    let httpbin = Httpbin::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    gw.user(&admin, "ops1", "user").await;
    node_test_with(&gw, "webapps.test.mjs", &[("HTTPBIN_URL", httpbin.url(""))]).await;
}

#[tokio::test]
async fn every_page_fits_the_screen_on_a_wide_screen_and_a_phone() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let long_user = format!("ops-{}", "l".repeat(56));
    let long_connection = format!("prod-{}", "database-cluster-".repeat(4))
        .trim_end_matches('-')
        .to_owned();
    gw.user(&admin, "ops1", "user").await;
    gw.user(&admin, &long_user, "user").await;
    gw.ssh_connection(&admin, &sshd, "prod-db", &["ops1", "admin"])
        .await;
    gw.ssh_connection(&admin, &sshd, &long_connection, &[&long_user])
        .await;
    node_test_with(
        &gw,
        "layout.test.mjs",
        &[
            ("LONG_USER", long_user),
            ("LONG_CONNECTION", long_connection),
        ],
    )
    .await;
}

#[tokio::test]
async fn session_limits_are_set_from_the_administration_pages() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    gw.ssh_connection(&admin, &sshd, "prod-db", &["admin"])
        .await;
    node_test(&gw, "session-limits.test.mjs").await;
}

#[tokio::test]
async fn focus_rings_borders_and_glyphs_are_legible_in_both_themes() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let conn = gw
        .ssh_connection(&admin, &sshd, "prod-db", &["admin"])
        .await;
    // Idle limit under a minute: the session is "expiring" from the start.
    let limits = serde_json::json!({ "idle_timeout_seconds": 50 });
    let (status, _) = gw
        .put(&admin, &format!("/connections/{conn}/limits"), limits)
        .await;
    assert_eq!(status, 200);
    node_test(&gw, "contrast.test.mjs").await;
}

/// Issue 22: the login page's "Log in with …" button, the provider's own
/// pages, and back logged in with the mapped role; a refusal page for
/// groups that map to no role.
#[tokio::test]
async fn single_sign_on_from_the_login_page_in_the_browser() {
    let (gw, _op) =
        crate::sso::with_provider(true, &[("alice", &["ops-admins"]), ("bob", &["sales"])]).await;
    node_test(&gw, "sso.test.mjs").await;
}
