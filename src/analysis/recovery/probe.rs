//! The confirmation probe (`observe.confirm`): when a run ends not recovered, the
//! engine silences retries and relogins while the baseline goes on, and this judges
//! what the target did then. Healed: the feedback held it down (metastable, confirmed).
//! Stayed down: it fails without load feedback (down, an outage). Neither: the verdict
//! before the probe stands, with a note saying why the probe did not settle it.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::evidence::stayed_down;
use super::judge::{judge, recovering_run};
use super::{Health, Phase, Recovery, Span, Timeline, WindowHealth, analyze, human_ms, ms};
use crate::outcome::Verdict;
use crate::profile::Slo;
use crate::record::Window;
use crate::units::pct;

/// When the probe ran, as the engine reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeSpan {
    /// The plan's end: no retry or relogin was sent after it.
    pub retries_stopped: Duration,
    /// When sending resumed with retries silenced.
    pub started: Duration,
    /// Its longest run (`observe.confirm`).
    pub limit: Duration,
}

/// What the target did while retries were silenced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProbeOutcome {
    /// It held healthy for a hold: metastable, confirmed.
    Healed,
    /// It stayed down to the probe's end: down, failing without load feedback.
    StayedDown,
    /// Neither could be told (cut short, too few logins, flapping): the verdict before
    /// the probe stands.
    Inconclusive,
}

/// The probe as `report.json` writes it (`recovery.probe`). Times are milliseconds from
/// the run's start; its windows are those marked `phase: probe` in `recovery.health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    pub retries_stopped_at_ms: u64,
    pub started_at_ms: u64,
    pub limit_ms: u64,
    pub ended_at_ms: u64,
    pub outcome: ProbeOutcome,
    /// The verdict the windows before the probe gave.
    pub verdict_before: Verdict,
    /// Start of the healthy run that held for a hold (healed only).
    pub healed_at_ms: Option<u64>,
    /// Healed at − retries stopped (healed only).
    pub recovered_after_ms: Option<u64>,
}

impl ProbeSpan {
    /// As a report recorded it, for analysing its windows again.
    pub fn of(p: &Probe) -> ProbeSpan {
        ProbeSpan {
            retries_stopped: Duration::from_millis(p.retries_stopped_at_ms),
            started: Duration::from_millis(p.started_at_ms),
            limit: Duration::from_millis(p.limit_ms),
        }
    }
}

/// Verdicts of a run that ended not recovered and may have been held down by its own
/// feedback: the probe runs after these only. A target that never worked, never
/// degraded, recovered, or gave too little to judge keeps its own verdict.
pub fn wants_probe(v: Verdict) -> bool {
    matches!(
        v,
        Verdict::NotRecovered | Verdict::Metastable | Verdict::Down | Verdict::RecoveredThenRelapsed
    )
}

/// [`analyze`], with the probe's windows judged apart when one ran: the verdict before
/// it comes from the windows before the plan's end (the ones the engine decided on),
/// and the probe turns it into `metastable` (confirmed) or `down`.
pub fn analyze_probed(
    windows: &[Window],
    timeline: &Timeline,
    probe: Option<ProbeSpan>,
    slo: &Slo,
    backoff_cap: Duration,
) -> Recovery {
    let Some(probe) = probe else {
        return analyze(windows, timeline, slo, backoff_cap);
    };
    let before = Timeline {
        observe_end: probe.retries_stopped.min(timeline.observe_end),
        ..*timeline
    };
    let mut rec = analyze(windows, &before, slo, backoff_cap);
    let span = Span::new(windows, timeline);
    let (stopped_ms, end_ms) = (ms(probe.retries_stopped), ms(timeline.observe_end));
    let health: Vec<WindowHealth> = windows
        .iter()
        .filter(|w| w.start_ms >= stopped_ms && w.start_ms < end_ms)
        .map(|w| WindowHealth {
            phase: Phase::Probe,
            ..judge(w, &rec.slo, &span)
        })
        .collect();
    let hold = rec.slo.hold_windows as usize;
    let healed_at = recovering_run(&health, 0, hold, 0, span.window_ms).map(|(i, _)| health[i].start_ms);
    let ran_out = timeline.observe_end >= probe.started + probe.limit;
    let down = ran_out && stayed_down(&health, hold.div_ceil(2).max(1));
    let outcome = match (healed_at, down) {
        (Some(_), _) => ProbeOutcome::Healed,
        (None, true) => ProbeOutcome::StayedDown,
        (None, false) => ProbeOutcome::Inconclusive,
    };
    let before_verdict = rec.verdict;
    let counts = (
        health.iter().filter(|h| h.state == Health::Unhealthy).count(),
        health.iter().filter(|h| h.state != Health::Unjudged).count(),
    );
    let gave_up: u64 = windows
        .iter()
        .filter(|w| w.start_ms >= stopped_ms && w.start_ms < end_ms)
        .map(|w| w.counts.gave_up)
        .sum();
    rec.notes.push(format!(
        "The figures and notes above are of the run up to the plan's end ({} after the trigger); in the confirmation probe after it, {gave_up} clients gave up (their retries and relogins silenced).",
        human_ms(stopped_ms.saturating_sub(rec.trigger_start_ms))
    ));
    rec.observe_end_ms = end_ms;
    rec.health.extend(health);
    rec.probe = Some(Probe {
        retries_stopped_at_ms: stopped_ms,
        started_at_ms: ms(probe.started),
        limit_ms: ms(probe.limit),
        ended_at_ms: end_ms,
        outcome,
        verdict_before: before_verdict,
        healed_at_ms: healed_at,
        recovered_after_ms: healed_at.map(|t| t.saturating_sub(stopped_ms)),
    });
    if !wants_probe(before_verdict) {
        rec.notes.push(format!(
            "The confirmation probe ran, but the verdict before it ({before_verdict}) is not one it settles; it is kept."
        ));
        return rec;
    }
    let was = rec.summary.clone();
    match outcome {
        ProbeOutcome::Healed => {
            let after = healed_at.unwrap_or(stopped_ms).saturating_sub(stopped_ms);
            rec.verdict = Verdict::Metastable;
            rec.confirmed = true;
            not_recovered(&mut rec);
            rec.summary = format!(
                "Metastable, confirmed: recovered {} after retries stopped. The confirmation probe silenced retries and relogins {} after the trigger while the baseline went on, and the target held healthy for a hold ({}). Before the probe: {was}",
                human_ms(after),
                human_ms(stopped_ms.saturating_sub(rec.trigger_start_ms)),
                human_ms(rec.slo.hold_ms),
            );
        }
        ProbeOutcome::StayedDown => {
            rec.verdict = Verdict::Down;
            not_recovered(&mut rec);
            rec.summary = format!(
                "Down: failing without load feedback (an outage, not a feedback loop). With retries and relogins silenced for {} and only the baseline arriving, the target stayed down ({} of {} judged probe windows unhealthy). Before the probe: {was}",
                human_ms(end_ms.saturating_sub(ms(probe.started))),
                counts.0,
                counts.1,
            );
        }
        ProbeOutcome::Inconclusive => {
            let why = if !ran_out {
                format!(
                    "it was cut short after {} of {}",
                    human_ms(end_ms.saturating_sub(ms(probe.started))),
                    human_ms(ms(probe.limit))
                )
            } else if counts.1 == 0 {
                format!(
                    "none of its windows had {} completed logins to be judged",
                    rec.slo.min_requests.max(1)
                )
            } else {
                format!(
                    "the target neither held healthy for a hold ({}) nor stayed down ({} of its judged windows unhealthy)",
                    human_ms(rec.slo.hold_ms),
                    pct(counts.0 as f64 / counts.1 as f64)
                )
            };
            rec.notes.push(format!(
                "The confirmation probe (retries and relogins silenced from {} after the trigger) was inconclusive: {why}. The verdict is the one before it.",
                human_ms(stopped_ms.saturating_sub(rec.trigger_start_ms))
            ));
        }
    }
    rec
}

/// A run the probe judged did not recover by itself: a recovery it lost to a relapse
/// before the probe is not one it ended with.
fn not_recovered(rec: &mut Recovery) {
    rec.recovered_at_ms = None;
    rec.recovery_time_ms = None;
    rec.recovery_time_from_storm_end_ms = None;
}

/// At the plan's end, on the windows before it: does the run want the probe? The same
/// analysis the report makes of those windows.
pub fn probe_needed(windows: &[Window], timeline: &Timeline, slo: &Slo, backoff_cap: Duration) -> bool {
    wants_probe(analyze(windows, timeline, slo, backoff_cap).verdict)
}

/// During the probe, on every window so far: has the target held healthy for a hold
/// since retries stopped? The same analysis the report makes.
pub fn probe_healed(
    windows: &[Window],
    timeline: &Timeline,
    probe: ProbeSpan,
    slo: &Slo,
    backoff_cap: Duration,
) -> bool {
    analyze_probed(windows, timeline, Some(probe), slo, backoff_cap)
        .probe
        .is_some_and(|p| p.outcome == ProbeOutcome::Healed)
}
