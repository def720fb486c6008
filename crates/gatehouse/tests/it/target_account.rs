//! The tests' target account opens nothing on the machine that runs them:
//! it exists only inside each test sshd's own mount namespace (issue 16,
//! fix 9; see `harness/sshd.rs`).

use std::process::Stdio;

use tokio::process::Command;

use crate::harness::Sshd;
use crate::harness::sshd::{TARGET_UID, TARGET_USER};

#[tokio::test]
async fn the_target_account_exists_only_for_the_tests_own_sshd() {
    let sshd = Sshd::start().await;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    std::fs::write(&key, sshd.client_key()).unwrap();
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let out = Command::new("ssh")
        .args(["-F", "/dev/null", "-i"])
        .arg(&key)
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
        ])
        .args(["-o", "BatchMode=yes", "-p", &sshd.port.to_string()])
        .arg(format!("{TARGET_USER}@127.0.0.1"))
        .arg("id -u; id -un; echo $HOME")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.get(..2),
        Some(&[TARGET_UID.to_string().as_str(), TARGET_USER][..]),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        lines[2].starts_with(&std::env::temp_dir().display().to_string()),
        "{stdout}"
    );

    // Outside the namespace no account has that uid: the login above used the
    // namespace's account, not one of the machine's.
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    let uid = TARGET_UID.to_string();
    assert!(
        !passwd
            .lines()
            .any(|l| l.split(':').nth(2) == Some(uid.as_str())),
        "the machine has an account with uid {TARGET_UID}"
    );
}
