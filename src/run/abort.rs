//! The brake: abort conditions judged on each closed window. When one has held in
//! every window of its trailing `for` duration, the run stops sending new attempts and
//! drains, as on a first Ctrl-C (the engine's stop level 1).

use std::sync::Arc;

use tokio::sync::watch;

use crate::outcome::AbortFacts;
use crate::record::{Window, merge};
use crate::threshold::{AbortWhen, Bound, Cond, Metric, Stat};

/// Watches closed windows for the abort conditions; the first that holds raises `stop`.
pub struct Brake {
    conds: Vec<AbortWhen>,
    /// Per condition: how long (ms) it has held in consecutive windows up to the last.
    held_ms: Vec<u64>,
    fired: Option<AbortFacts>,
    stop: Arc<watch::Sender<u8>>,
}

impl Brake {
    pub fn new(conds: Vec<AbortWhen>, stop: Arc<watch::Sender<u8>>) -> Brake {
        let held_ms = vec![0; conds.len()];
        Brake {
            conds,
            held_ms,
            fired: None,
            stop,
        }
    }

    /// Judges one closed window (windows come in index order).
    pub fn window(&mut self, w: &Window) {
        if self.fired.is_some() {
            return;
        }
        for (c, held) in self.conds.iter().zip(self.held_ms.iter_mut()) {
            *held = if holds(c, w) { held.saturating_add(w.len_ms) } else { 0 };
            // Saturating: a hold beyond u64 milliseconds is never reached, never 0.
            if *held >= u64::try_from(c.hold.as_millis()).unwrap_or(u64::MAX) {
                self.fired = Some(AbortFacts {
                    expr: c.expr.clone(),
                    at_ms: w.start_ms.saturating_add(w.len_ms),
                    window: w.index,
                });
                raise_stop(&self.stop);
                return;
            }
        }
    }

    /// The condition that fired, if one did.
    pub fn fired(&self) -> Option<&AbortFacts> {
        self.fired.as_ref()
    }
}

/// Stops sending and drains (level 1), as a first Ctrl-C does; never lowers a stop
/// already raised (a second Ctrl-C stops at once).
pub(super) fn raise_stop(stop: &watch::Sender<u8>) {
    stop.send_if_modified(|level| {
        let raise = *level == 0;
        if raise {
            *level = 1;
        }
        raise
    });
}

/// Does the condition's threshold hold in this window alone? A window without the
/// figure (no completed login, no sample) does not hold: the brake needs evidence.
pub fn holds(c: &AbortWhen, w: &Window) -> bool {
    let Cond::Compare(op, bound) = c.threshold.cond else {
        return false;
    };
    let value = match &c.threshold.metric {
        Metric::SuccessRate => w.success_rate(),
        Metric::GaveUp => match bound {
            Bound::Share(_) => {
                (w.counts.first_attempts > 0).then(|| w.counts.gave_up as f64 / w.counts.first_attempts as f64)
            }
            _ => Some(w.counts.gave_up as f64),
        },
        Metric::Latency { step, stat } => {
            let summary = match step {
                None => Some(&w.latency_ms),
                Some(s) => w.steps.iter().find(|x| &x.name == s).map(|x| &x.latency_ms),
            };
            summary.and_then(|h| stat_ms(*stat, h))
        }
        _ => None,
    };
    let limit = match bound {
        Bound::Duration(d) => d.as_secs_f64() * 1000.0,
        Bound::Share(s) | Bound::Number(s) => s,
        Bound::Count(n) => n as f64,
    };
    value.is_some_and(|v| op.holds(v, limit))
}

/// A statistic of a window's histogram in milliseconds; None when empty or unreadable.
fn stat_ms(stat: Stat, h: &crate::record::HistSummary) -> Option<f64> {
    let h = merge([h]).ok().filter(|h| !h.is_empty())?;
    let q = |p: f64| h.value_at_quantile(p) as f64 / 1000.0;
    Some(match stat {
        Stat::Mean => h.mean() / 1000.0,
        Stat::Max => h.max() as f64 / 1000.0,
        Stat::P50 => q(0.5),
        Stat::P90 => q(0.9),
        Stat::P95 => q(0.95),
        Stat::P99 => q(0.99),
        Stat::P999 => q(0.999),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::threshold::parse_abort;

    fn win(index: u32, ok: u64, failed: u64) -> Window {
        let mut w = Window {
            index,
            start_ms: index as u64 * 1000,
            len_ms: 1000,
            ..Window::default()
        };
        w.counts.logins_ok = ok;
        w.counts.logins_failed = failed;
        w
    }

    #[test]
    fn fires_once_the_condition_held_for_its_whole_duration() {
        let (tx, rx) = watch::channel(0u8);
        let cond = parse_abort("success_rate < 10% for 3s", &[]).unwrap();
        let mut b = Brake::new(vec![cond], Arc::new(tx));
        // Two bad windows, a good one (the streak restarts), then three bad ones.
        for (i, (ok, failed)) in [(0, 10), (0, 10), (10, 0), (1, 99), (0, 5), (0, 10)]
            .into_iter()
            .enumerate()
        {
            assert!(b.fired().is_none(), "fired before window {i}");
            b.window(&win(i as u32, ok, failed));
        }
        let f = b.fired().expect("fired on the third bad window in a row");
        assert_eq!((f.window, f.at_ms), (5, 6000));
        assert_eq!(f.expr, "success_rate < 10% for 3s");
        assert_eq!(*rx.borrow(), 1);
    }

    #[test]
    fn a_window_without_logins_is_no_evidence() {
        let cond = parse_abort("success_rate < 10% for 1s", &[]).unwrap();
        assert!(!holds(&cond, &win(0, 0, 0)));
        assert!(holds(&cond, &win(0, 0, 1)));
        let late = parse_abort("login.p99 > 1s for 1s", &[]).unwrap();
        assert!(!holds(&late, &win(0, 5, 0)), "an empty histogram holds nothing");
    }
}
