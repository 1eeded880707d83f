//! What the confirmation probe tested, and what its windows show beyond health: the
//! share of the load it silenced, whether the target was still working off a backlog
//! (its outstanding-work series above baseline and falling), and whether a heal came at
//! a time the silencing explains.

use serde::{Deserialize, Serialize};

use super::{EPS, Health, SloUsed, WindowHealth};
use crate::analysis::drain;
use crate::record::Window;

/// Silencing less than this share of the attempts tests nothing: the probe's windows
/// are then judged as the run's own.
pub const MIN_SILENCED: f64 = 0.10;

/// An outstanding-work series over the probe: above its baseline and falling when the
/// probe ended, it is still draining.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drain {
    pub series: String,
    /// Its highest value before the trigger (0 without one): the drained level.
    pub baseline: f64,
    /// At the probe's first scrape ...
    pub from: f64,
    /// ... and at its last.
    pub left: f64,
    /// How fast it fell over the probe, per second.
    pub per_s: f64,
    /// Back at baseline in this long if it went on falling at that rate.
    pub eta_ms: Option<u64>,
}

/// Retries and relogins ÷ attempts over the last `hold` windows before `stopped_ms`.
pub(super) fn silenced_share(windows: &[Window], stopped_ms: u64, hold: usize) -> Option<f64> {
    let before: Vec<&Window> = windows.iter().filter(|w| w.start_ms < stopped_ms).collect();
    let last = &before[before.len().saturating_sub(hold.max(1))..];
    let attempts: u64 = last.iter().map(|w| w.counts.attempts).sum();
    let silenced: u64 = last.iter().map(|w| w.counts.retries + w.counts.relogins).sum();
    (attempts > 0).then(|| silenced as f64 / attempts as f64)
}

/// The outstanding-work series (named like a queue, in flight, pending, a backlog) that
/// fell over `span` and were still above their baseline at its end. A label set missing
/// from a window whose scrape found other series counts as 0 (targets drop a gauge's
/// label set when it empties); a window with no series at all was not scraped.
pub(super) fn draining(all: &[Window], span: &[&Window], trigger_ms: u64) -> Vec<Drain> {
    let watched = drain::watched(all);
    let base = drain::baseline(all, &watched, std::time::Duration::from_millis(trigger_ms));
    let scraped: Vec<&&Window> = span.iter().filter(|w| !w.target.is_empty()).collect();
    let (Some(first), Some(last)) = (scraped.first(), scraped.last()) else {
        return Vec::new();
    };
    let secs = (last.start_ms.saturating_sub(first.start_ms)) as f64 / 1000.0;
    watched
        .into_iter()
        .filter_map(|k| {
            let at = |w: &Window| w.target.get(&k).copied().unwrap_or(0.0);
            let (from, left) = (at(first), at(last));
            let baseline = base.get(&k).copied().unwrap_or(0.0);
            if left <= baseline + EPS || left + EPS >= from || secs <= 0.0 {
                return None;
            }
            let per_s = (from - left) / secs;
            Some(Drain {
                eta_ms: Some(((left - baseline) / per_s * 1000.0).round() as u64),
                series: k,
                baseline,
                from,
                left,
                per_s,
            })
        })
        .collect()
}

/// Probe windows (before a heal) in which the target failed the way an outage does at
/// the baseline's load: unhealthy, nothing succeeding, every failure fast (no timeout,
/// p99 within the SLO). Silencing the retries explains a target that heals at once, or
/// after working off a queue (slow answers, partial goodput, a falling work series); it
/// does not explain one that went on refusing fast for a while with only the baseline
/// arriving and then came back.
pub(super) fn flat_down(health: &[WindowHealth], windows: &[&Window], slo: &SloUsed) -> usize {
    health
        .iter()
        .zip(windows)
        .filter(|(h, w)| {
            h.state == Health::Unhealthy
                && w.counts.logins_ok == 0
                && crate::outcome::TIMEOUT_CLASSES
                    .iter()
                    .all(|c| w.outcomes.get(*c).copied().unwrap_or(0) == 0)
                && h.p99_ms.is_none_or(|p| p <= slo.p99_ms + EPS)
        })
        .count()
}

/// How many such windows before a heal make it one the silencing does not explain:
/// half a hold, and never fewer than two (a first window may still hold the last
/// retries' echo).
pub(super) fn unexplained_after(hold: usize) -> usize {
    hold.div_ceil(2).max(2)
}
