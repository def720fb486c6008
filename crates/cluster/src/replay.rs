//! The nonces of signed internal requests this node accepted, kept until
//! their signature expires, so a captured request cannot be sent again
//! within its validity window (issue 20).
//!
//! A nonce is remembered only after its request's signature checked out, so
//! only a node holding the secret key can add one; the bound is there all
//! the same, and when it is reached new requests are refused rather than
//! old nonces forgotten early (forgetting one would let its request be
//! replayed).

use std::collections::{BTreeSet, HashSet};
use std::sync::Mutex;

use uuid::Uuid;

use crate::{Cluster, lock};

/// How many unexpired nonces a node keeps at most. Internal requests are
/// one per cross-node watch or recording replay; 100,000 within one
/// validity window (a minute) is over 1,600 a second, far beyond any use,
/// and the set stays under ~10 MB.
pub const MAX_NONCES: usize = 100_000;

/// Whether a signed request's nonce may be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NonceUse {
    /// Never seen: the request may go on (the nonce is now remembered).
    Fresh,
    /// Seen before, within its window: a replay.
    Replayed,
    /// Too many unexpired nonces to remember another: refused for now.
    Full,
}

/// The remembered nonces, by when they can be forgotten.
#[derive(Default)]
pub(crate) struct Nonces {
    seen: Mutex<Seen>,
}

#[derive(Default)]
struct Seen {
    ids: HashSet<Uuid>,
    /// `(forget after, nonce)`, oldest first.
    by_expiry: BTreeSet<(i64, Uuid)>,
}

impl Nonces {
    /// Claims `nonce`, whose request is good until `expires` (Unix
    /// seconds), at `now`.
    pub(crate) fn claim(&self, nonce: Uuid, expires: i64, now: i64) -> NonceUse {
        let mut seen = lock(&self.seen);
        while let Some(&(at, id)) = seen.by_expiry.first() {
            if at >= now {
                break;
            }
            seen.by_expiry.pop_first();
            seen.ids.remove(&id);
        }
        if seen.ids.contains(&nonce) {
            return NonceUse::Replayed;
        }
        if seen.ids.len() >= MAX_NONCES {
            return NonceUse::Full;
        }
        seen.ids.insert(nonce);
        seen.by_expiry.insert((expires, nonce));
        NonceUse::Fresh
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        lock(&self.seen).ids.len()
    }
}

impl Cluster {
    /// Claims the nonce of a signed internal request another node sent:
    /// whether it is the first use. `expires` is the last second (Unix)
    /// the request's signature is good for; `now` this node's clock.
    pub fn claim_nonce(&self, nonce: Uuid, expires: i64, now: i64) -> NonceUse {
        self.inner.nonces.claim(nonce, expires, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_is_refused_again_until_its_window_ends_then_forgotten() {
        let nonces = Nonces::default();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        assert_eq!(nonces.claim(a, 130, 100), NonceUse::Fresh);
        assert_eq!(nonces.claim(a, 130, 100), NonceUse::Replayed);
        assert_eq!(nonces.claim(b, 110, 101), NonceUse::Fresh);
        // Still inside a's window, even with another expiry claimed.
        assert_eq!(nonces.claim(a, 999, 130), NonceUse::Replayed);
        // Past both windows: both forgotten (the request's time check
        // refuses them from then on).
        assert_eq!(nonces.claim(Uuid::new_v4(), 200, 131), NonceUse::Fresh);
        assert_eq!(nonces.len(), 1);
    }

    #[test]
    fn when_full_new_nonces_are_refused_until_old_ones_expire() {
        let nonces = Nonces::default();
        for _ in 0..MAX_NONCES {
            assert_eq!(nonces.claim(Uuid::new_v4(), 60, 0), NonceUse::Fresh);
        }
        let late = Uuid::new_v4();
        assert_eq!(nonces.claim(late, 60, 1), NonceUse::Full);
        assert_eq!(nonces.len(), MAX_NONCES);
        // The late one was not remembered; once the others expire it is
        // accepted, and the memory they held is given back.
        assert_eq!(nonces.claim(late, 120, 61), NonceUse::Fresh);
        assert_eq!(nonces.len(), 1);
    }
}
