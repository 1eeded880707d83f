//! The verdict rules, first match wins, with the times that go with each verdict, and
//! the sentence that tells a person what the windows showed.

use super::judge::{recovering_run, unhealthy_run};
use super::{Baseline, Health, Post, SloUsed, Span, human_ms};
use crate::outcome::Verdict;
use crate::units::pct;

/// Fresh arrivals per window count as "back at baseline" up to
/// `LOAD_FACTOR × baseline mean + LOAD_SLACK`.
const LOAD_FACTOR: f64 = 1.5;
const LOAD_SLACK: f64 = 2.0;

/// A verdict and the instants that go with it (milliseconds from the run's start).
#[derive(Debug, Clone)]
pub(super) struct Found {
    pub verdict: Verdict,
    pub recovered_at_ms: Option<u64>,
    pub recovery_time_ms: Option<u64>,
    pub from_storm_end_ms: Option<u64>,
    pub relapsed_at_ms: Option<u64>,
    pub metastable_since_ms: Option<u64>,
}

impl Found {
    fn new(verdict: Verdict) -> Found {
        Found {
            verdict,
            recovered_at_ms: None,
            recovery_time_ms: None,
            from_storm_end_ms: None,
            relapsed_at_ms: None,
            metastable_since_ms: None,
        }
    }
}

/// Applies the verdict rules of `RECOVERY.md` to the windows from the trigger on.
pub(super) fn decide(post: &Post, baseline: &Baseline, slo: &SloUsed, span: &Span) -> Found {
    let hold = slo.hold_windows as usize;
    let relapse_len = hold.div_ceil(2).max(1);
    let trigger_ms = span.trigger_ms;
    let mut found = Found::new(Verdict::InsufficientData);
    found.verdict = if post.judged() == 0 {
        Verdict::InsufficientData
    } else if post.count(Health::Unhealthy) == 0 {
        found.recovery_time_ms = Some(0);
        found.from_storm_end_ms = Some(0);
        Verdict::NeverDegraded
    } else if let Some((start, end)) = recovering_run(post.health, hold, span.storm_end_ms, span.window_ms) {
        let at = post.health[start].start_ms.max(trigger_ms);
        found.recovered_at_ms = Some(at);
        found.recovery_time_ms = Some(at - trigger_ms);
        found.from_storm_end_ms = Some(at.saturating_sub(span.storm_end_ms));
        match unhealthy_run(post.health, end, relapse_len) {
            Some(k) => {
                found.relapsed_at_ms = Some(post.health[k].start_ms);
                Verdict::RecoveredThenRelapsed
            }
            None => Verdict::Recovered,
        }
    } else {
        let limit = LOAD_FACTOR * baseline.fresh_arrivals_per_window + LOAD_SLACK;
        let since = post
            .health
            .iter()
            .rposition(|h| h.fresh_arrivals as f64 > limit)
            .map_or(0, |k| k + 1);
        let tail = &post.health[since..];
        let tail_unhealthy = tail.iter().filter(|h| h.state == Health::Unhealthy).count();
        let feedback: u64 = post.windows[since..].iter().map(|w| w.retries + w.relogins).sum();
        if tail.len() >= hold && tail_unhealthy >= relapse_len && feedback > 0 {
            found.metastable_since_ms = Some(tail[0].start_ms.max(trigger_ms));
            Verdict::Metastable
        } else {
            Verdict::NotRecovered
        }
    };
    found
}

/// One sentence for a person: the verdict and the figures behind it.
pub(super) fn summary(found: &Found, slo: &SloUsed, span: &Span, down_share: Option<f64>) -> String {
    let trigger_ms = span.trigger_ms;
    match found.verdict {
        Verdict::InsufficientData => format!(
            "Not judged: no window after the trigger had {} completed logins.",
            slo.min_requests.max(1)
        ),
        Verdict::NeverDegraded => "Never degraded: every judged window after the trigger met the SLO.".to_string(),
        Verdict::Recovered | Verdict::RecoveredThenRelapsed => {
            let rt = found.recovery_time_ms.unwrap_or(0);
            let after = match found.from_storm_end_ms {
                Some(0) | None => "already healthy when the storm ended".to_string(),
                Some(v) => format!("{} after the storm ended", human_ms(v)),
            };
            let mut s = format!("Recovered {} after the trigger ({after})", human_ms(rt));
            if let Some(r) = found.relapsed_at_ms {
                s.push_str(&format!(
                    ", then relapsed {} after the trigger",
                    human_ms(r.saturating_sub(trigger_ms))
                ));
            }
            s.push('.');
            s
        }
        Verdict::NotRecovered => format!(
            "Not recovered within {} after the trigger; down {} of the judged time.",
            human_ms(span.observed_end_ms.saturating_sub(trigger_ms)),
            pct(down_share.unwrap_or(0.0))
        ),
        Verdict::Metastable => {
            let since = found.metastable_since_ms.unwrap_or(trigger_ms);
            format!(
                "Metastable: not recovered although the offered load had been back at baseline for {} (from {} after the trigger); retries and relogins kept the target down.",
                human_ms(span.observed_end_ms.saturating_sub(since)),
                human_ms(since - trigger_ms)
            )
        }
    }
}
