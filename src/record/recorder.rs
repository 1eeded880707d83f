//! The recorder the engine's scheduler writes into: attempts land in the window of
//! their *intended* instant; a window closes once nothing intended in it is in flight.

use std::collections::VecDeque;
use std::time::Duration;

use hdrhistogram::Histogram;

use super::counts::Counts;
use super::hist::{HistSummary, micros, new_hist, rec};
use super::window::{StepWindow, Window};
use crate::outcome::Class;

/// `Retry-After` waits are recorded up to this (µs, an hour): a target may send any
/// number, and a histogram tracking 10^19 µs would cost a megabyte a window.
const TOLD_MAX_US: u64 = 3_600_000_000;

/// A login attempt as the engine hands it to the recorder.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptRecord {
    pub intended: Duration,
    pub first: bool,
    pub class: Class,
    pub send_lag: Duration,
    pub latency: Duration,
    pub service: Duration,
    pub steps: crate::outcome::Steps,
}

struct StepHists {
    ok: u64,
    failed: u64,
    latency: Histogram<u64>,
    service: Histogram<u64>,
}

pub(super) struct Live {
    pub(super) w: Window,
    /// A connected population's figures, when the run holds connections.
    pub(super) held: Option<super::held::LiveHeld>,
    /// Outcome counts keyed by class; named only when the window closes (no string per
    /// attempt on the hot path).
    outcomes: Vec<(Class, u64)>,
    open: u64,
    lag: Histogram<u64>,
    latency: Histogram<u64>,
    service: Histogram<u64>,
    /// `Retry-After` waits the target asked for.
    told: Histogram<u64>,
    steps: Vec<StepHists>,
}

impl Live {
    fn new(index: u32, len: Duration, steps: &[String]) -> Self {
        let len_ms = len.as_millis() as u64;
        Live {
            w: Window {
                index,
                start_ms: index as u64 * len_ms,
                len_ms,
                ..Window::default()
            },
            outcomes: Vec::new(),
            open: 0,
            lag: new_hist(),
            latency: new_hist(),
            service: new_hist(),
            told: new_hist(),
            held: None,
            steps: steps
                .iter()
                .map(|_| StepHists {
                    ok: 0,
                    failed: 0,
                    latency: new_hist(),
                    service: new_hist(),
                })
                .collect(),
        }
    }

    fn count(&mut self, class: Class) {
        match self.outcomes.iter_mut().find(|(c, _)| *c == class) {
            Some((_, n)) => *n += 1,
            None => self.outcomes.push((class, 1)),
        }
    }

    fn close(mut self, steps: &[String]) -> Window {
        for (class, n) in self.outcomes.drain(..) {
            *self.w.outcomes.entry(class.to_string()).or_default() += n;
        }
        self.w.send_lag_ms = HistSummary::of(&self.lag);
        self.w.latency_ms = HistSummary::of(&self.latency);
        self.w.service_ms = HistSummary::of(&self.service);
        self.w.retry_after_ms = HistSummary::of(&self.told);
        self.w.held = self.held.map(super::held::LiveHeld::close);
        self.w.steps = self
            .steps
            .iter()
            .zip(steps)
            .map(|(s, name)| StepWindow {
                name: name.clone(),
                ok: s.ok,
                failed: s.failed,
                latency_ms: HistSummary::of(&s.latency),
                service_ms: HistSummary::of(&s.service),
            })
            .collect();
        self.w
    }
}

/// Owned by the engine's scheduler (one owner, no locks). Windows stay live while
/// attempts intended in them are in flight, and are closed, in order, once none are.
pub struct Recorder {
    len: Duration,
    /// `len` in µs: a window's index is a u64 division, not `as_micros`' u128 one (a
    /// library call, three of them per request).
    len_us: u64,
    steps: Vec<String>,
    live: VecDeque<Live>,
    first_live: u32,
    closed: Vec<Window>,
    /// The counts of the closed windows, added up: live progress adds the live ones.
    closed_counts: Counts,
    in_flight: u64,
    locked_out: u64,
    /// A connected population: every window carries `held`, and the gauges (connected,
    /// should be online) carry over from window to window.
    pub(super) held: Option<(u64, u64)>,
    /// An HTTP/2 run: every window carries `h2`, with zeros where nothing happened.
    h2: bool,
}

impl Recorder {
    pub fn new(window: Duration, steps: Vec<String>) -> Self {
        assert!(!window.is_zero(), "validation rejects a zero window");
        Recorder {
            len: window,
            len_us: (window.as_micros() as u64).max(1),
            steps,
            live: VecDeque::new(),
            first_live: 0,
            closed: Vec::new(),
            closed_counts: Counts::default(),
            in_flight: 0,
            locked_out: 0,
            held: None,
            h2: false,
        }
    }

    /// The run speaks HTTP/2: its windows carry the connections' figures.
    pub fn record_h2(&mut self) {
        self.h2 = true;
    }

    /// The HTTP/2 figures of the window holding `t`.
    pub fn h2_at(&mut self, t: Duration) -> &mut super::H2Window {
        self.live_mut(t).w.h2.get_or_insert_default()
    }

    pub fn window_len(&self) -> Duration {
        self.len
    }

    fn index_of(&self, t: Duration) -> u32 {
        ((t.as_secs() * 1_000_000 + t.subsec_micros() as u64) / self.len_us) as u32
    }

    pub(super) fn live_mut(&mut self, t: Duration) -> &mut Live {
        let idx = self.index_of(t).max(self.first_live);
        while self.first_live as usize + self.live.len() <= idx as usize {
            let next = self.first_live + self.live.len() as u32;
            let mut l = Live::new(next, self.len, &self.steps);
            l.w.locked_out = self.locked_out;
            l.w.in_flight_end = self.in_flight;
            l.w.in_flight_max = self.in_flight;
            if let Some((connected, online)) = self.held {
                let mut h = super::held::LiveHeld::new();
                (h.w.connected, h.w.online) = (connected, online);
                l.held = Some(h);
            }
            if self.h2 {
                l.w.h2 = Some(Default::default());
            }
            self.live.push_back(l);
        }
        let pos = (idx - self.first_live) as usize;
        &mut self.live[pos]
    }

    /// An attempt is leaving now (`intended` is its planned instant).
    pub fn attempt_started(&mut self, intended: Duration, now: Duration) {
        self.in_flight += 1;
        let in_flight = self.in_flight;
        self.live_mut(intended).open += 1;
        let cur = self.live_mut(now);
        cur.w.in_flight_max = cur.w.in_flight_max.max(in_flight);
    }

    /// Records a finished attempt. Attempts that were never sent (throttled or
    /// unstarted) are recorded without `attempt_started`.
    pub fn attempt_done(&mut self, a: &AttemptRecord) {
        let sent = a.class.was_sent();
        if sent {
            self.in_flight = self.in_flight.saturating_sub(1);
        }
        let l = self.live_mut(a.intended);
        if sent {
            l.open = l.open.saturating_sub(1);
        }
        l.count(a.class);
        let c = &mut l.w.counts;
        match a.class {
            Class::Throttled => {
                c.throttled += 1;
                return;
            }
            Class::Unstarted => {
                c.unstarted += 1;
                return;
            }
            class if class.is_generator_side() => {
                c.generator_failed += 1;
                return;
            }
            _ => {}
        }
        c.attempts += 1;
        if a.first {
            c.first_attempts += 1;
        } else {
            c.retries += 1;
        }
        if a.class.is_ok() {
            c.logins_ok += 1;
        } else {
            c.logins_failed += 1;
        }
        rec(&mut l.lag, micros(a.send_lag));
        rec(&mut l.latency, micros(a.latency).max(1));
        rec(&mut l.service, micros(a.service).max(1));
        for (s, h) in a.steps.iter().zip(l.steps.iter_mut()) {
            if s.class.is_ok() {
                h.ok += 1;
            } else {
                h.failed += 1;
            }
            rec(&mut h.latency, micros(s.latency).max(1));
            rec(&mut h.service, micros(s.service).max(1));
        }
    }

    /// Something that happened at `t` and is counted in its window.
    pub fn count(&mut self, t: Duration, what: Counter) {
        let c = &mut self.live_mut(t).w.counts;
        match what {
            Counter::GaveUp => c.gave_up += 1,
            Counter::Reboot => c.reboots += 1,
            Counter::KeepaliveOk => c.keepalives_ok += 1,
            Counter::KeepaliveFailed => c.keepalives_failed += 1,
            Counter::Relogin => c.relogins += 1,
            Counter::RetryAfterInvalid => c.retry_after_invalid += 1,
            Counter::RetryAfterCapped => c.retry_after_capped += 1,
        }
    }

    /// The target asked the attempt intended at `intended` to wait `told` (Retry-After).
    pub fn retry_after(&mut self, intended: Duration, told: Duration) {
        let l = self.live_mut(intended);
        rec(&mut l.told, micros(told).min(TOLD_MAX_US));
    }

    /// The run's counts so far: the closed windows' and the live ones'.
    pub fn counts_so_far(&self) -> Counts {
        let mut c = self.closed_counts;
        for l in &self.live {
            c += &l.w.counts;
        }
        c
    }

    /// The number of clients locked out (wanting to log in, not logged in) as of `t`,
    /// beside the login attempts in flight then.
    pub fn set_locked_out(&mut self, t: Duration, n: u64) {
        self.locked_out = n;
        let in_flight = self.in_flight;
        let w = &mut self.live_mut(t).w;
        w.locked_out = n;
        w.in_flight_end = in_flight;
    }

    /// Target-side series observed at `t`.
    pub fn set_target(&mut self, t: Duration, series: impl IntoIterator<Item = (String, f64)>) {
        let w = &mut self.live_mut(t).w;
        w.target.extend(series);
    }

    /// Closes every window that ended before `now` and has nothing in flight.
    /// Returns how many windows were closed.
    pub fn close_ready(&mut self, now: Duration) -> usize {
        let now_idx = self.index_of(now);
        // Empty windows exist too: the timeline has no holes.
        self.live_mut(now);
        let mut n = 0;
        while let Some(front) = self.live.front() {
            if front.w.index >= now_idx || front.open > 0 {
                break;
            }
            let l = self.live.pop_front().expect("front exists");
            self.closed_counts += &l.w.counts;
            self.closed.push(l.close(&self.steps));
            self.first_live += 1;
            n += 1;
        }
        n
    }

    /// The last `n` windows closed, oldest first (those `close_ready` just closed).
    pub fn closed_tail(&self, n: usize) -> &[Window] {
        &self.closed[self.closed.len().saturating_sub(n)..]
    }

    /// The last closed window, for live progress.
    pub fn last_closed(&self) -> Option<&Window> {
        self.closed.last()
    }

    /// The windows before `end`, a window boundary before which every window has closed,
    /// as [`Recorder::finish`] at `end` would return them (the last one carries the gauge
    /// as it stands now), while the run goes on: what a decision at `end` is taken on.
    pub fn closed_until(&mut self, end: Duration) -> Vec<Window> {
        let end_idx = self.index_of(end);
        let locked_out = self.locked_out;
        if let Some(last) = self.closed.iter_mut().rev().find(|w| w.index < end_idx) {
            last.locked_out = locked_out;
        }
        self.closed.iter().filter(|w| w.index < end_idx).cloned().collect()
    }

    /// Closes everything up to (excluding) the window holding `end` and returns all
    /// windows. Attempts still open are abandoned by the caller before this.
    pub fn finish(mut self, end: Duration) -> Vec<Window> {
        let end_idx = self.index_of(end.saturating_sub(Duration::from_micros(1))) + 1;
        if end_idx > 0 {
            self.live_mut(Duration::from_micros(
                (end_idx as u64 - 1) * self.len.as_micros() as u64,
            ));
        }
        while let Some(l) = self.live.pop_front() {
            // Past the end, a window is kept while it holds attempts (intended at the
            // very end, sent or not): none may go uncounted.
            let c = &l.w.counts;
            if l.w.index >= end_idx && c.attempts + c.unstarted + c.throttled == 0 && l.open == 0 {
                break;
            }
            self.closed.push(l.close(&self.steps));
        }
        // The last window may have closed while the run drained; it carries the gauge as
        // it stands when the run ends.
        let (locked_out, in_flight) = (self.locked_out, self.in_flight);
        if let Some(last) = self.closed.iter_mut().rev().find(|w| w.index < end_idx) {
            last.locked_out = locked_out;
            last.in_flight_end = in_flight;
        }
        self.closed
    }
}

/// Events counted per window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    GaveUp,
    Reboot,
    KeepaliveOk,
    KeepaliveFailed,
    Relogin,
    RetryAfterInvalid,
    RetryAfterCapped,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::StepResult;

    fn attempt(intended_ms: u64, first: bool, class: Class, latency_ms: u64) -> AttemptRecord {
        AttemptRecord {
            intended: Duration::from_millis(intended_ms),
            first,
            class,
            send_lag: Duration::from_micros(50),
            latency: Duration::from_millis(latency_ms),
            service: Duration::from_millis(latency_ms.min(5)),
            steps: smallvec::smallvec![StepResult {
                class,
                latency: Duration::from_millis(latency_ms),
                service: Duration::from_millis(latency_ms.min(5)),
            }],
        }
    }

    #[test]
    fn attempts_land_in_the_window_of_their_intended_instant() {
        let mut r = Recorder::new(Duration::from_secs(1), vec!["auth".into()]);
        r.attempt_started(Duration::from_millis(900), Duration::from_millis(900));
        r.attempt_started(Duration::from_millis(1100), Duration::from_millis(1100));
        // The first completes 1.5 s later, in window 2: it still belongs to window 0.
        r.attempt_done(&attempt(900, true, Class::Ok, 1500));
        r.attempt_done(&attempt(1100, false, Class::RetryAfter(503), 3));
        assert_eq!(r.close_ready(Duration::from_millis(2500)), 2);
        let w = r.finish(Duration::from_secs(3));
        assert_eq!(w.len(), 3);
        assert_eq!(
            (w[0].counts.attempts, w[0].counts.first_attempts, w[0].counts.logins_ok),
            (1, 1, 1)
        );
        assert!((w[0].latency_ms.p99 - 1500.0).abs() < 2.0, "{}", w[0].latency_ms.p99);
        assert_eq!((w[1].counts.retries, w[1].counts.logins_failed), (1, 1));
        assert_eq!(w[1].outcomes.get("http_503_retry_after"), Some(&1));
        assert_eq!(w[1].success_rate(), Some(0.0));
        assert_eq!(w[2].success_rate(), None);
    }

    #[test]
    fn an_attempt_not_started_at_the_very_end_is_kept() {
        let mut r = Recorder::new(Duration::from_secs(1), vec!["auth".into()]);
        r.attempt_done(&attempt(2000, true, Class::Unstarted, 0));
        let w = r.finish(Duration::from_secs(2));
        assert_eq!(w.len(), 3);
        assert_eq!(w[2].counts.unstarted, 1);
    }

    #[test]
    fn the_generators_own_failures_are_not_logins_that_failed() {
        let mut r = Recorder::new(Duration::from_secs(1), vec!["auth".into()]);
        for class in [Class::Fds, Class::Ports] {
            r.attempt_started(Duration::from_millis(100), Duration::from_millis(100));
            r.attempt_done(&attempt(100, true, class, 1));
        }
        let w = r.finish(Duration::from_secs(1));
        let c = &w[0].counts;
        assert_eq!((c.generator_failed, c.attempts, c.logins_failed), (2, 0, 0));
        assert_eq!(
            (w[0].outcomes.get("fds"), w[0].outcomes.get("ports")),
            (Some(&1), Some(&1))
        );
    }

    #[test]
    fn a_window_with_attempts_in_flight_stays_open() {
        let mut r = Recorder::new(Duration::from_secs(1), vec!["auth".into()]);
        r.attempt_started(Duration::from_millis(100), Duration::from_millis(100));
        assert_eq!(r.close_ready(Duration::from_secs(5)), 0);
        r.attempt_done(&attempt(100, true, Class::Timeout, 2000));
        assert_eq!(r.close_ready(Duration::from_secs(5)), 5);
    }

    #[test]
    fn windows_merge_counts_and_histograms() {
        let mut r1 = Recorder::new(Duration::from_secs(1), vec!["auth".into()]);
        let mut r2 = Recorder::new(Duration::from_secs(1), vec!["auth".into()]);
        for i in 0..10 {
            r1.attempt_started(Duration::from_millis(i), Duration::from_millis(i));
            r1.attempt_done(&attempt(i, true, Class::Ok, 10));
            r2.attempt_started(Duration::from_millis(i), Duration::from_millis(i));
            r2.attempt_done(&attempt(i, true, Class::Ok, 1000));
        }
        let mut w1 = r1.finish(Duration::from_secs(1));
        let w2 = r2.finish(Duration::from_secs(1));
        w1[0].merge(&w2[0]).unwrap();
        assert_eq!(w1[0].counts.attempts, 20);
        assert_eq!(w1[0].latency_ms.count, 20);
        assert!(w1[0].latency_ms.p99 > 900.0);
        assert_eq!(w1[0].steps[0].ok, 20);
    }
}
