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
/// The most entries kept: past it (a guesser inventing usernames from
/// many addresses), entries not yet held back are dropped first.
const MAX_ENTRIES: usize = 100_000;

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
    failures: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    map: HashMap<(String, String), Failures>,
    /// The size at which the next sweep runs: twice what the last one
    /// kept, so sweeps stay rare however many entries are fresh.
    sweep_at: usize,
}

impl Throttle {
    /// Starts a login attempt, or `Err(wait)` if this client must wait
    /// before trying `username` again. Until it is settled the attempt
    /// counts as a failure, so guesses sent in parallel cannot all pass
    /// this check before the first of them has failed.
    pub(crate) fn begin(&self, username: &str, client: &str) -> Result<Attempt<'_>, Duration> {
        let key = key(username, client);
        let mut guard = self.lock();
        let Table {
            map: failures,
            sweep_at,
        } = &mut *guard;
        if let Some(f) = failures.get(&key)
            && f.last.elapsed() < MEMORY
            && let Some(left) = wait_after(f.count).checked_sub(f.last.elapsed())
            && !left.is_zero()
        {
            return Err(left);
        }
        if failures.len() >= (*sweep_at).clamp(SWEEP_AT, MAX_ENTRIES) {
            failures.retain(|_, f| f.last.elapsed() < MEMORY);
            if failures.len() >= MAX_ENTRIES {
                failures.retain(|_, f| f.count >= FREE_FAILURES);
            }
            *sweep_at = failures.len() * 2;
        }
        let now = Instant::now();
        let f = failures.entry(key.clone()).or_insert(Failures {
            count: 0,
            last: now,
        });
        if f.last.elapsed() >= MEMORY {
            f.count = 0;
        }
        f.count += 1;
        f.last = now;
        drop(guard);
        Ok(Attempt {
            throttle: self,
            key,
            settled: false,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.failures.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A login attempt in progress (see [`Throttle::begin`]). Dropped without
/// a verdict it is taken back: it was no guess (a client offering a key
/// that is not registered).
pub(crate) struct Attempt<'a> {
    throttle: &'a Throttle,
    key: (String, String),
    settled: bool,
}

impl Attempt<'_> {
    /// The attempt failed: it stays counted.
    pub(crate) fn failed(mut self) {
        self.settled = true;
    }

    /// The login succeeded: the count is cleared.
    pub(crate) fn succeeded(mut self) {
        self.settled = true;
        self.throttle.lock().map.remove(&self.key);
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if !self.settled
            && let Some(f) = self.throttle.lock().map.get_mut(&self.key)
        {
            f.count = f.count.saturating_sub(1);
        }
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

    fn fail(t: &Throttle, user: &str, client: &str) {
        t.begin(user, client).unwrap().failed();
    }

    #[test]
    fn five_failures_are_free_then_each_doubles_the_wait() {
        let t = Throttle::default();
        for _ in 0..FREE_FAILURES {
            fail(&t, "ops1", "10.0.0.1");
        }
        let wait = t.begin("OPS1", "10.0.0.1").err().unwrap();
        assert!(
            wait > Duration::from_secs(1) && wait <= FIRST_WAIT,
            "{wait:?}"
        );
        t.lock().map.get_mut(&key("ops1", "10.0.0.1")).unwrap().last -= FIRST_WAIT;
        fail(&t, "ops1", "10.0.0.1");
        assert!(t.begin("ops1", "10.0.0.1").err().unwrap() > FIRST_WAIT);
        assert_eq!(wait_after(100), MAX_WAIT);
    }

    #[test]
    fn guesses_in_parallel_count_before_any_of_them_fails() {
        let t = Throttle::default();
        let in_flight: Vec<_> = (0..FREE_FAILURES)
            .map(|_| t.begin("ops1", "10.0.0.1").unwrap())
            .collect();
        assert!(t.begin("ops1", "10.0.0.1").is_err());
        // Attempts that were no guess (an unregistered key) are taken back.
        drop(in_flight);
        assert!(t.begin("ops1", "10.0.0.1").is_ok());
    }

    #[test]
    fn invented_usernames_cannot_grow_the_table_without_bound_or_free_a_guesser() {
        let t = Throttle::default();
        for _ in 0..FREE_FAILURES {
            fail(&t, "ops1", "10.0.0.1");
        }
        for i in 0..MAX_ENTRIES + 10 {
            fail(&t, &format!("nobody{i}"), "10.0.0.2");
        }
        assert!(t.lock().map.len() < MAX_ENTRIES, "{}", t.lock().map.len());
        assert!(t.begin("ops1", "10.0.0.1").is_err(), "still held back");
    }

    #[test]
    fn another_client_and_a_success_are_not_held_back() {
        let t = Throttle::default();
        for _ in 0..FREE_FAILURES {
            fail(&t, "ops1", "10.0.0.1");
        }
        assert!(t.begin("ops1", "10.0.0.2").is_ok());
        assert!(t.begin("dev2", "10.0.0.1").is_ok());
        t.lock().map.get_mut(&key("ops1", "10.0.0.1")).unwrap().last -= MEMORY;
        t.begin("ops1", "10.0.0.1").unwrap().succeeded();
        assert!(!t.lock().map.contains_key(&key("ops1", "10.0.0.1")));
    }
}
