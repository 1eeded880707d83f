//! A wake-up with sub-millisecond precision for the scheduler. tokio's timer wheel has
//! millisecond granularity, which alone puts a send up to 1 ms behind its instant, and a
//! yield loop to beat it took the core from the requests (measured).
//!
//! This is a Linux timerfd registered with tokio's own reactor: arming it is one
//! syscall, it fires with hrtimer precision, and the wake-up arrives through the same
//! epoll wait as the sockets' readiness: no extra thread, no cross-thread hand-off. (The
//! first version was a condvar thread; it cost about 15 % of the throughput at
//! saturation in context switches on a single core.)
//!
//! A wake-up arrives 15–20 µs after the timerfd fires on a KVM guest (a bare C timerfd +
//! epoll loop measured the same, at real-time priority), which alone made the send lag
//! p50 25 µs at 5,000/s. So the timer fires that much ahead of the deadline (learned
//! from each wake-up, at most 40 µs) and spins the rest: send lag p50 0–1 µs, latency
//! p50 0.056–0.062 ms against 0.073–0.080 (nginx, 3 interleaved rounds), for about 5 µs
//! more CPU per request at 5,000/s on a Poisson schedule and 1 µs at 20,000/s; the
//! same at saturation, where completions wake the loop first. On a uniform 5,000/s
//! (oha's schedule) the lead costs nothing net (81.7 µs per request with it, 83.4
//! without: the spin's user time replaces system time); what an exact send costs there
//! is the cross-core wake-ups it causes (docs/performance.md, "The night's run"). (An
//! earlier spin over the whole of each 20 µs pass doubled the CPU; this one is bounded
//! by the lead.)

use std::time::{Duration, Instant};

/// The longest the scheduler waits at least between passes (at the highest rates), and
/// the longest one batch of completions holds it up: what falls due meanwhile leaves in
/// one pass, at most this late.
pub const RESOLUTION: Duration = Duration::from_micros(250);

/// The shortest wait armed: a deadline nearer than this is merged into the next pass.
const MIN_GAP_US: u64 = 2;
/// The due rate is measured over spans this long (µs of run time).
const RATE_SPAN_US: u64 = 5_000;
/// gap (µs) = rate (per s) / this: 50 µs at 5,000/s, 200 µs at 20,000/s, the whole
/// `RESOLUTION` from 25,000/s. While sends are further apart than the gap, the timer is
/// armed for each send's own instant; closer, the wake-ups number 1 / gap a second: at
/// most 10,000 (at 10,000/s), down to 4,000 a second from 25,000/s, where completions
/// wake the loop anyway. (A quarter of this doubled the CPU per request at 20,000/s.)
const RATE_PER_GAP_US: u64 = 100;

/// How long the scheduler waits at least before its next pass, from the rate at which
/// sends fall due: the timer is armed for the exact instant of the next send while sends
/// are sparse (a send then leaves when due, not merged into a pass up to 250 µs late),
/// and merges more the higher the rate, so the wake-ups a second stay bounded.
///
/// With a floor (`--send-precision`), the wake-ups are never nearer than it: every
/// send due within a floor of the pass leaves in it, up to that late. On a KVM guest a
/// wake-up costs about as much CPU as the request it sends (measured: 35 µs of CPU per
/// request exact at 5,000/s, 14 µs with a 1 ms floor), so a machine short of CPU trades
/// precision for it, as oha and wrk2 do with their millisecond timers. The send lag
/// says what it cost; latency still counts from each intended instant.
#[derive(Debug)]
pub struct Pace {
    since_us: u64,
    due: u64,
    gap_us: u64,
    floor_us: u64,
}

impl Default for Pace {
    fn default() -> Pace {
        Pace::with_floor(None)
    }
}

/// The coarsest `--send-precision`: well under the 10 ms of send lag p99 that marks
/// a generator behind its schedule.
pub const MAX_FLOOR: Duration = Duration::from_millis(5);

impl Pace {
    /// Exact sends (None), or passes at least `floor` apart.
    pub fn with_floor(floor: Option<Duration>) -> Pace {
        Pace {
            since_us: 0,
            due: 0,
            gap_us: MIN_GAP_US,
            floor_us: floor.map_or(0, |f| f.min(MAX_FLOOR).as_micros() as u64),
        }
    }

    /// `due` sends (or attempts counted unstarted) fell due in the pass at `now_us`.
    pub fn note(&mut self, due: u64, now_us: u64) {
        self.due += due;
        let span = now_us.saturating_sub(self.since_us);
        if span >= RATE_SPAN_US {
            self.gap_us = gap_for(self.due, span);
            self.due = 0;
            self.since_us = now_us;
        }
    }

    /// The shortest wait from now to the next pass, µs.
    pub fn gap_us(&self) -> u64 {
        self.gap_us.max(self.floor_us)
    }
}

/// The merge window for `due` sends over `span_us`.
fn gap_for(due: u64, span_us: u64) -> u64 {
    let per_s = due.saturating_mul(1_000_000) / span_us.max(1);
    (per_s / RATE_PER_GAP_US).clamp(MIN_GAP_US, RESOLUTION.as_micros() as u64)
}

/// A tokio timer kept a little ahead at all times, so that the time driver always has
/// an expiration earlier than any request's timeout. Otherwise, each time the loop
/// parks with no request in flight (at 5,000/s against a fast target, most times), the
/// next request's timeout is the earliest expiration and registering it wakes the
/// driver with a syscall (an eventfd write, then an extra epoll return): one of each
/// per request in strace.
pub struct Keep {
    sleep: std::pin::Pin<Box<tokio::time::Sleep>>,
    period: Duration,
}

impl Keep {
    /// Ahead by half the request timeout, at most 10 ms (a fresh connection's wait for
    /// the server's close is 20 ms).
    pub fn new(timeout: Duration) -> Keep {
        let period = (timeout / 2).clamp(Duration::from_millis(1), Duration::from_millis(10));
        Keep {
            sleep: Box::pin(tokio::time::sleep(period)),
            period,
        }
    }

    /// Resolves when it is time to `renew`.
    pub async fn wait(&mut self) {
        self.sleep.as_mut().await
    }

    pub fn renew(&mut self) {
        let next = tokio::time::Instant::now() + self.period;
        self.sleep.as_mut().reset(next);
    }
}

/// The most the timer fires ahead of its deadline to make up for the wake-up's own
/// latency (measured 15–20 µs from timerfd expiry to the task running on a KVM guest,
/// even at real-time priority); the rest up to the deadline is spun. Bounded so a
/// misjudged lead costs at most this much CPU per wake-up.
const MAX_LEAD: Duration = Duration::from_micros(40);

#[cfg(target_os = "linux")]
pub struct PreciseTimer {
    fd: tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>,
    /// The deadline the timer is armed for, if any.
    armed: Option<Instant>,
    /// When the timerfd fires: the deadline less `lead`.
    fires: Option<Instant>,
    /// How late a wake-up arrives after the timerfd fires: a running mean of what was
    /// measured, at most `MAX_LEAD`. The timer fires this much ahead of the deadline.
    lead: Duration,
    /// An earlier deadline asked for, armed when the wait begins: the requests of the
    /// pass leave first, and the syscall waits behind them.
    want: Option<Instant>,
    /// The most it fires ahead (`MAX_LEAD`; zero with `--send-precision`: the sends
    /// wait for their pass anyway, nothing to gain from a lead and a spin).
    max_lead: Duration,
}

#[cfg(target_os = "linux")]
impl PreciseTimer {
    pub fn new() -> std::io::Result<PreciseTimer> {
        use rustix::time::{TimerfdClockId, TimerfdFlags, timerfd_create};
        let fd = timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
        )?;
        // SAFETY: the AsyncFd owns the timerfd, which stays open and is never replaced
        // while registered (tokio's I/O-safety requirement).
        let fd = unsafe { tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE)? };
        Ok(PreciseTimer {
            fd,
            armed: None,
            fires: None,
            lead: Duration::ZERO,
            want: None,
            max_lead: MAX_LEAD,
        })
    }

    /// No lead and no spin: the wake-ups are merged into passes anyway.
    pub fn without_lead(mut self) -> PreciseTimer {
        self.max_lead = Duration::ZERO;
        self
    }

    /// Wake the waiter at `at`. An earlier deadline already armed stands: waking early
    /// costs one pass that finds nothing due, re-arming costs a syscall every pass.
    pub fn set(&mut self, at: Instant) {
        if self.armed.or(self.want).is_some_and(|cur| cur <= at) {
            return;
        }
        self.want = Some(at);
    }

    /// Arms the timer for the deadline asked for, if any.
    fn arm(&mut self) {
        use rustix::time::{Itimerspec, TimerfdTimerFlags, Timespec, timerfd_settime};
        let Some(at) = self.want.take() else {
            return;
        };
        // Relative: a zero value would disarm, so never less than a microsecond. Ahead
        // of the deadline by the wake-up's own latency.
        let now = Instant::now();
        let rel = at
            .saturating_duration_since(now)
            .saturating_sub(self.lead)
            .max(Duration::from_micros(1));
        let spec = Itimerspec {
            it_interval: Timespec { tv_sec: 0, tv_nsec: 0 },
            it_value: Timespec {
                tv_sec: rel.as_secs() as _,
                tv_nsec: rel.subsec_nanos() as _,
            },
        };
        if timerfd_settime(self.fd.get_ref(), TimerfdTimerFlags::empty(), &spec).is_ok() {
            self.armed = Some(at);
            self.fires = Some(now + rel);
        }
    }

    /// Resolves when the armed deadline has passed (never, if none is armed).
    ///
    /// The expiration is never read: arming the timer again resets its count, and each
    /// expiration wakes the epoll wait anew (tokio registers edge-triggered), so the
    /// read would be one syscall per wake-up for nothing. A stale readiness costs one
    /// early pass that finds nothing due.
    pub async fn wait(&mut self) {
        self.arm();
        if self.armed.is_none() {
            return std::future::pending().await;
        }
        match self.fd.readable().await {
            Ok(mut guard) => guard.clear_ready(),
            Err(_) => std::future::pending().await,
        }
        self.on_time();
    }

    /// After a wake-up: learns how late it came, then spins the rest of the way to the
    /// deadline (at most `MAX_LEAD`: a stale readiness far ahead of it returns at once,
    /// and the pass finds nothing due). Never returns before a deadline it waited for.
    fn on_time(&mut self) {
        let now = Instant::now();
        if let Some(fires) = self.fires
            && now >= fires
        {
            let late = (now - fires).min(self.max_lead);
            // A running mean over about 8 wake-ups.
            self.lead = (self.lead * 7 + late) / 8;
        }
        if let Some(at) = self.armed
            && at > now
            && at - now <= self.max_lead
        {
            while Instant::now() < at {
                std::hint::spin_loop();
            }
        }
    }

    /// The caller saw `wait` resolve: nothing is armed any more.
    pub fn fired(&mut self) {
        self.armed = None;
        self.fires = None;
    }
}

/// Elsewhere the scheduler falls back to tokio's millisecond timer.
#[cfg(not(target_os = "linux"))]
pub struct PreciseTimer;

#[cfg(not(target_os = "linux"))]
impl PreciseTimer {
    pub fn new() -> std::io::Result<PreciseTimer> {
        Err(std::io::ErrorKind::Unsupported.into())
    }
    pub fn without_lead(self) -> PreciseTimer {
        self
    }
    pub fn set(&mut self, _: Instant) {}
    pub async fn wait(&self) {
        std::future::pending().await
    }
    pub fn fired(&mut self) {}
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[tokio::test]
    async fn wakes_close_to_the_deadline_never_before() {
        let mut t = PreciseTimer::new().unwrap();
        let mut worst = Duration::ZERO;
        for i in 0..20u64 {
            let at = Instant::now() + Duration::from_micros(300 + 100 * i);
            t.set(at);
            t.wait().await;
            t.fired();
            assert!(Instant::now() >= at, "never early");
            worst = worst.max(Instant::now().saturating_duration_since(at));
        }
        // Generous for a loaded CI machine; tokio's own timer would be up to 1 ms late.
        assert!(worst < Duration::from_millis(20), "{worst:?}");
    }

    #[tokio::test]
    async fn the_lead_is_learned_from_the_wake_ups_and_bounded() {
        let mut t = PreciseTimer::new().unwrap();
        assert_eq!(t.lead, Duration::ZERO);
        for _ in 0..30 {
            let at = Instant::now() + Duration::from_micros(500);
            t.set(at);
            t.wait().await;
            t.fired();
            assert!(Instant::now() >= at, "the spin never returns before the deadline");
        }
        // Every wake-up comes some µs after the timerfd fires: the lead grows from 0,
        // and never past its bound.
        assert!(t.lead > Duration::ZERO && t.lead <= MAX_LEAD, "{:?}", t.lead);
    }

    #[tokio::test]
    async fn an_earlier_deadline_stands_and_a_later_one_waits() {
        let mut t = PreciseTimer::new().unwrap();
        let start = Instant::now();
        t.set(start + Duration::from_millis(5));
        t.set(start + Duration::from_secs(60));
        t.wait().await;
        t.fired();
        assert!(start.elapsed() < Duration::from_secs(10));
        // Nothing armed: waiting does not resolve.
        let r = tokio::time::timeout(Duration::from_millis(20), t.wait()).await;
        assert!(r.is_err());
    }

    #[test]
    fn the_merge_window_grows_with_the_rate_within_bounds() {
        assert_eq!(gap_for(0, 5_000), MIN_GAP_US, "idle: exact");
        assert_eq!(gap_for(25, 5_000), 50, "5,000/s");
        assert_eq!(gap_for(100, 5_000), 200, "20,000/s");
        assert_eq!(gap_for(5_000, 5_000), 250, "1,000,000/s: capped at the resolution");
    }

    #[test]
    fn a_floor_keeps_passes_apart_at_every_rate_and_is_bounded() {
        let mut p = Pace::with_floor(Some(Duration::from_millis(1)));
        assert_eq!(p.gap_us(), 1_000, "idle: still a pass per floor at most");
        for t in (10..=5_000).step_by(10) {
            p.note(1, t);
        }
        assert_eq!(p.gap_us(), 1_000, "the floor stands above the rate's own gap");
        assert_eq!(
            Pace::with_floor(Some(Duration::from_secs(1))).gap_us(),
            MAX_FLOOR.as_micros() as u64
        );
        assert_eq!(Pace::default().gap_us(), MIN_GAP_US, "no floor: exact");
    }

    #[tokio::test]
    async fn without_a_lead_it_never_spins_and_still_never_wakes_early() {
        let mut t = PreciseTimer::new().unwrap().without_lead();
        for _ in 0..10 {
            let at = Instant::now() + Duration::from_micros(500);
            t.set(at);
            t.wait().await;
            t.fired();
            assert!(Instant::now() >= at);
        }
        assert_eq!(t.lead, Duration::ZERO, "nothing learned: it fires at the deadline");
    }

    #[test]
    fn the_pace_follows_the_rate_span_by_span() {
        let mut p = Pace::default();
        assert_eq!(p.gap_us(), MIN_GAP_US);
        // 100,000/s: one due every 10 µs for a span.
        for t in (10..=5_000).step_by(10) {
            p.note(1, t);
        }
        assert_eq!(p.gap_us(), 250);
        // Then 1,000/s: the next span brings the window back down.
        for t in (6_000..=11_000).step_by(1_000) {
            p.note(1, t);
        }
        assert_eq!(p.gap_us(), 10);
    }
}
