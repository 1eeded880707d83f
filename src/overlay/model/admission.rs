//! The login server's admission gate (`admission`): a token bucket at the current limit
//! (fixed, or a ramp's step), or buckets of clients opening one after another. It sits
//! in front of the queue: a login it refuses costs the login server nothing and is not
//! a failure the allocator's window sees, which is what made it end real storms.

use std::time::Duration;

use crate::overlay::config::Admission;
use crate::rng::mix64;

/// At most this much unused admission piles up: a tenth of a second of the limit (at
/// least one login), so a lifted pause does not let a burst through.
const BURST_SECS: f64 = 0.1;

#[derive(Debug, Clone)]
pub(super) struct Gate {
    spec: Admission,
    /// When it was set (overlay time): ramps and buckets count from here.
    since: Duration,
    tokens: f64,
    last: Duration,
    seed: u64,
}

impl Gate {
    pub fn new(spec: Admission, since: Duration, seed: u64) -> Gate {
        Gate {
            spec,
            since,
            tokens: 1.0,
            last: since,
            seed,
        }
    }

    pub fn spec(&self) -> Admission {
        self.spec
    }

    /// The limit now, logins a second; None: no rate limit (off, or buckets).
    pub fn limit(&self, now: Duration) -> Option<f64> {
        self.spec.limit(now.saturating_sub(self.since))
    }

    /// Buckets open now (all of them when not admitting by bucket).
    pub fn open_buckets(&self, now: Duration) -> Option<u32> {
        match self.spec {
            Admission::Buckets { count, every } => {
                let open = now.saturating_sub(self.since).as_secs_f64() / every.0.as_secs_f64().max(1e-9);
                Some((open.floor() as u64 + 1).min(count as u64) as u32)
            }
            _ => None,
        }
    }

    /// Whether `client`'s login may go in at `now`; Err: when it may try again (None:
    /// the configured Retry-After).
    pub fn admit(&mut self, client: u64, now: Duration) -> Result<(), Option<Duration>> {
        if let Admission::Buckets { count, every } = self.spec {
            let bucket = mix64(client ^ self.seed) % count.max(1) as u64;
            let opens = self.since + every.0.saturating_mul(bucket as u32);
            return if now >= opens { Ok(()) } else { Err(Some(opens - now)) };
        }
        let Some(limit) = self.limit(now) else { return Ok(()) };
        let dt = now.saturating_sub(self.last).as_secs_f64();
        self.last = self.last.max(now);
        self.tokens = (self.tokens + limit * dt).min((limit * BURST_SECS).max(1.0));
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::{Dur, Rate};

    #[test]
    fn a_limit_admits_its_rate_and_no_more() {
        let mut g = Gate::new(Admission::Limit(Rate(50.0)), Duration::ZERO, 1);
        // 1,000 logins a second for 10 s: about 50 a second get in.
        let admitted = (0..10_000u64)
            .filter(|i| g.admit(*i, Duration::from_millis(*i)).is_ok())
            .count();
        assert!((495..=506).contains(&admitted), "{admitted}");
    }

    #[test]
    fn a_ramp_admits_more_at_each_step() {
        let spec = Admission::Ramp {
            from: Rate(10.0),
            step: Rate(10.0),
            every: Dur(Duration::from_secs(1)),
            to: None,
        };
        let mut g = Gate::new(spec, Duration::from_secs(5), 1);
        let mut per_second = [0; 3];
        for ms in 5_000..8_000u64 {
            if g.admit(ms, Duration::from_millis(ms)).is_ok() {
                per_second[((ms - 5_000) / 1000) as usize] += 1;
            }
        }
        assert!(
            per_second[0] <= 11 && (19..=21).contains(&per_second[1]) && (29..=31).contains(&per_second[2]),
            "{per_second:?}"
        );
    }

    #[test]
    fn buckets_open_one_after_another_and_say_when() {
        let spec = Admission::Buckets {
            count: 4,
            every: Dur(Duration::from_secs(30)),
        };
        let g = Gate::new(spec, Duration::from_secs(10), 7);
        let mut g2 = g.clone();
        let in_at = |g: &mut Gate, t: u64| {
            (0..4000u64)
                .filter(|c| g.admit(*c, Duration::from_secs(t)).is_ok())
                .count()
        };
        let first = in_at(&mut g2, 10);
        assert!((800..1200).contains(&first), "a quarter at once: {first}");
        assert!((1800..2200).contains(&in_at(&mut g2, 40)), "half after 30 s");
        assert_eq!(in_at(&mut g2, 100), 4000, "all after 90 s");
        let waits: Vec<Duration> = (0..4000u64)
            .filter_map(|c| g.clone().admit(c, Duration::from_secs(10)).err().flatten())
            .collect();
        assert!(
            waits.iter().all(|w| [30, 60, 90].contains(&w.as_secs())),
            "told when their bucket opens"
        );
        assert_eq!(g.open_buckets(Duration::from_secs(45)), Some(2));
    }
}
