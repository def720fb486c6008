//! Dialling targets: TCP, then TLS for https, under one connect timeout.
//!
//! hyper-util's pooled client takes its connector as a `tower_service::Service<Uri>`;
//! [`Connector`] is that service. Its errors are [`ConnectError`], which the proxy
//! finds again in the client's error chain to tell a timeout from a refusal.

use std::future::{Future, poll_fn};
use std::io;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::TokioIo;
use rustls::crypto::aws_lc_rs;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tower_service::Service;

use crate::ProxyError;

/// Why dialling a target failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    #[error("connecting took too long")]
    Timeout,
    #[error("{0}")]
    Tcp(Box<dyn std::error::Error + Send + Sync>),
    #[error("TLS handshake failed: {0}")]
    Tls(io::Error),
    #[error("the target host is not a valid TLS server name")]
    ServerName,
}

/// TCP (and TLS for `https` URIs) within `timeout`.
#[derive(Clone)]
pub(crate) struct Connector {
    http: HttpConnector,
    /// `None` for the client that only reaches `http` targets.
    tls: Option<TlsConnector>,
    timeout: Duration,
}

impl Connector {
    pub(crate) fn new(tls: Option<Arc<ClientConfig>>, timeout: Duration) -> Self {
        let mut http = HttpConnector::new();
        // https URIs arrive here too; TLS is layered on below.
        http.enforce_http(false);
        http.set_nodelay(true);
        Self {
            http,
            tls: tls.map(TlsConnector::from),
            timeout,
        }
    }
}

impl Service<Uri> for Connector {
    type Response = TokioIo<Stream>;
    type Error = ConnectError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, ConnectError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ConnectError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let mut http = self.http.clone();
        let tls = self.tls.clone();
        let timeout = self.timeout;
        Box::pin(async move {
            let dial = async {
                poll_fn(|cx| http.poll_ready(cx))
                    .await
                    .map_err(|e| ConnectError::Tcp(e.into()))?;
                let tcp = http
                    .call(uri.clone())
                    .await
                    .map_err(|e| ConnectError::Tcp(e.into()))?
                    .into_inner();
                let https = uri.scheme_str() == Some("https");
                match (https, tls) {
                    (false, _) => Ok(Stream::Plain(tcp)),
                    (true, None) => Err(ConnectError::Tls(io::Error::other(
                        "no TLS settings for an https target",
                    ))),
                    (true, Some(tls)) => {
                        let host = uri.host().unwrap_or_default();
                        let host = host.trim_start_matches('[').trim_end_matches(']');
                        let name = ServerName::try_from(host.to_owned())
                            .map_err(|_| ConnectError::ServerName)?;
                        let stream = tls.connect(name, tcp).await.map_err(ConnectError::Tls)?;
                        Ok(Stream::Tls(Box::new(stream)))
                    }
                }
            };
            match tokio::time::timeout(timeout, dial).await {
                Ok(stream) => stream.map(TokioIo::new),
                Err(_) => Err(ConnectError::Timeout),
            }
        })
    }
}

/// A connection to a target, plain or TLS.
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Connection for Stream {
    /// A plain connection to the target, with no extra: hyper-util's own
    /// (the addresses) would be put in every response's extensions, which
    /// nothing here reads.
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Self::Tls(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Plain(s) => s.is_write_vectored(),
            Self::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// The TLS client settings for one (verify, extra CA) pair.
pub(crate) fn tls_config(verify: bool, ca_pem: Option<&str>) -> Result<ClientConfig, ProxyError> {
    let provider = Arc::new(aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ProxyError::Misconfigured(format!("TLS: {e}")))?;
    let mut config = if verify {
        let mut roots = native_roots().clone();
        if let Some(pem) = ca_pem {
            let mut added = 0;
            for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                let cert = cert.map_err(|e| ProxyError::Misconfigured(format!("CA: {e}")))?;
                roots
                    .add(cert)
                    .map_err(|e| ProxyError::Misconfigured(format!("CA: {e}")))?;
                added += 1;
            }
            if added == 0 {
                return Err(ProxyError::Misconfigured(
                    "CA: no certificate in the PEM text".into(),
                ));
            }
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(
                gatehouse_connect::tls::AcceptAnyCertificate::new(provider),
            ))
            .with_no_client_auth()
    };
    // The client speaks HTTP/1.1 only (hyper's http2 is not in the tree).
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The platform's CA bundle, read once per process: it is a file of a few hundred
/// certificates, and every verifying TLS config starts from it.
fn native_roots() -> &'static RootCertStore {
    static ROOTS: OnceLock<RootCertStore> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        for e in &found.errors {
            tracing::warn!(error = %e, "reading the platform's CA certificates");
        }
        let mut roots = RootCertStore::empty();
        let (good, bad) = roots.add_parsable_certificates(found.certs);
        tracing::debug!(good, bad, "platform CA certificates loaded");
        roots
    })
}
