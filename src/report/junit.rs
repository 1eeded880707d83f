//! Threshold results as JUnit XML, the format every CI system shows as tests: one
//! test case per threshold, a failure carrying the measured value.

use super::{CUT_SHORT, NOT_STARTED, Report};
use crate::units::fmt_ms;

/// Escapes text for XML attributes and content. Characters XML 1.0 cannot carry at
/// all (control characters other than tab, newline and carriage return) become U+FFFD.
pub(super) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// A JUnit report of one run: a suite named `stampede <name>`, one test case per
/// threshold, and one in error when the run was interrupted (its thresholds judged
/// only part of the storm, so a CI page must not show it as all passed) or could not
/// start (then that error is the only case: nothing was judged).
pub fn junit(report: &Report) -> String {
    let suite = format!("stampede {}", report.name);
    let results = &report.thresholds;
    let failures = results.iter().filter(|r| !r.passed).count();
    let errors = usize::from(report.cut_short());
    let tests = results.len() + errors;
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.push_str(&format!(
        "<testsuites name=\"stampede\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\">\n"
    ));
    x.push_str(&format!(
        "  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"0\">\n",
        esc(&suite),
    ));
    if let Some(why) = report.not_started() {
        x.push_str(&format!(
            "    <testcase name=\"{}\" classname=\"{}.run\">\n      <error type=\"not-started\" message=\"{}\"/>\n    </testcase>\n",
            esc(NOT_STARTED),
            esc(&suite),
            esc(why)
        ));
    } else if errors > 0 {
        x.push_str(&format!(
            "    <testcase name=\"{}\" classname=\"{}.run\">\n      <error type=\"interrupted\" message=\"sending stopped at {} of {} planned\"/>\n    </testcase>\n",
            esc(CUT_SHORT),
            esc(&suite),
            fmt_ms(report.plan.ended_ms as f64),
            fmt_ms(report.plan.end_ms as f64)
        ));
    }
    threshold_cases(&mut x, results, &suite);
    // The verdict beside the thresholds: a CI page that shows the suite's output
    // shows what the run concluded (`metastable, confirmed: recovered ...`).
    // A connected population's key figures follow it, a line each.
    if let Some(rec) = &report.recovery {
        let held: String = super::held::rows(report)
            .into_iter()
            .map(|(k, v)| format!("\n{k}: {v}"))
            .collect();
        x.push_str(&format!(
            "    <system-out>verdict: {} — {}{}</system-out>\n",
            esc(&rec.verdict_shown()),
            esc(&rec.summary),
            esc(&held)
        ));
    }
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}

/// One test case per threshold of `suite`, a failure carrying the measured value.
pub(super) fn threshold_cases(x: &mut String, results: &[crate::analysis::ThresholdResult], suite: &str) {
    for r in results {
        x.push_str(&format!(
            "    <testcase name=\"{}\" classname=\"{}.thresholds\"",
            esc(&r.expr),
            esc(suite)
        ));
        if r.passed {
            x.push_str(&format!(
                ">\n      <system-out>{}: {}</system-out>\n    </testcase>\n",
                esc(&r.metric),
                esc(&r.measured)
            ));
        } else {
            let msg = format!("{} was {}; required {}", r.metric, r.measured, r.expr);
            x.push_str(&format!(
                ">\n      <failure type=\"threshold\" message=\"{}\">{}</failure>\n    </testcase>\n",
                esc(&msg),
                esc(&msg)
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::ThresholdResult;
    use crate::analysis::gate::Unit;
    use crate::outcome::StopReason;
    use crate::report::testkit::report;

    fn result(expr: &str, passed: bool, measured: &str) -> ThresholdResult {
        ThresholdResult {
            expr: expr.into(),
            metric: expr.split(' ').next().unwrap().into(),
            passed,
            measured: measured.into(),
            value: None,
            unit: Unit::Ms,
        }
    }

    fn with(name: &str, results: Vec<ThresholdResult>) -> Report {
        let mut r = report(30, 0, name, "");
        r.thresholds = results;
        r
    }

    #[test]
    fn one_case_per_threshold_with_the_measured_value_on_failure() {
        let xml = junit(&with(
            "patch <tuesday> & \"friends\"",
            vec![
                result("login.p99 < 800ms", false, "1.2s"),
                result("verdict != metastable", true, "recovered"),
                result("a&b.p99 <= 1s", false, "it's \u{1} \"odd\""),
            ],
        ));
        let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "testsuites");
        assert_eq!(root.attribute("failures"), Some("2"));
        assert_eq!(root.attribute("errors"), Some("0"));
        let suite = root.children().find(|n| n.is_element()).unwrap();
        assert_eq!(suite.attribute("name"), Some("stampede patch <tuesday> & \"friends\""));
        let cases: Vec<_> = suite.children().filter(|n| n.has_tag_name("testcase")).collect();
        assert_eq!(cases.len(), 3);
        assert_eq!(cases[0].attribute("name"), Some("login.p99 < 800ms"));
        let failure = cases[0].children().find(|n| n.has_tag_name("failure")).unwrap();
        assert_eq!(
            failure.attribute("message"),
            Some("login.p99 was 1.2s; required login.p99 < 800ms")
        );
        assert!(!cases[1].children().any(|n| n.has_tag_name("failure")));
        let odd = cases[2].children().find(|n| n.has_tag_name("failure")).unwrap();
        assert_eq!(
            odd.text(),
            Some("a&b.p99 was it's \u{FFFD} \"odd\"; required a&b.p99 <= 1s")
        );
    }

    #[test]
    fn an_interrupted_run_is_an_error_even_when_every_threshold_passed() {
        let mut r = with("ci-smoke", vec![result("login.p99 < 800ms", true, "12ms")]);
        r.interrupted = true;
        r.stop_reason = StopReason::Interrupted;
        let xml = junit(&r);
        let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
        let root = doc.root_element();
        assert_eq!(root.attribute("tests"), Some("2"));
        assert_eq!(root.attribute("failures"), Some("0"));
        assert_eq!(root.attribute("errors"), Some("1"));
        let suite = root.children().find(|n| n.is_element()).unwrap();
        assert_eq!(suite.attribute("errors"), Some("1"));
        let case = suite
            .children()
            .find(|n| n.children().any(|c| c.has_tag_name("error")))
            .expect("a test case carries the error");
        assert_eq!(
            case.attribute("name"),
            Some("run interrupted: the thresholds cover only what was sent until then")
        );
        // A shard merged from an interrupted part says so through `interrupted` alone.
        r.stop_reason = StopReason::Completed;
        assert!(junit(&r).contains("errors=\"1\""));
    }

    #[test]
    fn a_held_run_s_output_carries_its_connections_under_the_verdict() {
        let xml = junit(&crate::report::testkit::held_report(60, 45, "held"));
        let out = xml.split("<system-out>verdict: ").nth(1).unwrap();
        let out = &out[..out.find("</system-out>").unwrap()];
        assert!(
            out.contains("&#10;Held connections: peak 20,000 connected · connected share final 100%, lowest 70% at 20s&#10;Reconnect time: 24s"),
            "{out}"
        );
        assert!(
            out.contains("&#10;Held drops: 6,000: reset 4,000 · ws_close_1012 2,000"),
            "{out}"
        );
        assert!(!junit(&report(60, 45, "plain", "")).contains("Held"));
    }
}
