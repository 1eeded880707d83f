//! Reports read back (`report`, `compare`, `merge`) through the same bounded reader as
//! profiles: a regular file (never `/dev/zero` or a FIFO) of at most [`REPORT_BYTES`],
//! parsed as it is read (no copy of the text, no JSON tree beside the report).
//! `merge` first reads each shard's facts without keeping its windows ([`ShardFacts`]),
//! then each shard's windows one at a time as they are parsed ([`Report::read_windows`]).

use std::cell::RefCell;
use std::fmt;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use serde::de::{DeserializeOwned, Error as _, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::{Report, ReportError, SCHEMA, StartFacts};
use crate::outcome::StopReason;
use crate::plan::Part;
use crate::profile::file::{ReadError, open_limited};
use crate::record::Window;

/// The largest report read back: a run of the most windows a profile may have
/// (100,000, `profile::limits::MAX_WINDOWS`) with a few steps writes some 180 MB.
pub const REPORT_BYTES: u64 = 512 << 20;

/// `T` from the JSON file at `path`, read through the bounded reader.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, ReportError> {
    let mut reader = BufReader::new(open_limited(path, REPORT_BYTES)?);
    let value = serde_json::from_reader(&mut reader).map_err(|e| ReportError::NotAReport {
        path: path.to_path_buf(),
        why: e.to_string(),
    });
    // The reader stops one byte past the limit: a file that grew past it while read.
    if reader.get_mut().limit() == 0 {
        return Err(ReadError::TooLarge {
            path: path.to_path_buf(),
            limit: REPORT_BYTES,
        }
        .into());
    }
    value
}

/// `path` itself, or the report.json of the folder `path`.
fn report_file(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join("report.json")
    } else {
        path.to_path_buf()
    }
}

/// Only the schema: what a file that does not read as a report claims to be.
#[derive(Deserialize)]
struct Schema {
    schema: Option<String>,
}

/// Why `file` is not a report this stampede reads, when its schema says so.
fn wrong_schema(file: &Path) -> Option<ReportError> {
    let why = match read_json::<Schema>(file).ok()?.schema {
        Some(s) if s == SCHEMA => return None,
        Some(other) => format!("schema `{other}`, this stampede reads `{SCHEMA}`"),
        None => "no `schema` field".into(),
    };
    Some(ReportError::NotAReport {
        path: file.to_path_buf(),
        why,
    })
}

impl Report {
    /// A run's report.json (the file, or the folder holding it).
    pub fn read(path: &Path) -> Result<Report, ReportError> {
        let file = report_file(path);
        let mut r: Report = match read_json(&file) {
            Ok(r) => r,
            Err(e @ ReportError::Input(_)) => return Err(e),
            Err(e) => return Err(wrong_schema(&file).unwrap_or(e)),
        };
        if let Some(e) = (r.schema != SCHEMA).then(|| wrong_schema(&file)).flatten() {
            return Err(e);
        }
        // Reports written before the figure was kept: the same computation, from the counts.
        r.totals.success_rate = r.totals.counts.success_rate();
        Ok(r)
    }

    /// A report read as [`Report::read`] reads it, except that its windows are handed to
    /// `each` one by one as they are parsed, in their order, and not kept (the report
    /// returned has none): memory holds one window of the file at a time. An `Err` from
    /// `each` stops the read; its text is in the error returned.
    pub fn read_windows(
        path: &Path,
        each: impl FnMut(Window) -> Result<(), String> + 'static,
    ) -> Result<Report, ReportError> {
        struct Unset;
        impl Drop for Unset {
            fn drop(&mut self) {
                WINDOW_SINK.with(|s| s.borrow_mut().take());
            }
        }
        WINDOW_SINK.with(|s| *s.borrow_mut() = Some(Box::new(each)));
        let _unset = Unset;
        Report::read(path)
    }
}

type Sink = Box<dyn FnMut(Window) -> Result<(), String>>;

thread_local! {
    /// Where [`windows`] hands the windows of the report being read, when
    /// [`Report::read_windows`] reads it. A report's fields are derived; this is how
    /// one of them reaches a caller without a second copy of the report's type.
    static WINDOW_SINK: RefCell<Option<Sink>> = const { RefCell::new(None) };
}

/// `Report::windows` as it is read: collected, or handed one by one to the sink
/// [`Report::read_windows`] set (taken out: one report has one list of windows).
pub(super) fn windows<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Window>, D::Error> {
    let Some(sink) = WINDOW_SINK.with(|s| s.borrow_mut().take()) else {
        return Vec::<Window>::deserialize(d);
    };
    struct Each(Sink);
    impl<'de> Visitor<'de> for Each {
        type Value = Vec<Window>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a list of windows")
        }
        fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<Self::Value, A::Error> {
            while let Some(w) = seq.next_element::<Window>()? {
                (self.0)(w).map_err(A::Error::custom)?;
            }
            Ok(Vec::new())
        }
    }
    d.deserialize_seq(Each(sink))
}

/// What `merge` checks of a shard before it adds the shard's windows: read without
/// keeping them, so that checking N shards costs one report's memory at most.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardFacts {
    pub name: String,
    pub seed: u64,
    pub profile_digest: String,
    pub window_ms: u64,
    /// When the shard's run ended (ms from its start).
    pub ended_ms: u64,
    pub shard: Option<Part>,
    pub start: Option<StartFacts>,
    pub stop_reason: StopReason,
    pub stop_detail: Option<String>,
    /// Windows the report holds.
    pub windows: u64,
    /// The first window whose `index` is not its place, if one is not.
    pub out_of_place: Option<u64>,
}

impl ShardFacts {
    pub fn of(r: &Report) -> ShardFacts {
        ShardFacts {
            name: r.name.clone(),
            seed: r.seed,
            profile_digest: r.profile_digest.clone(),
            window_ms: r.plan.window_ms,
            ended_ms: r.plan.ended_ms,
            shard: r.shard,
            start: r.start.clone(),
            stop_reason: r.stop_reason,
            stop_detail: r.stop_detail.clone(),
            windows: r.windows.len() as u64,
            out_of_place: r
                .windows
                .iter()
                .enumerate()
                .find(|(i, w)| w.index as usize != *i)
                .map(|(i, _)| i as u64),
        }
    }

    /// These facts of a report read without its windows ([`Report::read_windows`]),
    /// with what its windows were.
    pub fn with_windows(self, windows: u64, out_of_place: Option<u64>) -> ShardFacts {
        ShardFacts {
            windows,
            out_of_place,
            ..self
        }
    }

    /// A shard report's facts, its windows counted and dropped as they are read.
    pub fn read(path: &Path) -> Result<ShardFacts, ReportError> {
        let file = report_file(path);
        let raw: RawFacts = match read_json(&file) {
            Ok(r) => r,
            Err(e @ ReportError::Input(_)) => return Err(e),
            Err(e) => return Err(wrong_schema(&file).unwrap_or(e)),
        };
        if let Some(e) = (raw.schema != SCHEMA).then(|| wrong_schema(&file)).flatten() {
            return Err(e);
        }
        Ok(ShardFacts {
            name: raw.name,
            seed: raw.seed,
            profile_digest: raw.profile_digest,
            window_ms: raw.plan.window_ms,
            ended_ms: raw.plan.ended_ms,
            shard: raw.shard,
            start: raw.start,
            stop_reason: raw.stop_reason,
            stop_detail: raw.stop_detail,
            windows: raw.windows.0,
            out_of_place: raw.windows.1,
        })
    }

    pub fn not_started(&self) -> Option<&str> {
        (self.stop_reason == StopReason::NotStarted).then(|| self.stop_detail.as_deref().unwrap_or("unknown reason"))
    }

    /// Windows a run that ended at `ended_ms` holds at least: every window that began
    /// before its end.
    pub fn windows_due(&self) -> u64 {
        self.ended_ms / self.window_ms.max(1)
    }
}

#[derive(Deserialize)]
struct RawFacts {
    schema: String,
    name: String,
    seed: u64,
    #[serde(default)]
    profile_digest: String,
    plan: RawPlan,
    #[serde(default)]
    shard: Option<Part>,
    #[serde(default)]
    start: Option<StartFacts>,
    stop_reason: StopReason,
    #[serde(default)]
    stop_detail: Option<String>,
    #[serde(deserialize_with = "count_windows")]
    windows: (u64, Option<u64>),
}

#[derive(Deserialize)]
struct RawPlan {
    window_ms: u64,
    ended_ms: u64,
}

#[derive(Deserialize)]
struct WindowIndex {
    index: u32,
}

/// The windows counted, each checked to sit at its own index, none kept.
fn count_windows<'de, D: Deserializer<'de>>(d: D) -> Result<(u64, Option<u64>), D::Error> {
    struct Count;
    impl<'de> Visitor<'de> for Count {
        type Value = (u64, Option<u64>);
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a list of windows")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let (mut n, mut odd) = (0u64, None);
            while let Some(w) = seq.next_element::<WindowIndex>()? {
                if odd.is_none() && u64::from(w.index) != n {
                    odd = Some(n);
                }
                n += 1;
            }
            Ok((n, odd))
        }
    }
    d.deserialize_seq(Count)
}
