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

pub(super) async fn run(args: LoginArgs) -> anyhow::Result<()> {
    let password = match std::env::var("GATEHOUSE_PASSWORD") {
        Ok(p) if !p.is_empty() => p,
        _ => {
            eprint!("Password for {}: ", args.user);
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .context("reading the password from standard input")?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    let client = ApiClient::new(&args.server, None);
    let resp: Value = client
        .post(
            "/auth/login",
            &json!({ "username": args.user, "password": password }),
        )
        .await?;
    let token = resp["token"]
        .as_str()
        .context("the gateway sent no token")?;
    println!("{token}");
    Ok(())
}
