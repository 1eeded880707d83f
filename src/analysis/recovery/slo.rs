//! The baseline before the trigger, and the SLO the analysis applies: each part from the
//! profile when given, otherwise derived from the baseline, otherwise a fixed default.

use std::time::Duration;

use super::{Baseline, FIXED_P99, FIXED_SUCCESS_RATE, MIN_HOLD, SloUsed, fresh, human_ms, ms};
use crate::analysis::us_to_ms;
use crate::profile::Slo;
use crate::record::{self, HistError, Window};
use crate::units::{fmt_ms, format_duration, pct};

/// Derived success rate is at most this, and this much below the baseline's.
const SUCCESS_CEILING: f64 = 0.99;
const SUCCESS_MARGIN: f64 = 0.01;
/// Derived p99 = max(P99_FACTOR × baseline p99, baseline p99 + P99_MARGIN).
const P99_FACTOR: f64 = 3.0;
const P99_MARGIN: Duration = Duration::from_millis(50);

/// The baseline of `windows` (those that end at or before the trigger). When their
/// latency histograms do not decode the baseline has no p99 and is not usable: an SLO
/// derived from part of them would look exact and not be. The error is handed back so
/// that the result can say so.
pub(super) fn baseline_of(windows: &[&Window], min_requests: u64) -> (Baseline, Result<(), HistError>) {
    let completed: u64 = windows
        .iter()
        .map(|w| w.counts.logins_ok + w.counts.logins_failed)
        .sum();
    let ok: u64 = windows.iter().map(|w| w.counts.logins_ok).sum();
    let n = windows.len();
    let per_window = |f: &dyn Fn(&Window) -> u64| {
        if n == 0 {
            0.0
        } else {
            windows.iter().map(|w| f(w)).sum::<u64>() as f64 / n as f64
        }
    };
    let hist = record::merge(windows.iter().map(|w| &w.latency_ms));
    let p99_ms = match &hist {
        Ok(h) if !h.is_empty() => Some(us_to_ms(h.value_at_quantile(0.99))),
        _ => None,
    };
    let baseline = Baseline {
        windows: n as u32,
        completed,
        success_rate: (completed > 0).then(|| ok as f64 / completed as f64),
        p99_ms,
        first_attempts_per_window: per_window(&|w| w.counts.first_attempts),
        attempts_per_window: per_window(&|w| w.counts.attempts),
        fresh_arrivals_per_window: per_window(&fresh),
        usable: completed >= min_requests.max(1) && p99_ms.is_some(),
    };
    (baseline, hist.map(|_| ()))
}

/// The SLO applied: the profile's parts, the rest derived from a usable baseline or,
/// without one, the fixed defaults; the hold rounded up to whole windows.
pub(super) fn slo_used(spec: &Slo, base: &Baseline, backoff_cap: Duration, window_ms: u64) -> SloUsed {
    let derive = base.usable;
    let fixed = !derive && (spec.success_rate.is_none() || spec.p99.is_none());
    let mut how = Vec::new();

    let success_rate = match (spec.success_rate, base.success_rate) {
        (Some(s), _) => {
            how.push(format!("success ≥ {} (profile)", pct(s)));
            s
        }
        (None, Some(b)) if derive => {
            let s = (b - SUCCESS_MARGIN).clamp(0.0, SUCCESS_CEILING);
            how.push(format!(
                "success ≥ {} (min(99%, baseline {} − 1 point))",
                pct(s),
                pct(b)
            ));
            s
        }
        _ => {
            how.push(format!("success ≥ {} (fixed default)", pct(FIXED_SUCCESS_RATE)));
            FIXED_SUCCESS_RATE
        }
    };
    let p99_ms = match (spec.p99, base.p99_ms) {
        (Some(p), _) => {
            let v = p.as_secs_f64() * 1000.0;
            how.push(format!("p99 ≤ {} (profile)", fmt_ms(v)));
            v
        }
        (None, Some(b)) if derive => {
            let v = (P99_FACTOR * b).max(b + P99_MARGIN.as_secs_f64() * 1000.0);
            how.push(format!(
                "p99 ≤ {} (max(3 × baseline {}, baseline + 50ms))",
                fmt_ms(v),
                fmt_ms(b)
            ));
            v
        }
        _ => {
            let v = FIXED_P99.as_secs_f64() * 1000.0;
            how.push(format!("p99 ≤ {} (fixed default)", fmt_ms(v)));
            v
        }
    };
    let (hold, hold_src) = match spec.hold {
        Some(h) => (h, "profile".to_string()),
        // Only what applies: clients that never wait between attempts have no cap to name.
        None if backoff_cap.is_zero() => (MIN_HOLD, "30s: the clients do not back off".to_string()),
        None => (
            MIN_HOLD.max(backoff_cap * 3),
            format!("max(30s, 3 × backoff cap {})", format_duration(backoff_cap)),
        ),
    };
    let window_ms = window_ms.max(1);
    let hold_windows = ms(hold).div_ceil(window_ms).max(1);
    let hold_ms = hold_windows * window_ms;
    how.push(format!(
        "hold {} = {} windows ({})",
        human_ms(hold_ms),
        hold_windows,
        hold_src
    ));
    if let Some(c) = spec.connected {
        how.push(format!("connected ≥ {} with heartbeat p99 within the p99", pct(c)));
    }
    let mut how = how.join(", ");
    if fixed {
        how = format!("no usable baseline, so fixed defaults: {how}");
    }
    SloUsed {
        success_rate,
        p99_ms,
        hold_ms,
        hold_windows: hold_windows.min(u32::MAX as u64) as u32,
        min_requests: spec.min_requests,
        tolerate: spec.tolerate,
        noise: spec.noise,
        connected: spec.connected,
        derived: spec.success_rate.is_none() || spec.p99.is_none() || spec.hold.is_none(),
        fixed_defaults: fixed,
        how,
    }
}

/// Can a window of `window` be judged at `baseline_rate_per_s` completed logins a
/// second? It needs `min_requests` of them (at least one). Once the storm has passed
/// only the baseline traffic is left, so when this is false the windows after the
/// storm go unjudged and the run ends `insufficient-data`: `validate` can warn before
/// anything is sent.
pub fn min_requests_reachable(baseline_rate_per_s: f64, window: Duration, min_requests: u64) -> bool {
    // Relative slack: 2.5/s over 4 s is 10 logins, not 9.999….
    let per_window = baseline_rate_per_s * window.as_secs_f64();
    per_window * (1.0 + 1e-9) >= min_requests.max(1) as f64
}
