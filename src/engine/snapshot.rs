//! What an engine tells the live display (and the exporter) a few times a second.

use std::time::Duration;

use crate::record::Counts;

/// What the live display is told a few times a second.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub elapsed: Duration,
    pub planned: Duration,
    /// The run's counts so far (attempts, logins ok and failed, clients that gave up, ...).
    pub counts: Counts,
    pub in_flight: u64,
    pub locked_out: u64,
    /// Attempts sent per second over the last closed window.
    pub offered_rate: f64,
    /// Logins completed per second over the last closed window.
    pub achieved_rate: f64,
    pub last_p99_ms: Option<f64>,
    pub last_success: Option<f64>,
    pub stopping: bool,
    /// The confirmation probe is on: retries and relogins silenced.
    pub probing: bool,
    /// Before time zero: the warm-up's logins so far (`population.warmup`).
    pub warmup: Option<WarmupProgress>,
    /// A connected population (`client.session.connect`): its gauges now.
    pub held: Option<HeldGauge>,
}

/// Clients holding their connection, and clients that should be online (the connected
/// share's base).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeldGauge {
    pub connected: u64,
    pub online: u64,
}

impl std::ops::AddAssign for HeldGauge {
    fn add_assign(&mut self, o: HeldGauge) {
        self.connected += o.connected;
        self.online += o.online;
    }
}

/// How far the warm-up has come: the clients online at the start, logged in before the
/// clock starts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WarmupProgress {
    /// The online clients to log in.
    pub clients: u64,
    /// Their logins answered so far.
    pub answered: u64,
    /// Of those, the ones that succeeded.
    pub ok: u64,
}

impl std::ops::AddAssign for WarmupProgress {
    fn add_assign(&mut self, o: WarmupProgress) {
        self.clients += o.clients;
        self.answered += o.answered;
        self.ok += o.ok;
    }
}
