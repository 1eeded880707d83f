//! Live progress of a run: an indicatif bar on a terminal, a plain line every 5 s
//! otherwise (CI logs), nothing with `--quiet`.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::engine::{Progress, Snapshot};
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
        }
    }

    /// Clears the bar, so that the summary that follows starts on a clean line.
    pub(super) fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

/// One line of progress: elapsed/planned, rates, the last window's success and p99.
pub(super) fn describe(s: &Snapshot) -> String {
    format!(
        "{}/{} · offered {:.0}/s · ok {:.0}/s · ok {} · p99 {} · in flight {} · locked out {}{}{}",
        format_duration(Duration::from_secs(s.elapsed.as_secs())),
        format_duration(s.planned),
        s.offered_rate,
        s.achieved_rate,
        s.last_success.map_or("-".into(), |r| format!("{:.1}%", r * 100.0)),
        s.last_p99_ms.map_or("-".into(), |v| format!("{v:.0}ms")),
        s.in_flight,
        s.locked_out,
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
        match &self.bar {
            Some(b) => {
                // A confirmation probe lengthens the run past the plan's end.
                b.set_length(b.length().unwrap_or(0).max(s.planned.as_millis() as u64));
                b.set_position(s.elapsed.as_millis() as u64);
                b.set_message(describe(s));
            }
            None => {
                if !self.quiet && self.last_line.elapsed() >= PLAIN_EVERY {
                    self.last_line = Instant::now();
                    eprintln!("{}", describe(s));
                }
            }
        }
    }
}
