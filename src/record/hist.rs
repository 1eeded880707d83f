//! HdrHistograms as the report carries them: a few percentiles for people and the whole
//! histogram, compressed, for machines; merged exactly by adding.

use std::io::Cursor;

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use serde::{Deserialize, Serialize};

/// Significant figures kept by every histogram (0.1 % value resolution), as wrk2 does.
pub const SIGFIG: u8 = 3;

/// A histogram in microseconds, growing as values arrive.
pub fn new_hist() -> Histogram<u64> {
    Histogram::new(SIGFIG).expect("3 significant figures is a valid histogram")
}

pub(super) use crate::units::micros;

/// Records into a growing histogram; `saturating_record` alone would clamp instead of
/// growing an auto-resizing one.
pub(super) fn rec(h: &mut Histogram<u64>, v: u64) {
    if h.record(v).is_err() {
        h.saturating_record(v);
    }
}

/// A histogram as it travels in JSON: a few percentiles for people (milliseconds) and
/// the whole histogram (HdrHistogram V2 + deflate, base64) for machines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct HistSummary {
    pub count: u64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    /// HdrHistogram V2 compressed encoding, base64, values in microseconds.
    pub hist: String,
}

impl HistSummary {
    pub fn of(h: &Histogram<u64>) -> Self {
        let ms = |v: u64| (v as f64 / 1000.0 * 1000.0).round() / 1000.0;
        let q = |p: f64| {
            if h.is_empty() { 0.0 } else { ms(h.value_at_quantile(p)) }
        };
        HistSummary {
            count: h.len(),
            mean: if h.is_empty() {
                0.0
            } else {
                (h.mean() / 1000.0 * 1000.0).round() / 1000.0
            },
            p50: q(0.5),
            p90: q(0.9),
            p99: q(0.99),
            p999: q(0.999),
            max: if h.is_empty() { 0.0 } else { ms(h.max()) },
            hist: encode(h),
        }
    }

    /// The histogram behind the summary (empty if it carried none).
    pub fn histogram(&self) -> Result<Histogram<u64>, HistError> {
        decode(&self.hist)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HistError {
    #[error("histogram is not valid base64: {0}")]
    Base64(#[from] base64::DecodeError),
    #[error("histogram does not decode: {0:?}")]
    Decode(hdrhistogram::serialization::DeserializeError),
    #[error("histograms cannot be added: {0:?}")]
    Add(hdrhistogram::errors::AdditionError),
}

pub fn encode(h: &Histogram<u64>) -> String {
    let mut buf = Vec::new();
    V2DeflateSerializer::new()
        .serialize(h, &mut buf)
        .expect("serializing into a Vec cannot fail");
    base64::engine::general_purpose::STANDARD.encode(buf)
}

pub fn decode(s: &str) -> Result<Histogram<u64>, HistError> {
    if s.is_empty() {
        return Ok(new_hist());
    }
    let bytes = base64::engine::general_purpose::STANDARD.decode(s)?;
    let mut h: Histogram<u64> = Deserializer::new()
        .deserialize(&mut Cursor::new(bytes))
        .map_err(HistError::Decode)?;
    h.auto(true);
    Ok(h)
}

/// Adds the histogram of every summary into one.
pub fn merge<'a>(parts: impl IntoIterator<Item = &'a HistSummary>) -> Result<Histogram<u64>, HistError> {
    let mut total = new_hist();
    for p in parts {
        total.add(p.histogram()?).map_err(HistError::Add)?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_round_trip_and_merge_exactly() {
        let mut a = new_hist();
        let mut b = new_hist();
        for v in 1..=1000u64 {
            a.record(v * 10).unwrap();
            b.record(v * 1000).unwrap();
        }
        let (sa, sb) = (HistSummary::of(&a), HistSummary::of(&b));
        let mut both = a.clone();
        both.add(&b).unwrap();
        let merged = merge([&sa, &sb]).unwrap();
        assert_eq!(merged, both);
        assert_eq!(merged.value_at_quantile(0.99), both.value_at_quantile(0.99));
    }
}
