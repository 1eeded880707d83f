//! Admission control (`admission`): how the operators who ended real login storms let
//! clients back in. A login limit (`50/s`), a limit raised in steps (`{ from: 50/s,
//! step: 25/s, every: 10s }`), or clients admitted in buckets (`{ buckets: 4, every:
//! 30s }`); `off` lifts it. Logins over it are answered 503 with Retry-After before they
//! reach the login server: they cost it nothing and are not failures it sees.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_yaml::Value;

use crate::units::{Dur, Rate};

/// The most buckets clients may be admitted in.
pub const MAX_BUCKETS: u32 = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Admission {
    /// No limit (the default; `off`).
    #[default]
    Off,
    /// At most this many logins a second.
    Limit(Rate),
    /// A limit raised by `step` every `every` from `from` (from when it was set), up to
    /// `to` if given, then held there.
    Ramp {
        from: Rate,
        step: Rate,
        every: Dur,
        to: Option<Rate>,
    },
    /// Clients split by id into `count` buckets; bucket `i` is let in `i × every` after
    /// it was set (bucket 0 at once). A client of a closed bucket is told when its opens.
    Buckets { count: u32, every: Dur },
}

impl Admission {
    /// The limit in logins a second `since` after it was set; None: no rate limit.
    pub fn limit(&self, since: Duration) -> Option<f64> {
        match *self {
            Admission::Limit(r) => Some(r.per_sec()),
            Admission::Ramp { from, step, every, to } => {
                let steps = if every.0.is_zero() {
                    0.0
                } else {
                    (since.as_secs_f64() / every.0.as_secs_f64()).floor()
                };
                let l = from.per_sec() + steps * step.per_sec();
                Some(to.map_or(l, |t| l.min(t.per_sec())))
            }
            Admission::Off | Admission::Buckets { .. } => None,
        }
    }

    /// What is wrong with it, if anything, in words for `field`.
    pub fn problem(&self) -> Option<String> {
        match *self {
            Admission::Limit(r) if r.per_sec() <= 0.0 => {
                Some("a limit of 0/s lets nobody in: write `off` to lift it".into())
            }
            Admission::Ramp { from, step, every, to } => {
                if every.0 < Duration::from_millis(10) {
                    Some(format!("every: `{every}` is under 10ms"))
                } else if step.per_sec() <= 0.0 {
                    Some("step: a ramp must raise the limit (write a plain limit for a fixed one)".into())
                } else if to.is_some_and(|t| t.per_sec() < from.per_sec()) {
                    Some("to: the ramp's end is below its start".into())
                } else if from.per_sec() <= 0.0 {
                    Some("from: a limit of 0/s lets nobody in".into())
                } else {
                    None
                }
            }
            Admission::Buckets { count, every } => {
                if !(1..=MAX_BUCKETS).contains(&count) {
                    Some(format!("buckets: from 1 to {MAX_BUCKETS}, got {count}"))
                } else if every.0.is_zero() {
                    Some("every: the buckets must open some time apart".into())
                } else {
                    None
                }
            }
            _ => None,
        }
    }
}

impl fmt::Display for Admission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Admission::Off => f.write_str("off"),
            Admission::Limit(r) => write!(f, "{}/s", r.per_sec()),
            Admission::Ramp { from, step, every, to } => {
                write!(f, "from {}/s, +{}/s every {every}", from.per_sec(), step.per_sec())?;
                if let Some(t) = to {
                    write!(f, " up to {}/s", t.per_sec())?;
                }
                Ok(())
            }
            Admission::Buckets { count, every } => write!(f, "{count} buckets, one more every {every}"),
        }
    }
}

const FORMS: &str = "write `50/s`, `{ rate: 50/s }`, `{ from: 50/s, step: 25/s, every: 10s }` (a ramp, `to:` optional), `{ buckets: 4, every: 30s }`, or `off` (`{ off: true }`)";

impl<'de> Deserialize<'de> for Admission {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        from_value(&v).map_err(serde::de::Error::custom)
    }
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn from_value(v: &Value) -> Result<Admission, String> {
    if let Some(s) = scalar(v) {
        if matches!(s.trim(), "off" | "none") {
            return Ok(Admission::Off);
        }
        return s
            .parse::<Rate>()
            .map(Admission::Limit)
            .map_err(|e| format!("{e}; {FORMS}"));
    }
    if let Value::Bool(false) = v {
        return Ok(Admission::Off);
    }
    let Value::Mapping(m) = v else {
        return Err(format!("admission: {FORMS}"));
    };
    let mut keys: Vec<String> = m.keys().filter_map(scalar).collect();
    keys.sort();
    let get = |k: &str| m.get(Value::String(k.into())).and_then(scalar);
    let rate = |k: &str| -> Result<Rate, String> {
        let s = get(k).ok_or_else(|| format!("{k}: missing; {FORMS}"))?;
        s.parse::<Rate>().map_err(|e| format!("{k}: {e}"))
    };
    let dur = |k: &str| -> Result<Dur, String> {
        let s = get(k).ok_or_else(|| format!("{k}: missing; {FORMS}"))?;
        s.parse::<Dur>().map_err(|e| format!("{k}: {e}"))
    };
    let is = |want: &[&str]| keys.iter().all(|k| want.contains(&k.as_str()));
    if keys == ["off"] && matches!(m.get(Value::String("off".into())), Some(Value::Bool(true))) {
        return Ok(Admission::Off);
    }
    if keys == ["rate"] {
        return Ok(Admission::Limit(rate("rate")?));
    }
    if keys.iter().any(|k| k == "from") && is(&["every", "from", "step", "to"]) {
        return Ok(Admission::Ramp {
            from: rate("from")?,
            step: rate("step")?,
            every: dur("every")?,
            to: get("to").map(|_| rate("to")).transpose()?,
        });
    }
    if keys.iter().any(|k| k == "buckets") && is(&["buckets", "every"]) {
        let count = get("buckets")
            .and_then(|s| s.trim().parse::<u32>().ok())
            .ok_or_else(|| format!("buckets: a whole number from 1 to {MAX_BUCKETS}"))?;
        return Ok(Admission::Buckets {
            count,
            every: dur("every")?,
        });
    }
    Err(format!("admission with keys {}: {FORMS}", keys.join(", ")))
}

impl Serialize for Admission {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            Admission::Off => s.serialize_str("off"),
            Admission::Limit(r) => r.serialize(s),
            Admission::Ramp { from, step, every, to } => {
                let mut m = s.serialize_map(None)?;
                m.serialize_entry("from", from)?;
                m.serialize_entry("step", step)?;
                m.serialize_entry("every", every)?;
                if let Some(t) = to {
                    m.serialize_entry("to", t)?;
                }
                m.end()
            }
            Admission::Buckets { count, every } => {
                let mut m = s.serialize_map(None)?;
                m.serialize_entry("buckets", count)?;
                m.serialize_entry("every", every)?;
                m.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(y: &str) -> Result<Admission, String> {
        serde_yaml::from_str::<Admission>(y).map_err(|e| e.to_string())
    }

    #[test]
    fn every_form_reads_and_round_trips() {
        let cases = [
            ("50/s", Admission::Limit(Rate(50.0))),
            ("{ rate: 120/m }", Admission::Limit(Rate(2.0))),
            ("off", Admission::Off),
            ("{ off: true }", Admission::Off),
            (
                "{ from: 50/s, step: 25/s, every: 10s }",
                Admission::Ramp {
                    from: Rate(50.0),
                    step: Rate(25.0),
                    every: Dur(Duration::from_secs(10)),
                    to: None,
                },
            ),
            (
                "{ from: 50/s, step: 25/s, every: 10s, to: 200/s }",
                Admission::Ramp {
                    from: Rate(50.0),
                    step: Rate(25.0),
                    every: Dur(Duration::from_secs(10)),
                    to: Some(Rate(200.0)),
                },
            ),
            (
                "{ buckets: 4, every: 30s }",
                Admission::Buckets {
                    count: 4,
                    every: Dur(Duration::from_secs(30)),
                },
            ),
        ];
        for (y, want) in cases {
            let got = parse(y).unwrap_or_else(|e| panic!("{y}: {e}"));
            assert_eq!(got, want, "{y}");
            let again: Admission = serde_yaml::from_str(&serde_yaml::to_string(&got).unwrap()).unwrap();
            assert_eq!(again, want, "{y} round trip");
        }
    }

    #[test]
    fn a_ramp_steps_up_and_holds_at_its_end() {
        let r = parse("{ from: 50/s, step: 25/s, every: 10s, to: 100/s }").unwrap();
        let at = |s: u64| r.limit(Duration::from_secs(s)).unwrap();
        assert_eq!((at(0), at(9), at(10), at(25), at(60)), (50.0, 50.0, 75.0, 100.0, 100.0));
    }

    #[test]
    fn bad_forms_say_what_is_accepted() {
        for (y, want) in [
            ("fast", "write `50/s`"),
            ("{ rate: 50/s, burst: 3 }", "keys burst, rate"),
            ("{ from: 50/s, every: 10s }", "step: missing"),
            ("{ buckets: many, every: 1s }", "whole number"),
            ("{ from: 50/s, step: 25/s, every: 10 }", "has no unit"),
        ] {
            let e = parse(y).unwrap_err();
            assert!(e.contains(want), "{y}: {e}");
        }
        assert!(parse("0/s").unwrap().problem().unwrap().contains("`off`"));
        assert!(parse("{ buckets: 0, every: 1s }").unwrap().problem().is_some());
        assert!(
            parse("{ from: 50/s, step: 25/s, every: 10s, to: 10/s }")
                .unwrap()
                .problem()
                .is_some()
        );
    }
}
