//! An HTTP/2 run's connection figures: what the transport's connections did since the
//! last pass (connects, streams, streams sent again after a GOAWAY, drops by cause),
//! into the windows they happened in.

use std::time::Duration;

use super::Engine;

impl Engine<'_> {
    /// Moves the transport's HTTP/2 events into the windows: counts into the window of
    /// `now` (drained every millisecond), drops into the window of their instant.
    pub(super) fn h2_books(&mut self, now: Duration) {
        if !self.transport.multiplexes() {
            return;
        }
        let ev = self.transport.take_h2_events();
        let w = self.rec.h2_at(now);
        w.connects += ev.connects;
        w.streams += ev.streams;
        w.goaway_retried += ev.goaway_retried;
        for (at, why) in ev.drops {
            let t = at.saturating_duration_since(self.start);
            *self.rec.h2_at(t).drops.entry(why).or_default() += 1;
        }
    }
}
