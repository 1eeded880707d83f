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
//! The wake-up itself is late by the kernel's and the reactor's path (tens of µs on a
//! VM, measured): the fd is armed that much early, and the last stretch is a spin on
//! the clock. The lead is learnt from the lateness seen, bounded by `MAX_LEAD`, and
//! only paid after a sleep of at least `SPIN_AFTER` (the core was idle anyway): a busy
//! engine, with deadlines microseconds apart, never spins.

use std::time::{Duration, Instant};

/// The longest a completion batch holds the loop before what is due is looked at.
pub const RESOLUTION: Duration = Duration::from_micros(250);

/// Passes are at least this far apart (µs): what falls due meanwhile leaves in one
/// pass. Small, so that 5,000/s (200 µs apart) is sent on time; an over-offered run
/// pays at most 50,000 timer wake-ups a second, and under load completions wake the
/// loop more often than that anyway.
pub const MIN_GAP: Duration = Duration::from_micros(20);

/// The most the fd is armed ahead of a deadline to spin the rest (µs of CPU per
/// wake-up, at most).
pub const MAX_LEAD: Duration = Duration::from_micros(60);

/// A wait shorter than this is not worth a spin: the engine is busy, and a few µs of
/// lateness among dense deadlines cost less than the core.
pub const SPIN_AFTER: Duration = Duration::from_micros(100);

/// How early to arm, from the wake-up lateness seen: a moving average (1/8 weight, in
/// ns) plus a margin, so that most wake-ups land before their deadline.
#[derive(Debug, Clone, Copy, Default)]
pub struct Lead {
    late_ns: u64,
}

impl Lead {
    /// How far ahead of its deadline the fd is armed.
    pub fn get(&self) -> Duration {
        Duration::from_nanos(self.late_ns + self.late_ns / 2 + 2_000).min(MAX_LEAD)
    }

    /// A wake-up arrived `late` after the instant the fd was armed for.
    pub fn saw(&mut self, late: Duration) {
        let late = (late.as_nanos() as u64).min(4 * MAX_LEAD.as_nanos() as u64);
        self.late_ns = self.late_ns - self.late_ns / 8 + late / 8;
    }
}

#[cfg(target_os = "linux")]
pub struct PreciseTimer {
    fd: tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>,
    /// The deadline the timer is armed for, if any, and the instant the fd fires
    /// (earlier by the lead when the rest is spun).
    armed: Option<(Instant, Instant)>,
    lead: Lead,
    /// When the fd's last wake-up was seen, before any spin.
    woke: Instant,
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
            lead: Lead::default(),
            woke: Instant::now(),
        })
    }

    /// Wake the waiter at `at`. An earlier deadline already armed stands: waking early
    /// costs one pass that finds nothing due, re-arming costs a syscall every pass.
    pub fn set(&mut self, at: Instant) {
        use rustix::time::{Itimerspec, TimerfdTimerFlags, Timespec, timerfd_settime};
        if self.armed.is_some_and(|(cur, _)| cur <= at) {
            return;
        }
        let now = Instant::now();
        let wait = at.saturating_duration_since(now);
        let fire = if wait >= SPIN_AFTER { at - self.lead.get() } else { at };
        // Relative: a zero value would disarm, so never less than a microsecond.
        let rel = fire.saturating_duration_since(now).max(Duration::from_micros(1));
        let spec = Itimerspec {
            it_interval: Timespec { tv_sec: 0, tv_nsec: 0 },
            it_value: Timespec {
                tv_sec: rel.as_secs() as _,
                tv_nsec: rel.subsec_nanos() as _,
            },
        };
        if timerfd_settime(self.fd.get_ref(), TimerfdTimerFlags::empty(), &spec).is_ok() {
            self.armed = Some((at, fire));
        }
    }

    /// Resolves when the armed deadline has passed (never, if none is armed).
    pub async fn wait(&mut self) {
        if self.armed.is_none() {
            return std::future::pending().await;
        }
        loop {
            let Ok(mut guard) = self.fd.readable().await else {
                return std::future::pending().await;
            };
            let mut expirations = [0u8; 8];
            match guard.try_io(|fd| rustix::io::read(fd.get_ref(), &mut expirations).map_err(std::io::Error::from)) {
                Ok(_) => {
                    // The read took every expiration: nothing more until it is armed
                    // again, so forget the readiness instead of paying a read that
                    // would block at the next wait (seen as half of all reads in strace).
                    guard.clear_ready();
                    self.woke = Instant::now();
                    if let Some((at, _)) = self.armed {
                        // The last stretch, at most the lead (bounded above).
                        while Instant::now() < at {
                            std::hint::spin_loop();
                        }
                    }
                    return;
                }
                // Spurious readiness: wait for the next edge.
                Err(_would_block) => continue,
            }
        }
    }

    /// The caller saw `wait` resolve: nothing is armed any more.
    pub fn fired(&mut self) {
        if let Some((at, fire)) = self.armed.take()
            && fire < at
        {
            // The fd's own lateness, measured before the spin.
            self.lead.saw(self.woke.saturating_duration_since(fire));
        }
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
    pub fn set(&mut self, _: Instant) {}
    pub async fn wait(&mut self) {
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
}

#[cfg(test)]
mod lead_tests {
    use super::*;

    #[test]
    fn the_lead_follows_the_lateness_seen_within_its_bound() {
        let mut l = Lead::default();
        assert_eq!(l.get(), Duration::from_micros(2), "a margin before anything is seen");
        for _ in 0..100 {
            l.saw(Duration::from_micros(20));
        }
        let got = l.get();
        assert!(
            got > Duration::from_micros(30) && got < Duration::from_micros(33),
            "{got:?}"
        );
        for _ in 0..100 {
            l.saw(Duration::from_secs(1));
        }
        assert_eq!(l.get(), MAX_LEAD, "a stalled wake-up never buys a long spin");
        for _ in 0..200 {
            l.saw(Duration::ZERO);
        }
        assert!(l.get() < Duration::from_micros(3), "{:?}", l.get());
    }
}
