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
//! | `achieved_rate` (first attempts sent before the plan's end, less relogins, ÷ planned) | share | all |
//! | `gave_up` | count (`100`) or share of clients (`1%`) | all |
//! | `down_share` | share | all |
//! | `peak_locked_out` | count | all |
//! | `reconnect_time` (how long the connected share stayed below `slo.connected`) | duration | all |
//! | `connected_share` (connected ÷ should be online, the run's last window) | share | all |
//! | `reconnect.STAT`, `heartbeat.STAT`, `upgrade.STAT` (held connections) | duration | all |
//!
//! When a metric is undefined the outcome is fixed: the recovery time of a run that
//! never degraded is 0, that of a relapsed run is the time to the recovery it lost; a
//! run that did not recover fails every recovery-time threshold, whatever its
//! direction, with the value `not recovered (<verdict>)`; a latency with
//! no samples, a success rate with no completed logins, an amplification with no first
//! attempts and a down share with no judged window fail with `no data` reasons; a
//! latency whose histograms do not decode (a damaged report) fails and says so. A
//! threshold that cannot be checked never passes silently. `achieved_rate` with
//! nothing planned is 100 %.

use serde::{Deserialize, Serialize};

use super::recovery::Recovery;
use super::{login_hist, step_hist, us_to_ms};
use crate::record::{Counts, Window};
use crate::threshold::{Bound, Cond, Metric, Stat, Threshold};
use crate::units::{fmt_ms, pct};

/// The statistic of a histogram in microseconds, in milliseconds, or None when it is empty.
fn stat_of(stat: Stat, h: &hdrhistogram::Histogram<u64>) -> Option<f64> {
    if h.is_empty() {
        return None;
    }
    Some(match stat {
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
                None => Measure::Undefined(format!("not recovered ({})", rec.verdict_shown())),
            }
        }
        Metric::Latency { step, stat } => {
            let h = match step {
                None => login_hist(w),
                Some(s) => step_hist(w, s),
            };
            match h {
                Ok(h) => value_or(stat_of(*stat, &h), &ms, "no samples"),
                Err(e) => Measure::Undefined(e.to_string()),
            }
        }
        Metric::SuccessRate => value_or(
            Counts::sum(w.iter().map(|x| &x.counts)).success_rate(),
            &share,
            "no completed logins",
        ),
        Metric::RetryAmplification => value_or(
            rec.figures.retry_amplification,
            &|x| format!("{x:.2}×"),
            "no first attempts",
        ),
        Metric::AchievedRate => {
            // The plan's arrivals only: the baseline's after the plan's end (the probe's,
            // or those sent while deciding on one) are sent but were never planned.
            let plan_end = rec
                .probe
                .as_ref()
                .map_or(rec.observe_end_ms, |p| p.retries_stopped_at_ms);
            let sent: u64 = w
                .iter()
                .filter(|x| x.start_ms < plan_end)
                .map(|x| x.counts.first_attempts.saturating_sub(x.counts.relogins))
                .sum();
            let v = ratio(sent, planned).unwrap_or(1.0);
            Measure::Value(v, format!("{} ({sent} of {planned})", pct(v)))
        }
        Metric::GaveUp => {
            let gave_up: u64 = w.iter().map(|x| x.counts.gave_up).sum();
            let clients: u64 = w.iter().map(|x| x.counts.first_attempts).sum();
            match bound {
                Bound::Share(_) => {
                    let v = ratio(gave_up, clients).unwrap_or(0.0);
                    Measure::Value(v, format!("{} ({gave_up} clients)", pct(v)))
                }
                _ => Measure::Value(gave_up as f64, gave_up.to_string()),
            }
        }
        Metric::DownShare => value_or(rec.figures.down_share, &share, "no judged windows"),
        Metric::PeakLockedOut => Measure::Value(
            rec.figures.peak_locked_out as f64,
            rec.figures.peak_locked_out.to_string(),
        ),
        Metric::ReconnectTime => {
            let least = rec.slo.connected.unwrap_or(DEFAULT_CONNECTED);
            match super::held::reconnect_time(w, least) {
                _ if !w.iter().any(|x| x.held.is_some()) => Measure::Undefined("no held connections".into()),
                None => Measure::Value(0.0, format!("0s (never below {})", pct(least))),
                Some(Ok(d)) => {
                    let v = d.as_secs_f64() * 1000.0;
                    Measure::Value(v, ms(v))
                }
                Some(Err(since)) => Measure::Undefined(format!(
                    "not back: below {} for the last {}",
                    pct(least),
                    crate::units::format_duration(since)
                )),
            }
        }
        Metric::ConnectedShare => value_or(
            w.iter()
                .rev()
                .find_map(|x| x.held.as_ref())
                .and_then(|h| h.connected_share()),
            &share,
            "no held connections",
        ),
        Metric::Held { series, stat } => match super::held::held_hist(w, *series) {
            Ok(h) => value_or(stat_of(*stat, &h), &ms, "no samples"),
            Err(e) => Measure::Undefined(e.to_string()),
        },
        Metric::Verdict => unreachable!("verdicts are evaluated apart"),
    }
}

/// The connected share a run without `slo.connected` is judged by.
const DEFAULT_CONNECTED: f64 = 0.99;

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
                    measured: recovery.verdict_shown(),
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
    use std::time::Duration;

    use super::*;
    use crate::analysis::recovery::{Timeline, analyze};
    use crate::analysis::testkit::{run, with_retries};
    use crate::outcome::Verdict;
    use crate::profile::Slo;
    use crate::threshold::parse;

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
        w[3].counts.gave_up = 5;
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

    fn slo() -> Slo {
        Slo {
            success_rate: Some(0.99),
            p99: Some(Duration::from_millis(500)),
            hold: Some(Duration::from_secs(5)),
            min_requests: 10,
            connected: None,
            ..Slo::default()
        }
    }

    fn eval(exprs: &[&str], w: &[Window], r: &Recovery) -> Vec<ThresholdResult> {
        let t: Vec<Threshold> = exprs.iter().map(|e| parse(e).unwrap()).collect();
        evaluate(&t, w, r, 950)
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
    fn achieved_rate_counts_the_plans_arrivals_not_the_probes() {
        // Issue #22, case 8: before, a probe's baseline arrivals were counted against
        // the plan ("3301 of 2450", 134.7 %), so a generator that missed a quarter of
        // its plan passed `achieved_rate > 99%`.
        let (mut w, mut r) = recovered();
        let plan_end = w.last().unwrap().start_ms + 1000;
        for i in 0..4u32 {
            let mut x = w[0].clone();
            x.index = w.len() as u32;
            x.start_ms = plan_end + i as u64 * 1000;
            x.counts.first_attempts = 400;
            w.push(x);
        }
        r.probe = Some(crate::analysis::recovery::Probe {
            retries_stopped_at_ms: plan_end,
            started_at_ms: plan_end,
            limit_ms: 4000,
            ended_at_ms: plan_end + 4000,
            outcome: crate::analysis::recovery::ProbeOutcome::Inconclusive,
            verdict_before: Verdict::NotRecovered,
            healed_at_ms: None,
            recovered_after_ms: None,
            silenced_share: Some(0.5),
            draining: Vec::new(),
        });
        let res = eval(&["achieved_rate >= 99%"], &w, &r);
        assert_eq!(res[0].measured, "100% (950 of 950)");
        // A plan a quarter short still fails, probe or not.
        let res = evaluate(&[parse("achieved_rate > 99%").unwrap()], &w, &r, 1270);
        assert!(!res[0].passed, "{}", res[0].measured);
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

    #[test]
    fn a_histogram_that_does_not_decode_fails_its_threshold_and_says_why() {
        let (mut w, r) = recovered();
        w[3].latency_ms.hist = "not base64!".into();
        let res = eval(&["login.p99 < 1h", "auth.p99 < 1h"], &w, &r);
        // Before, the window was left out and the p99 of the others passed as exact.
        assert!(!res[0].passed && res[0].value.is_none());
        assert!(res[0].measured.contains("not valid base64"), "{}", res[0].measured);
        // The step's own histograms are intact.
        assert!(res[1].passed);
    }
}
