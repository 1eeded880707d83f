//! The ranges profile values must lie in. A value outside its range is a placed
//! problem when the profile loads, never an overflow in the middle of a run; each
//! range is far wider than any storm test needs.

use std::ops::RangeInclusive;
use std::time::Duration;

const MS: Duration = Duration::from_millis(1);
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);

/// Run time: `baseline.duration`, `observe.until_recovered`, `slo.hold`, and the
/// storm's length once `time_scale` has compressed it. A week of wall clock.
pub const RUN: RangeInclusive<Duration> = Duration::ZERO..=Duration::from_secs(7 * 86_400);
/// `target.timeout`, per request.
pub const TIMEOUT: RangeInclusive<Duration> = MS..=HOUR;
/// `slo.p99`: a latency.
pub const LATENCY: RangeInclusive<Duration> = Duration::ZERO..=HOUR;
/// `observe.window`: below 10 ms a window holds too few logins to judge.
pub const WINDOW: RangeInclusive<Duration> = Duration::from_millis(10)..=HOUR;
/// `client.retry.base`, `client.retry.cap`, `client.retry.throttle.window`.
pub const RETRY: RangeInclusive<Duration> = Duration::ZERO..=DAY;
/// The default longest wait a `Retry-After` imposes (beside the backoff cap, the longer
/// one): what a well-behaved client honours. Servers ask for minutes (a login limiter's
/// lock-out); ten minutes honours those and still cuts an hour-long ask, which looks
/// like a misconfiguration more than a wish, and every cut wait is counted.
pub const RETRY_AFTER_CAP: Duration = Duration::from_secs(600);
/// `client.session.every`: below 100 ms keepalives would be a storm of their own.
pub const KEEPALIVE: RangeInclusive<Duration> = Duration::from_millis(100)..=DAY;
/// Modelled time (before `time_scale`): wave offsets, spreads, downtimes, trace times.
/// A year: a trace of a whole year of reboots still fits.
pub const MODELLED: RangeInclusive<Duration> = Duration::ZERO..=Duration::from_secs(365 * 86_400);
/// `population.warmup.rate`, logins per second.
pub const WARMUP_RATE: f64 = 1_000_000.0;
/// `time_scale`: modelled seconds per run second.
pub const TIME_SCALE: RangeInclusive<f64> = 1e-3..=1e6;
/// `client.retry.budget.max_tokens` and `.token_ratio` (gRPC caps max_tokens at 1000).
pub const TOKENS: RangeInclusive<f64> = 1e-3..=1000.0;
/// `client.retry.throttle.k`: below 1 the client refuses requests the server accepts.
pub const THROTTLE_K: RangeInclusive<f64> = 1.0..=1000.0;

/// A trace file: 64 MiB is some four million `t,count` rows.
pub const TRACE_BYTES: u64 = 64 << 20;
/// A CA certificate file (PEM): a bundle of every public root is under 1 MiB.
pub const CA_BYTES: u64 = 4 << 20;
/// A profile file: a profile is a few kilobytes.
pub const PROFILE_BYTES: u64 = 4 << 20;
/// A data file (`client.data`): 64 MiB is about a million rows of credentials.
pub const DATA_BYTES: u64 = 64 << 20;

/// Events one plan may hold (storm reboots and first logins, background logins), 16
/// bytes each: 800 MB. Ten million clients rebooting make twenty million events and
/// plan in under a second; this is 2.5 times that, and still inside 1 GiB with the
/// windows below.
pub const MAX_EVENTS: u64 = 50_000_000;
/// The plan's hard cap, for a profile that never went through validation: the
/// validated limit is on the *expected* count, and a Poisson count may run a few
/// standard deviations (√50 M ≈ 7,100) over it; 1 % of headroom is seventy of them.
pub const HARD_EVENTS: u64 = MAX_EVENTS + MAX_EVENTS / 100;
/// Windows one run may have: each keeps its own histograms (a closed window holds
/// about [`WINDOW_BYTES`]), so 100,000 of them are about 200 MB, and a report a
/// browser still opens. At 1 s windows that is 27 h 46 m of run.
pub const MAX_WINDOWS: u64 = 100_000;
/// A closed window's memory, its histograms encoded (4 + 2 per step of some 200 bytes
/// each) with its counts: an estimate, for the budget's message.
pub const WINDOW_BYTES: u64 = 2 << 10;
/// `population.simulate`: every virtual client has its own state in the engine, and
/// its id, with the background's after it, must fit in 32 bits.
pub const SIMULATED: u32 = MAX_EVENTS as u32;
