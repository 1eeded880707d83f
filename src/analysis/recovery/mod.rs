#![doc = include_str!("../RECOVERY.md")]
//!
//! One file per part of the definition: `slo` the baseline and the SLO actually
//! applied, `judge` the health of each window and runs of windows, `verdict` the
//! verdict rules, `evidence` what tells a feedback loop from an outage, `summary` the
//! sentence a person reads, `figures` what is counted after the trigger. [`analyze`]
//! runs them in that order.

mod evidence;
mod figures;
mod judge;
mod probe;
mod probe_rules;
mod probe_verdict;
mod shape;
mod slo;
mod summary;
mod thin;
mod tolerate;
mod trend;
mod verdict;

pub use figures::{Figures, LockedOut, given_up};
pub use probe::{Drain, Probe, ProbeOutcome, ProbeSpan, analyze_probed, probe_healed, probe_needed, wants_probe};
pub use slo::min_requests_reachable;

#[cfg(test)]
mod field_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod verdict_tests;

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::outcome::Verdict;
use crate::profile::Slo;
use crate::record::Window;
use crate::units::format_duration;

/// Success rate used when there is neither an SLO in the profile nor a baseline.
pub const FIXED_SUCCESS_RATE: f64 = 0.99;
/// p99 used when there is neither an SLO in the profile nor a baseline.
pub const FIXED_P99: Duration = Duration::from_secs(1);
/// The shortest hold DESIGN.md allows for a derived hold.
pub const MIN_HOLD: Duration = Duration::from_secs(30);
/// Floating-point slack when comparing a rate with its bound.
const EPS: f64 = 1e-9;

/// When things happened in the run, from its start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeline {
    /// End of the baseline phase: the storm's trigger.
    pub trigger_start: Duration,
    /// When the last planned first login of the storm was due.
    pub storm_end: Duration,
    /// End of the run or of the observation limit; windows starting later are ignored.
    pub observe_end: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Health {
    Healthy,
    Unhealthy,
    /// Too few completed logins to say.
    Unjudged,
    /// Missed the SLO, but within the sampling noise of its count or as an isolated
    /// blip in a healthy stretch (`slo.tolerate`): neither an outage nor a break in a
    /// hold, and no part of one either.
    Tolerated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Ends at or before the trigger.
    Baseline,
    /// Starts before the storm's end.
    Storm,
    /// Starts at or after the storm's end.
    After,
    /// Starts at or after the plan's end, in the confirmation probe (retries silenced).
    Probe,
}

/// One window as the analysis judged it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowHealth {
    pub index: u32,
    pub start_ms: u64,
    pub phase: Phase,
    pub state: Health,
    /// Why, in short: `p99 812ms > 500ms`, `success 80% < 99%`, `3 completed < 10 needed`.
    pub reason: String,
    /// Completed logins (ok + failed).
    pub completed: u64,
    pub success_rate: Option<f64>,
    pub p99_ms: Option<f64>,
    pub attempts: u64,
    pub first_attempts: u64,
    /// First attempts less relogins: clients arriving from outside the feedback loop.
    pub fresh_arrivals: u64,
    /// Attempts ÷ first attempts.
    pub retry_amplification: Option<f64>,
    /// Successful logins.
    pub goodput: u64,
    pub locked_out: u64,
    /// A connected population: connected ÷ should be online at the window's end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connected_share: Option<f64>,
    /// A connected population: the heartbeats' round-trip p99.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_p99_ms: Option<f64>,
    /// Judged over consecutive windows merged because each alone held too few logins:
    /// the merged span and its completed logins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged: Option<Merged>,
}

/// Windows judged together (`WindowHealth::merged`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Merged {
    pub from_ms: u64,
    pub to_ms: u64,
    pub completed: u64,
}

/// The SLO the analysis actually applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SloUsed {
    pub success_rate: f64,
    pub p99_ms: f64,
    /// The hold, rounded up to whole windows.
    pub hold_ms: u64,
    pub hold_windows: u32,
    pub min_requests: u64,
    /// Consecutive unhealthy windows tolerated as an isolated blip (`slo.tolerate`).
    #[serde(default = "default_tolerate")]
    pub tolerate: u32,
    /// Significance level of the noise test (`slo.noise`; 0: off).
    #[serde(default = "default_noise")]
    pub noise: f64,
    /// A connected population: the connected share a healthy window needs (its
    /// heartbeats' p99 then meets `p99_ms` too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connected: Option<f64>,
    /// Was any part derived rather than taken from the profile?
    pub derived: bool,
    /// Were the fixed defaults used for lack of a baseline?
    pub fixed_defaults: bool,
    /// One line: where each figure came from.
    pub how: String,
}

fn default_tolerate() -> u32 {
    crate::profile::DEFAULT_TOLERATE
}
fn default_noise() -> f64 {
    crate::profile::DEFAULT_NOISE
}

impl SloUsed {
    pub fn p99(&self) -> Duration {
        Duration::from_secs_f64(self.p99_ms / 1000.0)
    }
    pub fn hold(&self) -> Duration {
        Duration::from_millis(self.hold_ms)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    pub windows: u32,
    /// Completed logins in the baseline.
    pub completed: u64,
    pub success_rate: Option<f64>,
    pub p99_ms: Option<f64>,
    pub first_attempts_per_window: f64,
    /// Attempts (retries included) per window: the load the target served before.
    #[serde(default)]
    pub attempts_per_window: f64,
    /// First attempts less relogins, per window: the offered load a metastable target
    /// is compared against.
    pub fresh_arrivals_per_window: f64,
    /// Enough completed logins to derive an SLO from.
    pub usable: bool,
}

/// The recovery of one run. Times are milliseconds from the run's start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recovery {
    pub verdict: Verdict,
    /// One sentence for a person.
    pub summary: String,
    pub trigger_start_ms: u64,
    pub storm_end_ms: u64,
    pub observe_end_ms: u64,
    pub window_ms: u64,
    /// Start of the last recovering run (after the last relapse, if it recovered again);
    /// null when not recovered or never degraded.
    pub recovered_at_ms: Option<u64>,
    /// Recovered at − trigger start; 0 when never degraded, null when not recovered.
    pub recovery_time_ms: Option<u64>,
    /// Recovered at − storm end (0 when already healthy then); null when not recovered.
    pub recovery_time_from_storm_end_ms: Option<u64>,
    /// How far off `recovered_at_ms` may be (±), when it was judged over windows merged
    /// for thin traffic; absent when judged window by window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovered_at_uncertainty_ms: Option<u64>,
    /// Start of the relapse that ended the last recovery, for `recovered-then-relapsed`.
    pub relapsed_at_ms: Option<u64>,
    /// For `metastable`: since when the offered load had been back at baseline while
    /// the target stayed down.
    pub metastable_since_ms: Option<u64>,
    /// What was counted from the trigger on (written inline in report.json).
    #[serde(flatten)]
    pub figures: Figures,
    pub slo: SloUsed,
    pub baseline: Baseline,
    /// The confirmation probe, when one ran (`observe.confirm`).
    #[serde(default)]
    pub probe: Option<Probe>,
    /// A `metastable` verdict the probe confirmed: the target healed once retries and
    /// relogins stopped.
    #[serde(default)]
    pub confirmed: bool,
    /// Things a reader should know (fixed defaults, observation cut short, ...).
    pub notes: Vec<String>,
    pub health: Vec<WindowHealth>,
}

impl Recovery {
    /// The verdict as every output names it: `metastable, confirmed` when the probe
    /// confirmed it, otherwise its name.
    pub fn verdict_shown(&self) -> String {
        if self.confirmed {
            format!("{}, confirmed", self.verdict)
        } else {
            self.verdict.to_string()
        }
    }

    /// The probe in one line for a person (None when no probe ran): when retries were
    /// silenced and what the target did.
    pub fn probe_line(&self) -> Option<String> {
        let p = self.probe.as_ref()?;
        let silenced = format!(
            "retries and relogins silenced ({} of the load) from {} after the trigger for {}",
            p.silenced_share.map_or("none".to_string(), crate::units::pct),
            human_ms(p.retries_stopped_at_ms.saturating_sub(self.trigger_start_ms)),
            human_ms(p.ended_at_ms.saturating_sub(p.started_at_ms))
        );
        Some(match (p.outcome, p.recovered_after_ms) {
            (ProbeOutcome::Healed, Some(after)) => {
                format!("{silenced}: recovered {} after retries stopped", human_ms(after))
            }
            (ProbeOutcome::Healed, None) => format!("{silenced}: recovered"),
            (ProbeOutcome::StayedDown, _) => format!("{silenced}: stayed down, failing without load feedback"),
            (ProbeOutcome::Inconclusive, _) => format!("{silenced}: inconclusive (verdict before it kept)"),
            (ProbeOutcome::HealedIndependently, after) => format!(
                "{silenced}: recovered {} after retries stopped, at a time the silencing does not explain (no confirmation)",
                human_ms(after.unwrap_or(0))
            ),
            (ProbeOutcome::SilencedNothing, _) => {
                format!("{silenced}: silenced nothing measurable, judged as the run's own (no confirmation)")
            }
            (ProbeOutcome::Draining, _) => match p.draining.first() {
                Some(d) => format!(
                    "{silenced}: inconclusive, still draining ({} {:.0}, baseline {:.0}, falling {:.1}/s)",
                    d.series, d.left, d.baseline, d.per_s
                ),
                None => format!("{silenced}: inconclusive, still draining"),
            },
        })
    }

    pub fn recovery_time(&self) -> Option<Duration> {
        self.recovery_time_ms.map(Duration::from_millis)
    }
    pub fn recovery_time_from_storm_end(&self) -> Option<Duration> {
        self.recovery_time_from_storm_end_ms.map(Duration::from_millis)
    }
    pub fn recovered_at(&self) -> Option<Duration> {
        self.recovered_at_ms.map(Duration::from_millis)
    }
}

/// The run's instants, in milliseconds from its start.
#[derive(Debug, Clone, Copy)]
struct Span {
    window_ms: u64,
    trigger_ms: u64,
    /// Never before the trigger.
    storm_end_ms: u64,
    observe_end_ms: u64,
    /// End of the last window seen from the trigger on (at most `observe_end_ms`), or
    /// the trigger when there is none.
    observed_end_ms: u64,
}

impl Span {
    fn new(windows: &[Window], timeline: &Timeline) -> Span {
        let trigger_ms = ms(timeline.trigger_start);
        let observe_end_ms = ms(timeline.observe_end);
        Span {
            window_ms: windows.iter().map(|w| w.len_ms).find(|&l| l > 0).unwrap_or(1000),
            trigger_ms,
            storm_end_ms: ms(timeline.storm_end).max(trigger_ms),
            observe_end_ms,
            observed_end_ms: trigger_ms,
        }
    }
}

/// The windows from the one holding the trigger on, judged and as recorded, index for
/// index.
struct Post<'a> {
    health: &'a [WindowHealth],
    windows: &'a [&'a Window],
}

impl Post<'_> {
    fn count(&self, state: Health) -> usize {
        self.health.iter().filter(|h| h.state == state).count()
    }
    fn judged(&self) -> usize {
        self.health.len() - self.count(Health::Unjudged)
    }
}

fn ms(d: Duration) -> u64 {
    d.as_millis().min(u64::MAX as u128) as u64
}

fn human_ms(v: u64) -> String {
    format_duration(Duration::from_millis(v))
}

/// First attempts less relogins: the clients that came from outside the feedback loop.
fn fresh(w: &Window) -> u64 {
    w.counts.first_attempts.saturating_sub(w.counts.relogins)
}

/// Judges the recovery of a run from its windows. See `RECOVERY.md` for every rule.
pub fn analyze(windows: &[Window], timeline: &Timeline, slo: &Slo, backoff_cap: Duration) -> Recovery {
    let mut span = Span::new(windows, timeline);
    let observed: Vec<&Window> = windows.iter().filter(|w| w.start_ms < span.observe_end_ms).collect();
    let base_windows: Vec<&Window> = observed
        .iter()
        .copied()
        .filter(|w| w.start_ms + w.len_ms <= span.trigger_ms)
        .collect();
    let (baseline, base_hist) = slo::baseline_of(&base_windows, slo.min_requests);
    let slo = slo::slo_used(slo, &baseline, backoff_cap, span.window_ms);
    let mut health: Vec<WindowHealth> = observed.iter().map(|w| judge::judge(w, &slo, &span)).collect();
    thin::merge(&mut health, &observed, &slo);
    tolerate::tolerate(&mut health, &observed, &slo);
    let first_post = health
        .iter()
        .position(|h| h.phase != Phase::Baseline)
        .unwrap_or(health.len());
    let post = Post {
        health: &health[first_post..],
        windows: &observed[first_post..],
    };
    if let Some(w) = post.windows.last() {
        span.observed_end_ms = (w.start_ms + w.len_ms).min(span.observe_end_ms);
    }

    let found = verdict::decide(&post, &baseline, &slo, &span);
    let figures = figures::Figures::of(&post, &observed);
    let summary = summary::summary(&found, &slo, &span, figures.down_share);
    let mut notes = notes(&slo, &span, &post, &baseline);
    notes.extend(figures.locked_out.words());
    if let Err(e) = base_hist {
        notes.push(format!(
            "The baseline's latency histograms do not decode ({e}): no baseline p99, and no SLO derived from it."
        ));
    }

    Recovery {
        verdict: found.finding.verdict(),
        summary,
        trigger_start_ms: span.trigger_ms,
        storm_end_ms: span.storm_end_ms,
        observe_end_ms: span.observe_end_ms,
        window_ms: span.window_ms,
        recovered_at_ms: found.recovered_at_ms,
        recovery_time_ms: found.recovery_time_ms,
        recovery_time_from_storm_end_ms: found.from_storm_end_ms,
        recovered_at_uncertainty_ms: found.uncertainty_ms,
        relapsed_at_ms: found.relapsed_at_ms,
        metastable_since_ms: found.metastable_since_ms,
        figures,
        slo,
        baseline,
        probe: None,
        confirmed: false,
        notes,
        health,
    }
}

/// What a reader should know to trust the figures: fixed defaults, an observation cut
/// short, windows left unjudged.
fn notes(slo: &SloUsed, span: &Span, post: &Post, baseline: &Baseline) -> Vec<String> {
    let mut notes = Vec::new();
    if slo.fixed_defaults {
        notes.push(format!(
            "No usable baseline before the trigger: fixed SLO defaults used ({}).",
            slo.how
        ));
    }
    if span.observed_end_ms < span.storm_end_ms {
        notes.push(format!(
            "The observation ended {} before the storm did.",
            human_ms(span.storm_end_ms - span.observed_end_ms)
        ));
    }
    if baseline.windows > 0 {
        let per_window = baseline.completed as f64 / baseline.windows as f64;
        let rate = per_window * 1000.0 / span.window_ms as f64;
        if !min_requests_reachable(rate, Duration::from_millis(span.window_ms), slo.min_requests) {
            notes.push(format!(
                "The baseline completed {per_window:.1} logins per window, fewer than the {} a window needs to be judged (min_requests): once the storm has passed, windows cannot be judged. Use longer windows or a lower min_requests.",
                slo.min_requests.max(1)
            ));
        }
    }
    let tolerated: Vec<&WindowHealth> = post.health.iter().filter(|h| h.state == Health::Tolerated).collect();
    if !tolerated.is_empty() {
        let shown: Vec<String> = tolerated
            .iter()
            .take(3)
            .map(|h| {
                format!(
                    "at {} ({})",
                    human_ms(h.start_ms.saturating_sub(span.trigger_ms)),
                    h.reason
                )
            })
            .collect();
        notes.push(format!(
            "{} window(s) after the trigger missed the SLO but were tolerated, neither an outage nor a break in a hold: {}{}.",
            tolerated.len(),
            shown.join("; "),
            if tolerated.len() > 3 { "; …" } else { "" }
        ));
    }
    let merged = post.health.iter().filter(|h| h.merged.is_some()).count();
    if merged > 0 {
        notes.push(format!(
            "{merged} window(s) after the trigger held too few logins alone and were judged merged with their neighbours (at most a hold together, until {} completed)",
            slo.min_requests.max(1)
        ));
    }
    let unjudged = post.count(Health::Unjudged);
    if unjudged > 0 {
        notes.push(format!(
            "{unjudged} window(s) after the trigger had fewer than {} completed logins and were not judged.",
            slo.min_requests.max(1)
        ));
    }
    notes
}
