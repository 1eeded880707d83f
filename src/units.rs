//! Units as they are written in profiles: durations (`30s`, `2m`, `1h 30m`, `250ms`),
//! rates (`2000/s`, `120/m`) and shares (`35%`, `0.35`). Values deserialize from
//! YAML scalars (strings or numbers) and keep their unit in the type.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UnitError {
    #[error("`{0}` is not a duration: write a number with a unit, e.g. `250ms`, `30s`, `2m`, `1h`")]
    Duration(String),
    #[error("`{0}` is not a rate: write a count per unit of time, e.g. `2000/s`, `120/m`")]
    Rate(String),
    #[error("`{0}` is not a share: write a percentage (`35%`) or a fraction between 0 and 1")]
    Share(String),
    /// A bare number (`2`): seconds to some readers, milliseconds to others (k6's
    /// `timeout: 2000`). Refused wherever a duration is read; `0` alone needs no unit.
    #[error(
        "`{0}` has no unit: write `{0}s`, `{0}ms` or `{0}m` (a duration always carries its unit; only `0` may go without)"
    )]
    NoUnit(String),
    #[error("`{0}` is negative; it must be zero or more")]
    Negative(String),
    /// Beyond `Duration` (about 584 billion years): no run can use it.
    #[error("`{0}` is too long to be a duration")]
    TooLong(String),
    /// Not a finite number of events per second once divided out (`1e308/1ms`).
    #[error("`{0}` is too high to be a rate")]
    TooHigh(String),
}

/// A duration written with its unit. A bare number is refused ([`UnitError::NoUnit`]),
/// in profiles, gates and flags alike, except `0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct Dur(pub Duration);

impl Dur {
    /// Saturates: NaN and negatives are zero, beyond `Duration::MAX` is `Duration::MAX`
    /// (values come from reports and arithmetic, and a panic is worse than a clamp).
    pub fn from_secs_f64(s: f64) -> Self {
        Dur(saturating_secs(s))
    }
    pub fn as_secs_f64(self) -> f64 {
        self.0.as_secs_f64()
    }
}

impl FromStr for Dur {
    type Err = UnitError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t.starts_with('-') {
            return Err(UnitError::Negative(s.to_string()));
        }
        let fit = |secs: f64| {
            Duration::try_from_secs_f64(secs)
                .map(Dur)
                .map_err(|_| UnitError::TooLong(s.to_string()))
        };
        if let Ok(secs) = t.parse::<f64>() {
            if secs == 0.0 {
                return Ok(Dur(Duration::ZERO));
            }
            if secs.is_finite() {
                return Err(UnitError::NoUnit(t.to_string()));
            }
            return Err(UnitError::Duration(s.to_string()));
        }
        // Fractions are common in profiles (`1.5s`, `0.5m`); humantime does not take them.
        let (num, unit) = split_number(t);
        if !num.is_empty()
            && let Ok(v) = num.parse::<f64>()
        {
            let scale = match unit.trim() {
                "us" | "µs" => 1e-6,
                "ms" => 1e-3,
                "s" | "sec" | "secs" => 1.0,
                "m" | "min" | "mins" => 60.0,
                "h" | "hr" | "hours" => 3600.0,
                "d" | "days" => 86400.0,
                _ => f64::NAN,
            };
            if scale.is_finite() && v.is_finite() && v >= 0.0 {
                return fit(v * scale);
            }
        }
        humantime::parse_duration(t).map(Dur).map_err(|e| match e {
            humantime::DurationError::NumberOverflow => UnitError::TooLong(s.to_string()),
            _ => UnitError::Duration(s.to_string()),
        })
    }
}

fn saturating_secs(s: f64) -> Duration {
    if s.is_nan() || s <= 0.0 {
        return Duration::ZERO;
    }
    Duration::try_from_secs_f64(s).unwrap_or(Duration::MAX)
}

fn split_number(t: &str) -> (&str, &str) {
    let end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .unwrap_or(t.len());
    (&t[..end], &t[end..])
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_duration(self.0))
    }
}

/// `1h 2m`, `3m 20s`, `1.5s`, `250ms`, `0s`: short and exact enough for a person.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        if d.is_zero() {
            return "0s".into();
        }
        return format!("{}µs", d.as_micros());
    }
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let secs = d.as_secs_f64();
    if secs < 60.0 {
        let s = format!("{:.3}", secs);
        let s = s.trim_end_matches('0').trim_end_matches('.');
        return format!("{s}s");
    }
    let total = d.as_secs();
    let (h, m, s) = (total / 3600, (total % 3600) / 60, total % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&format!("{m}m"));
    }
    if s > 0 {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&format!("{s}s"));
    }
    out
}

/// Events per second.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct Rate(pub f64);

impl Rate {
    pub fn per_sec(self) -> f64 {
        self.0
    }
}

impl FromStr for Rate {
    type Err = UnitError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().replace('_', "");
        let (num, per) = match t.split_once('/') {
            Some((n, p)) => (n.trim().to_string(), p.trim().to_string()),
            None => (t.clone(), "s".to_string()),
        };
        let n: f64 = num.parse().map_err(|_| UnitError::Rate(s.to_string()))?;
        if !n.is_finite() {
            return Err(UnitError::Rate(s.to_string()));
        }
        if n < 0.0 {
            return Err(UnitError::Negative(s.to_string()));
        }
        let per_unit = if per.chars().next().is_some_and(|c| c.is_ascii_digit()) {
            per.parse::<Dur>()
                .map_err(|_| UnitError::Rate(s.to_string()))?
                .as_secs_f64()
        } else {
            match per.as_str() {
                "ms" => 1e-3,
                "s" | "sec" => 1.0,
                "m" | "min" => 60.0,
                "h" | "hr" => 3600.0,
                _ => return Err(UnitError::Rate(s.to_string())),
            }
        };
        if per_unit <= 0.0 {
            return Err(UnitError::Rate(s.to_string()));
        }
        let r = n / per_unit;
        if !r.is_finite() {
            return Err(UnitError::TooHigh(s.to_string()));
        }
        Ok(Rate(r))
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.fract() == 0.0 {
            write!(f, "{}/s", self.0 as u64)
        } else {
            write!(f, "{:.3}/s", self.0)
        }
    }
}

/// A fraction in [0, 1].
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct Share(pub f64);

impl FromStr for Share {
    type Err = UnitError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let v = if let Some(p) = t.strip_suffix('%') {
            p.trim().parse::<f64>().map_err(|_| UnitError::Share(s.to_string()))? / 100.0
        } else {
            t.parse::<f64>().map_err(|_| UnitError::Share(s.to_string()))?
        };
        if !(0.0..=1.0).contains(&v) {
            return Err(UnitError::Share(s.to_string()));
        }
        Ok(Share(v))
    }
}

impl fmt::Display for Share {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.0 * 100.0;
        if (p - p.round()).abs() < 1e-9 {
            write!(f, "{}%", p.round() as i64)
        } else {
            write!(f, "{p:.2}%")
        }
    }
}

/// Any YAML scalar, kept as text so that unit errors are reported by validation
/// (which collects them all) rather than by serde (which stops at the first).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Text(pub String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_yaml::Value::deserialize(d)?;
        match v {
            serde_yaml::Value::String(s) => Ok(Text(s)),
            serde_yaml::Value::Number(n) => Ok(Text(n.to_string())),
            serde_yaml::Value::Bool(b) => Ok(Text(b.to_string())),
            other => Err(serde::de::Error::custom(format!(
                "expected a single value (text or number), found {}",
                yaml_kind(&other)
            ))),
        }
    }
}

impl Serialize for Text {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub fn yaml_kind(v: &serde_yaml::Value) -> &'static str {
    match v {
        serde_yaml::Value::Null => "nothing",
        serde_yaml::Value::Bool(_) => "true/false",
        serde_yaml::Value::Number(_) => "a number",
        serde_yaml::Value::String(_) => "text",
        serde_yaml::Value::Sequence(_) => "a list",
        serde_yaml::Value::Mapping(_) => "a mapping",
        serde_yaml::Value::Tagged(_) => "a tagged value",
    }
}

macro_rules! serde_via_str {
    ($t:ty) => {
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let Text(s) = Text::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_string())
            }
        }
    };
}
serde_via_str!(Dur);
serde_via_str!(Rate);
serde_via_str!(Share);

/// A duration in whole microseconds (the histograms' and the timers' unit); saturates
/// rather than wraps.
pub fn micros(d: Duration) -> u64 {
    d.as_micros().min(u128::from(u64::MAX)) as u64
}

/// `12.3%` with as many decimals as a share near 100 % needs to be told apart.
/// A count as people read it: `12,345` (machine outputs keep plain numbers).
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn pct(share: f64) -> String {
    let p = share * 100.0;
    if p == p.round() {
        format!("{p:.0}%")
    } else if p > 99.0 && p < 100.0 {
        format!("{p:.2}%")
    } else {
        format!("{p:.1}%")
    }
}

/// A duration in milliseconds, as a person reads it: rounded, never truncated, to
/// three significant digits under 10 s (`2.32ms`, `812ms`, `1.25s`), so that a
/// measured `2.32ms` against a `< 2ms` threshold shows why it failed; to the
/// millisecond under a minute (`35.25s`); to the second above (`1m 6s`).
pub fn fmt_ms(ms: f64) -> String {
    // `max` also turns NaN into 0.
    let ms = ms.max(0.0);
    if ms == 0.0 {
        return "0s".into();
    }
    let r = round_sig(ms, 3);
    if r < 1000.0 {
        return format!("{}ms", trim_decimals(r, 2 - r.log10().floor() as i32));
    }
    if r < 10_000.0 {
        return format!("{}s", trim_decimals(r / 1000.0, 2));
    }
    // 9,995 ms and up rounded to 10 s above: not shown as 9.995s here.
    let whole_ms = ms.round().max(10_000.0);
    if whole_ms < 60_000.0 {
        return format_duration(Duration::from_millis(whole_ms as u64));
    }
    format_duration(Duration::from_secs((ms / 1000.0).round() as u64))
}

/// `x` rounded to `digits` significant digits.
fn round_sig(x: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits - 1 - x.abs().log10().floor() as i32);
    (x * scale).round() / scale
}

/// `x` with at most `decimals` decimals, trailing zeros dropped.
fn trim_decimals(x: f64, decimals: i32) -> String {
    let s = format!("{x:.*}", decimals.max(0) as usize);
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let cases = [
            ("30s", 30_000),
            ("2m", 120_000),
            ("1h 30m", 5_400_000),
            ("250ms", 250),
            ("1.5s", 1_500),
            ("0.5m", 30_000),
            ("0", 0),
        ];
        for (text, ms) in cases {
            let d: Dur = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(d.0.as_millis(), ms, "{text}");
        }
        for bad in ["", "abc", "-3s", "3 parsecs", "s"] {
            assert!(bad.parse::<Dur>().is_err(), "{bad} should not parse");
        }
        // One rule for bare numbers, in profiles, gates and flags: refused, `0` aside.
        for bare in ["10", "2", "0.5", "1e308", "100"] {
            let e = bare.parse::<Dur>().unwrap_err();
            assert_eq!(e, UnitError::NoUnit(bare.into()), "{bare}");
            assert!(e.to_string().contains(&format!("write `{bare}s`")), "{e}");
        }
    }

    #[test]
    fn rates() {
        let cases = [
            ("2000/s", 2000.0),
            ("120/m", 2.0),
            ("3600/h", 1.0),
            ("50", 50.0),
            ("1_000/s", 1000.0),
            ("10/100ms", 100.0),
        ];
        for (text, per_s) in cases {
            let r: Rate = text.parse().unwrap();
            assert!((r.0 - per_s).abs() < 1e-9, "{text}: {}", r.0);
        }
        for bad in ["fast", "10/fortnight", "-5/s", "5/0s"] {
            assert!(bad.parse::<Rate>().is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_that_do_not_fit_are_refused_not_panicked_on() {
        for text in [
            "99999999999999999999h",
            "100000000000000000000d",
            "18446744073709551616s",
            "300000000000000000000000s",
        ] {
            let e = std::panic::catch_unwind(|| text.parse::<Dur>()).unwrap_or_else(|_| panic!("{text} panicked"));
            assert!(matches!(e, Err(UnitError::TooLong(_))), "{text}: {e:?}");
        }
        assert_eq!(Dur::from_secs_f64(1e300).0, Duration::MAX, "saturates");
        assert_eq!(Dur::from_secs_f64(f64::NAN).0, Duration::ZERO);
        assert_eq!(fmt_ms(f64::INFINITY), format_duration(Duration::MAX));
    }

    #[test]
    fn rates_that_are_not_numbers_or_do_not_fit_are_refused() {
        for bad in ["NaN/s", "inf/s", "-inf/s", "1e308/1ms", "1e308/1us"] {
            let r = bad.parse::<Rate>();
            assert!(r.is_err(), "{bad}: {r:?}");
        }
    }

    #[test]
    fn shares() {
        assert_eq!("35%".parse::<Share>().unwrap().0, 0.35);
        assert_eq!("0.4".parse::<Share>().unwrap().0, 0.4);
        assert!("140%".parse::<Share>().is_err());
        assert!("lots".parse::<Share>().is_err());
        assert_eq!(Share(0.35).to_string(), "35%");
    }

    #[test]
    fn formats() {
        assert_eq!(format_duration(Duration::from_secs(3725)), "1h 2m 5s");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_duration(Duration::from_millis(20)), "20ms");
    }

    #[test]
    fn milliseconds_are_rounded_to_three_significant_digits_never_truncated() {
        let cases = [
            (0.0, "0s"),
            (-3.0, "0s"),
            (0.0812, "0.0812ms"),
            (0.8124, "0.812ms"),
            (2.0, "2ms"),
            (2.32, "2.32ms"),
            (2.037, "2.04ms"),
            (9.996, "10ms"),
            (81.24, "81.2ms"),
            (812.4, "812ms"),
            (999.6, "1s"),
            (1250.0, "1.25s"),
            (1234.0, "1.23s"),
            (9999.0, "10s"),
            (35_250.0, "35.25s"),
            (59_999.6, "1m"),
            (65_600.0, "1m 6s"),
            (3_725_400.0, "1h 2m 5s"),
        ];
        for (ms, want) in cases {
            assert_eq!(fmt_ms(ms), want, "{ms} ms");
        }
    }
}
