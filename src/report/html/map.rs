//! The heatmap of a sweep's map: axis 1 across, axis 2 down, each point coloured by its
//! verdict with the run page's colours, its median recovery time or verdict in words, a
//! mark when the probe confirmed it, links to its runs' pages, and the boundary of the
//! vulnerable region drawn along the edges of the points that failed.

use minijinja::{Value, context};

use crate::analysis::map::{Cell, CellVerdict, Map};
use crate::units::fmt_ms;

/// `good`, `warn` or `bad`, as the run page colours its verdicts: a point that recovered
/// although some of its seeds did not is `warn`.
fn tone(c: &Cell) -> &'static str {
    match c.verdict {
        CellVerdict::NeverDegraded | CellVerdict::Recovered if c.not_recovered == 0 => "good",
        CellVerdict::NeverDegraded | CellVerdict::Recovered => "warn",
        CellVerdict::NotRecovered | CellVerdict::Metastable => "bad",
        CellVerdict::NotRun => "none",
    }
}

fn words(c: &Cell) -> String {
    match (c.verdict, c.median_recovery_ms) {
        (CellVerdict::Recovered, Some(ms)) => fmt_ms(ms as f64),
        (CellVerdict::NeverDegraded, _) => "never degraded".into(),
        (CellVerdict::NotRecovered, _) => "not recovered".into(),
        (CellVerdict::Metastable, _) => "metastable".into(),
        (CellVerdict::NotRun, _) => "not run".into(),
        (CellVerdict::Recovered, None) => "recovered".into(),
    }
}

/// The page's context for the heatmap.
pub(super) fn heatmap(m: &Map) -> Value {
    let cols = m.axes[0].values.len();
    let rows = m.axes.get(1).map_or(1, |a| a.values.len());
    // The region's edge runs between the points that failed and those that did not,
    // whichever way an axis makes it worse.
    let inside = |i: usize, j: usize| m.cells[i * rows + j].verdict.failed();
    let grid: Vec<Value> = (0..rows)
        .map(|j| {
            let cells: Vec<Value> = (0..cols)
                .map(|i| {
                    let c = &m.cells[i * rows + j];
                    let mut edges = Vec::new();
                    if j > 0 && inside(i, j) != inside(i, j - 1) {
                        edges.push("edge-t");
                    }
                    if i > 0 && inside(i, j) != inside(i - 1, j) {
                        edges.push("edge-l");
                    }
                    let runs: Vec<Value> = c
                        .runs
                        .iter()
                        .map(|r| {
                            context! {
                                seed => r.seed,
                                verdict => r.verdict.as_str(),
                                confirmed => r.confirmed,
                                href => r.report.as_deref().map(|p| p.strip_suffix(".json").map_or(p.to_string(), |s| format!("{s}.html"))),
                            }
                        })
                        .collect();
                    let odd = if c.verdict.failed() { c.recovered } else { c.not_recovered };
                    context! {
                        verdict => c.verdict.as_str(),
                        tone => tone(c),
                        words => words(c),
                        confirmed => c.confirmed,
                        odd => (odd > 0).then(|| format!("{odd} of {} {}", c.runs.len(), if c.verdict.failed() { "recovered" } else { "did not recover" })),
                        edges => edges.join(" "),
                        point => c.point.join(", "),
                        runs => runs,
                    }
                })
                .collect();
            context! { head => m.axes.get(1).map(|a| a.values[j].clone()), cells => cells }
        })
        .collect();
    let times = |x: f64| format!("{}x", (x * 1000.0).round() / 1000.0);
    let cliff_at = m
        .cliffs
        .iter()
        .find(|c| c.relative.is_some() && c.relative == m.cliff)
        .and_then(|c| c.value.clone());
    context! {
        x => m.axes[0].path.clone(),
        y => m.axes.get(1).map(|a| a.path.clone()),
        x_values => m.axes[0].values.clone(),
        rows => grid,
        cliff => m.cliff.map(times),
        cliff_at => cliff_at,
        searched_to => m.searched_to.map(times),
        failed => m.cells.iter().any(|c| c.verdict.failed()),
        metastable => format!("{} of {}", (m.metastable_share * m.runs as f64).round(), m.runs),
        metastable_pct => crate::units::pct(m.metastable_share),
    }
}
