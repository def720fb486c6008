//! Single sign-on with OpenID Connect: the login page's provider list, the
//! redirect to a provider, the callback that logs the browser in (or hands
//! `gatehouse login --sso` a one-time code), and the CLI's exchange of that
//! code for a token.
//!
//! A sign-in in flight lives in the store (state, nonce, PKCE verifier,
//! where to go after), taken once, so the callback may reach any node.
//! Refusals in the browser's flow are HTML pages a person can read, not
//! JSON; the CLI's exchange answers JSON like the rest of the API.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;
use gatehouse_access::AccessError;
use gatehouse_access::sso::{SsoIdentity, pkce_challenge};
use gatehouse_audit::{Event, action};
use gatehouse_connect::policy::Actor;
use gatehouse_oidc::{OidcError, Providers};
use gatehouse_store::SsoPending;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;

use crate::AppState;
use crate::auth::{ClientAddr, LoginResponse, Me, session_cookie};
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery};

/// How long a person has to finish signing in at the provider.
const PENDING_TTL: Duration = Duration::from_secs(600);

/// The single sign-on settings of the HTTP front end.
#[derive(Clone, Debug, Default)]
pub struct SsoSettings {
    /// The configured providers.
    pub providers: Providers,
    /// The gateway's address as browsers reach it (`https://gw.example.com`),
    /// for the provider's redirect back. `None`: the request's `Host`, with
    /// `https` when the listener serves TLS.
    pub public_url: Option<String>,
    /// The listener serves HTTPS.
    pub https: bool,
}

/// A provider the login page offers.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ProviderInfo {
    /// Its short name (`gatehouse login --sso NAME`).
    name: String,
    /// What the button says after "Log in with".
    display_name: String,
    /// Where the button goes (this gateway's start of the flow).
    start_url: String,
}

/// The single sign-on providers, for the login page (no login needed).
#[utoipa::path(get, path = "/auth/providers", tag = "auth", security(()),
    responses((status = 200, description = "The providers the login page offers", body = [ProviderInfo])))]
pub async fn providers(State(state): State<AppState>) -> Json<Vec<ProviderInfo>> {
    Json(
        state
            .config
            .sso
            .providers
            .iter()
            .map(|p| ProviderInfo {
                name: p.settings().name.clone(),
                display_name: p.settings().display_name.clone(),
                start_url: format!("/api/v1/auth/oidc/{}/start", p.settings().name),
            })
            .collect(),
    )
}

/// Where to go after logging in, and who asked.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StartQuery {
    /// A path on this gateway to open once logged in (default `/`).
    next: Option<String>,
    /// `gatehouse login --sso`'s loopback port (with `cli_challenge`).
    #[param(minimum = 1, maximum = 65535)]
    cli_port: Option<u16>,
    /// base64url SHA-256 of the CLI's secret verifier (43 characters).
    #[param(pattern = "^[A-Za-z0-9_-]{43}$")]
    cli_challenge: Option<String>,
}

/// Start signing in with a provider: a redirect to its login page (an
/// authorization code flow with PKCE; state and nonce kept server-side).
#[utoipa::path(get, path = "/auth/oidc/{name}/start", tag = "auth", security(()),
    params(("name" = String, Path, description = "The provider's name"), StartQuery),
    responses((status = 303, description = "To the provider's login page"),
              (status = 404, description = "No such provider", body = crate::error::ErrorBody),
              (status = 502, description = "The provider could not be reached (an HTML page)", content_type = "text/html", body = String),
              (status = 503, body = crate::error::ErrorBody)))]
pub async fn start(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(query): ApiQuery<StartQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let provider = state
        .config
        .sso
        .providers
        .get(&name)
        .ok_or_else(|| ApiError::not_found(format!("single sign-on provider {name}")))?;
    let cli_challenge = match (query.cli_port, query.cli_challenge) {
        (None, None) => None,
        (Some(port), Some(challenge)) if port != 0 && is_challenge(&challenge) => {
            Some((port, challenge))
        }
        _ => {
            return Err(ApiError::invalid(
                "cli_port and cli_challenge go together: a port and a 43-character base64url SHA-256",
            ));
        }
    };
    let next = query
        .next
        .as_deref()
        .filter(|n| same_origin_path(n))
        .unwrap_or("/");
    let redirect_url = format!(
        "{}/api/v1/auth/oidc/{name}/callback",
        base_url(&state, &headers)
    );
    let (url, pending) = match provider.start(&redirect_url).await {
        Ok(started) => started,
        Err(e) => {
            tracing::warn!(provider = %name, error = %e, "single sign-on could not start");
            return Ok(page(
                StatusCode::BAD_GATEWAY,
                "Sign-in is unavailable",
                &e.to_string(),
            ));
        }
    };
    let expires = OffsetDateTime::now_utc() + PENDING_TTL;
    state
        .access
        .store()
        .insert_sso_pending(&SsoPending {
            state_hash: hash(&pending.state),
            provider: name,
            nonce: pending.nonce.expose_secret().to_owned(),
            pkce_verifier: pending.pkce_verifier.expose_secret().to_owned(),
            redirect_url,
            next_path: next.to_owned(),
            cli_port: cli_challenge.as_ref().map(|(port, _)| i32::from(*port)),
            cli_challenge: cli_challenge.map(|(_, c)| c),
            expires_at: (expires.unix_timestamp_nanos() / 1_000_000) as i64,
        })
        .await
        .map_err(AccessError::from)?;
    Ok(redirect(&url))
}

/// What the provider sends the browser back with.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    /// The state this gateway's start sent.
    state: Option<String>,
    /// The authorization code.
    code: Option<String>,
    /// The provider's refusal (`access_denied`, …).
    error: Option<String>,
    /// Its explanation.
    error_description: Option<String>,
    /// The issuer that answered (RFC 9207), when the provider says.
    iss: Option<String>,
}

/// The provider's redirect back: checks the state, exchanges the code,
/// verifies the id_token, maps the roles, and logs the browser in (a
/// session cookie, then on to `next`) or hands the CLI a one-time code on
/// its loopback address. Refusals are HTML pages.
#[utoipa::path(get, path = "/auth/oidc/{name}/callback", tag = "auth", security(()),
    params(("name" = String, Path, description = "The provider's name"), CallbackQuery),
    responses((status = 200, description = "Logged in: the session cookie is set and the page moves on (an HTML page)", content_type = "text/html", body = String),
              (status = 303, description = "To `gatehouse login --sso`'s loopback address, with a one-time code"),
              (status = 403, description = "Refused: unknown or used state, a code or id_token that failed verification, no role (an HTML page)", content_type = "text/html", body = String),
              (status = 404, description = "No such provider", body = crate::error::ErrorBody),
              (status = 502, description = "The provider could not be reached (an HTML page)", content_type = "text/html", body = String),
              (status = 503, body = crate::error::ErrorBody)))]
pub async fn callback(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ClientAddr(addr): ClientAddr,
    jar: CookieJar,
    ApiQuery(query): ApiQuery<CallbackQuery>,
) -> Result<Response, ApiError> {
    let provider = state
        .config
        .sso
        .providers
        .get(&name)
        .ok_or_else(|| ApiError::not_found(format!("single sign-on provider {name}")))?;
    // `cli`: the loopback port of `gatehouse login --sso`, once the
    // sign-in is known to be its: the CLI is told too, rather than waiting.
    let refuse = |reason: &'static str,
                  message: String,
                  username: Option<String>,
                  cli: Option<i32>| {
        let state = state.clone();
        let name = name.clone();
        let addr = addr.clone();
        async move {
            let mut details =
                json!({ "method": "oidc", "provider": name, "reason": reason, "message": message });
            if let Some(username) = username {
                details["username"] = json!(username);
            }
            state
                .audit
                .record(
                    Event::new(action::LOGIN_FAILED)
                        .client_addr(&addr)
                        .details(details),
                )
                .await;
            let status = if reason == "unreachable" {
                StatusCode::BAD_GATEWAY
            } else {
                StatusCode::FORBIDDEN
            };
            if let Some(port) = cli {
                return Ok(redirect(&format!(
                    "http://127.0.0.1:{port}/callback?error={}",
                    percent_encode(&message)
                )));
            }
            Ok(page(status, "Sign-in refused", &message))
        }
    };
    let Some(state_param) = query.state.as_deref() else {
        return refuse(
            "no_state",
            "This sign-in link carries no state. Start again from the login page.".into(),
            None,
            None,
        )
        .await;
    };
    let pending = state
        .access
        .store()
        .take_sso_pending(&hash(state_param))
        .await
        .map_err(AccessError::from)?;
    let Some(pending) = pending.filter(|p| p.provider == name) else {
        return refuse(
            "unknown_state",
            "This sign-in is unknown, expired or already used (wrong state). Start again from the login page.".into(),
            None,
            None,
        )
        .await;
    };
    // RFC 9207: an answer that names another issuer is another provider's
    // (a mix-up), whatever its code.
    if let Some(iss) = &query.iss
        && iss.trim_end_matches('/') != provider.settings().issuer.trim_end_matches('/')
    {
        return refuse(
            "wrong_issuer",
            format!("The answer came from another identity provider ({iss})."),
            None,
            pending.cli_port,
        )
        .await;
    }
    if let Some(error) = &query.error {
        let said = query.error_description.as_deref().unwrap_or(error);
        return refuse(
            "provider_refused",
            format!("The identity provider refused the sign-in: {said}"),
            None,
            pending.cli_port,
        )
        .await;
    }
    let Some(code) = query.code.as_deref() else {
        return refuse(
            "no_code",
            "The identity provider sent no code.".into(),
            None,
            pending.cli_port,
        )
        .await;
    };
    let identity = match provider
        .finish(
            &pending.redirect_url,
            code,
            &SecretString::from(pending.nonce.clone()),
            &SecretString::from(pending.pkce_verifier.clone()),
        )
        .await
    {
        Ok(identity) => identity,
        Err(e) => {
            let reason = match e {
                OidcError::Unreachable(_) => "unreachable",
                OidcError::CodeRefused(_) => "code_refused",
                OidcError::TokenInvalid(_) => "token_invalid",
                OidcError::NoUsername(_) => "no_username",
            };
            return refuse(reason, e.to_string(), None, pending.cli_port).await;
        }
    };
    let settings = provider.settings();
    let login = state
        .access
        .sso_login(SsoIdentity {
            provider: &name,
            subject: &identity.subject,
            username: &identity.username,
            roles: &identity.roles,
            create_users: settings.create_users,
        })
        .await;
    let login = match login {
        Ok(login) => login,
        Err(AccessError::Forbidden(message)) => {
            let message = format!(
                "{message}. You signed in as {} with {}: {}.",
                identity.username,
                settings.role_claim,
                if identity.claim_values.is_empty() {
                    "none".to_owned()
                } else {
                    identity.claim_values.join(", ")
                }
            );
            return refuse(
                "no_role_or_account",
                message,
                Some(identity.username.to_string()),
                pending.cli_port,
            )
            .await;
        }
        Err(AccessError::AccountLocked) => {
            return refuse(
                "account_locked",
                "This account is locked.".into(),
                Some(identity.username.to_string()),
                pending.cli_port,
            )
            .await;
        }
        Err(e) => return Err(e.into()),
    };
    let who = login.principal.username.to_string();
    if login.roles_before.is_some() {
        // Roles shrank or changed: the sessions that depended on a lost
        // one end, as when an administrator changes the roles.
        let by = format!("{name} (single sign-on)");
        enforce_roles(&state, &by, &addr).await?;
    }
    state
        .audit
        .record(
            Event::new(action::LOGIN)
                .actor(&who)
                .client_addr(&addr)
                .details(json!({
                    "method": "oidc",
                    "provider": name,
                    "created": login.created,
                    "roles": identity.roles,
                    "roles_before": login.roles_before,
                })),
        )
        .await;
    if let (Some(port), Some(challenge)) = (pending.cli_port, &pending.cli_challenge) {
        let code = state
            .access
            .sso_handoff(login.principal.user_id, challenge)
            .await?;
        return Ok(redirect(&format!(
            "http://127.0.0.1:{port}/callback?code={}",
            code.expose_secret()
        )));
    }
    let token = state.access.sso_token(login.principal.user_id).await?;
    let jar = jar.add(session_cookie(&state, &token));
    Ok((jar, continue_page(&pending.next_path)).into_response())
}

/// Trades `gatehouse login --sso`'s one-time code, and the verifier of the
/// challenge it started with, for a token.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExchangeRequest {
    /// The one-time code the loopback address received.
    code: String,
    /// The secret whose base64url SHA-256 was `cli_challenge`.
    #[schema(value_type = String, format = Password)]
    verifier: SecretString,
}

/// `gatehouse login --sso`'s last step: a one-time code (used once, within
/// a minute) and the verifier of its challenge, for a token. A bad, used
/// or expired code, or a wrong verifier, is `400 invalid_grant`.
#[utoipa::path(post, path = "/auth/oidc/token", tag = "auth", request_body = ExchangeRequest, security(()),
    responses((status = 200, description = "Logged in: the token and the user", body = LoginResponse),
              (status = 400, description = "A bad, used or expired code, or a wrong verifier (`invalid_grant`)", body = crate::error::ErrorBody),
              (status = 403, description = "The account is locked (`account_locked`)", body = crate::error::ErrorBody),
              (status = 503, body = crate::error::ErrorBody)))]
pub async fn exchange(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    ApiJson(req): ApiJson<ExchangeRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    match state.access.sso_redeem(&req.code, &req.verifier).await {
        Ok((token, principal)) => {
            state
                .audit
                .record(
                    Event::new(action::LOGIN)
                        .actor(principal.username.as_str())
                        .client_addr(&addr)
                        .details(json!({ "method": "oidc", "via": "cli" })),
                )
                .await;
            Ok(Json(LoginResponse {
                token: token.expose_secret().to_owned(),
                user: Me::from(&principal),
                recovery_codes: None,
            }))
        }
        Err(AccessError::BadCredentials) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "the code is unknown, used or expired, or the verifier does not match",
        )),
        Err(e) => Err(e.into()),
    }
}

async fn enforce_roles(state: &AppState, by: &str, addr: &str) -> Result<(), ApiError> {
    crate::enforce::revoke_unauthorized_as(
        state,
        &Actor {
            name: by,
            client_addr: addr,
        },
    )
    .await?;
    Ok(())
}

/// The gateway's own address as browsers reach it.
fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(url) = &state.config.sso.public_url {
        return url.trim_end_matches('/').to_owned();
    }
    // A forged Host only sends its sender's own flow astray: the provider
    // redirects only to the addresses registered for the client.
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let scheme = if state.config.sso.https {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{host}")
}

/// A path on this gateway, never another site (`//evil`, `/\evil`, `https:`).
fn same_origin_path(next: &str) -> bool {
    next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.chars().any(|c| c.is_control() || c == '\\')
}

/// A PKCE S256 challenge's shape: 43 base64url characters.
fn is_challenge(s: &str) -> bool {
    s.len() == 43
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn hash(s: &str) -> Vec<u8> {
    // The same digest the store keeps login tokens by.
    pkce_challenge(s).into_bytes()
}

fn redirect(url: &str) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(url) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    no_store(&mut resp);
    resp
}

/// `s` as a URL query value: unreserved characters as they are, the rest
/// as `%XX` bytes.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn no_store(resp: &mut Response) {
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn html(status: StatusCode, title: &str, body: &str, head: &str) -> Response {
    let doc = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">{head}<title>{title} — Gatehouse</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#1a1a1a}}\
         h1{{font-size:1.4rem}}a{{color:#0b57d0}}</style></head>\
         <body><main><h1>{title}</h1>{body}</main></body></html>",
        title = escape(title)
    );
    let mut resp = (status, doc).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
    );
    no_store(&mut resp);
    resp
}

/// A refusal a person can read, with the way back.
fn page(status: StatusCode, title: &str, message: &str) -> Response {
    html(
        status,
        title,
        &format!(
            "<p role=\"alert\">{}</p><p><a href=\"/\">Back to the login page</a></p>",
            escape(message)
        ),
        "",
    )
}

/// Logged in: on to `next`. A page rather than a redirect, because the
/// browser arrives here from the provider's site, and a `SameSite=Strict`
/// cookie is not sent on a redirect that chain began cross-site; the
/// page's own navigation is same-site.
fn continue_page(next: &str) -> Response {
    let next = escape(next);
    html(
        StatusCode::OK,
        "Signed in",
        &format!("<p>Signed in. <a href=\"{next}\">Continue</a></p>"),
        &format!("<meta http-equiv=\"refresh\" content=\"0;url={next}\">"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_this_gateway() {
        assert!(same_origin_path("/"));
        assert!(same_origin_path("/#/sessions"));
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "https://evil.example",
            "",
            "evil",
            "/a\nb",
        ] {
            assert!(!same_origin_path(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_challenge_is_43_base64url_characters() {
        assert!(is_challenge(&pkce_challenge("verifier")));
        assert!(!is_challenge("short"));
        assert!(!is_challenge(&"+".repeat(43)));
    }
}
