//! The recent login failure ratio and rate that the `bug-2007` allocator looks at.

use std::collections::VecDeque;
use std::time::Duration;

/// Login outcomes in buckets of 100 ms over the failure window.
pub(super) struct FailureWindow {
    bucket: Duration,
    buckets: u64,
    /// (bucket index, ok, failed), oldest first.
    ring: VecDeque<(u64, u64, u64)>,
    ok: u64,
    failed: u64,
}

impl FailureWindow {
    pub(super) fn new(window: Duration) -> Self {
        let bucket = Duration::from_millis(100);
        let buckets = (window.as_millis() / bucket.as_millis()).max(1) as u64;
        FailureWindow {
            bucket,
            buckets,
            ring: VecDeque::new(),
            ok: 0,
            failed: 0,
        }
    }

    fn index(&self, now: Duration) -> u64 {
        (now.as_millis() / self.bucket.as_millis()) as u64
    }

    fn expire(&mut self, now: Duration) {
        let oldest = self.index(now).saturating_sub(self.buckets - 1);
        while let Some(&(i, ok, failed)) = self.ring.front() {
            if i >= oldest {
                break;
            }
            self.ok -= ok;
            self.failed -= failed;
            self.ring.pop_front();
        }
    }

    pub(super) fn record(&mut self, now: Duration, ok: bool) {
        let i = self.index(now);
        match self.ring.back_mut() {
            Some(b) if b.0 >= i => {
                if ok {
                    b.1 += 1
                } else {
                    b.2 += 1
                }
            }
            _ => self.ring.push_back(if ok { (i, 1, 0) } else { (i, 0, 1) }),
        }
        if ok {
            self.ok += 1
        } else {
            self.failed += 1
        }
        self.expire(now);
    }

    /// Failed logins per second over the window ending at `now`.
    pub(super) fn failed_per_sec(&mut self, now: Duration) -> f64 {
        self.expire(now);
        self.failed as f64 / (self.bucket * self.buckets as u32).as_secs_f64()
    }

    /// failed / (failed + ok) over the window ending at `now`; 0 with no logins.
    pub(super) fn ratio(&mut self, now: Duration) -> f64 {
        self.expire(now);
        let n = self.ok + self.failed;
        if n == 0 { 0.0 } else { self.failed as f64 / n as f64 }
    }
}
