//! Thin traffic: after a storm only the baseline is left, and a window of it may hold
//! fewer than `min_requests` completed logins. Rather than give no recovery time at all,
//! consecutive unjudged windows after the trigger are judged together, as few as reach
//! `min_requests` and never more than a hold, and each takes the merged verdict; the
//! recovery instant is then known to the merged span only, and the result says so.

use super::judge::against;
use super::{Health, Merged, Phase, SloUsed, WindowHealth};
use crate::analysis::us_to_ms;
use crate::record::{self, Window};

/// Merges and judges runs of unjudged windows after the trigger (`health` index for
/// index with `windows`).
pub(super) fn merge(health: &mut [WindowHealth], windows: &[&Window], slo: &SloUsed) {
    if slo.connected.is_some() {
        // A connected population's windows are judged on its connections, not merged logins.
        return;
    }
    let need = slo.min_requests.max(1);
    let most = (slo.hold_windows as usize).max(1);
    let thin = |h: &WindowHealth| h.state == Health::Unjudged && h.phase != Phase::Baseline;
    let mut i = 0;
    while i < health.len() {
        if !thin(&health[i]) {
            i += 1;
            continue;
        }
        let mut j = i;
        let mut completed = 0;
        while j < health.len() && thin(&health[j]) && j - i < most && completed < need {
            completed += health[j].completed;
            j += 1;
        }
        if completed < need || j - i < 2 {
            // Too few even merged, or nothing to merge: the windows stay unjudged.
            i = j.max(i + 1);
            continue;
        }
        let group = &windows[i..j];
        let ok: u64 = group.iter().map(|w| w.counts.logins_ok).sum();
        let sr = ok as f64 / completed as f64;
        let Ok(hist) = record::merge(group.iter().map(|w| &w.latency_ms)) else {
            i = j;
            continue;
        };
        let p99 = if hist.is_empty() {
            0.0
        } else {
            us_to_ms(hist.value_at_quantile(0.99))
        };
        let (state, why) = against(sr, p99, slo);
        let span = Merged {
            from_ms: group[0].start_ms,
            to_ms: group[group.len() - 1].start_ms + group[group.len() - 1].len_ms,
            completed,
        };
        let reason = format!(
            "{why} over {} windows merged ({} completed: each alone had fewer than {need})",
            j - i,
            completed
        );
        for h in &mut health[i..j] {
            h.state = state;
            h.reason = reason.clone();
            h.merged = Some(span);
        }
        i = j;
    }
}
