//! A sweep's CI job summary (`sweep --summary`, and `$GITHUB_STEP_SUMMARY`): the gate's
//! outcome first, then each intensity's recoveries, then every threshold that failed
//! with the run it failed in, so the job page says why without opening sweep.json.

use super::junit_sweep::SweepSuite;
use super::markdown::{cell, code};
use crate::analysis::ThresholdResult;
use crate::analysis::map::Map;
use crate::analysis::sweep::Sweep;
use crate::units::{fmt_ms, thousands};

/// The summary of sweep `name` over `runs` (the runs that finished), aggregated as `s`.
/// With a `map` over `--vary` axes, the map's table replaces the table by intensity; the
/// sweep-level `gates` count with the runs' thresholds.
pub fn sweep_markdown(
    name: &str,
    s: &Sweep,
    map: Option<&Map>,
    runs: &[SweepSuite],
    gates: &[ThresholdResult],
    interrupted: bool,
) -> String {
    let sweep_gates = SweepSuite {
        label: "the sweep".into(),
        verdict: String::new(),
        thresholds: gates,
    };
    let failed: Vec<(&SweepSuite, &ThresholdResult)> = runs
        .iter()
        .chain(std::iter::once(&sweep_gates))
        .flat_map(|r| r.thresholds.iter().filter(|t| !t.passed).map(move |t| (r, t)))
        .collect();
    let judged: usize = runs.iter().map(|r| r.thresholds.len()).sum::<usize>() + gates.len();
    let (mark, outcome) = match (interrupted, failed.len(), judged) {
        (true, ..) => ("❌", "interrupted: the runs it never made were not judged".to_string()),
        (false, 0, 0) => ("✅", "no thresholds to judge".to_string()),
        (false, 0, n) => (
            "✅",
            format!("all {} thresholds held in every run", thousands(n as u64)),
        ),
        (false, f, n) => (
            "❌",
            format!("{} of {} thresholds failed", thousands(f as u64), thousands(n as u64)),
        ),
    };
    let mut m = format!(
        "## {mark} stampede sweep {}: {} runs, {outcome}\n\n",
        code(name),
        thousands(runs.len() as u64)
    );
    if let Some(grid) = map.filter(|g| g.axes.iter().any(|a| a.path != "intensity")) {
        m.push_str(&super::text_map::map_markdown(grid));
    } else {
        let at = |v: Option<f64>| v.map_or_else(|| "none".to_string(), |x| format!("intensity {x}"));
        m.push_str(&format!(
            "Always recovered up to: **{}** · first failure at: **{}** · cliff (most runs fail) at: **{}**\n\n",
            at(s.safe_up_to),
            at(s.first_failure),
            at(s.cliff)
        ));
        m.push_str("| intensity | runs | recovered | median recovery | range | not recovered (seeds) |\n");
        m.push_str("| ---: | ---: | ---: | ---: | --- | --- |\n");
        let ms = |v: Option<u64>| v.map_or_else(|| "–".to_string(), |v| fmt_ms(v as f64));
        for l in &s.levels {
            let range = match (l.min_recovery_ms, l.max_recovery_ms) {
                (Some(a), Some(b)) => format!("{} – {}", ms(Some(a)), ms(Some(b))),
                _ => "–".into(),
            };
            let seeds: Vec<String> = l.failed_seeds.iter().map(u64::to_string).collect();
            let not = if seeds.is_empty() {
                "0".to_string()
            } else {
                format!("{} ({})", l.not_recovered, seeds.join(", "))
            };
            m.push_str(&format!(
                "| {} | {} | {} | {} | {range} | {not} |\n",
                l.intensity,
                l.runs,
                l.recovered,
                ms(l.median_recovery_ms)
            ));
        }
    }
    if !failed.is_empty() {
        m.push_str(
            "\n### Thresholds that failed\n\n| run | verdict | threshold | measured |\n| --- | --- | --- | --- |\n",
        );
        for (r, t) in &failed {
            m.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                cell(&r.label),
                cell(&r.verdict),
                code(&t.expr),
                cell(&t.measured)
            ));
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::ThresholdResult;
    use crate::analysis::sweep::Level;

    fn threshold(expr: &str, passed: bool, measured: &str) -> ThresholdResult {
        ThresholdResult {
            expr: expr.into(),
            metric: expr.split(' ').next().unwrap_or_default().into(),
            passed,
            measured: measured.into(),
            value: None,
            unit: crate::analysis::gate::Unit::Verdict,
        }
    }

    #[test]
    fn names_the_failed_threshold_with_its_run_and_the_levels() {
        let ok = [threshold("recovery_time < 3m", true, "1m 2s")];
        let bad = [threshold("recovery_time < 3m", false, "not recovered (metastable)")];
        let runs = [
            SweepSuite {
                label: "intensity 1 seed 1".into(),
                verdict: "recovered".into(),
                thresholds: &ok,
            },
            SweepSuite {
                label: "intensity 4 seed 1".into(),
                verdict: "metastable".into(),
                thresholds: &bad,
            },
        ];
        let level = |k: f64, rec: usize, seeds: Vec<u64>| Level {
            intensity: k,
            runs: 1,
            recovered: rec,
            not_recovered: 1 - rec,
            failed_seeds: seeds,
            median_recovery_ms: (rec == 1).then_some(62_000),
            min_recovery_ms: (rec == 1).then_some(62_000),
            max_recovery_ms: (rec == 1).then_some(62_000),
            verdicts: Default::default(),
        };
        let s = Sweep {
            levels: vec![level(1.0, 1, vec![]), level(4.0, 0, vec![1])],
            first_failure: Some(4.0),
            cliff: Some(4.0),
            safe_up_to: Some(1.0),
        };
        let md = sweep_markdown("patch-tuesday", &s, None, &runs, &[], false);
        assert!(
            md.starts_with("## ❌ stampede sweep ` patch-tuesday `: 2 runs, 1 of 2 thresholds failed"),
            "{md}"
        );
        assert!(md.contains("Always recovered up to: **intensity 1**"), "{md}");
        assert!(md.contains("| 4 | 1 | 0 | – | – | 1 (1) |"), "{md}");
        assert!(
            md.contains("| intensity 4 seed 1 | metastable | ` recovery_time < 3m ` | not recovered (metastable) |"),
            "{md}"
        );
        let passed = sweep_markdown("p", &s, None, &runs[..1], &[], false);
        assert!(
            passed.starts_with("## ✅") && !passed.contains("Thresholds that failed"),
            "{passed}"
        );
        assert!(sweep_markdown("p", &s, None, &runs, &[], true).contains("interrupted"));
    }
}
