//! The target's drain after sending stopped: a run that ends "completed" while the
//! target still works through thousands of requests whose clients had gone tells only
//! half the story. The run keeps scraping the target's series that hold outstanding
//! work until they are back at their baseline level or a bound passes; these are the
//! numbers of that watch (the scraping itself is `run::drain`'s).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::record::Window;

/// Words in a metric's name that mark it as outstanding work: a queue, requests in
/// flight, a backlog. The overlay's is `overlay_queue_depth`.
const WORK: [&str; 5] = ["queue", "in_flight", "inflight", "pending", "backlog"];

/// The longest the drain is watched after sending stopped: 30 s, long enough to see a
/// queue of a few seconds of capacity empty (a queue longer than capacity × timeout
/// serves only clients that had gone, and that is the case to show), short enough that
/// a CI job is not held a minute by a target that never drains; at least three windows
/// so that a run with long windows still gets a trend.
pub fn bound(window: Duration) -> Duration {
    Duration::from_secs(30).max(window * 3)
}

/// The target's series after the run: what was watched, the level counted as drained,
/// when it was reached, and every scrape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct AfterRun {
    /// The series judged: those named like outstanding work (`queue`, `in_flight`,
    /// `inflight`, `pending`, `backlog`).
    pub watched: Vec<String>,
    /// Each watched series' drained level: its highest value before the trigger (0
    /// when it had none).
    pub baseline: BTreeMap<String, f64>,
    /// How long scraping went on at most after sending stopped, ms.
    pub bound_ms: u64,
    /// Run time (ms) of the first scrape at which every watched series was at or below
    /// its baseline; absent: it had not drained when scraping stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drained_at_ms: Option<u64>,
    /// The scrapes after sending stopped, in time order, every scraped series in each.
    pub points: Vec<AfterPoint>,
}

/// One scrape of the target after sending stopped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct AfterPoint {
    /// Run time, ms.
    pub at_ms: u64,
    pub series: BTreeMap<String, f64>,
}

/// Does a series of this name (labels and all) hold outstanding work?
pub fn is_work(key: &str) -> bool {
    let name = key.split('{').next().unwrap_or(key).to_ascii_lowercase();
    WORK.iter().any(|w| name.contains(w))
}

/// The scraped series (keys as the windows hold them) that hold outstanding work.
pub fn watched(windows: &[Window]) -> Vec<String> {
    let mut keys: Vec<String> = windows
        .iter()
        .flat_map(|w| w.target.keys())
        .filter(|k| is_work(k))
        .cloned()
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// Each watched series' highest value in the windows before `trigger` (0 without any).
pub fn baseline(windows: &[Window], watched: &[String], trigger: Duration) -> BTreeMap<String, f64> {
    let before: Vec<&Window> = windows
        .iter()
        .filter(|w| w.start_ms + w.len_ms <= trigger.as_millis() as u64)
        .collect();
    watched
        .iter()
        .map(|k| {
            let level = before
                .iter()
                .filter_map(|w| w.target.get(k).copied())
                .fold(0.0, f64::max);
            (k.clone(), level)
        })
        .collect()
}

/// Is every watched series in `series` (one scrape that answered) at or below its
/// baseline? A label set missing from the scrape counts as 0: targets drop a gauge's
/// label set when it empties (a failed scrape gives no `series` at all).
pub fn drained(baseline: &BTreeMap<String, f64>, series: &BTreeMap<String, f64>) -> bool {
    baseline
        .iter()
        .all(|(k, level)| series.get(k).copied().unwrap_or(0.0) <= *level)
}

impl AfterRun {
    /// How long after sending stopped (`ended`) the target drained; None: not drained.
    pub fn drained_after(&self, ended: Duration) -> Option<Duration> {
        self.drained_at_ms
            .map(|at| Duration::from_millis(at).saturating_sub(ended))
    }

    /// The watched series at the last scrape, beside their baseline: what was left (a
    /// label set the scrape no longer held is 0; NaN: no scrape answered).
    pub fn left(&self) -> Vec<(String, f64, f64)> {
        let last = self.points.last();
        self.baseline
            .iter()
            .map(|(k, b)| {
                let v = last.map_or(f64::NAN, |p| p.series.get(k).copied().unwrap_or(0.0));
                (k.clone(), v, *b)
            })
            .collect()
    }

    /// Outstanding work above baseline when the watch stopped without the target having
    /// drained: the sum over the watched series (None when drained or never scraped).
    pub fn still_draining(&self) -> Option<f64> {
        if self.drained_at_ms.is_some() {
            return None;
        }
        let left: Vec<f64> = self
            .left()
            .into_iter()
            .filter(|(_, v, _)| !v.is_nan())
            .map(|(_, v, b)| (v - b).max(0.0))
            .collect();
        (!left.is_empty()).then(|| left.iter().sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(i: u64, queue: f64, online: f64) -> Window {
        let mut w = Window {
            index: i as u32,
            start_ms: i * 1000,
            len_ms: 1000,
            ..Window::default()
        };
        w.target.insert("overlay_queue_depth".into(), queue);
        w.target.insert("overlay_online_clients".into(), online);
        w
    }

    #[test]
    fn work_series_are_watched_and_drained_at_their_baseline_level() {
        let ws: Vec<Window> = (0..6)
            .map(|i| window(i, if i < 2 { 3.0 } else { 900.0 }, 10.0 * i as f64))
            .collect();
        let watched = watched(&ws);
        assert_eq!(watched, vec!["overlay_queue_depth".to_string()]);
        let base = baseline(&ws, &watched, Duration::from_secs(2));
        assert_eq!(base.get("overlay_queue_depth"), Some(&3.0));
        let at = |q: f64| BTreeMap::from([("overlay_queue_depth".to_string(), q)]);
        assert!(!drained(&base, &at(4.0)));
        assert!(drained(&base, &at(3.0)));
        // A label set the target dropped when it emptied is 0: drained.
        assert!(drained(&base, &BTreeMap::new()));
        let run = AfterRun {
            watched: watched.clone(),
            baseline: base.clone(),
            points: vec![AfterPoint {
                at_ms: 9_000,
                series: BTreeMap::from([("overlay_online_clients".to_string(), 3.0)]),
            }],
            ..AfterRun::default()
        };
        assert_eq!(run.left(), vec![("overlay_queue_depth".to_string(), 0.0, 3.0)]);
        assert_eq!(run.still_draining(), Some(0.0));
        let stuck = AfterRun {
            points: vec![AfterPoint {
                at_ms: 9_000,
                series: at(612.0),
            }],
            ..run.clone()
        };
        assert_eq!(stuck.still_draining(), Some(609.0));
        assert_eq!(
            AfterRun { points: vec![], ..run }.still_draining(),
            None,
            "never scraped"
        );
    }

    #[test]
    fn the_bound_is_thirty_seconds_or_three_windows() {
        assert_eq!(bound(Duration::from_secs(1)), Duration::from_secs(30));
        assert_eq!(bound(Duration::from_secs(20)), Duration::from_secs(60));
    }
}
