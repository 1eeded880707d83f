//! The engine at the plan's end when the run may probe: windows held open, the decision
//! taken on the windows before it, the probe begun. The baseline goes on while the
//! engines drain the plan's last attempts and decide: its users do not stop arriving
//! because the generator is deciding, and the probe's first window must hold its
//! arrivals (issue #22: a window with 0 of its 20 went unjudged). Only the probe's
//! baseline logins are sent then: no retry, no keepalive, nothing of the plan.

use super::*;

impl Engine<'_> {
    /// The plan has ended and the engines decide on a probe: windows from the plan's end
    /// on stay open, for the probe's attempts.
    pub fn hold_windows(&mut self, at: Duration) {
        self.close_cap = Some(at);
        // The probe's baseline follows the plan's without a gap (`send_baseline_due`).
        self.probe_shift_us = Some(0);
    }

    /// The windows before the plan's end, for the decision on a probe.
    pub fn windows_before(
        &mut self,
        end: Duration,
        now: Duration,
        progress: &mut dyn Progress,
    ) -> Vec<crate::record::Window> {
        let closed = self.rec.close_ready(now.min(end));
        for w in self.rec.closed_tail(closed) {
            progress.window(w);
        }
        self.rec.closed_until(end)
    }

    /// The probe begins at `started` and lasts until `until`: retries and relogins are
    /// silenced from now on, clients waiting on a retry give up (counted at `started`),
    /// the probe's background logins go on as they did while the engines decided, and
    /// the keepalives keep their spread.
    pub fn begin_probe(&mut self, plan_end: Duration, started: Duration, until: Duration) {
        self.silenced = true;
        self.close_cap = None;
        self.in_flight_after = 0;
        // The baseline went on while the engines drained and decided: no shift.
        self.probe_shift_us = Some(0);
        self.end = until;
        self.totals.planned = until;
        // The engines sent no keepalive while they drained and decided (the baseline's
        // logins went on): the keepalives due meanwhile move on by that pause instead of
        // all leaving at once when it begins.
        let pause = micros(started.saturating_sub(plan_end));
        self.heap = std::mem::take(&mut self.heap)
            .into_iter()
            .map(|Reverse((due, client, kind, epoch))| {
                let due = if kind == TimerKind::Keepalive {
                    due.saturating_add(pause)
                } else {
                    due
                };
                Reverse((due, client, kind, epoch))
            })
            .collect();
        let part = self.part.count;
        for Reverse((_, client, kind, epoch)) in self.heap.iter() {
            let c = &mut self.clients[(client / part) as usize];
            let waiting = match kind {
                TimerKind::Retry(_) => c.phase == Phase::Wanting,
                TimerKind::Reconnect(_) => c.phase == Phase::Connecting,
                TimerKind::Keepalive | TimerKind::Redial => false,
            };
            if waiting && c.epoch == *epoch {
                c.phase = Phase::GaveUp;
                self.rec.count(started, Counter::GaveUp);
                if let Some(h) = self.held.as_mut() {
                    h.silence_one();
                }
            }
        }
    }

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
