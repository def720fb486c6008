//! A real OpenID provider for the single sign-on tests: `oidc-provider`
//! from npm (crates/web/ui/tests/oidc-provider.mjs), on its own port, with
//! a client registered for the test gateway, and a person's browser played
//! by an HTTP client that fills in the provider's own login and consent
//! forms (the browser tests use Chromium instead).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use gatehouse_domain::RoleName;
use gatehouse_oidc::ProviderSettings;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use secrecy::SecretString;
use tokio::io::{AsyncBufReadExt, BufReader};

use super::TestGateway;
use super::sshd::free_port;

/// The provider's name in the gateway's config and URLs.
pub const NAME: &str = "testidp";
const SECRET: &str = "client-secret-for-tests";

pub struct OidcProvider {
    pub port: u16,
    child: Option<tokio::process::Child>,
    http: reqwest::Client,
}

impl OidcProvider {
    /// A provider's address, chosen before the gateway starts (its config
    /// names the issuer); [`OidcProvider::start`] runs it.
    pub fn new() -> OidcProvider {
        OidcProvider {
            port: free_port(),
            child: None,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }

    pub fn issuer(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The gateway's settings for this provider: `ops-admins` → admin,
    /// `ops` → user, `db` → auditor.
    pub fn settings(&self, create_users: bool) -> ProviderSettings {
        let role = |r: &str| RoleName::parse(r).unwrap();
        ProviderSettings {
            name: NAME.into(),
            display_name: "Test IdP".into(),
            issuer: self.issuer(),
            client_id: "gatehouse".into(),
            client_secret: SecretString::from(SECRET),
            scopes: vec!["profile".into(), "email".into(), "groups".into()],
            role_claim: "groups".into(),
            role_map: BTreeMap::from([
                ("ops-admins".into(), role("admin")),
                ("ops".into(), role("user")),
                ("db".into(), role("auditor")),
            ]),
            create_users,
        }
    }

    /// Starts the provider with `accounts` (name, groups), its client
    /// allowed to return to `gw`.
    pub async fn start(&mut self, gw: &TestGateway, accounts: &[(&str, &[&str])]) {
        let accounts: HashMap<&str, &[&str]> = accounts.iter().copied().collect();
        let ui = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../web/ui");
        let mut child = tokio::process::Command::new("node")
            .arg("tests/oidc-provider.mjs")
            .current_dir(ui)
            .env("PORT", self.port.to_string())
            .env("CLIENT_SECRET", SECRET)
            .env(
                "REDIRECT_URIS",
                gw.url(&format!("/auth/oidc/{NAME}/callback")),
            )
            .env("ACCOUNTS", serde_json::to_string(&accounts).unwrap())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node (scripts/prerequisites installs it, and npm the UI's oidc-provider)");
        // Its errors are shown with the test's output; its start-up
        // warnings (a dev adapter, dev interactions, Node 20) are not news.
        let mut errors = BufReader::new(child.stderr.take().unwrap()).lines();
        tokio::spawn(async move {
            while let Ok(Some(line)) = errors.next_line().await {
                if !line.starts_with("oidc-provider WARNING") {
                    eprintln!("oidc-provider: {line}");
                }
            }
        });
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        tokio::time::timeout(Duration::from_secs(20), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if line.contains("listening on") {
                    return;
                }
            }
            panic!("oidc-provider exited before listening");
        })
        .await
        .expect("oidc-provider listens within 20 s");
        // Keep reading: node dies of EPIPE writing to a closed pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        self.child = Some(child);
    }

    async fn control(&self, path: &str) {
        let resp = self
            .http
            .post(format!("{}/__test/{path}", self.issuer()))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{path}: {}", resp.status());
    }

    /// The groups claim `user` gets from now on.
    pub async fn set_groups(&self, user: &str, groups: &[&str]) {
        self.control(&format!("groups?user={user}&groups={}", groups.join(",")))
            .await;
    }

    /// `normal`, `wrong-key` or `expired` (see the script).
    pub async fn set_mode(&self, mode: &str) {
        self.control(&format!("mode?mode={mode}")).await;
    }
}

/// Where a browser-like walk through a sign-in ended.
#[derive(Debug)]
pub struct Walk {
    /// The last URL requested.
    pub url: String,
    pub status: StatusCode,
    /// The gateway's session cookie, if the last answer set one.
    pub session: Option<String>,
    pub body: String,
}

/// A person's browser for one sign-in: follows redirects, keeps each
/// host's cookies, logs in at the provider as `user` (any password) and
/// consents. Stops before requesting a URL `stop_before` accepts (returned
/// with status 0), or at the first answer that is no redirect and no
/// provider form.
pub async fn walk(start: &str, user: &str, mut stop_before: impl FnMut(&str) -> bool) -> Walk {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut jars: HashMap<String, BTreeMap<String, String>> = HashMap::new();
    let mut url = reqwest::Url::parse(start).unwrap();
    let mut form: Option<Vec<(&str, String)>> = None;
    for _ in 0..30 {
        if stop_before(url.as_str()) {
            return Walk {
                url: url.to_string(),
                status: StatusCode::from_u16(299).unwrap(),
                session: None,
                body: String::new(),
            };
        }
        let host = url.authority().to_owned();
        let jar = jars.entry(host.clone()).or_default();
        let cookie = jar
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let mut req = match form.take() {
            Some(fields) => {
                // A form body, encoded as a query string is.
                let mut encoded = reqwest::Url::parse("http://form/").unwrap();
                encoded.query_pairs_mut().extend_pairs(&fields);
                http.post(url.clone())
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(encoded.query().unwrap_or("").to_owned())
            }
            None => http.get(url.clone()),
        };
        if !cookie.is_empty() {
            req = req.header(COOKIE, cookie);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let mut session = None;
        for c in resp.headers().get_all(SET_COOKIE) {
            let c = c.to_str().unwrap();
            let pair = c.split(';').next().unwrap();
            if let Some((k, v)) = pair.split_once('=') {
                if k == "gatehouse_session" {
                    session = Some(v.to_owned());
                }
                jar.insert(k.to_owned(), v.to_owned());
            }
        }
        if status.is_redirection() {
            let to = resp.headers()[LOCATION].to_str().unwrap().to_owned();
            url = url.join(&to).unwrap();
            continue;
        }
        let body = resp.text().await.unwrap();
        let provider_form = body.contains("<form") && url.path().starts_with("/interaction/");
        if status == StatusCode::OK && provider_form {
            let action = between(&body, "action=\"", "\"").expect("a form action");
            url = url.join(&action.replace("&amp;", "&")).unwrap();
            form = Some(if body.contains("value=\"login\"") {
                vec![
                    ("prompt", "login".into()),
                    ("login", user.to_owned()),
                    ("password", "any".into()),
                ]
            } else {
                vec![("prompt", "consent".into())]
            });
            continue;
        }
        return Walk {
            url: url.to_string(),
            status,
            session,
            body,
        };
    }
    panic!("the sign-in never ended (last at {url})");
}

fn between(s: &str, start: &str, end: &str) -> Option<String> {
    let from = s.find(start)? + start.len();
    let len = s[from..].find(end)?;
    Some(s[from..from + len].to_owned())
}

impl TestGateway {
    /// Signs in through the test provider as `user`: the login token (the
    /// session cookie the callback set), or the refusal page.
    pub async fn sso_login(&self, user: &str) -> Result<String, Walk> {
        let walked = walk(&self.url(&format!("/auth/oidc/{NAME}/start")), user, |_| {
            false
        })
        .await;
        match (&walked.session, walked.status) {
            (Some(token), StatusCode::OK) => Ok(token.clone()),
            _ => Err(walked),
        }
    }
}
