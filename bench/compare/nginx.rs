//! Debian's `nginx` as a private server on loopback, twice over in the HTTP
//! rows: as the *target* (static files: a small page and a sparse 1 GiB
//! file) and as the *reverse proxy* people would put in front of it
//! instead of Gatehouse (keep-alive pooling to the target).
//!
//! Each instance is `nginx -c CONF -p PREFIX -g 'daemon off;'` with its pid
//! file, logs and every temp path inside PREFIX, so it touches nothing of
//! the machine's own nginx set-up.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The small page the latency and requests/s rows fetch.
pub const SMALL_PATH: &str = "/small.html";
/// Its size: a small HTML page, headers and all well under one TCP segment.
pub const SMALL_BYTES: u64 = 1024;
/// The bulk download.
pub const BULK_PATH: &str = "/bulk.bin";
/// The paced download: a file of its own, sent at [`PACED_BYTES_PER_SEC`].
pub const PACED_PATH: &str = "/paced/paced.bin";
/// 1 Gbit/s: the pace of a real network link, as the tunnel rows' paced target sends.
pub const PACED_BYTES_PER_SEC: u64 = 125_000_000;

/// Where nginx is, or a clear message about how to get it.
fn binary() -> PathBuf {
    let found = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    found.expect("nginx is not installed: bench/run installs Debian's nginx package")
}

/// `nginx/1.22.1`, for the results.
pub fn version() -> String {
    std::process::Command::new(binary())
        .arg("-v")
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stderr)
                .trim()
                .trim_start_matches("nginx version: ")
                .to_owned()
        })
        .unwrap_or_default()
}

/// One running nginx (master and workers); stopped on drop.
pub struct Nginx {
    child: std::process::Child,
    /// Where it listens.
    pub addr: SocketAddr,
}

/// The settings both instances share: everything nginx would write lives
/// in `prefix`; workers as many as cores (`auto`), as a tuned install has.
fn common(prefix: &Path, name: &str) -> String {
    let p = prefix.display();
    format!(
        "worker_processes auto;\n\
         pid {p}/{name}.pid;\n\
         error_log {p}/{name}-error.log warn;\n\
         events {{ worker_connections 4096; }}\n"
    )
}

fn temp_paths(prefix: &Path) -> String {
    let p = prefix.display();
    ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]
        .iter()
        .map(|t| format!("  {t}_temp_path {p}/{t}_temp;\n"))
        .collect()
}

impl Nginx {
    /// The target: `prefix/www` served statically with `sendfile`; a small
    /// page at [`SMALL_PATH`], a sparse file of `bulk_bytes` at
    /// [`BULK_PATH`] (its holes read as zeros, so it costs no disk), and one
    /// of `paced_bytes` at [`PACED_PATH`] that nginx sends no faster than
    /// [`PACED_BYTES_PER_SEC`] (`limit_rate`), as a link of that speed would.
    pub async fn target(prefix: &Path, bulk_bytes: u64, paced_bytes: u64) -> Nginx {
        let www = prefix.join("www");
        std::fs::create_dir_all(&www).unwrap();
        let page = format!(
            "<!doctype html><title>bench</title><p>{}</p>\n",
            "x".repeat(SMALL_BYTES as usize - 43)
        );
        assert_eq!(page.len() as u64, SMALL_BYTES);
        std::fs::write(www.join(&SMALL_PATH[1..]), page).unwrap();
        let paced = www.join(PACED_PATH.trim_start_matches("/paced/"));
        for (path, bytes) in [
            (www.join(&BULK_PATH[1..]), bulk_bytes),
            (paced, paced_bytes),
        ] {
            std::fs::File::create(&path)
                .unwrap()
                .set_len(bytes)
                .unwrap();
            // Read it once, so its pages are in the page cache before any
            // path is timed: the first read of a hole allocates them, and
            // would slow whichever path came first.
            std::io::copy(
                &mut std::fs::File::open(&path).unwrap(),
                &mut std::io::sink(),
            )
            .unwrap();
        }
        let addr = free_addr();
        let conf = format!(
            "{common}http {{\n\
             {temps}\
             \x20 access_log off;\n\
             \x20 sendfile on;\n\
             \x20 tcp_nopush on;\n\
             \x20 tcp_nodelay on;\n\
             \x20 keepalive_requests 1000000;\n\
             \x20 keepalive_timeout 60s;\n\
             \x20 open_file_cache max=16;\n\
             \x20 default_type application/octet-stream;\n\
             \x20 types {{ text/html html; }}\n\
             \x20 server {{\n\
             \x20   listen {addr};\n\
             \x20   root {www};\n\
             \x20   location /paced/ {{\n\
             \x20     alias {www}/;\n\
             \x20     limit_rate {PACED_BYTES_PER_SEC};\n\
             \x20   }}\n\
             \x20 }}\n\
             }}\n",
            common = common(prefix, "target"),
            temps = temp_paths(prefix),
            www = www.display(),
        );
        Nginx::start(prefix, "target", &conf, addr).await
    }

    /// The reverse proxy in front of `target`, configured as one would for
    /// an internal app: HTTP/1.1 keep-alive connections to the target
    /// pooled (`keepalive 32`, the gateway's idle pool size too), the
    /// forwarding headers the gateway also sets, responses streamed through
    /// in-memory buffers (no temp file: `proxy_max_temp_file_size 0`), and
    /// an access log written in 64 KiB batches — the gateway logs every
    /// request too, in its session's recording. Uploads to `/sink/…` go to
    /// `sink` streamed (`proxy_request_buffering off`, read in 256 KiB
    /// buffers, no size limit), as the gateway streams them.
    pub async fn proxy(prefix: &Path, target: SocketAddr, sink: SocketAddr) -> Nginx {
        let addr = free_addr();
        let p = prefix.display();
        let conf = format!(
            "{common}http {{\n\
             {temps}\
             \x20 access_log {p}/proxy-access.log combined buffer=64k flush=1s;\n\
             \x20 tcp_nodelay on;\n\
             \x20 keepalive_requests 1000000;\n\
             \x20 keepalive_timeout 60s;\n\
             \x20 upstream app {{\n\
             \x20   server {target};\n\
             \x20   keepalive 32;\n\
             \x20   keepalive_requests 1000000;\n\
             \x20 }}\n\
             \x20 server {{\n\
             \x20   listen {addr};\n\
             \x20   location / {{\n\
             \x20     proxy_pass http://app;\n\
             \x20     proxy_http_version 1.1;\n\
             \x20     proxy_set_header Connection \"\";\n\
             \x20     proxy_set_header Host {target};\n\
             \x20     proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n\
             \x20     proxy_set_header X-Forwarded-Proto $scheme;\n\
             \x20     proxy_set_header X-Forwarded-Host $http_host;\n\
             \x20     proxy_buffer_size 64k;\n\
             \x20     proxy_buffers 8 64k;\n\
             \x20     proxy_busy_buffers_size 128k;\n\
             \x20     proxy_max_temp_file_size 0;\n\
             \x20   }}\n\
             \x20   location /sink/ {{\n\
             \x20     proxy_pass http://{sink};\n\
             \x20     proxy_http_version 1.1;\n\
             \x20     proxy_set_header Connection \"\";\n\
             \x20     proxy_request_buffering off;\n\
             \x20     client_body_buffer_size 256k;\n\
             \x20     client_max_body_size 0;\n\
             \x20   }}\n\
             \x20 }}\n\
             }}\n",
            common = common(prefix, "proxy"),
            temps = temp_paths(prefix),
        );
        Nginx::start(prefix, "proxy", &conf, addr).await
    }

    async fn start(prefix: &Path, name: &str, conf: &str, addr: SocketAddr) -> Nginx {
        // Workers run as `nobody` when the master is root: they must be
        // able to read the files served and the folders above them.
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(prefix).unwrap();
        std::fs::set_permissions(prefix, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = prefix.join(format!("{name}.conf"));
        std::fs::write(&path, conf).unwrap();
        let child = std::process::Command::new(binary())
            .arg("-e")
            .arg(prefix.join(format!("{name}-startup.log")))
            .arg("-c")
            .arg(&path)
            .arg("-p")
            .arg(prefix)
            .args(["-g", "daemon off;"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start nginx");
        let nginx = Nginx { child, addr };
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            let log = std::fs::read_to_string(prefix.join(format!("{name}-error.log")))
                .unwrap_or_default();
            assert!(
                Instant::now() < deadline,
                "nginx ({name}) did not answer on {addr} within 10 s: {log}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        nginx
    }

    /// The master's and its workers' process ids.
    pub fn pids(&self) -> Vec<String> {
        let master = self.child.id().to_string();
        let children = std::fs::read_to_string(format!("/proc/{master}/task/{master}/children"))
            .unwrap_or_default();
        std::iter::once(master)
            .chain(children.split_whitespace().map(str::to_owned))
            .collect()
    }

    /// CPU time (user and system) the master and its workers have used.
    pub fn cpu_time(&self) -> Duration {
        self.pids()
            .iter()
            .filter(|pid| std::path::Path::new(&format!("/proc/{pid}/stat")).exists())
            .map(|pid| crate::proc_cpu::cpu_time(pid))
            .sum()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM: the master stops its workers and exits. A SIGKILL would
        // leave the workers behind, still serving.
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free port on loopback.
fn free_addr() -> SocketAddr {
    format!("127.0.0.1:{}", super::harness::sshd::free_port())
        .parse()
        .unwrap()
}
