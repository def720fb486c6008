//! OpenID Connect single sign-on: the gateway as a relying party.
//!
//! A [`Provider`] is one identity provider from the config ([`ProviderSettings`]:
//! issuer, client, scopes, and how a claim maps to gateway roles).
//! [`Provider::start`] builds the authorization URL of a code flow with PKCE
//! and returns the [`Pending`] values (state, nonce, PKCE verifier) the
//! caller keeps server-side until the browser comes back;
//! [`Provider::finish`] exchanges the code and verifies the `id_token`
//! (signature against the provider's current keys, issuer, audience, nonce,
//! expiry) with the `openidconnect` crate, and returns the [`Identity`]
//! with the roles its claim maps to. [`Providers`] is the set the config names.
//!
//! The provider's discovery document and keys are fetched at every start
//! and finish (two small requests per login): a provider that rotates its
//! signing key is followed at once, and nothing stale is cached.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse_domain::{RoleName, Username};
use openidconnect::core::{CoreClient, CoreProviderMetadata, CoreResponseType};
use openidconnect::{
    AuthenticationFlow, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use secrecy::{ExposeSecret, SecretString};

/// One provider's settings, as the config gives them.
#[derive(Clone, Debug)]
pub struct ProviderSettings {
    /// The short name in URLs and `gatehouse login --sso NAME`.
    pub name: String,
    /// What the login page's button says: "Log in with {display_name}".
    pub display_name: String,
    /// The issuer URL (its `/.well-known/openid-configuration` is read).
    pub issuer: String,
    /// The gateway's client id at the provider.
    pub client_id: String,
    /// The client secret (from the environment or a file, never the config text).
    pub client_secret: SecretString,
    /// Scopes asked for besides `openid`.
    pub scopes: Vec<String>,
    /// The id_token claim whose values map to roles (e.g. `groups`).
    pub role_claim: String,
    /// Claim value → gateway role.
    pub role_map: BTreeMap<String, RoleName>,
    /// Create an account on a first login (else the account must exist).
    pub create_users: bool,
}

/// Why a sign-on failed, said for the person in front of the browser.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The provider could not be reached or answered nonsense.
    #[error("the identity provider could not be reached: {0}")]
    Unreachable(String),
    /// The provider refused the code (used, expired, or not ours).
    #[error("the identity provider refused the sign-in code (it may have been used already): {0}")]
    CodeRefused(String),
    /// The id_token failed a check: signature, issuer, audience, nonce, expiry.
    #[error("the identity provider's answer failed verification: {0}")]
    TokenInvalid(String),
    /// The id_token lacks a usable username.
    #[error("the identity provider sent no usable username: {0}")]
    NoUsername(String),
}

/// What the caller keeps server-side between start and finish.
pub struct Pending {
    /// The `state` parameter: the key the callback is matched by.
    pub state: String,
    /// The nonce the id_token must carry.
    pub nonce: SecretString,
    /// The PKCE verifier whose challenge the authorization request carried.
    pub pkce_verifier: SecretString,
}

/// Who the provider says signed in.
#[derive(Clone, Debug)]
pub struct Identity {
    /// The provider's stable id for the person (`sub`).
    pub subject: String,
    /// The gateway username: `preferred_username`, else the email's local part.
    pub username: Username,
    /// The values of the role claim, as sent.
    pub claim_values: Vec<String>,
    /// The gateway roles those values map to (empty: no role here).
    pub roles: Vec<RoleName>,
}

/// One identity provider.
#[derive(Clone, Debug)]
pub struct Provider {
    settings: Arc<ProviderSettings>,
    http: reqwest::Client,
}

/// The providers the config names, by name.
#[derive(Clone, Debug, Default)]
pub struct Providers(Arc<BTreeMap<String, Provider>>);

impl Providers {
    /// The providers in `settings` (names must be distinct; the config checks).
    pub fn new(settings: Vec<ProviderSettings>) -> Self {
        // No redirects followed: a discovery or token request answered with
        // a redirect elsewhere is refused rather than chased.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .expect("an HTTP client with rustls");
        Self(Arc::new(
            settings
                .into_iter()
                .map(|s| {
                    (
                        s.name.clone(),
                        Provider {
                            settings: Arc::new(s),
                            http: http.clone(),
                        },
                    )
                })
                .collect(),
        ))
    }

    /// The provider called `name`.
    pub fn get(&self, name: &str) -> Option<&Provider> {
        self.0.get(name)
    }

    /// Every provider, by name.
    pub fn iter(&self) -> impl Iterator<Item = &Provider> {
        self.0.values()
    }
}

/// The `openidconnect` crate's HTTP client, over our reqwest.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct HttpError(String);

async fn send(
    http: &reqwest::Client,
    req: openidconnect::HttpRequest,
) -> Result<openidconnect::HttpResponse, HttpError> {
    let (parts, body) = req.into_parts();
    let resp = http
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()
        .await
        .map_err(|e| HttpError(e.to_string()))?;
    let mut out = http::Response::builder().status(resp.status());
    for (k, v) in resp.headers() {
        out = out.header(k, v);
    }
    let body = resp.bytes().await.map_err(|e| HttpError(e.to_string()))?;
    out.body(body.to_vec())
        .map_err(|e| HttpError(e.to_string()))
}

impl Provider {
    /// The settings.
    pub fn settings(&self) -> &ProviderSettings {
        &self.settings
    }

    async fn metadata(&self) -> Result<CoreProviderMetadata, OidcError> {
        let issuer = IssuerUrl::new(self.settings.issuer.clone())
            .map_err(|e| OidcError::Unreachable(format!("bad issuer URL: {e}")))?;
        let http = self.http.clone();
        let client = move |req| {
            let http = http.clone();
            async move { send(&http, req).await }
        };
        CoreProviderMetadata::discover_async(issuer, &client)
            .await
            .map_err(|e| OidcError::Unreachable(error_chain(&e)))
    }

    /// The authorization URL to send the browser to, and what to keep
    /// until it comes back to `redirect_url`.
    pub async fn start(&self, redirect_url: &str) -> Result<(String, Pending), OidcError> {
        let metadata = self.metadata().await?;
        let redirect = RedirectUrl::new(redirect_url.to_owned())
            .map_err(|e| OidcError::Unreachable(format!("bad redirect URL: {e}")))?;
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.settings.client_id.clone()),
            Some(ClientSecret::new(
                self.settings.client_secret.expose_secret().to_owned(),
            )),
        )
        .set_redirect_uri(redirect);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for scope in &self.settings.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.url();
        Ok((
            url.to_string(),
            Pending {
                state: state.secret().clone(),
                nonce: SecretString::from(nonce.secret().clone()),
                pkce_verifier: SecretString::from(verifier.secret().clone()),
            },
        ))
    }

    /// Exchanges `code` (the browser came back to `redirect_url`) and
    /// verifies the id_token against `pending`'s nonce.
    pub async fn finish(
        &self,
        redirect_url: &str,
        code: &str,
        nonce: &SecretString,
        pkce_verifier: &SecretString,
    ) -> Result<Identity, OidcError> {
        let metadata = self.metadata().await?;
        let redirect = RedirectUrl::new(redirect_url.to_owned())
            .map_err(|e| OidcError::Unreachable(format!("bad redirect URL: {e}")))?;
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.settings.client_id.clone()),
            Some(ClientSecret::new(
                self.settings.client_secret.expose_secret().to_owned(),
            )),
        )
        .set_redirect_uri(redirect);
        let http = self.http.clone();
        let http_client = move |req| {
            let http = http.clone();
            async move { send(&http, req).await }
        };
        let tokens = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| OidcError::Unreachable(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(
                pkce_verifier.expose_secret().to_owned(),
            ))
            .request_async(&http_client)
            .await
            .map_err(|e| OidcError::CodeRefused(error_chain(&e)))?;
        let id_token = tokens
            .id_token()
            .ok_or_else(|| OidcError::TokenInvalid("no id_token in the token response".into()))?;
        let nonce = Nonce::new(nonce.expose_secret().to_owned());
        let claims = id_token
            .claims(&client.id_token_verifier(), &nonce)
            .map_err(|e| OidcError::TokenInvalid(e.to_string()))?;
        // The signature is verified: the payload's other claims (the role
        // claim is not a standard one) can be read from it as sent.
        let payload = payload_of(&id_token.to_string())
            .ok_or_else(|| OidcError::TokenInvalid("unreadable id_token payload".into()))?;
        let subject = claims.subject().as_str().to_owned();
        let username = claims
            .preferred_username()
            .map(|u| u.as_str().to_owned())
            .or_else(|| {
                claims
                    .email()
                    .and_then(|e| e.as_str().split('@').next().map(str::to_owned))
            })
            .ok_or_else(|| OidcError::NoUsername("neither preferred_username nor email".into()))?;
        let username = Username::parse(&username)
            .map_err(|e| OidcError::NoUsername(format!("{username:?}: {e}")))?;
        let claim_values = claim_values(&payload, &self.settings.role_claim);
        let roles = map_roles(&self.settings.role_map, &claim_values);
        Ok(Identity {
            subject,
            username,
            claim_values,
            roles,
        })
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

/// The JSON payload of a compact JWS (already verified by the caller).
fn payload_of(jwt: &str) -> Option<serde_json::Value> {
    let part = jwt.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The claim's values: a string, or an array of strings (others are ignored).
fn claim_values(payload: &serde_json::Value, claim: &str) -> Vec<String> {
    match payload.get(claim) {
        Some(serde_json::Value::String(s)) => vec![s.clone()],
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// The roles `values` map to, each once, in the map's order.
pub fn map_roles(map: &BTreeMap<String, RoleName>, values: &[String]) -> Vec<RoleName> {
    let mut roles: Vec<RoleName> = Vec::new();
    for (value, role) in map {
        if values.iter().any(|v| v == value) && !roles.contains(role) {
            roles.push(role.clone());
        }
    }
    roles
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(name: &str) -> RoleName {
        RoleName::parse(name).unwrap()
    }

    #[test]
    fn roles_come_from_the_claim_values_the_map_names() {
        let map = BTreeMap::from([
            ("ops-admins".to_owned(), role("admin")),
            ("ops".to_owned(), role("user")),
            ("everyone".to_owned(), role("user")),
        ]);
        let values = vec!["ops".into(), "everyone".into(), "ops-admins".into()];
        assert_eq!(map_roles(&map, &values), vec![role("user"), role("admin")]);
        assert!(map_roles(&map, &["sales".into()]).is_empty());
    }

    #[test]
    fn a_claim_is_a_string_or_an_array_of_strings() {
        let payload = serde_json::json!({"groups": ["a", 3, "b"], "team": "c", "n": 1});
        assert_eq!(claim_values(&payload, "groups"), vec!["a", "b"]);
        assert_eq!(claim_values(&payload, "team"), vec!["c"]);
        assert!(claim_values(&payload, "n").is_empty());
        assert!(claim_values(&payload, "missing").is_empty());
    }

    #[test]
    fn the_payload_of_a_compact_jws_is_its_middle_part() {
        let body = URL_SAFE_NO_PAD.encode(br#"{"sub":"x"}"#);
        assert_eq!(
            payload_of(&format!("h.{body}.s")).unwrap()["sub"],
            serde_json::json!("x")
        );
        assert!(payload_of("nonsense").is_none());
    }
}
