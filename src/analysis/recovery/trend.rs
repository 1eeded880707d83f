//! A target not recovered yet but getting there: a login limiter working off its queue,
//! locked-out clients falling and success rising over the run's end. Calling it
//! metastable or down would say it is stuck; the trend says it is not, how fast it
//! moves, and when it would be through if it held.

use super::{Phase, WindowHealth};

/// Locked-out clients must fall by at least this share, and success rise by at least
/// this many points, over the last third of the windows after the storm.
const FALL: f64 = 0.2;
const RISE: f64 = 0.05;
/// The last third holds at least this many windows.
const LEAST: usize = 3;

/// What the run's end showed.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Trend {
    /// Over this long (ms), from ...
    pub over_ms: u64,
    pub locked_out: (u64, u64),
    /// Clients a second leaving the locked-out count.
    pub locked_out_per_s: f64,
    /// Success rate at the first and last judged window of the stretch.
    pub success: (f64, f64),
    /// Success points a second (least squares over the judged windows).
    pub success_per_s: f64,
    /// If the trend held: every locked-out client in after this long (ms) ...
    pub all_in_ms: Option<u64>,
    /// ... and success at the SLO after this long (ms).
    pub slo_in_ms: Option<u64>,
}

/// The trend over the last third of the windows after the storm's end, when the
/// locked-out clients fell and success rose there; None otherwise.
pub(super) fn improving(health: &[WindowHealth], window_ms: u64, slo_success: f64) -> Option<Trend> {
    let after: Vec<&WindowHealth> = health.iter().filter(|h| h.phase == Phase::After).collect();
    let n = (after.len() / 3).max(LEAST);
    if after.len() < n {
        return None;
    }
    let last = &after[after.len() - n..];
    let (first, end) = (last[0], last[n - 1]);
    let over_ms = (end.start_ms - first.start_ms).max(window_ms);
    let secs = over_ms as f64 / 1000.0;
    let (lo0, lo1) = (first.locked_out, end.locked_out);
    if lo0 == 0 || (lo1 as f64) > lo0 as f64 * (1.0 - FALL) {
        return None;
    }
    let points: Vec<(f64, f64)> = last
        .iter()
        .filter(|h| h.completed > 0)
        .filter_map(|h| Some(((h.start_ms - first.start_ms) as f64 / 1000.0, h.success_rate?)))
        .collect();
    if points.len() < LEAST {
        return None;
    }
    let slope = least_squares(&points);
    let (s0, s1) = (points[0].1, points[points.len() - 1].1);
    if slope <= 0.0 || s1 - s0 < RISE {
        return None;
    }
    let per_s = (lo0 - lo1) as f64 / secs;
    Some(Trend {
        over_ms,
        locked_out: (lo0, lo1),
        locked_out_per_s: per_s,
        success: (s0, s1),
        success_per_s: slope,
        all_in_ms: (per_s > 0.0).then(|| (lo1 as f64 / per_s * 1000.0).round() as u64),
        slo_in_ms: Some((((slo_success - s1).max(0.0) / slope) * 1000.0).round() as u64),
    })
}

/// The slope of y over x.
fn least_squares(p: &[(f64, f64)]) -> f64 {
    let n = p.len() as f64;
    let (mx, my) = (
        p.iter().map(|q| q.0).sum::<f64>() / n,
        p.iter().map(|q| q.1).sum::<f64>() / n,
    );
    let sxx: f64 = p.iter().map(|q| (q.0 - mx).powi(2)).sum();
    let sxy: f64 = p.iter().map(|q| (q.0 - mx) * (q.1 - my)).sum();
    if sxx == 0.0 { 0.0 } else { sxy / sxx }
}
