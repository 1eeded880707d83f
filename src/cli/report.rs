//! `stampede report`: the HTML page again from a run's report.json or a sweep's sweep.json.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::CliError;
use crate::report::{Report, html, write_atomic};
use crate::run::sweep::SweepReport;

pub(super) fn report(input: &Path, out: Option<&Path>) -> Result<(), CliError> {
    let file = input_file(input);
    let is_sweep = file.file_name().is_some_and(|n| n == "sweep.json");
    let page = if is_sweep {
        let s: SweepReport = crate::report::read_json(&file)
            .with_context(|| format!("{} is not a stampede sweep", file.display()))
            .map_err(CliError::BadInput)?;
        html::render_sweep(&s.sweep, s.map.as_ref(), &s.gates, &s.name)
    } else {
        html::render(&Report::read(&file).map_err(CliError::bad_input)?)
    };
    let page = page
        .with_context(|| format!("cannot render {}", file.display()))
        .map_err(CliError::CannotProceed)?;
    let dest = out
        .map(Path::to_path_buf)
        .unwrap_or_else(|| file.with_extension("html"));
    write_atomic(&dest, page.as_bytes()).map_err(CliError::cannot_proceed)?;
    out!("{}", dest.display());
    Ok(())
}

/// The file to render: `input` itself, or in a folder its sweep.json, else its report.json.
fn input_file(input: &Path) -> PathBuf {
    if !input.is_dir() {
        input.to_path_buf()
    } else if input.join("sweep.json").exists() {
        input.join("sweep.json")
    } else {
        input.join("report.json")
    }
}
