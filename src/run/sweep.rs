//! Finding the cliff: the same profile at several storm intensities, each with several
//! seeds. Intensity multiplies the storm: every wave's share (or every trace row's
//! count); 1 is the profile as written. More generally a sweep runs the points of a
//! [`Grid`] (`--vary` over profile fields, intensity being one such axis) and keeps
//! each run's report, so that its map links every cell to the runs behind it.

use std::path::Path;
use std::time::Duration;

use super::vary::Grid;
use crate::analysis::map::{Map, MapAxis, MapRun, map};
use crate::analysis::{Recovery, Sweep, ThresholdResult, aggregate};
use crate::engine::Progress;
use crate::plan::Plan;
use crate::profile::{Profile, StormSource};
use crate::run::{RunError, RunOptions, run};

/// Why a storm cannot be scaled by an intensity.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IntensityError {
    #[error("intensity {0} must be a number above zero")]
    NotPositive(f64),
    #[error("intensity {k}: the waves would reboot {percent:.0}% of the population (at most 100%)")]
    OverWhole { k: f64, percent: f64 },
    #[error("the profile has no storm to scale")]
    NoStorm,
}

/// The profile with its storm multiplied by `k`, or why that cannot be.
pub fn at_intensity(p: &Profile, k: f64) -> Result<Profile, IntensityError> {
    if !(k.is_finite() && k > 0.0) {
        return Err(IntensityError::NotPositive(k));
    }
    let mut q = p.clone();
    match &mut q.storm.source {
        StormSource::Waves(waves) => {
            let total: f64 = waves.iter().map(|w| w.share.0 * k).sum();
            if total > 1.0 + 1e-9 {
                return Err(IntensityError::OverWhole {
                    k,
                    percent: total * 100.0,
                });
            }
            for w in waves.iter_mut() {
                w.share.0 *= k;
            }
        }
        StormSource::Trace { events, .. } => {
            for (_, n) in events.iter_mut() {
                *n *= k;
            }
        }
        StormSource::None => return Err(IntensityError::NoStorm),
    }
    Ok(q)
}

/// One run of a sweep.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SweepRun {
    pub intensity: f64,
    /// The index of its point's value on each axis of the map.
    #[serde(default)]
    pub at: Vec<usize>,
    /// Its point: the value on each axis, as written.
    #[serde(default)]
    pub point: Vec<String>,
    pub seed: u64,
    pub storm_clients: u64,
    pub recovery: Recovery,
    /// The profile's thresholds (or `--gate`'s) judged on this run alone, as `run`
    /// judges them: a sweep's gate holds when it holds in every run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub thresholds: Vec<ThresholdResult>,
    /// The run's own report.json, relative to the sweep's folder (report.html beside it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,
}

impl SweepRun {
    /// How many of this run's thresholds failed.
    pub fn failed(&self) -> usize {
        self.thresholds.iter().filter(|t| !t.passed).count()
    }

    /// For a person: `intensity 1.5 seed 8`, or its point's values and seed.
    pub fn label(&self, axes: &[MapAxis]) -> String {
        match axes {
            [a] if a.path == "intensity" => format!("intensity {} seed {}", self.intensity, self.seed),
            _ => format!("{} seed {}", point_label(axes, &self.point), self.seed),
        }
    }
}

/// `storm.waves[0].share=10%, target.overlay.capacity=100/s`.
pub fn point_label(axes: &[MapAxis], point: &[String]) -> String {
    axes.iter()
        .zip(point)
        .map(|(a, v)| format!("{}={v}", a.path))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The sweep's result as written in `sweep.json`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SweepReport {
    pub schema: String,
    pub name: String,
    /// Stopped before every run was done: the sweep covers the runs that finished.
    #[serde(default)]
    pub interrupted: bool,
    pub runs: Vec<SweepRun>,
    /// The runs by intensity (one level when only `--vary` axes were swept).
    pub sweep: Sweep,
    /// The grid: each point's runs and verdict, the vulnerable region, the cliff.
    #[serde(default)]
    pub map: Option<Map>,
    /// The sweep-level thresholds (`metastable_share`, `cliff`), judged on the map.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gates: Vec<ThresholdResult>,
}

/// Why a sweep stopped.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error("{point}: {source}")]
    Run {
        point: String,
        #[source]
        source: RunError,
    },
    #[error("{point}: writing its report: {source}")]
    Write {
        point: String,
        #[source]
        source: crate::report::ReportError,
    },
}

/// How long the sweep will take: the sum of its points' planned durations, `seeds` each.
pub fn budget(grid: &Grid, seeds: u32) -> Duration {
    grid.points.iter().map(|pt| Plan::new(&pt.profile).end * seeds).sum()
}

/// Runs every (point, seed) of `grid` in turn, each with `base`'s options (its threads,
/// its permission for actions; no drain watch), and writes each run's report into
/// `out/runs/<point>-seed<N>/` when `out` is given; `each` is told of every run as it ends.
pub async fn sweep(
    grid: &Grid,
    seeds: u32,
    base: RunOptions,
    out: Option<&Path>,
    mut each: impl FnMut(&SweepRun),
    progress: &mut dyn Progress,
) -> Result<SweepReport, SweepError> {
    let mut runs = Vec::new();
    let name = grid.points.first().map_or(String::new(), |pt| pt.profile.name.clone());
    for pt in &grid.points {
        for s in 0..seeds as u64 {
            let mut q = pt.profile.clone();
            q.seed = pt.profile.seed.wrapping_add(s);
            let opts = RunOptions {
                skip_drain: true,
                ..base.clone()
            };
            let point = format!("{} seed {}", pt.label, q.seed);
            let r = run(&q, opts, progress).await.map_err(|source| SweepError::Run {
                point: point.clone(),
                source,
            })?;
            let report = match out {
                Some(dir) => {
                    let rel = format!("runs/{}-seed{}", pt.dir, q.seed);
                    r.write(&dir.join(&rel))
                        .map_err(|source| SweepError::Write { point, source })?;
                    Some(format!("{rel}/report.json"))
                }
                None => None,
            };
            let one = SweepRun {
                intensity: pt.intensity,
                at: pt.at.clone(),
                point: pt.values.clone(),
                seed: q.seed,
                storm_clients: r.plan.storm_clients,
                recovery: r.recovery.expect("every run is analysed"),
                thresholds: r.thresholds,
                report,
            };
            each(&one);
            runs.push(one);
        }
    }
    Ok(report(&name, &grid.axes, runs, false))
}

/// The sweep of the runs done so far.
pub fn report(name: &str, axes: &[MapAxis], runs: Vec<SweepRun>, interrupted: bool) -> SweepReport {
    let sweep = aggregate(
        &runs
            .iter()
            .map(|r| (r.intensity, r.seed, r.recovery.clone()))
            .collect::<Vec<_>>(),
    );
    let on_map: Vec<(Vec<usize>, MapRun)> = runs
        .iter()
        .map(|r| {
            let run = MapRun {
                seed: r.seed,
                verdict: r.recovery.verdict,
                confirmed: r.recovery.confirmed,
                recovery_time_ms: r.recovery.recovery_time_ms,
                report: r.report.clone(),
            };
            (r.at.clone(), run)
        })
        .collect();
    SweepReport {
        schema: "stampede.sweep/v1".into(),
        name: name.to_string(),
        interrupted,
        runs,
        sweep,
        map: (!axes.is_empty()).then(|| map(axes.to_vec(), &on_map)),
        gates: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intensity_scales_the_waves_and_refuses_more_than_everyone() {
        let text = "name: s\ntarget: { nodes: [http://127.0.0.1:1] }\npopulation: { simulate: 1000 }\nstorm: { waves: [ { share: 20% }, { at: 1m, share: 10% } ] }\nclient: { login: [ { request: POST /l } ] }\n";
        let p = crate::profile::parse(text, std::path::Path::new("s.yaml"), &|_| None).unwrap();
        let q = at_intensity(&p, 2.0).unwrap();
        assert_eq!(Plan::new(&q).storm_clients, 600);
        assert!(at_intensity(&p, 4.0).unwrap_err().to_string().contains("120%"));
        assert!(at_intensity(&p, 0.0).is_err());
    }
}
