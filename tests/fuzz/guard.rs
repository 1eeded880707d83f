//! One fuzz case at a time on its own thread, under `catch_unwind` and a time limit,
//! for `tests/fuzz.rs` and `tests/fuzz_inputs.rs`.
//!
//! A case over the limit is not a hang yet: on a machine shared with builds, a case of
//! honest work (a plan near the 50,000,000-event budget) can pass the limit because the
//! machine was busy. Its first attempt is waited for (up to [`GRACE`] limits more, so
//! that it no longer competes), then the case runs again alone; only a second attempt
//! over the limit, or a first one still running after the grace, is a hang. Cases that
//! passed on the second attempt are counted apart (`re-run`), so a machine that was
//! too busy shows in the table instead of vanishing.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How many limits the first attempt of a slow case is waited for before the re-run.
pub const GRACE: u32 = 6;

/// What a guarded case came to.
pub enum Guarded<T> {
    Done(T),
    /// The panic's message and where it happened.
    Panicked(String),
    Hung,
}

/// A guarded case: its end, the time its counted attempt took, and whether that was
/// the second attempt (the first was over the limit).
pub struct Ran<T> {
    pub end: Guarded<T>,
    pub took: Duration,
    pub reran: bool,
}

thread_local! {
    static PANIC_AT: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Panics are counted, not printed: the hook keeps where the last one happened, for
/// the message of the case that panicked.
pub fn quiet_panics() {
    std::panic::set_hook(Box::new(|info| {
        let at = info.location().map(|l| l.to_string()).unwrap_or_default();
        PANIC_AT.with(|p| *p.borrow_mut() = at);
    }));
}

fn attempt<T: Send + 'static>(f: Arc<dyn Fn() -> T + Send + Sync>) -> mpsc::Receiver<Guarded<T>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let got = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f()));
        let _ = tx.send(match got {
            Ok(v) => Guarded::Done(v),
            Err(p) => {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                Guarded::Panicked(format!("{msg} at {}", PANIC_AT.with(|p| p.borrow().clone())))
            }
        });
    });
    rx
}

/// Runs `f` under `limit`, re-running it once alone when the first attempt is over it.
pub fn guarded<T: Send + 'static>(limit: Duration, f: Arc<dyn Fn() -> T + Send + Sync>) -> Ran<T> {
    let started = Instant::now();
    let first = attempt(f.clone());
    if let Ok(end) = first.recv_timeout(limit) {
        return Ran {
            end,
            took: started.elapsed(),
            reran: false,
        };
    }
    let hung = |took| Ran {
        end: Guarded::Hung,
        took,
        reran: false,
    };
    // Whatever the first attempt ends in, the second one decides.
    if first.recv_timeout(limit * GRACE).is_err() {
        return hung(started.elapsed());
    }
    let again = Instant::now();
    match attempt(f).recv_timeout(limit) {
        Ok(end) => Ran {
            end,
            took: again.elapsed(),
            reran: true,
        },
        Err(_) => Ran {
            reran: true,
            ..hung(again.elapsed())
        },
    }
}

/// The columns every fuzz family is reported in (`bench/fuzz.sh` prints them).
pub const HEADER: &str = "  family        cases  accepted   refused  unplaced   panics    hangs   re-run";

/// One family's row under [`HEADER`]: its cases, then `[accepted, refused, unplaced,
/// panics, hangs, re-run]`.
pub fn row(family: &str, cases: u64, n: [u64; 6]) -> String {
    format!(
        "  {family:<10} {cases:>8} {:>9} {:>9} {:>9} {:>8} {:>8} {:>8}",
        n[0], n[1], n[2], n[3], n[4], n[5]
    )
}
