//! What is counted from the trigger on: attempts, goodput, retry amplification, the
//! down share, and the clients locked out.

use super::{Health, Post};
use crate::record::Window;

pub(super) struct Figures {
    pub attempts: u64,
    pub first_attempts: u64,
    pub retries: u64,
    pub goodput: u64,
    pub goodput_share: Option<f64>,
    pub retry_amplification: Option<f64>,
    pub down_share: Option<f64>,
    pub peak_locked_out: u64,
    pub peak_locked_out_at_ms: Option<u64>,
}

impl Figures {
    /// Counts over the windows from the trigger on; the locked-out peak over every
    /// `observed` window (the earliest of equal peaks).
    pub fn of(post: &Post, observed: &[&Window]) -> Figures {
        let sum = |f: fn(&Window) -> u64| post.windows.iter().map(|w| f(w)).sum::<u64>();
        let attempts = sum(|w| w.attempts);
        let first_attempts = sum(|w| w.first_attempts);
        let goodput = sum(|w| w.logins_ok);
        let judged = post.judged();
        let peak = observed
            .iter()
            .max_by_key(|w| (w.locked_out, std::cmp::Reverse(w.start_ms)));
        Figures {
            attempts,
            first_attempts,
            retries: sum(|w| w.retries),
            goodput,
            goodput_share: (attempts > 0).then(|| goodput as f64 / attempts as f64),
            retry_amplification: (first_attempts > 0).then(|| attempts as f64 / first_attempts as f64),
            down_share: (judged > 0).then(|| post.count(Health::Unhealthy) as f64 / judged as f64),
            peak_locked_out: peak.map_or(0, |w| w.locked_out),
            peak_locked_out_at_ms: peak.filter(|w| w.locked_out > 0).map(|w| w.start_ms),
        }
    }
}
