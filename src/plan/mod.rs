//! The plan: who reboots when and when each first login is due. A pure function of
//! the profile and its seed; it knows nothing of tokio and is tested without a clock.

mod arrivals;
mod order;
mod part;

use std::time::Duration;

pub use part::{Part, PartError};

use crate::profile::{PlanSize, Profile, StormSource, limits};
use crate::rng::{Stream, unit, unit_open};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventKind {
    /// The client goes down (its session ends; `on_reboot` requests are sent).
    Reboot,
    /// The client wants to log in: its first attempt is due.
    Login,
}

/// One planned event. 16 bytes: the plan of ten million clients fits in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    /// Microseconds from the run's start.
    pub at_us: u64,
    pub client: u32,
    pub kind: EventKind,
}

impl Event {
    pub fn at(&self) -> Duration {
        Duration::from_micros(self.at_us)
    }
}

#[derive(Debug, Clone)]
pub struct Plan {
    /// Ordered by time (then client, then kind).
    pub events: Vec<Event>,
    /// End of the baseline: the earliest instant a storm reboot can happen.
    pub trigger_start: Duration,
    /// When the storm's last first login is due (the trigger's start if there is no storm).
    pub storm_end: Duration,
    /// When the run stops sending new work.
    pub end: Duration,
    /// Clients of the storm: ids 0..storm_clients.
    pub storm_clients: u32,
    /// Background clients: ids from `background_first` upwards.
    pub background_first: u32,
    pub background_clients: u32,
    /// The confirmation probe's background logins (`observe.confirm`), times as if it
    /// began at `end`; the engine shifts them to when it does begin. Empty without a probe.
    pub probe: Vec<Event>,
    /// Their clients: ids from `background_first + background_clients` upwards.
    pub probe_clients: u32,
}

/// Wave sizes from their shares of `simulated`: none below zero, adding up to
/// round(Σ share × simulated) and never above `simulated`. Largest remainder: each wave
/// gets its quota rounded down, and the clients left go to the waves whose quotas lost
/// most to that rounding (the earlier wave on a tie). Rounding each wave on its own
/// gave 2 + 2 + 0 for 50 %, 50 %, 0 % of 3, and trimming the excess off the last wave
/// wrapped it below zero.
fn apportion(shares: &[f64], simulated: u32) -> Vec<u32> {
    let n = simulated as f64;
    let mut quotas: Vec<f64> = shares.iter().map(|s| s.clamp(0.0, 1.0) * n).collect();
    let sum: f64 = quotas.iter().sum();
    if sum > n {
        // Validation allows shares to add up to 1 + 1e-9; never more clients than exist.
        quotas.iter_mut().for_each(|q| *q *= n / sum);
    }
    let total = (quotas.iter().sum::<f64>().round() as u64).min(simulated as u64);
    let mut sizes: Vec<u64> = quotas.iter().map(|q| q.floor() as u64).collect();
    let mut order: Vec<usize> = (0..quotas.len()).collect();
    order.sort_by(|&a, &b| {
        let lost = |i: usize| quotas[i] - quotas[i].floor();
        lost(b).total_cmp(&lost(a)).then(a.cmp(&b))
    });
    let given: u64 = sizes.iter().sum();
    for &i in order.iter().cycle().take(total.saturating_sub(given) as usize) {
        sizes[i] += 1;
    }
    sizes.into_iter().map(|s| s as u32).collect()
}

fn micros(secs: f64) -> u64 {
    (secs.max(0.0) * 1e6).round() as u64
}

/// The storm's reboots and first logins, pushed into `events`; returns how many storm
/// clients there are (ids 0..n).
fn storm(p: &Profile, events: &mut Events) -> u32 {
    let seed = p.seed;
    let scale = p.time_scale;
    let trigger_us = p.baseline.duration.as_micros() as u64;
    let wants_reboots = !p.client.on_reboot.is_empty() || p.client.session.is_some();
    let push = |events: &mut Events, client: u32, reboot_s: f64| -> bool {
        let reboot = trigger_us + micros(reboot_s / scale);
        let down = p.storm.downtime.sample(
            unit_open(seed, Stream::Downtime, client as u64, 0),
            unit_open(seed, Stream::Downtime, client as u64, 1),
        );
        let room = !wants_reboots
            || events.push(Event {
                at_us: reboot,
                client,
                kind: EventKind::Reboot,
            });
        room && events.push(Event {
            at_us: reboot.saturating_add(micros(down / scale)),
            client,
            kind: EventKind::Login,
        })
    };
    let mut next_id: u32 = 0;
    match &p.storm.source {
        StormSource::Waves(waves) => {
            let origin = storm_origin(&p.storm);
            let shares: Vec<f64> = waves.iter().map(|w| w.share.0).collect();
            let sizes = apportion(&shares, p.population.simulated);
            for (w, n) in waves.iter().zip(sizes) {
                for _ in 0..n {
                    let c = next_id;
                    let s = w.spread.sample(
                        unit_open(seed, Stream::Spread, c as u64, 0),
                        unit_open(seed, Stream::Spread, c as u64, 1),
                    );
                    if !push(events, c, w.at.as_secs_f64() + s - origin) {
                        return next_id;
                    }
                    next_id += 1;
                }
            }
        }
        StormSource::Trace { events: rows, .. } => {
            let origin = storm_origin(&p.storm);
            for (row, (t, n)) in rows.iter().enumerate() {
                // Stochastic rounding keeps the expected count exact when a row stands
                // for a fraction of a virtual client.
                let whole = n.floor();
                let extra = (unit(seed, Stream::TraceRound, row as u64, 0) < n - whole) as u64;
                for _ in 0..(whole as u64 + extra) {
                    let c = next_id;
                    if !push(events, c, t.as_secs_f64() - origin) {
                        return next_id;
                    }
                    next_id += 1;
                }
            }
        }
        StormSource::None => {}
    }
    next_id
}

/// The modelled instant the trigger stands for: the earliest instant any wave can
/// reboot a client, or a trace's first row; 0 without a storm. A modelled `at` (a
/// wave's, an action's) is run time `trigger + (at - origin) / time_scale`.
pub fn storm_origin(storm: &crate::profile::Storm) -> f64 {
    let origin = match &storm.source {
        StormSource::Waves(waves) => waves
            .iter()
            .map(|w| w.at.as_secs_f64() + w.spread.range().0)
            .fold(f64::INFINITY, f64::min),
        StormSource::Trace { events, .. } => events
            .iter()
            .map(|(t, _)| t.as_secs_f64())
            .fold(f64::INFINITY, f64::min),
        StormSource::None => 0.0,
    };
    if origin.is_finite() { origin } else { 0.0 }
}

/// When the run stops sending new work. With a confirmation probe, rounded up to a
/// whole window: the probe's windows then hold none of the plan's attempts, and the
/// windows the engine decides on at the plan's end are the ones the report judges.
fn plan_end(end: Duration, p: &Profile) -> Duration {
    if p.observe.confirm.is_none() {
        return end;
    }
    let w = p.observe.window.as_micros().max(1);
    let us = end.as_micros().div_ceil(w) * w;
    Duration::from_micros(us.min(u64::MAX as u128) as u64)
}

/// The plan's events as they are generated, never more than `cap`.
struct Events {
    v: Vec<Event>,
    cap: usize,
}

impl Events {
    /// False once the cap is reached: generation stops there.
    fn push(&mut self, e: Event) -> bool {
        let room = self.v.len() < self.cap;
        if room {
            self.v.push(e);
        }
        room
    }
}

impl Plan {
    /// The plan of a validated profile. Validation refuses a profile whose plan would
    /// exceed `limits::MAX_EVENTS`; on a profile that skipped it, the plan stops at
    /// `limits::HARD_EVENTS` (800 MB) rather than exhausting memory.
    pub fn new(p: &Profile) -> Plan {
        Plan::capped(p, limits::HARD_EVENTS as usize)
    }

    fn capped(p: &Profile, cap: usize) -> Plan {
        let size = PlanSize::of(p);
        // Reserved once: growth by doubling would peak at 1.5× the final plan. The
        // Poisson count is over its mean by 6 sd once in a billion plans.
        let expect = size.storm_events() as f64 + size.background + 6.0 * size.background.sqrt() + 16.0;
        let mut events = Events {
            v: Vec::with_capacity((expect.min(cap as f64)) as usize),
            cap,
        };
        let trigger = p.baseline.duration;
        let storm_clients = storm(p, &mut events);
        let storm_events = events.v.len();
        let storm_end = events
            .v
            .iter()
            .filter(|e| e.kind == EventKind::Login)
            .map(|e| e.at())
            .max()
            .unwrap_or(trigger)
            .max(trigger);
        let end = plan_end(storm_end + p.observe.after_storm, p);
        let probe_end = end + p.observe.confirm.unwrap_or(Duration::ZERO);
        // Background logins over the whole run, from clients who are not part of the
        // simulated population's initial sessions; those due after the plan's end are
        // the probe's, sent only if it runs (the same draws: the run's are unchanged).
        let background_first = storm_clients.max(p.population.simulated);
        let mut background = 0u32;
        let mut probe = Vec::new();
        let b = &p.baseline;
        let end_s = end.as_secs_f64();
        for t in arrivals::instants(p.seed, b.rate.per_sec(), b.arrivals, probe_end.as_secs_f64()) {
            let Some(client) = background_first.checked_add(background + probe.len() as u32) else {
                break;
            };
            let e = Event {
                at_us: micros(t),
                client,
                kind: EventKind::Login,
            };
            if t >= end_s {
                if events.v.len() + probe.len() >= events.cap {
                    break;
                }
                probe.push(e);
                continue;
            }
            if !events.push(e) {
                break;
            }
            background += 1;
        }
        let mut events = events.v;
        order::order(&mut events, storm_events);
        Plan {
            events,
            trigger_start: trigger,
            storm_end,
            end,
            storm_clients,
            background_first,
            background_clients: background,
            probe_clients: probe.len() as u32,
            probe,
        }
    }

    pub fn first_logins(&self) -> u64 {
        self.events.iter().filter(|e| e.kind == EventKind::Login).count() as u64
    }

    /// First logins due per window of `window`, from 0 to the plan's end.
    pub fn logins_per_window(&self, window: Duration) -> Vec<u64> {
        let w = window.as_micros() as u64;
        let n = self.end.as_micros() as u64 / w + 1;
        let mut out = vec![0u64; n as usize];
        for e in self.events.iter().filter(|e| e.kind == EventKind::Login) {
            let i = (e.at_us / w) as usize;
            if i < out.len() {
                out[i] += 1;
            }
        }
        out
    }

    /// A copy holding only the events of the clients `part` owns: client ids are dealt
    /// round-robin, so every part's storm has the same shape.
    pub fn part(&self, part: Part) -> Plan {
        let mine = |v: &[Event]| v.iter().filter(|e| part.owns(e.client)).copied().collect();
        Plan {
            events: mine(&self.events),
            probe: mine(&self.probe),
            ..*self
        }
    }
}

#[cfg(test)]
mod tests;
