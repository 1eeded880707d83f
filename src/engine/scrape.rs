//! The target's own metrics, scraped every window beside the storm (Prometheus text).

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

/// One scrape: when, and the series read (None: the scrape failed).
pub(super) struct Scraped {
    pub at: Duration,
    pub series: Option<Vec<(String, f64)>>,
}

/// Scrapes `url` every `every` until the engine drops the receiving end. A task of its
/// own: reqwest's pooled client matters nothing here, and a slow scrape must never
/// hold up a send.
pub(super) async fn scrape_loop(
    url: String,
    series: Vec<String>,
    every: Duration,
    start: Instant,
    tx: mpsc::UnboundedSender<Scraped>,
) {
    let client = match reqwest::Client::builder()
        .timeout(every.max(Duration::from_millis(500)))
        .no_proxy()
        .build()
    {
        Ok(c) => c,
        Err(_) => return,
    };
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        let at = start.elapsed();
        let got = match client.get(&url).send().await {
            Ok(r) if r.status().is_success() => r.text().await.ok().map(|t| parse_prometheus(&t, &series)),
            _ => None,
        };
        if tx.send(Scraped { at, series: got }).is_err() {
            return;
        }
    }
}

/// Samples of the Prometheus text format: `name{labels} value`. Keeps the named series
/// (by metric name, labels included in the key), or all of them when none is named.
pub fn parse_prometheus(text: &str, keep: &[String]) -> Vec<(String, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let split = if let Some(close) = l.find('}') {
                close + 1
            } else {
                l.find(char::is_whitespace)?
            };
            let (key, rest) = l.split_at(split);
            let value: f64 = rest.split_whitespace().next()?.parse().ok()?;
            let name = key.split('{').next().unwrap_or(key);
            (keep.is_empty() || keep.iter().any(|k| k == name || k == key)).then(|| (key.to_string(), value))
        })
        .collect()
}

/// The metric names a Prometheus text declares counters (`# TYPE NAME counter`).
pub fn counter_names(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_once(' '))
        .filter(|(_, kind)| kind.trim() == "counter")
        .map(|(name, _)| name.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text_is_read() {
        let text = "# HELP q queue\n# TYPE q gauge\nq 12\nlogins_total{result=\"ok\"} 3e3\nother 1\n";
        let all = parse_prometheus(text, &[]);
        assert_eq!(all.len(), 3);
        let some = parse_prometheus(text, &["logins_total".to_string()]);
        assert_eq!(some, vec![("logins_total{result=\"ok\"}".to_string(), 3000.0)]);
        let typed = "# TYPE q gauge\n# TYPE served counter\nq 1\n# TYPE lat histogram\n";
        assert_eq!(counter_names(typed), vec!["served".to_string()]);
    }
}
