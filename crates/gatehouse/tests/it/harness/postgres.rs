//! A throwaway PostgreSQL (Debian's package, installed by
//! scripts/prerequisites) in a temp directory on a free loopback port, run
//! as the `postgres` system user (it refuses root), stopped when dropped.

use std::path::PathBuf;
use std::process::Command;

pub struct Postgres {
    pub port: u16,
    dir: tempfile::TempDir,
    bin: PathBuf,
}

fn bin_dir() -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is missing: run scripts/prerequisites")
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    dirs.sort();
    dirs.pop().expect("no initdb under /usr/lib/postgresql")
}

fn as_postgres(bin: &std::path::Path, tool: &str, args: &[&str]) {
    let out = Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(bin.join(tool))
        .args(args)
        .output()
        .expect("runuser runs");
    assert!(
        out.status.success(),
        "{tool} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Postgres {
    pub fn start() -> Postgres {
        let bin = bin_dir();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_str().unwrap().to_owned();
        let chown = Command::new("chown")
            .args(["-R", "postgres", &root])
            .status()
            .unwrap();
        assert!(chown.success());
        let data = format!("{root}/data");
        as_postgres(
            &bin,
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ],
        );
        let port = crate::harness::sshd::free_port();
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off -c max_connections=150"
        );
        as_postgres(
            &bin,
            "pg_ctl",
            &[
                "-D",
                &data,
                "-l",
                &format!("{root}/log"),
                "-w",
                "-o",
                &options,
                "start",
            ],
        );
        Postgres { port, dir, bin }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .args([
                "-D",
                data.to_str().unwrap(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ])
            .output();
    }
}
