//! The data directory — password hashes, the audit log, keys, whole terminal
//! recordings — is the gateway user's alone: folders 0700, files 0600, under
//! the usual umask 022 (issue 16, fix 3).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::process::Command;

use crate::harness::{Sshd, eventually};
use crate::restart::{GatewayProcess, open_session};

/// Every path below `dir` (and `dir`), with its permission bits.
fn modes(dir: &Path) -> Vec<(PathBuf, u32)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(path) = stack.pop() {
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        }
        out.push((path, meta.permissions().mode() & 0o7777));
    }
    out
}

fn assert_private(dir: &Path) {
    for (path, mode) in modes(dir) {
        let want = if path.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode, want, "{} is {mode:o}", path.display());
    }
}

async fn stop(process: GatewayProcess) -> String {
    let pid = process.child.id().unwrap().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().await;
    assert!(killed.unwrap().success());
    let mut process = process;
    tokio::time::timeout(Duration::from_secs(10), process.child.wait())
        .await
        .unwrap()
        .unwrap();
    process.output().await
}

#[tokio::test]
async fn a_new_data_directory_and_everything_a_recorded_session_leaves_are_private() {
    let sshd = Sshd::start().await;
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let gateway = GatewayProcess::start(&data).await;
    let (admin, mut term) = open_session(&gateway.gw, &sshd).await;
    term.run("exit").await;
    term.ended().await;
    let recorded = eventually(Duration::from_secs(10), || async {
        let row = gateway.gw.ended_history(&admin, &term.session_id).await;
        row["recording"]["bytes"].as_u64().filter(|n| *n > 0)
    })
    .await;
    assert!(recorded.is_some(), "the session's recording was completed");

    let names: Vec<String> = modes(&data)
        .iter()
        .filter_map(|(p, _)| Some(p.file_name()?.to_str()?.to_owned()))
        .collect();
    for expected in [
        "gatehouse.db",
        "gatehouse.db-wal",
        "gatehouse.db-shm",
        "secret.key",
        "ssh_host_ed25519_key",
        "recordings",
        &format!("{}.cast", term.session_id),
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
    assert_private(&data);
    stop(gateway).await;
    assert_private(&data);
}

#[tokio::test]
async fn a_data_directory_left_readable_by_others_is_tightened_at_start() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    std::fs::create_dir_all(data.join("recordings/2026/11/28")).unwrap();
    let set = |p: PathBuf, m| std::fs::set_permissions(p, PermissionsExt::from_mode(m)).unwrap();
    for dir in [
        "",
        "recordings",
        "recordings/2026",
        "recordings/2026/11",
        "recordings/2026/11/28",
    ] {
        set(data.join(dir), 0o755);
    }
    // An empty file is a new database to SQLite.
    std::fs::write(data.join("gatehouse.db"), b"").unwrap();
    set(data.join("gatehouse.db"), 0o644);
    let cast = data.join("recordings/2026/11/28/old.cast");
    std::fs::write(&cast, b"").unwrap();
    set(cast, 0o644);

    let gateway = GatewayProcess::start(&data).await;
    gateway.gw.admin().await;
    assert_private(&data);
    let logs = stop(gateway).await;
    assert!(
        logs.contains("the data directory was readable by other local users"),
        "the tightening is logged: {logs}"
    );
}
