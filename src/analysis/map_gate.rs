//! Sweep-level thresholds judged on the map. `metastable_share` is defined whenever a run
//! finished. `cliff` is the map's cliff (relative to the profile as written); when no
//! point failed, the cliff lies beyond the largest value swept (`searched_to`), which
//! proves `cliff > X` for any X up to it and nothing else: a threshold the sweep cannot
//! decide fails, saying how far it searched.

use super::gate::{ThresholdResult, Unit};
use super::map::Map;
use crate::threshold::{MapGate, MapMetric, Op};
use crate::units::pct;

fn times(x: f64) -> String {
    format!("{}x", (x * 1000.0).round() / 1000.0)
}

/// Every gate judged on `map`.
pub fn judge(map: &Map, gates: &[MapGate]) -> Vec<ThresholdResult> {
    gates.iter().map(|g| judge_one(map, g)).collect()
}

fn judge_one(map: &Map, g: &MapGate) -> ThresholdResult {
    let (passed, measured, value, unit) = match g.metric {
        MapMetric::MetastableShare if map.runs == 0 => (false, "no run finished".to_string(), None, Unit::Ratio),
        MapMetric::MetastableShare => {
            let n = (map.metastable_share * map.runs as f64).round() as usize;
            (
                g.op.holds(map.metastable_share, g.bound),
                format!("{} ({n} of {} runs)", pct(map.metastable_share), map.runs),
                Some(map.metastable_share),
                Unit::Ratio,
            )
        }
        MapMetric::Cliff => match (map.cliff, map.searched_to) {
            (Some(c), _) => {
                let at = map
                    .cliffs
                    .iter()
                    .find(|r| r.relative == Some(c))
                    .and_then(|r| r.value.clone())
                    .map(|v| format!(" ({}={v})", map.axes[0].path))
                    .unwrap_or_default();
                (
                    g.op.holds(c, g.bound),
                    format!("{}{at}", times(c)),
                    Some(c),
                    Unit::Times,
                )
            }
            (None, Some(to)) => {
                let proven = matches!(g.op, Op::Gt | Op::Ge | Op::Ne) && to >= g.bound;
                let why = if proven {
                    String::new()
                } else {
                    format!(": the sweep cannot tell; sweep beyond {}", times(g.bound))
                };
                (proven, format!("none up to {}{why}", times(to)), None, Unit::Times)
            }
            (None, None) => (
                false,
                "undefined: axis 1 has no numeric value".to_string(),
                None,
                Unit::Times,
            ),
        },
    };
    ThresholdResult {
        expr: g.expr.clone(),
        metric: g.metric.as_str().to_string(),
        passed,
        measured,
        value,
        unit,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::map::{MapAxis, MapRun, map};
    use crate::outcome::Verdict;
    use crate::threshold::parse_map_gate;

    fn gate(e: &str) -> MapGate {
        parse_map_gate(e).unwrap().unwrap()
    }

    fn one_axis(verdicts: &[Verdict]) -> Map {
        let n = verdicts.len();
        let axis = MapAxis {
            path: "storm.waves[0].share".into(),
            values: (1..=n).map(|i| format!("{}%", i * 10)).collect(),
            profile_value: Some("10%".into()),
            relative: (1..=n).map(|i| Some(i as f64)).collect(),
        };
        let runs: Vec<_> = verdicts
            .iter()
            .enumerate()
            .map(|(i, &verdict)| {
                let run = MapRun {
                    seed: 1,
                    verdict,
                    confirmed: false,
                    recovery_time_ms: None,
                    report: None,
                };
                (vec![i], run)
            })
            .collect();
        map(vec![axis], &runs)
    }

    #[test]
    fn the_cliff_and_the_metastable_share_gate_the_map() {
        use Verdict::*;
        let m = one_axis(&[Recovered, Recovered, Metastable, NotRecovered]);
        let r = judge(
            &m,
            &[gate("cliff > 2x"), gate("cliff > 3x"), gate("metastable_share < 10%")],
        );
        assert!(r[0].passed, "{:?}", r[0]);
        assert_eq!(r[0].measured, "3x (storm.waves[0].share=30%)");
        assert!(!r[1].passed);
        assert!(!r[2].passed);
        assert_eq!(r[2].measured, "25% (1 of 4 runs)");
        assert_eq!(r[2].metric, "metastable_share");
    }

    #[test]
    fn without_a_cliff_only_what_the_sweep_reached_is_proven() {
        let m = one_axis(&[Verdict::Recovered, Verdict::NeverDegraded]);
        let r = judge(&m, &[gate("cliff > 2x"), gate("cliff > 3x"), gate("cliff < 5x")]);
        assert!(r[0].passed, "{:?}", r[0]);
        assert_eq!(r[0].measured, "none up to 2x");
        assert!(!r[1].passed && r[1].measured.contains("cannot tell"), "{:?}", r[1]);
        assert!(!r[2].passed);
    }
}
