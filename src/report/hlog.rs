//! `latency.hlog`: the windows' latency histograms as an HdrHistogram interval log,
//! the format HdrHistogram's own tools (Java, Python, HistogramLogAnalyzer) read. A run
//! whose clients hold connections adds its reconnect, heartbeat and upgrade histograms
//! as series of their own (tags `reconnect`, `heartbeat`, `upgrade`).

use std::time::Duration;

use hdrhistogram::Histogram;
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};

use super::{Report, ReportError};
use crate::record::{HistError, HistSummary, SIGFIG, Window};

/// The line HdrHistogram's writers put between the header and the intervals.
const LEGEND: &str = "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n";

fn io(e: impl std::fmt::Debug) -> ReportError {
    ReportError::Write {
        path: "latency.hlog".into(),
        source: std::io::Error::other(format!("{e:?}")),
    }
}

impl Report {
    /// The latency histograms of every window as an HdrHistogram interval log: untagged
    /// intervals are latency from the intended instant, `service` the service time, and
    /// for a connected population `reconnect` (drop to connected again), `heartbeat`
    /// (round trip) and `upgrade`, each window of it; values in microseconds, timestamps in seconds from the run's start (StartTime
    /// and BaseTime both say when that was).
    ///
    /// Every interval declares the range of the whole run. The windows' histograms
    /// grow as values arrive and declared a range as small as 2 µs while holding
    /// seconds; HdrHistogram's readers add intervals into a histogram sized from the
    /// first one, and failed on the first slower window.
    pub fn hlog(&self) -> Result<Vec<u8>, ReportError> {
        // Decoded one window at a time, twice (the range first, then the log): all of
        // them at once held some 40 KB per window (a 100,000-window merge: 4 GB).
        let mut run_max = 0;
        for w in &self.windows {
            for (_, s) in series(w) {
                run_max = run_max.max(s.histogram()?.max());
            }
        }
        // One histogram of the run's range, refilled for each interval.
        let mut sized =
            Histogram::new_with_bounds(1, run_max.max(2), SIGFIG).expect("1 µs up to at least 2 µs is a valid range");
        let mut out = Vec::new();
        let mut ser = V2DeflateSerializer::new();
        {
            let mut b = IntervalLogWriterBuilder::new();
            b.add_comment(&format!(
                "stampede {} run `{}`, values in microseconds",
                self.stampede_version, self.name
            ));
            b.with_max_value_divisor(1000.0);
            // A report whose start is not RFC 3339 (edited by hand) still gets its log,
            // with timestamps relative to an unknown start.
            if let Ok(start) = humantime::parse_rfc3339(&self.started_at) {
                b.with_start_time(start).with_base_time(start);
            }
            let mut w = b.begin_log_with(&mut out, &mut ser).map_err(io)?;
            for win in &self.windows {
                let start = Duration::from_millis(win.start_ms);
                let len = Duration::from_millis(win.len_ms);
                for (tag, h) in series(win) {
                    let tag = tag.map(|t| Tag::new(t).expect("a valid tag"));
                    sized.reset();
                    sized.add(h.histogram()?).map_err(HistError::Add)?;
                    w.write_histogram(&sized, start, len, tag).map_err(io)?;
                }
            }
        }
        // The writer has no call for the legend: it goes after the header's `#` lines.
        let header: usize = out
            .split_inclusive(|&b| b == b'\n')
            .take_while(|l| l.first() == Some(&b'#'))
            .map(<[u8]>::len)
            .sum();
        out.splice(header..header, LEGEND.bytes());
        Ok(out)
    }
}

/// A window's series in the log: the login latency (untagged), `service`, and for a
/// connected population `reconnect`, `heartbeat` and `upgrade`.
fn series(w: &Window) -> Vec<(Option<&'static str>, &HistSummary)> {
    let mut out = vec![(None, &w.latency_ms), (Some("service"), &w.service_ms)];
    if let Some(h) = &w.held {
        out.extend([
            (Some("reconnect"), &h.reconnect_ms),
            (Some("heartbeat"), &h.heartbeat_ms),
            (Some("upgrade"), &h.upgrade_ms),
        ]);
    }
    out
}
