//! Per-window recording. Every window keeps its own HdrHistograms (latency from the
//! intended instant, service time from the actual send, per step and for the whole
//! login) so that any percentile over any time range can be recomputed and runs from
//! several machines merge exactly. Windows are attributed by the *intended* instant
//! of the attempt: a window is what the users who wanted to log in then lived through.

use std::collections::{BTreeMap, VecDeque};
use std::io::Cursor;
use std::time::Duration;

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use serde::{Deserialize, Serialize};

mod stats;

pub use stats::EngineStats;

use crate::outcome::{Class, StepResult};

/// Significant figures kept by every histogram (0.1 % value resolution), as wrk2 does.
pub const SIGFIG: u8 = 3;

/// A histogram in microseconds, growing as values arrive.
pub fn new_hist() -> Histogram<u64> {
    Histogram::new(SIGFIG).expect("3 significant figures is a valid histogram")
}

fn micros(d: Duration) -> u64 {
    d.as_micros().min(u64::MAX as u128) as u64
}

/// Records into a growing histogram; `saturating_record` alone would clamp instead of
/// growing an auto-resizing one.
fn rec(h: &mut Histogram<u64>, v: u64) {
    if h.record(v).is_err() {
        h.saturating_record(v);
    }
}

/// A histogram as it travels in JSON: a few percentiles for people (milliseconds) and
/// the whole histogram (HdrHistogram V2 + deflate, base64) for machines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct HistSummary {
    pub count: u64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    /// HdrHistogram V2 compressed encoding, base64, values in microseconds.
    pub hist: String,
}

impl HistSummary {
    pub fn of(h: &Histogram<u64>) -> Self {
        let ms = |v: u64| (v as f64 / 1000.0 * 1000.0).round() / 1000.0;
        let q = |p: f64| {
            if h.is_empty() { 0.0 } else { ms(h.value_at_quantile(p)) }
        };
        HistSummary {
            count: h.len(),
            mean: if h.is_empty() {
                0.0
            } else {
                (h.mean() / 1000.0 * 1000.0).round() / 1000.0
            },
            p50: q(0.5),
            p90: q(0.9),
            p99: q(0.99),
            p999: q(0.999),
            max: if h.is_empty() { 0.0 } else { ms(h.max()) },
            hist: encode(h),
        }
    }

    /// The histogram behind the summary (empty if it carried none).
    pub fn histogram(&self) -> Result<Histogram<u64>, HistError> {
        decode(&self.hist)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HistError {
    #[error("histogram is not valid base64: {0}")]
    Base64(#[from] base64::DecodeError),
    #[error("histogram does not decode: {0:?}")]
    Decode(hdrhistogram::serialization::DeserializeError),
    #[error("histograms cannot be added: {0:?}")]
    Add(hdrhistogram::errors::AdditionError),
}

pub fn encode(h: &Histogram<u64>) -> String {
    let mut buf = Vec::new();
    V2DeflateSerializer::new()
        .serialize(h, &mut buf)
        .expect("serializing into a Vec cannot fail");
    base64::engine::general_purpose::STANDARD.encode(buf)
}

pub fn decode(s: &str) -> Result<Histogram<u64>, HistError> {
    if s.is_empty() {
        return Ok(new_hist());
    }
    let bytes = base64::engine::general_purpose::STANDARD.decode(s)?;
    let mut h: Histogram<u64> = Deserializer::new()
        .deserialize(&mut Cursor::new(bytes))
        .map_err(HistError::Decode)?;
    h.auto(true);
    Ok(h)
}

/// Adds the histogram of every summary into one.
pub fn merge<'a>(parts: impl IntoIterator<Item = &'a HistSummary>) -> Result<Histogram<u64>, HistError> {
    let mut total = new_hist();
    for p in parts {
        total.add(p.histogram()?).map_err(HistError::Add)?;
    }
    Ok(total)
}

/// One step of the login flow in one window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct StepWindow {
    pub name: String,
    pub ok: u64,
    pub failed: u64,
    pub latency_ms: HistSummary,
    pub service_ms: HistSummary,
}

/// One fixed time window of a run, as written in `report.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Window {
    pub index: u32,
    /// Start of the window, milliseconds from the run's start.
    pub start_ms: u64,
    pub len_ms: u64,
    /// Login attempts intended in this window that were sent (first attempts + retries).
    pub attempts: u64,
    /// Attempts that began a login: a client that started wanting to log in.
    pub first_attempts: u64,
    pub retries: u64,
    pub logins_ok: u64,
    pub logins_failed: u64,
    /// Clients that gave up (max attempts or retry budget) after an attempt in this window.
    pub gave_up: u64,
    /// Attempts the client's adaptive throttle refused to send.
    pub throttled: u64,
    /// Attempts the engine could not start (its in-flight ceiling was reached).
    pub unstarted: u64,
    pub reboots: u64,
    pub keepalives_ok: u64,
    pub keepalives_failed: u64,
    /// Sessions that a failed keepalive sent back to the login path.
    pub relogins: u64,
    pub outcomes: BTreeMap<String, u64>,
    /// Most attempts in flight at once during the window.
    pub in_flight_max: u64,
    /// Clients that wanted to log in and were not logged in at the end of the window
    /// (given-up clients included: they are locked out too).
    pub locked_out: u64,
    /// Actual send − intended instant.
    pub send_lag_ms: HistSummary,
    /// From the intended instant to the end of the attempt (what the user felt).
    pub latency_ms: HistSummary,
    /// From the actual send to the end of the attempt.
    pub service_ms: HistSummary,
    pub steps: Vec<StepWindow>,
    /// Series scraped from the target during the window (last value seen).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub target: BTreeMap<String, f64>,
}

impl Window {
    pub fn success_rate(&self) -> Option<f64> {
        let done = self.logins_ok + self.logins_failed;
        (done > 0).then(|| self.logins_ok as f64 / done as f64)
    }

    /// Adds another machine's window for the same interval (exact: counts add,
    /// histograms add, gauges add because shards own disjoint clients).
    pub fn merge(&mut self, other: &Window) -> Result<(), HistError> {
        self.attempts += other.attempts;
        self.first_attempts += other.first_attempts;
        self.retries += other.retries;
        self.logins_ok += other.logins_ok;
        self.logins_failed += other.logins_failed;
        self.gave_up += other.gave_up;
        self.throttled += other.throttled;
        self.unstarted += other.unstarted;
        self.reboots += other.reboots;
        self.keepalives_ok += other.keepalives_ok;
        self.keepalives_failed += other.keepalives_failed;
        self.relogins += other.relogins;
        for (k, v) in &other.outcomes {
            *self.outcomes.entry(k.clone()).or_default() += v;
        }
        self.in_flight_max += other.in_flight_max;
        self.locked_out += other.locked_out;
        self.send_lag_ms = HistSummary::of(&merge([&self.send_lag_ms, &other.send_lag_ms])?);
        self.latency_ms = HistSummary::of(&merge([&self.latency_ms, &other.latency_ms])?);
        self.service_ms = HistSummary::of(&merge([&self.service_ms, &other.service_ms])?);
        for (mine, theirs) in self.steps.iter_mut().zip(&other.steps) {
            mine.ok += theirs.ok;
            mine.failed += theirs.failed;
            mine.latency_ms = HistSummary::of(&merge([&mine.latency_ms, &theirs.latency_ms])?);
            mine.service_ms = HistSummary::of(&merge([&mine.service_ms, &theirs.service_ms])?);
        }
        Ok(())
    }
}

/// A login attempt as the engine hands it to the recorder.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptRecord {
    pub intended: Duration,
    pub first: bool,
    pub class: Class,
    pub send_lag: Duration,
    pub latency: Duration,
    pub service: Duration,
    pub steps: Vec<StepResult>,
}

struct StepHists {
    ok: u64,
    failed: u64,
    latency: Histogram<u64>,
    service: Histogram<u64>,
}

struct Live {
    w: Window,
    /// Outcome counts keyed by class; named only when the window closes (no string per
    /// attempt on the hot path).
    outcomes: Vec<(Class, u64)>,
    open: u64,
    lag: Histogram<u64>,
    latency: Histogram<u64>,
    service: Histogram<u64>,
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
    steps: Vec<String>,
    live: VecDeque<Live>,
    first_live: u32,
    closed: Vec<Window>,
    in_flight: u64,
    locked_out: u64,
}

impl Recorder {
    pub fn new(window: Duration, steps: Vec<String>) -> Self {
        assert!(!window.is_zero(), "validation rejects a zero window");
        Recorder {
            len: window,
            steps,
            live: VecDeque::new(),
            first_live: 0,
            closed: Vec::new(),
            in_flight: 0,
            locked_out: 0,
        }
    }

    pub fn window_len(&self) -> Duration {
        self.len
    }

    fn index_of(&self, t: Duration) -> u32 {
        (t.as_micros() / self.len.as_micros()) as u32
    }

    fn live_mut(&mut self, t: Duration) -> &mut Live {
        let idx = self.index_of(t).max(self.first_live);
        while self.first_live as usize + self.live.len() <= idx as usize {
            let next = self.first_live + self.live.len() as u32;
            let mut l = Live::new(next, self.len, &self.steps);
            l.w.locked_out = self.locked_out;
            l.w.in_flight_max = self.in_flight;
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
        let w = &mut l.w;
        match a.class {
            Class::Throttled => {
                w.throttled += 1;
                return;
            }
            Class::Unstarted => {
                w.unstarted += 1;
                return;
            }
            _ => {}
        }
        w.attempts += 1;
        if a.first {
            w.first_attempts += 1;
        } else {
            w.retries += 1;
        }
        if a.class.is_ok() {
            w.logins_ok += 1;
        } else {
            w.logins_failed += 1;
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
        let w = &mut self.live_mut(t).w;
        match what {
            Counter::GaveUp => w.gave_up += 1,
            Counter::Reboot => w.reboots += 1,
            Counter::KeepaliveOk => w.keepalives_ok += 1,
            Counter::KeepaliveFailed => w.keepalives_failed += 1,
            Counter::Relogin => w.relogins += 1,
        }
    }

    /// The number of clients locked out (wanting to log in, not logged in) as of `t`.
    pub fn set_locked_out(&mut self, t: Duration, n: u64) {
        self.locked_out = n;
        self.live_mut(t).w.locked_out = n;
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
            self.closed.push(l.close(&self.steps));
            self.first_live += 1;
            n += 1;
        }
        n
    }

    /// The last closed window, for live progress.
    pub fn last_closed(&self) -> Option<&Window> {
        self.closed.last()
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
            if l.w.index >= end_idx && l.w.attempts == 0 && l.open == 0 {
                break;
            }
            self.closed.push(l.close(&self.steps));
        }
        // The last window may have closed while the run drained; it carries the gauge as
        // it stands when the run ends.
        let locked_out = self.locked_out;
        if let Some(last) = self.closed.iter_mut().rev().find(|w| w.index < end_idx) {
            last.locked_out = locked_out;
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(intended_ms: u64, first: bool, class: Class, latency_ms: u64) -> AttemptRecord {
        AttemptRecord {
            intended: Duration::from_millis(intended_ms),
            first,
            class,
            send_lag: Duration::from_micros(50),
            latency: Duration::from_millis(latency_ms),
            service: Duration::from_millis(latency_ms.min(5)),
            steps: vec![StepResult {
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
        assert_eq!((w[0].attempts, w[0].first_attempts, w[0].logins_ok), (1, 1, 1));
        assert!((w[0].latency_ms.p99 - 1500.0).abs() < 2.0, "{}", w[0].latency_ms.p99);
        assert_eq!((w[1].retries, w[1].logins_failed), (1, 1));
        assert_eq!(w[1].outcomes.get("http_503_retry_after"), Some(&1));
        assert_eq!(w[1].success_rate(), Some(0.0));
        assert_eq!(w[2].success_rate(), None);
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
    fn histograms_round_trip_and_merge_exactly() {
        let mut a = new_hist();
        let mut b = new_hist();
        for v in 1..=1000u64 {
            a.record(v * 10).unwrap();
            b.record(v * 1000).unwrap();
        }
        let (sa, sb) = (HistSummary::of(&a), HistSummary::of(&b));
        let mut both = a.clone();
        both.add(&b).unwrap();
        let merged = merge([&sa, &sb]).unwrap();
        assert_eq!(merged, both);
        assert_eq!(merged.value_at_quantile(0.99), both.value_at_quantile(0.99));
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
        assert_eq!(w1[0].attempts, 20);
        assert_eq!(w1[0].latency_ms.count, 20);
        assert!(w1[0].latency_ms.p99 > 900.0);
        assert_eq!(w1[0].steps[0].ok, 20);
    }
}
