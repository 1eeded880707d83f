//! Background arrivals: the instants, in run seconds, at which clients outside the
//! storm log in at `baseline.rate`, Poisson or evenly spaced (`baseline.arrivals`).

use crate::profile::Arrivals;
use crate::rng::{Stream, unit, unit_open};

/// The arrival instants in [0, end_s) at `rate` per second, in order; a pure function
/// of the seed. Poisson draws gap k from (Background, k, 0), as plans always have, so
/// a profile that does not choose keeps its events; uniform draws one phase in [0, 1)
/// from (Background, u64::MAX, 0), a counter the Poisson gaps never reach.
pub fn instants(seed: u64, rate: f64, arrivals: Arrivals, end_s: f64) -> impl Iterator<Item = f64> {
    let live = rate > 0.0 && rate.is_finite();
    let phase = unit(seed, Stream::Background, u64::MAX, 0);
    let mut t = 0.0;
    (0u64..)
        .map_while(move |k| {
            if !live {
                return None;
            }
            t = match arrivals {
                Arrivals::Poisson => t + -unit_open(seed, Stream::Background, k, 0).ln() / rate,
                // From k, not by adding 1/rate: no rounding drift over millions of arrivals.
                Arrivals::Uniform => (k as f64 + phase) / rate,
            };
            Some(t)
        })
        .take_while(move |&t| t < end_s)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (rate /s, arrivals, seconds, least and most per 1 s window, total range)
    type Case = (f64, Arrivals, usize, u64, u64, (u64, u64));

    /// Windows of 1 s over `secs` seconds, counted.
    fn per_second(seed: u64, rate: f64, a: Arrivals, secs: usize) -> Vec<u64> {
        let mut out = vec![0u64; secs];
        for t in instants(seed, rate, a, secs as f64) {
            out[t as usize] += 1;
        }
        out
    }

    #[test]
    fn uniform_spaces_exactly_and_poisson_varies() {
        let cases: &[Case] = &[
            (25.0, Arrivals::Uniform, 40, 25, 25, (1000, 1000)),
            (0.5, Arrivals::Uniform, 40, 0, 1, (20, 20)),
            (2.5, Arrivals::Uniform, 40, 2, 3, (100, 100)),
            // Poisson at 25/s over 40 windows: some window below 20 and one above 30
            // (each has p ≈ 0.13 per window), 1000 ± 3.5 sd in all.
            (25.0, Arrivals::Poisson, 40, 0, u64::MAX, (890, 1110)),
            (0.0, Arrivals::Uniform, 40, 0, 0, (0, 0)),
            (0.0, Arrivals::Poisson, 40, 0, 0, (0, 0)),
        ];
        for &(rate, a, secs, lo, hi, (tlo, thi)) in cases {
            let w = per_second(7, rate, a, secs);
            let total: u64 = w.iter().sum();
            assert!((tlo..=thi).contains(&total), "{rate}/s {a:?}: {total} in all");
            assert!(w.iter().all(|&n| (lo..=hi).contains(&n)), "{rate}/s {a:?}: {w:?}");
        }
        let poisson = per_second(7, 25.0, Arrivals::Poisson, 40);
        assert!(
            poisson.iter().any(|&n| n < 20) && poisson.iter().any(|&n| n > 30),
            "{poisson:?}"
        );
    }

    #[test]
    fn instants_are_ordered_in_range_and_seeded() {
        for a in [Arrivals::Poisson, Arrivals::Uniform] {
            let t: Vec<f64> = instants(3, 100.0, a, 5.0).collect();
            assert!(t.windows(2).all(|w| w[0] <= w[1]) && t.iter().all(|&x| (0.0..5.0).contains(&x)));
            let other: Vec<f64> = instants(4, 100.0, a, 5.0).collect();
            assert_ne!(t, other, "{a:?}: the seed moves the arrivals");
        }
    }
}
