//! `gatehouse login --sso NAME`: log in through a single sign-on provider
//! in the browser, as `gh auth login` and `tsh login` do.
//!
//! The CLI listens on a loopback port, asks the person to open the
//! gateway's start address for the provider (and tries `xdg-open`), and
//! waits. At the end of the flow the gateway sends the browser to
//! `http://127.0.0.1:PORT/callback?code=…` with a one-time code, which the
//! CLI trades — with the secret verifier whose SHA-256 it started the flow
//! with — for a token. The token itself never travels in a URL a browser
//! history keeps, and a code seen there is useless without the verifier.

use std::time::Duration;

use anyhow::Context;
use axum::extract::Query;
use axum::response::Html;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::client::ApiClient;

/// How long the person has to finish signing in.
const WAIT: Duration = Duration::from_secs(300);

/// What the gateway sends the browser back with: a one-time code, or why
/// it refused the sign-in.
#[derive(Deserialize)]
struct Callback {
    code: Option<String>,
    error: Option<String>,
}

pub(super) async fn run(server: &str, provider: &str, open_browser: bool) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("listening on a loopback port for the browser's return")?;
    let port = listener.local_addr()?.port();
    // 64 hex digits of randomness (two v4 UUIDs): a valid PKCE verifier.
    let verifier = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let challenge = gatehouse_access::sso::pkce_challenge(&verifier);
    let url = format!(
        "{}/api/v1/auth/oidc/{provider}/start?cli_port={port}&cli_challenge={challenge}",
        server.trim_end_matches('/')
    );
    eprintln!("To log in, open this address in your browser:\n\n    {url}\n");
    if open_browser {
        // Best effort: a desktop opens it; elsewhere the printed URL serves.
        let _ = std::process::Command::new("xdg-open")
            .arg(&url)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
    }

    let (codes, mut received) = mpsc::channel::<Result<String, String>>(1);
    let app = axum::Router::new().route(
        "/callback",
        axum::routing::get(move |Query(cb): Query<Callback>| {
            let codes = codes.clone();
            async move {
                let page = |text: &str| {
                    Html(format!(
                        "<!doctype html><title>Gatehouse</title><p>{}</p>",
                        text.replace('&', "&amp;").replace('<', "&lt;")
                    ))
                };
                match (cb.code, cb.error) {
                    (Some(code), _) => {
                        let _ = codes.try_send(Ok(code));
                        page("You are logged in to Gatehouse on the command line. You can close this tab.")
                    }
                    (None, Some(error)) => {
                        let shown = page(&format!("Sign-in refused: {error}"));
                        let _ = codes.try_send(Err(error));
                        shown
                    }
                    (None, None) => page("No code arrived: try again."),
                }
            }
        }),
    );
    let stop = tokio_util::sync::CancellationToken::new();
    let server_task = tokio::spawn(
        axum::serve(listener, app)
            .with_graceful_shutdown(stop.clone().cancelled_owned())
            .into_future(),
    );
    let code = tokio::time::timeout(WAIT, received.recv()).await;
    stop.cancel();
    let _ = server_task.await;
    let code = code
        .context("timed out waiting for the browser to come back (5 minutes)")?
        .context("the loopback listener stopped")?
        .map_err(|refused| anyhow::anyhow!("the gateway refused the sign-in: {refused}"))?;

    let client = ApiClient::new(server, None);
    let resp: Value = client
        .post(
            "/auth/oidc/token",
            &json!({ "code": code, "verifier": verifier }),
        )
        .await?;
    let token = resp["token"]
        .as_str()
        .context("the gateway sent no token")?;
    eprintln!(
        "Logged in as {}.",
        resp["user"]["username"].as_str().unwrap_or("?")
    );
    println!("{token}");
    Ok(())
}
