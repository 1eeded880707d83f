//! A wake-up with sub-millisecond precision for the scheduler. tokio's timer wheel has
//! millisecond granularity, which alone puts a send up to 1 ms behind its instant; a
//! yield loop to beat it took the core from the requests (measured). This thread
//! sleeps on a condvar until the deadline (an hrtimer-backed futex wait on Linux) and
//! wakes the scheduler through a `Notify`: precise, and idle while it waits.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// Deadlines closer together than this are merged: the scheduler then sends what is due
/// in one pass, at most this late.
pub const RESOLUTION: Duration = Duration::from_micros(250);

struct Shared {
    deadline: Mutex<State>,
    changed: Condvar,
    notify: Notify,
}

struct State {
    at: Option<Instant>,
    stop: bool,
}

pub struct PreciseTimer {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl PreciseTimer {
    pub fn start() -> std::io::Result<PreciseTimer> {
        let shared = Arc::new(Shared {
            deadline: Mutex::new(State { at: None, stop: false }),
            changed: Condvar::new(),
            notify: Notify::new(),
        });
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("stampede-timer".into())
            .spawn(move || {
                let mut st = s.deadline.lock().unwrap_or_else(|e| e.into_inner());
                loop {
                    if st.stop {
                        return;
                    }
                    match st.at {
                        None => st = s.changed.wait(st).unwrap_or_else(|e| e.into_inner()),
                        Some(at) => {
                            let now = Instant::now();
                            if now >= at {
                                st.at = None;
                                s.notify.notify_one();
                            } else {
                                st = s
                                    .changed
                                    .wait_timeout(st, at - now)
                                    .unwrap_or_else(|e| e.into_inner())
                                    .0;
                            }
                        }
                    }
                }
            })?;
        Ok(PreciseTimer {
            shared,
            thread: Some(thread),
        })
    }

    /// Wake the waiter at `at` (an earlier pending deadline stands).
    pub fn set(&self, at: Instant) {
        let mut st = self.shared.deadline.lock().unwrap_or_else(|e| e.into_inner());
        if st.at.is_none_or(|cur| at < cur) {
            st.at = Some(at);
            self.shared.changed.notify_one();
        }
    }

    /// Resolves at the deadline last set (or at once if it has already passed).
    pub async fn wait(&self) {
        self.shared.notify.notified().await;
    }
}

impl Drop for PreciseTimer {
    fn drop(&mut self) {
        if let Ok(mut st) = self.shared.deadline.lock() {
            st.stop = true;
        }
        self.shared.changed.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn wakes_close_to_the_deadline() {
        let t = PreciseTimer::start().unwrap();
        let mut worst = Duration::ZERO;
        for i in 0..20u64 {
            let at = Instant::now() + Duration::from_micros(300 + 100 * i);
            t.set(at);
            t.wait().await;
            let late = Instant::now().saturating_duration_since(at);
            assert!(Instant::now() >= at, "never early");
            worst = worst.max(late);
        }
        // Generous for a loaded CI machine; tokio's own timer would be up to 1 ms late.
        assert!(worst < Duration::from_millis(20), "{worst:?}");
    }
}
