//! compare's table tests: synthetic runs, every rule of the module's doc.

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
    // 1 ms → 5 ms is +400 % but not beyond the 5 ms floor; 7 ms is.
    let nw2 = run(&[(1000, 0, 5); 3]);
    let c = compare(&bw, &br, &nw2, &nr, 0.1);
    assert!((get(&c, "login.p99").change_pct.unwrap() - 400.0).abs() < 1.0);
    assert!(!get(&c, "login.p99").regressed);
    let nw3 = run(&[(1000, 0, 7); 3]);
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

/// `n` one-second windows of 100 logins at 4 ms, those in `slow` at `slow_ms`.
fn steady(n: usize, slow: &[usize], slow_ms: u64) -> Vec<Window> {
    let spec: Vec<(u64, u64, u64)> = (0..n)
        .map(|i| (100, 0, if slow.contains(&i) { slow_ms } else { 4 }))
        .collect();
    run(&spec)
}

#[test]
fn a_few_slow_windows_are_within_noise_and_a_slowdown_in_every_window_is_not() {
    let bw = steady(20, &[], 0);
    let br = analyzed(&bw);
    // Two slow windows (a noisy neighbour): the whole-run p99 goes 4 ms → 40 ms.
    let nw = steady(20, &[7, 13], 40);
    let c = compare(&bw, &br, &nw, &analyzed(&nw), 0.1);
    let p99 = get(&c, "login.p99");
    assert_eq!((p99.base.as_str(), p99.new.as_str()), ("4ms", "40ms"));
    assert!(p99.worse && p99.within_noise && !p99.regressed, "{p99:?}");
    assert_eq!(p99.status(), "within noise");
    let noise = p99.noise.as_ref().unwrap();
    assert_eq!((noise.windows, noise.worse, noise.better), (20, 2, 0));
    assert!(!c.any_regression(), "{:?}", c.regressions().collect::<Vec<_>>());
    // 50 ms slower in every window: systematic.
    let nw = steady(20, &(0..20).collect::<Vec<_>>(), 54);
    let c = compare(&bw, &br, &nw, &analyzed(&nw), 0.1);
    let p99 = get(&c, "login.p99");
    assert!(p99.regressed && !p99.within_noise, "{p99:?}");
    assert_eq!(p99.status(), "REGRESSED");
    assert!(get(&c, "auth.p99").regressed);
}

#[test]
fn the_maximum_is_shown_but_judged_only_when_asked() {
    let bw = steady(3, &[], 0);
    let br = analyzed(&bw);
    let nw = steady(3, &[0, 1, 2], 30);
    let nr = analyzed(&nw);
    let c = compare(&bw, &br, &nw, &nr, 0.1);
    let max = get(&c, "login.max");
    assert!(max.worse && !max.gated && !max.regressed, "{max:?}");
    assert_eq!(max.status(), "worse, not gated");
    let opts = Options {
        gate_max: true,
        ..Options::default()
    };
    assert!(get(&compare_with(&bw, &br, &nw, &nr, &opts), "login.max").regressed);
}

#[test]
fn a_floor_set_by_the_user_is_the_one_judged_and_stated() {
    // 4 ms → 12 ms in three windows (too few for a noise estimate): beyond the 5 ms
    // default, within a 10 ms floor.
    let bw = steady(3, &[], 0);
    let br = analyzed(&bw);
    let nw = steady(3, &[0, 1, 2], 12);
    let nr = analyzed(&nw);
    assert!(get(&compare(&bw, &br, &nw, &nr, 0.1), "login.p99").regressed);
    let mut opts = Options::default();
    opts.floors.set("latency=10ms").unwrap();
    let c = compare_with(&bw, &br, &nw, &nr, &opts);
    assert!(!get(&c, "login.p99").regressed);
    assert!(
        c.rule_words().starts_with("tolerance 10%; floors: latency 10ms, "),
        "{}",
        c.rule_words()
    );
}

#[test]
fn one_window_more_down_is_the_down_share_s_resolution_not_a_regression() {
    // Eight windows, the trigger at 2 s: six judged after it, each 16.7 points.
    let down = |n: usize| -> Vec<Window> {
        let spec: Vec<(u64, u64, u64)> = (0..8)
            .map(|i| {
                if (2..2 + n).contains(&i) {
                    (0, 100, 5)
                } else {
                    (100, 0, 5)
                }
            })
            .collect();
        run(&spec)
    };
    let (bw, nw) = (down(2), down(3));
    let (br, nr) = (analyzed(&bw), analyzed(&nw));
    let c = compare(&bw, &br, &nw, &nr, 0.1);
    let d = get(&c, "down_share");
    // 2 → 3 of 6 is 0.5 − ⅓, a hair above ⅙ in floating point: still one window.
    assert!(d.new_value.unwrap() > d.base_value.unwrap(), "{d:?}");
    assert!(!d.regressed, "{d:?}");
    // Two windows more is beyond it.
    let nw = down(4);
    let nr = analyzed(&nw);
    assert!(get(&compare(&bw, &br, &nw, &nr, 0.1), "down_share").regressed);
}
