//! `stampede merge`: the reports of every shard of one run as one report, judged again
//! as a whole (its thresholds gate here, not in the shards).

use std::path::{Path, PathBuf};

use super::CliError;
use crate::report::merge::{check, gather, merge_files};
use crate::report::terminal;

pub(super) fn merge(paths: &[PathBuf], out: &Path) -> Result<(), CliError> {
    let found = gather(paths).map_err(CliError::bad_input)?;
    check(&found).map_err(CliError::bad_input)?;
    let count = found.len();
    let merged = merge_files(&found).map_err(CliError::bad_input)?;
    out_raw!("{}", terminal::summary(&merged));
    merged.write(out).map_err(CliError::cannot_proceed)?;
    out!(
        "\n  merged report of {count} shard{}: {}",
        if count == 1 { "" } else { "s" },
        out.join("report.json").display()
    );
    let failed = merged.thresholds.iter().filter(|t| !t.passed).count();
    if failed > 0 {
        return Err(CliError::GateFailed { failed });
    }
    Ok(())
}
