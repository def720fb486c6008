use std::path::Path;
use std::sync::Arc;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hmac;
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
    /// Signs and checks requests between gateway nodes (derived from the
    /// same key, never the encryption key itself).
    nodes: Arc<hmac::Key>,
    /// Names the key without revealing it (see [`SecretBox::fingerprint`]).
    fingerprint: Arc<str>,
}

/// What the node-channel key is derived with (HMAC-SHA256 of this label
/// under the secret key): a MAC made with it can never be confused with
/// anything else the key does.
const NODE_CHANNEL_LABEL: &[u8] = b"gatehouse node channel v1";

/// What the published fingerprint is derived with.
const FINGERPRINT_LABEL: &[u8] = b"gatehouse key fingerprint v1";

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
        let root = hmac::Key::new(hmac::HMAC_SHA256, bytes);
        let nodes = hmac::Key::new(
            hmac::HMAC_SHA256,
            hmac::sign(&root, NODE_CHANNEL_LABEL).as_ref(),
        );
        // 16 bytes of a one-way function of the key: enough to tell two
        // keys apart, useless for finding the key.
        let fingerprint: String = hmac::sign(&root, FINGERPRINT_LABEL).as_ref()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(Self {
            key: Arc::new(LessSafeKey::new(key)),
            nodes: Arc::new(nodes),
            fingerprint: fingerprint.into(),
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

    /// A name for this key that other nodes can compare with theirs
    /// (hex, derived one-way; it reveals nothing of the key).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// A MAC over `message` for a request to another gateway node: only a
    /// node holding the same secret key can make or check it.
    pub fn sign_for_nodes(&self, message: &[u8]) -> Vec<u8> {
        hmac::sign(&self.nodes, message).as_ref().to_vec()
    }

    /// Whether `tag` is [`SecretBox::sign_for_nodes`] of `message` under
    /// this key (compared in constant time).
    pub fn verify_from_node(&self, message: &[u8], tag: &[u8]) -> bool {
        hmac::verify(&self.nodes, message, tag).is_ok()
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

#[cfg(test)]
mod node_key_tests {
    use super::*;

    fn key(byte: u8) -> SecretBox {
        SecretBox::from_base64(&STANDARD.encode([byte; 32])).unwrap()
    }

    #[test]
    fn nodes_with_the_same_key_share_a_fingerprint_and_accept_each_others_macs() {
        let (a, b, other) = (key(7), key(7), key(8));
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_ne!(a.fingerprint(), other.fingerprint());
        assert_eq!(a.fingerprint().len(), 32);
        let tag = a.sign_for_nodes(b"GET\n/x\n1");
        assert!(b.verify_from_node(b"GET\n/x\n1", &tag));
        assert!(!b.verify_from_node(b"GET\n/y\n1", &tag));
        assert!(!other.verify_from_node(b"GET\n/x\n1", &tag));
        assert!(!b.verify_from_node(b"GET\n/x\n1", &tag[..16]));
    }
}
