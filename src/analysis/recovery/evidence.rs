//! The evidence a run that did not recover is judged on: did the target work before the
//! trigger, did the trigger raise the load, did the offered load go back to baseline,
//! did the target stay down, and what fed back into it meanwhile. Metastable needs all
//! of it; without the load rise it is an outage.

use super::{Baseline, EPS, Health, Phase, Post, SloUsed, WindowHealth};
use crate::units::{fmt_ms, pct};

/// Fresh arrivals per window count as "at baseline" up to
/// `LOAD_FACTOR × baseline mean + LOAD_SLACK`, and the storm raised the load when its
/// mean was above that.
const LOAD_FACTOR: f64 = 1.5;
const LOAD_SLACK: f64 = 2.0;

/// Did the target meet the SLO before the trigger?
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Before {
    Worked,
    /// It did not; why, in short (`success 40% < 99%`).
    Failed(String),
    /// No baseline, or too few completed logins in it to say.
    Unknown,
}

/// Judges the baseline as a whole against the SLO, as a window is judged. Not one
/// login succeeding needs no sample size to say the target did not work, and a
/// derived SLO cannot say it (it is derived from that 0 %).
pub(super) fn before(b: &Baseline, slo: &SloUsed) -> Before {
    let Some(sr) = b.success_rate else {
        return Before::Unknown;
    };
    if sr == 0.0 {
        return Before::Failed(format!(
            "no login of {} succeeded",
            crate::units::thousands(b.completed)
        ));
    }
    if b.completed < slo.min_requests.max(1) {
        return Before::Unknown;
    }
    let mut bad = Vec::new();
    if sr + EPS < slo.success_rate {
        bad.push(format!("success {} < {}", pct(sr), pct(slo.success_rate)));
    }
    if let Some(p) = b.p99_ms
        && p > slo.p99_ms + EPS
    {
        bad.push(format!("p99 {} > {}", fmt_ms(p), fmt_ms(slo.p99_ms)));
    }
    if bad.is_empty() {
        Before::Worked
    } else {
        Before::Failed(bad.join("; "))
    }
}

/// What the fresh arrivals (first attempts less relogins) and the target did from the
/// trigger on. Indexes are into the windows from the trigger on.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Load {
    /// Baseline mean fresh arrivals per window ...
    pub baseline: f64,
    /// ... and the most that still counts as baseline.
    pub bound: f64,
    /// Mean fresh arrivals per window from the trigger to the storm's end (at least the
    /// first window, for a storm that is one instant).
    pub storm: f64,
    /// From here to the end the fresh arrivals, averaged over any hold, were at
    /// baseline, for at least a hold; never before the storm's end.
    pub back_since: Option<usize>,
    /// From `back_since` (or the storm's end) to the end: most judged windows unhealthy,
    /// and the last `ceil(hold / 2)` judged ones too (down when the observation ended).
    pub stayed_down: bool,
    /// Retries and relogins from `back_since` (or the storm's end) to the end.
    pub retries: u64,
    pub relogins: u64,
}

impl Load {
    pub fn of(post: &Post, baseline: &Baseline, hold: usize) -> Load {
        let bound = LOAD_FACTOR * baseline.fresh_arrivals_per_window + LOAD_SLACK;
        let after = post
            .health
            .iter()
            .position(|h| h.phase == Phase::After)
            .unwrap_or(post.health.len());
        let storm = &post.health[..after.max(1).min(post.health.len())];
        let storm_mean = if storm.is_empty() {
            0.0
        } else {
            storm.iter().map(|h| h.fresh_arrivals).sum::<u64>() as f64 / storm.len() as f64
        };
        let back_since = back_since(post, after, hold, bound);
        let tail = back_since.unwrap_or(after);
        Load {
            baseline: baseline.fresh_arrivals_per_window,
            bound,
            storm: storm_mean,
            back_since,
            stayed_down: stayed_down(&post.health[tail..], hold.div_ceil(2).max(1)),
            retries: post.windows[tail..].iter().map(|w| w.counts.retries).sum(),
            relogins: post.windows[tail..].iter().map(|w| w.counts.relogins).sum(),
        }
    }

    /// Did the storm raise the fresh arrivals clearly above the baseline?
    pub fn raised(&self) -> bool {
        self.storm > self.bound + EPS
    }
}

/// The first window at or after `after` from which the fresh arrivals, averaged over
/// any `hold` consecutive windows, stayed within `bound` to the end, provided that
/// lasted a hold. Judged over a hold, not window by window: one noisy window of a few
/// arrivals must not undo a hold of evidence.
fn back_since(post: &Post, after: usize, hold: usize, bound: f64) -> Option<usize> {
    let fresh: Vec<u64> = post.health.iter().map(|h| h.fresh_arrivals).collect();
    let hold = hold.max(1);
    // The load is back after the start of the last hold whose mean is above the bound.
    let since = fresh
        .windows(hold)
        .rposition(|w| w.iter().sum::<u64>() as f64 / hold as f64 > bound)
        .map_or(0, |k| k + 1)
        .max(after);
    (fresh.len().saturating_sub(since) >= hold).then_some(since)
}

/// Over `health`, were most judged windows unhealthy, and the last `last` judged ones
/// all unhealthy? A target that is up when the observation ends, or up more often than
/// not, did not stay down, whatever else it did.
pub(super) fn stayed_down(health: &[WindowHealth], last: usize) -> bool {
    let judged: Vec<Health> = health
        .iter()
        .map(|h| h.state)
        .filter(|&s| s != Health::Unjudged)
        .collect();
    let unhealthy = judged.iter().filter(|&&s| s == Health::Unhealthy).count();
    unhealthy * 2 > judged.len()
        && judged.len() >= last
        && judged[judged.len() - last..].iter().all(|&s| s == Health::Unhealthy)
}
