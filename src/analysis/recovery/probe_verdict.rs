//! The verdict the confirmation probe leaves, built on what it tested (RECOVERY.md's
//! probe table): it confirms a feedback loop only when it silenced a measurable share of
//! the load and the target healed in a way the silencing explains, after windows that
//! did not already show an outage; a target still working off its backlog is still
//! draining, never down.

use super::probe::{ProbeOutcome, ProbeSpan};
use super::probe_rules::{Drain, MIN_SILENCED, unexplained_after};
use super::{Recovery, human_ms, ms};
use crate::outcome::Verdict;
use crate::units::pct;

/// What the probe's windows showed (see `analyze_probed`).
pub(super) struct Seen {
    /// Start of the run of healthy windows that held for a hold, when one did.
    pub heal_at_ms: Option<u64>,
    /// Probe windows before the heal that failed as an outage does.
    pub flat_before_heal: usize,
    /// An outstanding-work series fell before the heal.
    pub drained_before_heal: bool,
    /// Outstanding-work series still above baseline and falling at the probe's end.
    pub draining: Vec<Drain>,
    pub stayed_down: bool,
    /// The probe ran its whole length.
    pub ran_out: bool,
    pub unhealthy: usize,
    pub judged: usize,
    pub share: Option<f64>,
}

/// Settles `rec` (analysed up to the plan's end, or as a whole when nothing was
/// silenced) with what the probe saw.
pub(super) fn apply(rec: &mut Recovery, seen: &Seen, probe: ProbeSpan) {
    let Some(p) = rec.probe.as_ref() else { return };
    let (stopped_ms, end_ms) = (p.retries_stopped_at_ms, rec.observe_end_ms);
    let before = p.verdict_before;
    let trigger_ms = rec.trigger_start_ms;
    let since_trigger = |t: u64| human_ms(t.saturating_sub(trigger_ms));
    let share_words = seen.share.map_or("no attempt".to_string(), pct);
    let ran_for = human_ms(end_ms.saturating_sub(ms(probe.started)));
    let hold = rec.slo.hold_windows as usize;
    let was = rec.summary.clone();
    let (outcome, summary) = if seen.share.is_none_or(|s| s < MIN_SILENCED) {
        (
            ProbeOutcome::SilencedNothing,
            format!(
                "{was} The confirmation probe confirms nothing: it silenced nothing measurable ({share_words} of the attempts in the last hold before it were retries or relogins, fewer than {}), so its windows were judged as the run's own.",
                pct(MIN_SILENCED)
            ),
        )
    } else if let Some(heal) = seen.heal_at_ms {
        let after = heal.saturating_sub(stopped_ms);
        // A feedback loop seen before the probe may take a while to cool down once
        // silenced (a failure ratio decaying, a suspension timing out): a heal after it
        // is the silencing's. Refusals that fit an outage as well, going on at the
        // baseline's load with nothing draining, are not.
        let flat = before != Verdict::Metastable
            && seen.flat_before_heal >= unexplained_after(hold)
            && !seen.drained_before_heal;
        if before == Verdict::Down || flat {
            let why = if before == Verdict::Down {
                "the windows before the probe already showed an outage".to_string()
            } else {
                format!(
                    "with {share_words} of the load silenced it went on failing for {} windows, nothing succeeding and every failure fast at the baseline's load, and then came back",
                    seen.flat_before_heal
                )
            };
            rec.verdict = Verdict::Recovered;
            rec.recovered_at_ms = Some(heal);
            rec.recovery_time_ms = Some(heal.saturating_sub(rec.trigger_start_ms));
            rec.recovery_time_from_storm_end_ms = Some(heal.saturating_sub(rec.storm_end_ms));
            rec.relapsed_at_ms = None;
            rec.metastable_since_ms = None;
            (
                ProbeOutcome::HealedIndependently,
                format!(
                    "Recovered {} after the trigger, in the confirmation probe ({} after retries stopped), at a time the silencing does not explain: {why}. An outage that ended, not a feedback loop the probe confirmed. Before the probe: {was}",
                    since_trigger(heal),
                    human_ms(after)
                ),
            )
        } else {
            rec.verdict = Verdict::Metastable;
            rec.confirmed = true;
            clear_recovery(rec);
            (
                ProbeOutcome::Healed,
                format!(
                    "Metastable, confirmed: recovered {} after retries stopped. The confirmation probe silenced the retries and relogins ({share_words} of the attempts in the last hold before it) {} after the trigger while the baseline went on, and the target held healthy for a hold ({}). Before the probe: {was}",
                    human_ms(after),
                    since_trigger(stopped_ms),
                    human_ms(rec.slo.hold_ms),
                ),
            )
        }
    } else if let Some(d) = seen.draining.first() {
        if rec.verdict == Verdict::Down {
            rec.verdict = Verdict::NotRecovered;
        }
        clear_recovery(rec);
        let eta = d
            .eta_ms
            .map(|e| format!(": at that rate back at baseline in about {}", human_ms(e)))
            .unwrap_or_default();
        (
            ProbeOutcome::Draining,
            format!(
                "Still draining, inconclusive: with retries and relogins silenced for {ran_for} ({share_words} of the load) the target had not caught up: its {} was {} when the probe ended (baseline {}), falling {}/s from {}{eta}. A longer `observe.confirm` would tell. Before the probe: {was}",
                d.series,
                num(d.left),
                num(d.baseline),
                num(d.per_s),
                num(d.from)
            ),
        )
    } else if seen.stayed_down {
        rec.verdict = Verdict::Down;
        clear_recovery(rec);
        (
            ProbeOutcome::StayedDown,
            format!(
                "Down: failing without load feedback (an outage, not a feedback loop). With retries and relogins silenced for {ran_for} ({share_words} of the load) and only the baseline arriving, the target stayed down ({} of {} judged probe windows unhealthy) with no backlog left draining. Before the probe: {was}",
                seen.unhealthy, seen.judged,
            ),
        )
    } else {
        let why = if !seen.ran_out {
            format!("it was cut short after {ran_for} of {}", human_ms(ms(probe.limit)))
        } else if seen.judged == 0 {
            format!(
                "none of its windows had {} completed logins to be judged",
                rec.slo.min_requests.max(1)
            )
        } else {
            format!(
                "the target neither held healthy for a hold ({}) nor stayed down ({} of its judged windows unhealthy)",
                human_ms(rec.slo.hold_ms),
                pct(seen.unhealthy as f64 / seen.judged as f64)
            )
        };
        rec.notes.push(format!(
            "The confirmation probe (retries and relogins silenced from {} after the trigger) was inconclusive: {why}. The verdict is the one before it.",
            since_trigger(stopped_ms)
        ));
        (ProbeOutcome::Inconclusive, was)
    };
    rec.summary = summary;
    if let Some(p) = rec.probe.as_mut() {
        p.outcome = outcome;
        if outcome == ProbeOutcome::Draining {
            p.draining = seen.draining.clone();
        }
    }
}

/// A run the probe judged did not recover by itself: a recovery it lost to a relapse
/// before the probe is not one it ended with.
fn clear_recovery(rec: &mut Recovery) {
    rec.recovered_at_ms = None;
    rec.recovery_time_ms = None;
    rec.recovery_time_from_storm_end_ms = None;
    rec.recovered_at_uncertainty_ms = None;
}

fn num(v: f64) -> String {
    if (v - v.round()).abs() < 0.05 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}
