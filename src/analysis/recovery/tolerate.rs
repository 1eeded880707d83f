//! Noise-robust judgement: one window must not decide a run. A window whose miss a
//! target exactly at the SLO would show by chance (a one-sided binomial test on its
//! count, and on its neighbourhood's, so that a target steadily below the SLO is not
//! excused window by window), or a short run of unhealthy windows with healthy ones on
//! both sides (`slo.tolerate`), is **tolerated**: it neither makes an outage nor breaks
//! or counts towards a hold.

use super::{EPS, Health, SloUsed, WindowHealth};
use crate::record::Window;
use crate::units::pct;

/// Healthy windows on each side that make an unhealthy run isolated (fewer on the right
/// only where the observation ends, at least one).
const ISOLATION: usize = 3;
/// The share of samples a target exactly at its p99 has above it.
const ABOVE_P99: f64 = 0.01;

/// Marks tolerated windows in `health` (index for index with `windows`).
pub(super) fn tolerate(health: &mut [WindowHealth], windows: &[&Window], slo: &SloUsed) {
    noise(health, windows, slo);
    isolated(health, slo.tolerate as usize);
}

/// What a window adds to a binomial test: completed logins, failed ones, latency
/// samples, and samples above the SLO's p99.
#[derive(Default, Clone, Copy)]
struct Tally {
    n: u64,
    failed: u64,
    samples: u64,
    slow: u64,
}

impl std::ops::AddAssign for Tally {
    fn add_assign(&mut self, o: Tally) {
        self.n += o.n;
        self.failed += o.failed;
        self.samples += o.samples;
        self.slow += o.slow;
    }
}

fn tally(w: &Window, p99_ms: f64) -> Tally {
    let samples = w.latency_ms.count;
    // Above the SLO's p99: from the histogram when it decodes, otherwise every sample
    // when the window's own p99 is above it (no excuse without evidence).
    let slow = match w.latency_ms.histogram() {
        Ok(h) if !h.is_empty() => {
            let limit = (p99_ms * 1000.0).max(0.0) as u64;
            h.iter_recorded()
                .filter(|v| v.value_iterated_to() > limit)
                .map(|v| v.count_at_value())
                .sum()
        }
        _ if w.latency_ms.p99 > p99_ms + EPS => samples,
        _ => 0,
    };
    Tally {
        n: w.counts.logins_ok + w.counts.logins_failed,
        failed: w.counts.logins_failed,
        samples,
        slow,
    }
}

/// P(X ≥ k) for X ~ Binomial(n, q): how often a target failing a share `q` of the
/// time would fail at least `k` of `n`.
pub(super) fn upper_tail(n: u64, k: u64, q: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if k > n || q <= 0.0 {
        return 0.0;
    }
    if q >= 1.0 {
        return 1.0;
    }
    let (lq, lp) = (q.ln(), (1.0 - q).ln());
    // log C(n, i) built up term by term from i = k.
    let mut log_c: f64 = (0..k).map(|i| ((n - i) as f64).ln() - ((i + 1) as f64).ln()).sum();
    let mut total = 0.0;
    for i in k..=n {
        let term = (log_c + i as f64 * lq + (n - i) as f64 * lp).exp();
        total += term;
        if term < total * 1e-12 && i as f64 > n as f64 * q {
            break;
        }
        log_c += ((n - i) as f64).ln() - ((i + 1) as f64).ln();
    }
    total.min(1.0)
}

/// The p-values of a tally's misses (success rate, then p99), each None when that part
/// met the SLO.
fn p_values(t: Tally, slo: &SloUsed) -> (Option<f64>, Option<f64>) {
    let sr = if t.n == 0 {
        1.0
    } else {
        (t.n - t.failed) as f64 / t.n as f64
    };
    let success = (sr + EPS < slo.success_rate).then(|| upper_tail(t.n, t.failed, 1.0 - slo.success_rate));
    let latency = (t.samples > 0 && t.slow as f64 > t.samples as f64 * ABOVE_P99 + EPS)
        .then(|| upper_tail(t.samples, t.slow, ABOVE_P99));
    (success, latency)
}

/// Unhealthy windows whose misses, and their neighbourhood's (`ceil(hold / 2)` judged
/// windows each side), are within the noise of their counts.
fn noise(health: &mut [WindowHealth], windows: &[&Window], slo: &SloUsed) {
    // A connected population's windows are judged on their connected share, which
    // this test does not cover.
    if slo.noise <= 0.0 || slo.connected.is_some() {
        return;
    }
    let tallies: Vec<Tally> = windows.iter().map(|w| tally(w, slo.p99_ms)).collect();
    let reach = (slo.hold_windows as usize).div_ceil(2).max(1);
    let mut marks = Vec::new();
    for (i, h) in health.iter().enumerate() {
        if h.state != Health::Unhealthy {
            continue;
        }
        let within = |p: Option<f64>| p.is_none_or(|p| p >= slo.noise);
        let (ps, pl) = p_values(tallies[i], slo);
        // Only a miss the test covers (the success rate, the p99) can be noise.
        if (ps.is_none() && pl.is_none()) || !(within(ps) && within(pl)) {
            continue;
        }
        let mut pool = Tally::default();
        for (j, t) in tallies
            .iter()
            .enumerate()
            .take((i + reach + 1).min(tallies.len()))
            .skip(i.saturating_sub(reach))
        {
            if health[j].state != Health::Unjudged {
                pool += *t;
            }
        }
        let (qs, ql) = p_values(pool, slo);
        if !(within(qs) && within(ql)) {
            continue;
        }
        let t = tallies[i];
        let mut said = Vec::new();
        if let Some(p) = ps {
            said.push(format!("{} failed of {}, p = {:.2}", t.failed, t.n, p));
        }
        if let Some(p) = pl {
            said.push(format!("{} of {} above the p99, p = {:.2}", t.slow, t.samples, p));
        }
        marks.push((
            i,
            format!(
                "{}; tolerated: within the sampling noise of its count ({}; one-sided binomial test, p ≥ {})",
                h.reason,
                said.join("; "),
                pct(slo.noise)
            ),
        ));
    }
    for (i, reason) in marks {
        health[i].state = Health::Tolerated;
        health[i].reason = reason;
    }
}

/// Runs of at most `most` unhealthy windows with `ISOLATION` healthy (or tolerated)
/// windows just before them and after them (fewer after only where the observation
/// ends, at least one); unjudged windows are skipped over.
fn isolated(health: &mut [WindowHealth], most: usize) {
    if most == 0 {
        return;
    }
    let judged: Vec<usize> = (0..health.len())
        .filter(|&i| health[i].state != Health::Unjudged)
        .collect();
    let good = |s: Health| matches!(s, Health::Healthy | Health::Tolerated);
    let mut k = 0;
    while k < judged.len() {
        if health[judged[k]].state != Health::Unhealthy {
            k += 1;
            continue;
        }
        let start = k;
        while k < judged.len() && health[judged[k]].state == Health::Unhealthy {
            k += 1;
        }
        let len = k - start;
        let before = judged[..start]
            .iter()
            .rev()
            .take(ISOLATION)
            .filter(|&&i| good(health[i].state))
            .count();
        let after_all = &judged[k..];
        let after = after_all
            .iter()
            .take(ISOLATION)
            .take_while(|&&i| good(health[i].state))
            .count();
        let after_ok = after >= ISOLATION || (after >= 1 && after == after_all.len());
        if len <= most && before == ISOLATION && after_ok {
            for &i in &judged[start..k] {
                let h = &mut health[i];
                h.state = Health::Tolerated;
                h.reason = format!(
                    "{}; tolerated: an isolated miss in a healthy stretch (slo.tolerate {most})",
                    h.reason
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_binomial_tail_is_exact_on_small_cases() {
        // P(X ≥ 1 | 20, 1 %) = 1 − 0.99^20.
        assert!((upper_tail(20, 1, 0.01) - (1.0 - 0.99f64.powi(20))).abs() < 1e-12);
        // P(X ≥ 2 | 10, 1 %) = 1 − 0.99^10 − 10 · 0.01 · 0.99^9.
        let exact = 1.0 - 0.99f64.powi(10) - 10.0 * 0.01 * 0.99f64.powi(9);
        assert!((upper_tail(10, 2, 0.01) - exact).abs() < 1e-12);
        assert_eq!(upper_tail(10, 0, 0.3), 1.0);
        assert_eq!(upper_tail(10, 11, 0.3), 0.0);
        assert_eq!(upper_tail(10, 1, 0.0), 0.0);
        // 7 of 50 against 1 %: far outside the noise.
        assert!(upper_tail(50, 7, 0.01) < 1e-6);
    }
}
