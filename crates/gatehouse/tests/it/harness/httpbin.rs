//! A real HTTP application to publish through the gateway: `httpbin`
//! (from PyPI, installed by scripts/prerequisites) under `gunicorn`, on a
//! free loopback port, stopped when dropped.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Httpbin {
    pub addr: SocketAddr,
    child: Child,
}

impl Httpbin {
    pub async fn start() -> Httpbin {
        let addr = free_port();
        let child = Command::new("gunicorn")
            .args([
                "-b",
                &addr.to_string(),
                "-w",
                "2",
                "--threads",
                "8",
                "httpbin:app",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("gunicorn runs (scripts/prerequisites installs httpbin and gunicorn)");
        let bin = Httpbin { addr, child };
        let client = reqwest::Client::new();
        for _ in 0..200 {
            if let Ok(r) = client.get(bin.url("/get")).send().await
                && r.status().is_success()
            {
                return bin;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("httpbin did not start on {addr}");
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Httpbin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nobody listens on (bound, then released).
pub fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}
