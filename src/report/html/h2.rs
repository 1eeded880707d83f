//! An HTTP/2 run on the page: the connections chart's series (connections opened,
//! drops stacked by cause, streams sent again after a GOAWAY, streams), so a gateway's
//! drain and the reconnect wave after it show at their instant. None for HTTP/1.1.

use serde::Serialize;

use super::r3;
use crate::record::{H2Window, Window};
use crate::report::Report;

/// What the HTTP/2 chart plots, per second, one value per charted window.
#[derive(Serialize)]
pub(super) struct H2Series {
    connects: Vec<f64>,
    /// Drops by cause (`goaway/NO_ERROR`, `ping_timeout`, ...), the most frequent first.
    drops: Vec<(String, Vec<f64>)>,
    goaway_retried: Vec<f64>,
    streams: Vec<f64>,
}

impl H2Series {
    /// `ws`: the windows the page charts.
    pub(super) fn of(r: &Report, ws: &[Window]) -> Option<H2Series> {
        let t = r.totals.h2.as_ref()?;
        let empty = H2Window::default();
        let h2: Vec<&H2Window> = ws.iter().map(|w| w.h2.as_ref().unwrap_or(&empty)).collect();
        let per_s = |f: &dyn Fn(&H2Window) -> u64| -> Vec<f64> {
            ws.iter()
                .zip(&h2)
                .map(|(w, h)| r3(f(h) as f64 * 1000.0 / w.len_ms.max(1) as f64))
                .collect()
        };
        let mut causes: Vec<(&String, &u64)> = t.drops.iter().collect();
        causes.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let drops = causes
            .into_iter()
            .map(|(k, _)| (k.clone(), per_s(&|h| h.drops.get(k).copied().unwrap_or(0))))
            .collect();
        Some(H2Series {
            connects: per_s(&|h| h.connects),
            drops,
            goaway_retried: per_s(&|h| h.goaway_retried),
            streams: per_s(&|h| h.streams),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::record::H2Window;

    #[test]
    fn an_h2_run_charts_its_drops_and_reconnects_at_their_second_and_a_plain_run_has_no_chart() {
        let mut r = crate::report::testkit::held_report(30, 25, "h2");
        let ws = r.windows.clone();
        assert!(super::H2Series::of(&r, &ws).is_none());
        r.protocol = "h2c".into();
        r.totals.h2 = Some(H2Window {
            connects: 2_100,
            streams: 2_200,
            goaway_retried: 40,
            drops: BTreeMap::from([("goaway/NO_ERROR".to_string(), 2_000)]),
        });
        for w in r.windows.iter_mut() {
            w.h2 = Some(H2Window {
                connects: 4,
                streams: 8,
                ..H2Window::default()
            });
        }
        r.windows[20].h2 = Some(H2Window {
            connects: 2_000,
            streams: 2_000,
            goaway_retried: 40,
            drops: BTreeMap::from([("goaway/NO_ERROR".to_string(), 2_000)]),
        });
        let page = crate::report::html::render(&r).unwrap();
        let data: serde_json::Value = serde_json::from_str(crate::report::html::tests::data_block(&page)).unwrap();
        let h = &data["run"]["h2"];
        let len_s = r.windows[20].len_ms as f64 / 1000.0;
        assert_eq!(h["connects"][20], 2_000.0 / len_s);
        assert_eq!(h["drops"][0][0], "goaway/NO_ERROR");
        assert_eq!(h["drops"][0][1][20], 2_000.0 / len_s);
        assert_eq!(h["drops"][0][1][19], 0.0);
        assert_eq!(h["goaway_retried"][20], 40.0 / len_s);
        assert_eq!(h["streams"][3], 8.0 / len_s);
        assert!(page.contains("drawH2"), "the page draws it");
        assert!(
            page.contains("2,000 HTTP&#x2f;2 connections dropped by the server"),
            "the storm's card says it"
        );
    }
}
