//! `stampede run`: storm the profile's target, write the report, gate on thresholds.

use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use tokio::sync::watch;

use super::live::Live;
use super::signal::wait_signal;
use super::{CliError, RunArgs, default_out_dir, load};
use crate::engine::EngineOptions;
use crate::report::{Report, terminal, write_atomic};
use crate::run::metrics::Exporter;
use crate::run::stream::Stream;
use crate::run::{RunOptions, plan_for};

pub(super) async fn run(args: RunArgs) -> Result<(), CliError> {
    let (p, shard) = prepare(&args).map_err(|e| refused(e, &args))?;
    let out_dir = args.out.clone().unwrap_or_else(|| default_out_dir(&p));
    let mut confirmed = None;
    // With the windows on stdout, everything meant for a person goes to stderr.
    let to_stdout = args.stream.as_deref() == Some(Path::new("-"));
    let (report, stream, metrics) = match storm(&p, shard, &args, &mut confirmed).await {
        Ok(done) => done,
        Err(Refused { error, sent: false }) => {
            return not_started(&p, shard, confirmed, error, &args, &out_dir);
        }
        Err(Refused { error, .. }) => return Err(error),
    };
    let streamed = stream.map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).finish(&report.windows));
    let summary = terminal::summary(&report);
    if to_stdout {
        eprint!("{summary}");
    } else {
        out_raw!("{summary}");
    }
    report
        .write(&out_dir)
        .with_context(|| format!("writing the report into {}", out_dir.display()))
        .map_err(CliError::CannotProceed)?;
    let written = format!(
        "\n  report: {} (open {} in a browser)",
        out_dir.join("report.json").display(),
        out_dir.join("report.html").display()
    );
    if to_stdout {
        eprintln!("{written}");
    } else {
        out!("{written}");
    }
    ci_outputs(&report, args.junit.as_deref(), args.summary.as_deref())?;
    if let Some(m) = &metrics
        && !report.interrupted
    {
        linger(m, args.metrics_linger).await;
    }
    if let Some(Err(e)) = streamed {
        return Err(CliError::cannot_proceed(e));
    }
    if let Some(a) = &report.abort {
        eprintln!(
            "the storm was stopped at {}: the report covers what was sent until then",
            crate::units::format_duration(std::time::Duration::from_millis(a.at_ms))
        );
        return Err(CliError::Aborted { expr: a.expr.clone() });
    }
    if let Some(f) = &report.preflight {
        return Err(CliError::Preflight(crate::report::terminal::preflight_line(f)));
    }
    if report.interrupted {
        eprintln!("the run was interrupted: the report covers what was sent until then");
        return Err(CliError::Interrupted);
    }
    let failed = report.thresholds.iter().filter(|t| !t.passed).count();
    if report.shard.is_some_and(|s| s.count > 1) {
        // A shard holds part of the clients: its figures are not the run's. The gate is
        // judged once, on the merged report (`stampede merge` exits 1 when it fails).
        if failed > 0 {
            eprintln!(
                "{failed} threshold(s) failed on this shard alone: the merged run is what `stampede merge` gates"
            );
        }
        return Ok(());
    }
    if failed > 0 {
        return Err(CliError::GateFailed { failed });
    }
    Ok(())
}

/// The profile and flags, checked before anything is sent: the profile with `--seed`,
/// `--gate` and `--abort-when` applied, and this process's shard.
fn prepare(args: &RunArgs) -> Result<(crate::profile::Profile, Option<crate::plan::Part>), CliError> {
    let mut p = load(&args.profile)?;
    if let Some(seed) = args.seed {
        p.seed = seed;
    }
    conditions(&mut p, args)?;
    super::check_actions(&p, args.allow_actions)?;
    let shard = match &args.shard {
        Some(spec) => Some(
            crate::run::shard::resolve(spec, args.shards, &|k| std::env::var(k).ok()).map_err(CliError::bad_input)?,
        ),
        None if args.shards.is_some() => {
            return Err(CliError::bad_input(anyhow::anyhow!("--shards goes with --shard auto")));
        }
        None => None,
    };
    if let Some(at) = args.start_at {
        // Checked before anything starts, so a late shard sends nothing, and writes
        // nothing that `merge` could take for its part of the run.
        let left =
            crate::run::start::wait(at, std::time::SystemTime::now(), p.observe.window).map_err(CliError::bad_input)?;
        // The warm-up happens before the wait, and must fit in it.
        crate::run::start::warmup_fits(p.warmup_clients(), p.population.warmup.rate, left, at)
            .map_err(CliError::bad_input)?;
    }
    Ok((p, shard))
}

/// A run refused for bad input still leaves its CI outputs where asked
/// ([`super::refusal_outputs`]). Returns the error unchanged.
fn refused(e: CliError, args: &RunArgs) -> CliError {
    super::refusal_outputs(&e, &args.profile, args.junit.as_deref(), args.summary.as_deref());
    e
}

type Streamed = Option<Arc<Mutex<Stream>>>;

/// `--metrics-linger`: the exporter serves the run's final values for `d` after the
/// run, so that a scraper whose next scrape falls after the end still gets them.
/// Ctrl-C or SIGTERM ends the wait at once.
async fn linger(m: &Exporter, d: std::time::Duration) {
    RUN_OVER.store(true, std::sync::atomic::Ordering::SeqCst);
    if d.is_zero() {
        return;
    }
    eprintln!(
        "metrics: serving the final values at http://{}/metrics for {} (Ctrl-C ends it)",
        m.addr(),
        crate::units::format_duration(d)
    );
    tokio::select! {
        _ = tokio::time::sleep(d) => {}
        _ = wait_signal() => {}
    }
}

/// Why [`storm`] gave no report: the error, and whether anything had been sent (then
/// the run did start, and "could not start" would be untrue).
struct Refused {
    error: CliError,
    sent: bool,
}

/// Everything from the loaded profile and flags to the finished report: the
/// confirmation, the outputs that stream, the run itself. `confirmed` holds
/// the confirmation once given, for the report of a run that could not start.
async fn storm(
    p: &crate::profile::Profile,
    shard: Option<crate::plan::Part>,
    args: &RunArgs,
    confirmed: &mut Option<crate::report::Confirmed>,
) -> Result<(Report, Streamed, Option<Arc<Exporter>>), Refused> {
    let fail = |error: CliError| Refused { error, sent: false };
    let plan = plan_for(p, shard);
    *confirmed = super::confirm::targets(p, &plan, &args.allow_targets).map_err(fail)?;
    let plan_end = plan.end;
    drop(plan);
    let stop = stop_on_signals();
    let stream = match &args.stream {
        Some(path) => Some(Arc::new(Mutex::new(
            Stream::new(stream_to(path).map_err(fail)?).map_err(|e| fail(CliError::cannot_proceed(e)))?,
        ))),
        None => None,
    };
    let metrics = metrics_endpoint(args.metrics_listen).await.map_err(fail)?;
    let mut live = Live::new(args.quiet, plan_end);
    let opts = RunOptions {
        engine: Some(EngineOptions {
            max_rate: args.max_rate.map(|r| r.per_sec()),
            stop: Some(stop),
            retry_after_cap: args.retry_after_cap,
            send_precision: args.send_precision,
            ..EngineOptions::default()
        }),
        shard,
        threads: args.threads,
        start_at: args.start_at,
        confirmed: confirmed.clone(),
        metrics: metrics.clone(),
        stream: stream.clone(),
        skip_drain: false,
        preflight: (!args.no_preflight).then_some(args.preflight),
        allow_actions: super::actions_allowed(args.allow_actions),
    };
    let result = crate::run::run(p, opts, &mut live).await;
    live.finish();
    let report = result.map_err(|e| Refused {
        sent: !e.nothing_sent(),
        error: CliError::cannot_proceed(e),
    })?;
    Ok((report, stream, metrics))
}

/// A run that could not start still leaves its outputs, so that a CI page shows why:
/// report.json (`stop_reason: not-started`), the HTML, a JUnit error case and the
/// summary. The exit code stays the error's own (2 bad input, 3 could not proceed).
fn not_started(
    p: &crate::profile::Profile,
    shard: Option<crate::plan::Part>,
    confirmed: Option<crate::report::Confirmed>,
    e: CliError,
    args: &RunArgs,
    out_dir: &Path,
) -> Result<(), CliError> {
    let why = e.to_string();
    let report = crate::run::not_started(p, shard, confirmed, why.trim_end());
    if let Err(w) = report.write(out_dir) {
        eprintln!("error: writing the report into {}: {w}", out_dir.display());
    } else {
        eprintln!(
            "  report of the run that could not start: {}",
            out_dir.join("report.json").display()
        );
    }
    if let Err(w) = ci_outputs(&report, args.junit.as_deref(), args.summary.as_deref()) {
        eprintln!("error: {w}");
    }
    Err(e)
}

/// `--gate` replaces the profile's thresholds; `--abort-when` adds to its abort
/// conditions. Every bad expression is reported, with its flag (exit 2).
fn conditions(p: &mut crate::profile::Profile, args: &RunArgs) -> Result<(), CliError> {
    gates(p, &args.gates)?;
    let steps = step_names(p);
    let more = crate::threshold::parse_aborts(&args.abort_when, &steps)
        .map_err(|e| bad("--abort-when", &args.abort_when, e))?;
    p.abort.extend(more);
    Ok(())
}

/// `--gate` (of `run` and of `sweep`): when given, it replaces the profile's thresholds.
/// Every bad expression is reported (exit 2).
pub(super) fn gates(p: &mut crate::profile::Profile, gates: &[String]) -> Result<(), CliError> {
    if !gates.is_empty() {
        p.gate = crate::threshold::parse_all(gates, &step_names(p)).map_err(|e| bad("--gate", gates, e))?;
    }
    Ok(())
}

fn step_names(p: &crate::profile::Profile) -> Vec<String> {
    p.client.login.iter().map(|s| s.name.clone()).collect()
}

/// Each bad expression of `flag`, quoted, with why.
fn bad<E: std::fmt::Display>(flag: &str, exprs: &[String], errors: Vec<(usize, E)>) -> CliError {
    CliError::BadInputs(
        errors
            .into_iter()
            .map(|(i, e)| format!("{flag} {:?}: {e}", exprs[i]))
            .collect(),
    )
}

/// `--metrics-listen`: the endpoint, listening before anything is sent.
async fn metrics_endpoint(addr: Option<std::net::SocketAddr>) -> Result<Option<Arc<Exporter>>, CliError> {
    let Some(addr) = addr else {
        return Ok(None);
    };
    if let Some(w) = crate::run::metrics_server::listen_warning(addr) {
        eprintln!("warning: {w}");
    }
    let m = Exporter::bind(addr).await.map_err(CliError::bad_input)?;
    eprintln!("metrics: http://{}/metrics", m.addr());
    Ok(Some(Arc::new(m)))
}

/// Where `--stream` writes: stdout for `-`, else the file (created, or truncated).
fn stream_to(path: &Path) -> Result<Box<dyn std::io::Write + Send>, CliError> {
    if path == Path::new("-") {
        return Ok(Box::new(std::io::stdout()));
    }
    let f = std::fs::File::create(path)
        .with_context(|| format!("--stream {}: cannot create the file", path.display()))
        .map_err(CliError::BadInput)?;
    Ok(Box::new(f))
}

/// Set once the report is written: a signal after it ends the linger, it stops no run.
static RUN_OVER: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The engine's stop level, raised by every Ctrl-C or SIGTERM: 1 sends no new attempts
/// and waits for those in flight, 2 stops at once.
fn stop_on_signals() -> watch::Receiver<u8> {
    let (stop_tx, stop_rx) = watch::channel(0u8);
    tokio::spawn(async move {
        let mut level = 0u8;
        loop {
            wait_signal().await;
            // The run is over (its engine dropped the receiver, or its report is
            // written while a clone of the receiver lives on): a signal now is for what
            // follows it (`--metrics-linger`), not a stop to announce.
            if stop_tx.is_closed() || RUN_OVER.load(std::sync::atomic::Ordering::SeqCst) {
                return;
            }
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
fn ci_outputs(report: &Report, junit: Option<&Path>, summary: Option<&Path>) -> Result<(), CliError> {
    let write = |path: &Path, text: &str| write_atomic(path, text.as_bytes()).map_err(CliError::cannot_proceed);
    if let Some(path) = junit {
        write(path, &crate::report::junit(report))?;
    }
    let Some(md) = crate::report::markdown(report) else {
        return Ok(());
    };
    if let Some(path) = summary {
        write(path, &md)?;
    }
    super::append_step_summary(&md);
    Ok(())
}
