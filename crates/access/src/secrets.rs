use std::path::Path;
use std::sync::Arc;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Why the secret key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum SecretKeyError {
    /// The key file could not be read or written.
    #[error("secret key file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The key was not 32 bytes of base64.
    #[error("secret key must be 32 bytes, base64-encoded")]
    Malformed,
}

/// Seals and opens connection secrets with AES-256-GCM. The key never
/// leaves this type; `Debug` does not show it.
#[derive(Clone)]
pub struct SecretBox {
    key: Arc<LessSafeKey>,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

impl SecretBox {
    /// A box from a base64-encoded 32-byte key (`GATEHOUSE_SECRET_KEY`).
    pub fn from_base64(encoded: &str) -> Result<Self, SecretKeyError> {
        let bytes = STANDARD
            .decode(encoded.trim())
            .map_err(|_| SecretKeyError::Malformed)?;
        Self::from_bytes(&bytes)
    }

    fn from_bytes(bytes: &[u8]) -> Result<Self, SecretKeyError> {
        let key = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| SecretKeyError::Malformed)?;
        Ok(Self {
            key: Arc::new(LessSafeKey::new(key)),
        })
    }

    /// Loads the key file at `path`, creating it (mode 0600) with a fresh
    /// random key if it does not exist.
    pub fn load_or_create(path: &Path) -> Result<Self, SecretKeyError> {
        let io = |source| SecretKeyError::Io {
            path: path.display().to_string(),
            source,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => Self::from_base64(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                aws_lc_rs::rand::fill(&mut key).expect("system random source");
                write_private(path, STANDARD.encode(key).as_bytes()).map_err(io)?;
                Self::from_bytes(&key)
            }
            Err(e) => Err(io(e)),
        }
    }

    /// Encrypts `plaintext`; the result is `nonce || ciphertext || tag`.
    pub fn seal(&self, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).expect("system random source");
        let mut out = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut out)
            .expect("AES-GCM sealing of an in-memory buffer cannot fail");
        let mut sealed = nonce.to_vec();
        sealed.append(&mut out);
        sealed
    }

    /// Decrypts what [`SecretBox::seal`] produced; `None` if it was sealed
    /// under another key or tampered with.
    pub fn open(&self, sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut buf = ciphertext.to_vec();
        let plain = self.key.open_in_place(nonce, Aad::empty(), &mut buf).ok()?;
        Some(plain.to_vec())
    }
}

fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(contents)
}
