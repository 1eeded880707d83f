//! The baseline goes on while the engines drain the plan's last attempts and decide on
//! a confirmation probe: its users do not stop arriving because the generator is
//! deciding, and the probe's first window must hold its arrivals (issue #22: a window
//! with 0 of its 20 went unjudged). Only the probe's baseline logins are sent then: no
//! retry, no keepalive, nothing of the plan.

use super::*;

impl Engine<'_> {
    /// Sends the probe's baseline logins due by `now_us` (the plan's events all sent).
    /// Returns how many fell due.
    pub fn send_baseline_due(&mut self, now_us: u64, now: Duration) -> u64 {
        let mut due = 0;
        while self.cursor >= self.plan.events.len() {
            let Some(ev) = self.next_event() else { break };
            if ev.at_us > now_us {
                break;
            }
            self.probe_cursor += 1;
            self.plan_event(ev.client, ev.kind, ev.at(), now);
            due += 1;
        }
        due
    }

    /// When the next baseline login of the probe is due (µs), if one is.
    pub fn next_baseline_due(&self) -> Option<u64> {
        (self.cursor >= self.plan.events.len())
            .then(|| self.next_event().map(|ev| ev.at_us))
            .flatten()
    }

    /// Login attempts in flight that were intended before the plan's end: those the
    /// decision on a probe waits for (the baseline's since then land after it).
    pub fn in_flight_before(&self) -> u64 {
        self.in_flight.saturating_sub(self.in_flight_after)
    }
}
