//! The sentence a person reads first: the finding and the evidence behind it, in words
//! that claim no more than the windows showed.

use super::evidence::Load;
use super::verdict::{Finding, Found, Why};
use super::{SloUsed, Span, human_ms};
use crate::units::{pct, thousands};

/// One sentence (or two) for a person: what happened and the figures behind it.
pub(super) fn summary(found: &Found, slo: &SloUsed, span: &Span, down_share: Option<f64>) -> String {
    let trigger_ms = span.trigger_ms;
    let since_trigger = |at: u64| human_ms(at.saturating_sub(trigger_ms));
    let observed = since_trigger(span.observed_end_ms);
    let down = pct(down_share.unwrap_or(0.0));
    match &found.finding {
        Finding::NothingJudged => format!(
            "Not judged: no window after the trigger had {} completed logins.",
            slo.min_requests.max(1)
        ),
        Finding::ThinAfterStorm(per) => format!(
            "Insufficient data after the storm: {} logins per unjudged window, the SLO needs {} (min_requests) to judge one, and even merged over a hold they were too few.",
            per_window(*per),
            slo.min_requests.max(1)
        ),
        Finding::NeverDegraded => "Never degraded: every judged window after the trigger met the SLO.".to_string(),
        Finding::Recovered | Finding::RecoveredThenRelapsed => {
            let rt = found.recovery_time_ms.unwrap_or(0);
            let after = match found.from_storm_end_ms {
                Some(0) | None => "already healthy when the storm ended".to_string(),
                Some(v) => format!("{} after the storm ended", human_ms(v)),
            };
            let within = found
                .uncertainty_ms
                .map(|u| format!(" (±{}: judged over merged windows, each alone too thin)", human_ms(u)))
                .unwrap_or_default();
            let mut s = format!("Recovered {} after the trigger{within} ({after})", human_ms(rt));
            if let Some(r) = found.relapsed_at_ms {
                s.push_str(&format!(", then relapsed {} after the trigger", since_trigger(r)));
            }
            s.push('.');
            for &(at, relapsed) in &found.earlier {
                s.push_str(&format!(
                    " An earlier recovery, {} after the trigger, relapsed {} after it.",
                    since_trigger(at),
                    since_trigger(relapsed)
                ));
            }
            s
        }
        Finding::Metastable => {
            let load = found.load.as_ref().expect("a metastable finding carries its load");
            let since = found.metastable_since_ms.unwrap_or(trigger_ms);
            format!(
                "Metastable: the storm raised the fresh arrivals to {} per window (baseline {}); they were back at baseline for {} (from {} after the trigger), yet the target stayed down, held by {} retries and {} relogins.",
                per_window(load.storm),
                per_window(load.baseline),
                human_ms(span.observed_end_ms.saturating_sub(since)),
                since_trigger(since),
                thousands(load.retries),
                thousands(load.relogins)
            )
        }
        Finding::Down(shape) => {
            let load = found.load.as_ref().expect("a down finding carries its load");
            let because = match shape {
                Some(why) => format!(
                    "although the load rose and went back and {} retries and {} relogins came back: {why}",
                    thousands(load.retries),
                    thousands(load.relogins)
                ),
                None => down_because(load),
            };
            format!(
                "Down without load feedback: not recovered within {observed} after the trigger, down {down} of the judged time and still down at the end, {because}: an outage, not a feedback loop."
            )
        }
        Finding::Improving(t) => {
            let eta = |v: Option<u64>| v.map_or("—".to_string(), human_ms);
            format!(
                "Improving, not recovered yet: over the last {} of the observation the locked-out clients fell from {} to {} ({:.1} a second) and success rose from {} to {} ({:.1} points a second). If the trend held, every locked-out client would be in within about {} and success would meet the SLO ({}) in about {}.",
                human_ms(t.over_ms),
                thousands(t.locked_out.0),
                thousands(t.locked_out.1),
                t.locked_out_per_s,
                pct(t.success.0),
                pct(t.success.1),
                t.success_per_s * 100.0,
                eta(t.all_in_ms),
                pct(slo.success_rate),
                eta(t.slo_in_ms)
            )
        }
        Finding::NeverHealthy(why) => format!(
            "Never healthy: the baseline before the trigger already missed the SLO ({why}); there was no healthy state to recover to."
        ),
        Finding::NotRecovered(Why::CannotTell(why)) => {
            let load = found.load.as_ref().expect("a not-recovered finding carries its load");
            format!(
                "Down or metastable: not recovered within {observed} after the trigger, down {down} of the judged time; the storm raised the fresh arrivals to {} per window (baseline {}) and they went back while {} retries and {} relogins went on, but {why}: an outage looks the same. Run with `observe.confirm` to tell them apart.",
                per_window(load.storm),
                per_window(load.baseline),
                thousands(load.retries),
                thousands(load.relogins)
            )
        }
        Finding::NotRecovered(Why::DownAtEnd(at)) => format!(
            "Not recovered: healthy after the trigger until {} after it, then down for the last {} of the observation, too little to tell an outage from a blip or to see a recovery.",
            since_trigger(*at),
            human_ms(span.observed_end_ms.saturating_sub(*at))
        ),
        Finding::NotRecovered(why) => format!(
            "Not recovered within {observed} after the trigger; down {down} of the judged time: {}.",
            match why {
                Why::NoBaseline => "no judged baseline to tell a feedback loop from an outage".to_string(),
                Why::NotBack => format!(
                    "the fresh arrivals were not back at baseline for a hold ({}) by the end",
                    human_ms(slo.hold_ms)
                ),
                // NotDown (DownAtEnd and CannotTell are told above).
                _ => format!("no healthy stretch lasted a hold ({})", human_ms(slo.hold_ms)),
            }
        ),
    }
}

/// Why a target that stayed down was not held down by its load.
fn down_because(load: &Load) -> String {
    if load.raised() {
        format!(
            "although the fresh arrivals were back at baseline (baseline {} per window) and no retry or relogin came back",
            per_window(load.baseline)
        )
    } else {
        format!(
            "although the storm never raised the fresh arrivals clearly above baseline ({} per window, baseline {})",
            per_window(load.storm),
            per_window(load.baseline)
        )
    }
}

fn per_window(v: f64) -> String {
    if (v - v.round()).abs() < 0.05 {
        thousands(v.round().max(0.0) as u64)
    } else {
        format!("{v:.1}")
    }
}
