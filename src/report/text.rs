//! Plain-text tables for the terminal: a comparison of two runs and a sweep. The
//! figures come from `analysis`; only their layout is decided here.

use crate::analysis::Comparison;
use crate::analysis::sweep::Sweep;
use crate::units::fmt_ms;

/// Lays out `rows` under `head` in aligned columns, two spaces apart, each line
/// trimmed at its end. Columns in `left` are aligned left (names), the others right
/// (figures).
fn table<const N: usize>(head: [&str; N], rows: &[[String; N]], left: &[usize]) -> String {
    let mut width = head.map(|h| h.chars().count());
    for row in rows {
        for (w, c) in width.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: [&str; N]| {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(width).enumerate() {
            let pad = " ".repeat(w - c.chars().count());
            if left.contains(&i) {
                s.push_str(c);
                s.push_str(&pad);
            } else {
                s.push_str(&pad);
                s.push_str(c);
            }
            s.push_str("  ");
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(head);
    for row in rows {
        out.push_str(&line(row.each_ref().map(String::as_str)));
    }
    out
}

/// Two runs side by side, one line per figure with its judgement, then what the
/// windows showed of each latency that moved, how figures were judged, and whether any
/// regressed.
pub fn comparison(c: &Comparison) -> String {
    let body: Vec<[String; 5]> = c
        .rows
        .iter()
        .map(|r| {
            [
                r.metric.clone(),
                r.base.clone(),
                r.new.clone(),
                r.change_pct.map_or("–".into(), |c| format!("{c:+.1}%")),
                r.status().to_string(),
            ]
        })
        .collect();
    let mut out = table(["metric", "base", "new", "change", ""], &body, &[0, 4]);
    for (metric, noise) in noise_lines(c) {
        out.push_str(&format!("  {metric}: {noise}\n"));
    }
    let n = c.regressions().count();
    out.push_str(&if n == 0 {
        format!("no regression ({})\n", c.rule_words())
    } else {
        format!("{n} regression(s) ({})\n", c.rule_words())
    });
    out
}

/// What the paired windows showed, for each figure worse over the whole run: the
/// evidence behind "within noise" or REGRESSED.
pub fn noise_lines(c: &Comparison) -> Vec<(String, String)> {
    c.rows
        .iter()
        .filter(|r| r.worse)
        .filter_map(|r| r.noise.as_ref().map(|n| (r.metric.clone(), n.words())))
        .collect()
}

fn ms(v: Option<u64>) -> String {
    v.map_or_else(|| "–".into(), |v| fmt_ms(v as f64))
}

/// One line per intensity, then where recovery stops.
pub fn sweep(s: &Sweep) -> String {
    let body: Vec<[String; 6]> = s
        .levels
        .iter()
        .map(|l| {
            [
                format!("{}", l.intensity),
                l.runs.to_string(),
                l.recovered.to_string(),
                ms(l.median_recovery_ms),
                match (l.min_recovery_ms, l.max_recovery_ms) {
                    (Some(a), Some(b)) => format!("{} – {}", ms(Some(a)), ms(Some(b))),
                    _ => "–".into(),
                },
                if l.failed_seeds.is_empty() {
                    "0".into()
                } else {
                    let seeds: Vec<String> = l.failed_seeds.iter().map(u64::to_string).collect();
                    format!("{} (seeds {})", l.not_recovered, seeds.join(", "))
                },
            ]
        })
        .collect();
    let head = ["intensity", "runs", "recovered", "median", "range", "not recovered"];
    let mut out = table(head, &body, &[5]);
    let f = |v: Option<f64>| v.map_or_else(|| "none".to_string(), |x| x.to_string());
    out.push_str(&format!(
        "always recovered up to: {}; first failure at: {}; cliff (most runs fail) at: {}\n",
        f(s.safe_up_to),
        f(s.first_failure),
        f(s.cliff)
    ));
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::analysis::compare::{Better, Row};
    use crate::analysis::sweep::Level;

    fn row(metric: &str, base: &str, new: &str, change: Option<f64>, regressed: bool) -> Row {
        Row {
            metric: metric.into(),
            base: base.into(),
            new: new.into(),
            base_value: None,
            new_value: None,
            change_pct: change,
            better: Better::Lower,
            regressed,
            worse: regressed,
            gated: true,
            within_noise: false,
            noise: None,
        }
    }

    #[test]
    fn a_comparison_aligns_names_left_and_figures_right() {
        let c = Comparison {
            tolerance: 0.1,
            rows: vec![
                row("recovery_time", "2s", "4s", Some(100.0), true),
                row("login.p99", "20ms", "20ms", Some(0.0), false),
            ],
            floors: None,
            window_ms: 1000.0,
        };
        assert_eq!(
            comparison(&c),
            "metric         base   new   change\n\
             recovery_time    2s    4s  +100.0%  REGRESSED\n\
             login.p99      20ms  20ms    +0.0%\n\
             1 regression(s) (tolerance 10%; floors: latency 5ms, recovery_time 1s (one window), failures 0.1% point, down_share 1% point (at least one window), retry_amplification 0.05)\n"
        );
        let calm = Comparison {
            tolerance: 0.1,
            rows: vec![row("verdict", "recovered", "recovered", None, false)],
            floors: None,
            window_ms: 1000.0,
        };
        assert!(comparison(&calm).starts_with("metric"));
        assert!(comparison(&calm).contains("\nno regression (tolerance 10%; floors: "));
    }

    fn level(intensity: f64, times: &[u64], failed_seeds: &[u64]) -> Level {
        let mut sorted = times.to_vec();
        sorted.sort_unstable();
        Level {
            intensity,
            runs: times.len() + failed_seeds.len(),
            recovered: times.len(),
            not_recovered: failed_seeds.len(),
            failed_seeds: failed_seeds.to_vec(),
            median_recovery_ms: sorted.get(sorted.len() / 2).copied(),
            min_recovery_ms: sorted.first().copied(),
            max_recovery_ms: sorted.last().copied(),
            verdicts: BTreeMap::new(),
        }
    }

    #[test]
    fn a_sweep_lists_each_intensity_and_where_recovery_stops() {
        let s = Sweep {
            levels: vec![
                level(1.0, &[500, 1000], &[]),
                level(2.0, &[2000, 9000], &[1]),
                level(4.0, &[], &[1, 2]),
            ],
            first_failure: Some(2.0),
            cliff: Some(4.0),
            safe_up_to: Some(1.0),
        };
        let text = sweep(&s);
        assert_eq!(
            text,
            "intensity  runs  recovered  median       range  not recovered\n\
             \x20       1     2          2      1s  500ms – 1s  0\n\
             \x20       2     3          2      9s     2s – 9s  1 (seeds 1)\n\
             \x20       4     2          0       –           –  2 (seeds 1, 2)\n\
             always recovered up to: 1; first failure at: 2; cliff (most runs fail) at: 4\n"
        );
    }
}
