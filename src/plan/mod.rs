//! The plan: who reboots when and when each first login is due. A pure function of
//! the profile and its seed; it knows nothing of tokio and is tested without a clock.

mod part;

use std::time::Duration;

pub use part::{Part, PartError};

use crate::profile::{Profile, StormSource};
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

impl Plan {
    pub fn new(p: &Profile) -> Plan {
        let seed = p.seed;
        let scale = p.time_scale;
        let trigger = p.baseline.duration;
        let trigger_us = trigger.as_micros() as u64;
        let wants_reboots = !p.client.on_reboot.is_empty() || p.client.session.is_some();
        let mut events = Vec::new();
        let mut next_id: u32 = 0;
        let push = |events: &mut Vec<Event>, client: u32, reboot_s: f64| {
            let reboot = trigger_us + micros(reboot_s / scale);
            let down = p.storm.downtime.sample(
                unit_open(seed, Stream::Downtime, client as u64, 0),
                unit_open(seed, Stream::Downtime, client as u64, 1),
            );
            if wants_reboots {
                events.push(Event {
                    at_us: reboot,
                    client,
                    kind: EventKind::Reboot,
                });
            }
            events.push(Event {
                at_us: reboot + micros(down / scale),
                client,
                kind: EventKind::Login,
            });
        };
        match &p.storm.source {
            StormSource::Waves(waves) => {
                // The trigger is the earliest instant any wave can reboot a client.
                let origin = waves
                    .iter()
                    .map(|w| w.at.as_secs_f64() + w.spread.range().0)
                    .fold(f64::INFINITY, f64::min);
                let shares: Vec<f64> = waves.iter().map(|w| w.share.0).collect();
                let sizes = apportion(&shares, p.population.simulated);
                for (w, n) in waves.iter().zip(sizes) {
                    for _ in 0..n {
                        let c = next_id;
                        next_id += 1;
                        let s = w.spread.sample(
                            unit_open(seed, Stream::Spread, c as u64, 0),
                            unit_open(seed, Stream::Spread, c as u64, 1),
                        );
                        push(&mut events, c, w.at.as_secs_f64() + s - origin);
                    }
                }
            }
            StormSource::Trace { events: rows, .. } => {
                let origin = rows.iter().map(|(t, _)| t.as_secs_f64()).fold(f64::INFINITY, f64::min);
                for (row, (t, n)) in rows.iter().enumerate() {
                    // Stochastic rounding keeps the expected count exact when a row stands
                    // for a fraction of a virtual client.
                    let whole = n.floor();
                    let extra = (unit(seed, Stream::TraceRound, row as u64, 0) < n - whole) as u32;
                    for _ in 0..(whole as u32 + extra) {
                        let c = next_id;
                        next_id += 1;
                        push(&mut events, c, t.as_secs_f64() - origin);
                    }
                }
            }
            StormSource::None => {}
        }
        let storm_clients = next_id;
        let storm_end = events
            .iter()
            .filter(|e| e.kind == EventKind::Login)
            .map(|e| e.at())
            .max()
            .unwrap_or(trigger)
            .max(trigger);
        let end = storm_end + p.observe.after_storm;
        // Background logins: a Poisson process over the whole run, from clients who are
        // not part of the simulated population's initial sessions.
        let background_first = storm_clients.max(p.population.simulated);
        let rate = p.baseline.rate.per_sec();
        let mut background = 0u32;
        if rate > 0.0 {
            let mut t = 0.0;
            let end_s = end.as_secs_f64();
            loop {
                t += -unit_open(seed, Stream::Background, background as u64, 0).ln() / rate;
                if t >= end_s {
                    break;
                }
                events.push(Event {
                    at_us: micros(t),
                    client: background_first + background,
                    kind: EventKind::Login,
                });
                background += 1;
            }
        }
        events.sort_unstable_by_key(|e| (e.at_us, e.client, e.kind));
        Plan {
            events,
            trigger_start: trigger,
            storm_end,
            end,
            storm_clients,
            background_first,
            background_clients: background,
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
        Plan {
            events: self.events.iter().filter(|e| part.owns(e.client)).copied().collect(),
            ..*self
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn profile(storm: &str) -> Profile {
        let text = format!(
            "name: t\nseed: 3\ntarget: {{ nodes: [http://127.0.0.1:1] }}\npopulation: {{ clients: 10000, simulate: 1000 }}\ntime_scale: 60\nbaseline: {{ duration: 10s, rate: 20/s }}\n{storm}\nclient:\n  login: [ {{ request: POST /login }} ]\nobserve: {{ until_recovered: 30s }}\n"
        );
        crate::profile::parse(&text, Path::new("t.yaml"), &|_| None).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn same_seed_same_plan_and_ordered() {
        let p = profile(
            "storm: { waves: [ { at: 0s, share: 50%, spread: normal(sd 5m) } ], downtime: 'uniform(30s, 2m)' }",
        );
        let a = Plan::new(&p);
        let b = Plan::new(&p);
        assert_eq!(a.events, b.events);
        assert!(a.events.windows(2).all(|w| w[0].at_us <= w[1].at_us));
        let mut other = p.clone();
        other.seed = 4;
        assert_ne!(Plan::new(&other).events, a.events);
    }

    #[test]
    fn waves_give_their_share_in_the_scaled_window() {
        let p = profile(
            "storm: { waves: [ { at: 0s, share: 30%, spread: uniform(10m) }, { at: 20m, share: 20%, spread: spike } ], downtime: 1m }",
        );
        let plan = Plan::new(&p);
        assert_eq!(plan.storm_clients, 500);
        let storm: Vec<&Event> = plan.events.iter().filter(|e| e.client < plan.storm_clients).collect();
        assert_eq!(storm.len(), 500);
        // Scale 60: wave 1 spans 10 s of run time after the trigger (10 s) plus 1 s downtime.
        for e in &storm {
            let t = e.at().as_secs_f64();
            if e.client < 300 {
                assert!((11.0..=21.0).contains(&t), "wave 1 at {t}");
            } else {
                assert!((t - 31.0).abs() < 1e-6, "wave 2 at {t}");
            }
        }
        assert!((plan.storm_end.as_secs_f64() - 31.0).abs() < 1e-6);
        assert_eq!(plan.end, plan.storm_end + Duration::from_secs(30));
    }

    #[test]
    fn background_is_poisson_at_the_rate() {
        let p = profile("");
        let plan = Plan::new(&p);
        assert_eq!(plan.storm_clients, 0);
        // 20/s over 40 s: 800 expected; Poisson sd ≈ 28.
        let n = plan.background_clients as f64;
        assert!((n - 800.0).abs() < 120.0, "{n}");
        assert!(plan.events.iter().all(|e| e.client >= plan.background_first));
    }

    #[test]
    fn shards_partition_the_plan() {
        let p = profile("storm: { waves: [ { at: 0s, share: 100%, spread: uniform(1m) } ] }");
        let full = Plan::new(&p);
        let parts: Vec<Plan> = (0..3)
            .map(|i| Plan::new(&p).part(Part { index: i, count: 3 }))
            .collect();
        let total: usize = parts.iter().map(|s| s.events.len()).sum();
        assert_eq!(total, full.events.len());
        assert!(parts.iter().all(|s| s.events.len() > full.events.len() / 4));
    }

    #[test]
    fn apportion_gives_the_rounded_total_by_largest_remainder() {
        let cases: &[(&[f64], u32, &[u32])] = &[
            (&[0.5, 0.5, 0.0], 3, &[2, 1, 0]),
            (&[0.35, 0.40], 50_000, &[17_500, 20_000]),
            (&[1.0 / 3.0; 3], 10, &[4, 3, 3]),
            (&[0.25, 0.25, 0.25, 0.25], 3, &[1, 1, 1, 0]),
            (&[0.1, 0.2], 0, &[0, 0]),
            (&[0.5, 0.5 + 1e-9], u32::MAX, &[2_147_483_645, 2_147_483_650]),
            (&[0.0, 0.0], 7, &[0, 0]),
            (&[], 7, &[]),
        ];
        for (shares, n, want) in cases {
            let got = apportion(shares, *n);
            assert_eq!(&got, want, "{shares:?} of {n}");
            let total: u64 = got.iter().map(|&s| s as u64).sum();
            assert!(total <= *n as u64);
        }
    }

    #[test]
    fn wave_sizes_never_wrap_and_add_up_to_the_rounded_total() {
        let text = "name: t\ntarget: { nodes: [http://127.0.0.1:1] }\npopulation: { clients: 3, simulate: 3 }\nstorm: { waves: [ { share: 50% }, { share: 50% }, { share: 0% } ] }\nclient:\n  login: [ { request: POST /login } ]\n";
        let p = crate::profile::parse(text, Path::new("t.yaml"), &|_| None).unwrap_or_else(|e| panic!("{e}"));
        let plan = std::panic::catch_unwind(|| Plan::new(&p)).expect("no overflow");
        assert_eq!(plan.storm_clients, 3);
    }
}
