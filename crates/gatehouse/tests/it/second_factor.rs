//! A TOTP second factor (issue 22): enrolled on the profile, asked for after
//! the password on the web login and on the SSH listener, each code taken
//! once, recovery codes used once, and required per role. The codes are
//! computed from the enrolled secret with totp-rs, as an authenticator app
//! would.

use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::process::Command;

use crate::harness::{Sshd, TestGateway};

/// An authenticator app holding one enrolled secret.
pub(crate) struct Authenticator(totp_rs::Totp);

impl Authenticator {
    /// From an enrolment's `secret` (base32), after checking its QR code
    /// and URI say the same.
    pub(crate) fn from_enrolment(enrolment: &Value) -> Authenticator {
        let secret = enrolment["secret"].as_str().unwrap();
        let uri = enrolment["otpauth_uri"].as_str().unwrap();
        assert!(uri.starts_with("otpauth://totp/Gatehouse:"), "{uri}");
        assert!(uri.contains(&format!("secret={secret}&")), "{uri}");
        let svg = enrolment["qr_svg"].as_str().unwrap();
        assert!(svg.contains("<svg") && svg.contains("<path"), "{svg}");
        let bytes = totp_rs::Secret::try_from_base32(secret).unwrap();
        Authenticator(
            totp_rs::Builder::new()
                .with_secret(bytes.as_ref().to_vec())
                .build()
                .unwrap(),
        )
    }

    /// The code `steps` 30-second steps from now (0: the current one).
    pub(crate) fn code(&self, steps: i64) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let at = now.saturating_add_signed(steps * 30);
        self.0.generate(at).to_string()
    }
}

/// `name` (role `user`) with a confirmed second factor: the authenticator,
/// the recovery codes and a login token from before it was switched on.
async fn enrolled(gw: &TestGateway, admin: &str, name: &str) -> (Authenticator, Vec<String>) {
    let token = gw.user(admin, name, "user").await;
    let (status, enrolment) = gw
        .post(Some(&token), "/profile/second-factor/enrol", json!({}))
        .await;
    assert_eq!(status, 200, "{enrolment}");
    let app = Authenticator::from_enrolment(&enrolment);
    let (status, body) = gw
        .post(
            Some(&token),
            "/profile/second-factor/confirm",
            json!({ "code": app.code(0) }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let codes: Vec<String> = body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    (app, codes)
}

/// The password step: its status, its body, and whether it set a cookie.
async fn password(gw: &TestGateway, name: &str, password: &str) -> (StatusCode, Value, bool) {
    let resp = gw
        .http()
        .post(gw.url("/auth/login"))
        .json(&json!({ "username": name, "password": password }))
        .send()
        .await
        .unwrap();
    let cookie = resp.headers().get("set-cookie").is_some();
    let (status, body) = crate::harness::json_of(resp).await;
    (status, body, cookie)
}

async fn code(gw: &TestGateway, pending: &Value, code: &str) -> (StatusCode, Value) {
    gw.post(
        None,
        "/auth/login/code",
        json!({ "pending": pending, "code": code }),
    )
    .await
}

#[tokio::test]
async fn the_web_login_asks_for_a_code_after_the_password_and_takes_each_code_once() {
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;

    // An enrolment protects nothing until a code confirms it.
    let token = gw.user(&admin, "ops1", "user").await;
    let (_, enrolment) = gw
        .post(Some(&token), "/profile/second-factor/enrol", json!({}))
        .await;
    let app = Authenticator::from_enrolment(&enrolment);
    let (status, _, _) = password(&gw, "ops1", "ops1-password").await;
    assert_eq!(status, 200, "an unconfirmed enrolment asks for nothing");
    let (status, body) = gw
        .post(
            Some(&token),
            "/profile/second-factor/confirm",
            json!({ "code": "000000" }),
        )
        .await;
    // (A real code is 000000 once in a million steps.)
    assert_eq!(
        (status.as_u16(), &body["error"]["code"]),
        (401, &json!("bad_code"))
    );
    let confirming = app.code(0);
    let (status, body) = gw
        .post(
            Some(&token),
            "/profile/second-factor/confirm",
            json!({ "code": confirming }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let recovery = body["recovery_codes"].as_array().unwrap().clone();
    assert_eq!(recovery.len(), 10);
    let (_, me) = gw.get(Some(&token), "/profile/second-factor").await;
    assert_eq!(
        me,
        json!({ "enabled": true, "required": false, "recovery_codes_left": 10 })
    );

    // The password alone gives no session: a pending token and no cookie.
    let (status, step, cookie) = password(&gw, "ops1", "ops1-password").await;
    assert_eq!(status, 202, "{step}");
    assert_eq!(step["second_factor"], "code");
    assert!(step.get("token").is_none() && !cookie, "{step}");
    let pending = &step["pending"];
    let (status, _) = gw.get(Some(pending.as_str().unwrap()), "/auth/me").await;
    assert_eq!(status, 401, "a pending token is no login");
    // A wrong password still says only that.
    let (status, body, _) = password(&gw, "ops1", "a-wrong-guess").await;
    assert_eq!(
        (status.as_u16(), &body["error"]["code"]),
        (401, &json!("bad_credentials"))
    );

    // A wrong code, then the code that confirmed the enrolment: both refused.
    let (status, body) = code(&gw, pending, "123 45x").await;
    assert_eq!(
        (status.as_u16(), &body["error"]["code"]),
        (401, &json!("bad_code"))
    );
    let (status, body) = code(&gw, pending, &confirming).await;
    assert_eq!(
        (status.as_u16(), &body["error"]["code"]),
        (401, &json!("bad_code")),
        "a code already used is refused"
    );
    // The next step's code (within the one step of skew) logs in.
    let next = app.code(1);
    let (status, body) = code(&gw, pending, &next).await;
    assert_eq!(status, 200, "{body}");
    let (status, me) = gw.get(body["token"].as_str(), "/auth/me").await;
    assert_eq!((status.as_u16(), &me["username"]), (200, &json!("ops1")));
    // The pending token was single use; the code too, on a fresh login.
    let (status, body) = code(&gw, pending, &app.code(0)).await;
    assert_eq!(
        (status.as_u16(), &body["error"]["code"]),
        (401, &json!("login_expired"))
    );
    let (_, step, _) = password(&gw, "ops1", "ops1-password").await;
    let (status, _) = code(&gw, &step["pending"], &next).await;
    assert_eq!(status, 401, "a replayed code is refused");

    // A recovery code logs in once (typed in capitals, without the dash).
    let spare = recovery[0]
        .as_str()
        .unwrap()
        .replace('-', "")
        .to_uppercase();
    let (status, body) = code(&gw, &step["pending"], &spare).await;
    assert_eq!(status, 200, "{body}");
    let (_, again, _) = password(&gw, "ops1", "ops1-password").await;
    let (status, _) = code(&gw, &again["pending"], &spare).await;
    assert_eq!(status, 401, "a recovery code works once");
    let (_, me) = gw.get(Some(&token), "/profile/second-factor").await;
    assert_eq!(me["recovery_codes_left"], 9);

    // Failed codes are audited as failed logins with their reason.
    let failures = gw.audit(&admin, "auth.login_failed").await;
    let second = failures
        .iter()
        .filter(|e| e["details"]["reason"] == "second_factor")
        .count();
    assert!(second >= 4, "{failures:?}");
    assert!(
        !gw.audit(&admin, "second_factor.recovery_code_used")
            .await
            .is_empty()
    );
    assert!(!gw.audit(&admin, "second_factor.enable").await.is_empty());
    let audit = serde_json::to_string(&gw.audit(&admin, "auth.login").await).unwrap();
    assert!(!audit.contains(&next), "codes stay out of the audit");

    // Turning it off needs a current code; a wrong one changes nothing.
    let (status, _) = gw
        .post(
            Some(&token),
            "/profile/second-factor/disable",
            json!({ "code": "abcdef" }),
        )
        .await;
    assert_eq!(status, 401);
    let (status, _) = gw
        .post(
            Some(&token),
            "/profile/second-factor/disable",
            json!({ "code": recovery[1] }),
        )
        .await;
    assert_eq!(status, 204);
    let (status, _, _) = password(&gw, "ops1", "ops1-password").await;
    assert_eq!(status, 200, "off: the password alone logs in again");
}

#[tokio::test]
async fn wrong_codes_are_throttled_like_passwords() {
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let (app, _) = enrolled(&gw, &admin, "ops1").await;
    let (_, step, _) = password(&gw, "ops1", "ops1-password").await;
    let mut statuses = Vec::new();
    for guess in ["111111", "222222", "333333", "444444", "555555", "666666"] {
        statuses.push(code(&gw, &step["pending"], guess).await.0.as_u16());
    }
    assert_eq!(statuses[..5], [401; 5], "{statuses:?}");
    assert_eq!(statuses[5], 429, "{statuses:?}");
    // Even the right code waits its turn.
    let (status, _) = code(&gw, &step["pending"], &app.code(1)).await;
    assert_eq!(status, 429);
}

#[tokio::test]
async fn a_login_waiting_for_its_code_ends_when_the_password_changes() {
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let (app, _) = enrolled(&gw, &admin, "ops1").await;
    let (_, step, _) = password(&gw, "ops1", "ops1-password").await;
    let id = gw.user_id(&admin, "ops1").await;
    let (status, _) = gw
        .patch(
            Some(&admin),
            &format!("/users/{id}"),
            json!({ "password": "a-new-password" }),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = code(&gw, &step["pending"], &app.code(1)).await;
    assert_eq!(
        (status.as_u16(), &body["error"]["code"]),
        (401, &json!("login_expired"))
    );
}

#[tokio::test]
async fn a_role_that_requires_a_second_factor_makes_its_holders_enrol_at_login() {
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let (status, body) = gw
        .put(
            &admin,
            "/roles/auditor/second-factor",
            json!({ "required": true }),
        )
        .await;
    assert_eq!(
        (status.as_u16(), &body),
        (200, &json!({ "required": true }))
    );
    let (status, _) = gw
        .post(
            Some(&admin),
            "/users",
            json!({ "username": "eve", "password": "eve-password", "roles": ["auditor"] }),
        )
        .await;
    assert_eq!(status, 201);

    // Before anything else, eve adds an authenticator: no token until then.
    let (status, step, cookie) = password(&gw, "eve", "eve-password").await;
    assert_eq!(status, 202, "{step}");
    assert_eq!(step["second_factor"], "enrol");
    assert!(!cookie);
    let app = Authenticator::from_enrolment(&step["enrolment"]);
    let (status, _) = code(&gw, &step["pending"], "000000").await;
    assert_eq!(status, 401);
    let (status, body) = code(&gw, &step["pending"], &app.code(0)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["recovery_codes"].as_array().unwrap().len(), 10);
    let eve = body["token"].as_str().unwrap().to_owned();
    let (_, me) = gw.get(Some(&eve), "/profile/second-factor").await;
    assert_eq!(
        me,
        json!({ "enabled": true, "required": true, "recovery_codes_left": 10 })
    );
    // Required: she cannot turn it off, even with a right code.
    let (status, _) = gw
        .post(
            Some(&eve),
            "/profile/second-factor/disable",
            json!({ "code": app.code(1) }),
        )
        .await;
    assert_eq!(status, 403);
    // Next time she is asked for a code, not a new enrolment.
    let (status, step, _) = password(&gw, "eve", "eve-password").await;
    assert_eq!(
        (status.as_u16(), &step["second_factor"]),
        (202, &json!("code"))
    );
    assert!(step.get("enrolment").is_none());

    // A lost phone: an administrator resets it (audited); she enrols anew.
    let id = gw.user_id(&admin, "eve").await;
    let (status, _) = gw
        .delete(Some(&admin), &format!("/users/{id}/second-factor"))
        .await;
    assert_eq!(status, 204);
    let resets = gw.audit(&admin, "second_factor.reset").await;
    assert_eq!(resets.len(), 1, "{resets:?}");
    assert_eq!(resets[0]["target"], "eve");
    assert_eq!(resets[0]["actor"], "admin");
    let (_, step, _) = password(&gw, "eve", "eve-password").await;
    assert_eq!(step["second_factor"], "enrol");
    let renewed = Authenticator::from_enrolment(&step["enrolment"]);
    assert_ne!(renewed.code(0), app.code(0), "a new secret");

    // Other roles are not asked; the setting can be switched back off.
    let (status, _, _) = password(&gw, "admin", crate::harness::ADMIN_PASSWORD).await;
    assert_eq!(status, 200);
    let (status, _) = gw
        .put(
            &admin,
            "/roles/auditor/second-factor",
            json!({ "required": false }),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _, _) = password(&gw, "eve", "eve-password").await;
    assert_eq!(status, 200, "no longer required, none enrolled");
    let changes = gw.audit(&admin, "role.second_factor").await;
    assert_eq!(changes.len(), 2, "{changes:?}");
}

/// `ssh` to the gateway as `login`, typing `password` and then `code` at
/// whatever prompts come (an askpass helper that reads the prompt).
fn ssh(
    gw_port: u16,
    known_hosts: &std::path::Path,
    login: &str,
    answers: &std::path::Path,
    methods: &str,
) -> Command {
    let mut cmd = Command::new("ssh");
    cmd.args(["-F", "/dev/null", "-o", "StrictHostKeyChecking=yes"])
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", known_hosts.display()))
        .args([
            "-o",
            "LogLevel=ERROR",
            "-o",
            "PubkeyAuthentication=no",
            "-o",
            &format!("PreferredAuthentications={methods}"),
            "-o",
            "NumberOfPasswordPrompts=1",
            "-p",
            &gw_port.to_string(),
        ])
        .arg(format!("{login}@127.0.0.1"))
        .arg("echo in-$((20+22))")
        .env("SSH_ASKPASS", answers)
        .env("SSH_ASKPASS_REQUIRE", "force")
        .env("DISPLAY", ":0")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    cmd
}

fn askpass(dir: &std::path::Path, password: &str, code: &str) -> std::path::PathBuf {
    let path = dir.join(format!("askpass-{code}"));
    let script = format!(
        "#!/bin/sh\ncase \"$1\" in\n  *'Verification code'*) echo '{code}' ;;\n  *) echo '{password}' ;;\nesac\n"
    );
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    path
}

#[tokio::test]
async fn native_ssh_asks_for_the_code_after_the_password() {
    let sshd = Sshd::start().await;
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let (app, recovery) = enrolled(&gw, &admin, "ops1").await;
    gw.ssh_connection(&admin, &sshd, "box", &["ops1"]).await;
    let dir = tempfile::tempdir().unwrap();
    let (_, info) = gw.get(Some(&admin), "/gateway").await;
    let (addr, _) = gw.ssh();
    let known = dir.path().join("known_hosts");
    let line = format!(
        "[127.0.0.1]:{} {}\n",
        addr.port(),
        info["ssh"]["host_key"].as_str().unwrap()
    );
    std::fs::write(&known, line).unwrap();
    let run_as = |answers: std::path::PathBuf, methods: &str| {
        let cmd = ssh(addr.port(), &known, "ops1:box", &answers, methods);
        async move {
            let mut cmd = cmd;
            let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
                .await
                .expect("ssh finished in time")
                .unwrap();
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        }
    };
    let run = |answers: std::path::PathBuf| run_as(answers, "password,keyboard-interactive");

    // The right password and a wrong code: refused, and audited so.
    let (status, stdout, stderr) = run(askpass(dir.path(), "ops1-password", "000000")).await;
    assert_eq!(status, Some(255), "{stdout} {stderr}");
    assert!(!stdout.contains("in-42"));
    let failures = gw.audit(&admin, "auth.ssh_login_failed").await;
    assert!(
        failures
            .iter()
            .any(|e| e["details"]["reason"] == "second_factor"),
        "{failures:?}"
    );

    // The right password and the next code: in.
    let next = app.code(1);
    let (status, stdout, stderr) = run(askpass(dir.path(), "ops1-password", &next)).await;
    assert_eq!(status, Some(0), "{stderr}");
    assert_eq!(stdout.trim(), "in-42");

    // The same code again: refused.
    let (status, stdout, _) = run(askpass(dir.path(), "ops1-password", &next)).await;
    assert_eq!(status, Some(255));
    assert!(!stdout.contains("in-42"));

    // A wrong password never reaches the code prompt.
    let (status, _, _) = run(askpass(dir.path(), "a-wrong-guess", &app.code(0))).await;
    assert_eq!(status, Some(255));

    // The password typed at a keyboard-interactive prompt: the code is the
    // next prompt in the same exchange (here a recovery code, used once).
    let spare = &recovery[0];
    let answers = askpass(dir.path(), "ops1-password", spare);
    let (status, stdout, stderr) = run_as(answers.clone(), "keyboard-interactive").await;
    assert_eq!(status, Some(0), "{stderr}");
    assert_eq!(stdout.trim(), "in-42");
    let (status, _, _) = run_as(answers, "keyboard-interactive").await;
    assert_eq!(status, Some(255), "a recovery code works once");
    assert_eq!(
        gw.audit(&admin, "second_factor.recovery_code_used")
            .await
            .len(),
        1
    );
    let logins = gw.audit(&admin, "auth.ssh_login").await;
    assert_eq!(logins.len(), 2, "{logins:?}");
}

#[tokio::test]
async fn the_cli_logs_in_with_a_code() {
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    let (app, _) = enrolled(&gw, &admin, "ops1").await;
    let login = |code: String| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
        cmd.args(["login", "--user", "ops1"])
            .env("GATEHOUSE_URL", gw.url("").trim_end_matches("/api/v1"))
            .env("GATEHOUSE_PASSWORD", "ops1-password")
            .env("GATEHOUSE_CODE", code)
            .stdin(Stdio::null());
        cmd
    };
    let out = login("000000".into()).output().await.unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("wrong or already used"),
        "{out:?}"
    );
    let out = login(app.code(1)).output().await.unwrap();
    assert!(out.status.success(), "{out:?}");
    let token = String::from_utf8(out.stdout).unwrap();
    let (status, me) = gw.get(Some(token.trim()), "/auth/me").await;
    assert_eq!((status.as_u16(), &me["username"]), (200, &json!("ops1")));
}

#[tokio::test]
async fn enrolment_and_login_with_a_code_in_the_browser() {
    let gw = TestGateway::spawn().await;
    let admin = gw.admin().await;
    gw.user(&admin, "ops1", "user").await;
    let (status, _) = gw
        .post(
            Some(&admin),
            "/users",
            json!({ "username": "eve", "password": "eve-password", "roles": ["auditor"] }),
        )
        .await;
    assert_eq!(status, 201);
    crate::browser::node_test_with(&gw, "second-factor.test.mjs", &[]).await;
    // What the administrator did in the browser is in the audit.
    assert_eq!(gw.audit(&admin, "role.second_factor").await.len(), 1);
    assert_eq!(gw.audit(&admin, "second_factor.reset").await.len(), 1);
}
