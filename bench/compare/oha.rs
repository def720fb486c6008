//! The load generator of the HTTP rows: `oha` (crates.io; `bench/run`
//! installs it), run as a child process with `--output-format json`.
//!
//! Every run is bounded in requests (`-n`) and in time (a timeout kills
//! it), and its answers are checked: a run that got anything but `200`
//! with the expected body size — a login redirect from the gateway, an
//! error page — fails the bench rather than counting as fast.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

/// One oha run's figures.
#[derive(Clone, Debug)]
pub struct Run {
    /// Requests per second over the run.
    pub rps: f64,
    /// Median latency, seconds.
    pub p50: f64,
    /// 99th percentile latency, seconds.
    pub p99: f64,
    /// Bytes of response bodies received.
    pub bytes: u64,
    /// The run's wall time, seconds (oha's `total`).
    pub secs: f64,
}

/// The `oha` binary: on `PATH`, or where `cargo install` puts it.
pub fn binary() -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("oha"))
            .find(|p| p.exists())
    });
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .map(|h| h.join("bin/oha"))
        .filter(|p| p.exists());
    on_path
        .or(cargo_home)
        .expect("oha is not installed: bench/run installs it (`cargo install oha --locked`)")
}

/// `oha 1.16.0`, for the results.
pub fn version() -> String {
    std::process::Command::new(binary())
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// What to fetch and how.
pub struct Load<'a> {
    /// The URL oha connects to.
    pub url: &'a str,
    /// Further oha arguments (`-H "Cookie: …"`, `--connect-to …`).
    pub args: &'a [String],
    /// Requests in all.
    pub requests: usize,
    /// Connections at once, each sending its next request when the last
    /// answer has arrived.
    pub concurrency: usize,
    /// The body size every answer must have.
    pub body_bytes: u64,
}

impl Load<'_> {
    /// Runs oha to the end (at most `limit`) and checks every answer.
    pub async fn run(&self, limit: Duration) -> Run {
        let mut cmd = tokio::process::Command::new(binary());
        cmd.args(["--no-tui", "--output-format", "json"])
            .args(["-n", &self.requests.to_string()])
            .args(["-c", &self.concurrency.to_string()]);
        cmd.args(self.args)
            .arg(self.url)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        let out = tokio::time::timeout(limit, cmd.output())
            .await
            .unwrap_or_else(|_| panic!("oha on {} took over {limit:?}", self.url))
            .expect("run oha");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "oha on {} failed: {}{}",
            self.url,
            text,
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("oha's output is not JSON ({e}): {text}"));
        self.check(&v);
        let summary = &v["summary"];
        let f = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
        Run {
            rps: f(&summary["requestsPerSec"]),
            p50: f(&v["latencyPercentiles"]["p50"]),
            p99: f(&v["latencyPercentiles"]["p99"]),
            bytes: summary["totalData"].as_u64().unwrap_or(0),
            secs: f(&summary["total"]),
        }
    }

    /// Every request answered `200` with the expected body.
    fn check(&self, v: &Value) {
        let codes = &v["statusCodeDistribution"];
        let ok = codes["200"].as_u64().unwrap_or(0);
        assert_eq!(
            ok, self.requests as u64,
            "oha on {}: not every answer was 200: {codes}, errors {}",
            self.url, v["errorDistribution"]
        );
        let bytes = v["summary"]["totalData"].as_u64().unwrap_or(0);
        assert_eq!(
            bytes,
            self.body_bytes * self.requests as u64,
            "oha on {}: bodies of the wrong size",
            self.url
        );
    }
}
