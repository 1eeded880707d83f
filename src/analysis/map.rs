//! The map of a sweep over one or two axes (`--intensity`, `--vary PATH=…`): each point of
//! the grid with its runs (one per seed), the point's verdict, the boundary of the
//! vulnerable region and the cliff (Huang et al., OSDI 2022: trigger size × load, where
//! a system stops recovering).
//!
//! A point *fails* when most of its seeds (more than half) did not recover (verdict
//! other than `recovered` or `never-degraded`, as in [`super::sweep`]). Its verdict:
//! `metastable` when it failed and most of its failed runs were metastable, otherwise
//! `not-recovered`; when it did not fail, `never-degraded` when every run was, otherwise
//! `recovered` with the median recovery time of its recovered runs.

use serde::{Deserialize, Serialize};

use super::sweep::median;
use crate::outcome::Verdict;

/// One axis: a profile path (or `intensity`) and the values it takes, as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MapAxis {
    pub path: String,
    pub values: Vec<String>,
    /// The profile's own value at `path`, as written (`1` for intensity); null when the
    /// profile leaves the field to its default.
    pub profile_value: Option<String>,
    /// Each value ÷ the profile's value (shares, rates and durations by their
    /// magnitude); null when either is not a number.
    pub relative: Vec<Option<f64>>,
}

/// One run at a point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MapRun {
    pub seed: u64,
    pub verdict: Verdict,
    /// The confirmation probe confirmed a metastable verdict.
    pub confirmed: bool,
    pub recovery_time_ms: Option<u64>,
    /// The run's report.json, relative to the sweep's folder.
    pub report: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum CellVerdict {
    NeverDegraded,
    Recovered,
    NotRecovered,
    Metastable,
    /// Interrupted before any run at this point.
    NotRun,
}

impl CellVerdict {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
    pub fn failed(self) -> bool {
        matches!(self, CellVerdict::NotRecovered | CellVerdict::Metastable)
    }
}

/// One point of the grid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// The index of its value on each axis.
    pub at: Vec<usize>,
    /// Its value on each axis, as written.
    pub point: Vec<String>,
    pub runs: Vec<MapRun>,
    pub verdict: CellVerdict,
    /// A metastable point whose metastable runs the probe confirmed (most of them).
    pub confirmed: bool,
    pub recovered: usize,
    pub not_recovered: usize,
    pub metastable: usize,
    /// Median recovery time of the recovered runs.
    pub median_recovery_ms: Option<u64>,
}

/// Where the vulnerable region begins in one column (a value of axis 1): the first row
/// (value of axis 2, or the single row of a one-axis map) at which the point failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Boundary {
    pub at: String,
    /// The row's index; null when no point of the column failed.
    pub row: Option<usize>,
    /// The axis-2 value of that row; null with one axis or when none failed.
    pub from: Option<String>,
}

/// The cliff along axis 1 in one row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowCliff {
    /// The row's axis-2 value; null with one axis.
    pub row: Option<String>,
    /// The smallest axis-1 value at which the point failed; null when none did.
    pub value: Option<String>,
    /// That value relative to the profile's own (`relative` of axis 1).
    pub relative: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Map {
    pub axes: Vec<MapAxis>,
    /// Axis 1 outer, axis 2 inner.
    pub cells: Vec<Cell>,
    pub boundary: Vec<Boundary>,
    pub cliffs: Vec<RowCliff>,
    /// The smallest cliff of any row, relative to the profile as written: `2` means
    /// most seeds stopped recovering at twice the profile's axis-1 value.
    pub cliff: Option<f64>,
    /// The largest relative axis-1 value swept: with no cliff, the cliff lies beyond it.
    pub searched_to: Option<f64>,
    pub runs: usize,
    /// Share of all runs whose verdict was metastable.
    pub metastable_share: f64,
}

fn cell(at: Vec<usize>, point: Vec<String>, runs: Vec<MapRun>) -> Cell {
    let mut times: Vec<u64> = runs
        .iter()
        .filter(|r| r.verdict.stayed_recovered())
        .map(|r| r.recovery_time_ms.unwrap_or(0))
        .collect();
    times.sort_unstable();
    let recovered = times.len();
    let not_recovered = runs.len() - recovered;
    let metastable = runs.iter().filter(|r| r.verdict == Verdict::Metastable).count();
    let confirmed_runs = runs
        .iter()
        .filter(|r| r.verdict == Verdict::Metastable && r.confirmed)
        .count();
    let verdict = if runs.is_empty() {
        CellVerdict::NotRun
    } else if not_recovered * 2 > runs.len() {
        if metastable * 2 > not_recovered {
            CellVerdict::Metastable
        } else {
            CellVerdict::NotRecovered
        }
    } else if runs.iter().all(|r| r.verdict == Verdict::NeverDegraded) {
        CellVerdict::NeverDegraded
    } else {
        CellVerdict::Recovered
    };
    Cell {
        at,
        point,
        verdict,
        confirmed: verdict == CellVerdict::Metastable && confirmed_runs * 2 > metastable,
        recovered,
        not_recovered,
        metastable,
        median_recovery_ms: median(&times),
        runs,
    }
}

/// The map of `runs`, each at its point (the index of its value on each axis).
pub fn map(axes: Vec<MapAxis>, runs: &[(Vec<usize>, MapRun)]) -> Map {
    let cols = axes.first().map_or(0, |a| a.values.len());
    let rows = axes.get(1).map_or(1, |a| a.values.len());
    let mut cells = Vec::with_capacity(cols * rows);
    for i in 0..cols {
        for j in 0..rows {
            let at: Vec<usize> = if axes.len() > 1 { vec![i, j] } else { vec![i] };
            let point = at.iter().zip(&axes).map(|(&k, a)| a.values[k].clone()).collect();
            let mine = runs.iter().filter(|(p, _)| *p == at).map(|(_, r)| r.clone()).collect();
            cells.push(cell(at, point, mine));
        }
    }
    let failed = |i: usize, j: usize| cells[i * rows + j].verdict.failed();
    let row_value = |j: usize| axes.get(1).map(|a| a.values[j].clone());
    let boundary = (0..cols)
        .map(|i| {
            let row = (0..rows).find(|&j| failed(i, j));
            Boundary {
                at: axes[0].values[i].clone(),
                row,
                from: row.and_then(row_value),
            }
        })
        .collect();
    let cliffs: Vec<RowCliff> = (0..rows)
        .map(|j| {
            let col = (0..cols).find(|&i| failed(i, j));
            RowCliff {
                row: row_value(j),
                value: col.map(|i| axes[0].values[i].clone()),
                relative: col.and_then(|i| axes[0].relative[i]),
            }
        })
        .collect();
    let cliff = cliffs.iter().filter_map(|c| c.relative).min_by(f64::total_cmp);
    let searched_to = axes
        .first()
        .and_then(|a| a.relative.iter().flatten().copied().max_by(f64::total_cmp));
    let metastable = runs.iter().filter(|(_, r)| r.verdict == Verdict::Metastable).count();
    Map {
        cliff,
        searched_to,
        runs: runs.len(),
        metastable_share: if runs.is_empty() {
            0.0
        } else {
            metastable as f64 / runs.len() as f64
        },
        axes,
        cells,
        boundary,
        cliffs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn axis(path: &str, values: &[&str], relative: &[f64]) -> MapAxis {
        MapAxis {
            path: path.into(),
            values: values.iter().map(|v| v.to_string()).collect(),
            profile_value: Some("x".into()),
            relative: relative.iter().map(|&r| Some(r)).collect(),
        }
    }

    fn r(seed: u64, verdict: Verdict, confirmed: bool, ms: Option<u64>) -> MapRun {
        MapRun {
            seed,
            verdict,
            confirmed,
            recovery_time_ms: ms,
            report: None,
        }
    }

    #[test]
    fn a_two_axis_map_has_its_verdicts_boundary_cliff_and_metastable_share() {
        use Verdict::*;
        let axes = vec![
            axis("storm.waves[0].share", &["10%", "20%", "40%"], &[0.5, 1.0, 2.0]),
            axis("target.overlay.capacity", &["100/s", "200/s"], &[0.5, 1.0]),
        ];
        let runs = vec![
            (vec![0, 0], r(1, NeverDegraded, false, Some(0))),
            (vec![0, 0], r(2, NeverDegraded, false, Some(0))),
            (vec![0, 1], r(1, Recovered, false, Some(3_000))),
            (vec![0, 1], r(2, NotRecovered, false, None)),
            (vec![1, 0], r(1, Recovered, false, Some(2_000))),
            (vec![1, 0], r(2, Recovered, false, Some(4_000))),
            (vec![1, 1], r(1, Metastable, true, None)),
            (vec![1, 1], r(2, Metastable, true, None)),
            (vec![2, 0], r(1, Metastable, false, None)),
            (vec![2, 0], r(2, NotRecovered, false, None)),
        ];
        let m = map(axes, &runs);
        let v: Vec<&str> = m.cells.iter().map(|c| c.verdict.as_str()).collect();
        assert_eq!(
            v,
            [
                "never-degraded",
                "recovered",
                "recovered",
                "metastable",
                "not-recovered",
                "not-run"
            ],
            "a tie (1 of 2 failed) is not most; one metastable of two failures is not most"
        );
        assert_eq!(m.cells[2].median_recovery_ms, Some(3_000));
        assert!(m.cells[3].confirmed && !m.cells[4].confirmed);
        let rows: Vec<Option<usize>> = m.boundary.iter().map(|b| b.row).collect();
        assert_eq!(rows, [None, Some(1), Some(0)]);
        assert_eq!(m.boundary[1].from.as_deref(), Some("200/s"));
        // Row 100/s fails first at 40% (2x), row 200/s at 20% (1x): the map's cliff is 1x.
        assert_eq!(m.cliffs[0].value.as_deref(), Some("40%"));
        assert_eq!(m.cliffs[1].relative, Some(1.0));
        assert_eq!(m.cliff, Some(1.0));
        assert_eq!(m.searched_to, Some(2.0));
        assert!((m.metastable_share - 0.3).abs() < 1e-9);
    }

    #[test]
    fn a_one_axis_map_is_one_row_and_without_failures_has_no_cliff() {
        let m = map(
            vec![axis("intensity", &["1", "2"], &[1.0, 2.0])],
            &[
                (vec![0], r(7, Verdict::Recovered, false, Some(1_000))),
                (vec![1], r(7, Verdict::NeverDegraded, false, Some(0))),
            ],
        );
        assert_eq!(m.cells.len(), 2);
        assert_eq!(m.cells[1].at, [1]);
        assert_eq!((m.cliff, m.searched_to), (None, Some(2.0)));
        assert!(m.boundary.iter().all(|b| b.row.is_none() && b.from.is_none()));
        assert_eq!(m.metastable_share, 0.0);
    }
}
