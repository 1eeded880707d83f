//! What is counted from the trigger on: attempts, goodput, retry amplification, the
//! down share; and the clients locked out, over the whole run.

use serde::{Deserialize, Serialize};

use super::{Health, Post, human_ms};
use crate::record::Window;
use crate::units::thousands;

/// Clients locked out (wanting to log in, not logged in, given-up ones included), split
/// by why: given up, an attempt in flight (the window's `in_flight_end`), or waiting on
/// a backoff (a `Retry-After` included: the windows do not tell the two apart; the end
/// of the run does, in the engine's counts).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LockedOut {
    /// Locked out at the end of the window where most were (the earliest of equal
    /// peaks), and when that window started.
    pub peak: u64,
    pub peak_at_ms: Option<u64>,
    /// Of them, clients that had given up (max attempts, retry budget, no retries) ...
    pub peak_gave_up: u64,
    /// ... and the rest, still trying: an attempt in flight or waiting on a backoff.
    pub peak_trying: u64,
    /// Of those still trying, the ones with an attempt in flight; the others waited on
    /// a backoff or a `Retry-After`.
    #[serde(default)]
    pub peak_in_flight: u64,
    /// The same at the end of the observation.
    pub end: u64,
    pub end_gave_up: u64,
    pub end_trying: u64,
    #[serde(default)]
    pub end_in_flight: u64,
}

/// Of the clients locked out at each window's end, those that had given up by then: the
/// give-ups counted so far, held to the gauge. (A give-up is counted in the window of the
/// client's last attempt, so the count may run up to one client timeout early.)
pub fn given_up<'a>(windows: impl IntoIterator<Item = &'a Window>) -> impl Iterator<Item = u64> {
    windows.into_iter().scan(0u64, |so_far, w| {
        *so_far = so_far.saturating_add(w.counts.gave_up);
        Some((*so_far).min(w.locked_out))
    })
}

impl LockedOut {
    /// Split as [`given_up`] splits each window.
    fn of(observed: &[&Window], peak: Option<&Window>) -> LockedOut {
        let split = |upto: Option<&Window>| {
            let Some(w) = upto else { return (0, 0, 0, 0) };
            let upto = observed.iter().take_while(|x| x.start_ms <= w.start_ms).copied();
            let gave_up = given_up(upto).last().unwrap_or(0);
            let trying = w.locked_out - gave_up;
            (w.locked_out, gave_up, trying, w.in_flight_end.min(trying))
        };
        let (peak_n, peak_gave_up, peak_trying, peak_in_flight) = split(peak);
        let (end, end_gave_up, end_trying, end_in_flight) = split(observed.last().copied());
        LockedOut {
            peak: peak_n,
            peak_at_ms: peak.filter(|w| w.locked_out > 0).map(|w| w.start_ms),
            peak_gave_up,
            peak_trying,
            peak_in_flight,
            end,
            end_gave_up,
            end_trying,
            end_in_flight,
        }
    }

    /// The split in words, or None when nobody was locked out.
    pub fn words(&self) -> Option<String> {
        let at = self.peak_at_ms?;
        Some(format!(
            "At the peak, at {}, {} locked out: {} had given up, {} were waiting on a backoff (a Retry-After included) and {} had an attempt in flight. At the end of the observation {} were: {} had given up, {} waiting, {} in flight.",
            human_ms(at),
            if self.peak == 1 {
                "1 client was".to_string()
            } else {
                format!("{} clients were", thousands(self.peak))
            },
            thousands(self.peak_gave_up),
            thousands(self.peak_trying - self.peak_in_flight),
            thousands(self.peak_in_flight),
            thousands(self.end),
            thousands(self.end_gave_up),
            thousands(self.end_trying - self.end_in_flight),
            thousands(self.end_in_flight)
        ))
    }
}

/// What was counted from the trigger on, as a `Recovery` carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    /// Login attempts sent after the trigger.
    pub attempts: u64,
    /// Clients that wanted to log in after the trigger.
    pub first_attempts: u64,
    pub retries: u64,
    /// Successful logins after the trigger.
    pub goodput: u64,
    /// Goodput ÷ attempts.
    pub goodput_share: Option<f64>,
    /// Attempts ÷ first attempts after the trigger.
    pub retry_amplification: Option<f64>,
    /// Unhealthy ÷ judged windows after the trigger.
    pub down_share: Option<f64>,
    pub peak_locked_out: u64,
    pub peak_locked_out_at_ms: Option<u64>,
    /// The locked-out clients at the peak and at the end: given up, or still trying.
    /// Absent from reports written before it was added.
    #[serde(default)]
    pub locked_out: LockedOut,
}

impl Figures {
    /// Counts over the windows from the trigger on; the locked-out peak over every
    /// `observed` window (the earliest of equal peaks).
    pub(super) fn of(post: &Post, observed: &[&Window]) -> Figures {
        let sum = |f: fn(&Window) -> u64| post.windows.iter().map(|w| f(w)).sum::<u64>();
        let attempts = sum(|w| w.counts.attempts);
        let first_attempts = sum(|w| w.counts.first_attempts);
        let goodput = sum(|w| w.counts.logins_ok);
        let judged = post.judged();
        let peak = observed
            .iter()
            .max_by_key(|w| (w.locked_out, std::cmp::Reverse(w.start_ms)));
        Figures {
            attempts,
            first_attempts,
            retries: sum(|w| w.counts.retries),
            goodput,
            goodput_share: (attempts > 0).then(|| goodput as f64 / attempts as f64),
            retry_amplification: (first_attempts > 0).then(|| attempts as f64 / first_attempts as f64),
            down_share: (judged > 0).then(|| post.count(Health::Unhealthy) as f64 / judged as f64),
            peak_locked_out: peak.map_or(0, |w| w.locked_out),
            peak_locked_out_at_ms: peak.filter(|w| w.locked_out > 0).map(|w| w.start_ms),
            locked_out: LockedOut::of(observed, peak.copied()),
        }
    }
}
