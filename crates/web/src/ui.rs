//! The browser UI: static files built from `crates/web/ui` by the build
//! script and embedded in the binary (read from the build folder in debug
//! builds), served with headers that keep the pages to their own origin.

use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

use crate::error::ApiError;

#[derive(RustEmbed)]
#[folder = "$OUT_DIR/ui"]
struct Assets;

/// Nothing but our own scripts; xterm.js adds inline styles, so styles may be inline.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                   img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
                   form-action 'self'";

/// Serves `/` and `/assets/…`; anything else is a JSON 404.
pub(crate) async fn serve(uri: Uri) -> Response {
    let path = uri.path();
    if path.starts_with("/api/") {
        return ApiError::not_found("no such endpoint").into_response();
    }
    // An SSH login's approval link (printed to the SSH client): the page
    // lives in the hash-routed UI.
    if let Some(id) = path.strip_prefix("/approve/")
        && !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return axum::response::Redirect::to(&format!("/#/approve/{id}")).into_response();
    }
    let file = match path.trim_start_matches('/') {
        "" | "index.html" => "index.html",
        other => other,
    };
    let Some(asset) = Assets::get(file) else {
        return ApiError::not_found("no such page").into_response();
    };
    let mut resp = (StatusCode::OK, asset.data.into_owned()).into_response();
    let headers = resp.headers_mut();
    let mime = asset.metadata.mimetype();
    if let Ok(v) = HeaderValue::from_str(mime) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    resp
}
