//! A Markdown summary of a run for a CI job page: the verdict first, then the
//! thresholds, then the key figures.

use std::time::Duration;

use super::gate::ThresholdResult;
use super::recovery::{Recovery, Verdict};
use super::{login_hist, pct};
use crate::record::Window;
use crate::units::format_duration;

/// Whole-run totals, with login latency from the windows' histograms merged exactly.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Totals {
    pub windows: usize,
    pub duration: Duration,
    /// Login attempts sent (first attempts + retries).
    pub attempts: u64,
    /// Clients that started wanting to log in.
    pub first_attempts: u64,
    pub retries: u64,
    pub logins_ok: u64,
    pub logins_failed: u64,
    pub clients_gave_up: u64,
    /// Attempts refused by the clients' throttles or not started by the engine.
    pub not_sent: u64,
    /// None when no login completed.
    pub login_p50: Option<Duration>,
    pub login_p99: Option<Duration>,
    pub login_max: Option<Duration>,
    /// Windows whose histogram did not decode and is missing from the percentiles.
    pub undecodable_windows: usize,
}

/// Adds up every window; percentiles come from the merged histograms.
pub fn totals(windows: &[Window]) -> Totals {
    let (h, skipped) = login_hist(windows);
    let q = |p: f64| (!h.is_empty()).then(|| Duration::from_micros(h.value_at_quantile(p)));
    let sum = |f: fn(&Window) -> u64| windows.iter().map(f).sum::<u64>();
    Totals {
        windows: windows.len(),
        duration: Duration::from_millis(sum(|w| w.len_ms)),
        attempts: sum(|w| w.attempts),
        first_attempts: sum(|w| w.first_attempts),
        retries: sum(|w| w.retries),
        logins_ok: sum(|w| w.logins_ok),
        logins_failed: sum(|w| w.logins_failed),
        clients_gave_up: sum(|w| w.gave_up),
        not_sent: sum(|w| w.throttled + w.unstarted),
        login_p50: q(0.5),
        login_p99: q(0.99),
        login_max: (!h.is_empty()).then(|| Duration::from_micros(h.max())),
        undecodable_windows: skipped,
    }
}

/// Escapes text for a Markdown table cell.
fn cell(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('\n', " ")
}

/// Inline code that survives backticks inside.
fn code(s: &str) -> String {
    let fence = if s.contains('`') { "``" } else { "`" };
    format!("{fence} {} {fence}", cell(s))
}

fn opt_dur(d: Option<Duration>) -> String {
    d.map_or_else(|| "–".into(), format_duration)
}

fn icon(v: Verdict) -> &'static str {
    match v {
        Verdict::NeverDegraded | Verdict::Recovered => "✅",
        Verdict::RecoveredThenRelapsed | Verdict::InsufficientData => "⚠️",
        Verdict::NotRecovered | Verdict::Metastable => "❌",
    }
}

/// The CI job summary of one run.
pub fn markdown(
    name: &str,
    recovery: &Recovery,
    results: &[ThresholdResult],
    totals: &Totals,
) -> String {
    let mut m = String::new();
    let failed = results.iter().filter(|r| !r.passed).count();
    m.push_str(&format!(
        "## {} stampede `{}`: {}\n\n{}\n\n",
        icon(recovery.verdict),
        name.replace('`', "'"),
        recovery.verdict,
        recovery.summary
    ));
    if !results.is_empty() {
        m.push_str(&format!(
            "### Thresholds: {} of {} passed\n\n| | threshold | measured |\n| --- | --- | --- |\n",
            results.len() - failed,
            results.len()
        ));
        for r in results {
            m.push_str(&format!(
                "| {} | {} | {} |\n",
                if r.passed { "✅" } else { "❌" },
                code(&r.expr),
                cell(&r.measured)
            ));
        }
        m.push('\n');
    }
    let rt = match (
        recovery.recovery_time(),
        recovery.recovery_time_from_storm_end(),
    ) {
        (Some(t), Some(s)) => format!(
            "{} after the trigger, {} after the storm",
            format_duration(t),
            format_duration(s)
        ),
        _ => "not recovered".into(),
    };
    let rows: Vec<(&str, String)> = vec![
        ("Verdict", recovery.verdict.to_string()),
        ("Recovery time", rt),
        (
            "Logins",
            format!(
                "{} ok, {} failed ({} success)",
                totals.logins_ok,
                totals.logins_failed,
                pct(totals.logins_ok as f64
                    / (totals.logins_ok + totals.logins_failed).max(1) as f64)
            ),
        ),
        (
            "Attempts",
            format!(
                "{} for {} clients ({} retries, {} not sent)",
                totals.attempts, totals.first_attempts, totals.retries, totals.not_sent
            ),
        ),
        (
            "Retry amplification after the trigger",
            recovery
                .retry_amplification
                .map_or("–".into(), |a| format!("{a:.2}×")),
        ),
        ("Clients that gave up", totals.clients_gave_up.to_string()),
        (
            "Login latency p50 / p99 / max",
            format!(
                "{} / {} / {}",
                opt_dur(totals.login_p50),
                opt_dur(totals.login_p99),
                opt_dur(totals.login_max)
            ),
        ),
        (
            "Down share after the trigger",
            recovery.down_share.map_or("–".into(), pct),
        ),
        (
            "Peak locked-out clients",
            recovery.peak_locked_out.to_string(),
        ),
        ("SLO", recovery.slo.how.clone()),
    ];
    m.push_str("### Key figures\n\n| | |\n| --- | --- |\n");
    for (k, v) in rows {
        m.push_str(&format!("| {k} | {} |\n", cell(&v)));
    }
    let mut notes = recovery.notes.clone();
    if totals.undecodable_windows > 0 {
        notes.push(format!(
            "{} window histogram(s) did not decode; percentiles leave them out.",
            totals.undecodable_windows
        ));
    }
    if !notes.is_empty() {
        m.push('\n');
        for n in notes {
            m.push_str(&format!("- {n}\n"));
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::gate::{evaluate, parse};
    use crate::analysis::recovery::{SloSpec, Timeline, analyze};
    use crate::analysis::testkit::{run, win};

    #[test]
    fn totals_merge_histograms_exactly() {
        // 990 logins at 10 ms and 10 at 2 s: the p99 is 10 ms, the max 2 s; no window
        // alone says so.
        let mut w = run(&[(495, 0, 10), (495, 0, 10)]);
        w.push(win(2, 1000, 0, 10, 2000));
        w[2].gave_up = 3;
        w[0].throttled = 4;
        let t = totals(&w);
        assert_eq!((t.attempts, t.logins_ok, t.logins_failed), (1000, 990, 10));
        assert_eq!((t.clients_gave_up, t.not_sent, t.windows), (3, 4, 3));
        assert_eq!(t.duration, Duration::from_secs(3));
        let p99 = t.login_p99.unwrap().as_secs_f64();
        assert!((p99 - 0.010).abs() < 0.0001, "{p99}");
        let max = t.login_max.unwrap().as_secs_f64();
        assert!((max - 2.0).abs() < 0.002, "{max}");
        assert_eq!(totals(&[]).login_p50, None);
        // A broken histogram is left out and counted.
        w[2].latency_ms.hist = "not base64!".into();
        assert_eq!(totals(&w).undecodable_windows, 1);
    }

    #[test]
    fn markdown_puts_the_verdict_first_and_escapes_cells() {
        let w = run(&[(100, 0, 20), (100, 0, 20), (0, 100, 20), (0, 100, 20)]);
        let tl = Timeline {
            trigger_start: Duration::from_secs(2),
            storm_end: Duration::from_secs(3),
            observe_end: Duration::from_secs(4),
        };
        let r = analyze(&w, &tl, &SloSpec::default(), Duration::from_secs(1));
        let res = evaluate(
            &[
                parse("verdict == recovered").unwrap(),
                parse("success_rate > 40%").unwrap(),
            ],
            &w,
            &r,
            400,
        );
        let md = markdown("patch|tuesday", &r, &res, &totals(&w));
        let first = md.lines().next().unwrap();
        assert_eq!(first, "## ❌ stampede `patch|tuesday`: not-recovered");
        assert!(md.contains("### Thresholds: 1 of 2 passed"));
        assert!(md.contains("| ❌ | ` verdict == recovered ` | not-recovered |"));
        assert!(md.contains("| ✅ | ` success_rate > 40% ` | 50% |"));
        assert!(md.contains("| Logins | 200 ok, 200 failed (50% success) |"));
        assert!(md.contains("| Recovery time | not recovered |"));
        let m2 = markdown("x", &r, &[], &totals(&w));
        assert!(!m2.contains("Thresholds"));
        assert_eq!(cell("a|b\nc"), "a\\|b c");
    }
}
