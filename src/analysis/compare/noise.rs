//! Whether a latency change stands out of the noise the two runs themselves show.
//!
//! Two runs of one profile keep the same schedule, so window i of BASE and window i of
//! NEW saw the same storm. Each pair of windows (both with at least
//! [`MIN_WINDOW_COUNT`] completed logins) gives one difference of the figure (its
//! per-window p99, say). A window is *worse* when NEW exceeds BASE there by more than
//! the row's allowance (`max(floor, tolerance × base)`), *better* when it is below by
//! as much, and a tie otherwise. Under "nothing changed", worse and better are equally
//! likely: a one-sided sign test gives the chance of at least this many worse windows
//! among the untied ones. A change is systematic when that chance is below
//! [`SIGNIFICANCE`]; otherwise it is within the noise of the runs, however the whole-run
//! figure moved (one slow stretch on a shared runner moves a whole-run p99 a lot and a
//! sign test little). With fewer than [`MIN_PAIRS`] paired windows there is no estimate,
//! and the whole-run figure alone decides.

use serde::{Deserialize, Serialize};

use crate::units::fmt_ms;

/// Completed logins a window needs, in both runs, to be paired.
pub const MIN_WINDOW_COUNT: u64 = 20;
/// Paired windows needed for a noise estimate.
pub const MIN_PAIRS: u32 = 5;
/// The sign test's one-sided level: below it, a change is systematic.
pub const SIGNIFICANCE: f64 = 0.01;

/// What the paired windows of one latency figure show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Noise {
    /// Windows paired (both runs with enough logins in it).
    pub windows: u32,
    /// Windows where NEW was worse, or better, by more than the allowance.
    pub worse: u32,
    pub better: u32,
    /// One-sided sign test: the chance of at least `worse` worse windows among
    /// `worse + better` if nothing had changed.
    pub p_value: f64,
    /// The per-window differences NEW − BASE, ms: their 10th percentile, median and
    /// 90th percentile (the spread the runs show window by window).
    pub shift_p10_ms: f64,
    pub shift_median_ms: f64,
    pub shift_p90_ms: f64,
}

impl Noise {
    /// Enough paired windows to estimate the noise.
    pub fn judged(&self) -> bool {
        self.windows >= MIN_PAIRS
    }

    /// The windows agree that NEW is worse: more worse windows than chance allows.
    pub fn systematic(&self) -> bool {
        self.judged() && self.p_value < SIGNIFICANCE
    }

    /// `20 windows: 3 worse, 2 better (sign test p=0.50); per-window change −4.2ms … +5.1ms, median +0.3ms`
    pub fn words(&self) -> String {
        let signed = |v: f64| {
            if v < 0.0 {
                format!("−{}", fmt_ms(-v))
            } else {
                format!("+{}", fmt_ms(v))
            }
        };
        if !self.judged() {
            return format!(
                "{} paired windows: too few to estimate the noise (at least {MIN_PAIRS} with {MIN_WINDOW_COUNT} logins each)",
                self.windows
            );
        }
        format!(
            "{} windows: {} worse, {} better (sign test p={:.2}); per-window change {} … {}, median {}",
            self.windows,
            self.worse,
            self.better,
            self.p_value,
            signed(self.shift_p10_ms),
            signed(self.shift_p90_ms),
            signed(self.shift_median_ms)
        )
    }
}

/// The paired windows of one figure: `base[i]` and `new[i]` are window i's value (ms),
/// None where it had too few logins. `allowed(b)` is the change a window may show
/// before it counts as worse or better. None when no window pairs.
pub fn paired(base: &[Option<f64>], new: &[Option<f64>], allowed: impl Fn(f64) -> f64) -> Option<Noise> {
    let mut d: Vec<f64> = Vec::new();
    let (mut worse, mut better) = (0u32, 0u32);
    for (b, n) in base.iter().zip(new) {
        let (Some(b), Some(n)) = (b, n) else { continue };
        let diff = n - b;
        let allow = allowed(*b);
        if diff - allow > 1e-9 {
            worse += 1;
        } else if -diff - allow > 1e-9 {
            better += 1;
        }
        d.push(diff);
    }
    if d.is_empty() {
        return None;
    }
    d.sort_by(f64::total_cmp);
    let at = |q: f64| d[((q * (d.len() - 1) as f64).round() as usize).min(d.len() - 1)];
    Some(Noise {
        windows: d.len() as u32,
        worse,
        better,
        p_value: sign_test(worse, better),
        shift_p10_ms: at(0.1),
        shift_median_ms: at(0.5),
        shift_p90_ms: at(0.9),
    })
}

/// P(X ≥ worse) for X ~ Binomial(worse + better, ½): 1 when nothing is untied. Summed
/// in log space from the top, so that long runs (thousands of windows) do not underflow.
pub fn sign_test(worse: u32, better: u32) -> f64 {
    let n = worse + better;
    if n == 0 {
        return 1.0;
    }
    let nf = n as f64;
    // ln P(X = n) = −n ln 2; P(X = k−1) = P(X = k) · k ÷ (n − k + 1).
    let mut ln_p = -nf * std::f64::consts::LN_2;
    let mut sum = ln_p.exp();
    for k in (worse + 1..=n).rev() {
        ln_p += (k as f64).ln() - ((n - k + 1) as f64).ln();
        sum += ln_p.exp();
    }
    sum.min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sign_test_matches_the_binomial_tail() {
        assert_eq!(sign_test(0, 0), 1.0);
        assert!((sign_test(5, 0) - 1.0 / 32.0).abs() < 1e-12);
        // P(X ≥ 8 | n = 10) = (45 + 10 + 1) / 1024.
        assert!((sign_test(8, 2) - 56.0 / 1024.0).abs() < 1e-12);
        assert!((sign_test(0, 7) - 1.0).abs() < 1e-12);
        // Long runs do not underflow to 0 or NaN.
        let p = sign_test(1500, 1500);
        assert!(p > 0.4 && p < 0.6, "{p}");
        assert!(sign_test(3000, 0) >= 0.0);
    }

    #[test]
    fn ties_within_the_allowance_drop_out_and_a_shift_in_every_window_is_systematic() {
        let base: Vec<Option<f64>> = (0..10).map(|i| Some(10.0 + i as f64)).collect();
        // Jitter of ±3 ms: every window a tie with a 5 ms allowance.
        let jitter: Vec<Option<f64>> = base
            .iter()
            .enumerate()
            .map(|(i, b)| b.map(|b| b + if i % 2 == 0 { 3.0 } else { -3.0 }))
            .collect();
        let n = paired(&base, &jitter, |_| 5.0).unwrap();
        assert_eq!((n.windows, n.worse, n.better), (10, 0, 0));
        assert!(!n.systematic());
        // 50 ms slower everywhere: ten worse windows of ten.
        let slow: Vec<Option<f64>> = base.iter().map(|b| b.map(|b| b + 50.0)).collect();
        let s = paired(&base, &slow, |_| 5.0).unwrap();
        assert_eq!((s.worse, s.better), (10, 0));
        assert!(s.systematic(), "{}", s.words());
        assert_eq!(s.shift_median_ms, 50.0);
        // Windows with too few logins (None) are not paired.
        let mut thin = slow.clone();
        thin.iter_mut().skip(3).for_each(|v| *v = None);
        let t = paired(&base, &thin, |_| 5.0).unwrap();
        assert_eq!(t.windows, 3);
        assert!(!t.judged() && !t.systematic());
        assert!(t.words().starts_with("3 paired windows: too few"), "{}", t.words());
        assert_eq!(paired(&[None], &[Some(1.0)], |_| 5.0), None);
    }

    #[test]
    fn spikes_in_both_runs_are_noise() {
        // A shared runner: a few slow windows in each run, at different moments.
        let spike = |at: &[usize]| -> Vec<Option<f64>> {
            (0..20)
                .map(|i| Some(if at.contains(&i) { 40.0 } else { 4.0 }))
                .collect()
        };
        let n = paired(&spike(&[2, 9, 15]), &spike(&[4, 5, 11, 17]), |b| (0.1 * b).max(5.0)).unwrap();
        assert_eq!((n.worse, n.better), (4, 3));
        assert!(!n.systematic(), "{}", n.words());
    }
}
