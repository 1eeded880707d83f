//! The threshold grammar shared by the profile (which checks `gate:` before a run) and
//! the analysis (which evaluates thresholds after it): k6-style but typed,
//! `recovery_time < 3m`, `login.p99 < 800ms`, `verdict != metastable`,
//! `success_rate > 99%`. The metric table and the rules for undefined values are in
//! `analysis::gate`.

mod abort;
mod map;

pub use abort::{AbortError, AbortWhen, parse_abort, parse_aborts};
pub use map::{MapGate, MapMetric, parse_map_gate};

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::outcome::Verdict;
use crate::units::{Dur, Share};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GateError {
    #[error("empty threshold: write `<metric> <op> <value>`, e.g. `login.p99 < 800ms`")]
    Empty,
    #[error(
        "`{0}` has no comparison: write `<metric> <op> <value>` with one of < <= > >= == != (or `verdict in [recovered, never-degraded]`)"
    )]
    NoOperator(String),
    #[error("`{0}` has no value after the operator")]
    NoValue(String),
    #[error(
        "unknown metric `{metric}`: known are recovery_time, recovery_time_from_storm_end, verdict, success_rate, retry_amplification, achieved_rate, gave_up, down_share, peak_locked_out, and login.STAT or STEP.STAT (STAT: p50 p90 p95 p99 p999 max mean){steps}"
    )]
    UnknownMetric { metric: String, steps: String },
    #[error("`{metric}`: `{stat}` is not a statistic; write one of p50, p90, p95, p99, p999, max, mean")]
    UnknownStat { metric: String, stat: String },
    #[error("`{metric}`: the login flow has no step `{step}`; its steps are {steps}")]
    UnknownStep {
        metric: String,
        step: String,
        steps: String,
    },
    #[error("`{metric}` cannot use `{op}`: it takes {allowed}")]
    BadOperator {
        metric: String,
        op: String,
        allowed: &'static str,
    },
    #[error("`{value}` is not a valid value for `{metric}`: {expected}")]
    BadValue {
        metric: String,
        value: String,
        expected: &'static str,
    },
}

/// A statistic of a latency histogram.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantNames,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Stat {
    P50,
    P90,
    P95,
    P99,
    P999,
    Max,
    Mean,
}

impl Stat {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Metric {
    RecoveryTime,
    RecoveryTimeFromStormEnd,
    Verdict,
    /// Login latency from the intended instant; `step: None` is the whole login.
    Latency {
        step: Option<String>,
        stat: Stat,
    },
    SuccessRate,
    RetryAmplification,
    AchievedRate,
    GaveUp,
    DownShare,
    PeakLockedOut,
    /// A connected population: how long the connected share stayed below its SLO.
    ReconnectTime,
    /// A connected population: the connected share at the run's end.
    ConnectedShare,
    /// A connected population's histogram: `reconnect.p99`, `heartbeat.p99`, `upgrade.max`.
    Held {
        series: crate::analysis::held::HeldSeries,
        stat: Stat,
    },
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Metric::RecoveryTime => f.write_str("recovery_time"),
            Metric::RecoveryTimeFromStormEnd => f.write_str("recovery_time_from_storm_end"),
            Metric::Verdict => f.write_str("verdict"),
            Metric::Latency { step, stat } => write!(f, "{}.{}", step.as_deref().unwrap_or("login"), stat.as_str()),
            Metric::SuccessRate => f.write_str("success_rate"),
            Metric::RetryAmplification => f.write_str("retry_amplification"),
            Metric::AchievedRate => f.write_str("achieved_rate"),
            Metric::GaveUp => f.write_str("gave_up"),
            Metric::DownShare => f.write_str("down_share"),
            Metric::PeakLockedOut => f.write_str("peak_locked_out"),
            Metric::ReconnectTime => f.write_str("reconnect_time"),
            Metric::ConnectedShare => f.write_str("connected_share"),
            Metric::Held { series, stat } => {
                let s: &'static str = series.into();
                write!(f, "{s}.{}", stat.as_str())
            }
        }
    }
}

/// A comparison, written as its symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
pub enum Op {
    #[strum(serialize = "<")]
    Lt,
    #[strum(serialize = "<=")]
    Le,
    #[strum(serialize = ">")]
    Gt,
    #[strum(serialize = ">=")]
    Ge,
    #[strum(serialize = "==")]
    Eq,
    #[strum(serialize = "!=")]
    Ne,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
    /// Does `a op b` hold (with a tolerance for float noise)?
    pub fn holds(self, a: f64, b: f64) -> bool {
        const EPS: f64 = 1e-9;
        match self {
            Op::Lt => a < b - EPS,
            Op::Le => a <= b + EPS,
            Op::Gt => a > b + EPS,
            Op::Ge => a >= b - EPS,
            Op::Eq => (a - b).abs() <= EPS,
            Op::Ne => (a - b).abs() > EPS,
        }
    }
}

/// The right-hand side, in the unit the metric is measured in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bound {
    Duration(Duration),
    /// A fraction in [0, 1].
    Share(f64),
    Number(f64),
    Count(u64),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    Compare(Op, Bound),
    /// `verdict == x` / `in [..]`, or with `negate` `verdict != x`.
    Verdict {
        negate: bool,
        any_of: Vec<Verdict>,
    },
}

/// A parsed threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// As written (trimmed).
    pub expr: String,
    pub metric: Metric,
    pub cond: Cond,
}

impl FromStr for Threshold {
    type Err = GateError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s)
    }
}

/// Parses one threshold. Any `NAME.STAT` other than `login.STAT` is taken for a step;
/// [`parse_all`] checks step names against the flow.
pub fn parse(expr: &str) -> Result<Threshold, GateError> {
    parse_with(expr, None)
}

/// Parses every threshold and checks step names against `step_names`; returns every
/// error with the index of its expression.
pub fn parse_all(exprs: &[String], step_names: &[String]) -> Result<Vec<Threshold>, Vec<(usize, GateError)>> {
    let mut ok = Vec::new();
    let mut errors = Vec::new();
    for (i, e) in exprs.iter().enumerate() {
        match parse_with(e, Some(step_names)) {
            Ok(t) => ok.push(t),
            Err(err) => errors.push((i, err)),
        }
    }
    if errors.is_empty() { Ok(ok) } else { Err(errors) }
}

pub(crate) fn split_op(expr: &str) -> Option<(&str, Op, &str)> {
    let at = expr.find(['<', '>', '=', '!'])?;
    let rest = &expr[at..];
    let (op, len) = if rest.starts_with("<=") {
        (Op::Le, 2)
    } else if rest.starts_with(">=") {
        (Op::Ge, 2)
    } else if rest.starts_with("==") {
        (Op::Eq, 2)
    } else if rest.starts_with("!=") {
        (Op::Ne, 2)
    } else if rest.starts_with('<') {
        (Op::Lt, 1)
    } else if rest.starts_with('>') {
        (Op::Gt, 1)
    } else if rest.starts_with('=') {
        (Op::Eq, 1)
    } else {
        return None;
    };
    Some((expr[..at].trim(), op, expr[at + len..].trim()))
}

fn join_steps(steps: &[String]) -> String {
    if steps.is_empty() {
        "none".into()
    } else {
        steps.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")
    }
}

fn parse_metric(name: &str, steps: Option<&[String]>) -> Result<Metric, GateError> {
    Ok(match name {
        "recovery_time" => Metric::RecoveryTime,
        "recovery_time_from_storm_end" => Metric::RecoveryTimeFromStormEnd,
        "verdict" => Metric::Verdict,
        "success_rate" => Metric::SuccessRate,
        "retry_amplification" => Metric::RetryAmplification,
        "achieved_rate" => Metric::AchievedRate,
        "gave_up" => Metric::GaveUp,
        "down_share" => Metric::DownShare,
        "peak_locked_out" => Metric::PeakLockedOut,
        "reconnect_time" => Metric::ReconnectTime,
        "connected_share" => Metric::ConnectedShare,
        other => {
            let Some((scope, stat)) = other.rsplit_once('.').filter(|(a, _)| !a.is_empty()) else {
                return Err(GateError::UnknownMetric {
                    metric: other.to_string(),
                    steps: steps.map(|s| format!("; steps: {}", join_steps(s))).unwrap_or_default(),
                });
            };
            let stat = stat.parse::<Stat>().map_err(|_| GateError::UnknownStat {
                metric: other.to_string(),
                stat: stat.to_string(),
            })?;
            // `reconnect.p99`: a held connection's histogram, unless a step has that name.
            if let Ok(series) = scope.parse::<crate::analysis::held::HeldSeries>()
                && !steps.is_some_and(|s| s.iter().any(|n| n == scope))
            {
                return Ok(Metric::Held { series, stat });
            }
            let step = if scope == "login" {
                None
            } else {
                if let Some(steps) = steps
                    && !steps.iter().any(|s| s == scope)
                {
                    return Err(GateError::UnknownStep {
                        metric: other.to_string(),
                        step: scope.to_string(),
                        steps: join_steps(steps),
                    });
                }
                Some(scope.to_string())
            };
            Metric::Latency { step, stat }
        }
    })
}

pub(crate) fn bad_value(metric: &str, value: &str, expected: &'static str) -> GateError {
    GateError::BadValue {
        metric: metric.to_string(),
        value: value.to_string(),
        expected,
    }
}

fn bad(metric: &Metric, value: &str, expected: &'static str) -> GateError {
    GateError::BadValue {
        metric: metric.to_string(),
        value: value.to_string(),
        expected,
    }
}

const DURATION: &str = "a duration always carries its unit, here as in profiles: write e.g. `800ms`, `90s`, `3m`";

/// The longest duration a threshold or an abort's `for` may say: the longest run a
/// profile may have (`profile::limits::RUN`, a week). Longer is a typo, and bounded here
/// it cannot wrap where it is compared.
pub const LONGEST: Duration = Duration::from_secs(7 * 86_400);
pub(crate) const SHARE: &str = "write a percentage (`99%`) or a fraction between 0 and 1";
pub(crate) const NUMBER: &str = "write a number of 0 or more, e.g. `3` or `2.5x`";
const COUNT: &str = "write a whole number, e.g. `100`";
const GAVE_UP: &str = "write a count of clients (`100`) or a share of them (`1%`)";

/// A multiplier of 0 or more, `x` optional: `3`, `2.5x`.
pub(crate) fn multiplier(v: &str) -> Option<f64> {
    v.trim_end_matches(['x', '×'])
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite() && *n >= 0.0)
}

fn parse_bound(metric: &Metric, v: &str) -> Result<Bound, GateError> {
    let share = || {
        Share::from_str(v)
            .map(|s| Bound::Share(s.0))
            .map_err(|_| bad(metric, v, SHARE))
    };
    let count = || {
        v.replace('_', "")
            .parse::<u64>()
            .map(Bound::Count)
            .map_err(|_| bad(metric, v, COUNT))
    };
    match metric {
        Metric::RecoveryTime
        | Metric::RecoveryTimeFromStormEnd
        | Metric::Latency { .. }
        | Metric::ReconnectTime
        | Metric::Held { .. } => {
            // A bare number is refused here as in profiles (`Dur`: `NoUnit`); a zero
            // bound on a latency is a typo too.
            if v.parse::<f64>().is_ok() {
                return Err(bad(metric, v, DURATION));
            }
            match Dur::from_str(v) {
                Ok(d) if d.0 <= LONGEST => Ok(Bound::Duration(d.0)),
                Ok(_) | Err(crate::units::UnitError::TooLong(_)) => {
                    Err(bad(metric, v, "write at most 168h (a week): no run is longer"))
                }
                Err(_) => Err(bad(metric, v, DURATION)),
            }
        }
        Metric::SuccessRate | Metric::AchievedRate | Metric::DownShare | Metric::ConnectedShare => share(),
        Metric::RetryAmplification => multiplier(v).map(Bound::Number).ok_or_else(|| bad(metric, v, NUMBER)),
        Metric::GaveUp if v.ends_with('%') => share().map_err(|_| bad(metric, v, GAVE_UP)),
        Metric::GaveUp => count().map_err(|_| bad(metric, v, GAVE_UP)),
        Metric::PeakLockedOut => count(),
        Metric::Verdict => unreachable!("verdicts are parsed apart"),
    }
}

const VERDICT_OPS: &str = "`==`, `!=` or `in [..]` with verdict names";

/// What a verdict threshold takes (kept in step with `Verdict` by a test).
const VERDICT_NAMES: &str = "write one of never-degraded, recovered, recovered-then-relapsed, not-recovered, metastable, insufficient-data, down, never-healthy, improving";

fn parse_verdicts(metric: &Metric, v: &str) -> Result<Vec<Verdict>, GateError> {
    let inner = v.strip_prefix('[').and_then(|x| x.strip_suffix(']')).unwrap_or(v);
    let mut out = Vec::new();
    for name in inner.split(',').map(str::trim) {
        let verdict = Verdict::parse(name).map_err(|_| GateError::BadValue {
            metric: metric.to_string(),
            value: name.to_string(),
            expected: VERDICT_NAMES,
        })?;
        out.push(verdict);
    }
    Ok(out)
}

fn parse_with(expr: &str, steps: Option<&[String]>) -> Result<Threshold, GateError> {
    let expr = expr.trim();
    if expr.is_empty() {
        return Err(GateError::Empty);
    }
    let (lhs, op, rhs) = match split_op(expr) {
        Some((l, op, r)) => (l, Some(op), r),
        None => {
            // `verdict in [recovered, never-degraded]`
            let mut parts = expr.splitn(2, char::is_whitespace);
            let lhs = parts.next().unwrap_or_default();
            let rest = parts.next().unwrap_or_default().trim_start();
            match rest.strip_prefix("in") {
                Some(r) if r.starts_with([' ', '[']) || r.is_empty() => (lhs, None, r.trim()),
                _ => return Err(GateError::NoOperator(expr.to_string())),
            }
        }
    };
    if lhs.is_empty() {
        return Err(GateError::NoOperator(expr.to_string()));
    }
    let metric = parse_metric(lhs, steps)?;
    if rhs.is_empty() {
        return Err(GateError::NoValue(expr.to_string()));
    }
    let cond = match (&metric, op) {
        (Metric::Verdict, None | Some(Op::Eq)) => Cond::Verdict {
            negate: false,
            any_of: parse_verdicts(&metric, rhs)?,
        },
        (Metric::Verdict, Some(Op::Ne)) => Cond::Verdict {
            negate: true,
            any_of: parse_verdicts(&metric, rhs)?,
        },
        (Metric::Verdict, Some(op)) => {
            return Err(GateError::BadOperator {
                metric: metric.to_string(),
                op: op.as_str().into(),
                allowed: VERDICT_OPS,
            });
        }
        (_, None) => {
            return Err(GateError::BadOperator {
                metric: metric.to_string(),
                op: "in".into(),
                allowed: "one of < <= > >= == != and a value",
            });
        }
        (_, Some(op)) => Cond::Compare(op, parse_bound(&metric, rhs)?),
    };
    Ok(Threshold {
        expr: expr.to_string(),
        metric,
        cond,
    })
}

#[cfg(test)]
mod tests;
