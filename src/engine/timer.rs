//! A wake-up with sub-millisecond precision for the scheduler. tokio's timer wheel has
//! millisecond granularity, which alone puts a send up to 1 ms behind its instant, and a
//! yield loop to beat it took the core from the requests (measured).
//!
//! This is a Linux timerfd registered with tokio's own reactor: arming it is one
//! syscall, it fires with hrtimer precision, and the wake-up arrives through the same
//! epoll wait as the sockets' readiness: no extra thread, no cross-thread hand-off. (The
//! first version was a condvar thread; it cost about 15 % of the throughput at
//! saturation in context switches on a single core.)

use std::time::{Duration, Instant};

/// Deadlines closer together than this are merged: the scheduler then sends what is due
/// in one pass, at most this late.
pub const RESOLUTION: Duration = Duration::from_micros(250);

#[cfg(target_os = "linux")]
pub struct PreciseTimer {
    fd: tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>,
    /// The deadline the timer is armed for, if any.
    armed: Option<Instant>,
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
        Ok(PreciseTimer { fd, armed: None })
    }

    /// Wake the waiter at `at`. An earlier deadline already armed stands: waking early
    /// costs one pass that finds nothing due, re-arming costs a syscall every pass.
    pub fn set(&mut self, at: Instant) {
        use rustix::time::{Itimerspec, TimerfdTimerFlags, Timespec, timerfd_settime};
        if self.armed.is_some_and(|cur| cur <= at) {
            return;
        }
        // Relative: a zero value would disarm, so never less than a microsecond.
        let rel = at
            .saturating_duration_since(Instant::now())
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
        }
    }

    /// Resolves when the armed deadline has passed (never, if none is armed).
    pub async fn wait(&self) {
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
                    return;
                }
                // Spurious readiness: wait for the next edge.
                Err(_would_block) => continue,
            }
        }
    }

    /// The caller saw `wait` resolve: nothing is armed any more.
    pub fn fired(&mut self) {
        self.armed = None;
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
