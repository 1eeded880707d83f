//! The brake's grammar: a threshold that must hold for a while, `success_rate < 5% for
//! 30s`, `login.p99 > 10s for 1m`. The left part is a threshold ([`super::parse_all`]);
//! it is judged on each closed window alone, so only the metrics a single window has
//! are allowed. The run's evaluation is in `run::abort`.

use std::str::FromStr;
use std::time::Duration;

use super::{Cond, GateError, Metric, Threshold, parse_all};
use crate::units::Dur;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AbortError {
    #[error("`{0}` has no `for DURATION`: write e.g. `success_rate < 5% for 30s`")]
    NoFor(String),
    #[error(
        "`{0}` is not a duration after `for`: a duration always carries its unit, here as in profiles: write e.g. `30s`, `1m`"
    )]
    BadDuration(String),
    #[error("`for {0}` must be longer than zero")]
    ZeroDuration(String),
    #[error("`for {0}` is longer than any run ({1}): write at most that")]
    TooLong(String, String),
    #[error(
        "`{0}` is not judged on one window: an abort condition takes success_rate, gave_up, login.STAT or STEP.STAT"
    )]
    NotPerWindow(String),
    #[error(transparent)]
    Threshold(#[from] GateError),
}

/// An abort condition: `threshold` held in every window of the trailing `hold`.
#[derive(Debug, Clone, PartialEq)]
pub struct AbortWhen {
    /// As written (trimmed), `for` part included.
    pub expr: String,
    pub threshold: Threshold,
    pub hold: Duration,
}

/// Parses one abort condition, checking step names against `steps`.
pub fn parse_abort(expr: &str, steps: &[String]) -> Result<AbortWhen, AbortError> {
    let expr = expr.trim();
    let (left, dur) = expr
        .rsplit_once(" for ")
        .ok_or_else(|| AbortError::NoFor(expr.to_string()))?;
    let too_long = || AbortError::TooLong(dur.trim().to_string(), Dur(super::LONGEST).to_string());
    let hold = match Dur::from_str(dur.trim()) {
        Ok(d) => d.0,
        Err(crate::units::UnitError::TooLong(_)) => return Err(too_long()),
        Err(_) => return Err(AbortError::BadDuration(dur.trim().to_string())),
    };
    if hold.is_zero() {
        return Err(AbortError::ZeroDuration(dur.trim().to_string()));
    }
    if hold > super::LONGEST {
        return Err(too_long());
    }
    let threshold = parse_all(&[left.trim().to_string()], steps)
        .map_err(|mut e| e.remove(0).1)?
        .remove(0);
    let per_window = matches!(
        threshold.metric,
        Metric::SuccessRate | Metric::GaveUp | Metric::Latency { .. }
    ) && matches!(threshold.cond, Cond::Compare(..));
    if !per_window {
        return Err(AbortError::NotPerWindow(threshold.metric.to_string()));
    }
    Ok(AbortWhen {
        expr: expr.to_string(),
        threshold,
        hold,
    })
}

/// Parses every abort condition; returns every error with the index of its expression.
pub fn parse_aborts(exprs: &[String], steps: &[String]) -> Result<Vec<AbortWhen>, Vec<(usize, AbortError)>> {
    let mut ok = Vec::new();
    let mut errors = Vec::new();
    for (i, e) in exprs.iter().enumerate() {
        match parse_abort(e, steps) {
            Ok(a) => ok.push(a),
            Err(err) => errors.push((i, err)),
        }
    }
    if errors.is_empty() { Ok(ok) } else { Err(errors) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::threshold::{Bound, Op, Stat};

    fn steps() -> Vec<String> {
        vec!["auth".to_string()]
    }

    #[test]
    fn conditions_parse_with_their_hold() {
        let a = parse_abort(" success_rate < 5% for 30s ", &steps()).unwrap();
        assert_eq!(a.expr, "success_rate < 5% for 30s");
        assert_eq!(a.hold, Duration::from_secs(30));
        assert_eq!(a.threshold.cond, Cond::Compare(Op::Lt, Bound::Share(0.05)));
        let b = parse_abort("auth.p99 > 10s for 1m", &steps()).unwrap();
        assert_eq!(
            b.threshold.metric,
            Metric::Latency {
                step: Some("auth".into()),
                stat: Stat::P99
            }
        );
        assert_eq!(b.hold, Duration::from_secs(60));
    }

    #[test]
    fn bad_conditions_say_what_to_write() {
        for (expr, want) in [
            ("success_rate < 5%", "has no `for DURATION`"),
            ("success_rate < 5% for soon", "is not a duration"),
            ("success_rate < 5% for 0s", "longer than zero"),
            (
                "success_rate < 0% for 2305843009213693952s",
                "longer than any run (168h)",
            ),
            ("success_rate < 0% for 18446744073709551615s", "longer than any run"),
            ("success_rate < 0% for 8days", "longer than any run"),
            ("recovery_time > 1m for 30s", "not judged on one window"),
            ("verdict == metastable for 30s", "not judged on one window"),
            ("join.p99 > 1s for 30s", "no step `join`"),
            ("success_rate for 30s", "has no comparison"),
        ] {
            let e = parse_abort(expr, &steps()).unwrap_err().to_string();
            assert!(e.contains(want), "{expr}: {e}");
        }
        let errs = parse_aborts(&["success_rate < 5% for 1s".into(), "x".into()], &steps()).unwrap_err();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].0, 1);
    }
}
