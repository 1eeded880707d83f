//! Comparison of two runs of the same profile (a baseline build and a candidate):
//! every key figure side by side, and whether it got worse beyond the noise.
//!
//! A figure has regressed when it moved in its bad direction by more than
//! `max(tolerance × |base|, floor)`, and, for a latency, when the runs' own windows
//! agree that it did ([`noise`]: a sign test over paired windows). The floors
//! ([`Floors`], settable with `--floor`) keep measurement noise from counting: 5 ms for
//! latencies, one window for recovery time, 0.1 point for failure and give-up shares,
//! 1 point for the down share, 0.05 for retry amplification. `login.max` is shown but
//! not judged unless asked (`gate_max`): one slow request decides it. Success rate is
//! judged by its complement, the failure share (99.9 % → 99 % is ten times as many
//! failures, not a 0.9 % change). A run that recovers where the base did, but no
//! longer does, has regressed; so has a verdict that got worse (never-degraded <
//! recovered < recovered-then-relapsed < not-recovered = metastable =
//! insufficient-data = down = never-healthy). A latency whose histograms do not decode (a damaged report) is
//! shown as such and counts as a regression, whichever run it is in.

mod floors;
pub mod noise;

pub use floors::{CLASSES as FLOOR_CLASSES, FloorError, Floors};
pub use noise::Noise;

use serde::{Deserialize, Serialize};

use hdrhistogram::Histogram;

use super::recovery::Recovery;
use super::{login_hist, step_hist, step_names, us_to_ms};
use crate::record::{HistError, HistSummary, Window};
use crate::units::{fmt_ms, pct};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Better {
    Lower,
    Higher,
}

/// One figure of both runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub metric: String,
    /// As a person reads it.
    pub base: String,
    pub new: String,
    /// Machine values (ms for durations, fractions for shares); null when undefined.
    pub base_value: Option<f64>,
    pub new_value: Option<f64>,
    /// (new − base) ÷ base × 100, when both are defined and base is not 0.
    pub change_pct: Option<f64>,
    pub better: Better,
    pub regressed: bool,
    /// Worse than the base by more than `max(floor, tolerance × |base|)` over the whole
    /// run; `regressed` unless within noise or not gated.
    #[serde(default)]
    pub worse: bool,
    /// Judged for the exit code; false for a figure only shown (`login.max` by default).
    #[serde(default = "yes")]
    pub gated: bool,
    /// Worse beyond floor and tolerance over the whole run, but not systematically so
    /// window by window: within the noise of the two runs.
    #[serde(default)]
    pub within_noise: bool,
    /// What the paired windows show (latency figures).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise: Option<Noise>,
}

fn yes() -> bool {
    true
}

impl Row {
    /// The row's judgement in words, as every output shows it: REGRESSED, "within
    /// noise", "worse, not gated" (a figure only shown), or empty.
    pub fn status(&self) -> &'static str {
        match (self.regressed, self.worse, self.gated, self.within_noise) {
            (true, ..) => "REGRESSED",
            (false, true, false, _) => "worse, not gated",
            (false, true, true, true) => "within noise",
            _ => "",
        }
    }
}

/// How a comparison judges: relative tolerance, floors, and whether `login.max` counts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Options {
    /// Relative (0.1 = 10 %).
    pub tolerance: f64,
    pub floors: Floors,
    /// Judge `login.max` too (off by default: one slow request decides it).
    pub gate_max: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            tolerance: 0.1,
            floors: Floors::default(),
            gate_max: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub tolerance: f64,
    pub rows: Vec<Row>,
    /// The floors in force, and the comparison's window length (ms).
    #[serde(default)]
    pub floors: Option<Floors>,
    #[serde(default)]
    pub window_ms: f64,
}

impl Comparison {
    pub fn any_regression(&self) -> bool {
        self.rows.iter().any(|r| r.regressed)
    }

    pub fn regressions(&self) -> impl Iterator<Item = &Row> {
        self.rows.iter().filter(|r| r.regressed)
    }

    /// How the figures were judged, in words: tolerance and floors.
    pub fn rule_words(&self) -> String {
        let floors = self.floors.unwrap_or_default();
        format!(
            "tolerance {}; floors: {}",
            pct(self.tolerance),
            floors.words(self.window_ms)
        )
    }
}

/// A figure of one run: its machine value and how a person reads it.
type Fig = (Option<f64>, String);

fn fig(v: Option<f64>, show: impl Fn(f64) -> String) -> Fig {
    (v, v.map_or_else(|| "–".into(), show))
}

/// The change a figure may show before it counts as worse: `max(tol × |base|, floor)`.
fn allowance(base: f64, tol: f64, floor: f64) -> f64 {
    (tol * base.abs()).max(floor)
}

fn row(metric: String, base: Fig, new: Fig, better: Better, tol: f64, floor: f64) -> Row {
    let worse = match (base.0, new.0) {
        (Some(b), Some(n)) => {
            let worse = match better {
                Better::Lower => n - b,
                Better::Higher => b - n,
            };
            // A hair above the allowance in floating point (0.5 − ⅓ against ⅙) is at it.
            worse - allowance(b, tol, floor) > 1e-9
        }
        _ => false,
    };
    Row {
        metric,
        change_pct: match (base.0, new.0) {
            (Some(b), Some(n)) if b != 0.0 => Some((n - b) / b * 100.0),
            _ => None,
        },
        base: base.1,
        new: new.1,
        base_value: base.0,
        new_value: new.0,
        better,
        regressed: worse,
        worse,
        gated: true,
        within_noise: false,
        noise: None,
    }
}

/// A merged latency histogram, or why it could not be had.
type Hist = Result<Histogram<u64>, HistError>;

/// Shown in place of a latency whose histograms do not decode.
const UNREADABLE: &str = "histogram does not decode";

fn quantile(h: &Histogram<u64>, p: f64) -> Option<f64> {
    (!h.is_empty()).then(|| us_to_ms(h.value_at_quantile(p)))
}

/// One latency figure of one run, window by window: the value (ms) of each window with
/// at least [`noise::MIN_WINDOW_COUNT`] completed logins (of `step`, or whole logins),
/// None for the others.
fn per_window(w: &[Window], step: Option<&str>, value: fn(&HistSummary) -> f64) -> Vec<Option<f64>> {
    w.iter()
        .map(|x| {
            let h = match step {
                None => Some(&x.latency_ms),
                Some(name) => x.steps.iter().find(|s| s.name == name).map(|s| &s.latency_ms),
            };
            h.filter(|h| h.count >= noise::MIN_WINDOW_COUNT).map(value)
        })
        .collect()
}

/// A latency row under the latency floor. Worse over the whole run is a regression
/// only when the paired windows agree ([`noise`]); with too few of them to say, the
/// whole run decides. A histogram that does not decode, in either run, shows as such
/// and counts as a regression: a comparison must not pass on a figure it could not read.
fn latency_row(
    metric: String,
    (base, new): (&Hist, &Hist),
    pick: impl Fn(&Histogram<u64>) -> Option<f64>,
    (base_w, new_w): (Vec<Option<f64>>, Vec<Option<f64>>),
    opts: &Options,
) -> Row {
    let figure = |h: &Hist| match h {
        Ok(h) => fig(pick(h), fmt_ms),
        Err(_) => (None, UNREADABLE.to_string()),
    };
    let (tol, floor) = (opts.tolerance.max(0.0), opts.floors.latency_ms);
    let mut r = row(metric, figure(base), figure(new), Better::Lower, tol, floor);
    r.noise = noise::paired(&base_w, &new_w, |b| allowance(b, tol, floor));
    r.within_noise = r.worse && r.noise.as_ref().is_some_and(|n| n.judged() && !n.systematic());
    r.regressed = r.worse && !r.within_noise;
    r.regressed |= base.is_err() || new.is_err();
    r
}

/// The down share one window stands for in a run: 1 ÷ the windows judged from the
/// trigger on. The share cannot move by less; one window flipping is the measure's
/// resolution, not a regression (as recovery time's floor is one window).
fn one_window_share(r: &Recovery) -> f64 {
    use super::recovery::{Health, Phase};
    let judged = r
        .health
        .iter()
        .filter(|h| h.phase != Phase::Baseline && h.state != Health::Unjudged)
        .count();
    if judged == 0 { 0.0 } else { 1.0 / judged as f64 }
}

fn success(w: &[Window]) -> Option<f64> {
    crate::record::Counts::sum(w.iter().map(|x| &x.counts)).success_rate()
}

fn gave_up(w: &[Window]) -> Fig {
    let n: u64 = w.iter().map(|x| x.counts.gave_up).sum();
    let clients: u64 = w.iter().map(|x| x.counts.first_attempts).sum();
    let share = if clients > 0 { n as f64 / clients as f64 } else { 0.0 };
    (Some(share), format!("{} ({})", crate::units::thousands(n), pct(share)))
}

/// Compares a new run with a base run under the default floors; `tolerance` is
/// relative (0.1 = 10 %).
pub fn compare(base: &[Window], base_rec: &Recovery, new: &[Window], new_rec: &Recovery, tolerance: f64) -> Comparison {
    let opts = Options {
        tolerance,
        ..Options::default()
    };
    compare_with(base, base_rec, new, new_rec, &opts)
}

/// Compares a new run with a base run as `opts` says.
pub fn compare_with(
    base: &[Window],
    base_rec: &Recovery,
    new: &[Window],
    new_rec: &Recovery,
    opts: &Options,
) -> Comparison {
    let tol = opts.tolerance.max(0.0);
    let floors = &opts.floors;
    let ms = |x: f64| fmt_ms(x);
    let mut rows = Vec::new();

    let (bv, nv) = (base_rec.verdict, new_rec.verdict);
    rows.push(Row {
        metric: "verdict".into(),
        base: bv.to_string(),
        new: nv.to_string(),
        base_value: Some(bv.rank() as f64),
        new_value: Some(nv.rank() as f64),
        change_pct: None,
        better: Better::Lower,
        regressed: nv.rank() > bv.rank(),
        worse: nv.rank() > bv.rank(),
        gated: true,
        within_noise: false,
        noise: None,
    });

    let rt = |r: &Recovery| {
        let v = r.recovery_time_ms.map(|t| t as f64);
        (v, v.map_or_else(|| "not recovered".into(), ms))
    };
    let window_ms = base_rec.window_ms.max(new_rec.window_ms) as f64;
    let mut rec_row = row(
        "recovery_time".into(),
        rt(base_rec),
        rt(new_rec),
        Better::Lower,
        tol,
        floors.recovery_time(window_ms),
    );
    rec_row.worse |= base_rec.recovery_time_ms.is_some() && new_rec.recovery_time_ms.is_none();
    rec_row.regressed |= base_rec.recovery_time_ms.is_some() && new_rec.recovery_time_ms.is_none();
    rows.push(rec_row);

    let (bh, nh) = (login_hist(base), login_hist(new));
    let both = |step: Option<&str>, v: fn(&HistSummary) -> f64| (per_window(base, step, v), per_window(new, step, v));
    let p99: fn(&HistSummary) -> f64 = |h| h.p99;
    rows.push(latency_row(
        "login.p50".into(),
        (&bh, &nh),
        |h| quantile(h, 0.5),
        both(None, |h| h.p50),
        opts,
    ));
    rows.push(latency_row(
        "login.p99".into(),
        (&bh, &nh),
        |h| quantile(h, 0.99),
        both(None, p99),
        opts,
    ));
    let max = |h: &Histogram<u64>| (!h.is_empty()).then(|| us_to_ms(h.max()));
    let mut max_row = latency_row("login.max".into(), (&bh, &nh), max, both(None, |h| h.max), opts);
    // One slow request decides a maximum: shown, judged only when asked.
    max_row.gated = opts.gate_max;
    max_row.regressed &= opts.gate_max || bh.is_err() || nh.is_err();
    rows.push(max_row);

    // Judged on the failure share; shown as the success rate.
    let (bs, ns) = (success(base), success(new));
    let mut s = row(
        "failure_share".into(),
        fig(bs.map(|x| 1.0 - x), pct),
        fig(ns.map(|x| 1.0 - x), pct),
        Better::Lower,
        tol,
        floors.failures,
    );
    s.metric = "success_rate".into();
    s.better = Better::Higher;
    (s.base, s.new) = (fig(bs, pct).1, fig(ns, pct).1);
    (s.base_value, s.new_value) = (bs, ns);
    s.change_pct = match (bs, ns) {
        (Some(b), Some(n)) if b != 0.0 => Some((n - b) / b * 100.0),
        _ => None,
    };
    rows.push(s);

    let amp = |r: &Recovery| fig(r.figures.retry_amplification, |a| format!("{a:.2}×"));
    rows.push(row(
        "retry_amplification".into(),
        amp(base_rec),
        amp(new_rec),
        Better::Lower,
        tol,
        floors.retry_amplification,
    ));
    rows.push(row(
        "gave_up".into(),
        gave_up(base),
        gave_up(new),
        Better::Lower,
        tol,
        floors.failures,
    ));
    rows.push(row(
        "down_share".into(),
        fig(base_rec.figures.down_share, pct),
        fig(new_rec.figures.down_share, pct),
        Better::Lower,
        tol,
        floors
            .down_share
            .max(one_window_share(base_rec).max(one_window_share(new_rec))),
    ));

    let mut steps = step_names(base);
    for s in step_names(new) {
        if !steps.contains(&s) {
            steps.push(s);
        }
    }
    for step in steps {
        let (bh, nh) = (step_hist(base, &step), step_hist(new, &step));
        let windows = both(Some(&step), p99);
        rows.push(latency_row(
            format!("{step}.p99"),
            (&bh, &nh),
            |h| quantile(h, 0.99),
            windows,
            opts,
        ));
    }
    Comparison {
        tolerance: tol,
        rows,
        floors: Some(*floors),
        window_ms,
    }
}

#[cfg(test)]
mod tests;
