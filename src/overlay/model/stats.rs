//! What the model counts and shows: cumulative counters and a snapshot of its gauges.

use std::time::Duration;

/// Cumulative counters (Prometheus counters).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Logins the login server did the work for (throughput), successful or not.
    pub completed: u64,
    /// Completed logins that answered 200.
    pub ok: u64,
    /// Completed logins whose client had already waited longer than `client_timeout`.
    pub wasted: u64,
    pub rejected_queue_full: u64,
    pub rejected_expired: u64,
    pub rejected_no_slot: u64,
    /// Logins admission control turned away before the queue.
    pub rejected_admission: u64,
    pub keepalive_ok: u64,
    pub keepalive_gone: u64,
    pub leaves: u64,
    /// Sessions lost because their supernode disappeared.
    pub orphaned: u64,
    pub promotions: u64,
    pub shutdowns_leave: u64,
    pub shutdowns_self: u64,
    pub mega_injected: u64,
    /// Resumes (gateway upgrades) the login server did the work for.
    pub resumes: u64,
    /// Resumes refused: the bounded queue was full, or they waited past `client_timeout`.
    pub resumes_rejected: u64,
}

impl Stats {
    pub fn rejected(&self) -> u64 {
        self.rejected_queue_full + self.rejected_expired + self.rejected_no_slot + self.rejected_admission
    }
}

/// Gauges and counters at one instant, for /metrics.
#[derive(Debug, Clone, Copy)]
pub struct Snapshot {
    pub now: Duration,
    pub stats: Stats,
    pub queue_depth: usize,
    pub online: usize,
    pub up: usize,
    pub supernodes: usize,
    pub mega_supernodes: usize,
    pub warming: usize,
    pub slots_total: u64,
    pub slots_free: u64,
    pub failure_ratio: f64,
    pub promotion_suspended: bool,
    pub shed: bool,
    /// Admission control: its limit now (logins a second; None: none), and with buckets
    /// how many are open of how many.
    pub admission_limit: Option<f64>,
    pub admission_buckets: Option<(u32, u32)>,
}
