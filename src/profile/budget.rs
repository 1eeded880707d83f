//! How big a profile's plan will be, computed from the profile alone before anything
//! is generated: validation refuses a plan beyond the limits (`limits::MAX_EVENTS`,
//! `limits::MAX_WINDOWS`) with the figure and the field that drives it, and the plan
//! reserves its memory from it once.

use std::time::Duration;

use super::limits;
use super::spec::{Profile, Storm, StormSource};

/// Upper bounds on a plan's size (the background is its expectation: a Poisson count).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlanSize {
    /// Storm clients: each has a first login, and a reboot when `reboots`.
    pub storm_clients: u64,
    /// Whether every storm client also has a reboot event (sessions or `on_reboot`).
    pub reboots: bool,
    /// Background logins expected over the run (baseline.rate × run).
    pub background: f64,
    /// The longest the run can last: baseline + the storm compressed + observation +
    /// the confirmation probe (background logins go on in it).
    pub run: Duration,
    /// Windows of `observe.window` from 0 to the run's end.
    pub windows: u64,
}

impl PlanSize {
    pub fn of(p: &Profile) -> PlanSize {
        let storm_clients = match &p.storm.source {
            StormSource::Waves(waves) => {
                let sim = p.population.simulated as f64;
                let share: f64 = waves.iter().map(|w| w.share.0.clamp(0.0, 1.0)).sum();
                (share.min(1.0) * sim).round() as u64
            }
            // Stochastic rounding gives a row of n clients ⌊n⌋ or ⌈n⌉ of them.
            StormSource::Trace { events, .. } => events.iter().map(|(_, n)| n.max(0.0).ceil() as u64).sum(),
            StormSource::None => 0,
        };
        let storm_s = storm_span(&p.storm).unwrap_or(0.0) / p.time_scale;
        // A probe rounds the plan's end up to a window and runs for at most its length.
        let probe_s = p
            .observe
            .confirm
            .map_or(0.0, |c| c.as_secs_f64() + p.observe.window.as_secs_f64());
        let run_s = p.baseline.duration.as_secs_f64() + storm_s + p.observe.after_storm.as_secs_f64() + probe_s;
        // A rounding microsecond per event time; saturating: an unchecked profile may hold anything.
        let run = Duration::try_from_secs_f64(run_s + 1e-6).unwrap_or(Duration::MAX);
        let window = p.observe.window.as_micros().max(1);
        let windows = (run.as_micros() / window + 1).min(u64::MAX as u128) as u64;
        let rate = p.baseline.rate.per_sec();
        PlanSize {
            storm_clients,
            reboots: !p.client.on_reboot.is_empty() || p.client.session.is_some(),
            background: if rate > 0.0 { rate * run_s + 1.0 } else { 0.0 },
            run,
            windows,
        }
    }

    /// An upper bound on the client ids a plan of this profile gives out (simulated,
    /// storm and background clients, the probe's included): a data file's rows beyond
    /// it are never taken. The background's count is its expectation plus six standard
    /// deviations, the plan's own reservation.
    pub fn client_ids(&self, simulated: u32) -> u64 {
        let background = self.background + 6.0 * self.background.sqrt() + 16.0;
        self.storm_clients
            .max(u64::from(simulated))
            .saturating_add(background.min(limits::HARD_EVENTS as f64) as u64)
    }

    /// Events of the storm: a first login per client, and a reboot each when they reboot.
    pub fn storm_events(&self) -> u64 {
        self.storm_clients.saturating_mul(1 + self.reboots as u64)
    }

    /// Every event the plan is expected to hold.
    pub fn events(&self) -> f64 {
        self.storm_events() as f64 + self.background
    }

    /// Memory the plan (16 bytes an event) and the run's closed windows take, in bytes.
    pub fn bytes(&self) -> f64 {
        self.events() * 16.0 + self.windows as f64 * limits::WINDOW_BYTES as f64
    }

    /// Within every limit.
    pub fn fits(&self) -> bool {
        self.events() <= limits::MAX_EVENTS as f64 && self.windows <= limits::MAX_WINDOWS
    }
}

/// The storm's span in modelled seconds, from its earliest reboot to its latest first
/// login (the longest downtime included); None without a storm.
pub fn storm_span(storm: &Storm) -> Option<f64> {
    let (first, last) = match &storm.source {
        StormSource::Waves(waves) => waves
            .iter()
            .map(|w| {
                let (lo, hi) = w.spread.range();
                (w.at.as_secs_f64() + lo, w.at.as_secs_f64() + hi)
            })
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), (lo, hi)| {
                (a.min(lo), b.max(hi))
            }),
        StormSource::Trace { events, .. } => events
            .iter()
            .map(|(t, _)| t.as_secs_f64())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), t| (a.min(t), b.max(t))),
        StormSource::None => return None,
    };
    (first <= last).then(|| last - first + storm.downtime.range().1.max(0.0))
}

/// A count as people read it: `237,545,889` (one implementation, in `units`).
pub use crate::units::thousands as grouped;
