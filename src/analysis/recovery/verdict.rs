//! The verdict rules of `RECOVERY.md`, first match wins, with the instants that go with
//! each verdict.

use super::evidence::{Before, Load, before};
use super::judge::{recovering_run, unhealthy_run};
use super::shape::{Shape, shape};
use super::trend::{Trend, improving};
use super::{Baseline, Health, Phase, Post, SloUsed, Span, WindowHealth};
use crate::outcome::Verdict;

/// What the windows show. Finer than [`Verdict`]: `Down` and `NeverHealthy` are not
/// verdicts yet, because the report pages match every verdict by name and belong to
/// another room; until they can show them, both are `not-recovered` and the summary
/// says which (see [`Finding::verdict`]).
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Finding {
    /// No window after the trigger could be judged.
    NothingJudged,
    /// Not recovered, but most windows after the storm were unjudged: too few logins
    /// (completed logins per window after the storm, on average) to tell.
    ThinAfterStorm(f64),
    NeverDegraded,
    Recovered,
    RecoveredThenRelapsed,
    /// Held down by its own feedback: the load rose, went back, the target stayed down
    /// while retries and relogins went on.
    Metastable,
    /// Down without load feedback: an outage. With the shape of the failure that shows
    /// it, when the load alone did not (a load that rose and went back under retries).
    Down(Option<String>),
    /// The baseline already missed the SLO; why, in short.
    NeverHealthy(String),
    /// Not recovered, but the locked-out clients fell and success rose at the end.
    Improving(Trend),
    NotRecovered(Why),
}

/// Why a run that did not recover is neither metastable nor down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Why {
    /// No judged baseline: nothing tells a feedback loop from an outage.
    NoBaseline,
    /// The fresh arrivals were not back at baseline for a hold by the end.
    NotBack,
    /// Up at the end, or more often up than down: it flapped.
    NotDown,
    /// Healthy after the trigger until it degraded at this instant (ms), in the last
    /// windows of the observation: too late to see a recovery, too short to call down.
    DownAtEnd(u64),
    /// Every part of a feedback loop but its shape: fast refusals, nothing succeeding,
    /// under a load above the baseline's; an outage looks the same. Why, in words.
    CannotTell(String),
}

impl Finding {
    pub fn verdict(&self) -> Verdict {
        match self {
            Finding::NothingJudged | Finding::ThinAfterStorm(_) => Verdict::InsufficientData,
            Finding::NeverDegraded => Verdict::NeverDegraded,
            Finding::Recovered => Verdict::Recovered,
            Finding::RecoveredThenRelapsed => Verdict::RecoveredThenRelapsed,
            Finding::Metastable => Verdict::Metastable,
            Finding::Down(_) => Verdict::Down,
            Finding::NeverHealthy(_) => Verdict::NeverHealthy,
            Finding::Improving(_) => Verdict::Improving,
            Finding::NotRecovered(_) => Verdict::NotRecovered,
        }
    }
}

/// A finding, the instants that go with it (milliseconds from the run's start), and
/// for a run that did not recover the load evidence it was judged on.
#[derive(Debug, Clone)]
pub(super) struct Found {
    pub finding: Finding,
    pub recovered_at_ms: Option<u64>,
    pub recovery_time_ms: Option<u64>,
    pub from_storm_end_ms: Option<u64>,
    pub relapsed_at_ms: Option<u64>,
    pub metastable_since_ms: Option<u64>,
    /// Recoveries lost to a relapse before the one in `recovered_at_ms`:
    /// `(recovered at, relapsed at)`.
    pub earlier: Vec<(u64, u64)>,
    pub load: Option<Load>,
    /// How far off the recovery instant may be, when it was judged over merged windows.
    pub uncertainty_ms: Option<u64>,
}

impl Found {
    fn new(finding: Finding) -> Found {
        Found {
            finding,
            recovered_at_ms: None,
            recovery_time_ms: None,
            from_storm_end_ms: None,
            relapsed_at_ms: None,
            metastable_since_ms: None,
            earlier: Vec::new(),
            load: None,
            uncertainty_ms: None,
        }
    }
}

/// Applies the verdict rules of `RECOVERY.md` to the windows from the trigger on.
pub(super) fn decide(post: &Post, baseline: &Baseline, slo: &SloUsed, span: &Span) -> Found {
    let hold = slo.hold_windows as usize;
    let relapse_len = hold.div_ceil(2).max(1);
    let trigger_ms = span.trigger_ms;
    if post.judged() == 0 {
        return Found::new(Finding::NothingJudged);
    }
    // Before never-degraded and recovered: with no healthy state before the trigger
    // there is nothing to recover to, and an SLO derived from a 0 % baseline is 0 %.
    let before = before(baseline, slo);
    if let Before::Failed(why) = before {
        return Found::new(Finding::NeverHealthy(why));
    }
    if post.count(Health::Unhealthy) == 0 {
        let mut found = Found::new(Finding::NeverDegraded);
        found.recovery_time_ms = Some(0);
        found.from_storm_end_ms = Some(0);
        return found;
    }
    let cycles = recoveries(post, hold, relapse_len, span);
    if let Some(&(start, relapse)) = cycles.last() {
        let mut found = Found::new(match relapse {
            Some(_) => Finding::RecoveredThenRelapsed,
            None => Finding::Recovered,
        });
        let at = post.health[start].start_ms.max(trigger_ms);
        found.recovered_at_ms = Some(at);
        found.recovery_time_ms = Some(at - trigger_ms);
        found.from_storm_end_ms = Some(at.saturating_sub(span.storm_end_ms));
        found.relapsed_at_ms = relapse.map(|k| post.health[k].start_ms);
        let span_of = |k: usize| post.health[k].merged.map(|m| m.to_ms - m.from_ms);
        found.uncertainty_ms = span_of(start).max(start.checked_sub(1).and_then(span_of));
        found.earlier = cycles[..cycles.len() - 1]
            .iter()
            .filter_map(|&(s, r)| Some((post.health[s].start_ms.max(trigger_ms), post.health[r?].start_ms)))
            .collect();
        return found;
    }
    if let Some(per_window) = thin_after_storm(post) {
        return Found::new(Finding::ThinAfterStorm(per_window));
    }
    if let Some(at) = down_at_end(post, hold) {
        return Found::new(Finding::NotRecovered(Why::DownAtEnd(at)));
    }
    if let Some(t) = improving(post.health, span.window_ms, slo.success_rate) {
        return Found::new(Finding::Improving(t));
    }
    not_recovered(post, baseline, slo, before == Before::Worked, trigger_ms)
}

/// The instant the target degraded when it had held healthy for a hold after the
/// trigger (or since it) and every unhealthy window after the trigger is in the last
/// run, which reaches the end but is shorter than a relapse: it went down in the last
/// windows, and nothing can be said of its recovery yet.
fn down_at_end(post: &Post, hold: usize) -> Option<u64> {
    let h = post.health;
    let last_good = h
        .iter()
        .rposition(|w| matches!(w.state, Health::Healthy | Health::Tolerated))?;
    let first_bad = h.iter().position(|w| w.state == Health::Unhealthy)?;
    let healthy_before = h[..first_bad].iter().filter(|w| w.state == Health::Healthy).count();
    let bad = h.iter().filter(|w| w.state == Health::Unhealthy).count();
    (first_bad > last_good && bad < hold.div_ceil(2).max(1) && healthy_before >= hold.min(first_bad).max(1))
        .then(|| h[first_bad].start_ms)
}

/// When most windows after the storm are unjudged, the completed logins per window
/// there: no run of them can hold the SLO for a hold, so "not recovered" would be a
/// statement about the traffic, not the target.
fn thin_after_storm(post: &Post) -> Option<f64> {
    let after: Vec<&WindowHealth> = post.health.iter().filter(|h| h.phase == Phase::After).collect();
    let thin: Vec<&&WindowHealth> = after.iter().filter(|h| h.state == Health::Unjudged).collect();
    // The figure is of the windows it describes: the unjudged ones.
    (thin.len() * 2 > after.len()).then(|| thin.iter().map(|h| h.completed).sum::<u64>() as f64 / thin.len() as f64)
}

/// Every recovery and the relapse that ended it, in order: `(first window of the
/// recovering run, first window of the relapse)`. The search starts at the first
/// unhealthy window, since a healthy stretch before the first degradation is no
/// recovery, and starts again after each relapse, so the last entry is the recovery
/// the run ended with (or the last one it lost).
fn recoveries(post: &Post, hold: usize, relapse_len: usize, span: &Span) -> Vec<(usize, Option<usize>)> {
    let mut cycles = Vec::new();
    let Some(mut from) = post.health.iter().position(|h| h.state == Health::Unhealthy) else {
        return cycles;
    };
    // Each relapse starts after its recovery's run, so `from` only grows.
    while let Some((start, end)) = recovering_run(post.health, from, hold, span.storm_end_ms, span.window_ms) {
        let relapse = unhealthy_run(post.health, end, relapse_len);
        cycles.push((start, relapse));
        match relapse {
            Some(k) => from = k,
            None => break,
        }
    }
    cycles
}

/// Metastable, down, or not recovered for another reason, from the load evidence.
/// `worked`: the baseline met the SLO (one that did not was found never healthy).
fn not_recovered(post: &Post, baseline: &Baseline, slo: &SloUsed, worked: bool, trigger_ms: u64) -> Found {
    let hold = slo.hold_windows as usize;
    let load = Load::of(post, baseline, hold);
    let finding = match (worked, load.back_since, load.stayed_down) {
        (false, ..) => Finding::NotRecovered(Why::NoBaseline),
        (true, None, _) => Finding::NotRecovered(Why::NotBack),
        (true, Some(_), false) => Finding::NotRecovered(Why::NotDown),
        (true, Some(k), true) if load.raised() && load.retries + load.relogins > 0 => {
            match shape(&post.health[k..], &post.windows[k..], slo, baseline.attempts_per_window) {
                Shape::Feedback => Finding::Metastable,
                Shape::Outage(why) => Finding::Down(Some(why)),
                Shape::CannotTell(why) => Finding::NotRecovered(Why::CannotTell(why)),
            }
        }
        (true, Some(_), true) => Finding::Down(None),
    };
    let mut found = Found::new(finding);
    if found.finding == Finding::Metastable {
        found.metastable_since_ms = load.back_since.map(|k| post.health[k].start_ms.max(trigger_ms));
    }
    found.load = Some(load);
    found
}
