//! `stampede run`: storm the profile's target, write the report, gate on thresholds.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use tokio::sync::watch;

use super::live::Live;
use super::signal::wait_signal;
use super::{BAD_INPUT, CANNOT_PROCEED, GATE_FAILED, RunArgs, default_out_dir, load};
use crate::engine::EngineOptions;
use crate::report::{Report, terminal, write_atomic};
use crate::run::{RunOptions, plan_for};

pub(super) async fn run(args: RunArgs) -> ExitCode {
    let mut p = match load(&args.profile) {
        Ok(p) => p,
        Err(code) => return code,
    };
    if let Some(seed) = args.seed {
        p.seed = seed;
    }
    if !args.gates.is_empty() {
        let steps: Vec<String> = p.client.login.iter().map(|s| s.name.clone()).collect();
        match crate::analysis::parse_all(&args.gates, &steps) {
            Ok(t) => p.gate = t,
            Err(errors) => {
                for (i, e) in errors {
                    eprintln!("error: --gate {:?}: {e}", args.gates[i]);
                }
                return ExitCode::from(BAD_INPUT);
            }
        }
    }
    let out_dir = args.out.clone().unwrap_or_else(|| default_out_dir(&p));
    let stop = stop_on_signals();
    let plan_end = plan_for(&p, args.shard).end;
    let mut live = Live::new(args.quiet, plan_end);
    let opts = RunOptions {
        engine: Some(EngineOptions {
            max_rate: args.max_rate.map(|r| r.per_sec()),
            stop: Some(stop),
            ..EngineOptions::default()
        }),
        shard: args.shard,
        threads: args.threads,
    };
    let result = crate::run::run(&p, opts, &mut live).await;
    live.finish();
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(CANNOT_PROCEED);
        }
    };
    out_raw!("{}", terminal::summary(&report));
    if let Err(e) = report
        .write(&out_dir)
        .with_context(|| format!("writing the report into {}", out_dir.display()))
    {
        eprintln!("error: {e:#}");
        return ExitCode::from(CANNOT_PROCEED);
    }
    out!(
        "\n  report: {} (open {} in a browser)",
        out_dir.join("report.json").display(),
        out_dir.join("report.html").display()
    );
    if let Err(code) = ci_outputs(&report, args.junit.as_deref(), args.summary.as_deref()) {
        return code;
    }
    if report.interrupted {
        eprintln!("the run was interrupted: the report covers what was sent until then");
        return ExitCode::from(CANNOT_PROCEED);
    }
    let failed = report.thresholds.iter().filter(|t| !t.passed).count();
    if failed > 0 {
        eprintln!("{failed} threshold(s) failed");
        return ExitCode::from(GATE_FAILED);
    }
    ExitCode::SUCCESS
}

/// The engine's stop level, raised by every Ctrl-C or SIGTERM: 1 sends no new attempts
/// and waits for those in flight, 2 stops at once.
fn stop_on_signals() -> watch::Receiver<u8> {
    let (stop_tx, stop_rx) = watch::channel(0u8);
    tokio::spawn(async move {
        let mut level = 0u8;
        loop {
            wait_signal().await;
            level += 1;
            eprintln!(
                "\n{}",
                if level == 1 {
                    "stopping: no new attempts; waiting for those in flight (Ctrl-C again to stop at once)"
                } else {
                    "stopping now"
                }
            );
            let _ = stop_tx.send(level);
        }
    });
    stop_rx
}

/// JUnit XML and the Markdown job summary, where asked for.
fn ci_outputs(report: &Report, junit: Option<&Path>, summary: Option<&Path>) -> Result<(), ExitCode> {
    let write = |path: &Path, text: &str| {
        write_atomic(path, text.as_bytes()).map_err(|e| {
            eprintln!("error: {e}");
            ExitCode::from(CANNOT_PROCEED)
        })
    };
    if let Some(path) = junit {
        write(
            path,
            &crate::analysis::junit(&format!("stampede {}", report.name), &report.thresholds),
        )?;
    }
    let Some(rec) = &report.recovery else {
        return Ok(());
    };
    let md = crate::analysis::markdown(&report.name, rec, &report.thresholds, &report.totals);
    if let Some(path) = summary {
        write(path, &md)?;
    }
    if let Ok(gh) = std::env::var("GITHUB_STEP_SUMMARY")
        && !gh.is_empty()
    {
        use std::io::Write as _;
        if let Ok(mut f) = std::fs::OpenOptions::new().append(true).create(true).open(&gh) {
            let _ = writeln!(f, "{md}");
        }
    }
    Ok(())
}
