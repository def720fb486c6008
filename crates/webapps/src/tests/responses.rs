//! What the browser sees of the target's response headers.

use http::header::{LOCATION, SET_COOKIE};

use super::fixtures::{Gateway, Httpbin, Target, upstream};

fn set_cookies(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().expect("text").to_owned())
        .collect()
}

#[tokio::test]
async fn redirect_to_the_targets_origin_moves_to_the_public_origin() {
    let httpbin = Httpbin::start().await;
    let gateway = Gateway::start(httpbin.upstream()).await;
    let browser = gateway.browser();

    let own = browser
        .get(gateway.url("/redirect-to"))
        .query(&[("url", httpbin.url("/get?a=1"))])
        .send()
        .await
        .expect("request");
    let elsewhere = browser
        .get(gateway.url("/redirect-to"))
        .query(&[("url", "http://example.org/x")])
        .send()
        .await
        .expect("request");

    assert_eq!(own.status(), 302);
    assert_eq!(own.headers()[LOCATION], gateway.url("/get?a=1"));
    assert_eq!(elsewhere.headers()[LOCATION], "http://example.org/x");
}

#[tokio::test]
async fn set_cookie_of_the_app_passes_and_one_naming_a_gateway_cookie_is_dropped() {
    let httpbin = Httpbin::start().await;
    let mut up = httpbin.upstream();
    up.strip_cookies = vec!["gatehouse_session".into()];
    let gateway = Gateway::start(up).await;
    let browser = gateway.browser();

    let app = browser
        .get(gateway.url("/cookies/set?x=1"))
        .send()
        .await
        .expect("request");
    let forged = browser
        .get(gateway.url("/cookies/set?gatehouse_session=forged&y=2"))
        .send()
        .await
        .expect("request");

    assert_eq!(set_cookies(&app), ["x=1; Path=/"]);
    assert_eq!(set_cookies(&forged), ["y=2; Path=/"]);
}

#[tokio::test]
async fn set_cookie_domain_of_the_target_becomes_host_only() {
    let httpbin = Httpbin::start().await;
    let gateway = Gateway::start(httpbin.upstream()).await;

    let response = gateway
        .browser()
        .get(gateway.url("/response-headers"))
        .query(&[("Set-Cookie", "a=1; Domain=127.0.0.1; HttpOnly")])
        .send()
        .await
        .expect("request");

    assert_eq!(set_cookies(&response), ["a=1; HttpOnly"]);
}

#[tokio::test]
async fn hop_by_hop_response_headers_are_removed() {
    let target = Target::start().await;
    let gateway = Gateway::start(upstream(&format!("http://{}", target.addr))).await;
    let direct = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let sent = direct
        .get(format!("http://{}/hop", target.addr))
        .send()
        .await
        .expect("direct");
    assert_eq!(sent.headers()["x-hop"], "1", "the target sends them");

    let response = gateway
        .browser()
        .get(gateway.url("/hop"))
        .send()
        .await
        .expect("request");

    assert_eq!(response.status(), 200);
    let headers = response.headers();
    for gone in ["x-hop", "keep-alive", "proxy-authenticate"] {
        assert!(headers.get(gone).is_none(), "{gone}: {headers:?}");
    }
    assert_eq!(headers["x-kept"], "2");
}
