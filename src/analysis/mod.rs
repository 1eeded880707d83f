//! Analysis of a run's recorded windows, numbers only: recovery against the SLO
//! ([`recovery`]), typed CI thresholds ([`gate`]), the run's totals ([`totals`]),
//! run-to-run comparison ([`compare`](mod@compare)) and the aggregation of an
//! intensity × seed sweep ([`sweep`]). Everything here is a pure function of the
//! windows: no clock, no network, no rendering (that is `report`'s).

pub mod compare;
pub mod drain;
pub mod gate;
pub mod held;
pub mod map;
pub mod map_gate;
pub mod reached;
pub mod recovery;
pub mod sweep;
pub mod totals;

pub use compare::{Comparison, compare, compare_with};
pub use gate::{ThresholdResult, Unit, evaluate};
pub use recovery::{Recovery, Timeline, analyze, analyze_probed, min_requests_reachable};
pub use sweep::{Sweep, aggregate};
pub use totals::{StepTotals, Totals};

use hdrhistogram::Histogram;

use crate::record::{self, HistError, Window};

/// The login latency histogram (from the intended instant) of all `windows`. One window
/// whose histogram does not decode fails the whole merge: a percentile computed without
/// it would look exact and not be, so callers say "does not decode" instead.
pub(crate) fn login_hist(windows: &[Window]) -> Result<Histogram<u64>, HistError> {
    record::merge(windows.iter().map(|w| &w.latency_ms))
}

/// The latency histogram of one step of the flow over all `windows`; fails as
/// [`login_hist`] does.
pub(crate) fn step_hist(windows: &[Window], step: &str) -> Result<Histogram<u64>, HistError> {
    record::merge(
        windows
            .iter()
            .flat_map(|w| w.steps.iter())
            .filter(|s| s.name == step)
            .map(|s| &s.latency_ms),
    )
}

/// Step names in order of first appearance.
pub(crate) fn step_names(windows: &[Window]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for s in windows.iter().flat_map(|w| w.steps.iter()) {
        if !names.contains(&s.name) {
            names.push(s.name.clone());
        }
    }
    names
}

/// Microseconds (the histograms' unit) to milliseconds.
pub(crate) fn us_to_ms(v: u64) -> f64 {
    v as f64 / 1000.0
}

#[cfg(test)]
pub(crate) mod testkit {
    //! Synthetic windows for the tests of every analysis module.
    use crate::record::{Counts, HistSummary, StepWindow, Window, new_hist};

    /// A window of `len_ms` at `index` with `ok` successes and `failed` failures, every
    /// completed attempt taking `latency_ms`; all attempts are first attempts.
    pub fn win(index: u32, len_ms: u64, ok: u64, failed: u64, latency_ms: u64) -> Window {
        let mut h = new_hist();
        if ok + failed > 0 {
            h.record_n(latency_ms * 1000, ok + failed).unwrap();
        }
        let lat = HistSummary::of(&h);
        Window {
            index,
            start_ms: index as u64 * len_ms,
            len_ms,
            counts: Counts {
                attempts: ok + failed,
                first_attempts: ok + failed,
                logins_ok: ok,
                logins_failed: failed,
                ..Counts::default()
            },
            latency_ms: lat.clone(),
            service_ms: lat.clone(),
            steps: vec![StepWindow {
                name: "auth".into(),
                ok,
                failed,
                latency_ms: lat.clone(),
                service_ms: lat,
            }],
            ..Window::default()
        }
    }

    /// Sets how many of the window's attempts were retries (the rest first attempts).
    pub fn with_retries(mut w: Window, retries: u64) -> Window {
        w.counts.retries = retries.min(w.counts.attempts);
        w.counts.first_attempts = w.counts.attempts - w.counts.retries;
        w
    }

    /// One-second windows from a compact script: `(ok, failed, latency_ms)` each.
    pub fn run(spec: &[(u64, u64, u64)]) -> Vec<Window> {
        spec.iter()
            .enumerate()
            .map(|(i, &(ok, failed, lat))| win(i as u32, 1000, ok, failed, lat))
            .collect()
    }
}
