//! The overlay's clock. Its timeline (actions' `at`, promotion delays, failure ratios,
//! metrics) counts from its start. A held clock has not started yet: the overlay is
//! being set up, its model stands still, and a login for a client the model already has
//! online only hands out a session token (see `server::login`). The embedded overlay is
//! held until the run's time zero, so that logins made before it (a load generator's
//! warm-up of the clients modelled as online) neither queue for the login capacity nor
//! move the timeline.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
pub struct Clock {
    start: OnceLock<Instant>,
}

impl Clock {
    /// A clock that started now.
    pub fn running() -> Clock {
        let c = Clock::default();
        c.start(Instant::now());
        c
    }

    /// A clock that waits for [`Clock::start`].
    pub fn held() -> Clock {
        Clock::default()
    }

    /// Starts the clock at `at` (may lie a little ahead); only the first call counts.
    pub fn start(&self, at: Instant) {
        let _ = self.start.set(at);
    }

    /// Time since the start; None while held. Zero until a start that lies ahead.
    pub fn now(&self) -> Option<Duration> {
        self.start.get().map(|s| Instant::now().saturating_duration_since(*s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_until_started_then_counts_from_the_start() {
        let c = Clock::held();
        assert_eq!(c.now(), None);
        let at = Instant::now() + Duration::from_secs(3600);
        c.start(at);
        assert_eq!(c.now(), Some(Duration::ZERO), "a start ahead reads zero");
        c.start(Instant::now() - Duration::from_secs(5));
        assert_eq!(c.now(), Some(Duration::ZERO), "only the first start counts");
        assert!(Clock::running().now().is_some());
    }
}
