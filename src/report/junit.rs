//! Threshold results as JUnit XML, the format every CI system shows as tests: one
//! test case per threshold, a failure carrying the measured value.

use crate::analysis::ThresholdResult;

/// Escapes text for XML attributes and content. Characters XML 1.0 cannot carry at
/// all (control characters other than tab, newline and carriage return) become U+FFFD.
fn esc(s: &str) -> String {
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

/// A JUnit report with one suite named `suite` and one test case per threshold.
pub fn junit(suite: &str, results: &[ThresholdResult]) -> String {
    let failures = results.iter().filter(|r| !r.passed).count();
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.push_str(&format!(
        "<testsuites name=\"stampede\" tests=\"{}\" failures=\"{failures}\" errors=\"0\">\n",
        results.len()
    ));
    x.push_str(&format!(
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\">\n",
        esc(suite),
        results.len()
    ));
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
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::gate::Unit;

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

    #[test]
    fn one_case_per_threshold_with_the_measured_value_on_failure() {
        let xml = junit(
            "patch <tuesday> & \"friends\"",
            &[
                result("login.p99 < 800ms", false, "1.2s"),
                result("verdict != metastable", true, "recovered"),
                result("a&b.p99 <= 1s", false, "it's \u{1} \"odd\""),
            ],
        );
        let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "testsuites");
        assert_eq!(root.attribute("failures"), Some("2"));
        let suite = root.children().find(|n| n.is_element()).unwrap();
        assert_eq!(suite.attribute("name"), Some("patch <tuesday> & \"friends\""));
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
}
