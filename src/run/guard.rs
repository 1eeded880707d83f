//! The preflight guard: a storm whose first logins all fail the same way, before the
//! trigger, is a flow that cannot work (a capture that never matches, a wrong path, bad
//! credentials), not a target under load. It stops the run as the brake does (no new
//! attempts, those in flight drain) instead of hammering the target at 0 % for the
//! whole profile. It never judges a window that reaches the trigger, and any success,
//! a second failure class or a class that is load's doing (5xx, 429, a timeout, a
//! reset: what a storm is there to measure, even at baseline) disarms it for good.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::watch;

use crate::outcome::PreflightFacts;
use crate::record::Window;

/// Completed logins the guard judges by default (`run --preflight N`).
pub const DEFAULT_LOGINS: u64 = 20;

/// Classes that are the generator's own failures, never the target's answer.
const GENERATOR: [&str; 2] = ["ports", "fds"];

/// A class that says the flow as written cannot work against this target, whatever
/// its load: a capture or check that does not match, a client error other than 408
/// and 429 (a wrong path, method, body or credentials), an answer that is not HTTP, a
/// TLS failure.
pub fn flow_class(class: &str) -> bool {
    match class {
        "capture" | "check" | "head" | "tls" => true,
        _ => class
            .strip_prefix("http_4")
            .and_then(|rest| rest.parse::<u16>().ok())
            .is_some_and(|n| n != 8 && n != 29),
    }
}

#[derive(Debug)]
enum State {
    Watching,
    Disarmed,
    Fired(PreflightFacts),
}

/// Judges closed windows (in index order) until `need` logins completed before the trigger.
#[derive(Debug)]
pub struct Guard {
    need: u64,
    trigger_ms: u64,
    seen: BTreeMap<String, u64>,
    state: State,
    stop: Arc<watch::Sender<u8>>,
}

impl Guard {
    /// `need`: completed logins before the guard decides (at least 1); `trigger_ms`: the
    /// trigger's start, ms from the run's start.
    pub fn new(need: u64, trigger_ms: u64, stop: Arc<watch::Sender<u8>>) -> Guard {
        Guard {
            need: need.max(1),
            trigger_ms,
            seen: BTreeMap::new(),
            state: State::Watching,
            stop,
        }
    }

    pub fn window(&mut self, w: &Window) {
        if !matches!(self.state, State::Watching) {
            return;
        }
        if w.start_ms.saturating_add(w.len_ms) > self.trigger_ms {
            // The storm's own failures are what the run is for.
            self.state = State::Disarmed;
            return;
        }
        for (class, n) in &w.outcomes {
            if *n > 0 && !GENERATOR.contains(&class.as_str()) {
                *self.seen.entry(class.clone()).or_default() += n;
            }
        }
        if self.seen.len() > 1 || self.seen.keys().any(|c| !flow_class(c)) {
            self.state = State::Disarmed;
            return;
        }
        let Some((class, &logins)) = self.seen.iter().next() else {
            return;
        };
        if logins < self.need {
            return;
        }
        self.state = State::Fired(PreflightFacts {
            logins,
            class: class.clone(),
            example: None,
            at_ms: w.start_ms.saturating_add(w.len_ms),
            window: w.index,
        });
        super::abort::raise_stop(&self.stop);
    }

    /// What it found, when it stopped the run.
    pub fn fired(&self) -> Option<&PreflightFacts> {
        match &self.state {
            State::Fired(f) => Some(f),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(index: u32, outcomes: &[(&str, u64)]) -> Window {
        Window {
            index,
            start_ms: u64::from(index) * 1000,
            len_ms: 1000,
            outcomes: outcomes.iter().map(|(c, n)| (c.to_string(), *n)).collect(),
            ..Window::default()
        }
    }

    /// Feeds windows 0.. to a guard of `need` logins with the trigger at `trigger_ms`;
    /// returns what fired and the stop level.
    fn judge(need: u64, trigger_ms: u64, windows: &[&[(&str, u64)]]) -> (Option<PreflightFacts>, u8) {
        let (tx, rx) = watch::channel(0u8);
        let mut g = Guard::new(need, trigger_ms, Arc::new(tx));
        for (i, o) in windows.iter().enumerate() {
            g.window(&window(i as u32, o));
        }
        (g.fired().cloned(), *rx.borrow())
    }

    #[test]
    fn the_first_logins_all_failing_one_way_before_the_trigger_stop_the_run() {
        let (fired, stop) = judge(20, 10_000, &[&[("capture", 8)], &[], &[("capture", 15)]]);
        let f = fired.expect("fired");
        assert_eq!(
            (f.class.as_str(), f.logins, f.window, f.at_ms, stop),
            ("capture", 23, 2, 3000, 1)
        );
    }

    #[test]
    fn it_never_stops_a_run_with_a_success_two_classes_or_failures_from_the_trigger_on() {
        for windows in [
            // One login worked: the flow can work; the rest is the target's to answer.
            &[&[("capture", 10)][..], &[("ok", 1), ("capture", 30)]][..],
            // Two ways of failing: a target in trouble, not one broken flow.
            &[&[("http_503", 10)], &[("timeout", 15)]],
            // The failures come from the window that holds the trigger (at 2 s) on.
            &[&[("http_401", 5)], &[("http_401", 5)], &[("http_401", 50)]],
            // Too few before the trigger.
            &[&[("http_401", 19)]],
            // The target's load answers, even at baseline: what the storm measures.
            &[&[("http_503", 40)]],
            &[&[("http_429", 40)]],
            &[&[("http_503_retry_after", 40)]],
            &[&[("timeout", 40)]],
        ] {
            let (fired, stop) = judge(20, 2000, windows);
            assert_eq!((fired, stop), (None, 0), "{windows:?}");
        }
        // Disarmed is for good: later windows that would have fired do not.
        let (fired, _) = judge(20, 60_000, &[&[("ok", 1)], &[("capture", 40)]]);
        assert_eq!(fired, None);
    }

    #[test]
    fn only_classes_of_a_flow_that_cannot_work_stop_a_run() {
        for c in [
            "capture", "check", "head", "tls", "http_400", "http_401", "http_403", "http_404", "http_422",
        ] {
            assert!(flow_class(c), "{c}");
        }
        for c in [
            "ok",
            "http_408",
            "http_429",
            "http_500",
            "http_503",
            "http_429_retry_after",
            "timeout",
            "reset",
        ] {
            assert!(!flow_class(c), "{c}");
        }
    }

    #[test]
    fn the_generators_own_failures_are_not_the_targets() {
        let (fired, _) = judge(20, 10_000, &[&[("fds", 5), ("http_401", 25)]]);
        assert_eq!(fired.map(|f| (f.class, f.logins)), Some(("http_401".to_string(), 25)));
    }
}
