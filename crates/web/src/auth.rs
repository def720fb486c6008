//! Who is calling: bearer tokens, the browser's session cookie, and the
//! same-origin rule for cookie-authenticated requests that change state.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use gatehouse_access::{AccessError, LoginStep, Lost, Principal, Standing};
use gatehouse_audit::{Event, action};
use gatehouse_domain::{EndReason, Permission, UserId, Username};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::AppState;
use crate::error::{ApiError, ApiJson};

/// The browser's session cookie.
pub const COOKIE: &str = "gatehouse_session";

/// The caller's network address, as the gateway sees it.
#[derive(Clone, Debug)]
pub struct ClientAddr(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip().to_canonical().to_string())
            .unwrap_or_else(|| "unknown".into());
        Ok(ClientAddr(ip))
    }
}

/// An authenticated request: who, from where, and with which token.
pub struct Caller {
    /// The user and their permissions.
    pub principal: Principal,
    /// Where the request came from.
    pub client_addr: String,
    token: SecretString,
}

impl Caller {
    /// The caller's username.
    pub fn name(&self) -> &str {
        self.principal.username.as_str()
    }

    /// A watch over this caller's login for a stream that outlives the
    /// request (a feed, a watch or join socket): it says when the login
    /// stops being valid or `require` is no longer held, so the stream can
    /// close instead of outliving the access it was opened with.
    pub fn standing(&self, state: &AppState, require: Option<Permission>) -> Standing {
        state.access.standing(
            SecretString::from(self.token.expose_secret().to_owned()),
            self.principal.user_id,
            require,
        )
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let ClientAddr(client_addr) = ClientAddr::from_request_parts(parts, state)
            .await
            .unwrap_or_else(|never| match never {});
        let (token, via_cookie) = match bearer(&parts.headers) {
            Some(t) => (t, false),
            None => match CookieJar::from_headers(&parts.headers).get(COOKIE) {
                Some(c) => (c.value().to_owned(), true),
                None => return Err(ApiError::unauthenticated()),
            },
        };
        if via_cookie && needs_same_origin(parts) && !same_origin(parts) {
            return Err(ApiError::forbidden(
                "cross-origin request refused: a cookie-authenticated request that changes state must come from the gateway's own pages",
            ));
        }
        let principal = state.access.authenticate(&token).await?;
        Ok(Caller {
            principal,
            client_addr,
            token: SecretString::from(token),
        })
    }
}

/// Why a stream closes because its caller's standing was lost: the end
/// reason (`user_locked` for a locked or deleted account, `access_revoked`
/// for a login that ended or a permission taken away) and a sentence for them.
pub fn lost_notice(lost: &Lost) -> serde_json::Value {
    let reason = if lost.account_locked() {
        EndReason::UserLocked
    } else {
        EndReason::AccessRevoked
    };
    json!({ "reason": reason, "by": null, "message": lost.to_string() })
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
        .filter(|t| !t.is_empty())
}

/// State changes and WebSocket upgrades (which browsers send cross-site
/// with cookies attached) must prove they come from our own origin.
fn needs_same_origin(parts: &Parts) -> bool {
    let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
    let upgrade = parts
        .headers
        .get(header::UPGRADE)
        .is_some_and(|u| u.as_bytes().eq_ignore_ascii_case(b"websocket"));
    !safe || upgrade
}

/// The `Origin` names the host the request was sent to: the `Host` header
/// in HTTP/1.1, the `:authority` (the request URI's) in HTTP/2, which has
/// no `Host` header.
fn same_origin(parts: &Parts) -> bool {
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| parts.uri.authority().map(|a| a.as_str()));
    let (Some(origin), Some(host)) = (
        parts
            .headers
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok()),
        host,
    ) else {
        return false;
    };
    origin
        .split_once("://")
        .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host))
}

/// Login credentials.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The username.
    username: String,
    /// The password.
    #[schema(value_type = String, format = Password)]
    password: SecretString,
}

/// Who a user is and what they may do.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Me {
    /// The user's id.
    id: UserId,
    /// The username.
    username: Username,
    /// Everything the user's roles allow.
    permissions: Vec<Permission>,
}

impl From<&Principal> for Me {
    fn from(p: &Principal) -> Self {
        Me {
            id: p.user_id,
            username: p.username.clone(),
            permissions: p.permissions.iter().copied().collect(),
        }
    }
}

/// A successful login.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LoginResponse {
    /// Send as `Authorization: Bearer <token>`; the same token is set as
    /// the browser's HttpOnly session cookie.
    pub(crate) token: String,
    /// The logged-in user.
    pub(crate) user: Me,
    /// The ten one-time recovery codes of a second factor enrolled by this
    /// login, shown this once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) recovery_codes: Option<Vec<String>>,
}

/// The answer to a completed login: audited, the session cookie set, the
/// token and the user in the body.
pub(crate) async fn logged_in(
    state: &AppState,
    jar: CookieJar,
    addr: &str,
    token: SecretString,
    principal: &Principal,
    recovery_codes: Option<Vec<String>>,
    details: serde_json::Value,
) -> Response {
    state
        .audit
        .record(
            Event::new(action::LOGIN)
                .actor(principal.username.as_str())
                .client_addr(addr)
                .details(details),
        )
        .await;
    let cookie = session_cookie(state, &token);
    let body = LoginResponse {
        token: token.expose_secret().to_owned(),
        user: Me::from(principal),
        recovery_codes,
    };
    (jar.add(cookie), Json(body)).into_response()
}

/// Log in with a username and password. A wrong username or password is
/// `401 bad_credentials`; the right password for a locked account is
/// `403 account_locked`. After five failures for one username from one
/// address, each further attempt must wait (`429 too_many_attempts`),
/// twice as long each time. For an account with a second factor (or whose
/// role requires one) the right password is answered `202` with a pending
/// token, and `POST /auth/login/code` completes the login.
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = LoginRequest, security(()),
    responses((status = 200, description = "Logged in: the token (also set as the session cookie) and the user", body = LoginResponse),
              (status = 202, description = "The password was right; a second-factor code must follow", body = crate::second_factor::PendingLogin),
              (status = 401, description = "Wrong username or password (`bad_credentials`)", body = crate::error::ErrorBody),
              (status = 403, description = "The account is locked (`account_locked`)", body = crate::error::ErrorBody),
              (status = 429, body = crate::error::ErrorBody), (status = 503, body = crate::error::ErrorBody)))]
pub async fn login(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    jar: CookieJar,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    // Asked before the login, which may create a directory account.
    let method = state.access.password_method(&req.username).await;
    match state
        .access
        .login_step(&req.username, req.password, &addr)
        .await
    {
        Ok(LoginStep::Done(token, principal)) => {
            let details = json!({ "method": method });
            Ok(logged_in(&state, jar, &addr, token, &principal, None, details).await)
        }
        Ok(step) => crate::second_factor::pending_response(&state, &addr, step).await,
        Err(e) => {
            // The account's name when the typed one names an account;
            // otherwise not what was typed (often a password in the
            // wrong box).
            let username = match state.access.existing_name(&req.username).await {
                Ok(Some(name)) => json!(name),
                _ => json!("unknown user"),
            };
            let mut details = json!({ "username": username, "method": method });
            if matches!(e, AccessError::Busy(_)) {
                details["busy"] = json!(true);
            }
            if matches!(e, AccessError::AccountLocked) {
                details["account_locked"] = json!(true);
            }
            if matches!(e, AccessError::Throttled(_)) {
                details["throttled"] = json!(true);
            }
            if matches!(e, AccessError::DirectoryUnavailable) {
                details["directory_unavailable"] = json!(true);
            }
            if let AccessError::Forbidden(why) = &e {
                details["refused"] = json!(why);
            }
            state
                .audit
                .record(
                    Event::new(action::LOGIN_FAILED)
                        .client_addr(&addr)
                        .details(details),
                )
                .await;
            Err(e.into())
        }
    }
}

/// The browser's session cookie carrying `token`: what every way of
/// logging in sets.
pub(crate) fn session_cookie(state: &AppState, token: &SecretString) -> Cookie<'static> {
    Cookie::build((COOKIE, token.expose_secret().to_owned()))
        .http_only(true)
        .secure(state.config.secure_cookies)
        .same_site(SameSite::Strict)
        .path("/")
        .max_age(time::Duration::try_from(state.config.token_ttl).unwrap_or(time::Duration::DAY))
        .build()
}

/// Log out: the token (and cookie) stop working.
#[utoipa::path(post, path = "/auth/logout", tag = "auth",
    responses((status = 204, description = "Logged out: the token and the session cookie no longer work"), (status = 401, body = crate::error::ErrorBody)))]
pub async fn logout(
    State(state): State<AppState>,
    caller: Caller,
    jar: CookieJar,
) -> Result<Response, ApiError> {
    state.access.logout(caller.token.expose_secret()).await?;
    state
        .audit
        .record(
            Event::new(action::LOGOUT)
                .actor(caller.name())
                .client_addr(&caller.client_addr),
        )
        .await;
    let jar = jar.remove(Cookie::build(COOKIE).path("/"));
    Ok((StatusCode::NO_CONTENT, jar).into_response())
}

/// The logged-in user and their permissions.
#[utoipa::path(get, path = "/auth/me", tag = "auth",
    responses((status = 200, description = "The caller and their permissions", body = Me), (status = 401, body = crate::error::ErrorBody)))]
pub async fn me(caller: Caller) -> Json<Me> {
    Json(Me::from(&caller.principal))
}

#[cfg(test)]
mod tests {
    use axum::http::Request;

    use super::*;

    fn parts(uri: &str, headers: &[(&str, &str)]) -> Parts {
        let mut req = Request::builder().method(Method::POST).uri(uri);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.body(()).unwrap().into_parts().0
    }

    #[test]
    fn same_origin_compares_the_origin_with_the_host_header() {
        let ok = parts(
            "/api/v1/sessions/end",
            &[("host", "gw:8443"), ("origin", "https://gw:8443")],
        );
        assert!(same_origin(&ok));
        let cross = parts(
            "/api/v1/sessions/end",
            &[("host", "gw:8443"), ("origin", "https://evil.example")],
        );
        assert!(!same_origin(&cross));
    }

    /// HTTP/2 carries the host as `:authority`, which becomes the request
    /// URI's; there is no `Host` header to compare with.
    #[test]
    fn same_origin_over_http2_uses_the_authority() {
        let ok = parts(
            "https://gw:8443/api/v1/sessions/end",
            &[("origin", "https://gw:8443")],
        );
        assert!(same_origin(&ok));
        let cross = parts(
            "https://gw:8443/api/v1/sessions/end",
            &[("origin", "https://evil.example")],
        );
        assert!(!same_origin(&cross));
        let no_origin = parts("https://gw:8443/api/v1/sessions/end", &[]);
        assert!(!same_origin(&no_origin));
    }
}
