//! Finding the cliff: the same profile at several storm intensities, each with several
//! seeds. Intensity multiplies the storm: every wave's share (or every trace row's
//! count); 1 is the profile as written.

use std::time::Duration;

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
    pub seed: u64,
    pub storm_clients: u64,
    pub recovery: Recovery,
    /// The profile's thresholds (or `--gate`'s) judged on this run alone, as `run`
    /// judges them: a sweep's gate holds when it holds in every run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub thresholds: Vec<ThresholdResult>,
}

impl SweepRun {
    /// How many of this run's thresholds failed.
    pub fn failed(&self) -> usize {
        self.thresholds.iter().filter(|t| !t.passed).count()
    }
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
    pub sweep: Sweep,
}

/// How long the sweep will take: the sum of the runs' planned durations.
pub fn budget(p: &Profile, intensities: &[f64], seeds: u32) -> Result<Duration, IntensityError> {
    let mut total = Duration::ZERO;
    for &k in intensities {
        let q = at_intensity(p, k)?;
        total += Plan::new(&q).end * seeds;
    }
    Ok(total)
}

/// Runs every (intensity, seed) in turn, each with `base`'s options (its threads, its
/// permission for actions; no drain watch); `each` is told of every run as it ends.
pub async fn sweep(
    p: &Profile,
    intensities: &[f64],
    seeds: u32,
    base: RunOptions,
    mut each: impl FnMut(&SweepRun),
    progress: &mut dyn Progress,
) -> Result<SweepReport, RunError> {
    let mut runs = Vec::new();
    for &k in intensities {
        let scaled = at_intensity(p, k)?;
        for s in 0..seeds as u64 {
            let mut q = scaled.clone();
            q.seed = p.seed.wrapping_add(s);
            let opts = RunOptions {
                skip_drain: true,
                ..base.clone()
            };
            let r = run(&q, opts, progress).await?;
            let one = SweepRun {
                intensity: k,
                seed: q.seed,
                storm_clients: r.plan.storm_clients,
                recovery: r.recovery.expect("every run is analysed"),
                thresholds: r.thresholds,
            };
            each(&one);
            runs.push(one);
        }
    }
    Ok(report(&p.name, runs, false))
}

/// The sweep of the runs done so far.
pub fn report(name: &str, runs: Vec<SweepRun>, interrupted: bool) -> SweepReport {
    let sweep = aggregate(
        &runs
            .iter()
            .map(|r| (r.intensity, r.seed, r.recovery.clone()))
            .collect::<Vec<_>>(),
    );
    SweepReport {
        schema: "stampede.sweep/v1".into(),
        name: name.to_string(),
        interrupted,
        runs,
        sweep,
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
