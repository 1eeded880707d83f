//! A connected population's families: served once the run holds connections (a
//! snapshot or a closed window says so), never for a run without them. The gauges come
//! from the snapshots (live); connects, drops and the histograms from closed windows.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hdrhistogram::Histogram;

use super::{esc, histogram};
use crate::engine::HeldGauge;
use crate::profile::Slo;
use crate::record::{HeldWindow, Window, merge, new_hist};

/// The families a run with held connections adds, with their types.
pub const HELD_FAMILIES: [(&str, &str); 6] = [
    ("stampede_connected", "gauge"),
    ("stampede_should_be_online", "gauge"),
    ("stampede_connects_total", "counter"),
    ("stampede_drops_total", "counter"),
    ("stampede_reconnect_seconds", "histogram"),
    ("stampede_heartbeat_seconds", "histogram"),
];

pub(super) struct HeldState {
    gauge: HeldGauge,
    connects_ok: u64,
    connects_failed: u64,
    drops: BTreeMap<String, u64>,
    reconnect: Histogram<u64>,
    heartbeat: Histogram<u64>,
}

impl HeldState {
    pub fn new() -> HeldState {
        HeldState {
            gauge: HeldGauge::default(),
            connects_ok: 0,
            connects_failed: 0,
            drops: BTreeMap::new(),
            reconnect: new_hist(),
            heartbeat: new_hist(),
        }
    }

    pub fn gauge(&mut self, g: HeldGauge) {
        self.gauge = g;
    }

    /// The histograms, decoded outside the exporter's lock (None: they did not decode;
    /// the end-of-run merge reports that).
    pub fn decode(h: &HeldWindow) -> [Option<Histogram<u64>>; 2] {
        [&h.reconnect_ms, &h.heartbeat_ms].map(|s| merge([s]).ok())
    }

    /// A closed window's events; its gauges too, which a later snapshot supersedes.
    pub fn window(&mut self, h: &HeldWindow, hists: [Option<Histogram<u64>>; 2]) {
        self.connects_ok += h.counts.connects_ok;
        self.connects_failed += h.counts.connects_failed;
        for (cause, n) in &h.drops_by_cause {
            *self.drops.entry(cause.clone()).or_default() += n;
        }
        let [reconnect, heartbeat] = hists;
        for (into, h) in [(&mut self.reconnect, reconnect), (&mut self.heartbeat, heartbeat)] {
            if let Some(h) = h {
                let _ = into.add(&h);
            }
        }
        self.gauge = HeldGauge {
            connected: h.connected,
            online: h.online,
        };
    }

    pub fn render(&self, t: &mut String) {
        for (name, kind) in HELD_FAMILIES {
            let _ = writeln!(t, "# HELP {name} {}\n# TYPE {name} {kind}", help(name));
            let mut line = |labels: &str, v: u64| {
                let _ = writeln!(t, "{name}{labels} {v}");
            };
            match name {
                "stampede_connected" => line("", self.gauge.connected),
                "stampede_should_be_online" => line("", self.gauge.online),
                "stampede_connects_total" => {
                    line("{result=\"ok\"}", self.connects_ok);
                    line("{result=\"failed\"}", self.connects_failed);
                }
                "stampede_drops_total" => {
                    for (cause, n) in &self.drops {
                        line(&format!("{{cause=\"{}\"}}", esc(cause)), *n);
                    }
                }
                "stampede_reconnect_seconds" => histogram(t, name, &self.reconnect),
                _ => histogram(t, name, &self.heartbeat),
            }
        }
    }
}

/// A connected population's window as the report's analysis judges it: healthy when
/// the share of the clients that should be online who are connected reaches `least`,
/// the heartbeats' p99 meets the SLO's p99 and, when enough logins completed to say,
/// logins meet its success rate; unjudged when nobody should be online.
pub(super) fn judge(w: &Window, h: &HeldWindow, least: f64, slo: &Slo) -> &'static str {
    let Some(share) = h.connected_share() else {
        return "unjudged";
    };
    let beats = h.heartbeat_ms.count == 0 || slo.p99.is_none_or(|p| h.heartbeat_ms.p99 <= p.as_secs_f64() * 1000.0);
    let done = w.counts.logins_ok + w.counts.logins_failed;
    let logins = done < slo.min_requests.max(1)
        || slo
            .success_rate
            .is_none_or(|r| w.success_rate().is_some_and(|x| x >= r));
    if share + 1e-9 >= least && beats && logins {
        "healthy"
    } else {
        "unhealthy"
    }
}

fn help(name: &str) -> &'static str {
    match name {
        "stampede_connected" => "Clients holding their connection now.",
        "stampede_should_be_online" => {
            "Clients that should be online now (logged in or trying to be): the connected share's base."
        }
        "stampede_connects_total" => {
            "Connection upgrades (first connects and reconnects), by result (ok, failed), from closed windows."
        }
        "stampede_drops_total" => {
            "Held connections dropped, by cause (reset, ws_close_CODE, heartbeat_timeout, reboot, ...), from closed windows."
        }
        "stampede_reconnect_seconds" => {
            "Reconnect time from the drop to connected again (the user's outage), closed windows."
        }
        _ => "Heartbeat round trip from the beat's intended instant, closed windows.",
    }
}
