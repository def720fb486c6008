//! The header rewrites on their own, for the cases a real target rarely sends.

use std::net::{IpAddr, Ipv6Addr};

use http::{HeaderMap, HeaderValue};

use super::fixtures::upstream;
use crate::headers::{
    Origin, is_websocket_upgrade, public_location, public_set_cookie, remove_hop_by_hop,
    rewrite_request,
};
use crate::{InvalidUpstream, Upstream};

fn origin() -> Origin<'static> {
    Origin {
        public_host: "grafana.apps.localhost:8080",
        public_scheme: "https",
        client_addr: IpAddr::V6(Ipv6Addr::LOCALHOST),
    }
}

#[test]
fn location_under_the_base_path_loses_the_base() {
    let up = upstream("http://app.internal:3000/base/");
    let cases = [
        (
            "http://app.internal:3000/base/x?y=1",
            Some("https://grafana.apps.localhost:8080/x?y=1"),
        ),
        (
            "http://APP.internal:3000/base",
            Some("https://grafana.apps.localhost:8080/"),
        ),
        (
            "http://app.internal:3000/other",
            Some("https://grafana.apps.localhost:8080/other"),
        ),
        ("/base/login", Some("/login")),
        ("/base?next=1", Some("/?next=1")),
        ("/basement", None),
        ("/elsewhere", None),
        ("https://app.internal:3000/base/x", None),
        ("http://app.internal/base/x", None),
        ("http://other:3000/base/x", None),
        ("relative/path", None),
    ];
    for (location, expected) in cases {
        assert_eq!(
            public_location(location, &up, &origin()).as_deref(),
            expected,
            "{location}"
        );
    }
}

#[test]
fn location_with_the_default_port_written_out_is_the_same_origin() {
    let up = upstream("https://app.internal");
    assert_eq!(
        public_location("https://app.internal:443/a", &up, &origin()).as_deref(),
        Some("https://grafana.apps.localhost:8080/a")
    );
}

#[test]
fn set_cookie_domain_and_path_are_made_public() {
    let mut up = upstream("http://app.internal:3000/base");
    up.strip_cookies = vec!["gatehouse_app".into()];
    let cases = [
        (
            "a=1; Domain=.app.internal; Path=/base/x",
            Some("a=1; Path=/x"),
        ),
        ("a=1; domain=internal; Secure", Some("a=1; Secure")),
        ("a=1; Domain=example.org", Some("a=1; Domain=example.org")),
        ("a=1; Path=/elsewhere", Some("a=1; Path=/elsewhere")),
        ("gatehouse_app=x; Path=/", None),
        ("gatehouse_app_theme=x", Some("gatehouse_app_theme=x")),
    ];
    for (cookie, expected) in cases {
        assert_eq!(
            public_set_cookie(cookie, &up).as_deref(),
            expected,
            "{cookie}"
        );
    }
}

#[test]
fn hop_by_hop_headers_go_and_a_websocket_keeps_its_upgrade() {
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("connection", "keep-alive, Upgrade, X-Private"),
        ("upgrade", "websocket"),
        ("keep-alive", "timeout=5"),
        ("x-private", "1"),
        ("te", "trailers"),
        ("trailer", "X-Sum"),
        ("transfer-encoding", "chunked"),
        ("proxy-connection", "keep-alive"),
        ("x-kept", "1"),
    ] {
        headers.append(name, HeaderValue::from_static(value));
    }
    assert!(is_websocket_upgrade(&headers));

    let mut plain = headers.clone();
    remove_hop_by_hop(&mut plain, false);
    let mut websocket = headers;
    remove_hop_by_hop(&mut websocket, true);

    assert_eq!(
        plain.keys().map(|k| k.as_str()).collect::<Vec<_>>(),
        ["x-kept"]
    );
    assert_eq!(websocket["connection"], "upgrade");
    assert_eq!(websocket["upgrade"], "websocket");
    assert_eq!(websocket.len(), 3);
}

#[test]
fn forwarded_quotes_an_ipv6_client_and_appends_to_earlier_proxies() {
    let up = upstream("http://app.internal:3000");
    let mut headers = HeaderMap::new();
    headers.insert("forwarded", HeaderValue::from_static("for=192.0.2.1"));
    headers.append("x-forwarded-for", HeaderValue::from_static("192.0.2.1"));
    headers.append("x-forwarded-for", HeaderValue::from_static("192.0.2.2"));

    rewrite_request(&mut headers, &up, &origin()).expect("rewritten");

    assert_eq!(
        headers["forwarded"],
        "for=192.0.2.1, for=\"[::1]\";host=\"grafana.apps.localhost:8080\";proto=https"
    );
    assert_eq!(headers["x-forwarded-for"], "192.0.2.1, 192.0.2.2, ::1");
    assert_eq!(headers["host"], "app.internal:3000");
}

#[test]
fn upstream_urls_are_checked_once() {
    let parse =
        |url: &str| Upstream::new(url.parse().expect("URI")).map(|u| u.base_path().to_owned());
    assert_eq!(parse("http://a:1"), Ok(String::new()));
    assert_eq!(parse("https://a/base/"), Ok("/base".into()));
    assert_eq!(parse("ftp://a"), Err(InvalidUpstream::Scheme));
    assert_eq!(parse("/relative"), Err(InvalidUpstream::Scheme));
    assert_eq!(parse("http://u:p@a"), Err(InvalidUpstream::Credentials));
    assert_eq!(parse("http://a/?q=1"), Err(InvalidUpstream::Query));
}
