//! Targets that are down, slow, or misconfigured.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::Request;
use http_body_util::Empty;
use tokio_util::sync::CancellationToken;

use super::fixtures::{Gateway, Httpbin, RecordingMeter, Target, upstream};
use crate::{Outcome, Proxy, ProxyError};

fn get(path: &str) -> Request<Empty<bytes::Bytes>> {
    Request::get(path).body(Empty::new()).expect("request")
}

#[tokio::test]
async fn refused_port_is_unreachable_and_logged_as_an_error() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let up = upstream(&format!("http://{closed}"));
    let proxy = Proxy::new(Duration::from_secs(2), Duration::from_secs(2));
    let meter = Arc::new(RecordingMeter::default());

    let answer = proxy
        .forward(
            &up,
            "app.localhost",
            "http",
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            get("/x?y=1"),
            meter.clone(),
            &CancellationToken::new(),
        )
        .await;

    let Err(e) = answer else {
        panic!("forwarded to a closed port")
    };
    assert!(matches!(e, ProxyError::Unreachable(_)), "{e:?}");
    assert_eq!((e.code(), e.status().as_u16()), ("app_unreachable", 502));
    let log = &meter.logs(1).await[0];
    assert_eq!((log.status, log.outcome), (502, Outcome::Error));
    assert_eq!(log.path, "/x?y=1");
}

#[tokio::test]
async fn slow_response_headers_time_out() {
    let httpbin = Httpbin::start().await;
    let proxy = Proxy::new(Duration::from_secs(2), Duration::from_millis(500));
    let gateway = Gateway::with_proxy(proxy, httpbin.upstream()).await;

    let started = Instant::now();
    let response = gateway
        .browser()
        .get(gateway.url("/delay/3"))
        .send()
        .await
        .expect("an answer");

    assert_eq!(response.status(), 504);
    assert_eq!(response.text().await.expect("text"), "app_timeout");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn unreadable_ca_is_a_configuration_error() {
    let mut up = upstream("https://127.0.0.1:1");
    up.ca_pem = Some("not a certificate".into());
    let proxy = Proxy::new(Duration::from_secs(1), Duration::from_secs(1));

    let answer = proxy
        .forward(
            &up,
            "app.localhost",
            "http",
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            get("/"),
            Arc::new(RecordingMeter::default()),
            &CancellationToken::new(),
        )
        .await;

    assert!(
        matches!(answer, Err(ProxyError::Misconfigured(_))),
        "{answer:?}"
    );
}

#[tokio::test]
async fn request_dropped_before_the_answer_is_logged_as_cut() {
    let httpbin = Httpbin::start().await;
    let proxy = Proxy::new(Duration::from_secs(2), Duration::from_secs(5));
    let meter = Arc::new(RecordingMeter::default());

    let abandoned = tokio::time::timeout(
        Duration::from_millis(300),
        proxy.forward(
            &httpbin.upstream(),
            "app.localhost",
            "http",
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            get("/delay/3"),
            meter.clone(),
            &CancellationToken::new(),
        ),
    )
    .await;

    assert!(abandoned.is_err(), "the target answered within 300 ms");
    let log = &meter.logs(1).await[0];
    assert_eq!((log.status, log.outcome), (499, Outcome::Cut));
}

/// An upload that sends a chunk every `every` for `chunks` chunks, then ends or stalls.
fn trickle(
    chunks: u64,
    every: Duration,
    stall: bool,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> {
    futures_util::stream::unfold(0, move |sent| async move {
        if sent == chunks {
            if stall {
                std::future::pending::<()>().await;
            }
            return None;
        }
        tokio::time::sleep(every).await;
        Some((Ok(bytes::Bytes::from_static(b"0123456789")), sent + 1))
    })
}

#[tokio::test]
async fn a_moving_upload_outlasts_the_response_timeout_and_a_stalled_one_does_not() {
    let target = Target::start().await;
    let proxy = Proxy::new(Duration::from_secs(2), Duration::from_millis(400));
    let gateway = Gateway::with_proxy(proxy, upstream(&format!("http://{}", target.addr))).await;
    let browser = gateway.browser();

    // 8 chunks 150 ms apart: 1.2 s of upload, three times the response timeout.
    let moving = browser
        .post(gateway.url("/sink"))
        .body(reqwest::Body::wrap_stream(trickle(
            8,
            Duration::from_millis(150),
            false,
        )))
        .send()
        .await
        .expect("an answer");
    let stalled_at = Instant::now();
    let stalled = browser
        .post(gateway.url("/sink"))
        .body(reqwest::Body::wrap_stream(trickle(1, Duration::ZERO, true)))
        .send()
        .await
        .expect("an answer");

    assert_eq!(moving.status(), 200);
    assert!(moving.text().await.expect("text").starts_with("80 "));
    assert_eq!(stalled.status(), 504);
    assert!(stalled_at.elapsed() < Duration::from_secs(2));
}
