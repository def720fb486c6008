//! Argon2id password hashing, always on the blocking pool: one hash costs
//! tens of milliseconds of CPU and must not stall the relays.

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use secrecy::{ExposeSecret, SecretString};

/// The shortest password accepted for a gateway account.
pub const MIN_LENGTH: usize = 8;

/// Hashes a password into a PHC string.
pub async fn hash(password: SecretString) -> String {
    tokio::task::spawn_blocking(move || hash_blocking(password.expose_secret()))
        .await
        .expect("password hashing panicked")
}

fn hash_blocking(password: &str) -> String {
    Argon2::default()
        .hash_password(password.as_bytes())
        .expect("argon2 with default parameters cannot fail")
        .to_string()
}

/// Checks a password against a PHC string. A missing hash is checked
/// against a dummy so a wrong username costs as long as a wrong password.
pub async fn verify(password: SecretString, phc: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
        let (phc, real) = match &phc {
            Some(p) => (p.as_str(), true),
            None => (dummy_hash(), false),
        };
        let ok = PasswordHash::new(phc).is_ok_and(|parsed| {
            Argon2::default()
                .verify_password(password.expose_secret().as_bytes(), &parsed)
                .is_ok()
        });
        ok && real
    })
    .await
    .unwrap_or(false)
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_blocking("gatehouse-dummy-password"))
}

/// Refuses passwords too short to be worth hashing.
pub fn check_policy(password: &SecretString) -> Result<(), String> {
    if password.expose_secret().chars().count() < MIN_LENGTH {
        return Err(format!("password must be at least {MIN_LENGTH} characters"));
    }
    Ok(())
}

/// A random password for generated accounts (the first admin).
pub fn generate() -> SecretString {
    let mut bytes = [0u8; 18];
    aws_lc_rs::rand::fill(&mut bytes).expect("system random source");
    use base64::Engine;
    SecretString::from(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}
