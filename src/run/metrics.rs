//! `--metrics-listen`: stampede's own figures in the Prometheus text format (0.0.4) at
//! `/metrics`, served on a task of its own while the run goes (bounded in connections
//! and time: `metrics_server.rs`). The engine never touches this: the figures are published from the progress snapshots (a few times a
//! second) and from each closed window, so the hot path takes no lock per request.
//!
//! Names follow Prometheus conventions: `stampede_` prefix, `_total` on counters, base
//! units (seconds). Counters of attempts and logins come from the snapshots (live);
//! outcomes by class, per-step results and the histograms from closed windows. A run
//! whose clients hold connections adds the families of `HELD_FAMILIES` (see `held`).

mod held;

pub use held::HELD_FAMILIES;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use hdrhistogram::Histogram;

use crate::engine::Snapshot;
use crate::profile::Slo;
use crate::record::{Counts, Window, merge, new_hist};

/// Upper bounds (seconds) of the latency histograms' buckets: from a healthy login's
/// milliseconds to the minutes a retry storm can pile up.
pub const BUCKETS_S: [f64; 16] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];

/// Every metric family served, with its type: what a dashboard may query (and, for a
/// connected population, `HELD_FAMILIES`).
pub const FAMILIES: [(&str, &str); 17] = [
    ("stampede_run_info", "gauge"),
    ("stampede_attempts_total", "counter"),
    ("stampede_first_attempts_total", "counter"),
    ("stampede_retries_total", "counter"),
    ("stampede_logins_total", "counter"),
    ("stampede_gave_up_total", "counter"),
    ("stampede_unstarted_total", "counter"),
    ("stampede_outcomes_total", "counter"),
    ("stampede_step_results_total", "counter"),
    ("stampede_windows_closed_total", "counter"),
    ("stampede_latency_seconds", "histogram"),
    ("stampede_service_seconds", "histogram"),
    ("stampede_send_lag_seconds", "histogram"),
    ("stampede_in_flight", "gauge"),
    ("stampede_locked_out", "gauge"),
    ("stampede_window_state", "gauge"),
    ("stampede_stopping", "gauge"),
];

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("--metrics-listen {addr}: cannot listen there: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
}

/// What the exporter publishes; updated under a lock a few times a second.
struct State {
    counts: Counts,
    in_flight: u64,
    locked_out: u64,
    stopping: bool,
    outcomes: BTreeMap<String, u64>,
    /// Step → (ok, failed).
    steps: BTreeMap<String, (u64, u64)>,
    latency: Histogram<u64>,
    service: Histogram<u64>,
    lag: Histogram<u64>,
    windows: u64,
    /// The index of the next window to add: a window is added once.
    next: u32,
    last_state: Option<&'static str>,
    slo: Slo,
    /// A connected population's figures, once the run is seen to hold connections.
    held: Option<held::HeldState>,
    /// `stampede_run_info`'s labels: profile, seed, shard, protocol.
    info: Option<[String; 4]>,
}

/// The metrics endpoint. Dropping it stops the server.
pub struct Exporter {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    server: tokio::task::AbortHandle,
}

impl std::fmt::Debug for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exporter").field("addr", &self.addr).finish()
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Exporter {
    /// Listens on `addr` (port 0: any free port, see [`Exporter::addr`]) and serves
    /// `/metrics` until dropped.
    pub async fn bind(addr: SocketAddr) -> Result<Exporter, MetricsError> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| MetricsError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| MetricsError::Bind { addr, source })?;
        let state = Arc::new(Mutex::new(State {
            counts: Counts::default(),
            in_flight: 0,
            locked_out: 0,
            stopping: false,
            outcomes: BTreeMap::new(),
            steps: BTreeMap::new(),
            latency: new_hist(),
            service: new_hist(),
            lag: new_hist(),
            windows: 0,
            next: 0,
            last_state: None,
            slo: Slo::default(),
            held: None,
            info: None,
        }));
        let shared = state.clone();
        let render_now = Arc::new(move || render(&shared.lock().unwrap_or_else(|e| e.into_inner())));
        // Nothing to hand an error to once the run is under way: the endpoint goes away
        // and the scraper says so.
        let server = tokio::spawn(super::metrics_server::serve(
            listener,
            render_now,
            super::metrics_server::Limits::default(),
        ))
        .abort_handle();
        Ok(Exporter { addr, state, server })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.state.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The SLO a window's state is judged against (the profile's, as written).
    pub fn set_slo(&self, slo: &Slo) {
        self.with(|s| s.slo = *slo);
    }

    /// What `stampede_run_info` names: the profile, the seed, and the shard as
    /// `I/N` (1-based; `1/1` for a whole run), so that a dashboard can tell runs and
    /// the shards of one run apart; and the protocol the flows speak (`http/1.1`,
    /// `h2`, `h2c`).
    pub fn set_info(&self, profile: &str, seed: u64, shard: crate::plan::Part, protocol: &str) {
        let shard = format!("{}/{}", shard.index + 1, shard.count);
        self.with(|s| s.info = Some([profile.to_string(), seed.to_string(), shard, protocol.to_string()]));
    }

    /// The protocol that runs, once the transport knows it (`auto` over https settles
    /// on `h2` or `http/1.1` by a handshake before the run; until then the label is
    /// the profile's).
    pub fn set_protocol(&self, protocol: &str) {
        self.with(|s| {
            if let Some(info) = &mut s.info {
                info[3] = protocol.to_string();
            }
        });
    }

    pub fn update(&self, snap: &Snapshot) {
        self.with(|s| {
            s.counts = snap.counts;
            s.in_flight = snap.in_flight;
            s.locked_out = snap.locked_out;
            s.stopping = snap.stopping;
            if let Some(g) = snap.held {
                s.held.get_or_insert_with(held::HeldState::new).gauge(g);
            }
        });
    }

    pub fn window(&self, w: &Window) {
        if self.with(|s| w.index < s.next) {
            return;
        }
        // Decoded outside the lock; a histogram that does not decode is left out here
        // and reported by the end-of-run merge.
        let hists = [&w.latency_ms, &w.service_ms, &w.send_lag_ms].map(|h| merge([h]).ok());
        let held = w.held.as_ref().map(|h| (h, held::HeldState::decode(h)));
        self.with(|s| {
            if let Some((h, hists)) = held {
                s.held.get_or_insert_with(held::HeldState::new).window(h, hists);
            }
            for (k, v) in &w.outcomes {
                *s.outcomes.entry(k.clone()).or_default() += v;
            }
            for st in &w.steps {
                let e = s.steps.entry(st.name.clone()).or_default();
                e.0 += st.ok;
                e.1 += st.failed;
            }
            let [lat, svc, lag] = hists;
            for (into, h) in [(&mut s.latency, lat), (&mut s.service, svc), (&mut s.lag, lag)] {
                if let Some(h) = h {
                    let _ = into.add(&h);
                }
            }
            s.windows += 1;
            s.next = w.index + 1;
            s.last_state = Some(judge(w, &s.slo));
        });
    }

    /// The run's end: the windows that closed as it ended are added, and the counters
    /// become the report's (the last snapshot may predate the drain).
    pub fn finish(&self, windows: &[Window]) {
        for w in windows {
            self.window(w);
        }
        let mut total = Counts::default();
        for w in windows {
            total += &w.counts;
        }
        let gauge = windows
            .last()
            .and_then(|w| w.held.as_ref())
            .map(|h| crate::engine::HeldGauge {
                connected: h.connected,
                online: h.online,
            });
        self.with(|s| {
            s.counts = total;
            s.in_flight = 0;
            if let (Some(h), Some(g)) = (&mut s.held, gauge) {
                h.gauge(g);
            }
        });
    }

    /// The exposition text as `/metrics` serves it now.
    pub fn render(&self) -> String {
        render(&self.state.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// A window's state against the profile's SLO as written (a connected population's on
/// its connected share, see `held::judge`): unjudged with too few completed logins or
/// without an SLO (the report's analysis may derive one from the
/// baseline afterwards; live there is no baseline to lean on yet).
fn judge(w: &Window, slo: &Slo) -> &'static str {
    if let (Some(least), Some(h)) = (slo.connected, &w.held) {
        return held::judge(w, h, least, slo);
    }
    let done = w.counts.logins_ok + w.counts.logins_failed;
    if w.counts.generator_failed > 0 || done < slo.min_requests || (slo.success_rate.is_none() && slo.p99.is_none()) {
        return "unjudged";
    }
    let ok_rate = slo
        .success_rate
        .is_none_or(|r| w.success_rate().is_some_and(|x| x >= r));
    let ok_p99 = slo.p99.is_none_or(|p| w.latency_ms.p99 <= p.as_secs_f64() * 1000.0);
    if ok_rate && ok_p99 { "healthy" } else { "unhealthy" }
}

fn help(name: &str) -> &'static str {
    match name {
        "stampede_attempts_total" => "Login attempts sent (first attempts and retries).",
        "stampede_first_attempts_total" => "Attempts that began a client's login.",
        "stampede_retries_total" => "Attempts that retried a failed one.",
        "stampede_logins_total" => "Logins completed, by result (ok, failed).",
        "stampede_gave_up_total" => "Clients that gave up logging in.",
        "stampede_unstarted_total" => "Attempts the engine could not start (in-flight ceiling).",
        "stampede_outcomes_total" => "Attempt outcomes by class, from closed windows.",
        "stampede_step_results_total" => "Flow step results by step and result, from closed windows.",
        "stampede_windows_closed_total" => "Windows closed so far.",
        "stampede_latency_seconds" => "Login latency from the intended instant (what users feel), closed windows.",
        "stampede_service_seconds" => "Login latency from the actual send (service time), closed windows.",
        "stampede_send_lag_seconds" => "Actual send minus intended instant, closed windows.",
        "stampede_in_flight" => "Attempts in flight now.",
        "stampede_locked_out" => "Clients that want to log in and are not logged in.",
        "stampede_window_state" => "1 for the last closed window's state against the SLO, 0 for the others.",
        "stampede_run_info" => {
            "1, labelled with the run's profile, seed, shard (I/N) and protocol (http/1.1, h2, h2c)."
        }
        _ => "1 while the run drains (no new attempts).",
    }
}

/// A label value escaped as the text format wants it.
fn esc(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn render(s: &State) -> String {
    let mut t = String::new();
    for (name, kind) in FAMILIES {
        let _ = writeln!(t, "# HELP {name} {}\n# TYPE {name} {kind}", help(name));
        let c = &s.counts;
        let mut line = |labels: &str, v: f64| {
            let _ = writeln!(t, "{name}{labels} {v}");
        };
        match name {
            "stampede_attempts_total" => line("", c.attempts as f64),
            "stampede_first_attempts_total" => line("", c.first_attempts as f64),
            "stampede_retries_total" => line("", c.retries as f64),
            "stampede_logins_total" => {
                line("{result=\"ok\"}", c.logins_ok as f64);
                line("{result=\"failed\"}", c.logins_failed as f64);
            }
            "stampede_gave_up_total" => line("", c.gave_up as f64),
            "stampede_unstarted_total" => line("", c.unstarted as f64),
            "stampede_outcomes_total" => {
                for (class, n) in &s.outcomes {
                    line(&format!("{{class=\"{}\"}}", esc(class)), *n as f64);
                }
            }
            "stampede_step_results_total" => {
                for (step, (ok, failed)) in &s.steps {
                    line(&format!("{{step=\"{}\",result=\"ok\"}}", esc(step)), *ok as f64);
                    line(&format!("{{step=\"{}\",result=\"failed\"}}", esc(step)), *failed as f64);
                }
            }
            "stampede_windows_closed_total" => line("", s.windows as f64),
            "stampede_run_info" => {
                if let Some([profile, seed, shard, protocol]) = &s.info {
                    let labels = format!(
                        "{{profile=\"{}\",seed=\"{seed}\",shard=\"{shard}\",protocol=\"{protocol}\"}}",
                        esc(profile)
                    );
                    line(&labels, 1.0);
                }
            }
            "stampede_in_flight" => line("", s.in_flight as f64),
            "stampede_locked_out" => line("", s.locked_out as f64),
            "stampede_stopping" => line("", u8::from(s.stopping) as f64),
            "stampede_window_state" => {
                for state in ["healthy", "unhealthy", "unjudged"] {
                    let on = s.last_state.unwrap_or("unjudged") == state;
                    line(&format!("{{state=\"{state}\"}}"), u8::from(on) as f64);
                }
            }
            _ => histogram(
                &mut t,
                name,
                match name {
                    "stampede_latency_seconds" => &s.latency,
                    "stampede_service_seconds" => &s.service,
                    _ => &s.lag,
                },
            ),
        }
    }
    if let Some(h) = &s.held {
        h.render(&mut t);
    }
    t
}

/// A histogram in microseconds as cumulative buckets in seconds, `_sum` and `_count`.
/// The sum is the HdrHistogram's mean × count (exact to its 0.1 % resolution).
fn histogram(t: &mut String, name: &str, h: &Histogram<u64>) {
    for le in BUCKETS_S {
        let below = if h.is_empty() {
            0
        } else {
            h.count_between(0, (le * 1e6) as u64)
        };
        let _ = writeln!(t, "{name}_bucket{{le=\"{le}\"}} {below}");
    }
    let _ = writeln!(t, "{name}_bucket{{le=\"+Inf\"}} {}", h.len());
    let sum = if h.is_empty() {
        0.0
    } else {
        h.mean() * h.len() as f64 / 1e6
    };
    let _ = writeln!(t, "{name}_sum {sum}\n{name}_count {}", h.len());
}
