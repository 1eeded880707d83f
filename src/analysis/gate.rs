//! Thresholds for a CI gate, k6-style but typed: `recovery_time < 3m`,
//! `login.p99 < 800ms`, `verdict != metastable`, `success_rate > 99%`. They are parsed
//! (and step names checked) before a run, so a typo fails fast, and evaluated after it.
//!
//! What a threshold measures (latencies and rates over the whole run; recovery
//! figures from the trigger on, as in [`Recovery`]):
//!
//! | metric | value | operators |
//! | --- | --- | --- |
//! | `recovery_time`, `recovery_time_from_storm_end` | duration (`3m`, `90s`) | `< <= > >= == !=` |
//! | `verdict` | a verdict name | `==`, `!=`, `in [a, b]` |
//! | `login.STAT`, `STEP.STAT` (STAT: p50 p90 p95 p99 p999 max mean) | duration | all |
//! | `success_rate` | share (`99%`, `0.99`) | all |
//! | `retry_amplification` | number (`3`, `2.5x`) | all |
//! | `achieved_rate` (first attempts sent, less relogins, ÷ planned) | share | all |
//! | `gave_up` | count (`100`) or share of clients (`1%`) | all |
//! | `down_share` | share | all |
//! | `peak_locked_out` | count | all |
//!
//! When a metric is undefined the outcome is fixed: the recovery time of a run that
//! never degraded is 0, that of a relapsed run is the time to its first recovery; a
//! run that did not recover fails every recovery-time threshold, whatever its
//! direction, with the value `not recovered (<verdict>)`; a latency with
//! no samples, a success rate with no completed logins, an amplification with no first
//! attempts and a down share with no judged window fail with `no data` reasons. A
//! threshold that cannot be checked never passes silently. `achieved_rate` with
//! nothing planned is 100 %.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::recovery::{Recovery, Verdict};
use super::{fmt_ms, login_hist, pct, step_hist, us_to_ms};
use crate::record::Window;
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
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
    fn parse(s: &str) -> Option<Stat> {
        Some(match s {
            "p50" => Stat::P50,
            "p90" => Stat::P90,
            "p95" => Stat::P95,
            "p99" => Stat::P99,
            "p999" => Stat::P999,
            "max" => Stat::Max,
            "mean" => Stat::Mean,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Stat::P50 => "p50",
            Stat::P90 => "p90",
            Stat::P95 => "p95",
            Stat::P99 => "p99",
            Stat::P999 => "p999",
            Stat::Max => "max",
            Stat::Mean => "mean",
        }
    }
    /// The statistic of a histogram in microseconds, or None when it is empty.
    pub(crate) fn of(self, h: &hdrhistogram::Histogram<u64>) -> Option<f64> {
        if h.is_empty() {
            return None;
        }
        Some(match self {
            Stat::Mean => h.mean() / 1000.0,
            Stat::Max => us_to_ms(h.max()),
            q => us_to_ms(h.value_at_quantile(match q {
                Stat::P50 => 0.5,
                Stat::P90 => 0.9,
                Stat::P95 => 0.95,
                Stat::P99 => 0.99,
                _ => 0.999,
            })),
        })
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
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Eq => "==",
            Op::Ne => "!=",
        }
    }
    fn holds(self, a: f64, b: f64) -> bool {
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

fn split_op(expr: &str) -> Option<(&str, Op, &str)> {
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
        other => {
            let Some((scope, stat)) = other.rsplit_once('.').filter(|(a, _)| !a.is_empty()) else {
                return Err(GateError::UnknownMetric {
                    metric: other.to_string(),
                    steps: steps.map(|s| format!("; steps: {}", join_steps(s))).unwrap_or_default(),
                });
            };
            let stat = Stat::parse(stat).ok_or_else(|| GateError::UnknownStat {
                metric: other.to_string(),
                stat: stat.to_string(),
            })?;
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

fn bad(metric: &Metric, value: &str, expected: &'static str) -> GateError {
    GateError::BadValue {
        metric: metric.to_string(),
        value: value.to_string(),
        expected,
    }
}

const DURATION: &str = "write a duration with its unit, e.g. `800ms`, `90s`, `3m`";
const SHARE: &str = "write a percentage (`99%`) or a fraction between 0 and 1";
const NUMBER: &str = "write a number of 0 or more, e.g. `3` or `2.5x`";
const COUNT: &str = "write a whole number, e.g. `100`";
const GAVE_UP: &str = "write a count of clients (`100`) or a share of them (`1%`)";

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
        Metric::RecoveryTime | Metric::RecoveryTimeFromStormEnd | Metric::Latency { .. } => {
            // A bare number would be read as seconds by `Dur`, and as milliseconds by
            // anyone used to k6: refuse to guess.
            if v.parse::<f64>().is_ok() {
                return Err(bad(metric, v, DURATION));
            }
            Dur::from_str(v)
                .map(|d| Bound::Duration(d.0))
                .map_err(|_| bad(metric, v, DURATION))
        }
        Metric::SuccessRate | Metric::AchievedRate | Metric::DownShare => share(),
        Metric::RetryAmplification => v
            .trim_end_matches(['x', '×'])
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite() && *n >= 0.0)
            .map(Bound::Number)
            .ok_or_else(|| bad(metric, v, NUMBER)),
        Metric::GaveUp if v.ends_with('%') => share().map_err(|_| bad(metric, v, GAVE_UP)),
        Metric::GaveUp => count().map_err(|_| bad(metric, v, GAVE_UP)),
        Metric::PeakLockedOut => count(),
        Metric::Verdict => unreachable!("verdicts are parsed apart"),
    }
}

const VERDICT_OPS: &str = "`==`, `!=` or `in [..]` with verdict names";

fn parse_verdicts(metric: &Metric, v: &str) -> Result<Vec<Verdict>, GateError> {
    let inner = v.strip_prefix('[').and_then(|x| x.strip_suffix(']')).unwrap_or(v);
    let mut out = Vec::new();
    for name in inner.split(',').map(str::trim) {
        let verdict = name.parse::<Verdict>().map_err(|_| GateError::BadValue {
            metric: metric.to_string(),
            value: name.to_string(),
            expected: "write one of never-degraded, recovered, recovered-then-relapsed, not-recovered, metastable, insufficient-data",
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

/// The unit of a result's machine value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    /// Milliseconds.
    Ms,
    /// A fraction in [0, 1].
    Ratio,
    Count,
    /// A multiplier (retry amplification).
    Times,
    /// No number: the value is a verdict.
    Verdict,
}

/// The outcome of one threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdResult {
    pub expr: String,
    pub metric: String,
    pub passed: bool,
    /// The measured value with its unit, for a person: `812ms`, `99.2%`, `not recovered (metastable)`.
    pub measured: String,
    /// The measured value in `unit`, for a machine; null when undefined or a verdict.
    pub value: Option<f64>,
    pub unit: Unit,
}

enum Measure {
    Value(f64, String),
    Undefined(String),
}

fn ratio(a: u64, b: u64) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

fn measure(metric: &Metric, bound: Bound, w: &[Window], rec: &Recovery, planned: u64) -> Measure {
    let value_or = |v: Option<f64>, fmt: &dyn Fn(f64) -> String, why: &str| match v {
        Some(x) => Measure::Value(x, fmt(x)),
        None => Measure::Undefined(why.to_string()),
    };
    let ms = |x: f64| fmt_ms(x);
    let share = |x: f64| pct(x);
    match metric {
        Metric::RecoveryTime | Metric::RecoveryTimeFromStormEnd => {
            let t = if *metric == Metric::RecoveryTime {
                rec.recovery_time_ms
            } else {
                rec.recovery_time_from_storm_end_ms
            };
            match t {
                Some(t) => Measure::Value(t as f64, ms(t as f64)),
                None => Measure::Undefined(format!("not recovered ({})", rec.verdict)),
            }
        }
        Metric::Latency { step, stat } => {
            let (h, _) = match step {
                None => login_hist(w),
                Some(s) => step_hist(w, s),
            };
            value_or(stat.of(&h), &ms, "no samples")
        }
        Metric::SuccessRate => {
            let ok: u64 = w.iter().map(|x| x.logins_ok).sum();
            let done: u64 = w.iter().map(|x| x.logins_ok + x.logins_failed).sum();
            value_or(ratio(ok, done), &share, "no completed logins")
        }
        Metric::RetryAmplification => value_or(rec.retry_amplification, &|x| format!("{x:.2}×"), "no first attempts"),
        Metric::AchievedRate => {
            let sent: u64 = w.iter().map(|x| x.first_attempts.saturating_sub(x.relogins)).sum();
            let v = ratio(sent, planned).unwrap_or(1.0);
            Measure::Value(v, format!("{} ({sent} of {planned})", pct(v)))
        }
        Metric::GaveUp => {
            let gave_up: u64 = w.iter().map(|x| x.gave_up).sum();
            let clients: u64 = w.iter().map(|x| x.first_attempts).sum();
            match bound {
                Bound::Share(_) => {
                    let v = ratio(gave_up, clients).unwrap_or(0.0);
                    Measure::Value(v, format!("{} ({gave_up} clients)", pct(v)))
                }
                _ => Measure::Value(gave_up as f64, gave_up.to_string()),
            }
        }
        Metric::DownShare => value_or(rec.down_share, &share, "no judged windows"),
        Metric::PeakLockedOut => Measure::Value(rec.peak_locked_out as f64, rec.peak_locked_out.to_string()),
        Metric::Verdict => unreachable!("verdicts are evaluated apart"),
    }
}

fn unit_of(metric: &Metric, bound: Bound) -> Unit {
    match (metric, bound) {
        (Metric::Verdict, _) => Unit::Verdict,
        (_, Bound::Duration(_)) => Unit::Ms,
        (_, Bound::Share(_)) => Unit::Ratio,
        (Metric::RetryAmplification, _) => Unit::Times,
        _ => Unit::Count,
    }
}

fn bound_value(b: Bound) -> f64 {
    match b {
        Bound::Duration(d) => d.as_secs_f64() * 1000.0,
        Bound::Share(s) | Bound::Number(s) => s,
        Bound::Count(c) => c as f64,
    }
}

/// Checks every threshold against a finished run. `planned_first_attempts` is the
/// number of first logins the plan scheduled (for `achieved_rate`).
pub fn evaluate(
    thresholds: &[Threshold],
    windows: &[Window],
    recovery: &Recovery,
    planned_first_attempts: u64,
) -> Vec<ThresholdResult> {
    thresholds
        .iter()
        .map(|t| {
            let metric = t.metric.to_string();
            match &t.cond {
                Cond::Verdict { negate, any_of } => ThresholdResult {
                    expr: t.expr.clone(),
                    metric,
                    passed: any_of.contains(&recovery.verdict) != *negate,
                    measured: recovery.verdict.to_string(),
                    value: None,
                    unit: Unit::Verdict,
                },
                Cond::Compare(op, bound) => {
                    let unit = unit_of(&t.metric, *bound);
                    match measure(&t.metric, *bound, windows, recovery, planned_first_attempts) {
                        Measure::Value(v, shown) => ThresholdResult {
                            expr: t.expr.clone(),
                            metric,
                            passed: op.holds(v, bound_value(*bound)),
                            measured: shown,
                            value: Some(v),
                            unit,
                        },
                        Measure::Undefined(why) => ThresholdResult {
                            expr: t.expr.clone(),
                            metric,
                            passed: false,
                            measured: why,
                            value: None,
                            unit,
                        },
                    }
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::recovery::{SloSpec, Timeline, analyze};
    use crate::analysis::testkit::{run, with_retries};

    fn steps() -> Vec<String> {
        vec!["auth".into(), "join".into()]
    }

    /// 2 s baseline, 2 s down, 6 s healthy; recovers 2 s after the trigger.
    fn recovered() -> (Vec<Window>, Recovery) {
        let mut w = run(&[
            (100, 0, 20),
            (100, 0, 20),
            (40, 60, 900),
            (40, 60, 900),
            (100, 0, 30),
            (100, 0, 30),
            (100, 0, 30),
            (100, 0, 30),
            (100, 0, 30),
            (100, 0, 30),
        ]);
        w[2] = with_retries(w[2].clone(), 50);
        w[3].gave_up = 5;
        let r = analyze(&w, &timeline(), &slo(), Duration::from_secs(1));
        (w, r)
    }

    fn timeline() -> Timeline {
        Timeline {
            trigger_start: Duration::from_secs(2),
            storm_end: Duration::from_secs(3),
            observe_end: Duration::from_secs(10),
        }
    }

    fn slo() -> SloSpec {
        SloSpec {
            success_rate: Some(0.99),
            p99: Some(Duration::from_millis(500)),
            hold: Some(Duration::from_secs(5)),
            min_requests: 10,
        }
    }

    fn eval(exprs: &[&str], w: &[Window], r: &Recovery) -> Vec<ThresholdResult> {
        let t: Vec<Threshold> = exprs.iter().map(|e| parse(e).unwrap()).collect();
        evaluate(&t, w, r, 950)
    }

    #[test]
    fn parses_metrics_operators_and_units() {
        let t = parse(" recovery_time < 3m ").unwrap();
        assert_eq!(t.expr, "recovery_time < 3m");
        assert_eq!(t.cond, Cond::Compare(Op::Lt, Bound::Duration(Duration::from_secs(180))));
        let t = parse("login.p99<=800ms").unwrap();
        assert_eq!(
            t.metric,
            Metric::Latency {
                step: None,
                stat: Stat::P99
            }
        );
        assert_eq!(
            t.cond,
            Cond::Compare(Op::Le, Bound::Duration(Duration::from_millis(800)))
        );
        assert_eq!(
            parse("success_rate > 99.5%").unwrap().cond,
            Cond::Compare(Op::Gt, Bound::Share(0.995))
        );
        assert_eq!(
            parse("retry_amplification < 2.5x").unwrap().cond,
            Cond::Compare(Op::Lt, Bound::Number(2.5))
        );
        assert_eq!(
            parse("gave_up == 0").unwrap().cond,
            Cond::Compare(Op::Eq, Bound::Count(0))
        );
        assert_eq!(
            parse("gave_up < 1%").unwrap().cond,
            Cond::Compare(Op::Lt, Bound::Share(0.01))
        );
        assert_eq!(
            parse("verdict in [recovered, never_degraded]").unwrap().cond,
            Cond::Verdict {
                negate: false,
                any_of: vec![Verdict::Recovered, Verdict::NeverDegraded]
            }
        );
        assert_eq!(
            parse("verdict != metastable").unwrap().cond,
            Cond::Verdict {
                negate: true,
                any_of: vec![Verdict::Metastable]
            }
        );
        assert_eq!(parse("join.p999 >= 1s").unwrap().metric.to_string(), "join.p999");
    }

    #[test]
    fn errors_say_what_is_wrong_and_what_is_accepted() {
        let cases: &[(&str, &str)] = &[
            ("", "empty threshold"),
            ("login.p99 800ms", "has no comparison"),
            ("recovery_time <", "has no value"),
            ("latency < 3s", "unknown metric `latency`"),
            ("login.p98 < 1s", "`p98` is not a statistic; write one of p50"),
            ("login.p99 < 800", "write a duration with its unit"),
            ("login.p99 < fast", "`fast` is not a valid value for `login.p99`"),
            ("success_rate > 120%", "write a percentage"),
            ("verdict < recovered", "cannot use `<`: it takes `==`, `!=` or `in"),
            ("verdict == healed", "`healed` is not a valid value for `verdict`"),
            ("retry_amplification < -1", "write a number of 0 or more"),
            ("gave_up < lots", "count of clients (`100`) or a share"),
            ("down_share in [1]", "cannot use `in`"),
        ];
        for (expr, want) in cases {
            let err = parse(expr).unwrap_err().to_string();
            assert!(err.contains(want), "{expr}: {err}");
        }
    }

    #[test]
    fn parse_all_checks_step_names_and_reports_every_error_with_its_index() {
        let exprs: Vec<String> = ["auth.p99 < 1s", "joni.p99 < 1s", "login.p50 < 1s", "x > 1"]
            .map(String::from)
            .to_vec();
        let errs = parse_all(&exprs, &steps()).unwrap_err();
        assert_eq!(errs.len(), 2);
        assert_eq!(errs[0].0, 1);
        assert_eq!(
            errs[0].1.to_string(),
            "`joni.p99`: the login flow has no step `joni`; its steps are `auth`, `join`"
        );
        assert_eq!(errs[1].0, 3);
        assert!(errs[1].1.to_string().contains("steps: `auth`, `join`"));
        let ok = parse_all(&exprs[..1], &steps()).unwrap();
        assert_eq!(ok.len(), 1);
        // Without the flow, any step name is taken.
        assert!(parse("joni.p99 < 1s").is_ok());
    }

    #[test]
    fn evaluates_against_a_recovered_run() {
        let (w, r) = recovered();
        assert_eq!(r.verdict, Verdict::Recovered);
        let res = eval(
            &[
                "recovery_time < 3s",
                "recovery_time < 2s",
                "recovery_time_from_storm_end <= 1s",
                "verdict == recovered",
                "verdict in [never-degraded, metastable]",
                "login.max < 800ms",
                "auth.p50 < 50ms",
                "success_rate > 99%",
                "retry_amplification < 1.5",
                "gave_up <= 5",
                "gave_up < 0.6%",
                "achieved_rate >= 99%",
                "down_share < 30%",
            ],
            &w,
            &r,
        );
        let passed: Vec<bool> = res.iter().map(|x| x.passed).collect();
        assert_eq!(
            passed,
            [
                true, false, true, true, false, false, true, false, true, true, true, true, true
            ]
        );
        assert_eq!(res[0].measured, "2s");
        assert_eq!(res[0].value, Some(2000.0));
        assert_eq!(res[0].unit, Unit::Ms);
        assert_eq!(res[3].measured, "recovered");
        // The slow windows took 900 ms (held to 0.1 %).
        assert!((res[5].value.unwrap() - 900.0).abs() < 1.0);
        assert_eq!(res[5].measured, "900ms");
        // 880 ok of 1000 completed.
        assert_eq!(res[7].value, Some(0.88));
        assert_eq!(res[7].measured, "88%");
        // After the trigger: 800 attempts for 750 first attempts.
        assert!((res[8].value.unwrap() - 800.0 / 750.0).abs() < 1e-9);
        assert_eq!(res[8].measured, "1.07×");
        // 5 of 950 clients.
        assert_eq!(res[10].measured, "0.5% (5 clients)");
        assert_eq!(res[11].measured, "100% (950 of 950)");
        assert_eq!(res[12].value, Some(0.25));
    }

    #[test]
    fn undefined_metrics_have_fixed_outcomes() {
        // Never degraded: recovery time 0 passes.
        let w = run(&[(100, 0, 20); 6]);
        let r = analyze(&w, &timeline(), &slo(), Duration::from_secs(1));
        assert_eq!(r.verdict, Verdict::NeverDegraded);
        let res = eval(&["recovery_time < 1s", "join.p99 < 1s"], &w, &r);
        assert!(res[0].passed);
        assert_eq!(res[0].value, Some(0.0));
        // A step without samples fails and says why.
        assert!(!res[1].passed);
        assert_eq!(res[1].measured, "no samples");
        // Not recovered: fails whatever the direction.
        let w = run(&[(100, 0, 20), (100, 0, 20), (0, 100, 20), (0, 100, 20)]);
        let r = analyze(&w, &timeline(), &slo(), Duration::from_secs(1));
        let res = eval(&["recovery_time < 1h", "recovery_time > 0s"], &w, &r);
        assert!(res.iter().all(|x| !x.passed && x.value.is_none()));
        assert_eq!(res[0].measured, "not recovered (not-recovered)");
        // No completed logins at all.
        let res = eval(&["success_rate > 0%", "login.p50 < 1h"], &[], &r);
        assert_eq!(res[0].measured, "no completed logins");
        assert!(!res[0].passed && !res[1].passed);
    }
}
