//! A sweep's map as text: axis 1 across, axis 2 down, each point's verdict and median
//! recovery time, for the terminal and (as a Markdown table) for a CI job page.

use crate::analysis::map::{Cell, CellVerdict, Map};
use crate::units::{fmt_ms, pct};

/// A point in a few words: `recovered 3.5s`, `metastable ✓` (confirmed by the probe),
/// with `(1 of 3 failed)` when not every seed agreed.
pub fn cell_words(c: &Cell) -> String {
    let v = match (c.verdict, c.median_recovery_ms) {
        (CellVerdict::Recovered, Some(ms)) => format!("recovered {}", fmt_ms(ms as f64)),
        (CellVerdict::Metastable, _) if c.confirmed => "metastable ✓".into(),
        (v, _) => v.as_str().to_string(),
    };
    let n = c.runs.len();
    let odd = if c.verdict.failed() {
        c.recovered
    } else {
        c.not_recovered
    };
    if odd > 0 {
        let what = if c.verdict.failed() { "recovered" } else { "failed" };
        format!("{v} ({odd} of {n} {what})")
    } else {
        v
    }
}

/// The rows of the map: a header (axis 2's path, then axis 1's values) and one row per
/// axis-2 value.
fn rows(m: &Map) -> Vec<Vec<String>> {
    let cols = m.axes[0].values.len();
    let nrows = m.axes.get(1).map_or(1, |a| a.values.len());
    let corner = match m.axes.get(1) {
        Some(a) => format!("{} ↓ / {} →", a.path, m.axes[0].path),
        None => format!("{} →", m.axes[0].path),
    };
    let mut out = vec![
        std::iter::once(corner)
            .chain(m.axes[0].values.iter().cloned())
            .collect(),
    ];
    for j in 0..nrows {
        let head = m.axes.get(1).map_or(String::new(), |a| a.values[j].clone());
        let row = (0..cols).map(|i| cell_words(&m.cells[i * nrows + j]));
        out.push(std::iter::once(head).chain(row).collect());
    }
    out
}

/// The cliff and the metastable share in one line.
pub fn findings(m: &Map) -> String {
    let times = |x: f64| format!("{}x", (x * 1000.0).round() / 1000.0);
    let cliff = match (m.cliff, m.searched_to) {
        (Some(c), _) => format!("{} the profile's {}", times(c), m.axes[0].path),
        (None, Some(to)) => format!("none up to {}", times(to)),
        (None, None) => "none".into(),
    };
    let meta = (m.metastable_share * m.runs as f64).round() as usize;
    format!(
        "cliff (most seeds fail): {cliff} · metastable runs: {meta} of {} ({})\n",
        m.runs,
        pct(m.metastable_share)
    )
}

/// The map as an aligned text table.
pub fn map(m: &Map) -> String {
    let rows = rows(m);
    let width: Vec<usize> = (0..rows[0].len())
        .map(|k| rows.iter().map(|r| r[k].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in &rows {
        let line: Vec<String> = r
            .iter()
            .zip(&width)
            .map(|(c, w)| format!("{c}{}", " ".repeat(w - c.chars().count())))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out.push_str(&findings(m));
    out
}

/// The map as a Markdown table.
pub fn map_markdown(m: &Map) -> String {
    let rows = rows(m);
    let esc = |s: &str| s.replace('|', "\\|");
    let mut out = String::new();
    for (k, r) in rows.iter().enumerate() {
        out.push_str(&format!(
            "| {} |\n",
            r.iter().map(|c| esc(c)).collect::<Vec<_>>().join(" | ")
        ));
        if k == 0 {
            out.push_str(&format!("|{}\n", " --- |".repeat(r.len())));
        }
    }
    out.push('\n');
    out.push_str(&findings(m));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::map::{MapAxis, MapRun, map as build};
    use crate::outcome::Verdict;

    #[test]
    fn the_map_reads_across_and_down() {
        let axis = |p: &str, v: &[&str]| MapAxis {
            path: p.into(),
            values: v.iter().map(|s| s.to_string()).collect(),
            profile_value: None,
            relative: vec![None; v.len()],
        };
        let run = |verdict, ms| MapRun {
            seed: 1,
            verdict,
            confirmed: true,
            recovery_time_ms: ms,
            report: None,
        };
        let m = build(
            vec![axis("share", &["10%", "40%"]), axis("capacity", &["100/s"])],
            &[
                (vec![0, 0], run(Verdict::Recovered, Some(1_500))),
                (vec![1, 0], run(Verdict::Metastable, None)),
            ],
        );
        let t = map(&m);
        assert!(t.starts_with("capacity ↓ / share →  10%"), "{t}");
        assert!(
            t.contains("\n100/s ") && t.contains(" recovered 1.5s  metastable ✓\n"),
            "{t}"
        );
        assert!(
            t.contains("cliff (most seeds fail): none · metastable runs: 1 of 2 (50%)"),
            "{t}"
        );
        assert!(map_markdown(&m).contains("| 100/s | recovered 1.5s | metastable ✓ |"));
    }
}
