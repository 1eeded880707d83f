//! Aggregation of a sweep: the same profile run at several intensities, each with
//! several seeds. Near the cliff the outcome is random and one run proves little, so
//! each intensity reports the median recovery time with its range and how many runs
//! did not recover.
//!
//! A run counts as recovered when its verdict is `recovered` or `never-degraded`
//! (recovery time 0); `recovered-then-relapsed`, `not-recovered`, `metastable`,
//! `insufficient-data`, `down` and `never-healthy` count as not recovered. Recovery times are those of the
//! recovered runs only.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::recovery::Recovery;

/// The runs at one intensity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Level {
    pub intensity: f64,
    pub runs: usize,
    pub recovered: usize,
    pub not_recovered: usize,
    /// Seeds of the runs that did not recover, to replay them.
    pub failed_seeds: Vec<u64>,
    pub median_recovery_ms: Option<u64>,
    pub min_recovery_ms: Option<u64>,
    pub max_recovery_ms: Option<u64>,
    /// How many runs had each verdict.
    pub verdicts: BTreeMap<String, usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sweep {
    /// By increasing intensity.
    pub levels: Vec<Level>,
    /// The smallest intensity at which any run did not recover.
    pub first_failure: Option<f64>,
    /// The smallest intensity at which most runs (more than half) did not recover.
    pub cliff: Option<f64>,
    /// The largest intensity below `first_failure` (all of them if none failed): every
    /// run there and below recovered.
    pub safe_up_to: Option<f64>,
}

/// The median of sorted values (the mean of the middle two of an even count).
pub(super) fn median(sorted: &[u64]) -> Option<u64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2),
    }
}

/// Groups runs `(intensity, seed, recovery)` by intensity.
pub fn aggregate(runs: &[(f64, u64, Recovery)]) -> Sweep {
    let mut sorted: Vec<&(f64, u64, Recovery)> = runs.iter().collect();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut levels: Vec<Level> = Vec::new();
    for group in sorted.chunk_by(|a, b| a.0 == b.0) {
        let mut times: Vec<u64> = Vec::new();
        let mut failed_seeds = Vec::new();
        let mut verdicts = BTreeMap::new();
        for (_, seed, rec) in group {
            *verdicts.entry(rec.verdict.to_string()).or_insert(0) += 1;
            if rec.verdict.stayed_recovered() {
                times.push(rec.recovery_time_ms.unwrap_or(0));
            } else {
                failed_seeds.push(*seed);
            }
        }
        times.sort_unstable();
        levels.push(Level {
            intensity: group[0].0,
            runs: group.len(),
            recovered: times.len(),
            not_recovered: failed_seeds.len(),
            failed_seeds,
            median_recovery_ms: median(&times),
            min_recovery_ms: times.first().copied(),
            max_recovery_ms: times.last().copied(),
            verdicts,
        });
    }
    let first_failure = levels.iter().find(|l| l.not_recovered > 0).map(|l| l.intensity);
    let cliff = levels
        .iter()
        .find(|l| l.not_recovered * 2 > l.runs)
        .map(|l| l.intensity);
    let safe_up_to = levels
        .iter()
        .take_while(|l| l.not_recovered == 0)
        .last()
        .map(|l| l.intensity);
    Sweep {
        levels,
        first_failure,
        cliff,
        safe_up_to,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::analysis::recovery::{Timeline, analyze};
    use crate::analysis::testkit::run;
    use crate::outcome::Verdict;
    use crate::profile::Slo;

    /// A real `Recovery` with the given verdict-determining shape: recovers after
    /// `down` seconds, or never when `down` is None.
    fn rec(down: Option<usize>) -> Recovery {
        let mut spec = vec![(100, 0, 10); 2];
        match down {
            Some(d) => {
                spec.extend(std::iter::repeat_n((0, 100, 10), d));
                spec.extend(std::iter::repeat_n((100, 0, 10), 3));
            }
            None => spec.extend(std::iter::repeat_n((0, 100, 10), 5)),
        }
        let tl = Timeline {
            trigger_start: Duration::from_secs(2),
            storm_end: Duration::from_secs(2),
            observe_end: Duration::from_secs(100),
        };
        let slo = Slo {
            success_rate: Some(0.99),
            p99: Some(Duration::from_secs(1)),
            hold: Some(Duration::from_secs(3)),
            min_requests: 10,
            connected: None,
            ..Slo::default()
        };
        analyze(&run(&spec), &tl, &slo, Duration::from_secs(1))
    }

    #[test]
    fn per_intensity_median_range_and_the_cliff() {
        let runs = vec![
            (2.0, 1, rec(Some(4))),
            (1.0, 1, rec(Some(0))),
            (1.0, 2, rec(Some(1))),
            (2.0, 2, rec(Some(2))),
            (2.0, 3, rec(Some(9))),
            (2.0, 4, rec(Some(3))),
            (3.0, 1, rec(None)),
            (3.0, 2, rec(Some(5))),
            (3.0, 3, rec(Some(7))),
            (4.0, 1, rec(None)),
            (4.0, 2, rec(None)),
            (4.0, 3, rec(Some(6))),
        ];
        assert_eq!(runs[1].2.verdict, Verdict::NeverDegraded);
        assert_eq!(
            runs[6].2.verdict,
            Verdict::Down,
            "a constant load that fails is an outage"
        );
        let s = aggregate(&runs);
        let i: Vec<f64> = s.levels.iter().map(|l| l.intensity).collect();
        assert_eq!(i, [1.0, 2.0, 3.0, 4.0]);
        let l2 = &s.levels[1];
        // 2, 3, 4, 9 s → median 3.5 s, range 2–9 s.
        assert_eq!(l2.median_recovery_ms, Some(3_500));
        assert_eq!((l2.min_recovery_ms, l2.max_recovery_ms), (Some(2_000), Some(9_000)));
        assert_eq!(s.levels[0].median_recovery_ms, Some(500));
        let l3 = &s.levels[2];
        assert_eq!((l3.recovered, l3.not_recovered), (2, 1));
        assert_eq!(l3.failed_seeds, [1]);
        assert_eq!(l3.median_recovery_ms, Some(6_000));
        assert_eq!(s.first_failure, Some(3.0));
        assert_eq!(s.cliff, Some(4.0));
        assert_eq!(s.safe_up_to, Some(2.0));
    }

    #[test]
    fn a_sweep_without_failures_has_no_cliff() {
        let s = aggregate(&[(1.0, 1, rec(Some(1))), (5.0, 1, rec(Some(2)))]);
        assert_eq!((s.first_failure, s.cliff, s.safe_up_to), (None, None, Some(5.0)));
        let s = aggregate(&[(1.0, 1, rec(None))]);
        assert_eq!((s.first_failure, s.cliff, s.safe_up_to), (Some(1.0), Some(1.0), None));
        assert!(aggregate(&[]).levels.is_empty());
    }
}
