//! What the tab is told of the desktop's own clipboard (`clipboard_status`):
//! VNC's is part of the protocol and there from the start; an RDP server's
//! is there once its cliprdr channel comes up, which a server without one
//! (FreeRDP's shadow server) never does. The relay asks the remote after
//! every event ([`ClipboardNews::heard`]) and, when the server stays silent
//! for [`WAIT`] after the desktop's first picture, takes its clipboard to
//! be absent ([`ClipboardNews::timed_out`]) — and says so again if the
//! channel comes up after all.

use tokio::time::Instant;

/// How long an RDP desktop's server has, from the desktop's first
/// picture, to bring its clipboard channel up before the tab is told it
/// has none. xrdp brings it up with the session, under a second after the
/// tab opens (measured 0.43–0.94 s); a server without cliprdr never does.
pub(crate) const WAIT: std::time::Duration = std::time::Duration::from_secs(8);

/// What the tab was told, and when silence will count as "absent".
#[derive(Debug)]
pub(crate) struct ClipboardNews {
    /// What the tab was told (`None`: not known yet).
    told: Option<bool>,
    /// When a clipboard still unknown is taken to be absent.
    deadline: Option<Instant>,
    /// Whether the clipboard was offered to the server at all (a
    /// connection with both directions switched off never asks).
    asked: bool,
}

impl ClipboardNews {
    /// Starts from what the remote knows when the tab is greeted (`known`,
    /// which the greeting carries); `asked` is whether any direction is on.
    pub(crate) fn new(known: Option<bool>, asked: bool) -> Self {
        ClipboardNews {
            told: known,
            deadline: None,
            asked,
        }
    }

    /// When silence counts as absent, while that wait runs.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// After an event from the desktop: `known` is what the remote knows
    /// of its clipboard now, `picture` whether the event painted the
    /// screen. What to tell the tab, when that changed.
    pub(crate) fn heard(
        &mut self,
        known: Option<bool>,
        picture: bool,
        now: Instant,
    ) -> Option<bool> {
        match known {
            Some(known) if self.told != Some(known) => {
                self.deadline = None;
                self.told = Some(known);
                Some(known)
            }
            None if self.asked && self.told.is_none() && self.deadline.is_none() && picture => {
                self.deadline = Some(now + WAIT);
                None
            }
            _ => None,
        }
    }

    /// The wait is over without the channel: absent, to tell the tab.
    pub(crate) fn timed_out(&mut self) -> Option<bool> {
        self.deadline = None;
        if self.told.is_some() {
            return None;
        }
        self.told = Some(false);
        Some(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vnc_is_there_from_the_start_and_never_told_again() {
        let mut news = ClipboardNews::new(Some(true), true);
        let now = Instant::now();
        assert_eq!(news.heard(Some(true), true, now), None);
        assert_eq!(news.deadline(), None);
    }

    #[test]
    fn an_rdp_channel_that_comes_up_is_told_once() {
        let mut news = ClipboardNews::new(None, true);
        let now = Instant::now();
        assert_eq!(news.heard(None, true, now), None);
        assert_eq!(news.deadline(), Some(now + WAIT));
        assert_eq!(news.heard(Some(true), false, now), Some(true));
        assert_eq!(news.deadline(), None, "the wait is off once known");
        assert_eq!(news.heard(Some(true), true, now), None);
    }

    #[test]
    fn silence_after_the_first_picture_is_absent_and_a_late_channel_turns_it_on() {
        let mut news = ClipboardNews::new(None, true);
        let now = Instant::now();
        // The wait starts at the first picture, not before, and only once.
        assert_eq!(news.heard(None, false, now), None);
        assert_eq!(news.deadline(), None);
        news.heard(None, true, now);
        news.heard(None, true, now + WAIT / 2);
        assert_eq!(news.deadline(), Some(now + WAIT));
        assert_eq!(news.timed_out(), Some(false));
        assert_eq!(news.told, Some(false));
        assert_eq!(news.deadline(), None);
        // The server brings it up after all.
        assert_eq!(news.heard(Some(true), true, now + WAIT * 2), Some(true));
    }

    #[test]
    fn a_server_that_never_joined_the_channel_is_absent_at_once() {
        let mut news = ClipboardNews::new(Some(false), true);
        assert_eq!(news.told, Some(false));
        assert_eq!(news.heard(Some(false), true, Instant::now()), None);
        assert_eq!(news.deadline(), None);
    }

    #[test]
    fn a_clipboard_never_offered_is_never_told_absent() {
        let mut news = ClipboardNews::new(None, false);
        assert_eq!(news.heard(None, true, Instant::now()), None);
        assert_eq!(news.deadline(), None);
    }
}
