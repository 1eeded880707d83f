//! A connected population's figures over a run: its totals (counts, drops by cause,
//! the upgrade, reconnect and heartbeat histograms merged exactly), how long the
//! connected share stayed below its SLO (`reconnect_time`), and the share at the end.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::record::{self, HeldCounts, HeldWindow, HistError, HistSummary, Window};

/// Which of a held connection's histograms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumString, strum::IntoStaticStr, strum::VariantNames)]
#[strum(serialize_all = "lowercase")]
pub enum HeldSeries {
    /// From the drop to connected again.
    Reconnect,
    /// The heartbeat's round trip from its intended instant.
    Heartbeat,
    /// The upgrade from its intended instant.
    Upgrade,
}

impl HeldSeries {
    fn of(self, h: &HeldWindow) -> &HistSummary {
        match self {
            HeldSeries::Reconnect => &h.reconnect_ms,
            HeldSeries::Heartbeat => &h.heartbeat_ms,
            HeldSeries::Upgrade => &h.upgrade_ms,
        }
    }
}

/// A series' histogram over every window.
pub fn held_hist(windows: &[Window], s: HeldSeries) -> Result<Histogram<u64>, HistError> {
    record::merge(windows.iter().filter_map(|w| w.held.as_ref()).map(|h| s.of(h)))
}

/// The whole run's held figures, added up exactly from its windows.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct HeldTotals {
    #[serde(flatten)]
    pub counts: HeldCounts,
    pub drops_by_cause: BTreeMap<String, u64>,
    pub connect_outcomes: BTreeMap<String, u64>,
    pub upgrade_ms: HistSummary,
    pub reconnect_ms: HistSummary,
    pub heartbeat_ms: HistSummary,
    /// The most clients connected at once (a window's end), and should be online then.
    pub peak_connected: u64,
    /// Connected ÷ should be online in the run's last window.
    pub final_share: Option<f64>,
    /// The lowest connected share of any window.
    pub min_share: Option<f64>,
}

impl HeldTotals {
    /// None for a run without held connections.
    pub fn of(windows: &[Window]) -> Result<Option<HeldTotals>, HistError> {
        let held: Vec<&HeldWindow> = windows.iter().filter_map(|w| w.held.as_ref()).collect();
        if held.is_empty() {
            return Ok(None);
        }
        let mut t = HeldTotals::default();
        for h in &held {
            t.counts += &h.counts;
            for (k, v) in &h.drops_by_cause {
                *t.drops_by_cause.entry(k.clone()).or_default() += v;
            }
            for (k, v) in &h.connect_outcomes {
                *t.connect_outcomes.entry(k.clone()).or_default() += v;
            }
            t.peak_connected = t.peak_connected.max(h.connected);
            if let Some(s) = h.connected_share() {
                t.min_share = Some(t.min_share.map_or(s, |m: f64| m.min(s)));
            }
        }
        t.final_share = held.last().and_then(|h| h.connected_share());
        t.upgrade_ms = HistSummary::of(&held_hist(windows, HeldSeries::Upgrade)?);
        t.reconnect_ms = HistSummary::of(&held_hist(windows, HeldSeries::Reconnect)?);
        t.heartbeat_ms = HistSummary::of(&held_hist(windows, HeldSeries::Heartbeat)?);
        Ok(Some(t))
    }
}

/// How long the connected share stayed below `least` (the SLO's): the longest stretch
/// from the start of a window whose share fell below it to the start of the first
/// window back at or above it. `None`: it never fell. `Some(Err(since))`: it was still
/// below at the run's end, `since` that long.
pub fn reconnect_time(windows: &[Window], least: f64) -> Option<Result<Duration, Duration>> {
    let mut longest: Option<Duration> = None;
    let mut below_since: Option<u64> = None;
    let mut end = 0;
    for w in windows {
        let Some(share) = w.held.as_ref().and_then(HeldWindow::connected_share) else {
            continue;
        };
        end = w.start_ms + w.len_ms;
        match (share + 1e-9 < least, below_since) {
            (true, None) => below_since = Some(w.start_ms),
            (false, Some(since)) => {
                let d = Duration::from_millis(w.start_ms - since);
                longest = Some(longest.map_or(d, |l| l.max(d)));
                below_since = None;
            }
            _ => {}
        }
    }
    match (below_since, longest) {
        (Some(since), _) => Some(Err(Duration::from_millis(end - since))),
        (None, Some(d)) => Some(Ok(d)),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(shares: &[(u64, u64)]) -> Vec<Window> {
        shares
            .iter()
            .enumerate()
            .map(|(i, &(connected, online))| Window {
                index: i as u32,
                start_ms: i as u64 * 1000,
                len_ms: 1000,
                held: Some(HeldWindow {
                    connected,
                    online,
                    ..Default::default()
                }),
                ..Default::default()
            })
            .collect()
    }

    #[test]
    fn reconnect_time_is_the_longest_stretch_below_the_share() {
        let w = run(&[
            (100, 100),
            (60, 100),
            (90, 100),
            (99, 100),
            (100, 100),
            (97, 100),
            (100, 100),
        ]);
        // Below 99 % from 1 s to 3 s (2 s), and 5 s to 6 s (1 s): the longest is 2 s.
        assert_eq!(reconnect_time(&w, 0.99), Some(Ok(Duration::from_secs(2))));
        assert_eq!(reconnect_time(&run(&[(100, 100), (100, 100)]), 0.99), None);
        let stuck = run(&[(100, 100), (50, 100), (80, 100)]);
        assert_eq!(reconnect_time(&stuck, 0.99), Some(Err(Duration::from_secs(2))));
        // Nobody should be online: not judged, not a fall.
        assert_eq!(reconnect_time(&run(&[(0, 0), (0, 0)]), 0.99), None);
        let t = HeldTotals::of(&w).unwrap().unwrap();
        assert_eq!((t.final_share, t.min_share), (Some(1.0), Some(0.6)));
    }
}
