//! `stampede sweep`: the profile at several intensities and seeds; where recovery stops.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::anyhow;

use super::signal::wait_signal;
use super::{CliError, default_out_dir};
use crate::analysis::map::MapAxis;
use crate::profile::Profile;
use crate::report::{MapCase, SweepSuite, html, junit_map, junit_sweep, sweep_markdown, write_atomic};
use crate::run::sweep::{self, SweepReport, SweepRun};
use crate::run::vary::{AxisSpec, Grid, parse_vary};
use crate::threshold::{MapGate, MapMetric, parse_map_gate};
use crate::units::format_duration;

/// The intensities of a sweep given neither `--intensity` nor `--vary`.
const DEFAULT_INTENSITIES: [f64; 4] = [0.5, 1.0, 1.5, 2.0];

#[derive(clap::Args)]
pub struct SweepArgs {
    /// The profile (YAML) to sweep.
    pub profile: PathBuf,
    /// Storm multipliers (wave shares or trace counts), e.g. 0.5,1,1.5,2 [default:
    /// 0.5,1,1.5,2 without --vary]. With one --vary, intensity is the map's first axis.
    #[arg(long, value_delimiter = ',')]
    pub intensity: Option<Vec<f64>>,
    /// An axis of the map (repeatable, two at most): the profile field at PATH (as
    /// problems name it, e.g. storm.waves[0].share, target.overlay.capacity) set to
    /// each value in turn, every point validated as a hand-written profile.
    #[arg(long, value_name = "PATH=V1,V2,…")]
    pub vary: Vec<String>,
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
    /// one; replaces the profile's `gate` list. Exit 1 when it fails in any run. Two are
    /// judged once on the whole sweep: `metastable_share < 10%` and `cliff > 2x`.
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
        intensity,
        vary,
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
    let (map_gates, run_gates) = split_gates(&gates).map_err(refused)?;
    let (p, grid) = (|| {
        let text = crate::profile::read_profile(&path).map_err(CliError::bad_input)?;
        let env = |k: &str| std::env::var(k).ok();
        let mut p = crate::run::parse(&text, &path, &env).map_err(CliError::bad_input)?;
        super::run::gates(&mut p, &run_gates).map_err(|e| match e {
            CliError::BadInputs(all) => CliError::BadInputs(
                all.into_iter()
                    .map(|m| match m.contains("unknown metric") {
                        true => format!("{m}; a sweep also takes metastable_share and cliff, judged on the whole map"),
                        false => m,
                    })
                    .collect(),
            ),
            e => e,
        })?;
        super::check_actions(&p, allow_actions)?;
        let mut axes = Vec::new();
        match (&intensity, vary.is_empty()) {
            (Some(ks), _) if ks.is_empty() => {
                return Err(CliError::BadInput(anyhow!("--intensity: give at least one intensity")));
            }
            (Some(ks), _) => axes.push(AxisSpec::Intensity(ks.clone())),
            (None, true) => axes.push(AxisSpec::Intensity(DEFAULT_INTENSITIES.to_vec())),
            (None, false) => {}
        }
        let mut bad = Vec::new();
        for v in &vary {
            match parse_vary(v) {
                Ok(a) => axes.push(a),
                Err(e) => bad.push(e.to_string()),
            }
        }
        if !bad.is_empty() {
            return Err(CliError::BadInputs(bad));
        }
        let mut grid = Grid::build(&p, &text, &path, &env, axes)
            .map_err(|es| CliError::BadInputs(es.iter().map(ToString::to_string).collect()))?;
        for pt in &mut grid.points {
            pt.profile.gate = p.gate.clone();
        }
        check_cliff_gate(&map_gates, &grid.axes[0])?;
        Ok((p, grid))
    })()
    .map_err(refused)?;
    let budget = sweep::budget(&grid, seeds);
    let runs = grid.points.len() as u64 * u64::from(seeds);
    let seeds_word = format!("{seeds} seed{}", if seeds == 1 { "" } else { "s" });
    match &grid.axes[..] {
        [a] if a.path == "intensity" => out!(
            "sweep of {}: {} intensit{} × {seeds_word} = {runs} runs, about {} (Ctrl-C stops)",
            p.name,
            a.values.len(),
            if a.values.len() == 1 { "y" } else { "ies" },
            format_duration(budget)
        ),
        axes => out!(
            "map of {}: {} = {} points × {seeds_word} = {runs} runs, about {} (Ctrl-C stops)",
            p.name,
            axes.iter()
                .map(|a| format!("{} ({})", a.path, a.values.join(", ")))
                .collect::<Vec<_>>()
                .join(" × "),
            grid.points.len(),
            format_duration(budget)
        ),
    }
    let dir = out.unwrap_or_else(|| default_sweep_dir(&p));
    std::fs::create_dir_all(&dir).map_err(CliError::cannot_proceed)?;
    // MOVE: keeping the runs as they finish, so that Ctrl-C still leaves the sweep so
    // far, is the library sweep's bookkeeping (`sweep::sweep` could return the partial
    // report when told to stop); it lives here until the library re-layout settles.
    let done = Arc::new(Mutex::new(Vec::new()));
    let kept = done.clone();
    let axes = grid.axes.clone();
    let each = move |r: &SweepRun| {
        if !quiet {
            each_line(r, &axes);
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
        r = sweep::sweep(&grid, seeds, base, Some(&dir), each, &mut progress) => r,
        _ = wait_signal() => {
            eprintln!("sweep interrupted: writing the runs that finished");
            let runs = std::mem::take(&mut *done.lock().unwrap_or_else(|e| e.into_inner()));
            Ok(sweep::report(&p.name, &grid.axes, runs, true))
        }
    };
    let mut report = report.map_err(CliError::cannot_proceed)?;
    if let Some(m) = &report.map {
        report.gates = crate::analysis::map_gate::judge(m, &map_gates);
    }
    let by_intensity = matches!(&grid.axes[..], [a] if a.path == "intensity");
    match (&report.map, by_intensity) {
        (Some(m), false) => out_raw!("\n{}", crate::report::text_map::map(m)),
        _ => out_raw!("\n{}", crate::report::text::sweep(&report.sweep)),
    }
    write_sweep(&report, &dir)?;
    out!(
        "  sweep: {} (and sweep.html; each run's report under runs/)",
        dir.join("sweep.json").display()
    );
    write_ci(&report, by_intensity, junit.as_deref(), summary.as_deref())?;
    if report.interrupted {
        return Err(CliError::Interrupted);
    }
    gate(&report)
}

/// `--gate` split into the sweep-level thresholds (judged on the map) and the rest
/// (judged on each run).
fn split_gates(gates: &[String]) -> Result<(Vec<MapGate>, Vec<String>), CliError> {
    let (mut on_map, mut per_run, mut bad) = (Vec::new(), Vec::new(), Vec::new());
    for g in gates {
        match parse_map_gate(g) {
            Some(Ok(m)) => on_map.push(m),
            Some(Err(e)) => bad.push(format!("--gate {g:?}: {e}")),
            None => per_run.push(g.clone()),
        }
    }
    if bad.is_empty() {
        Ok((on_map, per_run))
    } else {
        Err(CliError::BadInputs(bad))
    }
}

/// `cliff` is relative to the profile's own value of axis 1: refused before any run when
/// that axis has none (a field the profile leaves to its default, or not a number).
fn check_cliff_gate(gates: &[MapGate], axis: &MapAxis) -> Result<(), CliError> {
    match gates.iter().find(|g| g.metric == MapMetric::Cliff) {
        Some(g) if axis.relative.iter().all(Option::is_none) => Err(CliError::BadInput(anyhow!(
            "--gate {:?}: the cliff is relative to the profile's own value of the first axis, and {} has none{}: write the field in the profile, or put an axis with a number first",
            g.expr,
            axis.path,
            match &axis.profile_value {
                Some(v) => format!(" that is a number (it is `{v}`)"),
                None => " (the profile leaves it to its default)".into(),
            }
        ))),
        _ => Ok(()),
    }
}

/// One run as it ends: intensity, seed, storm size, verdict, recovery time, and the
/// thresholds it failed.
fn each_line(r: &SweepRun, axes: &[MapAxis]) {
    let failed = match r.failed() {
        0 => String::new(),
        n => format!(" · {n} of {} thresholds failed", r.thresholds.len()),
    };
    let at = match axes {
        [a] if a.path == "intensity" => format!("intensity {:>5} seed {:>4}", r.intensity, r.seed),
        _ => r.label(axes),
    };
    out!(
        "  {at}: {:>6} storm clients · {} · {}{failed}",
        r.storm_clients,
        r.recovery.verdict_shown(),
        r.recovery
            .recovery_time_ms
            .map_or("–".into(), |ms| format_duration(Duration::from_millis(ms))),
    );
}

/// The sweep's gate: every run's thresholds must hold, and the sweep-level ones on the
/// map (exit 1 naming the runs, or the sweep, where one failed).
fn gate(report: &SweepReport) -> Result<(), CliError> {
    let axes = report.map.as_ref().map_or(&[][..], |m| &m.axes[..]);
    let mut failed = 0;
    for r in report.runs.iter().filter(|r| r.failed() > 0) {
        for t in r.thresholds.iter().filter(|t| !t.passed) {
            eprintln!(
                "{}: {} was {}; required {}",
                r.label(axes),
                t.metric,
                t.measured,
                t.expr
            );
            failed += 1;
        }
    }
    for t in report.gates.iter().filter(|t| !t.passed) {
        eprintln!("the sweep: {} was {}; required {}", t.metric, t.measured, t.expr);
        failed += 1;
    }
    if failed == 0 {
        Ok(())
    } else {
        Err(CliError::GateFailed { failed })
    }
}

/// `--junit FILE` (a suite per run of an intensity sweep, a case per point of a map; the
/// sweep-level gates in a suite of their own) and `--summary FILE` (the Markdown job
/// summary, appended to `$GITHUB_STEP_SUMMARY` too).
fn write_ci(
    report: &SweepReport,
    by_intensity: bool,
    junit: Option<&Path>,
    summary: Option<&Path>,
) -> Result<(), CliError> {
    let axes = report.map.as_ref().map_or(&[][..], |m| &m.axes[..]);
    let suites: Vec<SweepSuite> = report
        .runs
        .iter()
        .map(|r| SweepSuite {
            label: r.label(axes),
            verdict: r.recovery.verdict_shown(),
            thresholds: &r.thresholds,
        })
        .collect();
    if let Some(file) = junit {
        let xml = match &report.map {
            Some(m) if !by_intensity => {
                let cases: Vec<MapCase> = m
                    .cells
                    .iter()
                    .map(|c| MapCase {
                        label: sweep::point_label(axes, &c.point),
                        verdict: crate::report::text_map::cell_words(c),
                        runs: report
                            .runs
                            .iter()
                            .filter(|r| r.at == c.at)
                            .map(|r| (r.seed, &r.thresholds[..]))
                            .collect(),
                    })
                    .collect();
                junit_map(&report.name, &cases, &report.gates, report.interrupted)
            }
            _ => junit_sweep(&report.name, &suites, &report.gates, report.interrupted),
        };
        write_atomic(file, xml.as_bytes()).map_err(CliError::cannot_proceed)?;
    }
    let md = sweep_markdown(
        &report.name,
        &report.sweep,
        report.map.as_ref(),
        &suites,
        &report.gates,
        report.interrupted,
    );
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
    match html::render_sweep(&report.sweep, report.map.as_ref(), &report.gates, &report.name) {
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
