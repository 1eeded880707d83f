//! Lines of words that several outputs share (terminal, Markdown, the page's notes):
//! written once, so that every output says the same thing with the same figures.

use std::time::Duration;

use super::Report;
use super::terminal::thousands;
use crate::units::{fmt_ms, format_duration};

/// How sends were timed, when not each at its own instant (`--send-precision`): after
/// the send lag in the terminal and on the page, so the lag is read with its cause.
pub(crate) fn send_precision(e: &super::EngineFacts) -> String {
    e.send_precision_ms.map_or(String::new(), |p| {
        format!(", sends wait up to {} to share a wake-up (--send-precision)", fmt_ms(p))
    })
}

/// What the target asked for with `Retry-After`, beside the cap in force and the clients
/// still parked by it at the end, in one line every output shares; None when no answer
/// carried one.
pub(crate) fn retry_after_line(r: &Report) -> Option<String> {
    let told = &r.totals.retry_after_ms;
    let waiting = r.engine.stats.waiting_retry_after;
    if told.count == 0 && waiting == 0 {
        return None;
    }
    let mut line = format!(
        "Retry-After: {} answers asked for p50 {} · p99 {} · max {}",
        thousands(told.count),
        fmt_ms(told.p50),
        fmt_ms(told.p99),
        fmt_ms(told.max)
    );
    match r.engine.retry_after_cap_ms {
        Some(cap) => line.push_str(&format!(
            "; cap {} ({} waits cut to it)",
            format_duration(Duration::from_millis(cap)),
            thousands(r.totals.counts.retry_after_capped)
        )),
        None => line.push_str("; not honoured (client.retry.honor_retry_after: false)"),
    }
    line.push_str(&format!(
        "; {} clients still waiting on one when the run ended",
        thousands(waiting)
    ));
    Some(line)
}

/// What the target's own request count says beside the run's timeouts: how many
/// requests never reached it, and how many of the unanswered timeouts it did see. None
/// without `target.metrics.received`.
pub(crate) fn received_line(r: &Report) -> Option<String> {
    let x = r.target_received.as_ref()?;
    let what = match &x.step {
        Some(step) => format!("step `{step}` requests"),
        None => "login requests".to_string(),
    };
    let timeouts = format!(
        "timeouts: {} before a byte of the answer, {} mid-answer",
        thousands(x.timeouts),
        thousands(x.timeouts_midanswer)
    );
    if x.counter_reset {
        return Some(format!(
            "target's own count `{}` went down during the run (a restart?): nothing to compare; {timeouts}",
            x.series
        ));
    }
    let mut line = format!(
        "target's own count `{}`: received {} of the {} {what} sent; {} never seen by the target",
        x.series,
        thousands(x.received),
        thousands(x.sent),
        thousands(x.never_seen)
    );
    if x.counted_beyond > 0 {
        line.push_str(&format!(
            " ({} counted beyond what this run sent: the counter counts other requests too, so more may have gone unseen)",
            thousands(x.counted_beyond)
        ));
    }
    line.push_str(&format!("; {timeouts}"));
    if x.timeouts > 0 {
        line.push_str(&format!(
            ": at most {} of the former never reached it, at least {} it saw and did not answer in time",
            thousands(x.never_seen.min(x.timeouts)),
            thousands(x.timeouts_seen_at_least())
        ));
    }
    Some(line)
}

/// How the target drained after sending stopped: when its outstanding work was back at
/// its baseline, or what was left when scraping stopped. None when it was not watched.
pub(crate) fn drain_line(r: &Report) -> Option<String> {
    let a = r.after_run.as_ref()?;
    let ended = Duration::from_millis(r.plan.ended_ms);
    let left: Vec<String> = a
        .left()
        .into_iter()
        .map(|(k, v, b)| {
            let now = if v.is_nan() {
                "not scraped (no scrape answered)".to_string()
            } else {
                thousands(v.round() as u64)
            };
            format!("{k} {now} (baseline {})", thousands(b.round() as u64))
        })
        .collect();
    Some(match a.drained_after(ended) {
        Some(d) if a.points.len() <= 1 => format!(
            "target drain: already drained when sending stopped (first scrape {} after): {}",
            format_duration(d),
            left.join(", ")
        ),
        Some(d) => format!(
            "target drain: back at its baseline {} after sending stopped ({} scrapes): {}",
            format_duration(d),
            a.points.len(),
            left.join(", ")
        ),
        None => format!(
            "target drain: NOT drained when scraping stopped {} after sending stopped: {}",
            format_duration(Duration::from_millis(a.bound_ms)),
            left.join(", ")
        ),
    })
}

/// The clients still locked out when the run ended, split by why: given up, waiting on
/// their own backoff, waiting on a `Retry-After`, an attempt in flight that the drain
/// abandoned. The analysis's note splits them only into given up and still trying (the
/// windows do not say more); the engine counted the rest when it stopped. None when no
/// one was locked out at the end.
pub(crate) fn locked_out_line(r: &Report) -> Option<String> {
    let rec = r.recovery.as_ref()?;
    let lo = &rec.figures.locked_out;
    // The figures stop at the plan's end; after a confirmation probe the engine counted
    // the waits at the run's end, so the split is of the run's last window.
    let (end, gave_up, trying) = match (&rec.probe, r.windows.last()) {
        (Some(_), Some(last)) => {
            let gave_up = r
                .windows
                .iter()
                .map(|w| w.counts.gave_up)
                .sum::<u64>()
                .min(last.locked_out);
            (last.locked_out, gave_up, last.locked_out - gave_up)
        }
        _ => (lo.end, lo.end_gave_up, lo.end_trying),
    };
    if end == 0 {
        return None;
    }
    let s = &r.engine.stats;
    let mut parts = vec![
        format!("{} had given up", thousands(gave_up)),
        format!("{} were waiting on their own backoff", thousands(s.waiting_backoff)),
        format!("{} on a Retry-After", thousands(s.waiting_retry_after)),
        format!("{} had an attempt in flight", thousands(s.abandoned)),
    ];
    let explained = s.waiting_backoff + s.waiting_retry_after + s.abandoned;
    if trying > explained {
        parts.push(format!("{} not accounted for", thousands(trying - explained)));
    }
    Some(format!(
        "When the run ended, {} clients were locked out: {}.",
        thousands(end),
        parts.join(", ")
    ))
}

/// How a run stopped before its plan's end, in words every output shares: the abort
/// condition and when it held, the preflight guard and the class it stopped on, an
/// interruption, or an engine failure. None when the run went to the end of its plan.
pub(crate) fn stopped_early(r: &Report) -> Option<String> {
    if !r.cut_short() {
        return None;
    }
    Some(match (&r.abort, r.stop_reason) {
        (None, crate::outcome::StopReason::Preflight) => match &r.preflight {
            Some(f) => format!(
                "stopped by the preflight guard at {}: the first {} logins before the trigger all failed with `{}`",
                format_duration(Duration::from_millis(f.at_ms)),
                thousands(f.logins),
                f.class
            ),
            None => "stopped by the preflight guard".into(),
        },
        (Some(a), _) => format!(
            "aborted: `{}` held at {}",
            a.expr,
            format_duration(Duration::from_millis(a.at_ms))
        ),
        (None, crate::outcome::StopReason::Failed) => "an engine failed".into(),
        (None, _) => "interrupted".into(),
    })
}

/// What every output says next to the thresholds of a run that stopped early: why it
/// stopped (the abort condition by name) and what the thresholds therefore cover.
pub(crate) fn cut_short(r: &Report) -> String {
    match stopped_early(r) {
        Some(why) if r.abort.is_some() || r.stop_reason == crate::outcome::StopReason::Preflight => {
            format!("run {why}: the thresholds cover only what was sent until then")
        }
        _ => super::CUT_SHORT.to_string(),
    }
}

/// One outcome class of a run: how many attempts ended so, their share of all attempts,
/// and the first failure of that class the transport kept (its words, as the terminal
/// prints them).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OutcomeRow {
    pub class: String,
    pub count: u64,
    pub share: Option<f64>,
    pub example: Option<String>,
}

/// The outcome classes, most frequent first (ties by name), each with its first example.
pub(crate) fn outcome_rows(t: &crate::analysis::Totals, e: &super::EngineFacts) -> Vec<OutcomeRow> {
    let sent: u64 = t.outcomes.values().sum();
    let mut rows: Vec<OutcomeRow> = t
        .outcomes
        .iter()
        .map(|(k, &count)| OutcomeRow {
            class: k.clone(),
            count,
            share: (sent > 0).then(|| count as f64 / sent as f64),
            example: e.stats.failure_examples.get(k).cloned(),
        })
        .collect();
    rows.sort_by(|a, b| b.count.cmp(&a.count).then(a.class.cmp(&b.class)));
    rows
}

/// The outcome classes on one line (`ok 2,298 · timeout 12`), then a line per first
/// failure example (`first timeout: …`): the text JUnit carries beside a failure.
pub(crate) fn outcome_lines(r: &Report) -> Vec<String> {
    let rows = outcome_rows(&r.totals, &r.engine);
    if rows.is_empty() {
        return Vec::new();
    }
    let classes: Vec<String> = rows
        .iter()
        .map(|o| format!("{} {}", o.class, thousands(o.count)))
        .collect();
    let mut lines = vec![format!("outcomes: {}", classes.join(" · "))];
    lines.extend(
        rows.iter()
            .filter_map(|o| o.example.as_ref().map(|why| format!("first {}: {why}", o.class))),
    );
    lines
}
