//! Slowing password and key guessers down.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed logins a client gets for free before it has to wait.
const FREE_FAILURES: u32 = 5;
/// The first wait; each further failure doubles it.
const FIRST_WAIT: Duration = Duration::from_secs(2);
/// The longest wait.
const MAX_WAIT: Duration = Duration::from_secs(15 * 60);
/// Failures older than this are forgotten.
const MEMORY: Duration = Duration::from_secs(15 * 60);
/// Entries kept before old ones are swept.
const SWEEP_AT: usize = 10_000;

struct Failures {
    count: u32,
    last: Instant,
}

/// Counts failed logins per (username, client address). After
/// [`FREE_FAILURES`] a client must wait before its next attempt, twice as
/// long after each further failure, up to a quarter of an hour; a success
/// clears the count. Keyed on the pair, so a guesser cannot lock a person
/// out from elsewhere.
#[derive(Default)]
pub(crate) struct Throttle {
    failures: Mutex<HashMap<(String, String), Failures>>,
}

impl Throttle {
    /// `Err(wait)` if this client must wait before trying `username` again.
    pub(crate) fn check(&self, username: &str, client: &str) -> Result<(), Duration> {
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let Some(f) = failures.get(&key(username, client)) else {
            return Ok(());
        };
        let wait = wait_after(f.count);
        match wait.checked_sub(f.last.elapsed()) {
            Some(left) if !left.is_zero() && f.last.elapsed() < MEMORY => Err(left),
            _ => Ok(()),
        }
    }

    /// Notes a failed attempt.
    pub(crate) fn failed(&self, username: &str, client: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() >= SWEEP_AT {
            failures.retain(|_, f| f.last.elapsed() < MEMORY);
        }
        let now = Instant::now();
        let f = failures.entry(key(username, client)).or_insert(Failures {
            count: 0,
            last: now,
        });
        if f.last.elapsed() >= MEMORY {
            f.count = 0;
        }
        f.count += 1;
        f.last = now;
    }

    /// Clears the count after a successful login.
    pub(crate) fn succeeded(&self, username: &str, client: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures.remove(&key(username, client));
    }
}

fn key(username: &str, client: &str) -> (String, String) {
    // Usernames are case-insensitive; so is their throttle.
    (username.to_lowercase(), client.to_owned())
}

fn wait_after(count: u32) -> Duration {
    if count < FREE_FAILURES {
        return Duration::ZERO;
    }
    let doublings = (count - FREE_FAILURES).min(16);
    FIRST_WAIT.saturating_mul(1 << doublings).min(MAX_WAIT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_are_free_then_each_doubles_the_wait() {
        let t = Throttle::default();
        for _ in 0..FREE_FAILURES - 1 {
            t.failed("ops1", "10.0.0.1");
        }
        assert!(t.check("ops1", "10.0.0.1").is_ok());
        t.failed("ops1", "10.0.0.1");
        let wait = t.check("OPS1", "10.0.0.1").unwrap_err();
        assert!(
            wait > Duration::from_secs(1) && wait <= FIRST_WAIT,
            "{wait:?}"
        );
        t.failed("ops1", "10.0.0.1");
        assert!(t.check("ops1", "10.0.0.1").unwrap_err() > FIRST_WAIT);
        assert_eq!(wait_after(100), MAX_WAIT);
    }

    #[test]
    fn another_client_and_a_success_are_not_held_back() {
        let t = Throttle::default();
        for _ in 0..10 {
            t.failed("ops1", "10.0.0.1");
        }
        assert!(t.check("ops1", "10.0.0.2").is_ok());
        assert!(t.check("dev2", "10.0.0.1").is_ok());
        t.succeeded("ops1", "10.0.0.1");
        assert!(t.check("ops1", "10.0.0.1").is_ok());
    }
}
