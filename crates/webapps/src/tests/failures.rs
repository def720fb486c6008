//! Targets that are down, slow, or misconfigured.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::Request;
use http_body_util::Empty;
use tokio_util::sync::CancellationToken;

use super::fixtures::{Gateway, Httpbin, RecordingMeter, upstream};
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
            CancellationToken::new(),
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
            CancellationToken::new(),
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
            CancellationToken::new(),
        ),
    )
    .await;

    assert!(abandoned.is_err(), "the target answered within 300 ms");
    let log = &meter.logs(1).await[0];
    assert_eq!((log.status, log.outcome), (499, Outcome::Cut));
}
