//! A throwaway PostgreSQL for tests: Debian's package (installed by
//! scripts/prerequisites) initialised in a temp directory, listening on a
//! free loopback port, run as the `postgres` system user (it refuses root).
//!
//! [`Postgres::start`] gives a cluster of one's own, stopped when dropped;
//! [`Postgres::shared`] one cluster for the whole test process, stopped when
//! the process exits, in which [`Postgres::create_database`] makes a fresh
//! database per test.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// A running PostgreSQL cluster.
pub struct Postgres {
    /// Its TCP port on 127.0.0.1.
    pub port: u16,
    root: PathBuf,
    bin: PathBuf,
    /// Removes the directory when a cluster of one's own is dropped.
    _dir: Option<tempfile::TempDir>,
    /// The shared cluster's watchdog: its piped stdin closes when this
    /// process exits.
    watchdog: Option<std::process::Child>,
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

fn as_postgres(bin: &Path, tool: &str, args: &[&str]) -> String {
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
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A TCP port nobody listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// initdb + pg_ctl start in `root`; returns the port.
fn init_and_start(bin: &Path, root: &Path) -> u16 {
    let root = root.to_str().expect("UTF-8 temp path");
    let chown = Command::new("chown")
        .args(["-R", "postgres", root])
        .status()
        .expect("chown runs");
    assert!(chown.success());
    let data = format!("{root}/data");
    as_postgres(
        bin,
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
    let port = free_port();
    start_server(bin, root, port);
    port
}

/// pg_ctl start of the cluster in `root` on `port`.
fn start_server(bin: &Path, root: &str, port: u16) {
    let data = format!("{root}/data");
    let options = format!(
        "-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off -c max_connections=200"
    );
    as_postgres(
        bin,
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
}

impl Postgres {
    /// A cluster of one's own, stopped (immediately) when dropped.
    pub fn start() -> Postgres {
        let bin = bin_dir();
        let dir = tempfile::tempdir().expect("a temp dir");
        let port = init_and_start(&bin, dir.path());
        Postgres {
            port,
            root: dir.path().to_owned(),
            bin,
            _dir: Some(dir),
            watchdog: None,
        }
    }

    /// One cluster for every test of this process. Statics are never
    /// dropped, so a watchdog shell waits for its stdin to close — which
    /// the kernel does when this process exits, however it exits — then
    /// stops the cluster and removes its directory.
    pub fn shared() -> &'static Postgres {
        static SHARED: OnceLock<Postgres> = OnceLock::new();
        SHARED.get_or_init(|| {
            let bin = bin_dir();
            let root = tempfile::tempdir().expect("a temp dir").keep();
            let port = init_and_start(&bin, &root);
            let pg_ctl = bin.join("pg_ctl");
            let script = format!(
                "read _; runuser -u postgres -- '{}' -D '{}/data' -m immediate -w stop >/dev/null 2>&1; rm -rf '{}'",
                pg_ctl.display(),
                root.display(),
                root.display()
            );
            let watchdog = Command::new("sh")
                .args(["-c", &script])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("sh runs");
            Postgres {
                port,
                root,
                bin,
                _dir: None,
                watchdog: Some(watchdog),
            }
        })
    }

    /// Stops the server as an operator's restart does (`pg_ctl stop -m
    /// fast`: open connections are cut); [`Postgres::start_again`] brings
    /// it back on the same port with the same data.
    pub fn stop(&self) {
        let data = self.root.join("data");
        as_postgres(
            &self.bin,
            "pg_ctl",
            &[
                "-D",
                data.to_str().expect("UTF-8 temp path"),
                "-m",
                "fast",
                "-w",
                "stop",
            ],
        );
    }

    /// Starts a server [`Postgres::stop`] stopped, on its port.
    pub fn start_again(&self) {
        start_server(
            &self.bin,
            self.root.to_str().expect("UTF-8 temp path"),
            self.port,
        );
    }

    /// A URL for database `name` as the superuser `postgres`.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Creates a new, empty database and returns its URL.
    pub fn create_database(&self) -> String {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "test_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let port = self.port.to_string();
        as_postgres(
            &self.bin,
            "createdb",
            &["-h", "127.0.0.1", "-p", &port, "-U", "postgres", &name],
        );
        self.url(&name)
    }

    /// Runs `statement` with `psql` as the superuser in the database at
    /// `url` (one from [`Postgres::create_database`]) and returns what it
    /// printed, unaligned, without headers.
    pub fn sql(&self, url: &str, statement: &str) -> String {
        let name = url.rsplit('/').next().expect("a database URL");
        let port = self.port.to_string();
        as_postgres(
            &self.bin,
            "psql",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "postgres",
                "-d",
                name,
                "-At",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                statement,
            ],
        )
    }

    /// The server's log so far (for a failing test's message).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.root.join("log")).unwrap_or_default()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if self.watchdog.is_some() {
            return;
        }
        let data = self.root.join("data");
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .args([
                "-D",
                data.to_str().unwrap_or_default(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ])
            .output();
    }
}
