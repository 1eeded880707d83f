//! An HTTP/2 run's connection figures: what the transport's connections did since the
//! last pass (connects, streams, streams sent again after a GOAWAY, drops by cause),
//! into the windows they happened in; and the clients whose own connection dropped,
//! brought back at once (`client.session.reconnect: at-once`).

use std::cmp::Reverse;
use std::time::Duration;

use super::{Engine, TimerKind};
use crate::client::Phase;
use crate::profile::Reconnect;
use crate::units::micros;

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
            // A connection the warm-up opened and lost before the clock started.
            if at < self.start {
                continue;
            }
            let t = at.saturating_duration_since(self.start);
            *self.rec.h2_at(t).drops.entry(why).or_default() += 1;
        }
        let redials = self.transport.take_redials(self.part.index, self.part.count);
        let at_once = self
            .p
            .client
            .session
            .as_ref()
            .is_some_and(|s| s.reconnect == Reconnect::AtOnce);
        if !at_once || self.keepalive.is_empty() {
            return;
        }
        for client in redials {
            let Ok(client) = u32::try_from(client) else { continue };
            let Some(c) = self.clients.get((client / self.part.count) as usize) else {
                continue;
            };
            // A client logged in that lost its connection: its keepalive leaves now, on
            // a new one. (A rebooted or relogging client has no session to come back to.)
            if c.phase == Phase::LoggedIn {
                self.heap
                    .push(Reverse((micros(now), client, TimerKind::Redial, c.epoch)));
            }
        }
    }
}
