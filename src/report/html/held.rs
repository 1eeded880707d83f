//! A connected population on the page: the series of its first chart (clients connected
//! against those that should be online, the drop wave by cause, the reconnects) and of
//! the reconnect-time chart under it, and the words the header and the story add. None
//! of it for a run without held connections.

use serde::Serialize;

use super::data::Pcts;
use super::r3;
use crate::record::{HeldWindow, Window};
use crate::report::Report;
use crate::report::held::{
    causes_words, connects_line, drops_line, lowest_share, lowest_words, p50_p99_max, reconnect_time_value,
    reconnect_time_words, totals,
};
use crate::report::terminal::thousands;
use crate::units::{fmt_ms, pct};

/// What the held charts plot, one value per charted window.
#[derive(Serialize)]
pub(super) struct HeldSeries {
    /// Clients holding their connection at the window's end.
    connected: Vec<u64>,
    /// Clients that should be online then.
    online: Vec<u64>,
    /// The SLO's connected share (percent) and the clients that share of `online` is.
    slo_pct: Option<f64>,
    least: Vec<Option<f64>>,
    /// Drops per second by cause, the most frequent cause first.
    drops: Vec<(String, Vec<f64>)>,
    /// Connects that succeeded, per second.
    connects_ok: Vec<f64>,
    /// Reconnect time (drop to connected again), milliseconds.
    reconnect: Pcts,
    heartbeat_p99: Vec<Option<f64>>,
    upgrade_p99: Vec<Option<f64>>,
}

impl HeldSeries {
    /// `ws`: the windows the page charts.
    pub(super) fn of(r: &Report, ws: &[Window]) -> Option<HeldSeries> {
        let t = totals(r)?;
        let empty = HeldWindow::default();
        let held: Vec<&HeldWindow> = ws.iter().map(|w| w.held.as_ref().unwrap_or(&empty)).collect();
        let per_s = |w: &Window, v: u64| r3(v as f64 * 1000.0 / w.len_ms.max(1) as f64);
        let mut causes: Vec<(&String, &u64)> = t.drops_by_cause.iter().collect();
        causes.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let drops = causes
            .into_iter()
            .map(|(k, _)| {
                let v = ws
                    .iter()
                    .zip(&held)
                    .map(|(w, h)| per_s(w, h.drops_by_cause.get(k).copied().unwrap_or(0)))
                    .collect();
                (k.clone(), v)
            })
            .collect();
        let mut reconnect = Pcts::default();
        for h in &held {
            reconnect.push(&h.reconnect_ms);
        }
        let p99 = |h: &crate::record::HistSummary| (h.count > 0 && h.p99 > 0.0).then_some(r3(h.p99));
        let least = r.recovery.as_ref().and_then(|x| x.slo.connected);
        Some(HeldSeries {
            connected: held.iter().map(|h| h.connected).collect(),
            online: held.iter().map(|h| h.online).collect(),
            slo_pct: least.map(|l| r3(l * 100.0)),
            least: held.iter().map(|h| least.map(|l| r3(l * h.online as f64))).collect(),
            drops,
            connects_ok: ws
                .iter()
                .zip(&held)
                .map(|(w, h)| per_s(w, h.counts.connects_ok))
                .collect(),
            reconnect,
            heartbeat_p99: held.iter().map(|h| p99(&h.heartbeat_ms)).collect(),
            upgrade_p99: held.iter().map(|h| p99(&h.upgrade_ms)).collect(),
        })
    }
}

/// The facts beside the verdict card: the connected share and the reconnect time.
pub(super) fn figures(r: &Report) -> Vec<(String, String)> {
    let Some(t) = totals(r) else {
        return Vec::new();
    };
    let mut out = vec![(
        "connected share".into(),
        format!(
            "{} at the end · lowest {} · peak {} connected",
            t.final_share.map_or("–".into(), pct),
            lowest_words(r),
            thousands(t.peak_connected)
        ),
    )];
    if let Some(v) = reconnect_time_value(r) {
        out.push(("reconnect time".into(), v));
    }
    out.push(("held connects".into(), connects_line(t)));
    out.push(("held drops".into(), drops_line(t)));
    out
}

/// What the story's cards add for a connected population: to the storm, the drops; to
/// the collapse, how low the connected share fell; to the recovery, the reconnect time.
pub(super) struct HeldStory {
    pub storm: String,
    pub collapse: String,
    pub recovery: String,
}

pub(super) fn story(r: &Report) -> Option<HeldStory> {
    let t = totals(r)?;
    let storm = if t.counts.drops == 0 {
        "No held connection dropped.".to_string()
    } else {
        format!(
            "{} held connections dropped ({}).",
            thousands(t.counts.drops),
            causes_words(t).unwrap_or_default()
        )
    };
    let collapse = match lowest_share(r) {
        Some((s, _)) if s >= 1.0 => format!(
            "Every client that should have been online stayed connected (peak {}).",
            thousands(t.peak_connected)
        ),
        Some((s, at)) => format!(
            "The connected share fell to {} at {} (peak {} connected).",
            pct(s),
            fmt_ms(at as f64),
            thousands(t.peak_connected)
        ),
        None => "No client should have been online.".to_string(),
    };
    let back = if t.reconnect_ms.count == 0 {
        "no client reconnected".to_string()
    } else {
        format!(
            "{} reconnects took {}",
            thousands(t.reconnect_ms.count),
            p50_p99_max(&t.reconnect_ms)
        )
    };
    let recovery = match reconnect_time_words(r) {
        Some(words) => format!("{}; {back}.", capitalized(&words)),
        None => format!("{}.", capitalized(&back)),
    };
    Some(HeldStory {
        storm,
        collapse,
        recovery,
    })
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    c.next().map_or(String::new(), |f| f.to_uppercase().chain(c).collect())
}
