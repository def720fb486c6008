//! Slowing password and key guessers down.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed logins a client gets for free, per user name, before it has to wait.
const FREE_FAILURES: u32 = 5;
/// Failed logins one address gets for free across every user name (a
/// guesser trying many names, known or not; an office behind one address
/// shares it, hence the larger allowance).
const FREE_ADDRESS_FAILURES: u32 = 30;
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

/// Counts failed logins per (user name, client address), and per address
/// across all names. After [`FREE_FAILURES`] for one name (or
/// [`FREE_ADDRESS_FAILURES`] for the address) a client must wait before its
/// next attempt, twice as long after each further failure, up to a quarter
/// of an hour; a success clears its name's count. Keyed on the address, so
/// a guesser cannot lock a person out from elsewhere. Callers pass the user
/// name as the account lookup normalises it, so padding or case gets no
/// fresh budget.
#[derive(Default)]
pub(crate) struct Throttle {
    failures: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    map: HashMap<Key, Failures>,
    /// The size at which the next sweep runs: twice what the last one
    /// kept, so sweeps stay rare however many entries are fresh.
    sweep_at: usize,
}

/// A user name at an address, or (`None`) the address itself.
type Key = (Option<String>, String);

impl Table {
    /// How long `key` must still wait, if at all.
    fn wait(&self, key: &Key) -> Option<Duration> {
        let free = if key.0.is_some() {
            FREE_FAILURES
        } else {
            FREE_ADDRESS_FAILURES
        };
        let f = self.map.get(key)?;
        if f.last.elapsed() >= MEMORY {
            return None;
        }
        wait_after(f.count, free)
            .checked_sub(f.last.elapsed())
            .filter(|left| !left.is_zero())
    }

    fn count(&mut self, key: &Key) {
        let now = Instant::now();
        let f = self.map.entry(key.clone()).or_insert(Failures {
            count: 0,
            last: now,
        });
        if f.last.elapsed() >= MEMORY {
            f.count = 0;
        }
        f.count += 1;
        f.last = now;
    }

    fn take_back(&mut self, key: &Key) {
        if let Some(f) = self.map.get_mut(key) {
            f.count = f.count.saturating_sub(1);
        }
    }

    fn sweep(&mut self) {
        if self.map.len() >= self.sweep_at.clamp(SWEEP_AT, MAX_ENTRIES) {
            self.map.retain(|_, f| f.last.elapsed() < MEMORY);
            if self.map.len() >= MAX_ENTRIES {
                self.map.retain(|k, f| {
                    let free = if k.0.is_some() {
                        FREE_FAILURES
                    } else {
                        FREE_ADDRESS_FAILURES
                    };
                    f.count >= free
                });
            }
            self.sweep_at = self.map.len() * 2;
        }
    }
}

impl Throttle {
    /// Starts a password attempt, or `Err(wait)` if this client must wait
    /// before trying `username` again. Until it is settled the attempt
    /// counts as a failure, so guesses sent in parallel cannot all pass
    /// this check before the first of them has failed.
    pub(crate) fn begin(&self, username: &str, client: &str) -> Result<Attempt<'_>, Duration> {
        let keys = keys(username, client);
        let mut table = self.lock();
        if let Some(left) = keys.iter().filter_map(|k| table.wait(k)).max() {
            return Err(left);
        }
        table.sweep();
        keys.iter().for_each(|k| table.count(k));
        drop(table);
        Ok(Attempt {
            throttle: self,
            keys,
            settled: false,
        })
    }

    /// Whether this client may try `username` now, without counting
    /// anything: for a key login, which is no guess (nobody guesses a
    /// private key; an unregistered key is refused when offered), so many
    /// in parallel — an automation's connections — all go through.
    pub(crate) fn check(&self, username: &str, client: &str) -> Result<(), Duration> {
        let table = self.lock();
        match keys(username, client)
            .iter()
            .filter_map(|k| table.wait(k))
            .max()
        {
            Some(left) => Err(left),
            None => Ok(()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.failures.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A password attempt in progress (see [`Throttle::begin`]). Dropped
/// without a verdict it is taken back.
pub(crate) struct Attempt<'a> {
    throttle: &'a Throttle,
    keys: [Key; 2],
    settled: bool,
}

impl Attempt<'_> {
    /// The attempt failed: it stays counted, for the name and the address.
    pub(crate) fn failed(mut self) {
        self.settled = true;
    }

    /// The login succeeded: the name's count is cleared; the address's
    /// keeps its earlier failures (one good account must not buy a guesser
    /// a fresh budget for every other name) but not this attempt.
    pub(crate) fn succeeded(mut self) {
        self.settled = true;
        let [name, address] = &self.keys;
        let mut table = self.throttle.lock();
        table.map.remove(name);
        table.take_back(address);
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if !self.settled {
            let mut table = self.throttle.lock();
            self.keys.iter().for_each(|k| table.take_back(k));
        }
    }
}

fn keys(username: &str, client: &str) -> [Key; 2] {
    [
        (Some(username.to_owned()), client.to_owned()),
        (None, client.to_owned()),
    ]
}

fn wait_after(count: u32, free: u32) -> Duration {
    if count < free {
        return Duration::ZERO;
    }
    let doublings = (count - free).min(16);
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
        let wait = t.begin("ops1", "10.0.0.1").err().unwrap();
        assert!(
            wait > Duration::from_secs(1) && wait <= FIRST_WAIT,
            "{wait:?}"
        );
        t.lock()
            .map
            .get_mut(&keys("ops1", "10.0.0.1")[0])
            .unwrap()
            .last -= FIRST_WAIT;
        fail(&t, "ops1", "10.0.0.1");
        assert!(t.begin("ops1", "10.0.0.1").err().unwrap() > FIRST_WAIT);
        assert_eq!(wait_after(100, FREE_FAILURES), MAX_WAIT);
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
            fail(&t, &format!("nobody{i}"), &format!("client{i}"));
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
        t.lock()
            .map
            .get_mut(&keys("ops1", "10.0.0.1")[0])
            .unwrap()
            .last -= MEMORY;
        t.begin("ops1", "10.0.0.1").unwrap().succeeded();
        assert!(!t.lock().map.contains_key(&keys("ops1", "10.0.0.1")[0]));
    }

    #[test]
    fn one_address_guessing_many_names_is_held_back_too() {
        let t = Throttle::default();
        for i in 0..FREE_ADDRESS_FAILURES {
            fail(&t, &format!("name{i}"), "10.0.0.3");
        }
        assert!(t.begin("yet-another", "10.0.0.3").is_err());
        assert!(t.check("ops1", "10.0.0.3").is_err(), "keys wait too");
        assert!(t.begin("yet-another", "10.0.0.4").is_ok());
    }

    #[test]
    fn key_logins_count_nothing_however_many_run_at_once() {
        let t = Throttle::default();
        for _ in 0..1000 {
            assert!(t.check("ops1", "10.0.0.1").is_ok());
        }
        assert!(t.lock().map.is_empty());
    }
}
