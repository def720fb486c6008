//! Policies reach native sessions as they reach browser ones: locking or
//! deleting the user, taking their grant away or deleting the connection
//! ends a live `ssh -tt` at once — exit status 1, the reason on its
//! screen — and a locked user cannot log in again.

use std::time::Instant;

use super::*;

/// ops1 in a live native shell on `box`, ready for a policy to strike.
struct Live {
    gw: TestGateway,
    _sshd: Sshd,
    admin: String,
    conn: String,
    client: Client,
    ssh: Child,
    seen: String,
}

async fn live_native_shell() -> Live {
    let (gw, sshd, admin, ops, conn) = setup().await;
    let client = Client::registered(&gw, &ops).await;
    let mut ssh = client.interactive("ops1:box");
    let mut seen = String::new();
    read_until(&mut ssh, &mut seen, "$ ").await;
    Live {
        gw,
        _sshd: sshd,
        admin,
        conn,
        client,
        ssh,
        seen,
    }
}

impl Live {
    /// Waits for ssh to exit after a policy struck at `struck`: status 1,
    /// `reason` printed, within about a second; returns the history row.
    async fn ends_with(&mut self, struck: Instant, reason: &str, end_reason: &str) -> Value {
        let status = hang_up(&mut self.ssh, &mut self.seen).await;
        let took = struck.elapsed();
        assert_eq!(status.code(), Some(1), "{:?}", self.seen);
        assert!(
            self.seen.contains(reason),
            "{reason:?} not in {:?}",
            self.seen
        );
        assert!(
            took < Duration::from_millis(1500),
            "ssh exited {took:?} after the change"
        );
        let rows = ended_sessions(&self.gw, &self.admin).await;
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(rows[0]["end_reason"], end_reason);
        rows[0].clone()
    }

    async fn ops1_id(&self) -> String {
        self.gw.user_id(&self.admin, "ops1").await
    }
}

#[tokio::test]
async fn locking_the_user_ends_their_native_session_and_refuses_the_next_login() {
    let mut live = live_native_shell().await;
    let id = live.ops1_id().await;
    let (status, body) = live
        .gw
        .post(Some(&live.admin), &format!("/users/{id}/lock"), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    let row = live
        .ends_with(
            Instant::now(),
            "Session ended by admin: account locked by admin",
            "user_locked",
        )
        .await;
    assert_eq!(row["ended_by"], "admin");

    // The same key, a moment later: refused at login.
    let (code, _, stderr) = run(live.client.ssh("ops1:box", &["echo", "in"])).await;
    assert_eq!(code, Some(255), "{stderr}");
    assert!(stderr.contains("Permission denied"), "{stderr}");
    let refused = live.gw.audit(&live.admin, "auth.ssh_login_failed").await;
    assert!(
        refused.iter().any(|e| e["details"]["username"]
            .as_str()
            .is_some_and(|u| u.starts_with("ops1"))),
        "the refused login is audited: {refused:?}"
    );
}

#[tokio::test]
async fn deleting_the_user_ends_their_native_session() {
    let mut live = live_native_shell().await;
    let id = live.ops1_id().await;
    let (status, body) = live
        .gw
        .delete(Some(&live.admin), &format!("/users/{id}"))
        .await;
    assert_eq!(status, 204, "{body}");
    live.ends_with(
        Instant::now(),
        "Session ended by admin: account deleted by admin",
        "user_locked",
    )
    .await;
}

#[tokio::test]
async fn taking_the_grant_away_ends_their_native_session() {
    let mut live = live_native_shell().await;
    let (status, body) = live
        .gw
        .patch(
            Some(&live.admin),
            &format!("/connections/{}", live.conn),
            json!({ "users": [] }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    live.ends_with(
        Instant::now(),
        "Session ended by admin: access to box was revoked",
        "access_revoked",
    )
    .await;
}

#[tokio::test]
async fn deleting_the_connection_ends_its_native_session() {
    let mut live = live_native_shell().await;
    let (status, body) = live
        .gw
        .delete(Some(&live.admin), &format!("/connections/{}", live.conn))
        .await;
    assert_eq!(status, 204, "{body}");
    live.ends_with(
        Instant::now(),
        "Session ended by admin: connection box was deleted",
        "access_revoked",
    )
    .await;
}
