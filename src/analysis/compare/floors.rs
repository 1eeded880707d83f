//! The absolute floors of `compare`: the smallest change of each metric class that can
//! count as a regression, whatever the relative tolerance says (a 4 ms p99 that becomes
//! 5 ms is +25 %, and noise).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::units::{Dur, Share};

/// The floors, one per metric class. A figure regresses only when it got worse by more
/// than `max(floor, tolerance × |base|)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Floors {
    /// Every latency figure (`login.p50`, `login.p99`, `login.max`, `STEP.p99`), ms.
    pub latency_ms: f64,
    /// Recovery time, ms; None: one window (the larger of the two runs').
    pub recovery_time_ms: Option<f64>,
    /// The failure share (`success_rate`) and the share of clients that gave up, as a
    /// fraction (0.001 = 0.1 point).
    pub failures: f64,
    /// The down share after the trigger, as a fraction.
    pub down_share: f64,
    /// Retry amplification, attempts per client.
    pub retry_amplification: f64,
}

impl Default for Floors {
    fn default() -> Self {
        Floors {
            latency_ms: 5.0,
            recovery_time_ms: None,
            failures: 0.001,
            down_share: 0.01,
            retry_amplification: 0.05,
        }
    }
}

/// The classes `--floor CLASS=VALUE` accepts, with what VALUE is.
pub const CLASSES: &str =
    "latency=DURATION, recovery_time=DURATION, failures=SHARE, down_share=SHARE, retry_amplification=NUMBER";

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FloorError {
    #[error("`{0}` is not CLASS=VALUE: write one of {CLASSES}")]
    Shape(String),
    #[error("`{class}` is not a metric class: write one of {CLASSES}")]
    Class { class: String },
    #[error("`{value}` is not a {what} for `{class}` (e.g. {example})")]
    Value {
        class: String,
        value: String,
        what: &'static str,
        example: &'static str,
    },
}

impl Floors {
    /// Sets one floor from `CLASS=VALUE` (`latency=10ms`, `failures=0.5%`).
    pub fn set(&mut self, spec: &str) -> Result<(), FloorError> {
        let (class, value) = spec
            .split_once('=')
            .map(|(c, v)| (c.trim(), v.trim()))
            .ok_or_else(|| FloorError::Shape(spec.to_string()))?;
        let bad = |what, example| FloorError::Value {
            class: class.to_string(),
            value: value.to_string(),
            what,
            example,
        };
        let ms = || -> Result<f64, FloorError> {
            let Dur(d) = value.parse::<Dur>().map_err(|_| bad("duration", "5ms"))?;
            Ok(d.as_secs_f64() * 1000.0)
        };
        let share = || value.parse::<Share>().map(|s| s.0).map_err(|_| bad("share", "0.5%"));
        match class {
            "latency" => self.latency_ms = ms()?,
            "recovery_time" => self.recovery_time_ms = Some(ms()?),
            "failures" => self.failures = share()?,
            "down_share" => self.down_share = share()?,
            "retry_amplification" => {
                self.retry_amplification = value
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite() && *v >= 0.0)
                    .ok_or_else(|| bad("non-negative number", "0.1"))?
            }
            _ => {
                return Err(FloorError::Class {
                    class: class.to_string(),
                });
            }
        }
        Ok(())
    }

    /// The floor of recovery time in a comparison whose windows are `window_ms` long.
    pub fn recovery_time(&self, window_ms: f64) -> f64 {
        self.recovery_time_ms.unwrap_or(window_ms)
    }

    /// The floors in words, as the outputs state them.
    pub fn words(&self, window_ms: f64) -> String {
        let ms = |v: f64| crate::units::format_duration(Duration::from_secs_f64(v.max(0.0) / 1000.0));
        format!(
            "latency {}, recovery_time {}{}, failures {} point, down_share {} point (at least one window), retry_amplification {}",
            ms(self.latency_ms),
            ms(self.recovery_time(window_ms)),
            if self.recovery_time_ms.is_none() {
                " (one window)"
            } else {
                ""
            },
            crate::units::pct(self.failures),
            crate::units::pct(self.down_share),
            self.retry_amplification
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_class_takes_its_own_unit_and_a_mistake_names_what_to_write() {
        let mut f = Floors::default();
        for spec in [
            "latency=10ms",
            "recovery_time = 3s",
            "failures=0.5%",
            "down_share=2%",
            "retry_amplification=0.2",
        ] {
            f.set(spec).unwrap();
        }
        assert_eq!(
            f,
            Floors {
                latency_ms: 10.0,
                recovery_time_ms: Some(3000.0),
                failures: 0.005,
                down_share: 0.02,
                retry_amplification: 0.2,
            }
        );
        assert_eq!(
            f.set("latency").unwrap_err().to_string(),
            format!("`latency` is not CLASS=VALUE: write one of {CLASSES}")
        );
        assert_eq!(
            f.set("p99=5ms").unwrap_err().to_string(),
            format!("`p99` is not a metric class: write one of {CLASSES}")
        );
        assert_eq!(
            f.set("latency=fast").unwrap_err().to_string(),
            "`fast` is not a duration for `latency` (e.g. 5ms)"
        );
        assert_eq!(
            f.set("failures=150%").unwrap_err().to_string(),
            "`150%` is not a share for `failures` (e.g. 0.5%)"
        );
        assert!(f.set("retry_amplification=-1").is_err());
        assert_eq!(f.latency_ms, 10.0, "a refused value changes nothing");
    }

    #[test]
    fn the_defaults_are_the_documented_ones() {
        let f = Floors::default();
        assert_eq!(
            f.words(1000.0),
            "latency 5ms, recovery_time 1s (one window), failures 0.1% point, down_share 1% point (at least one window), retry_amplification 0.05"
        );
    }
}
