//! The TOTP second factor over HTTP: the login's second step, enrolment and
//! turning it off on the caller's profile, an administrator's reset, and
//! which roles require one. The rules live in `gatehouse_access`
//! (`second_factor`); this module maps them to routes, audit events and
//! the QR code an authenticator app scans.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;
use gatehouse_access::{AccessError, Enrolment, LoginStep, PENDING_TTL, SecondFactorStatus};
use gatehouse_audit::{Event, action};
use gatehouse_domain::{RoleName, UserId};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::AppState;
use crate::auth::{Caller, ClientAddr};
use crate::error::{ApiError, ApiJson, ApiPath};

/// The API error for the second factor's refusals.
pub(crate) fn error(e: AccessError) -> ApiError {
    let (status, code) = match e {
        AccessError::SecondFactorRequired => (StatusCode::UNAUTHORIZED, "second_factor_required"),
        AccessError::BadCode => (StatusCode::UNAUTHORIZED, "bad_code"),
        _ => (StatusCode::UNAUTHORIZED, "login_expired"),
    };
    ApiError::new(status, code, e.to_string())
}

/// A new authenticator: scan the QR code or type the secret into the app.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EnrolmentView {
    /// The secret, base32.
    secret: String,
    /// The `otpauth://totp/…` URI (what the QR code carries).
    otpauth_uri: String,
    /// The QR code of `otpauth_uri`, as an SVG document.
    qr_svg: String,
}

impl From<Enrolment> for EnrolmentView {
    fn from(e: Enrolment) -> Self {
        let uri = e.uri.expose_secret();
        let qr_svg = qrcode::QrCode::new(uri.as_bytes())
            .map(|qr| {
                qr.render::<qrcode::render::svg::Color<'_>>()
                    .min_dimensions(200, 200)
                    .build()
            })
            .unwrap_or_default();
        Self {
            secret: e.secret.expose_secret().to_owned(),
            otpauth_uri: uri.to_owned(),
            qr_svg,
        }
    }
}

/// The password was right; a code must follow.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PendingLogin {
    /// `code`: send a code from the authenticator (or a recovery code);
    /// `enrol`: the account must add the authenticator in `enrolment`
    /// first, and its first code completes both.
    second_factor: &'static str,
    /// Send with the code to `POST /auth/login/code`; single use.
    pending: String,
    /// Seconds the pending login stays valid.
    expires_in: u64,
    /// The authenticator to add, for `enrol`.
    #[serde(skip_serializing_if = "Option::is_none")]
    enrolment: Option<EnrolmentView>,
}

/// The answer to a correct password for an account with a second factor.
pub(crate) async fn pending_response(
    state: &AppState,
    addr: &str,
    step: LoginStep,
) -> Result<Response, ApiError> {
    let LoginStep::Code {
        pending,
        user,
        enrol,
    } = step
    else {
        return Err(ApiError::internal("a completed login has no second step"));
    };
    state
        .audit
        .record(
            Event::new(action::LOGIN_PENDING)
                .actor(user.as_str())
                .client_addr(addr)
                .details(json!({ "enrol": enrol.is_some() })),
        )
        .await;
    let body = PendingLogin {
        second_factor: if enrol.is_some() { "enrol" } else { "code" },
        pending: pending.expose_secret().to_owned(),
        expires_in: PENDING_TTL.as_secs(),
        enrolment: enrol.map(EnrolmentView::from),
    };
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

/// The second step of a login.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeRequest {
    /// The pending token from `POST /auth/login`.
    #[schema(value_type = String, format = Password)]
    pending: SecretString,
    /// Six digits from the authenticator, or an unused recovery code.
    #[schema(value_type = String, format = Password)]
    code: SecretString,
}

/// Complete a login with a code: the pending token from a `202` answer of
/// `POST /auth/login` and six digits from the authenticator (or a recovery
/// code, which is then used up). A code is accepted once. A wrong code is
/// `401 bad_code` and counts in the login throttle (`429` past it); an
/// expired or completed pending login is `401 login_expired`. For an
/// account that was enrolling, the answer carries its ten recovery codes.
#[utoipa::path(post, path = "/auth/login/code", tag = "auth", request_body = CodeRequest, security(()),
    responses((status = 200, description = "Logged in: the token (also set as the session cookie) and the user", body = crate::auth::LoginResponse),
              (status = 401, description = "Wrong or used code (`bad_code`), or the pending login expired (`login_expired`)", body = crate::error::ErrorBody),
              (status = 403, description = "The account is locked (`account_locked`)", body = crate::error::ErrorBody),
              (status = 429, body = crate::error::ErrorBody), (status = 503, body = crate::error::ErrorBody)))]
pub async fn login_code(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    jar: CookieJar,
    ApiJson(req): ApiJson<CodeRequest>,
) -> Result<Response, ApiError> {
    let done = state
        .access
        .finish_login(req.pending.expose_secret(), req.code.expose_secret(), &addr)
        .await;
    match done {
        Ok(login) => {
            let name = login.principal.username.clone();
            if login.used_recovery_code {
                state
                    .audit
                    .record(
                        Event::new(action::RECOVERY_CODE_USED)
                            .actor(name.as_str())
                            .client_addr(&addr),
                    )
                    .await;
            }
            if login.recovery_codes.is_some() {
                state
                    .audit
                    .record(
                        Event::new(action::SECOND_FACTOR_ENABLE)
                            .actor(name.as_str())
                            .client_addr(&addr)
                            .details(json!({ "at_login": true })),
                    )
                    .await;
            }
            let codes = login
                .recovery_codes
                .map(|c| c.iter().map(|c| c.expose_secret().to_owned()).collect());
            Ok(crate::auth::logged_in(
                &state,
                jar,
                &addr,
                login.token,
                &login.principal,
                codes,
                json!({ "second_factor": if login.used_recovery_code { "recovery_code" } else { "totp" } }),
            )
            .await)
        }
        Err(e) => {
            let mut details = json!({ "reason": "second_factor" });
            match &e {
                AccessError::Throttled(_) => details["throttled"] = json!(true),
                AccessError::LoginExpired => details["expired"] = json!(true),
                AccessError::AccountLocked => details["account_locked"] = json!(true),
                _ => {}
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

/// The caller's second factor: on or off, required by a role or not, and
/// how many recovery codes are left.
#[utoipa::path(get, path = "/profile/second-factor", tag = "auth",
    responses((status = 200, description = "The caller's second factor", body = SecondFactorStatus),
              (status = 401, body = crate::error::ErrorBody)))]
pub async fn status(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<SecondFactorStatus>, ApiError> {
    Ok(Json(
        state.access.second_factor_status(&caller.principal).await?,
    ))
}

/// Start adding an authenticator: a new secret, its `otpauth://` URI and
/// its QR code, shown this once. Nothing is asked at login until it is
/// confirmed with a code (`POST /profile/second-factor/confirm`). An
/// enabled second factor is `409` (turn it off first).
#[utoipa::path(post, path = "/profile/second-factor/enrol", tag = "auth",
    responses((status = 200, description = "The authenticator to add", body = EnrolmentView),
              (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody)))]
pub async fn enrol(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<EnrolmentView>, ApiError> {
    let enrolment = state.access.begin_enrolment(&caller.principal).await?;
    Ok(Json(enrolment.into()))
}

/// A code from the authenticator.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeOnly {
    /// Six digits (or, to turn the second factor off, a recovery code).
    #[schema(value_type = String, format = Password)]
    code: SecretString,
}

/// The recovery codes of a confirmed enrolment.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RecoveryCodes {
    /// Ten one-time codes, shown this once; each logs in once in place of
    /// a code from the authenticator.
    recovery_codes: Vec<String>,
}

/// Confirm the enrolment with a current code: the second factor is on from
/// now, and the answer carries ten one-time recovery codes, shown this once.
#[utoipa::path(post, path = "/profile/second-factor/confirm", tag = "auth", request_body = CodeOnly,
    responses((status = 200, description = "On; the recovery codes", body = RecoveryCodes),
              (status = 400, body = crate::error::ErrorBody), (status = 401, description = "Wrong code (`bad_code`)", body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody), (status = 429, body = crate::error::ErrorBody)))]
pub async fn confirm(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CodeOnly>,
) -> Result<Json<RecoveryCodes>, ApiError> {
    let codes = state
        .access
        .confirm_enrolment(
            &caller.principal,
            req.code.expose_secret(),
            &caller.client_addr,
        )
        .await?;
    state
        .audit
        .record(
            Event::new(action::SECOND_FACTOR_ENABLE)
                .actor(caller.name())
                .client_addr(&caller.client_addr),
        )
        .await;
    Ok(Json(RecoveryCodes {
        recovery_codes: codes.iter().map(|c| c.expose_secret().to_owned()).collect(),
    }))
}

/// Turn the caller's second factor off, with a current code (or a
/// recovery code). Refused (`403`) while one of their roles requires it.
#[utoipa::path(post, path = "/profile/second-factor/disable", tag = "auth", request_body = CodeOnly,
    responses((status = 204, description = "Off; its recovery codes no longer work"),
              (status = 401, description = "Wrong code (`bad_code`)", body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
              (status = 429, body = crate::error::ErrorBody)))]
pub async fn disable(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CodeOnly>,
) -> Result<StatusCode, ApiError> {
    state
        .access
        .disable_second_factor(
            &caller.principal,
            req.code.expose_secret(),
            &caller.client_addr,
        )
        .await?;
    state
        .audit
        .record(
            Event::new(action::SECOND_FACTOR_DISABLE)
                .actor(caller.name())
                .client_addr(&caller.client_addr),
        )
        .await;
    Ok(StatusCode::NO_CONTENT)
}

/// Remove a user's second factor and recovery codes (a lost phone;
/// `users.manage`). If one of their roles requires a second factor they
/// enrol again at their next login.
#[utoipa::path(delete, path = "/users/{id}/second-factor", tag = "users",
    params(("id" = uuid::Uuid, Path, description = "User id")),
    responses((status = 204, description = "Removed (or there was none)"),
              (status = 400, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn reset(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<UserId>,
) -> Result<StatusCode, ApiError> {
    let (user, had) = state
        .access
        .reset_second_factor(&caller.principal, id)
        .await?;
    state
        .audit
        .record(
            Event::new(action::SECOND_FACTOR_RESET)
                .actor(caller.name())
                .target(user.username.as_str())
                .client_addr(&caller.client_addr)
                .details(json!({ "id": user.id, "had_second_factor": had })),
        )
        .await;
    Ok(StatusCode::NO_CONTENT)
}

/// Whether a role's holders must log in with a second factor.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleSecondFactor {
    /// `true`: a holder without one enrols at their next web login, before
    /// anything else, and cannot turn it off.
    required: bool,
}

/// Require (or stop requiring) a second factor of a role's holders
/// (`users.manage`).
#[utoipa::path(put, path = "/roles/{name}/second-factor", tag = "users", request_body = RoleSecondFactor,
    params(("name" = RoleName, Path, description = "Role name")),
    responses((status = 200, description = "The setting as stored", body = RoleSecondFactor),
              (status = 400, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn set_role(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<RoleName>,
    ApiJson(req): ApiJson<RoleSecondFactor>,
) -> Result<Json<RoleSecondFactor>, ApiError> {
    state
        .access
        .set_role_second_factor(&caller.principal, &name, req.required)
        .await?;
    state
        .audit
        .record(
            Event::new(action::ROLE_SECOND_FACTOR)
                .actor(caller.name())
                .target(format!("role {name}"))
                .client_addr(&caller.client_addr)
                .details(json!({ "required": req.required })),
        )
        .await;
    Ok(Json(req))
}
