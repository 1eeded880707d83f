//! Distributions as profiles write them: `spike`, `30s`, `fixed(30s)`,
//! `uniform(30s, 3m)`, `uniform(10m)`, `normal(sd 8m)`, `normal(mean 2m, sd 30s)`,
//! `exponential(5m)`. Values are durations; samples are seconds.

use std::fmt;
use std::str::FromStr;

use super::limits;
use crate::units::{Dur, UnitError, format_duration};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Dist {
    /// Always the same value (`spike` is `fixed(0s)`).
    Fixed(f64),
    Uniform {
        low: f64,
        high: f64,
    },
    /// Truncated to mean ± 3 sd and to ≥ 0 when used as a delay, so a plan has an end.
    Normal {
        mean: f64,
        sd: f64,
    },
    /// Exponential decay with this mean, truncated at 5 means.
    Exponential {
        mean: f64,
    },
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "`{text}`: {why}. Write one of: spike, 30s, fixed(30s), uniform(30s, 3m), uniform(10m), normal(sd 8m), normal(mean 2m, sd 30s), exponential(5m)"
)]
pub struct DistError {
    pub text: String,
    pub why: String,
}

impl Dist {
    /// One sample in seconds from two independent uniforms in (0, 1].
    pub fn sample(&self, u1: f64, u2: f64) -> f64 {
        match *self {
            Dist::Fixed(v) => v,
            Dist::Uniform { low, high } => low + (high - low) * (1.0 - u1),
            Dist::Normal { mean, sd } => {
                let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                mean + sd * z.clamp(-3.0, 3.0)
            }
            Dist::Exponential { mean } => (-mean * u1.ln()).min(5.0 * mean),
        }
    }

    /// The smallest and largest value a sample can take, in seconds.
    pub fn range(&self) -> (f64, f64) {
        match *self {
            Dist::Fixed(v) => (v, v),
            Dist::Uniform { low, high } => (low, high),
            Dist::Normal { mean, sd } => (mean - 3.0 * sd, mean + 3.0 * sd),
            Dist::Exponential { mean } => (0.0, 5.0 * mean),
        }
    }

    pub fn mean(&self) -> f64 {
        match *self {
            Dist::Fixed(v) => v,
            Dist::Uniform { low, high } => (low + high) / 2.0,
            Dist::Normal { mean, .. } => mean,
            Dist::Exponential { mean } => mean,
        }
    }
}

/// One parameter, in modelled seconds, no longer than [`limits::MODELLED`] allows: the
/// plan adds and scales these, and a value near `Duration::MAX` would overflow there.
fn dur(text: &str, s: &str) -> Result<f64, DistError> {
    let err = |why: String| DistError {
        text: text.to_string(),
        why,
    };
    let max = *limits::MODELLED.end();
    match s.trim().parse::<Dur>() {
        Ok(Dur(d)) if d <= max => Ok(d.as_secs_f64()),
        Ok(_) | Err(UnitError::TooLong(_)) => Err(err(format!(
            "`{}` is beyond {} (365 days), the longest modelled time a profile can use",
            s.trim(),
            Dur(max)
        ))),
        Err(e) => Err(err(e.to_string())),
    }
}

impl FromStr for Dist {
    type Err = DistError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let t = text.trim();
        let err = |why: &str| DistError {
            text: text.to_string(),
            why: why.to_string(),
        };
        if t == "spike" {
            return Ok(Dist::Fixed(0.0));
        }
        let Some((name, rest)) = t.split_once('(') else {
            return dur(text, t).map(Dist::Fixed);
        };
        let args = rest
            .strip_suffix(')')
            .ok_or_else(|| err("missing `)` (inside a `{ ... }` mapping, quote it: 'uniform(30s, 3m)')"))?;
        let args: Vec<&str> = args.split(',').map(str::trim).filter(|a| !a.is_empty()).collect();
        // Arguments may be named (`sd 8m`, `mean 2m`) or positional.
        let named = |key: &str| -> Option<&str> {
            args.iter().find_map(|a| {
                a.strip_prefix(key)
                    .map(str::trim)
                    .filter(|_| a.starts_with(&format!("{key} ")))
            })
        };
        match name.trim() {
            "fixed" | "constant" => match args.as_slice() {
                [v] => dur(text, v).map(Dist::Fixed),
                _ => Err(err("fixed takes one duration")),
            },
            "uniform" => match args.as_slice() {
                [high] => Ok(Dist::Uniform {
                    low: 0.0,
                    high: dur(text, high)?,
                }),
                [low, high] => {
                    let (low, high) = (dur(text, low)?, dur(text, high)?);
                    if high < low {
                        return Err(err("the upper bound is below the lower bound"));
                    }
                    Ok(Dist::Uniform { low, high })
                }
                _ => Err(err("uniform takes one or two durations")),
            },
            "normal" | "gaussian" => {
                let sd = match (named("sd"), args.as_slice()) {
                    (Some(sd), _) => dur(text, sd)?,
                    (None, [sd]) => dur(text, sd)?,
                    (None, [_, sd]) => dur(text, sd)?,
                    _ => return Err(err("normal takes `sd D` and optionally `mean D`")),
                };
                let mean = match (named("mean"), args.as_slice()) {
                    (Some(m), _) => dur(text, m)?,
                    (None, [m, _]) if !m.starts_with("sd") => dur(text, m)?,
                    _ => 0.0,
                };
                Ok(Dist::Normal { mean, sd })
            }
            "exponential" | "exp" | "decay" => {
                let m = named("mean")
                    .or(args.first().copied())
                    .ok_or_else(|| err("exponential takes its mean"))?;
                let mean = dur(text, m)?;
                if mean <= 0.0 {
                    return Err(err("the mean must be above zero"));
                }
                Ok(Dist::Exponential { mean })
            }
            other => Err(err(&format!("unknown distribution `{other}`"))),
        }
    }
}

impl fmt::Display for Dist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = |s: f64| format_duration(Dur::from_secs_f64(s).0);
        match *self {
            Dist::Fixed(0.0) => f.write_str("spike"),
            Dist::Fixed(v) => write!(f, "fixed({})", d(v)),
            Dist::Uniform { low, high } => write!(f, "uniform({}, {})", d(low), d(high)),
            Dist::Normal { mean: 0.0, sd } => write!(f, "normal(sd {})", d(sd)),
            Dist::Normal { mean, sd } => write!(f, "normal(mean {}, sd {})", d(mean), d(sd)),
            Dist::Exponential { mean } => write!(f, "exponential({})", d(mean)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Stream, unit_open};

    #[test]
    fn parses_what_profiles_write() {
        let cases = [
            ("spike", Dist::Fixed(0.0)),
            ("30s", Dist::Fixed(30.0)),
            ("fixed(2m)", Dist::Fixed(120.0)),
            ("uniform(30s, 3m)", Dist::Uniform { low: 30.0, high: 180.0 }),
            ("uniform(10m)", Dist::Uniform { low: 0.0, high: 600.0 }),
            ("normal(sd 8m)", Dist::Normal { mean: 0.0, sd: 480.0 }),
            ("normal(mean 2m, sd 30s)", Dist::Normal { mean: 120.0, sd: 30.0 }),
            ("normal(2m, 30s)", Dist::Normal { mean: 120.0, sd: 30.0 }),
            ("exponential(5m)", Dist::Exponential { mean: 300.0 }),
            ("decay(mean 1m)", Dist::Exponential { mean: 60.0 }),
        ];
        for (text, want) in cases {
            assert_eq!(text.parse::<Dist>().unwrap_or_else(|e| panic!("{e}")), want, "{text}");
            assert_eq!(want.to_string().parse::<Dist>().unwrap(), want, "display round trip");
        }
        for bad in [
            "uniform(3m, 30s)",
            "poisson(3)",
            "normal(",
            "exponential(0s)",
            "uniform()",
            "soon",
            "uniform(10000000000000000000s)",
            "uniform(0s, 400d)",
            "normal(sd 10000000000000000000s)",
            "normal(mean 1e300, sd 1s)",
            "exponential(10000000000000000000s)",
            "fixed(10000000000000000000s)",
            "10000000000000000000s",
            "30",
        ] {
            assert!(bad.parse::<Dist>().is_err(), "{bad}");
        }
        let e = "uniform(10000000000000000000s)"
            .parse::<Dist>()
            .unwrap_err()
            .to_string();
        assert!(e.contains("8760h"), "says the limit: {e}");
    }

    #[test]
    fn samples_have_the_right_moments_and_bounds() {
        let n = 50_000u64;
        for d in [
            Dist::Uniform { low: 30.0, high: 180.0 },
            Dist::Normal { mean: 100.0, sd: 10.0 },
            Dist::Exponential { mean: 60.0 },
        ] {
            let (lo, hi) = d.range();
            let mut sum = 0.0;
            for i in 0..n {
                let v = d.sample(unit_open(1, Stream::Spread, i, 0), unit_open(1, Stream::Spread, i, 1));
                assert!(v >= lo - 1e-9 && v <= hi + 1e-9, "{d}: {v}");
                sum += v;
            }
            let mean = sum / n as f64;
            assert!((mean - d.mean()).abs() < d.mean() * 0.02, "{d}: mean {mean}");
        }
    }
}
