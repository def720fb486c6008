//! HTTPS on the HTTP listener.
//!
//! [`Certificate`] is the certificate chain and private key read from two PEM
//! files, behind a lock that [`Certificate::reload`] swaps: every new
//! handshake asks it for the current pair (it is rustls's certificate
//! resolver), so a renewed certificate takes effect without a restart and
//! connections already open keep the one they were made with. [`serve`] is
//! the accept loop: a TLS handshake per connection (ALPN `h2`, then
//! `http/1.1`), then HTTP/2 or HTTP/1.1 with upgrades for WebSockets.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderValue, Request, header};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_service::Service;

/// A client that has not finished its handshake by then is dropped: it
/// holds a socket and rustls's buffers while proving nothing.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handshakes in progress at once; connections beyond are closed at once.
/// Each holds a socket and some tens of KiB of TLS buffers for at most
/// [`HANDSHAKE_TIMEOUT`], so this bounds what a flood of half-open
/// handshakes can hold (about 20 MiB) far above what people opening pages
/// need.
const MAX_HANDSHAKES: usize = 512;

/// `Strict-Transport-Security`: a year, for this host only (other services
/// under the same domain are not ours to pin to HTTPS).
const HSTS: &str = "max-age=31536000";

/// Where the certificate chain and its private key are read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM: the server certificate first, then any intermediates.
    pub cert: PathBuf,
    /// PEM: the private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// Why a certificate and key could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("reading {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file holds no usable PEM item of the kind wanted.
    #[error("{}: {what}", path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        what: String,
    },
    /// The key cannot be used, or does not belong to the certificate.
    #[error("the key in {} does not fit the certificate in {}: {source}", files.key.display(), files.cert.display())]
    Mismatch {
        /// The two files.
        files: TlsFiles,
        /// What rustls said.
        source: rustls::Error,
    },
}

/// The certificate and key the listener presents, reloadable while it serves.
/// Cheap to clone; clones share the current pair.
#[derive(Clone, Debug)]
pub struct Certificate {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    files: TlsFiles,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
}

impl Certificate {
    /// Reads and checks the pair in `files`.
    pub fn load(files: TlsFiles) -> Result<Self, TlsError> {
        // aws-lc-rs, the one crypto provider in the tree, named rather than
        // left to the process default.
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let current = read_pair(&files, &provider)?;
        Ok(Self {
            inner: Arc::new(Inner {
                files,
                provider,
                current: RwLock::new(Arc::new(current)),
            }),
        })
    }

    /// Reads the files again; new handshakes present what they now hold.
    /// On an error the pair in use stays, and connections go on as before.
    pub fn reload(&self) -> Result<(), TlsError> {
        let fresh = read_pair(&self.inner.files, &self.inner.provider)?;
        *self
            .inner
            .current
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(fresh);
        Ok(())
    }

    /// The files this pair is read from.
    pub fn files(&self) -> &TlsFiles {
        &self.inner.files
    }

    fn current(&self) -> Arc<CertifiedKey> {
        self.inner
            .current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn server_config(&self) -> Result<rustls::ServerConfig, rustls::Error> {
        let mut config = rustls::ServerConfig::builder_with_provider(self.inner.provider.clone())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(Resolver(self.clone())));
        // Browsers get HTTP/2; everything else, and WebSockets, HTTP/1.1.
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    }
}

/// Hands every handshake the pair current at that moment.
#[derive(Debug)]
struct Resolver(Certificate);

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.current())
    }
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })
}

fn read_pair(files: &TlsFiles, provider: &CryptoProvider) -> Result<CertifiedKey, TlsError> {
    let pem_error = |path: &Path, what: String| TlsError::Pem {
        path: path.to_owned(),
        what,
    };
    let chain = CertificateDer::pem_slice_iter(&read(&files.cert)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(&files.cert, format!("not a PEM certificate chain: {e}")))?;
    if chain.is_empty() {
        return Err(pem_error(&files.cert, "no PEM certificate in it".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(&read(&files.key)?).map_err(|e| {
        pem_error(
            &files.key,
            format!("no PEM private key (PKCS#8, PKCS#1 or SEC1) in it: {e}"),
        )
    })?;
    CertifiedKey::from_der(chain, key, provider).map_err(|source| TlsError::Mismatch {
        files: files.clone(),
        source,
    })
}

/// Serves `app` over TLS on `listener` until `shutdown` is cancelled, then
/// lets open requests finish. Responses carry `Strict-Transport-Security`;
/// handlers see the client's address as `ConnectInfo<SocketAddr>`, as on
/// plain HTTP.
///
/// HTTP/2 here does not offer WebSockets over HTTP/2 (RFC 8441): our
/// WebSocket routes and the same-origin check are written for the HTTP/1.1
/// upgrade, which browsers then use on a connection of its own.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    front: Option<Arc<dyn crate::Front>>,
    certificate: Certificate,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let config = certificate.server_config().map_err(std::io::Error::other)?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let app = app.layer(SetResponseHeaderLayer::overriding(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static(HSTS),
    ));
    let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    let connections = TaskTracker::new();
    loop {
        let (tcp, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    accept_error(e).await;
                    continue;
                }
            },
        };
        let Ok(permit) = handshakes.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "too many TLS handshakes in progress: connection closed");
            continue;
        };
        // As on plain HTTP: a keystroke's echo is a small write that
        // Nagle's algorithm would hold back.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
        let acceptor = acceptor.clone();
        let connection = crate::front::Connection {
            peer,
            app: app.clone(),
            front: front.clone(),
            hsts: Some(HeaderValue::from_static(HSTS)),
        };
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            let stream = tokio::select! {
                _ = shutdown.cancelled() => return,
                done = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)) => match done {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "TLS handshake timed out");
                        return;
                    }
                },
            };
            drop(permit);
            serve_connection(stream, peer, connection, shutdown).await;
        });
    }
    drop(listener);
    connections.close();
    connections.wait().await;
    Ok(())
}

async fn serve_connection(
    stream: tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
    peer: SocketAddr,
    connection: crate::front::Connection,
    shutdown: CancellationToken,
) {
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        connection.clone().call(req.map(axum::body::Body::new))
    });
    let builder = auto::Builder::new(TokioExecutor::new());
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let served = tokio::select! {
        served = conn.as_mut() => served,
        _ = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = served {
        tracing::trace!(%peer, error = %e, "HTTPS connection ended with an error");
    }
}

/// As axum's own loop: a client that gave up is nothing; running out of
/// file descriptors is, and retrying at once would spin.
async fn accept_error(e: std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accepting an HTTPS connection");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_files_are_named_in_the_error() {
        let files = TlsFiles {
            cert: "/nonexistent/cert.pem".into(),
            key: "/nonexistent/key.pem".into(),
        };
        let err = Certificate::load(files).unwrap_err();
        assert!(
            err.to_string().starts_with("reading /nonexistent/cert.pem"),
            "{err}"
        );
    }

    #[test]
    fn a_file_without_a_certificate_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("cert.pem");
        std::fs::write(&cert, "not a certificate\n").unwrap();
        let files = TlsFiles {
            cert: cert.clone(),
            key: cert,
        };
        let err = Certificate::load(files).unwrap_err();
        assert!(err.to_string().contains("no PEM certificate"), "{err}");
    }
}
