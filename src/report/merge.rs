//! Shard reports of one run as one report: found under directories, checked to be one
//! whole run (same profile, seed, shard count and start; every shard once), merged
//! exactly (windows add: counts and histograms), then judged again as a run (recovery
//! and thresholds from the merged windows, not from any one shard's).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use super::{Report, ReportError, ShardFacts};
use crate::analysis::recovery::{ProbeSpan, wants_probe};
use crate::analysis::{Timeline, Totals, analyze_probed, evaluate};
use crate::profile::Slo;
use crate::record::{HistError, HistSummary, Window, merge};
use crate::threshold::Threshold;

/// Why shard reports do not make one run.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error(transparent)]
    Read(#[from] ReportError),
    #[error("no shard report (report.json with a `shard`) under {}", .0.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
    Nothing(Vec<PathBuf>),
    #[error("{} is not a shard report (it has no `shard`: a whole run or a merged one)", .0.display())]
    NotAShard(PathBuf),
    #[error("{} is not a shard of the same run as {}: its {what} is {theirs}, not {ours}", .path.display(), .first.display())]
    Foreign {
        path: PathBuf,
        first: PathBuf,
        what: &'static str,
        ours: String,
        theirs: String,
    },
    #[error("shard {} of {count} is there twice: {} and {}", .index + 1, .a.display(), .b.display())]
    Doubled {
        index: u32,
        count: u32,
        a: PathBuf,
        b: PathBuf,
    },
    #[error("{} is the report of a shard that could not start ({why}): its clients were never stormed; run that shard again", .path.display())]
    NotStarted { path: PathBuf, why: String },
    #[error("the run has {count} shards; missing: {} (1-based)", .missing.iter().map(|i| (i + 1).to_string()).collect::<Vec<_>>().join(", "))]
    Missing { count: u32, missing: Vec<u32> },
    #[error(
        "shard {} started {late_ms:.0} ms away from shard {} ({}), more than one window ({window_ms} ms): their windows do not line up; were their clocks synchronised and their --start-at the same?",
        .index + 1, .reference + 1, .path.display()
    )]
    StartsDisagree {
        index: u32,
        reference: u32,
        path: PathBuf,
        late_ms: f64,
        window_ms: u64,
    },
    #[error(
        "{} holds {windows} windows, but its run lasted {due} or more: its windows were cut short; run that shard again or restore its report",
        .path.display()
    )]
    CutShort { path: PathBuf, windows: u64, due: u64 },
    #[error("{} has window {at} out of its place (its index is not {at}): the report was edited or damaged", .path.display())]
    OutOfPlace { path: PathBuf, at: u64 },
    #[error("{} changed while it was merged: it is not the shard report that was checked", .0.display())]
    Changed(PathBuf),
    #[error("the shards' histograms do not add: {0}")]
    Hist(#[from] HistError),
}

/// Every shard report named by `paths`: a report file, or a directory searched
/// (recursively) for `report.json` files that carry a `shard`. A directory may also
/// hold an earlier merge's output: reports without a `shard` found in a directory are
/// passed over; named as a file, one is an error. Only each report's facts are kept
/// (its windows are counted, not held): the merge reads the windows shard by shard.
pub fn gather(paths: &[PathBuf]) -> Result<Vec<(PathBuf, ShardFacts)>, MergeError> {
    let mut found = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut files = Vec::new();
            find_reports(p, &mut files).map_err(|source| ReportError::Read {
                path: p.clone(),
                source,
            })?;
            files.sort();
            for f in files {
                let r = ShardFacts::read(&f)?;
                if r.shard.is_some() {
                    found.push((f, r));
                }
            }
        } else {
            let r = ShardFacts::read(p)?;
            if r.shard.is_none() && paths.len() > 1 {
                return Err(MergeError::NotAShard(p.clone()));
            }
            found.push((p.clone(), r));
        }
    }
    if found.is_empty() {
        return Err(MergeError::Nothing(paths.to_vec()));
    }
    Ok(found)
}

/// The checked shards merged window by window: each shard's windows are added to the
/// merged run's as they are parsed, so that memory holds the merged run (which every
/// output is rendered from) and one window of a shard, whatever the shards' size.
/// The shards are read one after the other into the merged windows, in `parts`' order:
/// the sums are the ones adding whole reports gives ([`merge_parts`]), to the byte.
pub fn merge_files(parts: &[(PathBuf, ShardFacts)]) -> Result<Report, MergeError> {
    let sum = Rc::new(RefCell::new(Windows::default()));
    let mut merged: Option<Merger> = None;
    for (path, facts) in parts {
        sum.borrow_mut().next_shard();
        let into = sum.clone();
        let read = Report::read_windows(path, move |w| into.borrow_mut().add(w));
        let mut sum = sum.borrow_mut();
        if let Some(e) = sum.failed.take() {
            return Err(e.into());
        }
        let r = read?;
        if ShardFacts::of(&r).with_windows(sum.at as u64, sum.out_of_place) != *facts {
            return Err(MergeError::Changed(path.clone()));
        }
        match &mut merged {
            None => merged = Some(Merger(r)),
            Some(m) => m.add_head(&r)?,
        }
    }
    let mut m = merged.ok_or_else(|| MergeError::Nothing(Vec::new()))?;
    m.0.windows = std::mem::take(&mut sum.borrow_mut().merged);
    m.finish()
}

/// The merged run's windows as the shards' windows arrive, one shard after the other.
#[derive(Default)]
struct Windows {
    merged: Vec<Window>,
    /// The place of the shard's next window.
    at: usize,
    /// The shard's first window whose `index` is not its place.
    out_of_place: Option<u64>,
    /// Why a window did not add: the read stops there.
    failed: Option<HistError>,
}

impl Windows {
    fn next_shard(&mut self) {
        self.at = 0;
        self.out_of_place = None;
    }

    /// The shard's next window added to the merged one at its place, or appended when
    /// the shard is the first to reach that place.
    fn add(&mut self, w: Window) -> Result<(), String> {
        if self.out_of_place.is_none() && w.index as usize != self.at {
            self.out_of_place = Some(self.at as u64);
        }
        match self.merged.get_mut(self.at) {
            Some(mine) => mine.merge(&w).map_err(|e| {
                let said = e.to_string();
                self.failed = Some(e);
                said
            })?,
            None => self.merged.push(w),
        }
        self.at += 1;
        Ok(())
    }
}

fn find_reports(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            find_reports(&path, out)?;
        } else if kind.is_file() && path.file_name().is_some_and(|n| n == "report.json") {
            out.push(path);
        }
    }
    Ok(())
}

/// Checks that the reports are every shard of one run, once each, started together,
/// each with every window its run had.
pub fn check(parts: &[(PathBuf, ShardFacts)]) -> Result<(), MergeError> {
    let Some((first_path, first)) = parts.first() else {
        return Err(MergeError::Nothing(Vec::new()));
    };
    let count = first.shard.map_or(1, |s| s.count);
    let mut seen: BTreeMap<u32, &PathBuf> = BTreeMap::new();
    for (path, r) in parts {
        if let Some(why) = r.not_started() {
            return Err(MergeError::NotStarted {
                path: path.clone(),
                why: why.to_string(),
            });
        }
        let foreign = |what: &'static str, ours: String, theirs: String| MergeError::Foreign {
            path: path.clone(),
            first: first_path.clone(),
            what,
            ours,
            theirs,
        };
        if r.profile_digest != first.profile_digest {
            return Err(foreign(
                "profile",
                first.name.clone(),
                format!("{} (another version)", r.name),
            ));
        }
        if r.seed != first.seed {
            return Err(foreign("seed", first.seed.to_string(), r.seed.to_string()));
        }
        if r.window_ms != first.window_ms {
            return Err(foreign(
                "window",
                format!("{} ms", first.window_ms),
                format!("{} ms", r.window_ms),
            ));
        }
        if r.windows < r.windows_due() {
            return Err(MergeError::CutShort {
                path: path.clone(),
                windows: r.windows,
                due: r.windows_due(),
            });
        }
        if let Some(at) = r.out_of_place {
            return Err(MergeError::OutOfPlace { path: path.clone(), at });
        }
        let intended = |x: &ShardFacts| x.start.as_ref().and_then(|s| s.intended.clone()).unwrap_or_default();
        if intended(r) != intended(first) {
            return Err(foreign("start instant", intended(first), intended(r)));
        }
        let Some(shard) = r.shard else {
            return Err(MergeError::NotAShard(path.clone()));
        };
        if shard.count != count {
            return Err(foreign("shard count", count.to_string(), shard.count.to_string()));
        }
        if let Some(other) = seen.insert(shard.index, path) {
            return Err(MergeError::Doubled {
                index: shard.index,
                count,
                a: other.clone(),
                b: path.clone(),
            });
        }
    }
    let missing: Vec<u32> = (0..count).filter(|i| !seen.contains_key(i)).collect();
    if !missing.is_empty() {
        return Err(MergeError::Missing { count, missing });
    }
    starts_agree(parts)
}

/// The shards' actual starts lie within one window of each other.
fn starts_agree(parts: &[(PathBuf, ShardFacts)]) -> Result<(), MergeError> {
    let actual = |r: &ShardFacts| {
        r.start
            .as_ref()
            .and_then(|s| humantime::parse_rfc3339_weak(&s.actual).ok())
    };
    let Some((reference, at0)) = parts
        .iter()
        .find_map(|(_, r)| Some((r.shard.map_or(0, |s| s.index), actual(r)?)))
    else {
        return Ok(());
    };
    let window_ms = parts[0].1.window_ms;
    for (path, r) in parts {
        let Some(at) = actual(r) else { continue };
        let apart = at.duration_since(at0).unwrap_or_else(|e| e.duration()).as_secs_f64() * 1000.0;
        if apart > window_ms as f64 {
            return Err(MergeError::StartsDisagree {
                index: r.shard.map_or(0, |s| s.index),
                reference,
                path: path.clone(),
                late_ms: apart,
                window_ms,
            });
        }
    }
    Ok(())
}

/// The shards' reports as one run: windows and the generator's figures add, the
/// plan's whole-run figures are kept once, and the run is judged again.
pub fn merge_parts(parts: &[Report]) -> Result<Report, MergeError> {
    let first = parts.first().ok_or_else(|| MergeError::Nothing(Vec::new()))?;
    let mut sum = Windows::default();
    for p in parts {
        sum.next_shard();
        for w in &p.windows {
            if sum.add(w.clone()).is_err() {
                return Err(sum.failed.take().expect("a window that does not add says why").into());
            }
        }
    }
    let mut m = Merger(first.clone());
    for p in &parts[1..] {
        m.add_head(p)?;
    }
    m.0.windows = sum.merged;
    m.finish()
}

/// A merge under way: the first shard's report, the others' figures added to it one by
/// one (their windows go through [`Windows`]).
struct Merger(Report);

impl Merger {
    /// Everything of a shard's report but its windows.
    fn add_head(&mut self, p: &Report) -> Result<(), MergeError> {
        let out = &mut self.0;
        // Per-shard counts add; storm_clients and background_clients are the whole
        // plan's in every shard, so they stay as they are.
        for (a, b) in out
            .plan
            .first_logins_per_window
            .iter_mut()
            .zip(&p.plan.first_logins_per_window)
        {
            *a = a.saturating_add(*b);
        }
        out.plan.planned_first_attempts = out
            .plan
            .planned_first_attempts
            .saturating_add(p.plan.planned_first_attempts);
        out.plan.ended_ms = out.plan.ended_ms.max(p.plan.ended_ms);
        out.interrupted |= p.interrupted;
        if p.stop_reason != crate::outcome::StopReason::Completed {
            out.stop_reason = p.stop_reason;
            out.stop_detail = out.stop_detail.take().or_else(|| p.stop_detail.clone());
            out.preflight = out.preflight.take().or_else(|| p.preflight.clone());
        }
        out.engine.stats.add(&p.engine.stats);
        out.engine.send_lag_ms = HistSummary::of(&merge([&out.engine.send_lag_ms, &p.engine.send_lag_ms])?);
        out.engine.behind |= p.engine.behind;
        // The coarsest shard's: the lag it allowed is the merged run's.
        out.engine.send_precision_ms = match (out.engine.send_precision_ms, p.engine.send_precision_ms) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        for s in &p.engine.missing_series {
            if !out.engine.missing_series.contains(s) {
                out.engine.missing_series.push(s.clone());
            }
        }
        // Only the first shard runs the profile's actions: the run's are its.
        if out.actions.is_empty() {
            out.actions = p.actions.clone();
        }
        Ok(())
    }

    fn finish(self) -> Result<Report, MergeError> {
        let mut out = self.0;
        out.shard = None;
        // Shards are not compared with the target's count (it counts them all).
        out.target_received = None;
        out.totals = Totals::of(&out.windows)?;
        reanalyze(&mut out);
        Ok(out)
    }
}

/// Recovery and thresholds of a merged run, from the merged windows. The SLO the shards
/// used is kept where the profile set it; what they derived is derived again from the
/// whole baseline. Thresholds are parsed again from their expressions.
pub fn reanalyze(r: &mut Report) {
    let Some(prev) = r.recovery.as_ref().map(|x| x.slo.clone()) else {
        return;
    };
    let ms = Duration::from_millis;
    let timeline = Timeline {
        trigger_start: ms(r.plan.trigger_start_ms),
        storm_end: ms(r.plan.storm_end_ms),
        observe_end: ms(r.plan.ended_ms),
    };
    let slo = Slo {
        success_rate: (!prev.derived).then_some(prev.success_rate),
        p99: (!prev.derived).then(|| prev.p99()),
        hold: Some(prev.hold()),
        min_requests: prev.min_requests,
        tolerate: prev.tolerate,
        noise: prev.noise,
        connected: prev.connected,
    };
    let probe = r.recovery.as_ref().and_then(|x| x.probe.as_ref()).map(ProbeSpan::of);
    let mut recovery = analyze_probed(&r.windows, &timeline, probe, &slo, Duration::ZERO);
    let confirm = r
        .profile
        .get("observe")
        .and_then(|o| o.get("confirm"))
        .filter(|c| !c.is_null());
    if let (Some(c), None) = (confirm, &recovery.probe) {
        // Shards do not probe: the decision would need every shard's windows.
        let asked = c.as_str().map_or_else(|| c.to_string(), str::to_string);
        let tell = format!(
            "No confirmation probe ran, although the profile asks for one (observe.confirm: {asked}): the shards of a distributed run do not probe, since the decision needs every shard's windows; the verdict is the windows' alone."
        );
        if wants_probe(recovery.verdict) {
            recovery.summary = format!("{} {tell}", recovery.summary);
        }
        recovery.notes.push(tell);
    }
    let thresholds: Vec<Threshold> = r.thresholds.iter().filter_map(|t| t.expr.parse().ok()).collect();
    r.thresholds = evaluate(&thresholds, &r.windows, &recovery, r.plan.planned_first_attempts);
    r.recovery = Some(recovery);
}
