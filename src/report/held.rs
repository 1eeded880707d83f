//! A connected population's figures in words, written once for every output (the
//! terminal, Markdown, JUnit and the page): how many were connected, what dropped them,
//! how they came back and how long that took. Nothing here for a run without held
//! connections: its outputs read exactly as before.

use std::time::Duration;

use super::Report;
use super::terminal::thousands;
use crate::analysis::held::{HeldTotals, reconnect_time};
use crate::record::HistSummary;
use crate::units::{fmt_ms, format_duration, pct};

/// The run's held totals, when it held connections.
pub(crate) fn totals(r: &Report) -> Option<&HeldTotals> {
    r.totals.held.as_ref()
}

/// The lowest connected share of any window and the start of the first window at it.
pub(crate) fn lowest_share(r: &Report) -> Option<(f64, u64)> {
    r.windows
        .iter()
        .filter_map(|w| Some((w.held.as_ref()?.connected_share()?, w.start_ms)))
        .fold(None, |low: Option<(f64, u64)>, (s, at)| match low {
            Some((l, _)) if l <= s => low,
            _ => Some((s, at)),
        })
}

/// `peak 20,000 connected · final 100% · lowest 70% at 20s` (of the clients that should
/// be online).
pub(crate) fn connected_line(r: &Report) -> Option<String> {
    let t = totals(r)?;
    let share = |s: Option<f64>| s.map_or("–".into(), pct);
    Some(format!(
        "peak {} connected · connected share final {}, lowest {}",
        thousands(t.peak_connected),
        share(t.final_share),
        lowest_words(r)
    ))
}

/// `70% at 20s`; a share that never fell is not given an instant.
pub(crate) fn lowest_words(r: &Report) -> String {
    match lowest_share(r) {
        None => "–".into(),
        Some((s, _)) if s >= 1.0 => pct(s),
        Some((s, at)) => format!("{} at {}", pct(s), format_duration(Duration::from_millis(at))),
    }
}

/// `12,345 ok · 400 failed · 6,000 resumed · 100 resumes refused (logged in again)`
pub(crate) fn connects_line(t: &HeldTotals) -> String {
    let c = &t.counts;
    format!(
        "{} ok · {} failed · {} resumed · {} resumes refused (logged in again)",
        thousands(c.connects_ok),
        thousands(c.connects_failed),
        thousands(c.resumes),
        thousands(c.resumes_refused)
    )
}

/// `6,000: reset 4,000 · ws_close_1012 2,000`, the most frequent cause first.
pub(crate) fn drops_line(t: &HeldTotals) -> String {
    match causes_words(t) {
        None => thousands(t.counts.drops),
        Some(by) => format!("{}: {by}", thousands(t.counts.drops)),
    }
}

/// `reset 4,000 · ws_close_1012 2,000`, the most frequent cause first; None without drops.
pub(crate) fn causes_words(t: &HeldTotals) -> Option<String> {
    let mut causes: Vec<(&String, &u64)> = t.drops_by_cause.iter().collect();
    causes.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let by: Vec<String> = causes.iter().map(|(k, v)| format!("{k} {}", thousands(**v))).collect();
    (!by.is_empty()).then(|| by.join(" · "))
}

/// `p50 1.2s · p99 9.8s · max 10s`, or `none` when nothing was recorded.
pub(crate) fn p50_p99_max(h: &HistSummary) -> String {
    if h.count == 0 {
        return "none".into();
    }
    format!("p50 {} · p99 {} · max {}", fmt_ms(h.p50), fmt_ms(h.p99), fmt_ms(h.max))
}

/// How long the connected share stayed below the SLO's (`reconnect_time`, the gate's
/// figure), the figure first: `24s: the longest stretch ...`; None when the SLO judged
/// no connected share.
pub(crate) fn reconnect_time_value(r: &Report) -> Option<String> {
    let least = r.recovery.as_ref()?.slo.connected?;
    totals(r)?;
    Some(match reconnect_time(&r.windows, least) {
        None => format!("0s: the connected share never fell below {}", pct(least)),
        Some(Ok(d)) => format!(
            "{}: the longest stretch with the connected share below {}",
            format_duration(d),
            pct(least)
        ),
        Some(Err(d)) => format!(
            "not reached: the connected share was still below {} when the run ended, for {}",
            pct(least),
            format_duration(d)
        ),
    })
}

/// `reconnect time 24s: the longest stretch ...`
pub(crate) fn reconnect_time_words(r: &Report) -> Option<String> {
    reconnect_time_value(r).map(|v| format!("reconnect time {v}"))
}

/// The terminal summary's block: gauges, connects, drops, and the three histograms in
/// the rows the login latencies use.
pub(crate) fn terminal_block(r: &Report) -> Option<String> {
    let t = totals(r)?;
    let mut s = format!("\n  held connections: {}\n", connected_line(r)?);
    s.push_str(&format!("  held connects: {}\n", connects_line(t)));
    s.push_str(&format!("  held drops: {}\n", drops_line(t)));
    s.push_str(&super::terminal::hist_row("reconnect (drop to back)", &t.reconnect_ms));
    s.push_str(&super::terminal::hist_row("heartbeat round trip", &t.heartbeat_ms));
    s.push_str(&super::terminal::hist_row("upgrade (from intended)", &t.upgrade_ms));
    Some(s)
}

/// The key figures for the short outputs (Markdown's table, JUnit's output): label and
/// value; empty for a run without held connections.
pub(crate) fn rows(r: &Report) -> Vec<(&'static str, String)> {
    let (Some(t), Some(connected)) = (totals(r), connected_line(r)) else {
        return Vec::new();
    };
    let mut out = vec![("Held connections", connected)];
    out.extend(reconnect_time_value(r).map(|v| ("Reconnect time", v)));
    out.extend([
        ("Held connects", connects_line(t)),
        ("Held drops", drops_line(t)),
        ("Reconnect (drop to back)", p50_p99_max(&t.reconnect_ms)),
        ("Heartbeat round trip", p50_p99_max(&t.heartbeat_ms)),
        (
            "Upgrade p99",
            if t.upgrade_ms.count == 0 {
                "–".into()
            } else {
                fmt_ms(t.upgrade_ms.p99)
            },
        ),
    ]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testkit::{held_report, report};

    #[test]
    fn a_held_run_is_told_in_words_and_a_plain_run_is_not() {
        let r = held_report(60, 45, "held");
        let t = totals(&r).unwrap();
        assert_eq!(drops_line(t), "6,000: reset 4,000 · ws_close_1012 2,000");
        assert_eq!(
            connected_line(&r).unwrap(),
            "peak 20,000 connected · connected share final 100%, lowest 70% at 20s"
        );
        assert!(
            connects_line(t).starts_with("6,000 ok · 960 failed · 5,760 resumed · 240 resumes refused"),
            "{}",
            connects_line(t)
        );
        // Below 99 % from the drop at 20 s until every client was back in the window at 44 s.
        assert_eq!(
            reconnect_time_words(&r).unwrap(),
            "reconnect time 24s: the longest stretch with the connected share below 99%"
        );
        let stuck = held_report(60, 100, "stuck");
        assert!(
            reconnect_time_words(&stuck)
                .unwrap()
                .contains("still below 99% when the run ended"),
            "{:?}",
            reconnect_time_words(&stuck)
        );
        // A share that never fell is not given an instant.
        let mut calm = held_report(30, 45, "calm");
        for w in calm.windows.iter_mut().filter_map(|w| w.held.as_mut()) {
            w.connected = w.online;
        }
        assert_eq!(lowest_words(&calm), "100%");
        assert_eq!(lowest_words(&r), "70% at 20s");
        let plain = report(60, 45, "plain", "");
        assert!(rows(&plain).is_empty() && reconnect_time_words(&plain).is_none());
    }
}
