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

    /// `GET path?query` as text (e.g. a recording).
    pub async fn get_text(&self, path: &str, query: &[(&str, String)]) -> anyhow::Result<String> {
        let resp = self
            .send(self.request(Method::GET, path).query(query))
            .await?;
        Ok(resp.text().await?)
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

    /// `DELETE path`; an empty answer decodes as `null`.
    pub async fn delete(&self, path: &str) -> anyhow::Result<Value> {
        let resp = self.send(self.request(Method::DELETE, path)).await?;
        let text = resp.text().await?;
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
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
        if status == reqwest::StatusCode::UNAUTHORIZED
            && self.token.is_none()
            && code == "unauthenticated"
        {
            bail!(
                "{message} ({code}); set GATEHOUSE_TOKEN or pass --token (get one with `gatehouse login`)"
            );
        }
        bail!("{message} ({code}, HTTP {})", status.as_u16())
    }
}

impl ApiClient {
    /// Watches a live session: writes its current screen and every change
    /// to `out` until the session ends; says what is happening on stderr.
    pub async fn watch(&self, session: &str, out: &mut impl std::io::Write) -> anyhow::Result<()> {
        use futures_util::StreamExt;
        use tokio_tungstenite::tungstenite::Message;

        let mut ws = self
            .websocket(&format!("/sessions/{session}/watch"))
            .await?;
        while let Some(msg) = ws.next().await {
            match msg? {
                Message::Binary(bytes) => {
                    out.write_all(&bytes)?;
                    out.flush()?;
                }
                Message::Text(text) => {
                    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                    match v["type"].as_str() {
                        Some("watching") => eprintln!(
                            "\r\n[gatehouse] watching {}'s session ({}x{}, read-only); Ctrl-C stops watching\r",
                            v["user"].as_str().unwrap_or("?"),
                            v["cols"],
                            v["rows"]
                        ),
                        Some("repaint") => out.write_all(b"\x1bc")?,
                        Some("ended") => {
                            let by = v["by"]
                                .as_str()
                                .map(|b| format!(" by {b}"))
                                .unwrap_or_default();
                            eprintln!(
                                "\r\n[gatehouse] session ended: {}{by}\r",
                                v["reason"].as_str().unwrap_or("?")
                            );
                        }
                        _ => {}
                    }
                }
                Message::Close(_) => break,
                _ => {}
            }
        }
        Ok(())
    }
}

/// A WebSocket to the gateway, as the CLI opens them.
pub type WebSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

impl ApiClient {
    /// Opens the WebSocket at `path` (under `/api/v1`, with its query)
    /// with this client's token; a refusal reads as the gateway's message.
    pub async fn websocket(&self, path: &str) -> anyhow::Result<WebSocket> {
        self.open_websocket(path, None, false).await
    }

    /// [`ApiClient::websocket`] with the WebSocket's own settings (buffer
    /// sizes), and Nagle's algorithm off: every message goes out when sent.
    pub async fn websocket_with(
        &self,
        path: &str,
        config: tokio_tungstenite::tungstenite::protocol::WebSocketConfig,
    ) -> anyhow::Result<WebSocket> {
        self.open_websocket(path, Some(config), true).await
    }

    async fn open_websocket(
        &self,
        path: &str,
        config: Option<tokio_tungstenite::tungstenite::protocol::WebSocketConfig>,
        nodelay: bool,
    ) -> anyhow::Result<WebSocket> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;

        let url = format!("{}{path}", self.base)
            .replacen("https://", "wss://", 1)
            .replacen("http://", "ws://", 1);
        let mut req = url.into_client_request()?;
        if let Some(t) = &self.token {
            req.headers_mut()
                .insert("authorization", format!("Bearer {t}").parse()?);
        }
        match tokio_tungstenite::connect_async_with_config(req, config, nodelay).await {
            Ok((ws, _)) => Ok(ws),
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
                let body: Value = resp
                    .body()
                    .as_deref()
                    .and_then(|b| serde_json::from_slice(b).ok())
                    .unwrap_or(Value::Null);
                let message = body["error"]["message"].as_str().unwrap_or("refused");
                let code = body["error"]["code"].as_str().unwrap_or("unknown");
                bail!("{message} ({code}, HTTP {})", resp.status().as_u16());
            }
            Err(e) => Err(e).context(format!("cannot reach the gateway at {}", self.base)),
        }
    }
}

async fn decode<T: DeserializeOwned>(resp: Response) -> anyhow::Result<T> {
    resp.json()
        .await
        .context("the gateway sent a response this CLI cannot read")
}
