//! A Markdown summary of a run for a CI job page: the verdict first, then the
//! thresholds, then the key figures.

use super::terminal::thousands;
use super::{NOT_STARTED, Report, thresholds_failed};
use crate::analysis::Totals;
use crate::outcome::Verdict;
use crate::units::{fmt_ms, format_duration, pct};

/// Escapes text for a Markdown table cell.
pub(super) fn cell(s: &str) -> String {
    s.replace('\\', "\\\\").replace('|', "\\|").replace('\n', " ")
}

/// Inline code that survives backticks inside.
pub(super) fn code(s: &str) -> String {
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

/// The outcome classes as a table, most frequent first, each failure class with the
/// first example the run kept: what a CI page needs to say *why* logins failed.
fn outcomes(report: &Report) -> String {
    let rows = super::outcome_rows(&report.totals, &report.engine);
    if rows.is_empty() {
        return String::new();
    }
    let mut m =
        String::from("### Outcomes\n\n| outcome | count | share | first example |\n| --- | ---: | ---: | --- |\n");
    for o in rows {
        m.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            code(&o.class),
            thousands(o.count),
            o.share.map_or_else(|| "–".into(), pct),
            o.example.as_deref().map_or_else(|| "–".into(), cell)
        ));
    }
    m.push('\n');
    m
}

/// The CI job summary of a run refused for bad input: every problem, and that nothing
/// was sent.
pub fn bad_input(name: &str, problems: &[String]) -> String {
    let mut m = format!(
        "## ❌ stampede `{}`: bad input\n\nNothing was sent and no threshold was judged.\n\n",
        name.replace('`', "'")
    );
    for p in problems {
        m.push_str(&format!("- {}\n", cell(p)));
    }
    m
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
        None if report.cut_short() => (
            "⚠️",
            format!(
                "run {} — {} so far",
                super::stopped_early(report).unwrap_or_default(),
                recovery.verdict_shown()
            ),
        ),
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
                format!(" — {}", super::cut_short(report))
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
    m.push_str(&outcomes(report));
    if !report.actions.is_empty() {
        m.push_str("**Actions on the target**\n\n");
        for line in super::terminal::action_lines(report) {
            m.push_str(&format!("- {}\n", cell(line.trim_start_matches("action "))));
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
                thousands(totals.counts.logins_ok),
                thousands(totals.counts.logins_failed),
                totals.success_rate.map_or("–".into(), pct)
            ),
        ),
        (
            "Attempts",
            format!(
                "{} for {} clients ({} retries, {} not sent)",
                thousands(totals.counts.attempts),
                thousands(totals.counts.first_attempts),
                thousands(totals.counts.retries),
                thousands(totals.counts.throttled + totals.counts.unstarted)
            ),
        ),
        (
            "Retry amplification after the trigger",
            recovery
                .figures
                .retry_amplification
                .map_or("–".into(), |a| format!("{a:.2}×")),
        ),
        ("Clients that gave up", thousands(totals.counts.gave_up)),
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
        ("Peak locked-out clients", thousands(recovery.figures.peak_locked_out)),
        ("SLO", recovery.slo.how.clone()),
    ];
    // A connected population's figures after the recovery time: they are what it was judged on.
    let at = rows.len().min(2);
    rows.splice(
        at..at,
        super::held::rows(report).into_iter().chain(super::h2::rows(report)),
    );
    if let Some(line) = recovery.probe_line() {
        rows.insert(1, ("Confirmation probe", line));
    }
    if let Some(why) = super::stopped_early(report) {
        rows.insert(1, ("Stopped early", why));
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

    #[test]
    fn the_summary_lists_outcome_classes_with_separators_and_first_examples() {
        let mut r = report(60, 45, "storm", "");
        r.engine
            .stats
            .failure_examples
            .insert("timeout".into(), "step `auth`: no answer | within 1s".into());
        let md = markdown(&r).unwrap();
        assert!(md.contains("| outcome | count | share | first example |"), "{md}");
        assert!(md.contains("| ` ok ` | 2,250 | 33.3% | – |"), "{md}");
        assert!(
            md.contains("| ` timeout ` | 2,250 | 33.3% | step `auth`: no answer \\| within 1s |"),
            "{md}"
        );
        assert!(md.contains("| Logins | 2,250 ok, 4,500 failed"), "{md}");
    }

    #[test]
    fn an_aborted_run_names_its_condition_in_the_headline_and_beside_the_thresholds() {
        let r = crate::report::testkit::aborted(gated(report(60, 0, "ci-smoke", ""), &["retry_amplification < 5"]));
        let md = markdown(&r).unwrap();
        assert_eq!(
            md.lines().next().unwrap(),
            "## ⚠️ stampede `ci-smoke`: run aborted: `success_rate < 5% for 30s` held at 42s — never-degraded so far"
        );
        assert!(
            md.contains("— run aborted: `success_rate < 5% for 30s` held at 42s: the thresholds cover"),
            "{md}"
        );
        assert!(
            md.contains("| Stopped early | aborted: `success_rate < 5% for 30s` held at 42s |"),
            "{md}"
        );
    }

    #[test]
    fn a_run_the_preflight_guard_stopped_names_the_guard_and_the_class() {
        let r = crate::report::testkit::preflighted(gated(report(60, 0, "ci-smoke", ""), &["retry_amplification < 5"]));
        let md = markdown(&r).unwrap();
        assert!(
            md.contains(
                "| Stopped early | stopped by the preflight guard at 1s: the first 77 logins before the trigger all failed with `capture` |"
            ),
            "{md}"
        );
        assert!(md.contains("— run stopped by the preflight guard at 1s"), "{md}");
        assert!(!md.contains("interrupted"), "{md}");
    }

    #[test]
    fn bad_input_names_every_problem() {
        let md = bad_input("ci`smoke", &["--gate \"a|b\": no operator".into()]);
        assert_eq!(md.lines().next().unwrap(), "## ❌ stampede `ci'smoke`: bad input");
        assert!(md.contains("- --gate \"a\\|b\": no operator\n"), "{md}");
    }
}
