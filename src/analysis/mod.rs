//! Analysis of a run's recorded windows: recovery against the SLO
//! ([`recovery`]), typed CI thresholds ([`gate`]), JUnit and Markdown output for CI
//! ([`junit`](mod@junit), [`summary`]), run-to-run comparison ([`compare`](mod@compare)) and the aggregation of
//! an intensity × seed sweep ([`sweep`]). Everything here is a pure function of the
//! windows: no clock, no network.

pub mod compare;
pub mod gate;
pub mod junit;
pub mod recovery;
pub mod summary;
pub mod sweep;

pub use compare::{Comparison, compare};
pub use gate::{GateError, Threshold, ThresholdResult, evaluate, parse, parse_all};
pub use junit::junit;
pub use recovery::{Recovery, SloSpec, Timeline, Verdict, analyze};
pub use summary::markdown;
pub use sweep::{Sweep, aggregate};

use hdrhistogram::Histogram;

use crate::record::{self, HistSummary, Window};

/// Adds the histograms picked from every window. Windows whose histogram does not
/// decode are left out and counted, so a report can say it is not exact.
pub(crate) fn merge_hists<'a>(parts: impl IntoIterator<Item = &'a HistSummary>) -> (Histogram<u64>, usize) {
    let mut total = record::new_hist();
    let mut skipped = 0;
    for p in parts {
        if p.count == 0 {
            continue;
        }
        match p.histogram() {
            Ok(h) => {
                if total.add(&h).is_err() {
                    skipped += 1;
                }
            }
            Err(_) => skipped += 1,
        }
    }
    (total, skipped)
}

/// The login latency histogram (from the intended instant) of all `windows`.
pub(crate) fn login_hist(windows: &[Window]) -> (Histogram<u64>, usize) {
    merge_hists(windows.iter().map(|w| &w.latency_ms))
}

/// The latency histogram of one step of the flow over all `windows`.
pub(crate) fn step_hist(windows: &[Window], step: &str) -> (Histogram<u64>, usize) {
    merge_hists(
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

/// `12.3%` with as many decimals as a share near 100 % needs to be told apart.
pub(crate) fn pct(share: f64) -> String {
    let p = share * 100.0;
    if p == p.round() {
        format!("{p:.0}%")
    } else if p > 99.0 && p < 100.0 {
        format!("{p:.2}%")
    } else {
        format!("{p:.1}%")
    }
}

/// A duration in milliseconds, as a person reads it.
pub(crate) fn fmt_ms(ms: f64) -> String {
    if ms > 0.0 && ms < 1.0 {
        return format!("{ms:.2}ms");
    }
    crate::units::format_duration(std::time::Duration::from_secs_f64(ms.max(0.0) / 1000.0))
}

#[cfg(test)]
pub(crate) mod testkit {
    //! Synthetic windows for the tests of every analysis module.
    use crate::record::{HistSummary, StepWindow, Window, new_hist};

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
            attempts: ok + failed,
            first_attempts: ok + failed,
            logins_ok: ok,
            logins_failed: failed,
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
        w.retries = retries.min(w.attempts);
        w.first_attempts = w.attempts - w.retries;
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
