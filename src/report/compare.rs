//! What `stampede compare` writes for a CI job: the Markdown summary and JUnit XML of a
//! comparison, and the notes every output of it leads with (two different profiles,
//! two different seeds). The figures and judgements come from `analysis::compare`.

use super::Report;
use super::junit::{CLOSE, esc, open};
use super::markdown::{cell, code};
use crate::analysis::Comparison;

/// What makes BASE and NEW not two runs of one storm, each named: a different profile,
/// the same profile changed, or a different seed. Empty when they are comparable.
pub fn profile_notes(base: &Report, new: &Report) -> Vec<String> {
    let mut notes = Vec::new();
    if base.name != new.name {
        notes.push(format!(
            "BASE and NEW are different profiles: BASE ran `{}`, NEW ran `{}`; the figures are of two different storms",
            base.name, new.name
        ));
    } else if !base.profile_digest.is_empty()
        && !new.profile_digest.is_empty()
        && base.profile_digest != new.profile_digest
    {
        notes.push(format!(
            "BASE and NEW ran different versions of the profile `{}`: its text changed between the runs",
            base.name
        ));
    }
    if base.seed != new.seed {
        notes.push(format!(
            "BASE ran seed {}, NEW seed {}: the storms are different draws",
            base.seed, new.seed
        ));
    }
    notes
}

/// The comparison's one-line verdict: `2 regressions` or `no regression`.
fn headline(c: &Comparison) -> String {
    match c.regressions().count() {
        0 => "no regression".into(),
        1 => "1 regression".into(),
        n => format!("{n} regressions"),
    }
}

/// The comparison as a CI job summary: the verdict first, the notes, one row per
/// figure with its judgement, then the evidence behind each latency that moved.
pub fn markdown(base: &Report, new: &Report, c: &Comparison) -> String {
    let icon = if c.any_regression() { "❌" } else { "✅" };
    let name = |r: &Report| r.name.replace('`', "'");
    let mut m = format!(
        "## {icon} stampede compare: {} — `{}` (seed {}, {}) vs `{}` (seed {}, {})\n\n",
        headline(c),
        name(base),
        base.seed,
        base.started_at,
        name(new),
        new.seed,
        new.started_at
    );
    for n in profile_notes(base, new) {
        m.push_str(&format!("> ⚠️ {}\n\n", cell(&n)));
    }
    m.push_str("| | metric | base | new | change | judgement |\n| --- | --- | ---: | ---: | ---: | --- |\n");
    for r in &c.rows {
        let mark = match r.status() {
            "REGRESSED" => "❌",
            "" => "✅",
            _ => "⚠️",
        };
        m.push_str(&format!(
            "| {mark} | {} | {} | {} | {} | {} |\n",
            code(&r.metric),
            cell(&r.base),
            cell(&r.new),
            r.change_pct.map_or("–".into(), |c| format!("{c:+.1}%")),
            r.status()
        ));
    }
    let noise = super::text::noise_lines(c);
    if !noise.is_empty() {
        m.push_str("\nWindow by window:\n\n");
        for (metric, words) in noise {
            m.push_str(&format!("- {}: {}\n", code(&metric), cell(&words)));
        }
    }
    m.push_str(&format!("\nJudged with {}.\n", c.rule_words()));
    m
}

/// The comparison as JUnit XML: a suite `stampede compare BASE vs NEW`, one test case
/// per figure, a failure for each regression with its figures and the windows'
/// evidence. The suite's `timestamp` is NEW's start; `time` is 0 (nothing ran).
pub fn junit(base: &Report, new: &Report, c: &Comparison) -> String {
    let suite = format!("stampede compare {} vs {}", base.name, new.name);
    let failures = c.regressions().count();
    let mut x = open(&suite, c.rows.len(), failures, 0, "0.000", &new.started_at);
    for r in &c.rows {
        let change = r.change_pct.map_or(String::new(), |c| format!(" ({c:+.1}%)"));
        let mut what = format!("{} went {} → {}{change}", r.metric, r.base, r.new);
        if let Some(n) = r.noise.as_ref().filter(|_| r.worse) {
            what.push_str(&format!("; {}", n.words()));
        }
        x.push_str(&format!(
            "    <testcase name=\"{}\" classname=\"{}.figures\" time=\"0.000\">\n",
            esc(&r.metric),
            esc(&suite)
        ));
        if r.regressed {
            x.push_str(&format!(
                "      <failure type=\"regression\" message=\"{}\">{}</failure>\n",
                esc(&format!("{what}: REGRESSED")),
                esc(&format!("{what}\njudged with {}", c.rule_words()))
            ));
        } else {
            let status = match r.status() {
                "" => String::new(),
                s => format!(": {s}"),
            };
            x.push_str(&format!(
                "      <system-out>{}</system-out>\n",
                esc(&format!("{what}{status}"))
            ));
        }
        x.push_str("    </testcase>\n");
    }
    let mut out = profile_notes(base, new);
    out.push(format!("judged with {}", c.rule_words()));
    x.push_str(&format!("    <system-out>{}</system-out>\n", esc(&out.join("\n"))));
    x.push_str(CLOSE);
    x
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::compare;
    use crate::report::testkit::report;

    fn pair(base: &Report, new: &Report) -> Comparison {
        let (br, nr) = (base.recovery.as_ref().unwrap(), new.recovery.as_ref().unwrap());
        compare(&base.windows, br, &new.windows, nr, 0.1)
    }

    #[test]
    fn different_profiles_and_seeds_are_named_in_every_output() {
        let base = report(60, 45, "patch-tuesday", "");
        let mut same = base.clone();
        assert!(profile_notes(&base, &same).is_empty());
        same.seed = 8;
        assert_eq!(
            profile_notes(&base, &same),
            vec!["BASE ran seed 7, NEW seed 8: the storms are different draws".to_string()]
        );
        let other = report(60, 45, "ci-smoke", "");
        let note = "BASE and NEW are different profiles: BASE ran `patch-tuesday`, NEW ran `ci-smoke`; the figures are of two different storms";
        assert_eq!(profile_notes(&base, &other), vec![note.to_string()]);
        let c = pair(&base, &other);
        assert!(markdown(&base, &other, &c).contains(&format!("> ⚠️ {note}")));
        let page = crate::report::html::render_compare(&base, &other, &c).unwrap();
        assert!(
            page.contains("BASE and NEW are different profiles: BASE ran `patch-tuesday`"),
            "the page says it too"
        );
        let xml = junit(&base, &other, &c);
        let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
        let out = doc
            .descendants()
            .filter(|n| n.has_tag_name("system-out"))
            .map(|n| n.text().unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n");
        assert!(out.contains(note), "{out}");
        let mut changed = base.clone();
        (changed.profile_digest, same.profile_digest) = ("ab".into(), "cd".into());
        same.seed = 7;
        assert_eq!(
            profile_notes(&changed, &same),
            vec![
                "BASE and NEW ran different versions of the profile `patch-tuesday`: its text changed between the runs"
                    .to_string()
            ]
        );
    }

    #[test]
    fn a_regression_is_a_junit_failure_and_a_red_summary_row() {
        let base = report(60, 45, "storm", "");
        // Recovers 5 s later.
        let new = report(60, 50, "storm", "");
        let c = pair(&base, &new);
        assert!(c.any_regression());
        let xml = junit(&base, &new, &c);
        let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
        let suite = doc.descendants().find(|n| n.has_tag_name("testsuite")).unwrap();
        assert_eq!(suite.attribute("name"), Some("stampede compare storm vs storm"));
        assert_eq!(suite.attribute("tests"), Some(c.rows.len().to_string().as_str()));
        assert_eq!(
            suite.attribute("failures"),
            Some(c.regressions().count().to_string().as_str())
        );
        assert_eq!(suite.attribute("timestamp"), Some("2007-08-16T12:00:00Z"));
        let failed: Vec<_> = doc
            .descendants()
            .filter(|n| n.has_tag_name("failure"))
            .map(|f| f.parent().unwrap().attribute("name").unwrap())
            .collect();
        assert!(failed.contains(&"recovery_time"), "{failed:?}");
        let rt = doc
            .descendants()
            .find(|n| n.has_tag_name("failure") && n.parent().unwrap().attribute("name") == Some("recovery_time"))
            .unwrap();
        assert_eq!(
            rt.attribute("message"),
            Some("recovery_time went 25s → 30s (+20.0%): REGRESSED")
        );
        let md = markdown(&base, &new, &c);
        assert!(md.starts_with("## ❌ stampede compare: "), "{md}");
        assert!(
            md.contains("| ❌ | ` recovery_time ` | 25s | 30s | +20.0% | REGRESSED |"),
            "{md}"
        );
        assert!(
            md.contains("\nJudged with tolerance 10%; floors: latency 5ms, "),
            "{md}"
        );
        let calm = markdown(&base, &base, &pair(&base, &base));
        assert!(
            calm.starts_with("## ✅ stampede compare: no regression — `storm` (seed 7, "),
            "{calm}"
        );
    }
}
