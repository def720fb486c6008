//! A small client for the gateway's REST API, used by the CLI.

use anyhow::{Context, bail};
use reqwest::{Method, RequestBuilder, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Talks to one gateway as one user.
pub struct ApiClient {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl ApiClient {
    /// A client for the gateway at `server` (e.g. `http://127.0.0.1:8080`).
    pub fn new(server: &str, token: Option<String>) -> Self {
        Self {
            base: format!("{}/api/v1", server.trim_end_matches('/')),
            token,
            http: reqwest::Client::new(),
        }
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let req = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    /// `GET path?query`, decoded.
    pub async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> anyhow::Result<T> {
        decode(
            self.send(self.request(Method::GET, path).query(query))
                .await?,
        )
        .await
    }

    /// `POST path` with a JSON body, decoded.
    pub async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> anyhow::Result<T> {
        decode(
            self.send(self.request(Method::POST, path).json(body))
                .await?,
        )
        .await
    }

    async fn send(&self, req: RequestBuilder) -> anyhow::Result<Response> {
        let resp = req
            .send()
            .await
            .with_context(|| format!("cannot reach the gateway at {}", self.base))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        let message = body["error"]["message"]
            .as_str()
            .unwrap_or("no error message");
        let code = body["error"]["code"].as_str().unwrap_or("unknown");
        if status == reqwest::StatusCode::UNAUTHORIZED && self.token.is_none() {
            bail!(
                "{message} ({code}); set GATEHOUSE_TOKEN or pass --token (get one with `gatehouse login`)"
            );
        }
        bail!("{message} ({code}, HTTP {})", status.as_u16())
    }
}

async fn decode<T: DeserializeOwned>(resp: Response) -> anyhow::Result<T> {
    resp.json()
        .await
        .context("the gateway sent a response this CLI cannot read")
}
