//! The confirmation probe (`observe.confirm`): when a run ends not recovered, the
//! engine silences retries and relogins while the baseline goes on, and this judges
//! what the target did then. Healed: the feedback held it down (metastable, confirmed).
//! Stayed down: it fails without load feedback (down, an outage). Neither: the verdict
//! before the probe stands, with a note saying why the probe did not settle it.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::evidence::stayed_down;
use super::judge::{judge, recovering_run};
pub use super::probe_rules::Drain;
use super::{
    Health, Phase, Recovery, Span, Timeline, WindowHealth, analyze, human_ms, ms, probe_rules, probe_verdict, thin,
    tolerate,
};
use crate::outcome::Verdict;
use crate::profile::Slo;
use crate::record::Window;

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

/// What the target did while retries were silenced, and what that tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProbeOutcome {
    /// It held healthy for a hold once a measurable share of the load was silenced, in a
    /// way the silencing explains, after windows that did not show an outage:
    /// metastable, confirmed.
    Healed,
    /// It healed, but at a time no silencing explains (it went on failing fast with
    /// nothing succeeding at the baseline's load first), or after windows that showed an
    /// outage: an outage that ended, recovered, nothing confirmed.
    HealedIndependently,
    /// Too small a share of the load was retries or relogins for silencing them to test
    /// anything: the probe's windows are judged as the run's own.
    SilencedNothing,
    /// It stayed down to the probe's end with nothing left to drain: down, failing
    /// without load feedback.
    StayedDown,
    /// Its outstanding-work series were still above baseline and falling when the probe
    /// ended: inconclusive, still draining (never down).
    Draining,
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
    /// Retries and relogins ÷ attempts over the last hold before the plan's end: the
    /// share of the load the probe silenced (null: no attempt then).
    #[serde(default)]
    pub silenced_share: Option<f64>,
    /// The target's outstanding-work series still above baseline and falling when the
    /// probe ended (outcome `draining`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub draining: Vec<Drain>,
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
/// and the probe settles it as far as what it tested allows (`probe_verdict`).
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
    let in_probe: Vec<&Window> = windows
        .iter()
        .filter(|w| w.start_ms >= stopped_ms && w.start_ms < end_ms)
        .collect();
    let mut health: Vec<WindowHealth> = in_probe
        .iter()
        .map(|w| WindowHealth {
            phase: Phase::Probe,
            ..judge(w, &rec.slo, &span)
        })
        .collect();
    thin::merge(&mut health, &in_probe, &rec.slo);
    tolerate::tolerate(&mut health, &in_probe, &rec.slo);
    let hold = rec.slo.hold_windows as usize;
    let heal = recovering_run(&health, 0, hold, 0, span.window_ms).map(|(i, _)| i);
    let ran_out = timeline.observe_end >= probe.started + probe.limit;
    let share = probe_rules::silenced_share(windows, stopped_ms, hold);
    let upto = heal.unwrap_or(health.len());
    let seen = probe_verdict::Seen {
        heal_at_ms: heal.map(|i| health[i].start_ms),
        flat_before_heal: probe_rules::flat_down(&health[..upto], &in_probe[..upto], &rec.slo),
        drained_before_heal: !probe_rules::draining(windows, &in_probe[..upto], span.trigger_ms).is_empty(),
        draining: probe_rules::draining(windows, &in_probe, span.trigger_ms),
        stayed_down: ran_out && stayed_down(&health, hold.div_ceil(2).max(1)),
        ran_out,
        unhealthy: health.iter().filter(|h| h.state == Health::Unhealthy).count(),
        judged: health.iter().filter(|h| h.state != Health::Unjudged).count(),
        share,
    };
    let gave_up: u64 = in_probe.iter().map(|w| w.counts.gave_up).sum();
    rec.notes.push(format!(
        "The figures and notes above are of the run up to the plan's end ({} after the trigger); in the confirmation probe after it, {gave_up} clients gave up (their retries and relogins silenced).",
        human_ms(stopped_ms.saturating_sub(rec.trigger_start_ms))
    ));
    rec.observe_end_ms = end_ms;
    rec.health.extend(health);
    let before_verdict = rec.verdict;
    rec.probe = Some(Probe {
        retries_stopped_at_ms: stopped_ms,
        started_at_ms: ms(probe.started),
        limit_ms: ms(probe.limit),
        ended_at_ms: end_ms,
        outcome: ProbeOutcome::Inconclusive,
        verdict_before: before_verdict,
        healed_at_ms: seen.heal_at_ms,
        recovered_after_ms: seen.heal_at_ms.map(|t| t.saturating_sub(stopped_ms)),
        silenced_share: share,
        draining: Vec::new(),
    });
    if !wants_probe(before_verdict) {
        rec.notes.push(format!(
            "The confirmation probe ran, but the verdict before it ({before_verdict}) is not one it settles; it is kept."
        ));
        return rec;
    }
    if share.is_none_or(|s| s < probe_rules::MIN_SILENCED) {
        // Nothing was silenced: the probe is more of the same run, judged as its own.
        let mut whole = analyze(windows, timeline, slo, backoff_cap);
        for h in &mut whole.health {
            if h.start_ms >= stopped_ms {
                h.phase = Phase::Probe;
            }
        }
        whole.probe = rec.probe.take();
        rec = whole;
    }
    probe_verdict::apply(&mut rec, &seen, probe);
    rec
}

/// At the plan's end, on the windows before it: does the run want the probe? The same
/// analysis the report makes of those windows.
pub fn probe_needed(windows: &[Window], timeline: &Timeline, slo: &Slo, backoff_cap: Duration) -> bool {
    wants_probe(analyze(windows, timeline, slo, backoff_cap).verdict)
}

/// During the probe, on every window so far: has the target held healthy for a hold
/// since retries stopped (whether or not that confirms anything)? The same analysis the
/// report makes.
pub fn probe_healed(
    windows: &[Window],
    timeline: &Timeline,
    probe: ProbeSpan,
    slo: &Slo,
    backoff_cap: Duration,
) -> bool {
    analyze_probed(windows, timeline, Some(probe), slo, backoff_cap)
        .probe
        .is_some_and(|p| p.healed_at_ms.is_some())
}
