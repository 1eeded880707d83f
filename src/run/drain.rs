//! Watching the target drain after sending stopped: the engine's scrape loop ends with
//! the engine, but a target may still be working through requests whose clients had
//! gone. This scrapes its metrics every window until the series that hold outstanding
//! work are back at their baseline level, or `analysis::drain::bound` passes.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use crate::analysis::drain::{self, AfterPoint, AfterRun};
use crate::record::Window;

/// What the watch needs from the run: where to scrape, what to keep, and its clock.
pub struct Watch<'a> {
    pub url: &'a str,
    pub keep: &'a [String],
    pub windows: &'a [Window],
    pub trigger: Duration,
    pub window: Duration,
    /// The run's time zero, as a wall-clock instant.
    pub started_at: SystemTime,
    /// Ctrl-C: a person who stops the run does not wait for the target either.
    pub stop: Option<tokio::sync::watch::Receiver<u8>>,
}

/// Scrapes until the watched series drain or the bound passes. None when the target
/// exposes no series of outstanding work (nothing to watch, no time spent).
pub async fn watch(w: Watch<'_>) -> Option<AfterRun> {
    let watched = drain::watched(w.windows);
    if watched.is_empty() {
        return None;
    }
    let baseline = drain::baseline(w.windows, &watched, w.trigger);
    let bound = drain::bound(w.window);
    let client = reqwest::Client::builder()
        .timeout(w.window.max(Duration::from_millis(500)))
        .no_proxy()
        .build()
        .ok()?;
    let run_time = || SystemTime::now().duration_since(w.started_at).unwrap_or_default();
    let until = tokio::time::Instant::now() + bound;
    let mut after = AfterRun {
        watched,
        baseline,
        bound_ms: bound.as_millis() as u64,
        ..AfterRun::default()
    };
    let mut tick = tokio::time::interval(w.window);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut stop = w.stop;
    if let Some(s) = stop.as_mut() {
        // An abort raised the level to end sending; only a stop from now on counts.
        s.borrow_and_update();
    }
    let stopped = async |stop: &mut Option<tokio::sync::watch::Receiver<u8>>| {
        let changed = match stop.as_mut() {
            Some(s) => s.changed().await.is_ok(),
            None => false,
        };
        if !changed {
            std::future::pending::<()>().await;
        }
    };
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = stopped(&mut stop) => return Some(after),
        }
        let at_ms = run_time().as_millis() as u64;
        if let Some(series) = scrape(&client, w.url, w.keep).await {
            let done = drain::drained(&after.baseline, &series);
            after.points.push(AfterPoint { at_ms, series });
            if done {
                after.drained_at_ms = Some(at_ms);
                return Some(after);
            }
        }
        if tokio::time::Instant::now() + w.window > until {
            return Some(after);
        }
    }
}

/// One scrape of the kept series; None when it failed.
async fn scrape(client: &reqwest::Client, url: &str, keep: &[String]) -> Option<BTreeMap<String, f64>> {
    let r = client.get(url).send().await.ok()?;
    if !r.status().is_success() {
        return None;
    }
    let text = r.text().await.ok()?;
    Some(crate::engine::parse_prometheus(&text, keep).into_iter().collect())
}
