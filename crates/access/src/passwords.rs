//! Argon2id password hashing on a small pool of workers of its own.
//!
//! One hash costs tens of milliseconds of CPU and, with the parameters
//! OWASP recommends (Argon2's defaults: 19 MiB, 2 passes), 19 MiB of
//! memory. Run on tokio's blocking pool, each of up to hundreds of threads
//! kept its own freed 19 MiB in its allocator's arena: a morning's password
//! logins left the gateway gigabytes larger, and a flood of bad logins grew
//! it without bound. Here as many workers as cores each own one
//! preallocated block of Argon2 memory and reuse it for every hash, so at
//! most that many hashes' memory ever exists, whatever the number of
//! logins. Attempts wait their turn in a bounded queue; one that cannot get
//! into it within [`QUEUE_WAIT`] is refused as [`Busy`].

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{mpsc, oneshot};

/// The shortest password accepted for a gateway account.
pub const MIN_LENGTH: usize = 8;

/// Attempts that may wait for a worker. Past it, an attempt waits up to
/// [`QUEUE_WAIT`] for room and is then refused: a flood of bad logins gets
/// answers quickly instead of queueing for minutes, and costs no memory.
const QUEUE: usize = 64;
/// How long an attempt may wait for room in the queue.
const QUEUE_WAIT: Duration = Duration::from_secs(2);

/// Every worker is busy and the queue is full: try again shortly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many password checks at once; try again in a moment")]
pub struct Busy;

/// Hashes a password into a PHC string.
pub async fn hash(password: SecretString) -> Result<String, Busy> {
    run(Job::Hash(password)).await.map(|done| match done {
        Done::Hashed(phc) => phc,
        Done::Verified(_) => unreachable!("a hash job answers with a hash"),
    })
}

/// Checks a password against a PHC string. A missing hash is checked
/// against a dummy so a wrong username costs as long as a wrong password.
pub async fn verify(password: SecretString, phc: Option<String>) -> Result<bool, Busy> {
    run(Job::Verify(password, phc))
        .await
        .map(|done| match done {
            Done::Verified(ok) => ok,
            Done::Hashed(_) => unreachable!("a verify job answers with a verdict"),
        })
}

enum Job {
    Hash(SecretString),
    Verify(SecretString, Option<String>),
}

enum Done {
    Hashed(String),
    Verified(bool),
}

type Queued = (Job, oneshot::Sender<Done>);

async fn run(job: Job) -> Result<Done, Busy> {
    let (tx, rx) = oneshot::channel();
    pool()
        .send_timeout((job, tx), QUEUE_WAIT)
        .await
        .map_err(|_| Busy)?;
    // A worker that panicked dropped the answer: treat it as a refusal.
    rx.await.map_err(|_| Busy)
}

/// The queue in front of the workers, started on first use.
fn pool() -> &'static mpsc::Sender<Queued> {
    static POOL: OnceLock<mpsc::Sender<Queued>> = OnceLock::new();
    POOL.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Queued>(QUEUE);
        let rx = Arc::new(Mutex::new(rx));
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        for i in 0..workers {
            let rx = rx.clone();
            let started = std::thread::Builder::new()
                .name(format!("gatehouse-argon2-{i}"))
                .spawn(move || work(&rx));
            if let Err(e) = started {
                tracing::error!(error = %e, "could not start a password worker");
            }
        }
        tx
    })
}

/// One worker: takes jobs one at a time and runs them in its own memory.
fn work(rx: &Mutex<mpsc::Receiver<Queued>>) {
    let mut memory = Memory::default();
    loop {
        // One worker waits at the queue at a time; it lets go as soon as
        // it has a job, so the next can wait.
        let next = rx.lock().unwrap_or_else(|e| e.into_inner()).blocking_recv();
        let Some((job, answer)) = next else { return };
        let done = match job {
            Job::Hash(password) => Done::Hashed(memory.hash(password.expose_secret().as_bytes())),
            Job::Verify(password, phc) => {
                let (phc, real) = match &phc {
                    Some(p) => (p.as_str(), true),
                    None => (dummy_hash(), false),
                };
                let ok = memory.verify(password.expose_secret().as_bytes(), phc);
                Done::Verified(ok && real)
            }
        };
        let _ = answer.send(done);
    }
}

/// A worker's Argon2 memory, allocated once at the size the default
/// parameters need and reused by every hash.
#[derive(Default)]
struct Memory {
    blocks: Vec<Block>,
}

impl Memory {
    fn blocks(&mut self, params: &Params) -> &mut [Block] {
        let needed = params.block_count();
        if self.blocks.len() < needed {
            // Only a hash stored with stronger parameters than today's
            // defaults asks for more; keep it for the next one.
            self.blocks.resize(needed, Block::default());
        }
        &mut self.blocks[..needed]
    }

    /// A new PHC string for `password`, with a fresh salt and the default
    /// parameters.
    fn hash(&mut self, password: &[u8]) -> String {
        let params = Params::default();
        let salt = Salt::generate();
        let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
            .hash_password_into_with_memory(password, salt.as_ref(), &mut out, self.blocks(&params))
            .expect("argon2 with default parameters and a fresh salt cannot fail");
        PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&params).expect("default parameters encode"),
            salt: Some(salt),
            hash: Some(Output::new(&out).expect("a default-length output")),
        }
        .to_string()
    }

    /// Whether `password` matches `phc` (compared in constant time).
    fn verify(&mut self, password: &[u8], phc: &str) -> bool {
        let mut check = || -> Option<bool> {
            let parsed = PasswordHash::new(phc).ok()?;
            let algorithm = Algorithm::try_from(parsed.algorithm.as_str()).ok()?;
            let version = match parsed.version {
                Some(v) => Version::try_from(v).ok()?,
                None => Version::default(),
            };
            let params = Params::try_from(&parsed).ok()?;
            let (salt, expected) = (parsed.salt?, parsed.hash?);
            let mut out = vec![0u8; expected.len()];
            Argon2::new(algorithm, version, params.clone())
                .hash_password_into_with_memory(
                    password,
                    salt.as_ref(),
                    &mut out,
                    self.blocks(&params),
                )
                .ok()?;
            Some(Output::new(&out).ok()? == expected)
        };
        check().unwrap_or(false)
    }
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| Memory::default().hash(b"gatehouse-dummy-password"))
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

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::PasswordVerifier;

    #[tokio::test]
    async fn a_hash_verifies_with_its_password_only_and_reads_as_standard_argon2id() {
        let phc = hash(SecretString::from("correct horse")).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        // Any Argon2 implementation reads it: the argon2 crate's own verifier agrees.
        let parsed = PasswordHash::new(&phc).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", &parsed)
                .is_ok()
        );
        let yes = verify(SecretString::from("correct horse"), Some(phc.clone()));
        let no = verify(SecretString::from("wrong horse"), Some(phc.clone()));
        assert_eq!((yes.await, no.await), (Ok(true), Ok(false)));
    }

    #[tokio::test]
    async fn hashes_made_elsewhere_verify_and_a_missing_or_garbled_one_never_does() {
        // As stored by earlier versions (the argon2 crate's own hasher).
        let theirs = {
            use argon2::PasswordHasher;
            Argon2::default()
                .hash_password(b"older password")
                .unwrap()
                .to_string()
        };
        let check = |p: &str, phc: Option<String>| verify(SecretString::from(p.to_owned()), phc);
        assert_eq!(
            check("older password", Some(theirs.clone())).await,
            Ok(true)
        );
        assert_eq!(check("older passwort", Some(theirs)).await, Ok(false));
        assert_eq!(check("gatehouse-dummy-password", None).await, Ok(false));
        assert_eq!(
            check("x", Some("$argon2id$garbage".into())).await,
            Ok(false)
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flood_of_checks_is_answered_in_turn_or_told_busy() {
        let phc = hash(SecretString::from("correct horse")).await.unwrap();
        let checks: Vec<_> = (0..300)
            .map(|_| tokio::spawn(verify(SecretString::from("guess"), Some(phc.clone()))))
            .collect();
        let (mut refused, mut busy) = (0, 0);
        for check in checks {
            match check.await.unwrap() {
                Ok(false) => refused += 1,
                Ok(true) => panic!("a wrong password passed"),
                Err(Busy) => busy += 1,
            }
        }
        assert_eq!(refused + busy, 300);
        assert!(refused >= QUEUE, "only {refused} were checked");
    }
}
