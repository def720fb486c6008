//! Header rewriting in both directions: what a faithful proxy removes, adds and translates.

use std::net::IpAddr;

use base64::Engine;
use http::header::{
    AUTHORIZATION, CONNECTION, COOKIE, FORWARDED, HOST, LOCATION, SET_COOKIE, TE, TRAILER,
    TRANSFER_ENCODING, UPGRADE,
};
use http::{HeaderMap, HeaderName, HeaderValue, Uri};
use secrecy::ExposeSecret;

use crate::{Injected, ProxyError, Upstream};

const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Who asked, and through which public address.
pub(crate) struct Origin<'a> {
    pub(crate) public_host: &'a str,
    pub(crate) public_scheme: &'a str,
    pub(crate) client_addr: IpAddr,
}

/// Whether a request asks to become a WebSocket (`Connection: upgrade` + `Upgrade: websocket`).
pub(crate) fn is_websocket_upgrade(headers: &HeaderMap) -> bool {
    connection_tokens(headers).any(|t| t.eq_ignore_ascii_case("upgrade"))
        && headers
            .get_all(UPGRADE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|p| p.trim().eq_ignore_ascii_case("websocket"))
}

fn connection_tokens(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// Removes the headers that describe one hop, not the message: `Connection` and the
/// headers it names, `Keep-Alive`, `Proxy-*`, `TE`, `Trailer`, `Transfer-Encoding`
/// and `Upgrade`. A WebSocket upgrade keeps `Upgrade` and gets `Connection: upgrade`.
pub(crate) fn remove_hop_by_hop(headers: &mut HeaderMap, websocket: bool) {
    // `close`, `keep-alive` and `upgrade` are common and need no lookup:
    // the list below removes them (or names no header).
    let named: Vec<HeaderName> = connection_tokens(headers)
        .filter(|t| {
            !["close", "keep-alive", "upgrade"]
                .iter()
                .any(|c| t.eq_ignore_ascii_case(c))
        })
        .filter_map(|t| HeaderName::from_bytes(t.as_bytes()).ok())
        .collect();
    let upgrade: Vec<HeaderValue> = headers.get_all(UPGRADE).iter().cloned().collect();
    for name in named {
        headers.remove(name);
    }
    for name in [
        CONNECTION,
        KEEP_ALIVE,
        TE,
        TRAILER,
        TRANSFER_ENCODING,
        UPGRADE,
    ] {
        headers.remove(name);
    }
    let proxy: Vec<HeaderName> = headers
        .keys()
        .filter(|n| n.as_str().starts_with("proxy-"))
        .cloned()
        .collect();
    for name in proxy {
        headers.remove(name);
    }
    if websocket {
        headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
        for value in upgrade {
            headers.append(UPGRADE, value);
        }
    }
}

/// Rewrites the browser's headers for the target (hop-by-hop headers already removed).
pub(crate) fn rewrite_request(
    headers: &mut HeaderMap,
    up: &Upstream,
    origin: &Origin<'_>,
) -> Result<(), ProxyError> {
    let public_host = HeaderValue::from_str(origin.public_host)
        .map_err(|_| ProxyError::BadRequest("the public host is not a valid header".into()))?;
    let public_scheme = match origin.public_scheme {
        "http" => HeaderValue::from_static("http"),
        "https" => HeaderValue::from_static("https"),
        other => HeaderValue::from_str(other).map_err(|_| {
            ProxyError::BadRequest("the public scheme is not a valid header".into())
        })?,
    };

    let host = match up.host_header {
        crate::HostHeader::Target => up.host_value().cloned().ok_or_else(|| {
            ProxyError::Misconfigured("the target host is not a valid header".into())
        })?,
        crate::HostHeader::Public => public_host.clone(),
    };
    headers.insert(HOST, host);

    let client = origin.client_addr.to_string();
    append_list(headers, X_FORWARDED_FOR, &client);
    append_list(headers, FORWARDED, &forwarded_element(origin, &client));
    headers.insert(X_FORWARDED_PROTO, public_scheme);
    headers.insert(X_FORWARDED_HOST, public_host);

    // The browser's credentials are for the gateway, never the app; the app sees
    // only what the connection injects.
    headers.remove(AUTHORIZATION);
    match &up.inject {
        None => {}
        Some(Injected::Basic { username, password }) => {
            let pair = format!("{username}:{}", password.expose_secret());
            let value = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            );
            headers.insert(AUTHORIZATION, secret_value(&value)?);
        }
        Some(Injected::Header { name, value }) => {
            headers.insert(name.clone(), secret_value(value.expose_secret())?);
        }
    }
    if let Some((name, user)) = &up.identity {
        let value = HeaderValue::from_str(user)
            .map_err(|_| ProxyError::Misconfigured("the identity is not a valid header".into()))?;
        headers.insert(name.clone(), value);
    }

    strip_request_cookies(headers, up);
    Ok(())
}

fn secret_value(value: &str) -> Result<HeaderValue, ProxyError> {
    let mut value = HeaderValue::from_str(value).map_err(|_| {
        ProxyError::Misconfigured("the injected credential is not a valid header".into())
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// Appends `item` to a comma-separated list header, joining repeated fields into one.
fn append_list(headers: &mut HeaderMap, name: HeaderName, item: &str) {
    let mut earlier = headers
        .get_all(&name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .peekable();
    // Usually the browser sent none: the item is the whole value.
    let value = if earlier.peek().is_none() {
        HeaderValue::from_str(item)
    } else {
        let mut list: Vec<&str> = earlier.collect();
        list.push(item);
        HeaderValue::from_str(&list.join(", "))
    };
    if let Ok(value) = value {
        headers.insert(name, value);
    }
}

/// One RFC 7239 element: `for=…;host="…";proto=…`, `client` the client's
/// address as text.
fn forwarded_element(origin: &Origin<'_>, client: &str) -> String {
    let mut element = String::with_capacity(32 + client.len() + origin.public_host.len());
    element.push_str("for=");
    match origin.client_addr {
        IpAddr::V4(_) => element.push_str(client),
        IpAddr::V6(_) => {
            element.push_str("\"[");
            element.push_str(client);
            element.push_str("]\"");
        }
    }
    element.push_str(";host=\"");
    element.extend(
        origin
            .public_host
            .chars()
            .filter(|c| !matches!(c, '"' | '\\')),
    );
    element.push_str("\";proto=");
    element.push_str(origin.public_scheme);
    element
}

/// Removes the gateway's own cookies from `Cookie`, keeping the app's.
fn strip_request_cookies(headers: &mut HeaderMap, up: &Upstream) {
    if !headers.contains_key(COOKIE) {
        return;
    }
    let kept: Vec<&str> = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .filter(|pair| {
            let name = pair.split_once('=').map_or(*pair, |(n, _)| n).trim();
            !up.strips_cookie(name)
        })
        .collect();
    let joined = kept.join("; ");
    headers.remove(COOKIE);
    if !joined.is_empty()
        && let Ok(value) = HeaderValue::from_str(&joined)
    {
        headers.insert(COOKIE, value);
    }
}

/// Rewrites the target's response headers for the browser (hop-by-hop headers already removed).
pub(crate) fn rewrite_response(headers: &mut HeaderMap, up: &Upstream, origin: &Origin<'_>) {
    if let Some(location) = headers.get(LOCATION).and_then(|v| v.to_str().ok())
        && let Some(public) = public_location(location, up, origin)
        && let Ok(value) = HeaderValue::from_str(&public)
    {
        headers.insert(LOCATION, value);
    }

    if headers.contains_key(SET_COOKIE) {
        let cookies: Vec<HeaderValue> = headers.get_all(SET_COOKIE).iter().cloned().collect();
        headers.remove(SET_COOKIE);
        for cookie in cookies {
            let Ok(text) = cookie.to_str() else {
                // Not text we can read: its name cannot be checked, so it cannot pass.
                continue;
            };
            if let Some(rewritten) = public_set_cookie(text, up)
                && let Ok(value) = HeaderValue::from_str(&rewritten)
            {
                headers.append(SET_COOKIE, value);
            }
        }
    }
}

/// The `Location` the browser should see, or `None` to leave it as it is: links to the
/// target's own origin move to the public origin, and the target's base path goes.
pub(crate) fn public_location(
    location: &str,
    up: &Upstream,
    origin: &Origin<'_>,
) -> Option<String> {
    if location.starts_with('/') && !location.starts_with("//") {
        return strip_base(location, up.base_path());
    }
    let uri: Uri = location.parse().ok()?;
    let scheme = uri.scheme_str()?;
    let authority = uri.authority()?;
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    let same_origin = scheme.eq_ignore_ascii_case(up.scheme_str())
        && host == up.host()
        && authority.port_u16().unwrap_or(default_port) == up.port();
    if !same_origin {
        return None;
    }
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let path = strip_base(path, up.base_path()).unwrap_or_else(|| path.to_owned());
    Some(format!(
        "{}://{}{}",
        origin.public_scheme, origin.public_host, path
    ))
}

/// `path` without the base path, or `None` when it does not start with it.
fn strip_base(path: &str, base: &str) -> Option<String> {
    if base.is_empty() {
        return None;
    }
    let rest = path.strip_prefix(base)?;
    match rest.chars().next() {
        None => Some("/".to_owned()),
        Some('/') => Some(rest.to_owned()),
        Some('?') => Some(format!("/{rest}")),
        // "/basement" is not under "/base".
        Some(_) => None,
    }
}

/// A `Set-Cookie` as the browser should get it, or `None` to drop it: the gateway's own
/// cookie names never come from the app; a `Domain` naming the target becomes a
/// host-only cookie on the app host; a `Path` under the base path loses the base.
pub(crate) fn public_set_cookie(cookie: &str, up: &Upstream) -> Option<String> {
    let mut parts = cookie.split(';');
    let pair = parts.next()?.trim();
    let name = pair.split_once('=').map_or(pair, |(n, _)| n).trim();
    if up.strips_cookie(name) {
        return None;
    }
    let target = up.host();
    let mut out = vec![pair.to_owned()];
    for attribute in parts {
        let attribute = attribute.trim();
        let (key, value) = attribute
            .split_once('=')
            .map_or((attribute, ""), |(k, v)| (k.trim(), v.trim()));
        if key.eq_ignore_ascii_case("domain") {
            let domain = value.trim_start_matches('.').to_ascii_lowercase();
            if target == domain || target.ends_with(&format!(".{domain}")) {
                continue;
            }
        } else if key.eq_ignore_ascii_case("path")
            && let Some(path) = strip_base(value, up.base_path())
        {
            out.push(format!("{key}={path}"));
            continue;
        }
        if !attribute.is_empty() {
            out.push(attribute.to_owned());
        }
    }
    Some(out.join("; "))
}
