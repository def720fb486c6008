//! SSH login approval links: a user with no password the gateway can check
//! (an SSO account) connects with the real OpenSSH client; keyboard-
//! interactive shows a one-time link; the same user approves or denies it
//! through the API; only they may; it expires.
//!
//! The SSO account is made the way one looks in the store: created with a
//! password (so the test can hold a browser login for it), then its stored
//! password replaced by no usable hash, as accounts that an identity
//! provider created have.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::process::{Child, Command};

use crate::harness::{Sshd, TestGateway, eventually};
use crate::native_ssh::Client;

/// A gateway with approval links on (links valid `ttl`), a target, and
/// `sso1` (no usable password, logged in on the web) granted `box`.
async fn setup(ttl: Duration) -> (TestGateway, Sshd, String, String) {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn_with(move |c| {
        c.ssh_approval = true;
        c.ssh_approval_ttl = ttl;
    })
    .await;
    let admin = gw.admin().await;
    let sso = gw.user(&admin, "sso1", "user").await;
    gw.ssh_connection(&admin, &sshd, "box", &["sso1"]).await;
    let id = gw.user_id(&admin, "sso1").await;
    let store = gatehouse_store::Store::open(&gw.data_dir.path().join("gatehouse.db"))
        .await
        .unwrap();
    store
        .set_user_password_hash(id.parse().unwrap(), "!sso")
        .await
        .unwrap();
    (gw, sshd, admin, sso)
}

/// `ssh -o PreferredAuthentications=keyboard-interactive LOGIN@gw ARGS`
/// whose askpass helper writes every prompt to a file and answers with an
/// empty line (Enter). Returns the client and the prompts file.
fn ssh_waiting(client: &Client, login: &str, args: &[&str]) -> (Child, PathBuf) {
    let prompts = client.dir.path().join("prompts");
    let askpass = client.dir.path().join("askpass-record");
    std::fs::write(
        &askpass,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$1\" >> '{}'\necho ''\n",
            prompts.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &askpass,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let child = Command::new("ssh")
        .args(client.options())
        .args([
            "-o",
            "PubkeyAuthentication=no",
            "-o",
            "PreferredAuthentications=keyboard-interactive",
            "-o",
            "NumberOfPasswordPrompts=1",
            "-p",
            &client.port.to_string(),
        ])
        .arg(format!("{login}@127.0.0.1"))
        .args(args)
        .env("SSH_ASKPASS", &askpass)
        .env("SSH_ASKPASS_REQUIRE", "force")
        .env("DISPLAY", ":0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    (child, prompts)
}

/// The request id in the link the client was shown.
async fn link_id(prompts: &PathBuf) -> String {
    eventually(Duration::from_secs(20), || async {
        let text = std::fs::read_to_string(prompts).ok()?;
        let at = text.find("/approve/")?;
        let id: String = text[at + "/approve/".len()..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        (!id.is_empty()).then_some(id)
    })
    .await
    .expect("the client is shown an approval link")
}

async fn finish(child: Child) -> (Option<i32>, String, String) {
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("ssh finishes")
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn an_sso_user_approves_their_ssh_login_in_the_browser_and_the_session_opens() {
    let (gw, _sshd, admin, sso) = setup(Duration::from_secs(50)).await;
    let client = Client::unregistered(&gw, &sso).await;
    let (ssh, prompts) = ssh_waiting(&client, "sso1:box", &["echo approved-$((6*7))"]);
    let id = link_id(&prompts).await;
    let shown = std::fs::read_to_string(&prompts).unwrap();
    assert!(
        shown.contains(&format!("http://{}/approve/{id}", gw.addr)),
        "{shown}"
    );

    // What the page shows: whose login, from where, to what, when.
    let (status, request) = gw.get(Some(&sso), &format!("/ssh-approvals/{id}")).await;
    assert_eq!(status, 200, "{request}");
    assert_eq!(request["user"], "sso1");
    assert_eq!(request["client_addr"], "127.0.0.1");
    assert_eq!(request["connection"], "box");
    assert_eq!(request["status"], "pending");
    assert!(request["created_at"].is_string());

    let (status, approved) = gw
        .post(
            Some(&sso),
            &format!("/ssh-approvals/{id}/approve"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{approved}");
    assert_eq!(approved["status"], "approved");
    let (code, stdout, stderr) = finish(ssh).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout.trim(), "approved-42");

    // Single use: decided once.
    let (status, again) = gw
        .post(Some(&sso), &format!("/ssh-approvals/{id}/deny"), json!({}))
        .await;
    assert_eq!(status, 400, "{again}");

    let requested = gw.audit(&admin, "ssh_login.approval_requested").await;
    assert_eq!(requested.len(), 1, "{requested:?}");
    assert_eq!(requested[0]["actor"], "sso1");
    let decided = gw.audit(&admin, "ssh_login.approved").await;
    assert_eq!(decided.len(), 1, "{decided:?}");
    assert_eq!(decided[0]["target"], id.as_str());
    let logins = gw.audit(&admin, "auth.ssh_login").await;
    assert!(logins.iter().any(|e| e["actor"] == "sso1"), "{logins:?}");
}

#[tokio::test]
async fn only_the_same_user_may_decide_and_a_denial_refuses_the_login() {
    let (gw, _sshd, admin, sso) = setup(Duration::from_secs(50)).await;
    let other = gw.user(&admin, "ops2", "user").await;
    let client = Client::unregistered(&gw, &sso).await;
    let (ssh, prompts) = ssh_waiting(&client, "sso1:box", &["echo should-not-run"]);
    let id = link_id(&prompts).await;

    // Another user (even an admin) can neither see nor decide it.
    for token in [&other, &admin] {
        let (status, body) = gw.get(Some(token), &format!("/ssh-approvals/{id}")).await;
        assert_eq!(status, 403, "{body}");
        let (status, body) = gw
            .post(
                Some(token),
                &format!("/ssh-approvals/{id}/approve"),
                json!({}),
            )
            .await;
        assert_eq!(status, 403, "{body}");
        assert_eq!(body["error"]["code"], "forbidden");
    }
    let (status, _) = gw.get(None, &format!("/ssh-approvals/{id}")).await;
    assert_eq!(status, 401);

    let (status, denied) = gw
        .post(Some(&sso), &format!("/ssh-approvals/{id}/deny"), json!({}))
        .await;
    assert_eq!(status, 200, "{denied}");
    assert_eq!(denied["status"], "denied");
    let (code, stdout, _) = finish(ssh).await;
    assert_eq!(code, Some(255));
    assert!(!stdout.contains("should-not-run"));

    let audit = gw.audit(&admin, "ssh_login.denied").await;
    assert_eq!(audit.len(), 1, "{audit:?}");
    let failed = gw.audit(&admin, "auth.ssh_login_failed").await;
    assert!(
        failed
            .iter()
            .any(|e| e["details"]["method"] == "approval" && e["details"]["approval"] == "denied"),
        "{failed:?}"
    );
}

#[tokio::test]
async fn an_approval_link_expires_and_the_login_is_refused() {
    let (gw, _sshd, admin, sso) = setup(Duration::from_secs(2)).await;
    let client = Client::unregistered(&gw, &sso).await;
    let (ssh, prompts) = ssh_waiting(&client, "sso1:box", &["echo should-not-run"]);
    let id = link_id(&prompts).await;
    let (code, _, _) = finish(ssh).await;
    assert_eq!(code, Some(255));

    let (status, late) = gw
        .post(
            Some(&sso),
            &format!("/ssh-approvals/{id}/approve"),
            json!({}),
        )
        .await;
    assert_eq!(status, 400, "{late}");
    let (_, request) = gw.get(Some(&sso), &format!("/ssh-approvals/{id}")).await;
    assert_eq!(request["status"], "expired");
    let failed = gw.audit(&admin, "auth.ssh_login_failed").await;
    assert!(
        failed.iter().any(|e| e["details"]["approval"] == "expired"),
        "{failed:?}"
    );
}

#[tokio::test]
async fn people_with_a_password_are_asked_for_it_not_shown_a_link() {
    let (gw, _sshd, admin, _) = setup(Duration::from_secs(50)).await;
    let ops = gw.user(&admin, "ops3", "user").await;
    let client = Client::unregistered(&gw, &ops).await;
    let (ssh, prompts) = ssh_waiting(&client, "ops3", &["true"]);
    let (code, _, _) = finish(ssh).await;
    assert_eq!(code, Some(255), "an empty password is refused");
    let shown = std::fs::read_to_string(&prompts).unwrap_or_default();
    assert!(shown.contains("Password"), "{shown}");
    assert!(!shown.contains("/approve/"), "{shown}");
    let requested: Vec<Value> = gw.audit(&admin, "ssh_login.approval_requested").await;
    assert!(requested.is_empty(), "{requested:?}");
}

#[tokio::test]
async fn the_approval_page_in_chromium_shows_the_login_and_approves_it() {
    let (gw, _sshd, _admin, sso) = setup(Duration::from_secs(50)).await;
    let client = Client::unregistered(&gw, &sso).await;
    let (ssh, prompts) = ssh_waiting(&client, "sso1:box", &["echo via-browser"]);
    let id = link_id(&prompts).await;
    let link = format!("http://{}/approve/{id}", gw.addr);
    crate::browser::node_test_with(
        &gw,
        "approve.test.mjs",
        &[("APPROVAL_LINK", link), ("SSO_TOKEN", sso.clone())],
    )
    .await;
    let (code, stdout, stderr) = finish(ssh).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout.trim(), "via-browser");
}
