//! `gatehouse login`: trade a username and password for an API token.

use std::io::BufRead;

use anyhow::Context;
use serde_json::{Value, json};

use crate::client::ApiClient;

/// Log in and print the token.
#[derive(clap::Args, Debug)]
pub(super) struct LoginArgs {
    /// The username.
    #[arg(long, short)]
    user: String,
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
    let password = secret(
        "GATEHOUSE_PASSWORD",
        &format!("Password for {}: ", args.user),
    )?;
    let client = ApiClient::new(&args.server, None);
    let mut resp: Value = client
        .post(
            "/auth/login",
            &json!({ "username": args.user, "password": password }),
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
        Some(_) => anyhow::bail!(
            "{} must add an authenticator first: log in once in the browser",
            args.user
        ),
        None => {}
    }
    let token = resp["token"]
        .as_str()
        .context("the gateway sent no token")?;
    println!("{token}");
    Ok(())
}
