//! A Markdown summary of a run for a CI job page: the verdict first, then the
//! thresholds, then the key figures.

use super::{CUT_SHORT, NOT_STARTED, Report, thresholds_failed};
use crate::analysis::Totals;
use crate::outcome::Verdict;
use crate::units::{fmt_ms, format_duration, pct};

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
        fmt_ms(ms)
    }
}

fn icon(v: Verdict) -> &'static str {
    match v {
        Verdict::NeverDegraded | Verdict::Recovered => "✅",
        Verdict::RecoveredThenRelapsed | Verdict::InsufficientData => "⚠️",
        Verdict::NotRecovered | Verdict::Metastable | Verdict::Down | Verdict::NeverHealthy | Verdict::Improving => {
            "❌"
        }
    }
}

/// The CI job summary of one run; None when the run was not analysed (nothing to
/// lead with).
pub fn markdown(report: &Report) -> Option<String> {
    if let Some(why) = report.not_started() {
        return Some(format!(
            "## ❌ stampede `{}`: could not start\n\n{}\n\n{NOT_STARTED}.\n",
            report.name.replace('`', "'"),
            cell(why)
        ));
    }
    let recovery = report.recovery.as_ref()?;
    let (name, results, totals) = (&report.name, &report.thresholds[..], &report.totals);
    let mut m = String::new();
    let failed = results.iter().filter(|r| !r.passed).count();
    // A failed gate fails the job whatever the verdict: the first line must not be green.
    // An interrupted run never ends green: its verdict is only as far as it got.
    let (icon, lead) = match thresholds_failed(results) {
        Some(words) => ("❌", format!("{words} — {}", recovery.verdict_shown())),
        None if report.cut_short() => ("⚠️", format!("run interrupted — {} so far", recovery.verdict_shown())),
        None => (icon(recovery.verdict), recovery.verdict_shown()),
    };
    m.push_str(&format!(
        "## {icon} stampede `{}`: {lead}\n\n{}\n\n",
        name.replace('`', "'"),
        recovery.summary
    ));
    if !results.is_empty() {
        m.push_str(&format!(
            "### Thresholds: {} of {} passed{}\n\n| | threshold | measured |\n| --- | --- | --- |\n",
            results.len() - failed,
            results.len(),
            if report.cut_short() {
                format!(" — {CUT_SHORT}")
            } else {
                String::new()
            }
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
    let mut rows: Vec<(&str, String)> = vec![
        ("Verdict", recovery.verdict_shown()),
        ("Recovery time", rt),
        (
            "Logins",
            format!(
                "{} ok, {} failed (success rate {})",
                totals.counts.logins_ok,
                totals.counts.logins_failed,
                totals.success_rate.map_or("–".into(), pct)
            ),
        ),
        (
            "Attempts",
            format!(
                "{} for {} clients ({} retries, {} not sent)",
                totals.counts.attempts,
                totals.counts.first_attempts,
                totals.counts.retries,
                totals.counts.throttled + totals.counts.unstarted
            ),
        ),
        (
            "Retry amplification after the trigger",
            recovery
                .figures
                .retry_amplification
                .map_or("–".into(), |a| format!("{a:.2}×")),
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
            recovery.figures.down_share.map_or("–".into(), pct),
        ),
        ("Peak locked-out clients", recovery.figures.peak_locked_out.to_string()),
        ("SLO", recovery.slo.how.clone()),
    ];
    // A connected population's figures after the recovery time: they are what it was judged on.
    let at = rows.len().min(2);
    rows.splice(at..at, super::held::rows(report));
    if let Some(line) = recovery.probe_line() {
        rows.insert(1, ("Confirmation probe", line));
    }
    m.push_str("### Key figures\n\n| | |\n| --- | --- |\n");
    for (k, v) in rows {
        m.push_str(&format!("| {k} | {} |\n", cell(&v)));
    }
    let notes: Vec<String> = recovery
        .notes
        .iter()
        .cloned()
        .chain(super::locked_out_line(report))
        .chain(super::retry_after_line(report))
        .chain(super::drain_line(report))
        .chain(super::received_line(report))
        .collect();
    if !notes.is_empty() {
        m.push('\n');
        for n in notes {
            m.push_str(&format!("- {n}\n"));
        }
    }
    Some(m)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::analysis::evaluate;
    use crate::analysis::recovery::{Timeline, analyze};
    use crate::analysis::testkit::run;
    use crate::profile::Slo;
    use crate::report::testkit::{gated, report};
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
        let mut rep = report(30, 0, "patch|tuesday", "");
        rep.totals = Totals::of(&w).unwrap();
        rep.windows = w;
        rep.recovery = Some(r);
        rep.thresholds = res;
        let md = markdown(&rep).unwrap();
        let first = md.lines().next().unwrap();
        assert_eq!(
            first,
            "## ❌ stampede `patch|tuesday`: 1 of 2 thresholds failed — not-recovered"
        );
        assert!(md.contains("### Thresholds: 1 of 2 passed"));
        assert!(md.contains("| ❌ | ` verdict == recovered ` | not-recovered |"));
        assert!(md.contains("| ✅ | ` success_rate > 40% ` | 50% |"));
        assert!(md.contains("| Logins | 200 ok, 200 failed (success rate 50%) |"));
        assert!(md.contains("| Recovery time | not recovered |"));
        rep.thresholds.clear();
        let m2 = markdown(&rep).unwrap();
        assert!(!m2.contains("Thresholds"));
        assert_eq!(cell("a|b\nc"), "a\\|b c");
    }

    #[test]
    fn a_failed_gate_leads_the_headline_whatever_the_verdict() {
        let r = gated(report(60, 0, "ci-smoke", ""), &["login.p99 < 2ms"]);
        let rec = r.recovery.as_ref().unwrap();
        assert_eq!(rec.verdict, Verdict::NeverDegraded);
        let md = markdown(&r).unwrap();
        assert_eq!(
            md.lines().next().unwrap(),
            "## ❌ stampede `ci-smoke`: 1 of 1 thresholds failed — never-degraded"
        );
        assert!(md.contains("### Thresholds: 0 of 1 passed"));
    }

    #[test]
    fn an_interrupted_run_is_not_a_green_pass() {
        let mut r = gated(report(60, 0, "ci-smoke", ""), &["retry_amplification < 5"]);
        r.interrupted = true;
        r.stop_reason = crate::outcome::StopReason::Interrupted;
        let md = markdown(&r).unwrap();
        assert_eq!(
            md.lines().next().unwrap(),
            "## ⚠️ stampede `ci-smoke`: run interrupted — never-degraded so far"
        );
        assert!(
            md.contains(
                "### Thresholds: 1 of 1 passed — run interrupted: the thresholds cover only what was sent until then"
            ),
            "{md}"
        );
        let mut unanalysed = r.clone();
        unanalysed.recovery = None;
        assert_eq!(markdown(&unanalysed), None);
    }

    #[test]
    fn a_held_run_leads_its_key_figures_with_its_connections() {
        let md = markdown(&crate::report::testkit::held_report(60, 45, "held")).unwrap();
        let rows: Vec<&str> = md.lines().filter(|l| l.starts_with("| ")).collect();
        let at = |k: &str| {
            rows.iter()
                .position(|l| l.starts_with(k))
                .unwrap_or_else(|| panic!("{k}: {md}"))
        };
        assert_eq!(at("| Recovery time |") + 1, at("| Held connections |"));
        for want in [
            "| Held connections | peak 20,000 connected · connected share final 100%, lowest 70% at 20s |",
            "| Reconnect time | 24s: the longest stretch with the connected share below 99% |",
            "| Held drops | 6,000: reset 4,000 · ws_close_1012 2,000 |",
            "| Reconnect (drop to back) | p50 ",
            "| Heartbeat round trip | p50 ",
            "| Upgrade p99 | ",
        ] {
            assert!(md.contains(want), "{want}: {md}");
        }
        let plain = markdown(&report(60, 45, "plain", "")).unwrap();
        assert!(!plain.contains("Held") && !plain.contains("Reconnect"), "{plain}");
    }
}
