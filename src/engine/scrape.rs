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
            (keep.is_empty() || keep.iter().any(|k| selector_matches(k, key))).then(|| (key.to_string(), value))
        })
        .collect()
}

/// A series key split into its metric name and its label pairs, as Prometheus writes
/// them (`name{a="b",c="d"}`; `\"` and `\\` escaped in values). None: not a key.
pub fn parse_key(key: &str) -> Option<(&str, Vec<(String, String)>)> {
    let Some((name, rest)) = key.split_once('{') else {
        return Some((key.trim(), Vec::new()));
    };
    let body = rest.trim_end().strip_suffix('}')?;
    let mut labels = Vec::new();
    let mut chars = body.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let label: String = chars.by_ref().take_while(|&c| c != '=').collect();
        if chars.next() != Some('"') {
            return None;
        }
        let mut value = String::new();
        loop {
            match chars.next()? {
                '\\' => value.push(chars.next()?),
                '"' => break,
                c => value.push(c),
            }
        }
        labels.push((label.trim().to_string(), value));
    }
    Some((name.trim(), labels))
}

/// Does the scraped `key` answer to the `selector` a profile wrote? Prometheus-style:
/// the same metric name, and at least the selector's labels with their values (a bare
/// name matches every label set).
pub fn selector_matches(selector: &str, key: &str) -> bool {
    let (Some((sn, sl)), Some((kn, kl))) = (parse_key(selector), parse_key(key)) else {
        return selector == key;
    };
    sn == kn && sl.iter().all(|pair| kl.contains(pair))
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
    fn selectors_match_any_series_with_at_least_their_labels() {
        let key = "pool_working_threads{name=\"default\",server_name=\"localhost\"}";
        assert!(selector_matches("pool_working_threads{name=\"default\"}", key));
        assert!(selector_matches("pool_working_threads", key));
        assert!(selector_matches(key, key));
        assert!(!selector_matches("pool_working_threads{name=\"io\"}", key));
        assert!(!selector_matches("pool_working", key));
        assert!(
            selector_matches("a{v=\"x,\\\"y\"}", "a{v=\"x,\\\"y\",w=\"1\"}"),
            "escaped values"
        );
        assert_eq!(
            parse_key("q{a=\"1\", b=\"2\"}"),
            Some(("q", vec![("a".into(), "1".into()), ("b".into(), "2".into())]))
        );
        assert_eq!(parse_key("q{a=1}"), None);
    }

    #[test]
    fn prometheus_text_is_read() {
        let text = "# HELP q queue\n# TYPE q gauge\nq 12\nlogins_total{result=\"ok\"} 3e3\nother 1\n";
        let all = parse_prometheus(text, &[]);
        assert_eq!(all.len(), 3);
        let some = parse_prometheus(text, &["logins_total".to_string()]);
        assert_eq!(some, vec![("logins_total{result=\"ok\"}".to_string(), 3000.0)]);
        // A selector keeps every series with at least its labels.
        let pool =
            "pool_working_threads{name=\"default\",server_name=\"localhost\"} 4\npool_working_threads{name=\"io\"} 2\n";
        let kept = parse_prometheus(pool, &["pool_working_threads{name=\"default\"}".to_string()]);
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].1, 4.0);
        let typed = "# TYPE q gauge\n# TYPE served counter\nq 1\n# TYPE lat histogram\n";
        assert_eq!(counter_names(typed), vec!["served".to_string()]);
    }
}
