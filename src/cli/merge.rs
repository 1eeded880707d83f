//! `stampede merge`: the reports of several shards of one run as one report.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use super::{BAD_INPUT, CANNOT_PROCEED};
use crate::analysis::{SloSpec, Timeline, analyze};
use crate::report::{Report, terminal};

pub(super) fn merge(paths: &[PathBuf], out: &Path) -> ExitCode {
    let mut parts = Vec::new();
    for p in paths {
        match Report::read(p) {
            Ok(r) => parts.push(r),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(BAD_INPUT);
            }
        }
    }
    let merged = match Report::merge(&parts) {
        Ok(mut m) => {
            reanalyze_merged(&mut m);
            m
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(BAD_INPUT);
        }
    };
    out_raw!("{}", terminal::summary(&merged));
    match merged.write(out) {
        Ok(_) => {
            out!("\n  merged report: {}", out.join("report.json").display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(CANNOT_PROCEED)
        }
    }
}

/// Recovery of a merged run, from the merged windows. The SLO the shards used is kept
/// where the profile set it; what they derived is derived again from the whole baseline.
/// A report without a recovery analysis is left without one.
// MOVE: this is analysis, not command-line work: it belongs in the library beside
// `Report::merge` (e.g. `report::merge_analysis::reanalyze`); it lives here until the
// library re-layout settles, and the library's owner moves it.
pub fn reanalyze_merged(r: &mut Report) {
    let Some(prev) = r.recovery.as_ref().map(|x| x.slo.clone()) else {
        return;
    };
    let ms = Duration::from_millis;
    let timeline = Timeline {
        trigger_start: ms(r.plan.trigger_start_ms),
        storm_end: ms(r.plan.storm_end_ms),
        observe_end: ms(r.plan.ended_ms),
    };
    let slo = SloSpec {
        success_rate: (!prev.derived).then_some(prev.success_rate),
        p99: (!prev.derived).then(|| prev.p99()),
        hold: Some(prev.hold()),
        min_requests: prev.min_requests,
    };
    r.recovery = Some(analyze(&r.windows, &timeline, &slo, Duration::ZERO));
}
