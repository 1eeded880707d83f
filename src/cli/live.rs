//! Live progress of a run: an indicatif bar on a terminal, a plain line every 5 s
//! otherwise (CI logs), nothing with `--quiet`.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::engine::{Progress, Snapshot};
use crate::report::terminal::thousands;
use crate::units::format_duration;

/// How often a plain progress line is written when stderr is not a terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

pub(super) struct Live {
    bar: Option<ProgressBar>,
    quiet: bool,
    last_line: Instant,
    /// A countdown to `--start-at` has been announced (once, even with `--quiet`: a
    /// pod that waits must say why in its log).
    counting: bool,
    /// The warm-up has been announced (its first line is written at once in a log: the
    /// clock has not started, and the log says why).
    warming: bool,
    /// The warm-up's end has been written (once, in a log).
    warmed: bool,
}

impl Live {
    /// `planned`: how long the run is planned to send, the bar's full length.
    pub(super) fn new(quiet: bool, planned: Duration) -> Live {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let b = ProgressBar::new(planned.as_millis() as u64);
            b.set_style(
                ProgressStyle::with_template("{spinner} {elapsed_precise} [{bar:30.cyan/blue}] {msg}")
                    .expect("static template")
                    .progress_chars("=> "),
            );
            b
        });
        Live {
            bar,
            quiet,
            last_line: Instant::now(),
            counting: false,
            warming: false,
            warmed: false,
        }
    }

    /// Clears the bar, so that the summary that follows starts on a clean line.
    pub(super) fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

/// One line of progress: elapsed/planned, rates, the last window's success and p99;
/// before time zero, how far the warm-up is.
pub(super) fn describe(s: &Snapshot) -> String {
    if let Some(w) = s.warmup {
        return format!(
            "warm-up: {} of {} online clients logged in ({} ok) · the clock starts after it",
            thousands(w.answered),
            thousands(w.clients),
            thousands(w.ok)
        );
    }
    format!(
        "{}/{} · offered {:.0}/s · ok {:.0}/s · ok {} · p99 {} · in flight {} · locked out {}{}{}{}",
        format_duration(Duration::from_secs(s.elapsed.as_secs())),
        format_duration(s.planned),
        s.offered_rate,
        s.achieved_rate,
        s.last_success.map_or("-".into(), |r| format!("{:.1}%", r * 100.0)),
        s.last_p99_ms.map_or("-".into(), |v| format!("{v:.0}ms")),
        s.in_flight,
        s.locked_out,
        s.held.map_or(String::new(), |h| format!(
            " · connected {} of {}",
            thousands(h.connected),
            thousands(h.online)
        )),
        if s.probing {
            " · confirmation probe: retries silenced"
        } else {
            ""
        },
        if s.stopping { " · draining" } else { "" }
    )
}

impl Progress for Live {
    fn countdown(&mut self, remaining: Duration) {
        let line = format!("starting in {} (--start-at)", format_duration(remaining));
        match &self.bar {
            Some(b) => b.set_message(line),
            None if !self.counting || (!self.quiet && self.last_line.elapsed() >= PLAIN_EVERY) => {
                self.last_line = Instant::now();
                eprintln!("{line}");
            }
            None => {}
        }
        self.counting = true;
    }

    fn update(&mut self, s: &Snapshot) {
        let warming = s.warmup.is_some();
        self.update_display(s);
        self.warming |= warming;
    }
}

impl Live {
    fn update_display(&mut self, s: &Snapshot) {
        match &self.bar {
            Some(b) => {
                // A confirmation probe lengthens the run past the plan's end.
                b.set_length(b.length().unwrap_or(0).max(s.planned.as_millis() as u64));
                b.set_position(s.elapsed.as_millis() as u64);
                b.set_message(describe(s));
            }
            None => {
                // A log says when the warm-up begins and when it is done, whatever the
                // interval: until then the clock has not started, and the log says why.
                let first = s.warmup.is_some() && !self.warming;
                let done = s.warmup.is_some_and(|w| w.answered >= w.clients) && !self.warmed;
                self.warmed |= done;
                if !self.quiet && (first || done || self.last_line.elapsed() >= PLAIN_EVERY) {
                    self.last_line = Instant::now();
                    eprintln!("{}", describe(s));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::WarmupProgress;

    #[test]
    fn before_the_clock_the_line_says_how_far_the_warm_up_is() {
        let s = Snapshot {
            warmup: Some(WarmupProgress {
                clients: 10_000,
                answered: 3_200,
                ok: 3_180,
            }),
            ..Default::default()
        };
        assert_eq!(
            describe(&s),
            "warm-up: 3,200 of 10,000 online clients logged in (3,180 ok) · the clock starts after it"
        );
        let running = Snapshot {
            elapsed: Duration::from_secs(3),
            planned: Duration::from_secs(60),
            ..Default::default()
        };
        assert!(
            describe(&running).starts_with("3s/1m · offered"),
            "{}",
            describe(&running)
        );
        assert!(!describe(&running).contains("connected"));
        let held = Snapshot {
            held: Some(crate::engine::HeldGauge {
                connected: 14_000,
                online: 20_000,
            }),
            ..running
        };
        assert!(
            describe(&held).ends_with("locked out 0 · connected 14,000 of 20,000"),
            "{}",
            describe(&held)
        );
    }
}
