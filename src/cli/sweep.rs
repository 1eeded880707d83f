//! `stampede sweep`: the profile at several intensities and seeds; where recovery stops.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::anyhow;

use super::signal::wait_signal;
use super::{CliError, default_out_dir, load};
use crate::profile::Profile;
use crate::report::{SweepSuite, html, junit_sweep, sweep_markdown, write_atomic};
use crate::run::sweep::{self, SweepReport, SweepRun};
use crate::units::format_duration;

/// Intensities one sweep may take: each is `--seeds` whole runs.
const MAX_INTENSITIES: usize = 100;

#[derive(clap::Args)]
pub struct SweepArgs {
    /// The profile (YAML) to sweep.
    pub profile: PathBuf,
    /// Storm multipliers (wave shares or trace counts), e.g. 0.5,1,1.5,2.
    #[arg(long, value_delimiter = ',', default_value = "0.5,1,1.5,2")]
    pub intensity: Vec<f64>,
    /// Seeds per intensity (the profile's seed, +1, +2, ...), 1 to 1000.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub seeds: u32,
    /// Output folder for sweep.json [default: reports/<name>-<timestamp>-sweep/].
    #[arg(short, long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Engine threads of each run, as `run --threads` [default: every core; half of them
    /// with the embedded overlay].
    #[arg(long, short = 't', value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub threads: Option<u32>,
    /// No line per run as it ends: only the sweep's table and where it was written.
    #[arg(long, short)]
    pub quiet: bool,
    /// A threshold (repeatable) judged on every run of the sweep, as `run --gate` judges
    /// one; replaces the profile's `gate` list. Exit 1 when it fails in any run.
    #[arg(long = "gate", value_name = "EXPR")]
    pub gates: Vec<String>,
    /// Let the profile's `storm.actions` run in every run of the sweep, as `run
    /// --allow-actions` (also $STAMPEDE_ALLOW_ACTIONS=1).
    #[arg(long)]
    pub allow_actions: bool,
    /// Write the thresholds as JUnit XML to FILE: a test suite per run, a case per threshold.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write a Markdown summary of the sweep for a CI job page to FILE: the gate's
    /// outcome, each intensity's recoveries and every threshold that failed, with its
    /// run (also appended to $GITHUB_STEP_SUMMARY when that is set).
    #[arg(long, value_name = "FILE")]
    pub summary: Option<PathBuf>,
}

pub(super) async fn sweep(args: SweepArgs) -> Result<(), CliError> {
    let SweepArgs {
        profile: path,
        intensity: intensities,
        seeds,
        out,
        threads,
        quiet,
        gates,
        junit,
        summary,
        allow_actions,
    } = args;
    let refused = |e: CliError| {
        super::refusal_outputs(&e, &path, junit.as_deref(), summary.as_deref());
        e
    };
    let p = (|| {
        let mut p = load(&path)?;
        super::run::gates(&mut p, &gates)?;
        super::check_actions(&p, allow_actions)?;
        Ok(p)
    })()
    .map_err(refused)?;
    if seeds == 0 || intensities.is_empty() {
        return Err(refused(CliError::BadInput(anyhow!(
            "a sweep needs at least one intensity and one seed"
        ))));
    }
    if intensities.len() > MAX_INTENSITIES {
        return Err(refused(CliError::BadInput(anyhow!(
            "--intensity: {} intensities; a sweep takes at most {MAX_INTENSITIES}",
            intensities.len()
        ))));
    }
    let budget = sweep::budget(&p, &intensities, seeds).map_err(|e| refused(CliError::BadInput(anyhow!(e))))?;
    out!(
        "sweep of {}: {} intensit{} × {seeds} seed{} = {} runs, about {} (Ctrl-C stops)",
        p.name,
        intensities.len(),
        if intensities.len() == 1 { "y" } else { "ies" },
        if seeds == 1 { "" } else { "s" },
        intensities.len() as u64 * u64::from(seeds),
        format_duration(budget)
    );
    // MOVE: keeping the runs as they finish, so that Ctrl-C still leaves the sweep so
    // far, is the library sweep's bookkeeping (`sweep::sweep` could return the partial
    // report when told to stop); it lives here until the library re-layout settles.
    let done = Arc::new(Mutex::new(Vec::new()));
    let kept = done.clone();
    let each = move |r: &SweepRun| {
        if !quiet {
            each_line(r);
        }
        kept.lock().unwrap_or_else(|e| e.into_inner()).push(r.clone());
    };
    let mut progress = ();
    let base = crate::run::RunOptions {
        threads,
        allow_actions: super::actions_allowed(allow_actions),
        ..Default::default()
    };
    let report = tokio::select! {
        r = sweep::sweep(&p, &intensities, seeds, base, each, &mut progress) => r,
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
    write_ci(&report, junit.as_deref(), summary.as_deref())?;
    if report.interrupted {
        return Err(CliError::Interrupted);
    }
    gate(&report.runs)
}

/// One run as it ends: intensity, seed, storm size, verdict, recovery time, and the
/// thresholds it failed.
fn each_line(r: &SweepRun) {
    let failed = match r.failed() {
        0 => String::new(),
        n => format!(" · {n} of {} thresholds failed", r.thresholds.len()),
    };
    out!(
        "  intensity {:>5} seed {:>4}: {:>6} storm clients · {} · {}{failed}",
        r.intensity,
        r.seed,
        r.storm_clients,
        r.recovery.verdict_shown(),
        r.recovery
            .recovery_time_ms
            .map_or("–".into(), |ms| format_duration(Duration::from_millis(ms))),
    );
}

/// The sweep's gate: every run's thresholds must hold (exit 1 naming the runs that failed).
fn gate(runs: &[SweepRun]) -> Result<(), CliError> {
    let bad: Vec<&SweepRun> = runs.iter().filter(|r| r.failed() > 0).collect();
    if bad.is_empty() {
        return Ok(());
    }
    for r in &bad {
        for t in r.thresholds.iter().filter(|t| !t.passed) {
            eprintln!(
                "intensity {} seed {}: {} was {}; required {}",
                r.intensity, r.seed, t.metric, t.measured, t.expr
            );
        }
    }
    Err(CliError::GateFailed {
        failed: bad.iter().map(|r| r.failed()).sum(),
    })
}

/// `--junit FILE` (a suite per run that finished) and `--summary FILE` (the Markdown
/// job summary, appended to `$GITHUB_STEP_SUMMARY` too).
fn write_ci(report: &SweepReport, junit: Option<&Path>, summary: Option<&Path>) -> Result<(), CliError> {
    let suites: Vec<SweepSuite> = report
        .runs
        .iter()
        .map(|r| SweepSuite {
            label: format!("intensity {} seed {}", r.intensity, r.seed),
            verdict: r.recovery.verdict_shown(),
            thresholds: &r.thresholds,
        })
        .collect();
    if let Some(file) = junit {
        let xml = junit_sweep(&report.name, &suites, report.interrupted);
        write_atomic(file, xml.as_bytes()).map_err(CliError::cannot_proceed)?;
    }
    let md = sweep_markdown(&report.name, &report.sweep, &suites, report.interrupted);
    if let Some(file) = summary {
        write_atomic(file, md.as_bytes()).map_err(CliError::cannot_proceed)?;
    }
    super::append_step_summary(&md);
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
