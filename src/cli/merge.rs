//! `stampede merge`: the reports of several shards of one run as one report.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::CliError;
use crate::analysis::{Timeline, analyze};
use crate::profile::Slo as SloSpec;
use crate::report::{Report, terminal};

pub(super) fn merge(paths: &[PathBuf], out: &Path) -> Result<(), CliError> {
    let parts = paths
        .iter()
        .map(|p| Report::read(p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(CliError::bad_input)?;
    let mut merged = Report::merge(&parts).map_err(|e| CliError::BadInput(anyhow::Error::msg(e)))?;
    reanalyze_merged(&mut merged);
    out_raw!("{}", terminal::summary(&merged));
    merged.write(out).map_err(CliError::cannot_proceed)?;
    out!("\n  merged report: {}", out.join("report.json").display());
    Ok(())
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
