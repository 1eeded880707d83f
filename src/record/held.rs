//! A connected population's figures per window: connects and their outcomes, drops by
//! cause, resumes and relogins, heartbeats; the gauges of clients connected and of
//! clients that should be online; HdrHistograms of the upgrade (from its intended
//! instant), of the reconnect time (from the drop to connected again: the user's
//! outage) and of the heartbeat round trip (from the beat's intended instant).

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::counts::tally;
use super::hist::{HistError, HistSummary, merge, new_hist};

tally! {
    /// Events of held connections, counted in the window they happened in.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
    #[serde(default)]
    pub struct HeldCounts {
        /// Upgrades tried (first connects after a login, and reconnects).
        pub connects: u64,
        pub connects_ok: u64,
        pub connects_failed: u64,
        /// Of the connects, those that resumed a session after a drop (no login).
        pub resumes: u64,
        /// Resumes the target refused (HTTP 401, or a `relogin_on` close): the client
        /// logged in again.
        pub resumes_refused: u64,
        /// Held connections that dropped (every cause, reboots included).
        pub drops: u64,
        pub heartbeats: u64,
        pub heartbeats_ok: u64,
        /// Messages received on held connections (heartbeat answers included).
        pub messages: u64,
    }
}

/// One window of a connected population, as report.json writes it (`held`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct HeldWindow {
    #[serde(flatten)]
    pub counts: HeldCounts,
    /// Clients holding their connection at the end of the window.
    pub connected: u64,
    /// Clients that should be online at the end of the window: logged in or trying to
    /// be (not rebooting, never yet online, or gone): the connected share's base.
    pub online: u64,
    /// Drops by cause: `ws_close_1012`, `reset`, `heartbeat_timeout`, `reboot`, ...
    pub drops_by_cause: BTreeMap<String, u64>,
    /// Connect outcomes by class (`ok`, `http_401`, `ws_close_1013`, `timeout`, ...).
    pub connect_outcomes: BTreeMap<String, u64>,
    /// From the connect's intended instant to the connection ready.
    pub upgrade_ms: HistSummary,
    /// From the drop to connected again, recorded in the window it ended in.
    pub reconnect_ms: HistSummary,
    /// Heartbeat round trips from the beat's intended instant.
    pub heartbeat_ms: HistSummary,
}

impl HeldWindow {
    /// Connected ÷ should be online; None when nobody should be.
    pub fn connected_share(&self) -> Option<f64> {
        (self.online > 0).then(|| (self.connected as f64 / self.online as f64).min(1.0))
    }

    pub fn merge(&mut self, o: &HeldWindow) -> Result<(), HistError> {
        self.counts += &o.counts;
        self.connected += o.connected;
        self.online += o.online;
        for (k, v) in &o.drops_by_cause {
            *self.drops_by_cause.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &o.connect_outcomes {
            *self.connect_outcomes.entry(k.clone()).or_default() += v;
        }
        self.upgrade_ms = HistSummary::of(&merge([&self.upgrade_ms, &o.upgrade_ms])?);
        self.reconnect_ms = HistSummary::of(&merge([&self.reconnect_ms, &o.reconnect_ms])?);
        self.heartbeat_ms = HistSummary::of(&merge([&self.heartbeat_ms, &o.heartbeat_ms])?);
        Ok(())
    }
}

/// A live window's held figures, histograms still open.
pub(super) struct LiveHeld {
    pub w: HeldWindow,
    pub upgrade: Histogram<u64>,
    pub reconnect: Histogram<u64>,
    pub heartbeat: Histogram<u64>,
}

impl LiveHeld {
    pub fn new() -> LiveHeld {
        LiveHeld {
            w: HeldWindow::default(),
            upgrade: new_hist(),
            reconnect: new_hist(),
            heartbeat: new_hist(),
        }
    }

    pub fn close(mut self) -> HeldWindow {
        self.w.upgrade_ms = HistSummary::of(&self.upgrade);
        self.w.reconnect_ms = HistSummary::of(&self.reconnect);
        self.w.heartbeat_ms = HistSummary::of(&self.heartbeat);
        self.w
    }
}

use std::time::Duration;

use super::hist::{micros, rec};
use super::recorder::Recorder;
use crate::outcome::Class;

impl Recorder {
    /// The run holds connections: every window from now on carries `held`.
    pub fn hold_connections(&mut self) {
        self.held.get_or_insert((0, 0));
    }

    fn held_mut(&mut self, t: Duration) -> &mut LiveHeld {
        self.hold_connections();
        let l = self.live_mut(t);
        l.held.get_or_insert_with(LiveHeld::new)
    }

    /// A connect ended at `t` with `class`, `latency` after its intended instant.
    pub fn connect_done(&mut self, t: Duration, class: Class, latency: Duration, resume: bool) {
        let h = self.held_mut(t);
        let c = &mut h.w.counts;
        c.connects += 1;
        c.resumes += resume as u64;
        if class.is_ok() {
            c.connects_ok += 1;
            rec(&mut h.upgrade, micros(latency).max(1));
        } else {
            c.connects_failed += 1;
        }
        *h.w.connect_outcomes.entry(class.to_string()).or_default() += 1;
    }

    /// A resume the target refused at `t`: the client logs in again.
    pub fn resume_refused(&mut self, t: Duration) {
        self.held_mut(t).w.counts.resumes_refused += 1;
    }

    /// A client connected again at `t`, `outage` after its connection dropped.
    pub fn reconnected(&mut self, t: Duration, outage: Duration) {
        let h = self.held_mut(t);
        rec(&mut h.reconnect, micros(outage).max(1));
    }

    /// A held connection dropped at `t`: `cause` is a class's name or `reboot`.
    pub fn dropped(&mut self, t: Duration, cause: &str) {
        let h = self.held_mut(t);
        h.w.counts.drops += 1;
        match h.w.drops_by_cause.get_mut(cause) {
            Some(n) => *n += 1,
            None => {
                h.w.drops_by_cause.insert(cause.to_string(), 1);
            }
        }
    }

    /// A heartbeat intended at `t` left; `rtt`: its answer's round trip, when answered.
    pub fn heartbeat_sent(&mut self, t: Duration) {
        self.held_mut(t).w.counts.heartbeats += 1;
    }

    pub fn heartbeat_answered(&mut self, t: Duration, rtt: Duration) {
        let h = self.held_mut(t);
        h.w.counts.heartbeats_ok += 1;
        rec(&mut h.heartbeat, micros(rtt).max(1));
    }

    pub fn messages(&mut self, t: Duration, n: u64) {
        self.held_mut(t).w.counts.messages += n;
    }

    /// The gauges as of `t`: clients connected, and clients that should be online.
    pub fn set_held(&mut self, t: Duration, connected: u64, online: u64) {
        self.held = Some((connected, online));
        let h = self.held_mut(t);
        (h.w.connected, h.w.online) = (connected, online);
    }
}
