//! A sweep's thresholds as JUnit XML: the gate judges every run of the sweep as `run`
//! judges one, so each run is a test suite of its own (named by its intensity and
//! seed) with one test case per threshold.

use super::junit::{esc, threshold_cases};
use crate::analysis::ThresholdResult;

/// One run of a sweep, as its JUnit suite shows it.
pub struct SweepSuite<'a> {
    /// What tells the run apart, e.g. `intensity 1.5 seed 8`.
    pub label: String,
    /// The run's verdict as shown (`recovered`, `metastable`, ...).
    pub verdict: String,
    pub thresholds: &'a [ThresholdResult],
}

/// The JUnit report of a sweep named `name`: a suite per run, and when the sweep was
/// interrupted a suite with one case in error (the runs it never made were not judged).
pub fn junit_sweep(name: &str, runs: &[SweepSuite], interrupted: bool) -> String {
    let failures: usize = runs
        .iter()
        .map(|r| r.thresholds.iter().filter(|t| !t.passed).count())
        .sum();
    let errors = usize::from(interrupted);
    let tests = runs.iter().map(|r| r.thresholds.len()).sum::<usize>() + errors;
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.push_str(&format!(
        "<testsuites name=\"stampede sweep\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\">\n"
    ));
    for r in runs {
        let suite = format!("stampede {name} {}", r.label);
        let failed = r.thresholds.iter().filter(|t| !t.passed).count();
        x.push_str(&format!(
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failed}\" errors=\"0\" skipped=\"0\">\n",
            esc(&suite),
            r.thresholds.len()
        ));
        threshold_cases(&mut x, r.thresholds, &suite, None, "");
        x.push_str(&format!(
            "    <system-out>verdict: {}</system-out>\n  </testsuite>\n",
            esc(&r.verdict)
        ));
    }
    if interrupted {
        let suite = format!("stampede {name}");
        x.push_str(&format!(
            "  <testsuite name=\"{s}\" tests=\"1\" failures=\"0\" errors=\"1\" skipped=\"0\">\n    \
             <testcase name=\"sweep interrupted\" classname=\"{s}.sweep\">\n      \
             <error type=\"interrupted\" message=\"the sweep stopped after {} runs: the runs it did not make were not judged\"/>\n    \
             </testcase>\n  </testsuite>\n",
            runs.len(),
            s = esc(&suite)
        ));
    }
    x.push_str("</testsuites>\n");
    x
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::gate::Unit;

    fn result(expr: &str, passed: bool) -> ThresholdResult {
        ThresholdResult {
            expr: expr.into(),
            metric: "recovery_time".into(),
            passed,
            measured: "1m".into(),
            value: None,
            unit: Unit::Ms,
        }
    }

    #[test]
    fn a_suite_per_run_and_the_failures_counted_across_them() {
        let ok = [result("recovery_time < 3m", true)];
        let bad = [result("recovery_time < 3m", false)];
        let suite = |label: &str, t| SweepSuite {
            label: label.into(),
            verdict: "recovered".into(),
            thresholds: t,
        };
        let runs = [suite("intensity 0.5 seed 7", &ok), suite("intensity 2 seed 7", &bad)];
        let xml = junit_sweep("cliff & co", &runs, true);
        let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
        let root = doc.root_element();
        assert_eq!(
            (
                root.attribute("tests"),
                root.attribute("failures"),
                root.attribute("errors")
            ),
            (Some("3"), Some("1"), Some("1"))
        );
        let suites: Vec<_> = root.children().filter(|n| n.has_tag_name("testsuite")).collect();
        assert_eq!(suites.len(), 3);
        assert_eq!(
            suites[1].attribute("name"),
            Some("stampede cliff & co intensity 2 seed 7")
        );
        assert_eq!(suites[1].attribute("failures"), Some("1"));
        let failure = suites[1].descendants().find(|n| n.has_tag_name("failure")).unwrap();
        assert_eq!(
            failure.attribute("message"),
            Some("recovery_time was 1m; required recovery_time < 3m")
        );
        assert!(suites[2].descendants().any(|n| n.has_tag_name("error")));
    }
}
