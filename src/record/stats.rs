//! The generator's own figures: what it could not start, what it abandoned, what it
//! sent besides logins, who was still waiting when it stopped, and what broke an engine
//! that failed. They add over engine
//! threads and shards.

use std::collections::BTreeMap;

use super::counts::tally;

/// Above this p99 send lag (actual send − intended instant, ms) the generator fell
/// behind its schedule: 10 ms is a hundredth of a default window, and already several
/// times a fast target's service time.
pub const BEHIND_P99_MS: f64 = 10.0;

/// Did the generator fall behind its schedule (late sends, or attempts it could not
/// start or failed itself: `unstarted` counts both)? Its figures then understate the
/// load asked for.
pub fn fell_behind(send_lag_p99_ms: f64, unstarted: u64) -> bool {
    send_lag_p99_ms > BEHIND_P99_MS || unstarted > 0
}

tally! {
    #[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
    pub struct EngineStats {
        /// Attempts that were still in flight when the drain gave up on them.
        pub abandoned: u64,
        pub unstarted: u64,
        pub throttled: u64,
        pub keepalives_sent: u64,
        pub on_reboot_sent: u64,
        /// Scrapes of the target's metrics that failed.
        pub scrape_errors: u64,
        /// Engine threads that generated the run (added up over merged shards).
        #[serde(default = "one")]
        pub threads: u32,
        /// The first failure of each connection-level class, in words (`tls` →
        /// "invalid peer certificate: UnknownIssuer").
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        pub failure_examples: BTreeMap<String, String>,
        /// Clients whose next attempt was still waiting on a `Retry-After` when the run
        /// ended (the target asked for longer than their backoff): never sent.
        #[serde(default)]
        pub waiting_retry_after: u64,
        /// Clients whose next attempt was still waiting on their own backoff then.
        #[serde(default)]
        pub waiting_backoff: u64,
        /// What stopped an engine that failed (a panic on the engine path), in words;
        /// the report then holds what that engine recorded until it failed.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub failures: Vec<String>,
        /// The logins of the clients online at the start, before the clock started:
        /// not in the windows, counted here. Absent when there was none.
        #[serde(default, skip_serializing_if = "WarmupStats::is_empty")]
        pub warmup: WarmupStats,
    }
}

/// The warm-up, as engines (threads, shards) add it up: clients and their outcomes add;
/// durations and lateness are the slowest engine's (they ran side by side).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WarmupStats {
    /// Clients online at the start that logged in before the clock started (or tried).
    pub clients: u64,
    pub ok: u64,
    /// Their login failed: they start without a session and log in when their first
    /// keepalive is refused.
    pub failed: u64,
    /// Not tried: the run was stopped during the warm-up.
    #[serde(default)]
    pub skipped: u64,
    /// From the first warm-up login to the last answer, ms.
    pub duration_ms: f64,
    /// How far past the agreed start instant (`--start-at`) the warm-up ended, ms; 0
    /// when it ended in time.
    #[serde(default)]
    pub overran_ms: f64,
    /// A connected population: the clients that also opened their connection before
    /// the clock started (those whose connect failed connect again at time zero).
    #[serde(default)]
    pub connected: u64,
}

impl WarmupStats {
    pub fn is_empty(&self) -> bool {
        self.clients == 0
    }
}

impl crate::record::Tally for WarmupStats {
    fn tally(&mut self, o: &Self) {
        self.clients += o.clients;
        self.ok += o.ok;
        self.failed += o.failed;
        self.skipped += o.skipped;
        self.connected += o.connected;
        self.duration_ms = self.duration_ms.max(o.duration_ms);
        self.overran_ms = self.overran_ms.max(o.overran_ms);
    }
}

fn one() -> u32 {
    1
}

impl EngineStats {
    /// Adds the figures of another engine of the same run (a thread, or a shard).
    pub fn add(&mut self, o: &EngineStats) {
        *self += o;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behind_at_more_than_ten_milliseconds_or_any_unstarted_attempt() {
        assert!(!fell_behind(9.9, 0));
        assert!(fell_behind(17.0, 0), "a 17 ms p99 went unflagged at 25 ms");
        assert!(fell_behind(0.3, 1));
    }
}
