//! Per-stream flow control: each stream of a tunnel has its own window in
//! each direction, so one whose reader stalls holds back only itself.
//!
//! A sender starts every stream with [`WINDOW`] bytes of credit and takes
//! from it for each `Data` frame ([`Window::take`]); the receiver writes
//! the bytes to its socket and, every [`GRANT`] bytes written, returns
//! that much credit with a `Credit` frame ([`Drained`]). At most one
//! window of a stream's bytes is ever between its two sockets.

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::Notify;

/// Each stream's window in each direction: OpenSSH's channel window, so
/// a stream keeps a link of 2 MiB × round trips per second busy (160
/// MB/s at 10 ms) while a stalled one holds at most this much.
pub const WINDOW: u32 = 2 << 20;
/// The receiver returns credit in steps of this many bytes written, not
/// per frame.
pub const GRANT: u32 = WINDOW / 4;

/// A sender's credit on one stream.
#[derive(Debug)]
pub struct Window {
    credit: AtomicU64,
    more: Notify,
}

impl Window {
    /// A window holding `credit` bytes.
    pub fn new(credit: u64) -> Window {
        Window {
            credit: AtomicU64::new(credit),
            more: Notify::new(),
        }
    }

    /// A window that never runs out (a peer without flow control).
    pub fn unlimited() -> Window {
        Window::new(u64::MAX / 2)
    }

    /// Adds credit the receiver returned.
    pub fn grant(&self, bytes: u64) {
        let _ = self
            .credit
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |c| {
                Some(c.saturating_add(bytes))
            });
        self.more.notify_one();
    }

    /// Waits for credit and takes up to `max` bytes of it (at least one).
    /// One task takes from a window; what it does not use it gives back
    /// with [`Window::grant`].
    pub async fn take(&self, max: usize) -> usize {
        loop {
            // A grant before the wait leaves a permit: no wake-up is lost.
            let more = self.more.notified();
            let credit = self.credit.load(Ordering::Acquire);
            if credit > 0 {
                let n = credit.min(max as u64);
                self.credit.fetch_sub(n, Ordering::AcqRel);
                return n as usize;
            }
            more.await;
        }
    }
}

/// A receiver's count of one stream's bytes written since it last
/// returned credit.
#[derive(Debug, Default)]
pub struct Drained(u32);

impl Drained {
    /// Counts `bytes` written; the credit to return when a step is full.
    pub fn wrote(&mut self, bytes: usize) -> Option<u32> {
        self.0 = self
            .0
            .saturating_add(u32::try_from(bytes).unwrap_or(u32::MAX));
        (self.0 >= GRANT).then(|| std::mem::take(&mut self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test]
    async fn a_sender_waits_for_credit_and_takes_no_more_than_it_has() {
        let window = Arc::new(Window::new(10));
        assert_eq!(window.take(4).await, 4);
        assert_eq!(window.take(100).await, 6);
        let waiting = tokio::spawn({
            let window = window.clone();
            async move { window.take(100).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "took credit it did not have");
        window.grant(30);
        assert_eq!(waiting.await.unwrap(), 30);
    }

    #[test]
    fn credit_goes_back_in_steps() {
        let mut drained = Drained::default();
        assert_eq!(drained.wrote(GRANT as usize - 1), None);
        assert_eq!(drained.wrote(2), Some(GRANT + 1));
        assert_eq!(drained.wrote(1), None);
    }
}
