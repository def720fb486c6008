//! A terminal client speaking the browser's WebSocket protocol.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Bytes, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::TestGateway;

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const WAIT: Duration = Duration::from_secs(10);
/// The prompt of the target account's shell (`/bin/sh`).
const PROMPT: &str = "$ ";

pub struct Terminal {
    pub ws: Ws,
    pub session_id: String,
    /// Everything the target printed so far.
    pub output: String,
    /// The same, exactly as the bytes arrived.
    pub raw: Vec<u8>,
    /// Control messages that arrived while waiting for output.
    pub controls: Vec<Value>,
}

/// How a terminal ended, as its client saw it.
#[derive(Debug)]
pub struct Ending {
    pub message: Value,
    pub close: Option<CloseFrame>,
}

/// Opens the terminal WebSocket; `Err` carries the HTTP status of a refused upgrade.
pub async fn connect(gw: &TestGateway, token: &str, connection: &str) -> Result<Ws, u16> {
    let mut req = gw
        .ws_url(&format!(
            "/connections/{connection}/terminal?cols=100&rows=30"
        ))
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    // No Nagle, as in Chromium, which sets TCP_NODELAY on every socket.
    match tokio_tungstenite::connect_async_tls_with_config(req, None, true, gw.ws_connector()).await
    {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => Err(resp.status().as_u16()),
        Err(e) => panic!("websocket connect: {e}"),
    }
}

/// The next JSON control message, skipping terminal bytes.
pub async fn next_control(ws: &mut Ws) -> Option<Value> {
    loop {
        match tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("no message in time")
        {
            Some(Ok(Message::Text(t))) => return Some(serde_json::from_str(&t).unwrap()),
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(_)) => {}
        }
    }
}

impl Terminal {
    /// Opens a shell on `connection` and waits for its prompt, panicking if
    /// the gateway refuses. (Keys typed before the shell has set up its
    /// terminal are discarded by the shell, as they would be for a person.)
    pub async fn open(gw: &TestGateway, token: &str, connection: &str) -> Terminal {
        let mut ws = connect(gw, token, connection)
            .await
            .expect("terminal upgrade");
        let first = next_control(&mut ws).await.expect("a control message");
        assert_eq!(
            first["type"], "session",
            "expected the session id, got {first}"
        );
        let session_id = first["id"].as_str().unwrap().to_owned();
        let mut term = Terminal {
            ws,
            session_id,
            output: String::new(),
            raw: Vec::new(),
            controls: Vec::new(),
        };
        term.expect(PROMPT).await;
        term
    }

    fn take(&mut self, b: &[u8]) {
        self.raw.extend_from_slice(b);
        self.output.push_str(&String::from_utf8_lossy(b));
    }

    /// Types a line into the shell.
    pub async fn run(&mut self, line: &str) {
        self.ws
            .send(Message::Binary(Bytes::from(format!("{line}\n"))))
            .await
            .unwrap();
    }

    pub async fn control(&mut self, json: Value) {
        self.ws
            .send(Message::Text(json.to_string().into()))
            .await
            .unwrap();
    }

    /// Reads until the output contains `needle`.
    pub async fn expect(&mut self, needle: &str) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while !self.output.contains(needle) {
            let msg = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "{needle:?} did not appear; output so far: {:?}",
                        self.output
                    )
                });
            match msg {
                Some(Ok(Message::Binary(b))) => self.take(&b),
                Some(Ok(Message::Text(t))) => self.controls.push(serde_json::from_str(&t).unwrap()),
                Some(Ok(_)) => {}
                other => panic!(
                    "terminal closed while waiting for {needle:?}: {other:?}; output: {:?}",
                    self.output
                ),
            }
        }
    }

    /// The next control message, keeping any terminal output that comes first.
    pub async fn next_control(&mut self) -> Value {
        loop {
            match tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("no control message in time")
            {
                Some(Ok(Message::Text(t))) => return serde_json::from_str(&t).unwrap(),
                Some(Ok(Message::Binary(b))) => self.take(&b),
                Some(Ok(_)) => {}
                other => panic!("terminal closed while waiting for a control message: {other:?}"),
            }
        }
    }

    /// Reads until the `ended` message and the close frame.
    pub async fn ended(&mut self) -> Ending {
        let mut message = Value::Null;
        loop {
            match tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("terminal did not end in time")
            {
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(&t).unwrap();
                    if v["type"] == "ended" {
                        message = v;
                    }
                }
                Some(Ok(Message::Close(close))) => return Ending { message, close },
                Some(Ok(Message::Binary(b))) => self.take(&b),
                Some(Ok(_)) => {}
                None | Some(Err(_)) => {
                    return Ending {
                        message,
                        close: None,
                    };
                }
            }
        }
    }
}
