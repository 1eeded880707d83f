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

/// One point of a map, as its JUnit case shows it: the thresholds of each of its runs.
pub struct MapCase<'a> {
    /// Its values on the axes, e.g. `storm.waves[0].share=10%, target.overlay.capacity=100/s`.
    pub label: String,
    /// The point's verdict in words (`recovered 3.5s`, `metastable ✓`).
    pub verdict: String,
    /// (seed, that run's thresholds).
    pub runs: Vec<(u64, &'a [ThresholdResult])>,
}

/// The JUnit report of a sweep named `name`: a suite per run, the sweep-level `gates` in
/// a suite of their own, and when the sweep was interrupted a suite with one case in
/// error (the runs it never made were not judged).
pub fn junit_sweep(name: &str, runs: &[SweepSuite], gates: &[ThresholdResult], interrupted: bool) -> String {
    let failures: usize = runs
        .iter()
        .map(|r| r.thresholds.iter().filter(|t| !t.passed).count())
        .sum();
    let tests = runs.iter().map(|r| r.thresholds.len()).sum::<usize>();
    let mut x = open(tests, failures, gates, interrupted);
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
    close(x, name, gates, interrupted, runs.len())
}

/// The JUnit report of a map: one suite with a case per point (failed when any threshold
/// failed in any of its runs, each named with its seed), then the sweep-level `gates`.
pub fn junit_map(name: &str, points: &[MapCase], gates: &[ThresholdResult], interrupted: bool) -> String {
    let failed = |p: &MapCase| -> Vec<String> {
        p.runs
            .iter()
            .flat_map(|(seed, ts)| {
                ts.iter()
                    .filter(|t| !t.passed)
                    .map(move |t| format!("seed {seed}: {} was {}; required {}", t.metric, t.measured, t.expr))
            })
            .collect()
    };
    let failures = points.iter().filter(|p| !failed(p).is_empty()).count();
    let mut x = open(points.len(), failures, gates, interrupted);
    let suite = format!("stampede {name} map");
    x.push_str(&format!(
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\">\n",
        esc(&suite),
        points.len()
    ));
    for p in points {
        x.push_str(&format!(
            "    <testcase name=\"{}\" classname=\"{}.points\">\n",
            esc(&p.label),
            esc(&suite)
        ));
        let bad = failed(p);
        let judged: usize = p.runs.iter().map(|(_, t)| t.len()).sum();
        if let Some(first) = bad.first() {
            x.push_str(&format!(
                "      <failure type=\"threshold\" message=\"{}\">{}</failure>\n",
                esc(first),
                esc(&bad.join("\n"))
            ));
        }
        x.push_str(&format!(
            "      <system-out>{}: {} runs, {} of {judged} thresholds failed</system-out>\n    </testcase>\n",
            esc(&p.verdict),
            p.runs.len(),
            bad.len()
        ));
    }
    x.push_str("  </testsuite>\n");
    close(x, name, gates, interrupted, points.iter().map(|p| p.runs.len()).sum())
}

fn open(tests: usize, failures: usize, gates: &[ThresholdResult], interrupted: bool) -> String {
    let errors = usize::from(interrupted);
    let tests = tests + gates.len() + errors;
    let failures = failures + gates.iter().filter(|t| !t.passed).count();
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.push_str(&format!(
        "<testsuites name=\"stampede sweep\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\">\n"
    ));
    x
}

/// The sweep-level gates' suite, the interruption's, and the end of the document.
fn close(mut x: String, name: &str, gates: &[ThresholdResult], interrupted: bool, runs: usize) -> String {
    if !gates.is_empty() {
        let suite = format!("stampede {name} sweep gates");
        x.push_str(&format!(
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"0\">\n",
            esc(&suite),
            gates.len(),
            gates.iter().filter(|t| !t.passed).count()
        ));
        threshold_cases(&mut x, gates, &suite, None, "");
        x.push_str("  </testsuite>\n");
    }
    if interrupted {
        let suite = format!("stampede {name}");
        x.push_str(&format!(
            "  <testsuite name=\"{s}\" tests=\"1\" failures=\"0\" errors=\"1\" skipped=\"0\">\n    \
             <testcase name=\"sweep interrupted\" classname=\"{s}.sweep\">\n      \
             <error type=\"interrupted\" message=\"the sweep stopped after {} runs: the runs it did not make were not judged\"/>\n    \
             </testcase>\n  </testsuite>\n",
            runs,
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
    fn the_sweep_level_gates_are_a_suite_of_their_own_and_count_in_the_totals() {
        let ok = [result("recovery_time < 3m", true)];
        let runs = [SweepSuite {
            label: "intensity 1 seed 7".into(),
            verdict: "recovered".into(),
            thresholds: &ok,
        }];
        let mut cliff = result("cliff > 2x", false);
        cliff.metric = "cliff".into();
        cliff.measured = "1.5x (intensity=1.5)".into();
        let xml = junit_sweep("s", &runs, &[cliff.clone()], false);
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let root = doc.root_element();
        assert_eq!(
            (root.attribute("tests"), root.attribute("failures")),
            (Some("2"), Some("1"))
        );
        let last = root.children().rfind(|n| n.has_tag_name("testsuite")).unwrap();
        assert_eq!(last.attribute("name"), Some("stampede s sweep gates"));
        let failure = last.descendants().find(|n| n.has_tag_name("failure")).unwrap();
        assert_eq!(
            failure.attribute("message"),
            Some("cliff was 1.5x (intensity=1.5); required cliff > 2x")
        );

        // A map: one case per point, failed when any of its runs failed a threshold.
        let bad = [result("recovery_time < 3m", false)];
        let points = [
            MapCase {
                label: "share=10%".into(),
                verdict: "recovered 2s".into(),
                runs: vec![(7, &ok[..]), (8, &ok[..])],
            },
            MapCase {
                label: "share=40%".into(),
                verdict: "metastable".into(),
                runs: vec![(7, &ok[..]), (8, &bad[..])],
            },
        ];
        let xml = junit_map("s", &points, &[cliff], false);
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let root = doc.root_element();
        assert_eq!(
            (root.attribute("tests"), root.attribute("failures")),
            (Some("3"), Some("2"))
        );
        let cases: Vec<_> = doc.descendants().filter(|n| n.has_tag_name("testcase")).collect();
        assert_eq!(cases.len(), 3);
        assert!(!cases[0].descendants().any(|n| n.has_tag_name("failure")));
        let failure = cases[1].descendants().find(|n| n.has_tag_name("failure")).unwrap();
        assert_eq!(
            failure.attribute("message"),
            Some("seed 8: recovery_time was 1m; required recovery_time < 3m")
        );
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
        let xml = junit_sweep("cliff & co", &runs, &[], true);
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
