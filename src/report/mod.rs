//! The run's results as documents: `report.json` (versioned, schema in
//! `src/report/report.schema.json`), the HdrHistogram interval log, the terminal
//! summary, the Markdown job summary, JUnit XML and the HTML pages. The figures come
//! from `analysis`; this module renders them, and merges shard reports by adding their
//! windows (`record::Window::merge`).

pub mod compare;
mod h2;
mod held;
#[cfg(test)]
mod held_tests;
mod hlog;
pub mod html;
pub mod junit;
mod junit_sweep;
pub mod markdown;
mod markdown_sweep;
pub mod merge;
#[cfg(test)]
mod merge_tests;
mod read;
pub mod terminal;
#[cfg(test)]
pub(crate) mod testkit;
#[cfg(test)]
mod tests;
pub mod text;
pub mod text_map;
mod words;

pub(crate) use words::{
    cut_short, drain_line, locked_out_line, outcome_lines, outcome_rows, received_line, retry_after_line, stopped_early,
};

pub use junit::{junit, junit_bad_input};
pub use junit_sweep::{MapCase, SweepSuite, junit_map, junit_sweep};
pub use markdown::markdown;
pub use markdown_sweep::sweep_markdown;
pub use read::{REPORT_BYTES, ShardFacts, read_json};

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::analysis::drain::AfterRun;
use crate::analysis::{Recovery, ThresholdResult, Totals};
use crate::outcome::{AbortFacts, StopReason};
use crate::plan::Part;
use crate::record::{EngineStats, HistError, HistSummary, Window};

pub const SCHEMA: &str = "stampede.report/v1";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub schema: String,
    pub stampede_version: String,
    pub name: String,
    pub description: String,
    pub seed: u64,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub interrupted: bool,
    pub stop_reason: StopReason,
    /// Why the run could not start (`stop_reason: not-started`), in the words the
    /// terminal printed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_detail: Option<String>,
    /// The abort condition that stopped the run (`stop_reason: aborted`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort: Option<AbortFacts>,
    /// What the preflight guard found when it stopped the run (`stop_reason: preflight`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preflight: Option<crate::outcome::PreflightFacts>,
    /// What was stormed, in words: node URLs or the embedded overlay.
    pub target: String,
    /// The protocol the flows spoke: `http/1.1`, `h2` (TLS, ALPN) or `h2c` (prior
    /// knowledge). Reports from before HTTP/2 spoke HTTP/1.1.
    #[serde(default = "http1")]
    pub protocol: String,
    /// The profile as written (`${VAR}` unexpanded: no secrets).
    pub profile: serde_json::Value,
    pub plan: PlanFacts,
    pub engine: EngineFacts,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub shard: Option<Part>,
    /// SHA-256 of the profile as written (hex): shards of one run carry the same.
    #[serde(default)]
    pub profile_digest: String,
    /// How the targets outside loopback were confirmed (`loopback`: none were).
    #[serde(default = "loopback")]
    pub confirmed: Confirmed,
    /// When the run meant to start and when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<StartFacts>,
    #[serde(deserialize_with = "read::windows")]
    pub windows: Vec<Window>,
    pub totals: Totals,
    /// Whether and when the target recovered. Every report this version writes has
    /// it (`run` analyses, `merge` analyses the merged windows again); it is optional
    /// only for reading reports that lack it. The schema requires it.
    #[serde(default)]
    pub recovery: Option<Recovery>,
    /// The profile's thresholds with what was measured.
    #[serde(default)]
    pub thresholds: Vec<ThresholdResult>,
    /// The target's series scraped after sending stopped, until its outstanding work
    /// drained or the bound passed; absent when nothing of that kind was scraped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_run: Option<AfterRun>,
    /// The target's own count of the requests it received beside the run's
    /// (`target.metrics.received`): how many never reached it. Absent without one, and
    /// in a shard or a merged report (the target counts every shard's requests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_received: Option<crate::analysis::reached::Reached>,
    /// The profile's `storm.actions` as they ran: when, how they ended, their output's
    /// last lines. Empty without actions (and in shards other than the first, which
    /// alone runs them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<crate::run::actions::ActionFacts>,
}

/// How the run's targets were confirmed, as the report records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "by")]
pub enum Confirmed {
    /// Every node is on loopback: nothing to confirm.
    Loopback,
    /// Named by `--allow-target` or the environment variable.
    Allowed { hosts: Vec<String> },
    /// Typed at the prompt by the person running it.
    Prompt { hosts: Vec<String> },
    /// Outside loopback and not confirmed: the run was refused and nothing was sent
    /// (`stop_reason: not-started`).
    NotConfirmed { hosts: Vec<String> },
}

fn http1() -> String {
    "http/1.1".into()
}

fn loopback() -> Confirmed {
    Confirmed::Loopback
}

/// When a run meant to start and when it did, as its report records them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StartFacts {
    /// The agreed instant (`--start-at`), RFC 3339 UTC; absent when the run started at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intended: Option<String>,
    /// When this process's time zero was, RFC 3339 UTC with milliseconds.
    pub actual: String,
    /// Actual − intended, milliseconds (0 without an agreed instant).
    pub late_ms: f64,
    /// The kernel's estimate of this host's clock error (NTP discipline), microseconds;
    /// absent when the clock is not synchronised or the kernel does not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_error_us: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct PlanFacts {
    pub window_ms: u64,
    pub trigger_start_ms: u64,
    pub storm_end_ms: u64,
    /// When sending was planned to stop ...
    pub end_ms: u64,
    /// ... and when it did (earlier if interrupted).
    pub ended_ms: u64,
    pub storm_clients: u64,
    pub background_clients: u64,
    pub planned_first_attempts: u64,
    pub population_modelled: u64,
    pub population_simulated: u64,
    pub time_scale: f64,
    /// Planned first logins per window.
    pub first_logins_per_window: Vec<u64>,
    /// The source addresses clients were spread over (`target.source_addresses`);
    /// absent when every client used the kernel's choice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sources: Option<SourceSpread>,
    /// `client.data`: the file and its row count, never a value of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<DataFacts>,
    /// The names of the values the flow's steps capture (never the values).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub captures: Vec<String>,
}

impl PlanFacts {
    /// What the flow read and captured, in words, for the summary and the page: the
    /// data file's name and row count and the capture names (`None` when neither).
    pub fn flow_inputs(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(d) = &self.data {
            let rows = if d.rows == 1 { "row" } else { "rows" };
            parts.push(format!("data: {}, {} {rows}", d.file, terminal::thousands(d.rows)));
        }
        if !self.captures.is_empty() {
            parts.push(format!("captures: {}", self.captures.join(", ")));
        }
        (!parts.is_empty()).then(|| parts.join(" · "))
    }
}

/// The data file clients took their rows from, as the report names it: the rows hold
/// credentials, so only their count is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataFacts {
    /// As the profile names it (relative to the profile).
    pub file: String,
    pub rows: u64,
}

/// How many clients each source address carried (a client keeps one for its life).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceSpread {
    pub addresses: u64,
    pub min_clients: u64,
    pub max_clients: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct EngineFacts {
    #[serde(flatten)]
    pub stats: EngineStats,
    /// Actual send − intended instant over the whole run.
    pub send_lag_ms: HistSummary,
    /// Series the profile asked to scrape that the target never exposed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_series: Vec<String>,
    /// For each missing series, the exposed keys nearest it (the same metric with other
    /// labels, or names a few edits away).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub missing_series_nearest: std::collections::BTreeMap<String, Vec<String>>,
    /// Metric names the target declares `# TYPE NAME counter`: charted as rates, as
    /// names ending `_total` are.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_counters: Vec<String>,
    /// The longest wait a `Retry-After` could impose in this run, milliseconds (the
    /// profile's `client.retry.retry_after_cap`, or `--retry-after-cap`); absent when
    /// the clients did not honour `Retry-After`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_cap_ms: Option<u64>,
    /// Sends merged into passes at least this far apart, milliseconds
    /// (`--send-precision`); absent when every send waited for its own instant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_precision_ms: Option<f64>,
    /// True when the generator itself fell behind its schedule (`record::fell_behind`:
    /// p99 send lag over 10 ms, or attempts unstarted): the figures then understate the
    /// load asked for.
    pub behind: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} is not a stampede report: {why}")]
    NotAReport { path: PathBuf, why: String },
    #[error(transparent)]
    Input(#[from] crate::profile::file::ReadError),
    #[error(transparent)]
    Hist(#[from] HistError),
    #[error("cannot render the HTML report: {0}")]
    Render(#[from] html::HtmlError),
}

/// Writes `bytes` to `path` through a temporary file and a rename: a full disk or a
/// crash leaves the previous file or none, never half a report. The temporary file is
/// next to `path` and named after it, the process and a counter (`.report.json.4711.3.tmp`):
/// two outputs of one folder never share one, and no user's file is overwritten.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    write_atomic_with(path, |f| f.write_all(bytes))
}

/// [`write_atomic`] of what `fill` writes, through a buffer: a large output (a merged
/// report.json of 100,000 windows is some 200 MB) is never held whole beside its data.
pub fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut std::io::BufWriter<&std::fs::File>) -> std::io::Result<()>,
) -> Result<(), ReportError> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let err = |source| ReportError::Write {
        path: path.to_path_buf(),
        source,
    };
    let name = path.file_name().map_or_else(|| "out".into(), |n| n.to_string_lossy());
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_file_name(format!(".{name}.{}.{n}.tmp", std::process::id()));
    // `create_new`: never through a file (or a link) that is already there.
    let f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(err)?;
    let written = {
        let mut buffered = std::io::BufWriter::with_capacity(1 << 16, &f);
        fill(&mut buffered).and_then(|()| buffered.flush())
    };
    written.and_then(|()| f.sync_all()).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        err(e)
    })?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        err(e)
    })
}

/// "2 of 4 thresholds failed", or None when none did: the words every output leads
/// with when the gate failed, whatever the verdict.
pub(crate) fn thresholds_failed(results: &[ThresholdResult]) -> Option<String> {
    let failed = results.iter().filter(|t| !t.passed).count();
    (failed > 0).then(|| format!("{failed} of {} thresholds failed", results.len()))
}

/// What every output says next to the thresholds of a run that was stopped early.
pub(crate) const CUT_SHORT: &str = "run interrupted: the thresholds cover only what was sent until then";

/// What every output says of a run that could not start, before its reason.
pub(crate) const NOT_STARTED: &str = "run could not start: nothing was sent and no threshold was judged";

impl Report {
    /// Stopped before its plan ended (Ctrl-C), itself or, when merged, any of its
    /// shards: its thresholds judged only part of the storm.
    pub fn cut_short(&self) -> bool {
        self.interrupted || self.stop_reason != StopReason::Completed
    }

    /// Refused or failed before its first attempt: the reason, when so.
    pub fn not_started(&self) -> Option<&str> {
        (self.stop_reason == StopReason::NotStarted).then(|| self.stop_detail.as_deref().unwrap_or("unknown reason"))
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report always serializes")
    }

    /// Writes report.json, latency.hlog and report.html into `dir` (created if needed).
    /// The JSON goes first: whatever fails after it, the results are kept.
    pub fn write(&self, dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
        std::fs::create_dir_all(dir).map_err(|source| ReportError::Write {
            path: dir.to_path_buf(),
            source,
        })?;
        let json = dir.join("report.json");
        // The same bytes as `to_json`, written as they are made.
        write_atomic_with(&json, |f| {
            serde_json::to_writer_pretty(f, self).map_err(std::io::Error::from)
        })?;
        let hlog = dir.join("latency.hlog");
        write_atomic(&hlog, &self.hlog()?)?;
        let page = dir.join("report.html");
        let html = html::render(self)?;
        write_atomic(&page, html.as_bytes())?;
        Ok(vec![json, hlog, page])
    }
}
