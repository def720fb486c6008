//! https targets: a test CA and a rustls target, certificates made with `openssl`.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::fixtures::{RecordingMeter, upstream};
use crate::{Proxy, ProxyError, Upstream};

/// An https target whose certificate (for `localhost` and 127.0.0.1) a fresh test CA signed.
struct TlsTarget {
    addr: SocketAddr,
    ca_pem: String,
    accept: JoinHandle<()>,
}

impl TlsTarget {
    async fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let (ca_pem, cert_pem, key_pem) = make_certificates(dir.path());
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<_, _>>()
            .expect("certificate");
        let key = PrivateKeyDer::from_pem_slice(&key_pem).expect("key");
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("server config");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));

        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let accept = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service_fn(hello))
                        .await;
                });
            }
        });
        Self {
            addr,
            ca_pem,
            accept,
        }
    }
}

impl Drop for TlsTarget {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn hello(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let host = req
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    Ok(Response::new(Full::new(Bytes::from(format!(
        "hello over TLS, {host}"
    )))))
}

/// A CA, and a server certificate it signed; returns (CA PEM, server cert PEM, server key PEM).
fn make_certificates(dir: &Path) -> (String, Vec<u8>, Vec<u8>) {
    let openssl = |args: &[&str]| {
        let status = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("openssl runs");
        assert!(status.success(), "openssl {args:?}");
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let ca = [
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=Test CA",
    ];
    openssl(&[&["req", "-x509"], &ec[..], &ca[..]].concat());
    openssl(
        &[
            &["req"],
            &ec[..],
            &[
                "-keyout",
                "leaf.key",
                "-out",
                "leaf.csr",
                "-subj",
                "/CN=localhost",
            ],
        ]
        .concat(),
    );
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         extendedKeyUsage=serverAuth\n",
    )
    .expect("write");
    openssl(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "leaf.ext",
        "-out",
        "leaf.pem",
    ]);
    let read = |name: &str| std::fs::read(dir.join(name)).expect("read");
    (
        String::from_utf8(read("ca.pem")).expect("PEM"),
        read("leaf.pem"),
        read("leaf.key"),
    )
}

async fn fetch(up: &Upstream) -> Result<String, ProxyError> {
    let proxy = Proxy::new(Duration::from_secs(2), Duration::from_secs(2));
    let request = Request::get("/hi")
        .body(Empty::<Bytes>::new())
        .expect("request");
    let response = proxy
        .forward(
            up,
            "app.localhost",
            "https",
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            request,
            Arc::new(RecordingMeter::default()),
            &CancellationToken::new(),
        )
        .await?;
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    Ok(String::from_utf8(body.to_vec()).expect("text"))
}

#[tokio::test]
async fn https_target_is_trusted_through_its_ca() {
    let target = TlsTarget::start().await;
    let mut up = upstream(&format!("https://localhost:{}", target.addr.port()));
    up.ca_pem = Some(target.ca_pem.clone());

    let body = fetch(&up).await.expect("forwarded");

    assert_eq!(
        body,
        format!("hello over TLS, localhost:{}", target.addr.port())
    );
}

#[tokio::test]
async fn https_target_with_an_unknown_ca_is_unreachable() {
    let target = TlsTarget::start().await;
    let up = upstream(&format!("https://{}", target.addr));

    let answer = fetch(&up).await;

    let Err(ProxyError::Unreachable(why)) = &answer else {
        panic!("{answer:?}")
    };
    assert!(why.contains("certificate"), "{why}");
}

#[tokio::test]
async fn unverified_https_target_accepts_any_certificate() {
    let target = TlsTarget::start().await;
    let mut up = upstream(&format!("https://{}", target.addr));
    up.tls_verify = false;

    let body = fetch(&up).await.expect("forwarded");

    assert_eq!(body, format!("hello over TLS, {}", target.addr));
}
