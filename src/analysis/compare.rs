//! Comparison of two runs of the same profile (a baseline build and a candidate):
//! every key figure side by side, and whether it got worse by more than a tolerance.
//!
//! A figure has regressed when it moved in its bad direction by more than
//! `max(tolerance × |base|, floor)`. The floor keeps measurement noise from counting:
//! 1 ms for latencies, one window for recovery time, 0.1 point for failure and give-up
//! shares, 1 point for the down share, 0.05 for retry amplification. Success rate is
//! judged by its complement, the failure share (99.9 % → 99 % is ten times as many
//! failures, not a 0.9 % change). A run that recovers where the base did, but no
//! longer does, has regressed; so has a verdict that got worse (never-degraded <
//! recovered < recovered-then-relapsed < not-recovered = metastable =
//! insufficient-data = down = never-healthy). A latency whose histograms do not decode (a damaged report) is
//! shown as such and counts as a regression, whichever run it is in.

use serde::{Deserialize, Serialize};

use hdrhistogram::Histogram;

use super::recovery::Recovery;
use super::{login_hist, step_hist, step_names, us_to_ms};
use crate::record::{HistError, Window};
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
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub tolerance: f64,
    pub rows: Vec<Row>,
}

impl Comparison {
    pub fn any_regression(&self) -> bool {
        self.rows.iter().any(|r| r.regressed)
    }

    pub fn regressions(&self) -> impl Iterator<Item = &Row> {
        self.rows.iter().filter(|r| r.regressed)
    }
}

/// A figure of one run: its machine value and how a person reads it.
type Fig = (Option<f64>, String);

fn fig(v: Option<f64>, show: impl Fn(f64) -> String) -> Fig {
    (v, v.map_or_else(|| "–".into(), show))
}

fn row(metric: String, base: Fig, new: Fig, better: Better, tol: f64, floor: f64) -> Row {
    let regressed = match (base.0, new.0) {
        (Some(b), Some(n)) => {
            let worse = match better {
                Better::Lower => n - b,
                Better::Higher => b - n,
            };
            worse > (tol * b.abs()).max(floor)
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
        regressed,
    }
}

/// A merged latency histogram, or why it could not be had.
type Hist = Result<Histogram<u64>, HistError>;

/// Shown in place of a latency whose histograms do not decode.
const UNREADABLE: &str = "histogram does not decode";

fn quantile(h: &Histogram<u64>, p: f64) -> Option<f64> {
    (!h.is_empty()).then(|| us_to_ms(h.value_at_quantile(p)))
}

/// A latency row, 1 ms floor. A histogram that does not decode, in either run, shows as
/// such and counts as a regression: a comparison must not pass on a figure it could
/// not read.
fn latency_row(
    metric: String,
    base: &Hist,
    new: &Hist,
    pick: impl Fn(&Histogram<u64>) -> Option<f64>,
    tol: f64,
) -> Row {
    let figure = |h: &Hist| match h {
        Ok(h) => fig(pick(h), fmt_ms),
        Err(_) => (None, UNREADABLE.to_string()),
    };
    let mut r = row(metric, figure(base), figure(new), Better::Lower, tol, 1.0);
    r.regressed |= base.is_err() || new.is_err();
    r
}

fn success(w: &[Window]) -> Option<f64> {
    crate::record::Counts::sum(w.iter().map(|x| &x.counts)).success_rate()
}

fn gave_up(w: &[Window]) -> Fig {
    let n: u64 = w.iter().map(|x| x.counts.gave_up).sum();
    let clients: u64 = w.iter().map(|x| x.counts.first_attempts).sum();
    let share = if clients > 0 { n as f64 / clients as f64 } else { 0.0 };
    (Some(share), format!("{n} ({})", pct(share)))
}

/// Compares a new run with a base run; `tolerance` is relative (0.1 = 10 %).
pub fn compare(base: &[Window], base_rec: &Recovery, new: &[Window], new_rec: &Recovery, tolerance: f64) -> Comparison {
    let tol = tolerance.max(0.0);
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
        window_ms,
    );
    rec_row.regressed |= base_rec.recovery_time_ms.is_some() && new_rec.recovery_time_ms.is_none();
    rows.push(rec_row);

    let (bh, nh) = (login_hist(base), login_hist(new));
    for (name, p) in [("login.p50", 0.5), ("login.p99", 0.99)] {
        rows.push(latency_row(name.into(), &bh, &nh, |h| quantile(h, p), tol));
    }
    let max = |h: &Histogram<u64>| (!h.is_empty()).then(|| us_to_ms(h.max()));
    rows.push(latency_row("login.max".into(), &bh, &nh, max, tol));

    // Judged on the failure share; shown as the success rate.
    let (bs, ns) = (success(base), success(new));
    let mut s = row(
        "failure_share".into(),
        fig(bs.map(|x| 1.0 - x), pct),
        fig(ns.map(|x| 1.0 - x), pct),
        Better::Lower,
        tol,
        0.001,
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
        0.05,
    ));
    rows.push(row(
        "gave_up".into(),
        gave_up(base),
        gave_up(new),
        Better::Lower,
        tol,
        0.001,
    ));
    rows.push(row(
        "down_share".into(),
        fig(base_rec.figures.down_share, pct),
        fig(new_rec.figures.down_share, pct),
        Better::Lower,
        tol,
        0.01,
    ));

    let mut steps = step_names(base);
    for s in step_names(new) {
        if !steps.contains(&s) {
            steps.push(s);
        }
    }
    for step in steps {
        let (bh, nh) = (step_hist(base, &step), step_hist(new, &step));
        rows.push(latency_row(format!("{step}.p99"), &bh, &nh, |h| quantile(h, 0.99), tol));
    }
    Comparison { tolerance: tol, rows }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::recovery::{Timeline, analyze};
    use crate::analysis::testkit::run;
    use crate::outcome::Verdict;
    use crate::profile::Slo;
    use std::time::Duration;

    fn analyzed(w: &[Window]) -> Recovery {
        let tl = Timeline {
            trigger_start: Duration::from_secs(2),
            storm_end: Duration::from_secs(3),
            observe_end: Duration::from_secs(60),
        };
        let slo = Slo {
            success_rate: Some(0.99),
            p99: Some(Duration::from_millis(500)),
            hold: Some(Duration::from_secs(3)),
            min_requests: 10,
            connected: None,
            ..Slo::default()
        };
        analyze(w, &tl, &slo, Duration::from_secs(1))
    }

    /// Baseline 2 s, `down` failing windows, then 5 healthy at `lat` ms.
    fn runs(down: usize, lat: u64, ok: u64, failed: u64) -> Vec<Window> {
        let mut spec = vec![(100, 0, lat); 2];
        spec.extend(std::iter::repeat_n((0, 100, lat), down));
        spec.extend(std::iter::repeat_n((ok, failed, lat), 5));
        run(&spec)
    }

    fn get<'a>(c: &'a Comparison, m: &str) -> &'a Row {
        c.rows.iter().find(|r| r.metric == m).unwrap()
    }

    #[test]
    fn identical_runs_do_not_regress() {
        let w = runs(2, 20, 100, 0);
        let r = analyzed(&w);
        let c = compare(&w, &r, &w, &r, 0.1);
        assert!(!c.any_regression(), "{:?}", c.regressions().collect::<Vec<_>>());
        assert_eq!(get(&c, "login.p99").change_pct, Some(0.0));
    }

    #[test]
    fn slower_longer_and_worse_are_regressions_better_is_not() {
        let bw = runs(2, 20, 100, 0);
        let br = analyzed(&bw);
        // Down 4 s instead of 2 s, and 30 ms instead of 20 ms.
        let nw = runs(4, 30, 100, 0);
        let nr = analyzed(&nw);
        let c = compare(&bw, &br, &nw, &nr, 0.1);
        let rt = get(&c, "recovery_time");
        assert_eq!((rt.base.as_str(), rt.new.as_str()), ("2s", "4s"));
        assert_eq!(rt.change_pct, Some(100.0));
        assert!(rt.regressed);
        let p99 = get(&c, "login.p99");
        assert!(p99.regressed);
        assert!((p99.change_pct.unwrap() - 50.0).abs() < 0.5);
        assert!(get(&c, "auth.p99").regressed);
        assert!(!get(&c, "verdict").regressed);
        // The other way round, everything improved.
        let back = compare(&nw, &nr, &bw, &br, 0.1);
        assert!(!back.any_regression(), "{:?}", back.regressions().collect::<Vec<_>>());
    }

    #[test]
    fn no_longer_recovering_is_a_regression_of_verdict_and_time() {
        let bw = runs(2, 20, 100, 0);
        let br = analyzed(&bw);
        let nw = runs(2, 20, 50, 50);
        let nr = analyzed(&nw);
        assert_eq!(nr.verdict, Verdict::Down, "failing at a constant load: an outage");
        let c = compare(&bw, &br, &nw, &nr, 0.1);
        assert!(get(&c, "verdict").regressed);
        let rt = get(&c, "recovery_time");
        assert!(rt.regressed);
        assert_eq!(rt.new, "not recovered");
        assert!(get(&c, "success_rate").regressed);
        assert!(get(&c, "down_share").regressed);
    }

    #[test]
    fn success_is_judged_by_failures_and_noise_below_the_floor_is_ignored() {
        // 99.9 % → 99 %: a 0.9 % drop, but ten times the failures.
        let bw = run(&[(999, 1, 1); 3]);
        let nw = run(&[(990, 10, 1); 3]);
        let br = analyzed(&bw);
        let nr = analyzed(&nw);
        let c = compare(&bw, &br, &nw, &nr, 0.1);
        let s = get(&c, "success_rate");
        assert!(s.regressed);
        assert_eq!((s.base.as_str(), s.new.as_str()), ("99.90%", "99%"));
        // 1 ms → 2 ms is +100 % but not beyond the 1 ms floor; 3 ms is.
        let nw2 = run(&[(1000, 0, 2); 3]);
        let c = compare(&bw, &br, &nw2, &nr, 0.1);
        assert_eq!(get(&c, "login.p99").change_pct, Some(100.0));
        assert!(!get(&c, "login.p99").regressed);
        let nw3 = run(&[(1000, 0, 3); 3]);
        assert!(get(&compare(&bw, &br, &nw3, &nr, 0.1), "login.p99").regressed);
    }

    #[test]
    fn a_histogram_that_does_not_decode_is_shown_and_regresses() {
        let bw = runs(2, 20, 100, 0);
        let br = analyzed(&bw);
        let mut nw = bw.clone();
        nw[5].latency_ms.hist = "not base64!".into();
        let c = compare(&bw, &br, &nw, &br, 0.1);
        // Before, the window was left out and the rest compared as if exact.
        let p99 = get(&c, "login.p99");
        assert_eq!((p99.new.as_str(), p99.new_value), ("histogram does not decode", None));
        assert!(p99.regressed && get(&c, "login.max").regressed);
        // The step's histograms are intact.
        assert!(!get(&c, "auth.p99").regressed);
    }
}
