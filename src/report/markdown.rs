//! A Markdown summary of a run for a CI job page: the verdict first, then the
//! thresholds, then the key figures.

use std::time::Duration;

use crate::analysis::{Recovery, ThresholdResult, Totals};
use crate::outcome::Verdict;
use crate::units::{format_duration, pct};

/// Escapes text for a Markdown table cell.
fn cell(s: &str) -> String {
    s.replace('\\', "\\\\").replace('|', "\\|").replace('\n', " ")
}

/// Inline code that survives backticks inside.
fn code(s: &str) -> String {
    let fence = if s.contains('`') { "``" } else { "`" };
    format!("{fence} {} {fence}", cell(s))
}

/// A latency in milliseconds from the totals, or a dash when nothing completed.
fn latency(t: &Totals, ms: f64) -> String {
    if t.latency_ms.count == 0 {
        "–".into()
    } else {
        format_duration(Duration::from_secs_f64(ms / 1000.0))
    }
}

fn icon(v: Verdict) -> &'static str {
    match v {
        Verdict::NeverDegraded | Verdict::Recovered => "✅",
        Verdict::RecoveredThenRelapsed | Verdict::InsufficientData => "⚠️",
        Verdict::NotRecovered | Verdict::Metastable => "❌",
    }
}

/// The CI job summary of one run.
pub fn markdown(name: &str, recovery: &Recovery, results: &[ThresholdResult], totals: &Totals) -> String {
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
    let rt = match (recovery.recovery_time(), recovery.recovery_time_from_storm_end()) {
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
                pct(totals.logins_ok as f64 / (totals.logins_ok + totals.logins_failed).max(1) as f64)
            ),
        ),
        (
            "Attempts",
            format!(
                "{} for {} clients ({} retries, {} not sent)",
                totals.attempts,
                totals.first_attempts,
                totals.retries,
                totals.throttled + totals.unstarted
            ),
        ),
        (
            "Retry amplification after the trigger",
            recovery.retry_amplification.map_or("–".into(), |a| format!("{a:.2}×")),
        ),
        ("Clients that gave up", totals.counts.gave_up.to_string()),
        (
            "Login latency p50 / p99 / max",
            format!(
                "{} / {} / {}",
                latency(totals, totals.latency_ms.p50),
                latency(totals, totals.latency_ms.p99),
                latency(totals, totals.latency_ms.max)
            ),
        ),
        (
            "Down share after the trigger",
            recovery.down_share.map_or("–".into(), pct),
        ),
        ("Peak locked-out clients", recovery.peak_locked_out.to_string()),
        ("SLO", recovery.slo.how.clone()),
    ];
    m.push_str("### Key figures\n\n| | |\n| --- | --- |\n");
    for (k, v) in rows {
        m.push_str(&format!("| {k} | {} |\n", cell(&v)));
    }
    let notes = &recovery.notes;
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
    use crate::analysis::evaluate;
    use crate::analysis::recovery::{Timeline, analyze};
    use crate::analysis::testkit::run;
    use crate::profile::Slo;
    use crate::threshold::parse;

    #[test]
    fn markdown_puts_the_verdict_first_and_escapes_cells() {
        let w = run(&[(100, 0, 20), (100, 0, 20), (0, 100, 20), (0, 100, 20)]);
        let tl = Timeline {
            trigger_start: Duration::from_secs(2),
            storm_end: Duration::from_secs(3),
            observe_end: Duration::from_secs(4),
        };
        let r = analyze(&w, &tl, &Slo::default(), Duration::from_secs(1));
        let res = evaluate(
            &[
                parse("verdict == recovered").unwrap(),
                parse("success_rate > 40%").unwrap(),
            ],
            &w,
            &r,
            400,
        );
        let md = markdown("patch|tuesday", &r, &res, &Totals::of(&w).unwrap());
        let first = md.lines().next().unwrap();
        assert_eq!(first, "## ❌ stampede `patch|tuesday`: not-recovered");
        assert!(md.contains("### Thresholds: 1 of 2 passed"));
        assert!(md.contains("| ❌ | ` verdict == recovered ` | not-recovered |"));
        assert!(md.contains("| ✅ | ` success_rate > 40% ` | 50% |"));
        assert!(md.contains("| Logins | 200 ok, 200 failed (50% success) |"));
        assert!(md.contains("| Recovery time | not recovered |"));
        let m2 = markdown("x", &r, &[], &Totals::of(&w).unwrap());
        assert!(!m2.contains("Thresholds"));
        assert_eq!(cell("a|b\nc"), "a\\|b c");
    }
}
