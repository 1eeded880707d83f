//! `stampede sweep`: the profile at several intensities and seeds; where recovery stops.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::anyhow;

use super::signal::wait_signal;
use super::{CliError, default_out_dir, load};
use crate::profile::Profile;
use crate::report::{html, write_atomic};
use crate::run::sweep::{self, SweepReport, SweepRun};
use crate::units::format_duration;

/// Intensities one sweep may take: each is `--seeds` whole runs.
const MAX_INTENSITIES: usize = 100;

pub(super) async fn sweep(path: &Path, intensities: &[f64], seeds: u32, out: Option<PathBuf>) -> Result<(), CliError> {
    let p = load(path)?;
    if seeds == 0 || intensities.is_empty() {
        return Err(CliError::BadInput(anyhow!(
            "a sweep needs at least one intensity and one seed"
        )));
    }
    if intensities.len() > MAX_INTENSITIES {
        return Err(CliError::BadInput(anyhow!(
            "--intensity: {} intensities; a sweep takes at most {MAX_INTENSITIES}",
            intensities.len()
        )));
    }
    let budget = sweep::budget(&p, intensities, seeds).map_err(|e| CliError::BadInput(anyhow!(e)))?;
    out!(
        "sweep of {}: {} intensities × {seeds} seeds = {} runs, about {} (Ctrl-C stops)",
        p.name,
        intensities.len(),
        intensities.len() as u64 * u64::from(seeds),
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
            r.recovery.verdict_shown(),
            r.recovery
                .recovery_time_ms
                .map_or("–".into(), |ms| format_duration(Duration::from_millis(ms)))
        );
        kept.lock().unwrap_or_else(|e| e.into_inner()).push(r.clone());
    };
    let mut quiet = ();
    let report = tokio::select! {
        r = sweep::sweep(&p, intensities, seeds, each, &mut quiet) => r,
        _ = wait_signal() => {
            eprintln!("sweep interrupted: writing the runs that finished");
            let runs = std::mem::take(&mut *done.lock().unwrap_or_else(|e| e.into_inner()));
            Ok(sweep::report(&p.name, runs, true))
        }
    };
    let report = report.map_err(CliError::cannot_proceed)?;
    out_raw!("\n{}", crate::report::text::sweep(&report.sweep));
    let dir = out.unwrap_or_else(|| default_sweep_dir(&p));
    write_sweep(&report, &dir)?;
    out!("  sweep: {} (and sweep.html)", dir.join("sweep.json").display());
    if report.interrupted {
        return Err(CliError::Interrupted);
    }
    Ok(())
}

/// sweep.json and, when it renders, sweep.html into `dir`. A page that does not render is
/// a warning: the JSON holds the results, and `stampede report` can try the page again.
fn write_sweep(report: &SweepReport, dir: &Path) -> Result<(), CliError> {
    let json = serde_json::to_string_pretty(report).expect("a sweep serializes");
    std::fs::create_dir_all(dir).map_err(CliError::cannot_proceed)?;
    write_atomic(&dir.join("sweep.json"), json.as_bytes()).map_err(CliError::cannot_proceed)?;
    match html::render_sweep(&report.sweep, &report.name) {
        Ok(page) => write_atomic(&dir.join("sweep.html"), page.as_bytes()).map_err(CliError::cannot_proceed)?,
        Err(e) => eprintln!("warning: cannot render sweep.html: {e}"),
    }
    Ok(())
}

/// `reports/<name>-<timestamp>-sweep/`: a run's default folder with `-sweep` appended.
// MOVE: with `default_out_dir`, to the library's sweep when the re-layout settles.
fn default_sweep_dir(p: &Profile) -> PathBuf {
    let run_dir = default_out_dir(p);
    let name = format!("{}-sweep", run_dir.file_name().unwrap_or_default().to_string_lossy());
    run_dir.with_file_name(name)
}
