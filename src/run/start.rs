//! The start barrier: every shard of a distributed run counts its time from one agreed
//! wall-clock instant (`--start-at`), so that their windows line up and the storm keeps
//! its shape when a scheduler starts the pods seconds apart.
//!
//! Pure: the caller passes `now`; waiting is the caller's.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::report::StartFacts;

/// How far ahead a start instant may lie: further is most likely a typo (a date in the
/// wrong year), and a pod waiting for it would hold its node for nothing.
pub const HORIZON: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StartError {
    #[error(
        "`{0}` is not an instant: write RFC 3339 (`2026-11-29T21:30:00Z`, fractions and offsets allowed) or Unix seconds (`1795987800`)"
    )]
    Form(String),
    #[error(
        "the start instant {at} passed {late} ago, more than one window ({window}): every shard would start late and the windows would not line up; pick an instant ahead"
    )]
    Past { at: String, late: String, window: String },
    #[error("the start instant {at} is {ahead} away, beyond the {horizon} horizon: check the date")]
    TooFar { at: String, ahead: String, horizon: String },
    #[error(
        "the warm-up logs in {clients} online clients at {rate} before the start: about {needs}, but the start instant {at} is {left} away; pick a later --start-at or raise population.warmup.rate"
    )]
    Warmup {
        clients: u32,
        rate: String,
        needs: String,
        at: String,
        left: String,
    },
}

/// Whether the warm-up (`clients` at `rate`, the run's whole: shards and threads each
/// log in their share at their share of the rate) can end before the agreed instant,
/// `left` away. Refused before anything is sent: a shard that started late would not
/// line up with the others. A warm-up slower than its rate (a slow target) may still
/// overrun; the report then says by how much (`engine.warmup.overran_ms`).
pub fn warmup_fits(clients: u32, rate: crate::units::Rate, left: Duration, at: SystemTime) -> Result<(), StartError> {
    if clients == 0 || rate.0 <= 0.0 {
        return Ok(());
    }
    let needs = Duration::from_secs_f64(clients as f64 / rate.0);
    if needs <= left {
        return Ok(());
    }
    Err(StartError::Warmup {
        clients,
        rate: format!("{}/s", rate.0),
        needs: crate::units::format_duration(needs),
        at: stamp(at),
        left: crate::units::format_duration(left),
    })
}

/// Reads `--start-at`: RFC 3339 (any offset, fractions allowed) or Unix seconds (with
/// a fraction if wanted).
pub fn parse(text: &str) -> Result<SystemTime, StartError> {
    let t = text.trim();
    let form = || StartError::Form(t.to_string());
    if let Ok(secs) = t.parse::<f64>() {
        if !(secs.is_finite() && secs >= 0.0) {
            return Err(form());
        }
        let d = Duration::try_from_secs_f64(secs).map_err(|_| form())?;
        return UNIX_EPOCH.checked_add(d).ok_or_else(form);
    }
    rfc3339(t).ok_or_else(form)
}

/// RFC 3339 with any UTC offset: humantime reads only `Z`, so an offset is applied here.
fn rfc3339(t: &str) -> Option<SystemTime> {
    if let Ok(at) = humantime::parse_rfc3339_weak(t) {
        return Some(at);
    }
    // `…+02:00` / `…-05:30`: the offset is the last six characters, ASCII; a cut
    // inside a character (`aé00000`) is no offset at all.
    let cut = t.len().checked_sub(6)?;
    let (stamp, offset) = (t.get(..cut)?, t.get(cut..)?);
    let sign = match offset.as_bytes().first()? {
        b'+' => 1i64,
        b'-' => -1,
        _ => return None,
    };
    let (h, m) = offset[1..].split_once(':')?;
    let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
    if h > 23 || m > 59 {
        return None;
    }
    let utc = humantime::parse_rfc3339_weak(&format!("{stamp}Z")).ok()?;
    let shift = Duration::from_secs((h * 3600 + m * 60) as u64);
    // Local time = UTC + offset, so UTC = local − offset.
    if sign > 0 {
        utc.checked_sub(shift)
    } else {
        utc.checked_add(shift)
    }
}

/// How long to wait from `now` until `at`; zero when `at` passed by no more than one
/// window (the shard starts at once and records how late it was).
pub fn wait(at: SystemTime, now: SystemTime, window: Duration) -> Result<Duration, StartError> {
    match at.duration_since(now) {
        Ok(ahead) if ahead > HORIZON => Err(StartError::TooFar {
            at: stamp(at),
            ahead: crate::units::format_duration(ahead),
            horizon: crate::units::format_duration(HORIZON),
        }),
        Ok(ahead) => Ok(ahead),
        Err(e) if e.duration() > window => Err(StartError::Past {
            at: stamp(at),
            late: crate::units::format_duration(e.duration()),
            window: crate::units::format_duration(window),
        }),
        Err(_) => Ok(Duration::ZERO),
    }
}

/// RFC 3339 with milliseconds, UTC.
pub fn stamp(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// When a run meant to start (`intended`, None: at once) and when it did.
pub fn facts(intended: Option<SystemTime>, actual: SystemTime) -> StartFacts {
    let late_ms = intended.map_or(0.0, |at| match actual.duration_since(at) {
        Ok(d) => d.as_secs_f64() * 1000.0,
        Err(e) => -e.duration().as_secs_f64() * 1000.0,
    });
    StartFacts {
        intended: intended.map(stamp),
        actual: stamp(actual),
        late_ms: (late_ms * 1000.0).round() / 1000.0,
        clock_error_us: clock_error_us(),
    }
}

/// The kernel's estimated clock error (`adjtimex`), when its clock is synchronised.
#[cfg(target_os = "linux")]
fn clock_error_us() -> Option<u64> {
    // SAFETY: `adjtimex` with `modes == 0` only reads the kernel's clock state into the
    // zeroed struct we own; it changes nothing.
    let mut t: libc::timex = unsafe { std::mem::zeroed() };
    let state = unsafe { libc::adjtimex(&mut t) };
    // TIME_ERROR (5): the clock is not synchronised, its error is unknown.
    (state >= 0 && state != libc::TIME_ERROR && t.esterror >= 0).then_some(t.esterror as u64)
}

#[cfg(not(target_os = "linux"))]
fn clock_error_us() -> Option<u64> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> SystemTime {
        parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn reads_rfc3339_with_offsets_and_unix_seconds() {
        let z = at("2026-11-29T21:30:00Z");
        assert_eq!(z.duration_since(UNIX_EPOCH).unwrap().as_secs(), 1_795_987_800);
        assert_eq!(at("1795987800"), z);
        assert_eq!(at("2026-11-29T23:30:00+02:00"), z);
        assert_eq!(at("2026-11-29T16:00:00-05:30"), z);
        assert_eq!(at("1795987800.25"), z + Duration::from_millis(250));
        assert_eq!(at("2026-11-29T21:30:00.250Z"), z + Duration::from_millis(250));
        for bad in [
            "",
            "tomorrow",
            "-5",
            "NaN",
            "1e400",
            "2026-11-29T21:30:00+25:00",
            "2026-13-01T00:00:00Z",
            "aé00000",
            "é+02:00",
            "2026-11-29T21:30:00+0é:0",
            "+é:00é",
        ] {
            assert!(matches!(parse(bad), Err(StartError::Form(_))), "{bad:?}");
        }
    }

    #[test]
    fn waits_refuses_the_past_beyond_a_window_and_the_far_future() {
        let now = at("2026-11-29T21:30:00Z");
        let w = Duration::from_secs(1);
        assert_eq!(wait(now + Duration::from_secs(2), now, w), Ok(Duration::from_secs(2)));
        assert_eq!(wait(now - Duration::from_millis(400), now, w), Ok(Duration::ZERO));
        let e = wait(now - Duration::from_secs(5), now, w).unwrap_err().to_string();
        assert!(e.contains("passed 5s ago") && e.contains("one window (1s)"), "{e}");
        let e = wait(now + Duration::from_secs(3 * 86400), now, w)
            .unwrap_err()
            .to_string();
        assert!(e.contains("3days") || e.contains("3d") || e.contains("72h"), "{e}");
    }

    #[test]
    fn a_warmup_longer_than_the_wait_is_refused() {
        let at = at("2026-11-29T21:30:00Z");
        let r = crate::units::Rate(2000.0);
        assert_eq!(warmup_fits(10_000, r, Duration::from_secs(6), at), Ok(()));
        assert_eq!(warmup_fits(0, r, Duration::ZERO, at), Ok(()));
        let e = warmup_fits(10_000, r, Duration::from_secs(3), at)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("10000 online clients at 2000/s") && e.contains("about 5s"),
            "{e}"
        );
        assert!(e.contains("3s away") && e.contains("population.warmup.rate"), "{e}");
    }

    #[test]
    fn facts_record_how_late_a_start_was() {
        let intended = at("2026-11-29T21:30:00Z");
        let f = facts(Some(intended), intended + Duration::from_micros(1500));
        assert_eq!(f.late_ms, 1.5);
        assert_eq!(f.intended.as_deref(), Some("2026-11-29T21:30:00.000Z"));
        assert_eq!(facts(None, intended).late_ms, 0.0);
    }
}
