//! `gatehouse login`: trade a username and password for an API token.

use std::io::BufRead;

use anyhow::Context;
use serde_json::{Value, json};

use crate::client::ApiClient;

/// Log in and print the token.
#[derive(clap::Args, Debug)]
pub(super) struct LoginArgs {
    /// The username.
    #[arg(long, short, required_unless_present = "sso")]
    user: Option<String>,
    /// Log in through this single sign-on provider in the browser instead.
    #[arg(long, value_name = "NAME", conflicts_with = "user")]
    sso: Option<String>,
    /// With --sso: only print the address to open, do not run xdg-open.
    #[arg(long, requires = "sso")]
    no_browser: bool,
    /// The gateway's base URL.
    #[arg(long, env = "GATEHOUSE_URL", default_value = "http://127.0.0.1:8080")]
    server: String,
}

/// `VARIABLE` if set, else a line typed after `prompt`.
fn secret(variable: &str, prompt: &str) -> anyhow::Result<String> {
    match std::env::var(variable) {
        Ok(p) if !p.is_empty() => Ok(p),
        _ => {
            eprint!("{prompt}");
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .context("reading standard input")?;
            Ok(line.trim_end_matches(['\r', '\n']).to_owned())
        }
    }
}

pub(super) async fn run(args: LoginArgs) -> anyhow::Result<()> {
    let user = match (args.user, args.sso) {
        (_, Some(provider)) => {
            return super::login_sso::run(&args.server, &provider, !args.no_browser).await;
        }
        (Some(user), None) => user,
        (None, None) => anyhow::bail!("give --user or --sso"),
    };
    let password = secret("GATEHOUSE_PASSWORD", &format!("Password for {user}: "))?;
    let client = ApiClient::new(&args.server, None);
    let mut resp: Value = client
        .post(
            "/auth/login",
            &json!({ "username": user, "password": password }),
        )
        .await?;
    // A second factor: the password step answered with a pending login.
    match resp["second_factor"].as_str() {
        Some("code") => {
            let code = secret("GATEHOUSE_CODE", "Verification code: ")?;
            resp = client
                .post(
                    "/auth/login/code",
                    &json!({ "pending": resp["pending"], "code": code }),
                )
                .await?;
        }
        Some(_) => {
            anyhow::bail!("{user} must add an authenticator first: log in once in the browser")
        }
        None => {}
    }
    let token = resp["token"]
        .as_str()
        .context("the gateway sent no token")?;
    println!("{token}");
    Ok(())
}
