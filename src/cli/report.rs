//! `stampede report`: the HTML page again from a run's report.json or a sweep's sweep.json.

use std::path::Path;
use std::process::ExitCode;

use super::{BAD_INPUT, CANNOT_PROCEED};
use crate::report::{Report, html, write_atomic};

pub(super) fn report(input: &Path, out: Option<&Path>) -> ExitCode {
    let file = if input.is_dir() {
        if input.join("sweep.json").exists() {
            input.join("sweep.json")
        } else {
            input.join("report.json")
        }
    } else {
        input.to_path_buf()
    };
    let is_sweep = file.file_name().is_some_and(|n| n == "sweep.json");
    let html = if is_sweep {
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", file.display());
                return ExitCode::from(BAD_INPUT);
            }
        };
        match serde_json::from_str::<crate::sweep::SweepReport>(&text) {
            Ok(s) => html::render_sweep(&s.sweep, &s.name).map_err(|e| e.to_string()),
            Err(e) => {
                eprintln!("error: {} is not a stampede sweep: {e}", file.display());
                return ExitCode::from(BAD_INPUT);
            }
        }
    } else {
        match Report::read(&file) {
            Ok(r) => html::render(&r).map_err(|e| e.to_string()),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(BAD_INPUT);
            }
        }
    };
    let html = match html {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: cannot render {}: {e}", file.display());
            return ExitCode::from(CANNOT_PROCEED);
        }
    };
    let dest = out
        .map(Path::to_path_buf)
        .unwrap_or_else(|| file.with_extension("html"));
    match write_atomic(&dest, html.as_bytes()) {
        Ok(()) => {
            out!("{}", dest.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(CANNOT_PROCEED)
        }
    }
}
