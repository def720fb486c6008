//! What an app host answers itself: an HTML page for a browser navigation,
//! the API's JSON error shape for `fetch` and XHR.

use axum::Json;
use axum::response::{Html, IntoResponse, Response};
use http::{HeaderMap, StatusCode, header};
use serde_json::json;

/// Whether the request is a browser navigation (it accepts HTML and is not
/// a `fetch`/XHR), which gets a page instead of JSON.
pub(crate) fn wants_html(headers: &HeaderMap) -> bool {
    let get = |name| headers.get(name).and_then(|v| v.to_str().ok());
    match get("sec-fetch-mode") {
        Some(mode) => mode == "navigate",
        None => {
            get("x-requested-with").is_none()
                && get(header::ACCEPT.as_str()).is_some_and(|a| a.contains("text/html"))
        }
    }
}

/// A `{"error": {"code", "message"}}` answer.
pub(crate) fn json_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({ "error": { "code": code, "message": message } });
    let mut response = (status, Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, "no-store".parse().expect("valid"));
    response
}

/// An error as a page or JSON, whichever the request wants.
pub(crate) fn error(
    headers: &HeaderMap,
    status: StatusCode,
    code: &str,
    message: &str,
) -> Response {
    error_for(wants_html(headers), status, code, message)
}

/// An error as a page (`html`, see [`wants_html`]) or JSON.
pub(crate) fn error_for(html: bool, status: StatusCode, code: &str, message: &str) -> Response {
    if html {
        page(
            status,
            status.canonical_reason().unwrap_or("Error"),
            message,
            None,
        )
    } else {
        json_error(status, code, message)
    }
}

/// An app host that names no web application.
pub(crate) fn not_found(headers: &HeaderMap, name: &str) -> Response {
    error(
        headers,
        StatusCode::NOT_FOUND,
        "not_found",
        &format!("There is no web application called {name} on this gateway."),
    )
}

/// The answer to every request of an ended session: who ended it and why,
/// with a way back to the gateway.
pub(crate) fn ended(headers: &HeaderMap, app: &str, message: &str, home: &str) -> Response {
    if wants_html(headers) {
        page(
            StatusCode::GONE,
            &format!("{app}: session ended"),
            message,
            Some(home),
        )
    } else {
        json_error(StatusCode::GONE, "session_ended", message)
    }
}

fn page(status: StatusCode, title: &str, message: &str, home: Option<&str>) -> Response {
    let link = home
        .map(|h| format!(r#"<p><a href="{}/">Back to the gateway</a></p>"#, escape(h)))
        .unwrap_or_default();
    let body = format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{title}</title><style>body{{font:16px system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#222}}h1{{font-size:1.4rem}}</style></head>
<body><h1>{title}</h1><p id="message">{message}</p>{link}</body></html>"#,
        title = escape(title),
        message = escape(message),
    );
    let mut response = (status, Html(body)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, "no-store".parse().expect("valid"));
    response
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
