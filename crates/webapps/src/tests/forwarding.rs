//! What the target sees of a browser's request (httpbin echoes it back).

use http::HeaderName;
use secrecy::SecretString;
use serde_json::Value;

use super::fixtures::{Gateway, Httpbin};
use crate::{HostHeader, Injected};

/// The request headers httpbin saw, `show_env` so it keeps the X-Forwarded-* ones.
async fn headers_seen(request: reqwest::RequestBuilder) -> Value {
    let response = request.send().await.expect("request");
    assert_eq!(response.status(), 200);
    let echo: Value = response.json().await.expect("JSON");
    echo["headers"].clone()
}

#[tokio::test]
async fn target_sees_forwarded_headers_and_its_own_host() {
    let httpbin = Httpbin::start().await;
    let gateway = Gateway::start(httpbin.upstream()).await;
    let browser = gateway.browser();

    let seen = headers_seen(
        browser
            .get(gateway.url("/headers?show_env=1"))
            .header("X-Forwarded-For", "203.0.113.9"),
    )
    .await;

    assert_eq!(seen["Host"], httpbin.addr.to_string());
    assert_eq!(seen["X-Forwarded-For"], "203.0.113.9, 127.0.0.1");
    assert_eq!(seen["X-Forwarded-Proto"], "http");
    assert_eq!(seen["X-Forwarded-Host"], gateway.public_host());
    assert_eq!(
        seen["Forwarded"],
        format!(
            "for=127.0.0.1;host=\"{}\";proto=http",
            gateway.public_host()
        )
    );
}

#[tokio::test]
async fn public_host_mode_sends_the_app_host() {
    let httpbin = Httpbin::start().await;
    let mut up = httpbin.upstream();
    up.host_header = HostHeader::Public;
    let gateway = Gateway::start(up).await;

    let seen = headers_seen(gateway.browser().get(gateway.url("/headers"))).await;

    assert_eq!(seen["Host"], gateway.public_host());
}

#[tokio::test]
async fn gateway_cookies_and_browser_credentials_never_reach_the_target() {
    let httpbin = Httpbin::start().await;
    let mut up = httpbin.upstream();
    up.strip_cookies = vec!["gatehouse_session".into(), "gatehouse_app".into()];
    up.identity = Some((HeaderName::from_static("x-gatehouse-user"), "alice".into()));
    let gateway = Gateway::start(up).await;

    let seen = headers_seen(
        gateway
            .browser()
            .get(gateway.url("/headers"))
            .header(
                "Cookie",
                "gatehouse_session=secret; theme=dark; gatehouse_app=t",
            )
            .header("Authorization", "Bearer gateway-token")
            .header("Proxy-Authorization", "Basic eDp5")
            .header("X-Gatehouse-User", "mallory"),
    )
    .await;

    assert_eq!(seen["Cookie"], "theme=dark");
    assert!(seen.get("Authorization").is_none(), "{seen}");
    assert!(seen.get("Proxy-Authorization").is_none(), "{seen}");
    assert_eq!(seen["X-Gatehouse-User"], "alice");
}

#[tokio::test]
async fn only_gateway_cookies_means_no_cookie_header() {
    let httpbin = Httpbin::start().await;
    let mut up = httpbin.upstream();
    up.strip_cookies = vec!["gatehouse_session".into()];
    let gateway = Gateway::start(up).await;

    let seen = headers_seen(
        gateway
            .browser()
            .get(gateway.url("/headers"))
            .header("Cookie", "gatehouse_session=secret"),
    )
    .await;

    assert!(seen.get("Cookie").is_none(), "{seen}");
}

#[tokio::test]
async fn injected_basic_credentials_open_basic_auth_and_the_browsers_do_not() {
    let httpbin = Httpbin::start().await;
    let plain = Gateway::start(httpbin.upstream()).await;
    let mut up = httpbin.upstream();
    up.inject = Some(Injected::Basic {
        username: "u".into(),
        password: SecretString::from("p"),
    });
    let injecting = Gateway::start(up).await;

    let theirs = plain
        .browser()
        .get(plain.url("/basic-auth/u/p"))
        .basic_auth("u", Some("p"))
        .send()
        .await
        .expect("request");
    let ours = injecting
        .browser()
        .get(injecting.url("/basic-auth/u/p"))
        .send()
        .await
        .expect("request");

    assert_eq!(
        theirs.status(),
        401,
        "the browser's Authorization is stripped"
    );
    assert_eq!(ours.status(), 200);
    let body: serde_json::Value = ours.json().await.expect("JSON");
    assert_eq!(body["user"], "u");
}

#[tokio::test]
async fn injected_header_replaces_the_browsers() {
    let httpbin = Httpbin::start().await;
    let mut up = httpbin.upstream();
    up.inject = Some(Injected::Header {
        name: HeaderName::from_static("x-api-key"),
        value: SecretString::from("k-123"),
    });
    let gateway = Gateway::start(up).await;

    let seen = headers_seen(
        gateway
            .browser()
            .get(gateway.url("/headers"))
            .header("X-Api-Key", "forged"),
    )
    .await;

    assert_eq!(seen["X-Api-Key"], "k-123");
}

#[tokio::test]
async fn base_path_prefixes_the_request_path_and_keeps_the_query() {
    let httpbin = Httpbin::start().await;
    let up = super::fixtures::upstream(&httpbin.url("/anything/base/"));
    let gateway = Gateway::start(up).await;

    let echo: Value = gateway
        .browser()
        .get(gateway.url("/page?x=1&y=two"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("JSON");

    assert_eq!(echo["url"], httpbin.url("/anything/base/page?x=1&y=two"));
    let logs = gateway.meter.logs(1).await;
    assert_eq!(logs[0].path, "/page?x=1&y=two");
    assert_eq!(logs[0].method, "GET");
}
