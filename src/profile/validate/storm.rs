//! `population:` and `storm:`: how many clients, and who reboots when (waves or a
//! recorded trace), with the downtime before each first login.

use std::time::Duration;

use super::Validator;
use crate::profile::budget::storm_span;
use crate::profile::file::read_text;
use crate::profile::spec::{Population, Storm, StormSource, Warmup, Wave};
use crate::profile::{Dist, parse_trace};
use crate::profile::{limits, raw};
use crate::units::{Dur, Share};

/// What a trace's counts stand for: real clients of the modelled population (scaled
/// down by the population's weight) or virtual clients as driven.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumString, strum::VariantNames)]
#[strum(serialize_all = "kebab-case")]
enum TraceCounts {
    Modelled,
    Simulated,
}

impl Validator<'_> {
    pub(super) fn population(&mut self, raw: Option<&raw::RawPopulation>) -> Population {
        let p = raw.cloned().unwrap_or_default();
        let simulated = self.value("population.simulate", &p.simulate, 1000u32);
        let modelled = self.value("population.clients", &p.clients, simulated as u64);
        if simulated > limits::SIMULATED {
            self.err(
                "population.simulate",
                format!(
                    "{simulated} virtual clients: at most {} (each has its own state in the engine); population.clients may be as large as you like",
                    limits::SIMULATED
                ),
            );
            return Population {
                modelled,
                simulated: 0,
                warmup: Warmup::default(),
            };
        }
        if (modelled as f64) < simulated as f64 {
            self.err(
                "population.simulate",
                format!("drives more virtual clients ({simulated}) than the population it models ({modelled})"),
            );
        }
        let warmup = self.warmup(p.warmup.as_ref());
        Population {
            modelled,
            simulated,
            warmup,
        }
    }

    /// `population.warmup`: on by default at [`Warmup::DEFAULT_RATE`]; a rate above zero
    /// and at most [`limits::WARMUP_RATE`] (a typo of a few zeros would storm the target
    /// before the storm).
    fn warmup(&mut self, raw: Option<&raw::RawWarmup>) -> Warmup {
        let w = raw.cloned().unwrap_or_default();
        let enabled = self.value("population.warmup.enabled", &w.enabled, true);
        let rate = self.unit("population.warmup.rate", &w.rate, Warmup::DEFAULT_RATE);
        if !(rate.0 > 0.0 && rate.0 <= limits::WARMUP_RATE) {
            self.err(
                "population.warmup.rate",
                format!(
                    "must be above 0/s and at most {}/s (warm-up logins per second; `enabled: false` turns the warm-up off)",
                    limits::WARMUP_RATE
                ),
            );
        }
        Warmup { enabled, rate }
    }

    pub(super) fn storm(&mut self, raw: Option<&raw::RawStorm>, pop: &Population) -> Storm {
        let s = raw.cloned().unwrap_or_default();
        let downtime = self.unit("storm.downtime", &s.downtime, Dist::Fixed(0.0));
        if downtime.range().0 < 0.0 {
            self.err(
                "storm.downtime",
                "can be negative: a client cannot log in before it reboots",
            );
        }
        let source = match (&s.waves, &s.trace) {
            (Some(_), Some(_)) => {
                self.err("storm.trace", "give either `waves` or `trace`, not both");
                StormSource::None
            }
            (Some(waves), None) => self.waves(waves),
            (None, Some(trace)) => self.trace(trace, pop),
            (None, None) => StormSource::None,
        };
        let actions = self.actions(s.actions.as_ref());
        Storm {
            source,
            downtime,
            actions,
        }
    }

    fn waves(&mut self, waves: &[raw::RawWave]) -> StormSource {
        let mut out = Vec::new();
        let mut total = 0.0;
        for (i, w) in waves.iter().enumerate() {
            let f = |k: &str| format!("storm.waves[{i}].{k}");
            if w.share.is_none() {
                self.err(
                    &f("share"),
                    "missing: the share of the population that reboots in this wave, e.g. 35%",
                );
            }
            let wave = Wave {
                name: w.name.clone().unwrap_or_else(|| format!("wave {}", i + 1)),
                at: self.span(&f("at"), &w.at, Duration::ZERO, limits::MODELLED),
                share: self.unit(&f("share"), &w.share, Share(0.0)),
                spread: self.unit(&f("spread"), &w.spread, Dist::Fixed(0.0)),
            };
            total += wave.share.0;
            out.push(wave);
        }
        if total > 1.0 + 1e-9 {
            self.err(
                "storm.waves",
                format!(
                    "the shares add up to {}: more than the whole population",
                    Share(total.min(9.99))
                ),
            );
        }
        StormSource::Waves(out)
    }

    /// The storm's first logins, compressed by `time_scale`, must fit in a run: a year of
    /// modelled reboots at scale 1 is a problem here, not a run that never ends.
    pub(super) fn storm_length(&mut self, storm: &Storm, time_scale: f64) {
        let Some(modelled) = storm_span(storm) else { return };
        let run = modelled / time_scale;
        let max = *limits::RUN.end();
        if run > max.as_secs_f64() {
            self.err(
                "storm",
                format!(
                    "lasts {} of run time ({} modelled ÷ time_scale {time_scale}): at most {}; raise time_scale or shorten the storm",
                    Dur::from_secs_f64(run),
                    Dur::from_secs_f64(modelled),
                    Dur(max)
                ),
            );
        }
    }

    fn trace(&mut self, raw: &raw::RawTrace, pop: &Population) -> StormSource {
        let (file, counts) = match raw {
            raw::RawTrace::File(f) => (f.clone(), None),
            raw::RawTrace::Spec { file, counts } => (file.clone(), counts.clone()),
        };
        let counts = self.choice("storm.trace.counts", &counts, TraceCounts::Modelled);
        let Some(path) = self.named_file("storm.trace", &file, "traces") else {
            return StormSource::None;
        };
        let text = match read_text(&path, limits::TRACE_BYTES) {
            Ok(t) => t,
            Err(e) => {
                self.err("storm.trace", e);
                return StormSource::None;
            }
        };
        let scale = match counts {
            TraceCounts::Modelled => 1.0 / pop.weight(),
            TraceCounts::Simulated => 1.0,
        };
        let events: Vec<(Duration, f64)> = match parse_trace(&text) {
            Ok(rows) => rows.into_iter().map(|(t, n)| (t, n * scale)).collect(),
            Err((line, msg)) => {
                self.err("storm.trace", format!("{}:{line}: {msg}", path.display()));
                return StormSource::None;
            }
        };
        // Refused rather than scaled down: the trace is what happened, and quietly
        // shrinking it would change the very storm the run is meant to measure.
        let total: f64 = events.iter().map(|(_, n)| n).sum();
        if total.is_nan() || total > pop.simulated as f64 {
            let mode = match counts {
                TraceCounts::Modelled => format!(
                    "counts: modelled, each virtual client standing for {}",
                    figure(pop.weight())
                ),
                TraceCounts::Simulated => "counts: simulated".to_string(),
            };
            self.err(
                "storm.trace",
                format!(
                    "`{}` reboots {} virtual clients ({mode}), more than population.simulate ({}): raise population.simulate, or give population.clients the population the trace was recorded from and write `counts: modelled`",
                    path.display(),
                    figure(total),
                    pop.simulated
                ),
            );
            return StormSource::None;
        }
        StormSource::Trace { path, events }
    }
}

/// A count as a person reads it: whole numbers whole, huge ones in e-notation.
fn figure(x: f64) -> String {
    if x >= 1e12 {
        format!("{x:.3e}")
    } else if x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.2}")
    }
}
