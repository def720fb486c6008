//! Session policies: how long a session may sit idle and how long it may
//! last, and the warning a session's front end receives before either ends it.

use std::time::Duration;

use gatehouse_domain::EndReason;
use serde::Serialize;

/// One limit and who set it (shown in the end message and in history).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limit {
    /// The limit itself.
    pub after: Duration,
    /// Where it comes from, e.g. `connection prod-db`, `role ops`, `gateway setting`.
    pub set_by: String,
}

/// The limits that apply to one session: the strictest of every level.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionLimits {
    /// End after this long without input from any participant.
    pub idle_timeout: Option<Limit>,
    /// End this long after the start, whatever happens.
    pub max_duration: Option<Limit>,
}

impl SessionLimits {
    /// The strictest limits among `levels` (the shortest of each kind; a
    /// level without a limit of a kind does not loosen another's).
    pub fn strictest(levels: impl IntoIterator<Item = SessionLimits>) -> SessionLimits {
        let shorter = |a: Option<Limit>, b: Option<Limit>| match (a, b) {
            (Some(a), Some(b)) => Some(if b.after < a.after { b } else { a }),
            (a, b) => a.or(b),
        };
        levels
            .into_iter()
            .fold(SessionLimits::default(), |acc, l| SessionLimits {
                idle_timeout: shorter(acc.idle_timeout, l.idle_timeout),
                max_duration: shorter(acc.max_duration, l.max_duration),
            })
    }
}

/// A warning that a session is about to end by policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// What will end it: `idle_timeout` or `max_duration`.
    pub reason: EndReason,
    /// Whole seconds left when the warning was given.
    pub seconds_left: u64,
}

/// "15m", "1h 30m", "45s".
pub(crate) fn human(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m {s}s"),
        (h, 0, _) => format!("{h}h"),
        (h, m, _) => format!("{h}h {m}m"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(secs: u64, by: &str) -> Option<Limit> {
        Some(Limit {
            after: Duration::from_secs(secs),
            set_by: by.into(),
        })
    }

    #[test]
    fn the_strictest_limit_of_each_kind_applies() {
        let gateway = SessionLimits {
            idle_timeout: limit(900, "gateway setting"),
            max_duration: None,
        };
        let role = SessionLimits {
            idle_timeout: limit(1800, "role ops"),
            max_duration: limit(28800, "role ops"),
        };
        let connection = SessionLimits {
            idle_timeout: limit(300, "connection prod-db"),
            max_duration: None,
        };
        let got = SessionLimits::strictest([gateway, role, connection]);
        assert_eq!(got.idle_timeout, limit(300, "connection prod-db"));
        assert_eq!(got.max_duration, limit(28800, "role ops"));
        assert_eq!(SessionLimits::strictest([]), SessionLimits::default());
    }

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(human(Duration::from_secs(45)), "45s");
        assert_eq!(human(Duration::from_secs(900)), "15m");
        assert_eq!(human(Duration::from_secs(5400)), "1h 30m");
    }
}
