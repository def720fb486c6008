//! The config file's `[[oidc]]` tables: single sign-on providers.
//!
//! ```toml
//! [[oidc]]
//! name = "corp"                      # in URLs and `gatehouse login --sso corp`
//! display_name = "Corp SSO"          # "Log in with Corp SSO"
//! issuer = "https://id.example.com"
//! client_id = "gatehouse"
//! client_secret_env = "GATEHOUSE_OIDC_CORP_SECRET"   # or client_secret_file
//! scopes = ["profile", "email", "groups"]
//! role_claim = "groups"
//! create_users = true
//! roles = { "ops-admins" = "admin", "ops" = "user" }
//! ```
//!
//! The client secret never sits in the config text: it is read from the
//! environment variable or the file the table names.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use anyhow::Context;
use gatehouse_domain::RoleName;
use gatehouse_oidc::ProviderSettings;
use secrecy::SecretString;
use serde::Deserialize;

/// One `[[oidc]]` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcFile {
    name: String,
    display_name: Option<String>,
    issuer: String,
    client_id: String,
    /// Refused with a clear message: secrets do not go in the config text.
    client_secret: Option<toml::Value>,
    client_secret_env: Option<String>,
    client_secret_file: Option<PathBuf>,
    scopes: Option<Vec<String>>,
    role_claim: Option<String>,
    #[serde(default)]
    roles: BTreeMap<String, String>,
    create_users: Option<bool>,
}

/// The providers the tables describe, secrets read, names checked.
pub fn providers(tables: Vec<OidcFile>) -> anyhow::Result<Vec<ProviderSettings>> {
    let mut names = BTreeSet::new();
    tables
        .into_iter()
        .map(|t| {
            let name = t.name.clone();
            let provider = provider(t).with_context(|| format!("[[oidc]] {name:?}"))?;
            if !names.insert(provider.name.clone()) {
                anyhow::bail!("[[oidc]] {name:?} is named twice");
            }
            Ok(provider)
        })
        .collect()
}

fn provider(t: OidcFile) -> anyhow::Result<ProviderSettings> {
    let name_ok = !t.name.is_empty()
        && t.name.len() <= 32
        && t.name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !name_ok {
        anyhow::bail!("name must be 1-32 of a-z, 0-9 and -");
    }
    if !(t.issuer.starts_with("https://") || t.issuer.starts_with("http://")) {
        anyhow::bail!("issuer must be an http(s) URL");
    }
    if t.client_secret.is_some() {
        anyhow::bail!(
            "client_secret must not be written in the config: name an environment \
             variable (client_secret_env) or a file (client_secret_file) that holds it"
        );
    }
    let secret = match (&t.client_secret_env, &t.client_secret_file) {
        (Some(var), None) => std::env::var(var).with_context(|| {
            format!("client_secret_env: the environment variable {var} is not set")
        })?,
        (None, Some(path)) => std::fs::read_to_string(path)
            .with_context(|| format!("client_secret_file: reading {}", path.display()))?
            .trim_end_matches(['\r', '\n'])
            .to_owned(),
        _ => anyhow::bail!("set exactly one of client_secret_env and client_secret_file"),
    };
    if secret.is_empty() {
        anyhow::bail!("the client secret is empty");
    }
    let role_map = t
        .roles
        .into_iter()
        .map(|(value, role)| {
            RoleName::parse(&role)
                .map(|r| (value, r))
                .map_err(|e| anyhow::anyhow!("roles: {role:?}: {e}"))
        })
        .collect::<anyhow::Result<BTreeMap<_, _>>>()?;
    if role_map.is_empty() {
        anyhow::bail!(
            "roles maps no claim value to a role, so nobody could log in: add e.g. roles = {{ \"ops\" = \"user\" }}"
        );
    }
    Ok(ProviderSettings {
        display_name: t.display_name.unwrap_or_else(|| t.name.clone()),
        name: t.name,
        issuer: t.issuer,
        client_id: t.client_id,
        client_secret: SecretString::from(secret),
        scopes: t
            .scopes
            .unwrap_or_else(|| vec!["profile".into(), "email".into()]),
        role_claim: t.role_claim.unwrap_or_else(|| "groups".into()),
        role_map,
        create_users: t.create_users.unwrap_or(true),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> anyhow::Result<Vec<ProviderSettings>> {
        #[derive(Deserialize)]
        struct F {
            oidc: Vec<OidcFile>,
        }
        providers(toml::from_str::<F>(text)?.oidc)
    }

    #[test]
    fn a_provider_reads_its_secret_from_a_file_and_maps_roles() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "s3cret\n").unwrap();
        let p = parse(&format!(
            "[[oidc]]\nname = \"corp\"\nissuer = \"https://id.example\"\nclient_id = \"gw\"\n\
             client_secret_file = {secret:?}\nroles = {{ \"ops-admins\" = \"admin\" }}\n"
        ))
        .unwrap();
        assert_eq!(p[0].display_name, "corp");
        assert_eq!(p[0].role_claim, "groups");
        assert_eq!(p[0].role_map["ops-admins"].as_str(), "admin");
        assert!(p[0].create_users);
        use secrecy::ExposeSecret;
        assert_eq!(p[0].client_secret.expose_secret(), "s3cret");
    }

    #[test]
    fn a_secret_written_in_the_config_is_refused() {
        let e = parse(
            "[[oidc]]\nname = \"corp\"\nissuer = \"https://id.example\"\nclient_id = \"gw\"\n\
             client_secret = \"oops\"\nroles = { \"a\" = \"user\" }\n",
        )
        .unwrap_err();
        assert!(format!("{e:#}").contains("must not be written"), "{e:#}");
    }
}
