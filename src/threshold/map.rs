//! Thresholds on a whole sweep (`stampede sweep --gate`), judged once on its map rather
//! than on each run: `metastable_share < 10%` (the share of all runs whose verdict was
//! metastable) and `cliff > 2x` (the smallest axis-1 value at which most seeds did not
//! recover, relative to the profile as written). Evaluated by `analysis::map_gate`.

use std::str::FromStr;

use super::{GateError, NUMBER, Op, SHARE, bad_value, multiplier, split_op};
use crate::units::Share;

#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum MapMetric {
    MetastableShare,
    Cliff,
}

impl MapMetric {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// A parsed sweep-level threshold; `bound` is a fraction for `metastable_share` and a
/// multiplier for `cliff`.
#[derive(Debug, Clone, PartialEq)]
pub struct MapGate {
    pub expr: String,
    pub metric: MapMetric,
    pub op: Op,
    pub bound: f64,
}

/// `Some` when `expr` names a sweep-level metric (parsed, or why not), `None` when it is
/// a per-run threshold for [`super::parse_all`].
pub fn parse_map_gate(expr: &str) -> Option<Result<MapGate, GateError>> {
    let expr = expr.trim();
    let (lhs, op, rhs) = split_op(expr)?;
    let metric = match lhs {
        "metastable_share" => MapMetric::MetastableShare,
        "cliff" => MapMetric::Cliff,
        _ => return None,
    };
    if rhs.is_empty() {
        return Some(Err(GateError::NoValue(expr.to_string())));
    }
    let bound = match metric {
        MapMetric::MetastableShare => Share::from_str(rhs)
            .map(|s| s.0)
            .map_err(|_| bad_value(lhs, rhs, SHARE)),
        MapMetric::Cliff => multiplier(rhs).ok_or_else(|| bad_value(lhs, rhs, NUMBER)),
    };
    Some(bound.map(|bound| MapGate {
        expr: expr.to_string(),
        metric,
        op,
        bound,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweep_metrics_parse_and_others_are_left_to_the_run_grammar() {
        let g = parse_map_gate("metastable_share < 10%").unwrap().unwrap();
        assert_eq!((g.metric, g.op, g.bound), (MapMetric::MetastableShare, Op::Lt, 0.1));
        let g = parse_map_gate(" cliff >= 2.5x ").unwrap().unwrap();
        assert_eq!(
            (g.metric, g.op, g.bound, g.expr.as_str()),
            (MapMetric::Cliff, Op::Ge, 2.5, "cliff >= 2.5x")
        );
        assert_eq!(parse_map_gate("cliff > 2").unwrap().unwrap().bound, 2.0);
        assert!(parse_map_gate("recovery_time < 3m").is_none());
        assert!(parse_map_gate("cliff > lots").unwrap().is_err());
        assert!(
            parse_map_gate("metastable_share < 150%")
                .unwrap()
                .unwrap_err()
                .to_string()
                .contains("percentage")
        );
    }
}
