//! `Retry-After` as a target may send it (RFC 9110 §10.2.3): delay-seconds, an
//! HTTP-date, or anything else. Read without trusting it: any number of digits, no
//! conversion through floating point, nothing that can panic.

use std::time::{Duration, SystemTime};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAfter {
    /// Delay-seconds; more digits than a u64 holds saturate. A fraction (`2.5`) is read
    /// too: not in the RFC, but targets send it.
    Delay(Duration),
    /// An HTTP-date in its preferred form, IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
    /// The obsolete RFC 850 and asctime forms are not read: they count as invalid.
    At(SystemTime),
    /// Neither (`-5`, `1e300`, `soon`): ignored, and counted.
    Invalid,
}

impl RetryAfter {
    pub fn parse(value: &[u8]) -> RetryAfter {
        let v = value.trim_ascii();
        match delay_seconds(v) {
            Some(d) => RetryAfter::Delay(d),
            None => imf_fixdate(v).map_or(RetryAfter::Invalid, RetryAfter::At),
        }
    }

    /// The wait asked for, counted from `now` (asked for only for a date); None when
    /// the value was invalid. A date already past asks for no wait.
    pub fn wait(self, now: impl FnOnce() -> SystemTime) -> Option<Duration> {
        match self {
            RetryAfter::Delay(d) => Some(d),
            RetryAfter::At(t) => Some(t.duration_since(now()).unwrap_or_default()),
            RetryAfter::Invalid => None,
        }
    }
}

fn digits(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(u8::is_ascii_digit)
}

fn delay_seconds(v: &[u8]) -> Option<Duration> {
    let (whole, fraction) = match v.iter().position(|&b| b == b'.') {
        Some(dot) => (&v[..dot], Some(&v[dot + 1..])),
        None => (v, None),
    };
    if !digits(whole) || fraction.is_some_and(|f| !digits(f)) {
        return None;
    }
    let secs = whole
        .iter()
        .try_fold(0u64, |n, &b| n.checked_mul(10)?.checked_add(u64::from(b - b'0')))
        .unwrap_or(u64::MAX);
    // Nanoseconds from the first nine digits of the fraction: always under 10^9.
    let nanos = fraction
        .unwrap_or_default()
        .iter()
        .chain(std::iter::repeat(&b'0'))
        .take(9)
        .fold(0u32, |n, &b| n * 10 + u32::from(b - b'0'));
    Some(Duration::new(secs, nanos))
}

const MONTHS: [&[u8]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// `Sun, 06 Nov 1994 08:49:37 GMT`: fixed positions, 29 bytes.
fn imf_fixdate(v: &[u8]) -> Option<SystemTime> {
    if v.len() != 29 || &v[3..5] != b", " || &v[25..] != b" GMT" || v[7] != b' ' || v[11] != b' ' {
        return None;
    }
    if v[16] != b' ' || v[19] != b':' || v[22] != b':' {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<i64> {
        let d = &v[from..to];
        digits(d).then(|| d.iter().fold(0i64, |n, &b| n * 10 + i64::from(b - b'0')))
    };
    let day = num(5, 7).filter(|d| (1..=31).contains(d))?;
    let month = MONTHS.iter().position(|m| *m == &v[8..11])? as i64 + 1;
    let year = num(12, 16)?;
    let (h, m, s) = (num(17, 19)?, num(20, 22)?, num(23, 25)?);
    if h > 23 || m > 59 || s > 60 {
        return None;
    }
    let secs = days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + s;
    // Before 1970 is long past: no wait.
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs.max(0) as u64))
}

/// Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_seconds_and_dates_and_nothing_else() {
        let secs = |s: u64, ms: u64| RetryAfter::Delay(Duration::from_secs(s) + Duration::from_millis(ms));
        let table: &[(&str, RetryAfter)] = &[
            ("120", secs(120, 0)),
            (" 2.5 ", secs(2, 500)),
            ("0", secs(0, 0)),
            ("0.0001", RetryAfter::Delay(Duration::from_micros(100))),
            ("18446744073709551616", RetryAfter::Delay(Duration::from_secs(u64::MAX))),
            (
                "99999999999999999999999999.9",
                RetryAfter::Delay(Duration::new(u64::MAX, 900_000_000)),
            ),
            ("1.2345678912", RetryAfter::Delay(Duration::new(1, 234_567_891))),
            ("-5", RetryAfter::Invalid),
            ("+5", RetryAfter::Invalid),
            ("1e300", RetryAfter::Invalid),
            ("inf", RetryAfter::Invalid),
            ("NaN", RetryAfter::Invalid),
            ("1.", RetryAfter::Invalid),
            (".5", RetryAfter::Invalid),
            ("1 2", RetryAfter::Invalid),
            ("", RetryAfter::Invalid),
            ("soon", RetryAfter::Invalid),
            (
                "Sun, 06 Nov 1994 08:49:37 GMT",
                RetryAfter::At(SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777)),
            ),
            ("Thu, 01 Jan 1970 00:00:00 GMT", RetryAfter::At(SystemTime::UNIX_EPOCH)),
            (
                "Tue, 29 Feb 2000 23:59:60 GMT",
                RetryAfter::At(SystemTime::UNIX_EPOCH + Duration::from_secs(951_868_800)),
            ),
            ("Mon, 01 Jan 1900 00:00:00 GMT", RetryAfter::At(SystemTime::UNIX_EPOCH)),
            ("Sun, 32 Nov 1994 08:49:37 GMT", RetryAfter::Invalid),
            ("Sun, 06 Now 1994 08:49:37 GMT", RetryAfter::Invalid),
            ("Sun, 06 Nov 1994 24:49:37 GMT", RetryAfter::Invalid),
            ("Sunday, 06-Nov-94 08:49:37 GMT", RetryAfter::Invalid),
            ("Sun Nov  6 08:49:37 1994", RetryAfter::Invalid),
            ("Sun, 06 Nov 1994 08:49:37 UTC", RetryAfter::Invalid),
        ];
        for (text, want) in table {
            assert_eq!(RetryAfter::parse(text.as_bytes()), *want, "{text:?}");
        }
    }

    #[test]
    fn a_date_asks_for_the_wait_until_it_and_none_once_past() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
        let ra = RetryAfter::At(at);
        assert_eq!(ra.wait(|| at - Duration::from_secs(30)), Some(Duration::from_secs(30)));
        assert_eq!(ra.wait(|| at + Duration::from_secs(30)), Some(Duration::ZERO));
        assert_eq!(RetryAfter::Invalid.wait(SystemTime::now), None);
    }
}
