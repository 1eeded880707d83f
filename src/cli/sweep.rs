//! `stampede sweep`: the profile at several intensities and seeds; where recovery stops.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::signal::wait_signal;
use super::{BAD_INPUT, CANNOT_PROCEED, default_out_dir, load};
use crate::profile::Profile;
use crate::report::{html, write_atomic};
use crate::sweep::SweepRun;
use crate::units::format_duration;

pub(super) async fn sweep(path: &Path, intensities: &[f64], seeds: u32, out: Option<PathBuf>) -> ExitCode {
    let p = match load(path) {
        Ok(p) => p,
        Err(code) => return code,
    };
    if seeds == 0 || intensities.is_empty() {
        eprintln!("error: a sweep needs at least one intensity and one seed");
        return ExitCode::from(BAD_INPUT);
    }
    let budget = match crate::sweep::budget(&p, intensities, seeds) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(BAD_INPUT);
        }
    };
    out!(
        "sweep of {}: {} intensities × {seeds} seeds = {} runs, about {} (Ctrl-C stops)",
        p.name,
        intensities.len(),
        intensities.len() as u32 * seeds,
        format_duration(budget)
    );
    // MOVE: keeping the runs as they finish, so that Ctrl-C still leaves the sweep so
    // far, is the library sweep's bookkeeping (`sweep::sweep` could return the partial
    // report when told to stop); it lives here until the library re-layout settles.
    let done = Arc::new(Mutex::new(Vec::new()));
    let kept = done.clone();
    let each = move |r: &SweepRun| {
        out!(
            "  intensity {:>5} seed {:>4}: {:>6} storm clients · {} · {}",
            r.intensity,
            r.seed,
            r.storm_clients,
            r.recovery.verdict,
            r.recovery
                .recovery_time_ms
                .map_or("–".into(), |ms| format_duration(Duration::from_millis(ms)))
        );
        kept.lock().unwrap_or_else(|e| e.into_inner()).push(r.clone());
    };
    let mut quiet = ();
    let report = tokio::select! {
        r = crate::sweep::sweep(&p, intensities, seeds, each, &mut quiet) => r,
        _ = wait_signal() => {
            eprintln!("sweep interrupted: writing the runs that finished");
            let runs = std::mem::take(&mut *done.lock().unwrap_or_else(|e| e.into_inner()));
            Ok(crate::sweep::report(&p.name, runs, true))
        }
    };
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(CANNOT_PROCEED);
        }
    };
    out_raw!("\n{}", report.sweep.render());
    let dir = out.unwrap_or_else(|| default_sweep_dir(&p));
    let json = serde_json::to_string_pretty(&report).expect("a sweep serializes");
    if let Err(e) = std::fs::create_dir_all(&dir)
        .map_err(|e| e.to_string())
        .and_then(|_| write_atomic(&dir.join("sweep.json"), json.as_bytes()).map_err(|e| e.to_string()))
    {
        eprintln!("error: {e}");
        return ExitCode::from(CANNOT_PROCEED);
    }
    match html::render_sweep(&report.sweep, &report.name) {
        Ok(page) => {
            if let Err(e) = write_atomic(&dir.join("sweep.html"), page.as_bytes()) {
                eprintln!("error: {e}");
                return ExitCode::from(CANNOT_PROCEED);
            }
        }
        Err(e) => eprintln!("warning: cannot render sweep.html: {e}"),
    }
    out!("  sweep: {} (and sweep.html)", dir.join("sweep.json").display());
    if report.interrupted {
        return ExitCode::from(CANNOT_PROCEED);
    }
    ExitCode::SUCCESS
}

/// `reports/<name>-<timestamp>-sweep/`: a run's default folder with `-sweep` appended.
// MOVE: with `default_out_dir`, to the library's sweep when the re-layout settles.
fn default_sweep_dir(p: &Profile) -> PathBuf {
    let run_dir = default_out_dir(p);
    let name = format!("{}-sweep", run_dir.file_name().unwrap_or_default().to_string_lossy());
    run_dir.with_file_name(name)
}
