//! `stampede compare`: what changed between two runs, exit 1 on a regression.

use std::path::Path;

use anyhow::{Context as _, anyhow};

use super::CliError;
use crate::report::{Report, html, write_atomic};

pub(super) fn compare(base: &Path, new: &Path, out: Option<&Path>, tolerance: f64) -> Result<(), CliError> {
    // Both are read before either is refused, so that two bad inputs are named at once.
    let (b, n) = match (Report::read(base), Report::read(new)) {
        (Ok(b), Ok(n)) => (b, n),
        (b, n) => {
            let problems = [b.err(), n.err()].into_iter().flatten();
            return Err(CliError::BadInputs(problems.map(|e| e.to_string()).collect()));
        }
    };
    let (Some(br), Some(nr)) = (&b.recovery, &n.recovery) else {
        return Err(CliError::BadInput(anyhow!(
            "both reports need their recovery analysis (written by `stampede run`)"
        )));
    };
    let cmp = crate::analysis::compare(&b.windows, br, &n.windows, nr, tolerance);
    out!(
        "base {} ({}) vs new {} ({})",
        base.display(),
        b.started_at,
        new.display(),
        n.started_at
    );
    out_raw!("{}", crate::report::text::comparison(&cmp));
    if let Some(path) = out {
        let page = html::render_compare(&b, &n, &cmp)
            .context("cannot render the comparison")
            .map_err(CliError::CannotProceed)?;
        write_atomic(path, page.as_bytes()).map_err(CliError::cannot_proceed)?;
        out!("  comparison: {}", path.display());
    }
    if cmp.any_regression() {
        return Err(CliError::Regression { tolerance });
    }
    Ok(())
}
