//! The OpenAPI document's frame: [`ApiDoc`] (title, tags), the two ways of
//! authenticating ([`Security`]), and [`Answers`], which documents the
//! error answers every operation can give because of the extractors it uses.
//!
//! Handlers document their own successes and the refusals of their own
//! logic (`403` for a missing permission, `404`, `409`, …). The answers that
//! come from the shared machinery — `401` from [`crate::auth::Caller`], `400`
//! from a malformed id or query, `413`/`415`/`422` from a JSON body, `403`
//! for a cross-origin cookie request — are added here from the operation's
//! shape, so a new handler cannot forget them.

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{Content, Ref, RefOr, Response};
use utoipa::{Modify, OpenApi};

use crate::auth;

#[derive(OpenApi)]
#[openapi(
    info(title = "Gatehouse API", description = "Remote-access gateway: connections, live sessions, history and audit."),
    modifiers(&Security),
    components(schemas(crate::error::ErrorBody)),
    tags(
        (name = "auth", description = "Log in and out"),
        (name = "users", description = "Accounts"),
        (name = "connections", description = "Targets and grants"),
        (name = "sessions", description = "Live sessions: open, find, watch, end"),
        (name = "audit", description = "History and the audit log"),
    )
)]
pub(crate) struct ApiDoc;

/// A bearer token or the browser's session cookie, on every operation that
/// does not say otherwise.
pub(crate) struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(auth::COOKIE))),
        );
        openapi.security = Some(vec![
            SecurityRequirement::new("bearer", Vec::<String>::new()),
            SecurityRequirement::new("cookie", Vec::<String>::new()),
        ]);
    }
}

/// Adds the error answers that shared extractors give, and a description
/// to every error answer that has none.
///
/// It must see the paths, which [`ApiDoc`]'s own modifiers run before
/// (the router adds them later), so [`crate::api`] applies it to the
/// finished document.
pub(crate) struct Answers;

impl Modify for Answers {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let ops = [
                (false, item.get.as_mut()),
                (true, item.post.as_mut()),
                (true, item.put.as_mut()),
                (true, item.patch.as_mut()),
                (true, item.delete.as_mut()),
            ];
            for (changes_state, op) in ops {
                if let Some(op) = op {
                    add_answers(op, changes_state);
                }
            }
        }
    }
}

fn add_answers(op: &mut Operation, changes_state: bool) {
    let responses = &mut op.responses.responses;
    let mut needed: Vec<u16> = Vec::new();
    // `security: []`-style optional security marks the one open operation
    // (login); every other one goes through `Caller`.
    let authenticated = op
        .security
        .as_ref()
        .is_none_or(|s| s.iter().all(|r| *r != SecurityRequirement::default()));
    if authenticated {
        needed.push(401);
    }
    let upgrades = responses.contains_key("101");
    if upgrades {
        // Not a WebSocket handshake.
        needed.push(400);
    }
    // Cookie-authenticated state changes and upgrades must be same-origin.
    if authenticated && (changes_state || upgrades) {
        needed.push(403);
    }
    let params = op.parameters.as_deref().unwrap_or_default();
    let param_in = |place: ParameterIn| {
        params
            .iter()
            .any(|p| matches!(p, RefOr::T(p) if p.parameter_in == place))
    };
    if param_in(ParameterIn::Path) {
        needed.extend([400, 404]);
    }
    if param_in(ParameterIn::Query) {
        needed.push(400);
    }
    if op.request_body.is_some() {
        needed.extend([400, 413, 415, 422]);
    }
    for status in needed {
        responses
            .entry(status.to_string())
            .or_insert_with(|| error_answer(status));
    }
    for (status, response) in responses.iter_mut() {
        if let RefOr::T(response) = response
            && response.description.is_empty()
        {
            response.description = meaning(status).to_owned();
        }
    }
}

fn error_answer(status: u16) -> RefOr<Response> {
    let body = Content::new(Some(Ref::from_schema_name("ErrorBody")));
    let mut response = Response::new(meaning(&status.to_string()));
    response
        .content
        .insert("application/json".into(), body.into());
    response.into()
}

/// What an error status means in this API.
fn meaning(status: &str) -> &'static str {
    match status {
        "400" => {
            "The request is invalid: a malformed id, query parameter or JSON body, or a value the operation does not accept (`invalid_request`, `malformed_json`, `websocket_required`)"
        }
        "401" => {
            "Not logged in, or the login has ended: send a bearer token or the session cookie (`unauthenticated`)"
        }
        "403" => {
            "Refused: the caller lacks the permission, or a cookie-authenticated request that changes state came from another origin (`forbidden`)"
        }
        "404" => "No such object, or not one the caller may see (`not_found`)",
        "409" => "It already exists (`conflict`)",
        "413" => "The request body is too large (`payload_too_large`)",
        "415" => {
            "The body is not sent as `Content-Type: application/json` (`unsupported_media_type`)"
        }
        "422" => {
            "The JSON body does not fit the schema: a missing, unknown or mistyped field (`invalid_request`)"
        }
        "429" => "Too many failed logins; try again later (`too_many_attempts`)",
        "503" => "The gateway is too busy checking passwords; try again shortly (`busy`)",
        _ => "See the operation's description",
    }
}
