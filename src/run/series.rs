//! The target's own series as an ops engineer names them: `series` entries and the
//! operands of `derived` are Prometheus-style selectors: a labelled name
//! (`pool_busy{name="default"}`) reads every series with at least those labels, a bare
//! name (`pool_busy`) every label set it is exposed with, added up.

use crate::profile::{Derived, DerivedOp, MetricsScrape, Node, edits};
use crate::record::Window;

/// What the engine scrapes: the URL (the node's `/metrics` by default) and the names
/// to keep, the derived series' operands included (unless all are kept).
pub fn scrape(m: &MetricsScrape, node: &Node) -> (String, Vec<String>) {
    let url = m.url.clone().unwrap_or_else(|| format!("{}/metrics", node.url));
    let mut keep = m.series.clone();
    if !keep.is_empty() {
        keep.extend(m.derived.iter().flat_map(|d| [d.a.clone(), d.b.clone()]));
        keep.extend(m.received.iter().map(|r| r.series.clone()));
    }
    (url, keep)
}

/// The bare metric name of a scraped key: `a{b="c"}` → `a`.
fn bare(key: &str) -> &str {
    key.split('{').next().unwrap_or(key).trim()
}

/// Does the scraped `key` answer to `name` as the profile wrote it?
pub fn matches(name: &str, key: &str) -> bool {
    crate::engine::selector_matches(name, key)
}

/// The keys the target did expose that come nearest a `name` it never did: the same
/// metric with other labels first, then metric names a few edits away; at most three.
pub fn nearest(name: &str, windows: &[Window]) -> Vec<String> {
    let mut keys: Vec<&String> = windows.iter().flat_map(|w| w.target.keys()).collect();
    keys.sort();
    keys.dedup();
    let want = bare(name);
    let same: Vec<String> = keys.iter().filter(|k| bare(k) == want).map(|k| k.to_string()).collect();
    if !same.is_empty() {
        return same.into_iter().take(3).collect();
    }
    let mut near: Vec<(usize, &String)> = keys
        .iter()
        .map(|k| (edits(bare(k), want), *k))
        .filter(|(d, _)| *d <= 3.max(want.len() / 4))
        .collect();
    near.sort();
    near.into_iter().take(3).map(|(_, k)| k.clone()).collect()
}

/// The named series the target never exposed in any window.
pub fn missing(series: &[String], windows: &[Window]) -> Vec<String> {
    series
        .iter()
        .filter(|name| !windows.iter().any(|w| w.target.keys().any(|k| matches(name, k))))
        .cloned()
        .collect()
}

/// A series' value in one window: a labelled name's own value, a bare name's values
/// over its label sets added up (the way `sum(x)` reads it). None: not scraped then.
fn value(w: &Window, name: &str) -> Option<f64> {
    let mut found = w.target.iter().filter(|(k, _)| matches(name, k)).peekable();
    found.peek()?;
    Some(found.map(|(_, v)| v).sum())
}

/// Adds each derived series to every window where both operands were scraped (a
/// ratio only where the divisor is not zero).
pub fn derive(windows: &mut [Window], derived: &[Derived]) {
    for w in windows.iter_mut() {
        for d in derived {
            let (Some(a), Some(b)) = (value(w, &d.a), value(w, &d.b)) else {
                continue;
            };
            let v = match d.op {
                DerivedOp::Div if b == 0.0 => continue,
                DerivedOp::Div => a / b,
                DerivedOp::Sub => a - b,
            };
            w.target.insert(d.name.clone(), v);
        }
    }
}

/// The target's own count of received requests (`target.metrics.received`): the label
/// sets `selector` matches, added up, in one scrape of `url`. None: the scrape failed
/// or exposed no such series.
pub async fn read_counter(url: &str, selector: &str, timeout: std::time::Duration) -> Option<f64> {
    let client = reqwest::Client::builder().timeout(timeout).no_proxy().build().ok()?;
    let r = client.get(url).send().await.ok()?;
    if !r.status().is_success() {
        return None;
    }
    let text = r.text().await.ok()?;
    let found = crate::engine::parse_prometheus(&text, &[selector.to_string()]);
    (!found.is_empty()).then(|| found.iter().map(|(_, v)| v).sum())
}

/// The counters the target declares, read once before the storm from `url` (the
/// scrape during the run keeps values only). None read: only `_total` names count.
pub async fn declared_counters(url: &str, timeout: std::time::Duration) -> Vec<String> {
    let Ok(client) = reqwest::Client::builder().timeout(timeout).no_proxy().build() else {
        return Vec::new();
    };
    match client.get(url).send().await {
        Ok(r) if r.status().is_success() => r
            .text()
            .await
            .map(|t| crate::engine::counter_names(&t))
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn win(series: &[(&str, f64)]) -> Window {
        let mut w = Window::default();
        for (k, v) in series {
            w.target.insert((*k).to_string(), *v);
        }
        w
    }

    #[test]
    fn a_labelled_name_matches_exactly_and_a_bare_one_any_label_set() {
        let ws = [win(&[("pool_busy{name=\"default\"}", 3.0), ("queue", 1.0)])];
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(missing(&names(&["pool_busy{name=\"default\"}", "pool_busy", "queue"]), &ws).is_empty());
        assert_eq!(
            missing(&names(&["pool_busy{name=\"other\"}", "pool"]), &ws),
            names(&["pool_busy{name=\"other\"}", "pool"])
        );
    }

    #[test]
    fn a_selector_matches_series_with_more_labels_and_a_missing_one_names_the_nearest() {
        // Issue #22, case 10: before, never matched, and "never exposed" named nothing.
        let ws = [win(&[
            ("pool_working_threads{name=\"default\",server_name=\"localhost\"}", 4.0),
            ("pool_working_threads{name=\"io\",server_name=\"localhost\"}", 2.0),
            ("login_queue_depth", 7.0),
        ])];
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(missing(&names(&["pool_working_threads{name=\"default\"}"]), &ws).is_empty());
        assert_eq!(value(&ws[0], "pool_working_threads{name=\"default\"}"), Some(4.0));
        assert_eq!(value(&ws[0], "pool_working_threads"), Some(6.0));
        assert_eq!(
            nearest("pool_working_threads{name=\"other\"}", &ws),
            names(&[
                "pool_working_threads{name=\"default\",server_name=\"localhost\"}",
                "pool_working_threads{name=\"io\",server_name=\"localhost\"}"
            ])
        );
        assert_eq!(nearest("login_queue_dept", &ws), names(&["login_queue_depth"]));
        assert!(nearest("completely_else", &ws).is_empty());
    }

    #[test]
    fn derived_series_are_ratios_and_differences_where_both_exist() {
        let mut ws = vec![
            win(&[("q{p=\"a\"}", 6.0), ("q{p=\"b\"}", 2.0), ("w", 4.0)]),
            win(&[("q{p=\"a\"}", 1.0), ("w", 0.0)]),
            win(&[("w", 2.0)]),
        ];
        let d = |name: &str, a: &str, op, b: &str| Derived {
            name: name.into(),
            a: a.into(),
            op,
            b: b.into(),
        };
        derive(
            &mut ws,
            &[
                d("ratio", "q", DerivedOp::Div, "w"),
                d("gap", "q{p=\"a\"}", DerivedOp::Sub, "w"),
            ],
        );
        assert_eq!(ws[0].target.get("ratio"), Some(&2.0));
        assert_eq!(ws[0].target.get("gap"), Some(&2.0));
        assert_eq!(ws[1].target.get("ratio"), None, "divisor zero");
        assert_eq!(ws[1].target.get("gap"), Some(&1.0));
        assert_eq!(ws[2].target.get("ratio"), None, "q not scraped");
    }
}
