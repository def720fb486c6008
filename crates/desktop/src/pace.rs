//! When a recorded desktop writes its pictures. The browser gets every
//! change up to 30 times a second; the recording gets the same changes,
//! coalesced, at a pace its size can bear:
//!
//! - changed regions are held and merged until the recording may write
//!   again, then written from the screen as it is then — every change
//!   lands, a region changed ten times in between is written once;
//! - at most [`MIN_GAP`] apart (ten pictures a second: typing still shows
//!   key by key);
//! - within a byte budget of about one whole screen a second (the size of
//!   the last key frame, at least [`RATE_FLOOR`]), with up to [`BURST`]
//!   seconds of it saved while the screen is quiet: a typed line costs a
//!   few hundred bytes a key and is never held back, while a busy screen
//!   (a scrolling terminal, a video) is recorded at about one screen a
//!   second instead of thirty updates;
//! - a key frame (the whole screen) once the regions written since the
//!   last one add up to [`KEY_FRAME_SCREENS`] key frames, or after
//!   [`KEY_FRAME_EVERY`] when anything changed: a seek in the replay
//!   paints a key frame and at most that much after it, and key frames are
//!   a bounded share of a busy recording.

use std::time::{Duration, Instant};

use crate::framebuffer::Region;

/// The least time between two pictures written (ten a second).
pub(crate) const MIN_GAP: Duration = Duration::from_millis(100);
/// The least byte budget a second, whatever the key frame's size (a
/// mostly black screen deflates to a few KiB).
pub(crate) const RATE_FLOOR: f64 = 32.0 * 1024.0;
/// Seconds of budget a quiet screen saves up.
const BURST: f64 = 2.0;
/// A key frame once the regions since the last one add up to this many key frames.
const KEY_FRAME_SCREENS: usize = 8;
/// And at least this often while the screen changes.
pub(crate) const KEY_FRAME_EVERY: Duration = Duration::from_secs(10);
/// Regions held apart before they merge into their bounding box (as the
/// framebuffer's own list).
const MAX_HELD: usize = 16;

/// A recording's pace: the regions held back, the budget, the key frames.
pub(crate) struct Pace {
    held: Vec<Region>,
    /// Bytes the recording may write now; below zero after a picture
    /// bigger than what was saved.
    balance: f64,
    /// Bytes of budget a second.
    rate: f64,
    refilled: Instant,
    last_write: Option<Instant>,
    /// Bytes of regions written since the last key frame; `None` when the
    /// screen has not changed since it.
    since_key: Option<usize>,
    last_key: Instant,
    key_bytes: usize,
}

impl Pace {
    pub(crate) fn new(now: Instant) -> Pace {
        Pace {
            held: Vec::new(),
            balance: RATE_FLOOR * BURST,
            rate: RATE_FLOOR,
            refilled: now,
            last_write: None,
            since_key: None,
            last_key: now,
            key_bytes: 0,
        }
    }

    /// Whether changes are held, not written yet.
    pub(crate) fn holds(&self) -> bool {
        !self.held.is_empty()
    }

    /// Notes `changed` regions; returns the regions to write now, if the
    /// pace allows (all held ones, merged), and forgets them.
    pub(crate) fn offer(
        &mut self,
        changed: impl IntoIterator<Item = Region>,
        now: Instant,
    ) -> Option<Vec<Region>> {
        for r in changed {
            hold(&mut self.held, r);
        }
        self.refill(now);
        let gap_ok = self
            .last_write
            .is_none_or(|at| now.duration_since(at) >= MIN_GAP);
        if self.held.is_empty() || !gap_ok || self.balance < 0.0 {
            return None;
        }
        Some(std::mem::take(&mut self.held))
    }

    /// The regions held, whatever the pace (the session is over).
    pub(crate) fn take(&mut self) -> Vec<Region> {
        std::mem::take(&mut self.held)
    }

    /// Notes `bytes` of regions written.
    pub(crate) fn wrote(&mut self, bytes: usize, now: Instant) {
        self.balance -= bytes as f64;
        self.last_write = Some(now);
        self.since_key = Some(self.since_key.unwrap_or(0) + bytes);
    }

    /// Whether a key frame is due.
    pub(crate) fn key_due(&self, now: Instant) -> bool {
        self.since_key.is_some_and(|bytes| {
            bytes
                >= self
                    .key_bytes
                    .saturating_mul(KEY_FRAME_SCREENS)
                    .max(1 << 16)
                || now.duration_since(self.last_key) >= KEY_FRAME_EVERY
        })
    }

    /// Notes a key frame of `bytes` written: it holds every change so far,
    /// and its size sets the budget (about one screen a second).
    pub(crate) fn keyed(&mut self, bytes: usize, now: Instant) {
        self.refill(now);
        self.held.clear();
        self.since_key = None;
        self.last_key = now;
        self.key_bytes = bytes;
        self.rate = (bytes as f64).max(RATE_FLOOR);
        self.balance = (self.balance - bytes as f64).min(self.rate * BURST);
        self.last_write = Some(now);
    }

    fn refill(&mut self, now: Instant) {
        let secs = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.refilled = now;
        self.balance = (self.balance + secs * self.rate).min(self.rate * BURST);
    }
}

/// Adds `r` to `held`: overlapping regions become one (a pixel is never
/// written twice in one picture), and too many become their bounding box.
fn hold(held: &mut Vec<Region>, mut r: Region) {
    while let Some(i) = held.iter().position(|h| h.overlaps(&r)) {
        r = r.union(&held.swap_remove(i));
    }
    held.push(r);
    if held.len() > MAX_HELD {
        let all = held.drain(..).reduce(|a, b| a.union(&b));
        held.extend(all);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framebuffer::region;

    #[test]
    fn typing_is_written_key_by_key() {
        let t0 = Instant::now();
        let mut pace = Pace::new(t0);
        pace.keyed(40_000, t0);
        // A key's echo every 200 ms, a few hundred bytes each: each one is
        // written when it comes.
        for k in 1..=50u32 {
            let now = t0 + Duration::from_millis(200 * u64::from(k));
            let r = region(k as u16 * 8, 10, 8, 16);
            assert_eq!(pace.offer([r], now), Some(vec![r]), "key {k}");
            pace.wrote(300, now);
        }
    }

    #[test]
    fn a_busy_screen_is_written_about_once_a_screen_a_second_and_nothing_is_lost() {
        let t0 = Instant::now();
        let mut pace = Pace::new(t0);
        let screen = 50_000;
        pace.keyed(screen, t0);
        let mut written = 0usize;
        let mut pictures = 0;
        let mut keys = 0;
        let mut changed_since_write = false;
        // 30 updates a second for a minute, each a whole-screen region.
        for tick in 1..=1800u64 {
            let now = t0 + Duration::from_millis(tick * 33);
            changed_since_write = true;
            if let Some(regions) = pace.offer([region(0, 0, 800, 600)], now) {
                assert_eq!(regions, vec![region(0, 0, 800, 600)]);
                pace.wrote(screen, now);
                written += screen;
                pictures += 1;
                changed_since_write = false;
            }
            if pace.key_due(now) {
                pace.keyed(screen, now);
                written += screen;
                keys += 1;
                changed_since_write = false;
            }
        }
        let secs = 1800.0 * 0.033;
        let rate = written as f64 / secs;
        assert!(
            rate <= screen as f64 * 1.2,
            "{rate:.0} bytes/s, {pictures} pictures, {keys} key frames"
        );
        assert!(rate >= screen as f64 * 0.8, "{rate:.0} bytes/s");
        assert!(keys >= 4, "{keys} key frames in a minute");
        // The last change is still held (it will be written), never dropped.
        assert_eq!(pace.holds(), changed_since_write);
    }

    #[test]
    fn held_regions_merge_and_are_written_at_the_next_chance() {
        let t0 = Instant::now();
        let mut pace = Pace::new(t0);
        pace.keyed(RATE_FLOOR as usize, t0);
        // Spend the budget: the next picture waits.
        let big = (RATE_FLOOR * BURST) as usize * 2;
        assert!(pace.offer([region(0, 0, 10, 10)], t0).is_none(), "min gap");
        let t1 = t0 + MIN_GAP;
        assert!(pace.offer([], t1).is_some());
        pace.wrote(big, t1);
        let t2 = t1 + MIN_GAP;
        assert!(pace.offer([region(0, 0, 10, 10)], t2).is_none());
        assert!(pace.offer([region(5, 5, 10, 10)], t2).is_none());
        assert!(pace.offer([region(100, 100, 1, 1)], t2).is_none());
        assert!(pace.holds());
        // Once the budget is back, everything held is written, merged.
        let later = t2 + Duration::from_secs(5);
        let mut regions = pace.offer([], later).unwrap();
        regions.sort_by_key(|r| r.x);
        assert_eq!(regions, vec![region(0, 0, 15, 15), region(100, 100, 1, 1)]);
        assert!(!pace.holds());
        // Many scattered regions become their bounding box.
        for i in 0..40 {
            hold(&mut pace.held, region(i * 3, 0, 1, 1));
        }
        assert!(pace.held.len() <= MAX_HELD, "{} regions", pace.held.len());
        for i in 0..40 {
            let pixel = region(i * 3, 0, 1, 1);
            assert!(
                pace.held.iter().any(|r| r.union(&pixel) == *r),
                "{pixel:?} lost"
            );
        }
    }

    #[test]
    fn key_frames_come_by_size_or_after_a_while() {
        let t0 = Instant::now();
        let mut pace = Pace::new(t0);
        pace.keyed(100_000, t0);
        assert!(!pace.key_due(t0 + KEY_FRAME_EVERY * 2), "nothing changed");
        pace.wrote(10, t0);
        assert!(!pace.key_due(t0 + Duration::from_secs(1)));
        assert!(pace.key_due(t0 + KEY_FRAME_EVERY));
        pace.wrote(100_000 * KEY_FRAME_SCREENS, t0);
        assert!(pace.key_due(t0 + Duration::from_secs(1)));
    }
}
