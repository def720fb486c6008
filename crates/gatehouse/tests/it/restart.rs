//! The gateway stops — cleanly or by crashing — and no session is left
//! dangling in history.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::process::{Child, Command};

use crate::harness::sshd::{PASSWORD, TARGET_USER, free_port};
use crate::harness::{ADMIN_PASSWORD, Sshd, Terminal, TestGateway};

/// The `gatehouse` binary running as a process of its own.
pub(crate) struct GatewayProcess {
    pub(crate) child: Child,
    pub(crate) gw: TestGateway,
    /// Its stdout and stderr: a file, not a pipe, which a debug log would
    /// fill while nobody reads it, stalling the gateway mid-write.
    log: tempfile::NamedTempFile,
}

impl GatewayProcess {
    /// Starts `gatehouse serve` with the usual umask, 022, whatever the
    /// test runner's.
    pub(crate) async fn start(data_dir: &std::path::Path) -> GatewayProcess {
        Self::start_with(data_dir, &[], None).await
    }

    /// Starts `gatehouse serve` with `extra` arguments; given the
    /// certificate it will serve (`--tls-cert`), the harness speaks HTTPS.
    pub(crate) async fn start_with(
        data_dir: &std::path::Path,
        extra: &[&std::ffi::OsStr],
        tls: Option<&std::path::Path>,
    ) -> GatewayProcess {
        Self::start_node(data_dir, "gw-restart", extra, tls).await
    }

    /// [`GatewayProcess::start_with`] under the node name `node`.
    pub(crate) async fn start_node(
        data_dir: &std::path::Path,
        node: &str,
        extra: &[&std::ffi::OsStr],
        tls: Option<&std::path::Path>,
    ) -> GatewayProcess {
        let port = free_port();
        let log = tempfile::NamedTempFile::new().unwrap();
        let child = Command::new("sh")
            .args(["-c", "umask 022 && exec \"$0\" \"$@\""])
            .arg(env!("CARGO_BIN_EXE_gatehouse"))
            .args(["serve", "--data-dir"])
            .arg(data_dir)
            .args([
                "--http",
                &format!("127.0.0.1:{port}"),
                "--ssh",
                "127.0.0.1:0",
                "--node",
                node,
            ])
            .args(extra)
            .env("GATEHOUSE_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("GATEHOUSE_LOG", "debug")
            // One open file for both, so they share its offset.
            .stdout(log.as_file().try_clone().unwrap())
            .stderr(log.as_file().try_clone().unwrap())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let gw = TestGateway::started_on(port, tls).await;
        GatewayProcess { child, gw, log }
    }

    /// What the process printed so far.
    pub(crate) fn log_so_far(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(self.log.path()).unwrap()).into_owned()
    }

    /// Everything the process printed, once it has exited.
    pub(crate) async fn output(mut self) -> String {
        self.child.wait().await.unwrap();
        let bytes = std::fs::read(self.log.path()).unwrap();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

pub(crate) async fn open_session(gw: &TestGateway, sshd: &Sshd) -> (String, Terminal) {
    let admin = gw.admin().await;
    let conn = gw
        .connection(&admin, json!({ "name": format!("box-{}", free_port()), "host": "127.0.0.1", "port": sshd.port,
                                    "username": TARGET_USER, "password": PASSWORD, "users": ["admin"] }))
        .await;
    let mut term = Terminal::open(gw, &admin, &conn).await;
    term.run("echo up-$((9*9))").await;
    term.expect("up-81").await;
    (admin, term)
}

#[tokio::test]
async fn a_crashed_gateway_closes_the_sessions_it_left_open_at_next_start() {
    let sshd = Sshd::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut first = GatewayProcess::start(dir.path()).await;
    let (_, mut term) = open_session(&first.gw, &sshd).await;

    first.child.start_kill().unwrap(); // SIGKILL: no chance to write the end
    first.child.wait().await.unwrap();
    assert!(
        term.ended().await.message.is_null(),
        "a killed gateway says nothing"
    );
    let logs = first.output().await;
    assert!(
        !logs.contains(PASSWORD),
        "the target password reached the log"
    );

    let second = GatewayProcess::start(dir.path()).await;
    let admin = second.gw.admin().await;
    assert_eq!(second.gw.sessions(&admin, "").await["total"], 0);
    let row = second.gw.ended_history(&admin, &term.session_id).await;
    assert_eq!(
        row["end_reason"], "node_lost",
        "a crash is told apart from an orderly stop"
    );
    assert!(row["ended_at"].is_string());
    let ends = second.gw.audit(&admin, "session.end").await;
    assert_eq!(ends.len(), 1);
    assert_eq!(ends[0]["details"]["recovered_at_start"], true);
    assert_eq!(ends[0]["details"]["end_reason"], "node_lost");
}

#[tokio::test]
async fn a_stopping_gateway_ends_its_sessions_and_records_them_once() {
    let sshd = Sshd::start().await;
    let dir = tempfile::tempdir().unwrap();
    let first = GatewayProcess::start(dir.path()).await;
    let (_, mut term) = open_session(&first.gw, &sshd).await;

    let pid = first.child.id().unwrap().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .await
            .unwrap()
            .success()
    );
    let ending = term.ended().await;
    assert_eq!(ending.message["reason"], "gateway_shutdown");
    let mut first = first;
    let status = tokio::time::timeout(Duration::from_secs(10), first.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "exit status {status:?}");
    let logs = first.output().await;
    assert!(
        !logs.contains(PASSWORD),
        "the target password reached the log"
    );

    let second = GatewayProcess::start(dir.path()).await;
    let admin = second.gw.admin().await;
    let row = second.gw.ended_history(&admin, &term.session_id).await;
    assert_eq!(row["end_reason"], "gateway_shutdown");
    let ends = second.gw.audit(&admin, "session.end").await;
    assert_eq!(
        ends.len(),
        1,
        "written at shutdown, not again at start: {ends:?}"
    );
    assert!(ends[0]["details"].get("recovered_at_start").is_none());
}

#[tokio::test]
async fn a_recording_survives_kill_9_up_to_the_last_second() {
    let sshd = Sshd::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut first = GatewayProcess::start(dir.path()).await;
    let (_, mut term) = open_session(&first.gw, &sshd).await;
    term.run("echo before-the-crash-$((6*7))").await;
    term.expect("before-the-crash-42").await;
    let seen = Instant::now();
    // The writer appends every 500 ms (the default this process runs
    // with), so a second after the client saw the output it is in the
    // file. Kill then, at a fixed time, without looking at the file first.
    tokio::time::sleep(Duration::from_secs(1)).await;
    first.child.start_kill().unwrap(); // SIGKILL: no chance to finish the file
    let killed_after = seen.elapsed();
    first.child.wait().await.unwrap();
    assert!(
        killed_after < Duration::from_millis(1900),
        "killed {killed_after:?} after the output: that proves less than it claims"
    );

    let recordings = dir.path().join("recordings");
    let on_disk = find_cast(&recordings, &term.session_id).expect("a recording file");
    let rec = gatehouse_recording::cast::read(&std::fs::read_to_string(&on_disk).unwrap())
        .expect("a killed gateway leaves a readable recording");
    assert!(
        rec.output().contains("before-the-crash-42"),
        "the last second's output is on disk: {:?}",
        rec.output()
    );

    // The next start completes the history row and indexes what was written.
    let second = GatewayProcess::start(dir.path()).await;
    let admin = second.gw.admin().await;
    let row = second.gw.ended_history(&admin, &term.session_id).await;
    assert_eq!(row["end_reason"], "node_lost");
    assert_eq!(
        row["recording"]["bytes"].as_u64(),
        Some(std::fs::metadata(&on_disk).unwrap().len())
    );
    let (_, found) = second
        .gw
        .get(Some(&admin), "/history?text=before-the-crash")
        .await;
    assert_eq!(found["items"][0]["id"], term.session_id.as_str(), "{found}");
    let replayed = second.gw.recording(&admin, &term.session_id).await;
    let output: String = replayed.events.iter().map(|e| e.data.as_str()).collect();
    assert!(output.contains("before-the-crash-42"), "{output}");
}

/// `<dir>/YYYY/MM/DD/<session>.cast`, wherever the date put it.
fn find_cast(dir: &std::path::Path, session: &str) -> Option<std::path::PathBuf> {
    let name = format!("{session}.cast");
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).ok()?.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().is_some_and(|n| n == name.as_str()) {
                return Some(path);
            }
        }
    }
    None
}
