//! The three chapters under the verdict: the storm, the collapse, the recovery (or
//! not), in words, from the windows and the analysis.

use serde::Serialize;

use crate::analysis::Recovery;
use crate::analysis::recovery::Health;
use crate::outcome::Verdict;
use crate::record::Window;
use crate::report::Report;
use crate::report::terminal::thousands;
use crate::units::{fmt_ms, pct};

/// One part of the story the charts tell: the storm, the collapse, the recovery.
#[derive(Serialize)]
pub(super) struct Chapter {
    title: &'static str,
    text: String,
    class: &'static str,
}

/// The largest value of `f` over `windows` and the start of the first window holding it.
fn peak(windows: &[&Window], f: &dyn Fn(&Window) -> f64) -> Option<(f64, u64)> {
    windows
        .iter()
        .map(|w| (f(w), w.start_ms))
        .fold(None, |best: Option<(f64, u64)>, (v, at)| match best {
            Some((b, _)) if b >= v => best,
            _ => Some((v, at)),
        })
}

/// Storm, collapse, recovery (or not); nothing when the run was not analysed.
pub(super) fn story(r: &Report) -> Vec<Chapter> {
    let Some(rec) = &r.recovery else {
        return Vec::new();
    };
    let after: Vec<&Window> = r
        .windows
        .iter()
        .filter(|w| w.start_ms + w.len_ms > rec.trigger_start_ms)
        .collect();
    let end = r.windows.last().map_or(r.plan.ended_ms, |w| w.start_ms + w.len_ms);
    let collapsed = match never_worked(r, rec) {
        Some(c) => c,
        None => collapse(rec, &after),
    };
    let mut chapters = vec![storm(r, rec, &after), collapsed, recovery(rec, end)];
    if let Some(held) = super::held::story(r) {
        for (c, words) in chapters.iter_mut().zip([held.storm, held.collapse, held.recovery]) {
            c.text = format!("{} {words}", c.text);
        }
    }
    chapters
}

fn storm(r: &Report, rec: &Recovery, after: &[&Window]) -> Chapter {
    let per_s = |w: &Window, v: u64| v as f64 * 1000.0 / w.len_ms.max(1) as f64;
    // The warm-up is not the storm, but a reader should know the online clients held
    // their sessions when it began (or which did not).
    let warmup = crate::report::terminal::warmup_line(&r.engine.stats.warmup)
        .map(|w| format!("Warm-up: {w}. "))
        .unwrap_or_default();
    let mut storm = match r.actions.first() {
        // No client rebooted: the trigger was an action on the target (a reload, a
        // restart), and the storm is what the clients did after it.
        Some(a) if r.plan.storm_clients == 0 => format!(
            "{warmup}The trigger was an action on the target at {}: `{}`",
            fmt_ms(a.started_ms.unwrap_or(a.at_ms) as f64),
            a.command
        ),
        _ => format!(
            "{warmup}{} clients rebooted and came to log in between {} and {}",
            thousands(r.plan.storm_clients),
            fmt_ms(rec.trigger_start_ms as f64),
            fmt_ms(rec.storm_end_ms as f64)
        ),
    };
    if let Some(h2) = r.totals.h2.as_ref().filter(|h| !h.drops.is_empty()) {
        let drops: u64 = h2.drops.values().sum();
        storm.push_str(&format!(
            "; {} HTTP/2 connections dropped by the server",
            thousands(drops)
        ));
    }
    if let Some((v, at)) = peak(after, &|w| per_s(w, w.counts.attempts)) {
        let retries = after.iter().map(|w| w.counts.retries).sum::<u64>();
        storm.push_str(&format!(
            "; attempts peaked at {}/s at {}, {} of them retries overall",
            thousands(v.round() as u64),
            fmt_ms(at as f64),
            thousands(retries)
        ));
    }
    Chapter {
        title: "Storm",
        text: storm + ".",
        class: "warn",
    }
}

/// A target that never worked did not collapse: "success fell to 0% at 10s" read as a
/// fall from somewhere when nothing had ever succeeded.
fn never_worked(r: &Report, rec: &Recovery) -> Option<Chapter> {
    let none_ok = r.totals.counts.logins_ok == 0 && r.totals.counts.logins_failed > 0;
    if !(none_ok || rec.verdict == Verdict::NeverHealthy) {
        return None;
    }
    let best = rec
        .health
        .iter()
        .filter(|h| h.state != Health::Unjudged)
        .filter_map(|h| h.success_rate)
        .fold(None, |b: Option<f64>, s| Some(b.map_or(s, |b| b.max(s))));
    let how = match (none_ok, best) {
        (true, _) => "no login succeeded at any point of the run".to_string(),
        (false, Some(b)) => format!(
            "no window met the SLO, the baseline's before the storm included (the best reached {} success)",
            pct(b)
        ),
        (false, None) => "no window met the SLO, the baseline's before the storm included".to_string(),
    };
    Some(Chapter {
        title: "Never worked",
        text: format!(
            "{how}: nothing collapsed, the logins failed before any storm load; the cause is at the top of the page."
        ),
        class: "bad",
    })
}

fn collapse(rec: &Recovery, after: &[&Window]) -> Chapter {
    let judged = rec
        .health
        .iter()
        .filter(|h| h.start_ms + rec.window_ms > rec.trigger_start_ms && h.state != Health::Unjudged);
    let worst = judged.filter_map(|h| h.success_rate.map(|s| (s, h.start_ms))).fold(
        None,
        |best: Option<(f64, u64)>, (s, at)| match best {
            Some((b, _)) if b <= s => best,
            _ => Some((s, at)),
        },
    );
    let p99 = peak(after, &|w| {
        if w.latency_ms.count > 0 { w.latency_ms.p99 } else { 0.0 }
    });
    match (rec.verdict, worst, p99) {
        (Verdict::NeverDegraded, _, Some((p, at))) => Chapter {
            title: "No collapse",
            text: format!(
                "every judged window stayed within the SLO; p99 peaked at {} at {}.",
                fmt_ms(p),
                fmt_ms(at as f64)
            ),
            class: "good",
        },
        (_, Some((s, s_at)), Some((p, p_at))) => Chapter {
            title: "Collapse",
            text: format!(
                "{} and p99 rose to {} at {}; {} clients were locked out at the worst ({}).",
                if s + 1e-9 >= rec.slo.success_rate {
                    success_held(s)
                } else {
                    format!("success fell to {} at {}", pct(s), fmt_ms(s_at as f64))
                },
                fmt_ms(p),
                fmt_ms(p_at as f64),
                thousands(rec.figures.peak_locked_out),
                rec.figures
                    .peak_locked_out_at_ms
                    .map_or("–".into(), |t| fmt_ms(t as f64))
            ),
            class: "bad",
        },
        _ => Chapter {
            title: "Collapse",
            text: "too few logins completed after the trigger to tell.".into(),
            class: "unknown",
        },
    }
}

/// `end`: where the last window ends, the edge of what was observed.
fn recovery(rec: &Recovery, end: u64) -> Chapter {
    let (title, text, class) = match rec.verdict {
        Verdict::Recovered | Verdict::RecoveredThenRelapsed => (
            "Recovery",
            format!(
                "healthy for a hold of {} from {}, {} after the trigger{}",
                fmt_ms(rec.slo.hold_ms as f64),
                rec.recovered_at_ms.map_or("–".into(), |t| fmt_ms(t as f64)),
                rec.recovery_time_ms.map_or("–".into(), |t| fmt_ms(t as f64)),
                match rec.relapsed_at_ms {
                    Some(at) => format!(", then relapsed at {}.", fmt_ms(at as f64)),
                    None => ".".into(),
                }
            ),
            if rec.verdict == Verdict::Recovered {
                "good"
            } else {
                "warn"
            },
        ),
        Verdict::NeverDegraded => ("Recovery", "nothing to recover from.".into(), "good"),
        Verdict::Metastable if rec.confirmed => (
            "Metastable, confirmed",
            format!(
                "the target stayed down while its clients retried; once the retries and relogins were silenced at {} (the baseline going on), it recovered {} after retries stopped and held healthy for a hold of {}: its own retries held it down.",
                rec.probe.as_ref().map_or("–".into(), |p| fmt_ms(p.retries_stopped_at_ms as f64)),
                rec.probe.as_ref().and_then(|p| p.recovered_after_ms).map_or("–".into(), |t| fmt_ms(t as f64)),
                fmt_ms(rec.slo.hold_ms as f64)
            ),
            "bad",
        ),
        Verdict::Down if rec.probe.is_some() => (
            "Down",
            format!(
                "failing without load feedback: with retries and relogins silenced from {} and only the baseline arriving, the target stayed down to the end ({}): an outage, not a feedback loop.",
                rec.probe.as_ref().map_or("–".into(), |p| fmt_ms(p.retries_stopped_at_ms as f64)),
                fmt_ms(end as f64)
            ),
            "bad",
        ),
        Verdict::Metastable => (
            "No recovery",
            format!(
                "the offered load was back at baseline from {}, yet the target stayed down to the end ({}): its own retries hold it down.",
                rec.metastable_since_ms.map_or("–".into(), |t| fmt_ms(t as f64)),
                fmt_ms(end as f64)
            ),
            "bad",
        ),
        Verdict::NotRecovered => (
            "No recovery",
            format!(
                "no hold of {} healthy windows before the end ({}).",
                fmt_ms(rec.slo.hold_ms as f64),
                fmt_ms(end as f64)
            ),
            "bad",
        ),
        Verdict::InsufficientData => ("Recovery", "too few completed logins to judge.".into(), "unknown"),
        Verdict::Down => (
            "Down",
            format!(
                "the target stayed down to the end ({}) without load feedback (the storm never raised the load, nothing fed back, or it failed the way an outage does): an outage, not a feedback loop.",
                fmt_ms(end as f64)
            ),
            "bad",
        ),
        Verdict::Improving => (
            "Improving",
            format!(
                "not recovered by the end ({}), but getting there: the locked-out clients were falling and success rising over the run's last third.",
                fmt_ms(end as f64)
            ),
            "warn",
        ),
        Verdict::NeverHealthy => (
            "Never healthy",
            "the target did not meet its SLO even at baseline, before the storm: there was no healthy state to recover to.".into(),
            "bad",
        ),
    };
    Chapter { title, text, class }
}

/// Success that never fell below the SLO, in words: its lowest window; "or better"
/// only where better was possible (nothing is better than 100 %).
fn success_held(lowest: f64) -> String {
    if lowest >= 1.0 {
        "success stayed at 100%".into()
    } else {
        format!("success stayed at {} or better", pct(lowest))
    }
}
