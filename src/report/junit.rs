//! Threshold results as JUnit XML, the format every CI system shows as tests: one
//! test case per threshold, a failure carrying the measured value.

use super::{NOT_STARTED, Report};
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

/// The XML declaration, `<testsuites>` and `<testsuite>` opening tags. `time` is the
/// run's duration in seconds and `timestamp` its start (ISO 8601, UTC), on both: CI
/// dashboards read one or the other.
pub(super) fn open(suite: &str, tests: usize, failures: usize, errors: usize, time: &str, timestamp: &str) -> String {
    let counts = format!("tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\"");
    let when = format!("time=\"{time}\" timestamp=\"{}\"", esc(timestamp));
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"stampede\" {counts} {when}>\n  <testsuite name=\"{}\" {counts} skipped=\"0\" {when}>\n",
        esc(suite)
    )
}

pub(super) const CLOSE: &str = "  </testsuite>\n</testsuites>\n";

/// Seconds with millisecond precision, as JUnit's `time` wants them.
fn seconds(ms: u64) -> String {
    format!("{:.3}", ms as f64 / 1000.0)
}

/// A JUnit report of one run: a suite named `stampede <name>`, one test case per
/// threshold, and one in error when the run was stopped early (its thresholds judged
/// only part of the storm, so a CI page must not show it as all passed; an abort names
/// its condition) or could not start (then that error is the only case: nothing was
/// judged). A failed threshold carries the run's outcome classes and first failure
/// examples, so that the CI page says why logins failed, not only that they did.
pub fn junit(report: &Report) -> String {
    let suite = format!("stampede {}", report.name);
    let results = &report.thresholds;
    let failures = results.iter().filter(|r| !r.passed).count();
    let errors = usize::from(report.cut_short());
    let tests = results.len() + errors;
    let time = seconds(report.plan.ended_ms);
    let mut x = open(&suite, tests, failures, errors, &time, &report.started_at);
    let case = |name: &str, group: &str| {
        format!(
            "    <testcase name=\"{}\" classname=\"{}.{group}\" time=\"{time}\">\n",
            esc(name),
            esc(&suite)
        )
    };
    let why = super::outcome_lines(report).join("\n");
    if let Some(not) = report.not_started() {
        x.push_str(&case(NOT_STARTED, "run"));
        x.push_str(&format!(
            "      <error type=\"not-started\" message=\"{}\"/>\n    </testcase>\n",
            esc(not)
        ));
    } else if errors > 0 {
        let stopped = super::stopped_early(report).unwrap_or_default();
        let kind = if report.abort.is_some() {
            "aborted"
        } else if report.stop_reason == crate::outcome::StopReason::Preflight {
            "preflight"
        } else {
            "interrupted"
        };
        let msg = format!(
            "{stopped}: sending stopped at {} of {} planned",
            fmt_ms(report.plan.ended_ms as f64),
            fmt_ms(report.plan.end_ms as f64)
        );
        x.push_str(&case(&super::cut_short(report), "run"));
        x.push_str(&format!(
            "      <error type=\"{kind}\" message=\"{}\">{}</error>\n    </testcase>\n",
            esc(&msg),
            esc(&format!("{msg}\n{why}"))
        ));
    }
    threshold_cases(&mut x, results, &suite, Some(&time), &why);
    // The verdict beside the thresholds: a CI page that shows the suite's output
    // shows what the run concluded (`metastable, confirmed: recovered ...`).
    // A connected population's key figures follow it, a line each, then the outcomes.
    if let Some(rec) = &report.recovery {
        let held: String = super::held::rows(report)
            .into_iter()
            .chain(super::h2::rows(report))
            .map(|(k, v)| format!("\n{k}: {v}"))
            .chain(super::received_line(report).map(|l| format!("\n{l}")))
            .collect();
        x.push_str(&format!(
            "    <system-out>verdict: {} — {}{}\n{}</system-out>\n",
            esc(&rec.verdict_shown()),
            esc(&rec.summary),
            esc(&held),
            esc(&why)
        ));
    }
    x.push_str(CLOSE);
    x
}

/// A JUnit report of a run refused for bad input before anything was sent (a `--gate`
/// that does not parse, a profile with errors): one test case in error, every problem
/// in its text. A CI job that always keeps `junit.xml` then shows why, instead of
/// failing on a missing file. `timestamp` is when it was refused (ISO 8601, UTC).
pub fn junit_bad_input(name: &str, problems: &[String], timestamp: &str) -> String {
    let suite = format!("stampede {name}");
    let mut x = open(&suite, 1, 0, 1, "0.000", timestamp);
    let message = match problems {
        [one] => one.clone(),
        _ => format!("{} problems: {}", problems.len(), problems.join("; ")),
    };
    x.push_str(&format!(
        "    <testcase name=\"bad input: nothing was sent and no threshold was judged\" classname=\"{}.run\" time=\"0.000\">\n      <error type=\"bad-input\" message=\"{}\">{}</error>\n    </testcase>\n",
        esc(&suite),
        esc(&message),
        esc(&problems.join("\n"))
    ));
    x.push_str(CLOSE);
    x
}

/// One test case per threshold of `suite`, a failure carrying the measured value and
/// `why` (the run's outcome classes and first failure examples), each case timed when
/// `time` is given (the run's duration, in seconds).
pub(super) fn threshold_cases(
    x: &mut String,
    results: &[crate::analysis::ThresholdResult],
    suite: &str,
    time: Option<&str>,
    why: &str,
) {
    let timed = time.map_or(String::new(), |t| format!(" time=\"{t}\""));
    for r in results {
        x.push_str(&format!(
            "    <testcase name=\"{}\" classname=\"{}.thresholds\"{timed}",
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
            let text = if why.is_empty() {
                msg.clone()
            } else {
                format!("{msg}\n{why}")
            };
            x.push_str(&format!(
                ">\n      <failure type=\"threshold\" message=\"{}\">{}</failure>\n    </testcase>\n",
                esc(&msg),
                esc(&text)
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
    use crate::report::testkit::{aborted, report};

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
            Some("a&b.p99 was it's \u{FFFD} \"odd\"; required a&b.p99 <= 1s\noutcomes: ok 1,500")
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

    #[test]
    fn suites_and_cases_carry_the_run_s_duration_and_start() {
        let mut r = with("ci-smoke", vec![result("login.p99 < 800ms", true, "12ms")]);
        r.plan.ended_ms = 25_013;
        let xml = junit(&r);
        let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
        for tag in ["testsuites", "testsuite", "testcase"] {
            let n = doc.descendants().find(|n| n.has_tag_name(tag)).unwrap();
            assert_eq!(n.attribute("time"), Some("25.013"), "{tag}");
        }
        for tag in ["testsuites", "testsuite"] {
            let n = doc.descendants().find(|n| n.has_tag_name(tag)).unwrap();
            assert_eq!(n.attribute("timestamp"), Some("2007-08-16T12:00:00Z"), "{tag}");
        }
    }

    #[test]
    fn an_aborted_run_names_its_condition_in_the_error_case() {
        let r = aborted(with("ci-smoke", vec![result("login.p99 < 800ms", true, "12ms")]));
        let xml = junit(&r);
        let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
        let error = doc.descendants().find(|n| n.has_tag_name("error")).unwrap();
        assert_eq!(error.attribute("type"), Some("aborted"));
        assert_eq!(
            error.attribute("message"),
            Some("aborted: `success_rate < 5% for 30s` held at 42s: sending stopped at 42s of 30s planned")
        );
        let case = error.parent().unwrap();
        assert_eq!(
            case.attribute("name"),
            Some(
                "run aborted: `success_rate < 5% for 30s` held at 42s: the thresholds cover only what was sent until then"
            )
        );
        assert!(!xml.contains("run interrupted"), "{xml}");
    }

    #[test]
    fn a_run_the_preflight_guard_stopped_says_so_not_interrupted() {
        let r = crate::report::testkit::preflighted(with("ci-smoke", vec![result("success_rate > 95%", false, "0%")]));
        let xml = junit(&r);
        let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
        let error = doc.descendants().find(|n| n.has_tag_name("error")).unwrap();
        assert_eq!(error.attribute("type"), Some("preflight"));
        let msg = error.attribute("message").unwrap();
        assert!(
            msg.starts_with(
                "stopped by the preflight guard at 1s: the first 77 logins before the trigger all failed with `capture`"
            ),
            "{msg}"
        );
        let case = error.parent().unwrap();
        assert!(
            case.attribute("name")
                .unwrap()
                .starts_with("run stopped by the preflight guard at 1s")
        );
        assert!(!xml.contains("interrupted"), "{xml}");
    }

    #[test]
    fn a_failure_says_why_with_the_outcome_classes_and_first_examples() {
        let mut r = report(60, 45, "storm", "");
        r.thresholds = vec![result("success_rate > 99%", false, "80%")];
        r.engine
            .stats
            .failure_examples
            .insert("timeout".into(), "step `auth`: no answer within 1s".into());
        let xml = junit(&r);
        let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
        let failure = doc.descendants().find(|n| n.has_tag_name("failure")).unwrap();
        let text = failure.text().unwrap();
        assert_eq!(
            text,
            "success_rate was 80%; required success_rate > 99%\n\
             outcomes: http_503_retry_after 2,250 · ok 2,250 · timeout 2,250\n\
             first timeout: step `auth`: no answer within 1s"
        );
        let out = doc
            .descendants()
            .rfind(|n| n.has_tag_name("system-out"))
            .unwrap()
            .text()
            .unwrap();
        assert!(
            out.ends_with("first timeout: step `auth`: no answer within 1s"),
            "{out}"
        );
    }

    #[test]
    fn bad_input_is_one_case_in_error_naming_every_problem() {
        let problems = vec![
            "--gate \"login.p99 < fast\": `fast` is not a duration".to_string(),
            "--gate \"x\": no operator".to_string(),
        ];
        let xml = junit_bad_input("ci-smoke", &problems, "2026-12-06T10:00:00Z");
        let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
        let root = doc.root_element();
        assert_eq!(
            (root.attribute("tests"), root.attribute("errors")),
            (Some("1"), Some("1"))
        );
        assert_eq!(root.attribute("timestamp"), Some("2026-12-06T10:00:00Z"));
        let error = doc.descendants().find(|n| n.has_tag_name("error")).unwrap();
        assert_eq!(error.attribute("type"), Some("bad-input"));
        assert_eq!(
            error.attribute("message"),
            Some("2 problems: --gate \"login.p99 < fast\": `fast` is not a duration; --gate \"x\": no operator")
        );
        assert_eq!(error.text(), Some(problems.join("\n").as_str()));
    }
}
