//! `stampede compare`: what changed between two runs, exit 1 on a regression.

use std::path::Path;
use std::process::ExitCode;

use super::{BAD_INPUT, CANNOT_PROCEED, GATE_FAILED};
use crate::report::{Report, html, write_atomic};

pub(super) fn compare(base: &Path, new: &Path, out: Option<&Path>, tolerance: f64) -> ExitCode {
    let read = |p: &Path| {
        Report::read(p).map_err(|e| {
            eprintln!("error: {e}");
            ExitCode::from(BAD_INPUT)
        })
    };
    let (b, n) = match (read(base), read(new)) {
        (Ok(b), Ok(n)) => (b, n),
        (Err(c), _) | (_, Err(c)) => return c,
    };
    let (Some(br), Some(nr)) = (&b.recovery, &n.recovery) else {
        eprintln!("error: both reports need their recovery analysis (written by `stampede run`)");
        return ExitCode::from(BAD_INPUT);
    };
    let cmp = crate::analysis::compare(&b.windows, br, &n.windows, nr, tolerance);
    out!(
        "base {} ({}) vs new {} ({})",
        base.display(),
        b.started_at,
        new.display(),
        n.started_at
    );
    out_raw!("{}", cmp.render());
    if let Some(path) = out {
        let page = match html::render_compare(&b, &n, &cmp) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("error: cannot render the comparison: {e}");
                return ExitCode::from(CANNOT_PROCEED);
            }
        };
        if let Err(e) = write_atomic(path, page.as_bytes()) {
            eprintln!("error: {e}");
            return ExitCode::from(CANNOT_PROCEED);
        }
        out!("  comparison: {}", path.display());
    }
    if cmp.any_regression() {
        eprintln!("regression beyond the {:.0}% tolerance", tolerance * 100.0);
        return ExitCode::from(GATE_FAILED);
    }
    ExitCode::SUCCESS
}
