//! What operators and their tools read: health checks for load balancers,
//! Prometheus metrics, and logs a shipper can parse.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::sshd::free_port;
use crate::harness::{ADMIN_PASSWORD, Sshd, Terminal, TestGateway, eventually};

/// One sample's value from a Prometheus text page, by its exact series
/// (`name{label="v",…}` with the labels in the order the exporter prints,
/// which is the order they were given); 0 when the series is absent.
fn sample(page: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    page.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .find(|(series, _)| {
            let Some(rest) = series.strip_prefix(name) else {
                return false;
            };
            let wanted: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
            match rest.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
                Some(inner) => {
                    let mut have: Vec<&str> = inner.split(',').collect();
                    have.sort_unstable();
                    let mut wanted: Vec<&str> = wanted.iter().map(String::as_str).collect();
                    wanted.sort_unstable();
                    have == wanted
                }
                None => rest.is_empty() && labels.is_empty(),
            }
        })
        .map(|(_, v)| v.parse().unwrap())
        .unwrap_or(0.0)
}

async fn scrape(addr: std::net::SocketAddr) -> String {
    let resp = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    resp.text().await.unwrap()
}

#[tokio::test]
async fn load_balancers_get_liveness_and_readiness_without_a_login() {
    let ops_addr: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let gw = TestGateway::spawn_with(|c| c.metrics_listen = Some(ops_addr)).await;
    for base in [format!("http://{}", gw.addr), format!("http://{ops_addr}")] {
        let live = reqwest::get(format!("{base}/healthz")).await.unwrap();
        assert_eq!(live.status(), StatusCode::OK);
        assert_eq!(
            live.json::<Value>().await.unwrap(),
            json!({ "status": "ok" })
        );
        let ready = reqwest::get(format!("{base}/readyz")).await.unwrap();
        assert_eq!(ready.status(), StatusCode::OK);
        assert_eq!(
            ready.json::<Value>().await.unwrap(),
            json!({ "status": "ready" })
        );
    }
}

#[tokio::test]
async fn metrics_count_sessions_ends_logins_dials_and_api_requests() {
    let sshd = Sshd::start().await;
    let ops_addr: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let gw = TestGateway::spawn_with(|c| {
        c.node = "gw-metrics".into();
        c.metrics_listen = Some(ops_addr);
    })
    .await;
    let admin = gw.admin().await;
    let ops = gw.user(&admin, "ops1", "user").await;
    let conn = gw.ssh_connection(&admin, &sshd, "prod-db", &["ops1"]).await;

    // The gateway's own listener serves /metrics only to logins allowed audit.view.
    let main_metrics = format!("http://{}/metrics", gw.addr);
    let anonymous = gw.http().get(&main_metrics).send().await.unwrap();
    let page = |token: &str| {
        gw.http()
            .get(&main_metrics)
            .bearer_auth(token.to_owned())
            .send()
    };
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(page(&ops).await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(page(&admin).await.unwrap().status(), StatusCode::OK);

    // Counters are process-wide (other tests' gateways share them): compare before and after.
    let before = scrape(ops_addr).await;
    let ended_by_admin = [("protocol", "ssh"), ("reason", "ended_by_admin")];
    let web_failures = [("method", "web")];

    let (status, _) = gw
        .post(
            None,
            "/auth/login",
            json!({ "username": "ops1", "password": "wrong" }),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let mut term = Terminal::open(&gw, &ops, &conn).await;
    term.run("echo metered-$((6*7))").await;
    term.expect("metered-42").await;
    let live = scrape(ops_addr).await;
    let live_ssh = [("protocol", "ssh"), ("node", "gw-metrics")];
    assert_eq!(
        sample(&live, "gatehouse_sessions_live", &live_ssh),
        1.0,
        "{live}"
    );
    let to_clients = [
        ("protocol", "ssh"),
        ("direction", "to_clients"),
        ("node", "gw-metrics"),
    ];
    assert!(
        sample(&live, "gatehouse_relayed_bytes_total", &to_clients) >= "metered-42".len() as f64,
        "the live session's output is counted before it ends"
    );
    assert!(
        sample(
            &live,
            "gatehouse_target_dial_seconds_count",
            &[("protocol", "ssh")]
        ) > sample(
            &before,
            "gatehouse_target_dial_seconds_count",
            &[("protocol", "ssh")]
        )
    );

    let (status, _) = gw
        .post(
            Some(&admin),
            "/sessions/end",
            json!({ "ids": [term.session_id] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    term.ended().await;

    let after = eventually(Duration::from_secs(5), || async {
        let page = scrape(ops_addr).await;
        (sample(&page, "gatehouse_sessions_ended_total", &ended_by_admin)
            > sample(&before, "gatehouse_sessions_ended_total", &ended_by_admin))
        .then_some(page)
    })
    .await
    .expect("the end is counted by its reason");
    assert_eq!(sample(&after, "gatehouse_sessions_live", &live_ssh), 0.0);
    assert!(
        sample(&after, "gatehouse_relayed_bytes_total", &to_clients)
            >= sample(&live, "gatehouse_relayed_bytes_total", &to_clients),
        "an ended session's bytes stay counted"
    );
    assert!(
        sample(&after, "gatehouse_login_failures_total", &web_failures)
            > sample(&before, "gatehouse_login_failures_total", &web_failures)
    );
    let sessions_route = [
        ("method", "POST"),
        ("route", "/api/v1/sessions/end"),
        ("status", "200"),
    ];
    assert!(
        sample(
            &after,
            "gatehouse_http_request_duration_seconds_count",
            &sessions_route
        ) >= 1.0,
        "API requests are timed by route: {after}"
    );
}

/// `gatehouse serve` on `data`, its API on `port`, SSH on any port.
fn serve(data: &std::path::Path, port: u16) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    command
        .args(["serve", "--data-dir"])
        .arg(data)
        .args([
            "--http",
            &format!("127.0.0.1:{port}"),
            "--ssh",
            "127.0.0.1:0",
        ])
        .env("GATEHOUSE_ADMIN_PASSWORD", ADMIN_PASSWORD);
    command
}

/// Starts the real binary with `env` and stops it with SIGTERM; returns
/// what it wrote to stdout and to stderr.
async fn run_gateway_briefly(env: &[(&str, &str)]) -> (String, String) {
    let data = tempfile::tempdir().unwrap();
    let out = tempfile::NamedTempFile::new().unwrap();
    let err = tempfile::NamedTempFile::new().unwrap();
    let port = free_port();
    let mut child = serve(data.path(), port)
        .args(["--node", "gw-logs"])
        .env_remove("GATEHOUSE_LOG")
        .envs(env.iter().copied())
        .stdout(out.reopen().unwrap())
        .stderr(err.reopen().unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let gw = TestGateway::started_on(port, None).await;
    // A failed target dial is logged with a warning.
    let admin = gw.admin().await;
    let conn = gw
        .connection(
            &admin,
            json!({ "name": "nowhere", "host": "127.0.0.1", "port": free_port(),
                                    "username": "root", "password": "x", "users": ["admin"] }),
        )
        .await;
    let _ = crate::harness::terminal::connect(&gw, &admin, &conn).await;
    let failed = eventually(Duration::from_secs(10), || async {
        (!gw.audit(&admin, "session.failed").await.is_empty()).then_some(())
    })
    .await;
    assert!(failed.is_some(), "the dial did not fail");
    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    assert!(child.wait().await.unwrap().success());
    (
        std::fs::read_to_string(out.path()).unwrap(),
        std::fs::read_to_string(err.path()).unwrap(),
    )
}

#[tokio::test]
async fn json_logs_are_one_object_per_line_with_the_node() {
    let (stdout, _stderr) = run_gateway_briefly(&[("GATEHOUSE_LOG_FORMAT", "json")]).await;
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    for line in &lines {
        assert_eq!(line["node"], "gw-logs", "{line}");
        for field in ["timestamp", "level", "target", "message"] {
            assert!(line.get(field).is_some(), "no {field} in {line}");
        }
    }
    let running = lines
        .iter()
        .find(|l| l["message"] == "Gatehouse is running")
        .expect("the banner is a log object");
    assert!(
        running["web"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:")
    );
    let dial = lines
        .iter()
        .find(|l| l["message"] == "could not open target")
        .expect("the failed dial is logged");
    assert_eq!(dial["level"], "WARN");
    assert_eq!(dial["connection"], "nowhere");
    assert!(lines.iter().any(|l| l["message"] == "shutting down"));
    assert!(
        !stdout.contains(ADMIN_PASSWORD) && !stdout.contains("\"x\""),
        "no secret in the log"
    );
}

#[tokio::test]
async fn text_logs_written_to_a_file_carry_no_colour_codes() {
    let (stdout, _) = run_gateway_briefly(&[]).await;
    assert!(stdout.contains("Gatehouse is running."));
    assert!(stdout.contains("could not open target"), "{stdout}");
    assert!(
        !stdout.contains('\u{1b}'),
        "ANSI escapes in a log file: {stdout:?}"
    );
}

#[tokio::test]
async fn an_unknown_log_format_stops_the_start_with_a_clear_error() {
    let data = tempfile::tempdir().unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["serve", "--data-dir"])
        .arg(data.path())
        .args(["--http", "127.0.0.1:0", "--ssh", "127.0.0.1:0"])
        .env("GATEHOUSE_LOG_FORMAT", "xml")
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("GATEHOUSE_LOG_FORMAT must be `text` or `json`, not `xml`"),
        "{err}"
    );
}

#[tokio::test]
async fn the_audit_log_is_copied_to_a_file_and_to_syslog_for_a_siem() {
    let siem = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let siem_addr = siem.local_addr().unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let file = out_dir.path().join("audit.jsonl");
    let gw = TestGateway::spawn_with(|c| {
        c.node = "gw-siem".into();
        c.audit_file = Some(file.clone());
        c.audit_syslog = Some(format!("udp://{siem_addr}").parse().unwrap());
    })
    .await;
    let (status, _) = gw
        .post(
            None,
            "/auth/login",
            json!({ "username": "mallory", "password": "guess" }),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let admin = gw.admin().await;

    // Syslog: one RFC 5424 message per event, refusals at severity notice.
    let mut refused = None;
    while refused.is_none() {
        let mut buf = vec![0; 65536];
        let n = tokio::time::timeout(Duration::from_secs(5), siem.recv(&mut buf))
            .await
            .expect("a syslog message")
            .unwrap();
        let message = String::from_utf8(buf[..n].to_vec()).unwrap();
        if message.contains(" auth.login_failed ") {
            refused = Some(message);
        }
    }
    let refused = refused.unwrap();
    assert!(refused.starts_with("<85>1 "), "{refused}");
    let (_, body) = refused.split_once(" auth.login_failed - ").unwrap();
    let body: Value = serde_json::from_str(body).unwrap();
    assert_eq!(body["node"], "gw-siem");
    assert_eq!(body["client_addr"], "127.0.0.1");

    // The file: one JSON object per line, private to the gateway's user.
    let lines = eventually(Duration::from_secs(5), || async {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (lines.iter().any(|l| l["action"] == "auth.login")).then_some(lines)
    })
    .await
    .expect("the login reaches the file");
    let failed = lines
        .iter()
        .find(|l| l["action"] == "auth.login_failed")
        .unwrap();
    assert_eq!(failed["node"], "gw-siem");
    assert!(failed["time"].as_str().unwrap().ends_with('Z'));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(
        !std::fs::read_to_string(&file).unwrap().contains("guess"),
        "no password in the copy"
    );

    // The database keeps its own copy.
    assert_eq!(gw.audit(&admin, "auth.login_failed").await.len(), 1);
}

/// `gatehouse_…` names in `text`.
fn metric_names(text: &str) -> std::collections::BTreeSet<String> {
    let mut names = std::collections::BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("gatehouse_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
            .unwrap_or(tail.len());
        names.insert(tail[..end].to_owned());
        rest = &tail[end..];
    }
    names
}

#[test]
fn the_grafana_dashboard_only_charts_metrics_the_gateway_records() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dashboard =
        std::fs::read_to_string(root.join("packaging/grafana/gatehouse-dashboard.json")).unwrap();
    let dashboard: Value = serde_json::from_str(&dashboard).expect("the dashboard is JSON");
    let exprs: Vec<&str> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap())
        .map(|t| t["expr"].as_str().unwrap())
        .collect();
    assert!(exprs.len() >= 10);
    // Every metric name the sources give to a `metrics::` macro.
    let mut recorded = std::collections::BTreeSet::new();
    for krate in std::fs::read_dir(root.join("crates")).unwrap() {
        let src = krate.unwrap().path().join("src");
        let mut dirs = vec![src];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    for (_, tail) in text
                        .match_indices("metrics::")
                        .map(|(i, _)| ((), &text[i..]))
                    {
                        let call = &tail[..tail.len().min(120)];
                        if let Some(name) = metric_names(call).into_iter().next() {
                            recorded.insert(name);
                        }
                    }
                }
            }
        }
    }
    for expr in exprs {
        for name in metric_names(expr) {
            let base = ["_bucket", "_count", "_sum"]
                .iter()
                .find_map(|s| name.strip_suffix(s).filter(|b| b.ends_with("_seconds")))
                .unwrap_or(&name);
            assert!(
                recorded.contains(base),
                "the dashboard charts {name}, which nothing records ({recorded:?})"
            );
        }
    }
}

/// The `GLIBC_TUNABLES` the running process `pid` was started with. glibc
/// ends each tunable's value in place, with a NUL where a `:` was, so the
/// pieces after the variable's first that name a `glibc.` tunable are its
/// own, put back together.
fn tunables_of(pid: u32) -> Option<String> {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    let mut pieces = environ
        .split(|b| *b == 0)
        .map(|piece| String::from_utf8_lossy(piece).into_owned())
        .skip_while(|piece| !piece.starts_with("GLIBC_TUNABLES="));
    let mut tunables = pieces.next()?.strip_prefix("GLIBC_TUNABLES=")?.to_owned();
    for piece in pieces.take_while(|piece| piece.starts_with("glibc.")) {
        tunables = format!("{tunables}:{piece}");
    }
    Some(tunables)
}

/// Starts `gatehouse serve` with `tunables` (if any) as `GLIBC_TUNABLES`
/// and returns the `GLIBC_TUNABLES` it runs with once it answers.
async fn tunables_of_a_serving_gateway(tunables: Option<&str>) -> Option<String> {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut command = serve(data.path(), port);
    command
        .env_remove("GLIBC_TUNABLES")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    if let Some(tunables) = tunables {
        command.env("GLIBC_TUNABLES", tunables);
    }
    let child = command.spawn().unwrap();
    TestGateway::started_on(port, None).await;
    tunables_of(child.id().unwrap())
}

#[tokio::test]
async fn the_gateway_runs_with_glibcs_large_block_and_trim_thresholds_fixed_unless_the_operator_set_them()
 {
    // Without a setting: large blocks (an idle RDP desktop's dropped
    // picture) keep their own mappings, so freeing them gives them back,
    // and a bulk transfer's freed buffers stay at the heap's top.
    let both = "glibc.malloc.mmap_threshold=1048576:glibc.malloc.trim_threshold=2097152";
    assert_eq!(
        tunables_of_a_serving_gateway(None).await.as_deref(),
        Some(both)
    );
    // Other tunables are kept beside them.
    assert_eq!(
        tunables_of_a_serving_gateway(Some("glibc.malloc.arena_max=2"))
            .await
            .as_deref(),
        Some(format!("glibc.malloc.arena_max=2:{both}").as_str())
    );
    // An operator's own threshold wins; the other is still added.
    assert_eq!(
        tunables_of_a_serving_gateway(Some("glibc.malloc.mmap_threshold=4194304"))
            .await
            .as_deref(),
        Some("glibc.malloc.mmap_threshold=4194304:glibc.malloc.trim_threshold=2097152")
    );
    // Both the operator's: started as it is.
    let own = "glibc.malloc.trim_threshold=0:glibc.malloc.mmap_threshold=4194304";
    assert_eq!(
        tunables_of_a_serving_gateway(Some(own)).await.as_deref(),
        Some(own)
    );
}
