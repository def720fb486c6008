//! Connections that have not logged in yet, bounded globally and per
//! address: each costs a key exchange and may cost a password check, so a
//! flood of half-open logins must not grow without limit (OpenSSH's
//! `MaxStartups` does the same job).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Connections not yet logged in, from everyone. A morning rush of 20
/// logins a second, each a fraction of a second, needs a handful.
pub(crate) const GLOBAL: usize = 256;
/// Connections not yet logged in from one address (an office behind one
/// address logs in through it too, hence not just a few).
pub(crate) const PER_ADDRESS: usize = 32;

/// The count of connections not yet logged in.
#[derive(Default)]
pub(crate) struct PreAuth {
    counts: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
    /// Refusals since the last warning, and when that was: a flood is
    /// logged once every [`WARN_EVERY`], not once per connection.
    refused: usize,
    warned: Option<std::time::Instant>,
}

/// How often a flood of refused connections is logged.
const WARN_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

impl PreAuth {
    /// A place for a new connection from `addr`, or a refusal when it
    /// would pass either bound. The place is given back when the slot is
    /// dropped (logged in, or gone).
    pub(crate) fn enter(self: &Arc<Self>, addr: IpAddr) -> Result<Slot, Refused> {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let mine = counts.by_address.get(&addr).copied().unwrap_or(0);
        if counts.total >= GLOBAL || mine >= PER_ADDRESS {
            counts.refused += 1;
            let mut report = None;
            if counts.warned.is_none_or(|at| at.elapsed() >= WARN_EVERY) {
                let refused = std::mem::take(&mut counts.refused);
                tracing::warn!(
                    refused,
                    last_from = %addr,
                    "SSH connections refused: too many not yet logged in ({GLOBAL} in all, {PER_ADDRESS} per address)"
                );
                counts.warned = Some(std::time::Instant::now());
                report = Some(refused);
            }
            return Err(Refused {
                per_address: mine >= PER_ADDRESS,
                report,
            });
        }
        counts.total += 1;
        counts.by_address.insert(addr, mine + 1);
        Ok(Slot {
            preauth: self.clone(),
            addr,
        })
    }
}

/// A connection turned away before its key exchange.
#[derive(Debug)]
pub(crate) struct Refused {
    /// Its address was at [`PER_ADDRESS`] (else everyone was at [`GLOBAL`]).
    pub(crate) per_address: bool,
    /// Set on the refusal that reports a flood, at most once every
    /// [`WARN_EVERY`]: how many were refused since the last report, this
    /// one included. It goes into the audit; every refusal is in the log.
    pub(crate) report: Option<usize>,
}

/// One connection's place among those not yet logged in.
pub(crate) struct Slot {
    preauth: Arc<PreAuth>,
    addr: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self
            .preauth
            .counts
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        counts.total -= 1;
        if let Some(n) = counts.by_address.get_mut(&self.addr) {
            *n -= 1;
            if *n == 0 {
                counts.by_address.remove(&self.addr);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_and_everyone_together_are_bounded_and_slots_come_back() {
        let preauth = Arc::new(PreAuth::default());
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let mut held: Vec<_> = (0..PER_ADDRESS)
            .map(|_| preauth.enter(a).unwrap())
            .collect();
        let refused = preauth.enter(a).err().unwrap();
        assert!(refused.per_address, "one address past its bound");
        assert_eq!(refused.report, Some(1), "the first refusal is reported");
        assert_eq!(
            preauth.enter(a).err().unwrap().report,
            None,
            "then not again at once"
        );
        held.pop();
        assert!(preauth.enter(a).is_ok(), "a place given back is free again");
        let others: Vec<_> = (0..)
            .map_while(|i: u32| preauth.enter(IpAddr::from(i.to_be_bytes())).ok())
            .collect();
        assert_eq!(held.len() + others.len(), GLOBAL);
        drop((held, others));
        assert!(preauth.counts.lock().unwrap().by_address.is_empty());
    }
}
