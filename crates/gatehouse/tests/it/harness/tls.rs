//! Certificates made at test time (the `openssl` command line), and
//! clients that trust exactly one of them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use gatehouse_web::tls::TlsFiles;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// A self-signed certificate for `127.0.0.1`, `localhost` and its app hosts (`*.apps.localhost`), and its key,
/// as PEM files.
pub struct TestCert {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TestCert {
    /// A new key and certificate written to `NAME.crt` / `NAME.key` in `dir`.
    pub fn generate(dir: &Path, name: &str) -> TestCert {
        let cert = dir.join(format!("{name}.crt"));
        let key = dir.join(format!("{name}.key"));
        let out = std::process::Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
            .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
            .args(["-subj", &format!("/CN=gatehouse-test-{name}")])
            .args([
                "-addext",
                "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:*.apps.localhost",
            ])
            // An end-entity certificate: webpki refuses a CA as a server's.
            .args(["-addext", "basicConstraints=critical,CA:FALSE"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "openssl req: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        TestCert { cert, key }
    }

    pub fn files(&self) -> TlsFiles {
        TlsFiles {
            cert: self.cert.clone(),
            key: self.key.clone(),
        }
    }

    pub fn pem(&self) -> Vec<u8> {
        std::fs::read(&self.cert).unwrap()
    }

    /// The certificate as a server presents it (DER).
    pub fn der(&self) -> Vec<u8> {
        der_of(&self.cert)
    }

    /// Copies this certificate and key over `to`'s files, as a renewal does.
    pub fn install_as(&self, to: &TestCert) {
        std::fs::copy(&self.cert, &to.cert).unwrap();
        std::fs::copy(&self.key, &to.key).unwrap();
    }
}

pub fn der_of(pem_file: &Path) -> Vec<u8> {
    CertificateDer::from_pem_file(pem_file)
        .unwrap()
        .as_ref()
        .to_vec()
}

/// An HTTP client (HTTP/2 when offered) that trusts only `cert_pem` and
/// reports the certificate each connection was made with.
pub fn https_client(cert_pem: &[u8]) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(cert_pem).unwrap()])
        .tls_info(true)
        .build()
        .unwrap()
}

/// The certificate the server presented on the connection `resp` came over.
pub fn peer_certificate(resp: &reqwest::Response) -> Vec<u8> {
    resp.extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|info| info.peer_certificate())
        .expect("a TLS connection")
        .to_vec()
}

/// A rustls client configuration trusting only `cert_pem`, for WebSockets
/// (no ALPN: the upgrade is HTTP/1.1).
pub fn rustls_client(cert_pem: &[u8]) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(cert_pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}
