//! One fixed time window of a run as `report.json` writes it, and the exact merge of
//! two machines' (or engine threads') windows of the same interval.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::counts::Counts;
use super::held::HeldWindow;
use super::hist::{HistError, HistSummary, merge};

/// One step of the login flow in one window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct StepWindow {
    pub name: String,
    pub ok: u64,
    pub failed: u64,
    pub latency_ms: HistSummary,
    pub service_ms: HistSummary,
}

/// One fixed time window of a run, as written in `report.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Window {
    pub index: u32,
    /// Start of the window, milliseconds from the run's start.
    pub start_ms: u64,
    pub len_ms: u64,
    /// Attempts intended in this window and what became of them; events (reboots,
    /// keepalives) that happened in it. Written inline: `attempts`, `gave_up`, ...
    #[serde(flatten)]
    pub counts: Counts,
    pub outcomes: BTreeMap<String, u64>,
    /// Most attempts in flight at once during the window.
    pub in_flight_max: u64,
    /// Clients that wanted to log in and were not logged in at the end of the window
    /// (given-up clients included: they are locked out too).
    pub locked_out: u64,
    /// Login attempts in flight at the end of the window (the gauge beside
    /// `locked_out`): of the locked-out clients still trying, those not waiting on a
    /// backoff or a `Retry-After`.
    #[serde(default)]
    pub in_flight_end: u64,
    /// Actual send − intended instant.
    pub send_lag_ms: HistSummary,
    /// From the intended instant to the end of the attempt (what the user felt).
    pub latency_ms: HistSummary,
    /// From the actual send to the end of the attempt.
    pub service_ms: HistSummary,
    pub steps: Vec<StepWindow>,
    /// The waits the target asked for with `Retry-After` on attempts intended in this
    /// window, as it sent them (before the run's cap; recorded up to an hour).
    #[serde(default)]
    pub retry_after_ms: HistSummary,
    /// Series scraped from the target during the window (last value seen).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub target: BTreeMap<String, f64>,
    /// A connected population's figures (`client.session.connect`); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held: Option<HeldWindow>,
    /// An HTTP/2 run's connections (`target.http: 2`); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub h2: Option<super::H2Window>,
}

impl Window {
    /// This window's success rate ([`Counts::success_rate`]).
    pub fn success_rate(&self) -> Option<f64> {
        self.counts.success_rate()
    }

    /// Adds another machine's window for the same interval (exact: counts add,
    /// histograms add, gauges add because shards own disjoint clients). Saturating: a
    /// window read back from a report may hold anything.
    pub fn merge(&mut self, other: &Window) -> Result<(), HistError> {
        self.counts += &other.counts;
        for (k, v) in &other.outcomes {
            let n = self.outcomes.entry(k.clone()).or_default();
            *n = n.saturating_add(*v);
        }
        self.in_flight_max = self.in_flight_max.saturating_add(other.in_flight_max);
        self.locked_out = self.locked_out.saturating_add(other.locked_out);
        self.in_flight_end = self.in_flight_end.saturating_add(other.in_flight_end);
        self.send_lag_ms = HistSummary::of(&merge([&self.send_lag_ms, &other.send_lag_ms])?);
        self.latency_ms = HistSummary::of(&merge([&self.latency_ms, &other.latency_ms])?);
        self.service_ms = HistSummary::of(&merge([&self.service_ms, &other.service_ms])?);
        self.retry_after_ms = HistSummary::of(&merge([&self.retry_after_ms, &other.retry_after_ms])?);
        match (&mut self.held, &other.held) {
            (Some(mine), Some(theirs)) => mine.merge(theirs)?,
            (None, Some(theirs)) => self.held = Some(theirs.clone()),
            _ => {}
        }
        match (&mut self.h2, &other.h2) {
            (Some(mine), Some(theirs)) => *mine += theirs,
            (None, Some(theirs)) => self.h2 = Some(theirs.clone()),
            _ => {}
        }
        for (mine, theirs) in self.steps.iter_mut().zip(&other.steps) {
            mine.ok = mine.ok.saturating_add(theirs.ok);
            mine.failed = mine.failed.saturating_add(theirs.failed);
            mine.latency_ms = HistSummary::of(&merge([&mine.latency_ms, &theirs.latency_ms])?);
            mine.service_ms = HistSummary::of(&merge([&mine.service_ms, &theirs.service_ms])?);
        }
        Ok(())
    }
}
