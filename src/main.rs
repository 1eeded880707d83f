//! The `stampede` command: parses, runs, maps the outcome to an exit code.
//! Exit codes: 0 success, 1 a threshold failed, 2 bad input, 3 the run could not proceed.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use stampede::engine::{EngineOptions, Progress, Snapshot};
use stampede::plan::Part as Shard;
use stampede::profile::Profile;
use stampede::report::terminal::sparkline;
use stampede::report::{Report, terminal};
use stampede::run::{RunOptions, plan_for};
use stampede::units::{Dur, Rate, format_duration};

#[derive(Parser)]
#[command(
    name = "stampede",
    version,
    about = "Replays login storms and measures whether, and how fast, the target recovers."
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Storm the profile's target and write the report.
    Run(RunArgs),
    /// Check a profile and show the storm's shape without sending anything.
    #[command(alias = "plan")]
    Validate {
        profile: PathBuf,
        #[arg(long, value_parser = parse_shard)]
        shard: Option<Shard>,
    },
    /// Merge the report.json of several shards of one run into one report.
    Merge {
        reports: Vec<PathBuf>,
        #[arg(short, long)]
        out: PathBuf,
    },
    /// Render the HTML report again from a run's report.json (or a sweep's sweep.json).
    Report {
        /// A run folder, a report.json or a sweep.json.
        input: PathBuf,
        /// Where to write the page [default: beside the input].
        #[arg(short, long)]
        out: Option<PathBuf>,
    },
    /// Compare two runs: what changed, and a non-zero exit on a regression.
    Compare {
        base: PathBuf,
        new: PathBuf,
        /// Also write both runs overlaid as an HTML page.
        #[arg(short, long)]
        out: Option<PathBuf>,
        /// Allowed worsening before a change counts as a regression.
        #[arg(long, default_value = "10%")]
        tolerance: stampede::units::Share,
    },
    /// Run the profile at several storm intensities and seeds; report where recovery stops.
    Sweep {
        profile: PathBuf,
        /// Storm multipliers (wave shares or trace counts), e.g. 0.5,1,1.5,2.
        #[arg(long, value_delimiter = ',', default_value = "0.5,1,1.5,2")]
        intensity: Vec<f64>,
        /// Seeds per intensity (the profile's seed, +1, +2, ...).
        #[arg(long, default_value_t = 3)]
        seeds: u32,
        /// Output folder for sweep.json [default: reports/<name>-sweep-<timestamp>/].
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Serve the reference overlay for other tools (curl, wrk, a browser).
    Overlay {
        /// Address to listen on (loopback only is wise: it is a test target).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// Preset: healthy, bug-2007, unbounded, december-2010.
        #[arg(long, default_value = "healthy")]
        mode: String,
        /// YAML file of overlay settings that replace the preset's.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Clients 0..N are logged in when it starts.
        #[arg(long)]
        initial_online: Option<u64>,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    profile: PathBuf,
    /// Output folder [default: reports/<name>-<timestamp>/].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Safety ceiling on requests per second (e.g. 5000/s). Not a pacer: delayed
    /// requests still count their latency from their intended instant.
    #[arg(long)]
    max_rate: Option<Rate>,
    /// Run only shard I of N (`--shard 2/4`, 1-based); all shards start at one instant.
    #[arg(long, value_parser = parse_shard)]
    shard: Option<Shard>,
    /// Engine threads, each with its own part of the clients and its own connections
    /// [default: every core; half of them with the embedded overlay].
    #[arg(long, short = 't', value_parser = clap::value_parser!(u32).range(1..=1024))]
    threads: Option<u32>,
    /// Override the profile's seed.
    #[arg(long)]
    seed: Option<u64>,
    /// No live progress.
    #[arg(long, short)]
    quiet: bool,
    /// A threshold (repeatable), e.g. `--gate "recovery_time < 3m"`; replaces the
    /// profile's `gate` list.
    #[arg(long = "gate", value_name = "EXPR")]
    gates: Vec<String>,
    /// Write the thresholds as JUnit XML (one test case each) to FILE.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Write a Markdown summary for a CI job page to FILE (also appended to
    /// $GITHUB_STEP_SUMMARY when that is set).
    #[arg(long, value_name = "FILE")]
    summary: Option<PathBuf>,
}

fn parse_shard(s: &str) -> Result<Shard, String> {
    let (i, n) = s.split_once('/').ok_or("write the shard as I/N, e.g. 2/4")?;
    let (i, n): (u32, u32) = (
        i.trim().parse().map_err(|_| "I is not a number")?,
        n.trim().parse().map_err(|_| "N is not a number")?,
    );
    if n == 0 || i == 0 || i > n {
        return Err(format!("shard {i}/{n}: I must be from 1 to N"));
    }
    Ok(Shard { index: i - 1, count: n })
}

/// `println!` that does not panic when stdout is closed (`stampede validate p | head`).
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// `print!` that does not panic when stdout is closed.
macro_rules! out_raw {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout().lock(), $($arg)*);
    }};
}

const GATE_FAILED: u8 = 1;
const BAD_INPUT: u8 = 2;
const CANNOT_PROCEED: u8 = 3;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(CANNOT_PROCEED);
        }
    };
    // The command runs as a task on the workers, not on the thread that blocks on the
    // runtime: the engine's scheduler then shares threads with the requests it starts,
    // instead of being woken across threads for every completion.
    rt.block_on(async {
        tokio::spawn(dispatch(cli.cmd)).await.unwrap_or_else(|e| {
            eprintln!("error: the run stopped unexpectedly: {e}");
            ExitCode::from(CANNOT_PROCEED)
        })
    })
}

async fn dispatch(cmd: Cmd) -> ExitCode {
    {
        match cmd {
            Cmd::Run(args) => cmd_run(args).await,
            Cmd::Validate { profile, shard } => cmd_validate(&profile, shard),
            Cmd::Merge { reports, out } => cmd_merge(&reports, &out),
            Cmd::Report { input, out } => cmd_report(&input, out.as_deref()),
            Cmd::Compare {
                base,
                new,
                out,
                tolerance,
            } => cmd_compare(&base, &new, out.as_deref(), tolerance.0),
            Cmd::Sweep {
                profile,
                intensity,
                seeds,
                out,
            } => cmd_sweep(&profile, &intensity, seeds, out).await,
            Cmd::Overlay {
                listen,
                mode,
                config,
                initial_online,
            } => cmd_overlay(listen, &mode, config.as_deref(), initial_online).await,
        }
    }
}

fn load(path: &Path) -> Result<Profile, ExitCode> {
    stampede::run::load(path).map_err(|e| {
        eprint!("error: {e}");
        ExitCode::from(BAD_INPUT)
    })
}

fn cmd_validate(path: &Path, shard: Option<Shard>) -> ExitCode {
    let p = match load(path) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let started = Instant::now();
    let plan = plan_for(&p, shard);
    let took = started.elapsed();
    let per_window = plan.logins_per_window(p.observe.window);
    let peak = per_window.iter().max().copied().unwrap_or(0) as f64 / p.observe.window.as_secs_f64();
    let first = plan.first_logins();
    out!("{}: valid", path.display());
    out!(
        "  {} — {}",
        p.name,
        if p.description.is_empty() {
            "(no description)"
        } else {
            &p.description
        }
    );
    out!(
        "  clients: {} rebooting in the storm + {} background logins (population {} modelled, {} simulated, 1 stands for {:.0})",
        terminal::thousands(plan.storm_clients as u64),
        terminal::thousands(plan.background_clients as u64),
        terminal::thousands(p.population.modelled),
        terminal::thousands(p.population.simulated as u64),
        p.population.weight()
    );
    out!(
        "  first attempts due: {} · peak {:.0}/s (per {} window)",
        terminal::thousands(first),
        peak,
        Dur(p.observe.window)
    );
    out!(
        "  trigger at {} · storm ends {} · sending stops {} (time scale {}×)",
        format_duration(plan.trigger_start),
        format_duration(plan.storm_end),
        format_duration(plan.end),
        p.time_scale
    );
    let r = &p.client.retry;
    out!(
        "  retry: {:?} base {} cap {} jitter {:?}, at most {} attempts{}",
        r.kind,
        Dur(r.base),
        Dur(r.cap),
        r.jitter,
        r.max_attempts,
        if r.honor_retry_after {
            ", honours Retry-After"
        } else {
            ""
        }
    );
    out!("  shape |{}|", sparkline(&per_window, 60));
    out!("  (plan built in {took:.2?}; nothing was sent)");
    ExitCode::SUCCESS
}

fn cmd_report(input: &Path, out: Option<&Path>) -> ExitCode {
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
        match serde_json::from_str::<stampede::run::sweep::SweepReport>(&text) {
            Ok(s) => stampede::report::html::render_sweep(&s.sweep, &s.name).map_err(|e| e.to_string()),
            Err(e) => {
                eprintln!("error: {} is not a stampede sweep: {e}", file.display());
                return ExitCode::from(BAD_INPUT);
            }
        }
    } else {
        match Report::read(&file) {
            Ok(r) => stampede::report::html::render(&r).map_err(|e| e.to_string()),
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
    match stampede::report::write_atomic(&dest, html.as_bytes()) {
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

fn cmd_compare(base: &Path, new: &Path, html: Option<&Path>, tolerance: f64) -> ExitCode {
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
    let cmp = stampede::analysis::compare(&b.windows, br, &n.windows, nr, tolerance);
    out!(
        "base {} ({}) vs new {} ({})",
        base.display(),
        b.started_at,
        new.display(),
        n.started_at
    );
    out_raw!("{}", stampede::report::text::comparison(&cmp));
    if let Some(path) = html {
        let page = match stampede::report::html::render_compare(&b, &n, &cmp) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("error: cannot render the comparison: {e}");
                return ExitCode::from(CANNOT_PROCEED);
            }
        };
        if let Err(e) = stampede::report::write_atomic(path, page.as_bytes()) {
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

async fn cmd_sweep(path: &Path, intensities: &[f64], seeds: u32, out: Option<PathBuf>) -> ExitCode {
    let p = match load(path) {
        Ok(p) => p,
        Err(code) => return code,
    };
    if seeds == 0 || intensities.is_empty() {
        eprintln!("error: a sweep needs at least one intensity and one seed");
        return ExitCode::from(BAD_INPUT);
    }
    let budget = match stampede::run::sweep::budget(&p, intensities, seeds) {
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
    // Runs are kept as they finish, so that Ctrl-C still leaves the sweep so far.
    let done = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = done.clone();
    let each = move |r: &stampede::run::sweep::SweepRun| {
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
        r = stampede::run::sweep::sweep(&p, intensities, seeds, each, &mut quiet) => r,
        _ = wait_signal() => {
            eprintln!("sweep interrupted: writing the runs that finished");
            let runs = std::mem::take(&mut *done.lock().unwrap_or_else(|e| e.into_inner()));
            Ok(stampede::run::sweep::report(&p.name, runs, true))
        }
    };
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(CANNOT_PROCEED);
        }
    };
    out_raw!("\n{}", stampede::report::text::sweep(&report.sweep));
    let dir = out.unwrap_or_else(|| {
        default_out(&p).with_file_name(format!(
            "{}-sweep",
            default_out(&p).file_name().unwrap_or_default().to_string_lossy()
        ))
    });
    let json = serde_json::to_string_pretty(&report).expect("a sweep serializes");
    if let Err(e) = std::fs::create_dir_all(&dir).map_err(|e| e.to_string()).and_then(|_| {
        stampede::report::write_atomic(&dir.join("sweep.json"), json.as_bytes()).map_err(|e| e.to_string())
    }) {
        eprintln!("error: {e}");
        return ExitCode::from(CANNOT_PROCEED);
    }
    match stampede::report::html::render_sweep(&report.sweep, &report.name) {
        Ok(page) => {
            if let Err(e) = stampede::report::write_atomic(&dir.join("sweep.html"), page.as_bytes()) {
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

fn default_out(p: &Profile) -> PathBuf {
    let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let stamp: String = stamp.chars().filter(|c| c.is_ascii_digit()).collect();
    let stamp = format!("{}-{}", &stamp[..8], &stamp[8..14]);
    let name: String = p
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    PathBuf::from("reports").join(format!("{}-{stamp}", name.trim_matches('-')))
}

struct Live {
    bar: Option<ProgressBar>,
    quiet: bool,
    last_line: Instant,
}

impl Live {
    fn new(quiet: bool, planned: Duration) -> Live {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let b = ProgressBar::new(planned.as_millis() as u64);
            b.set_style(
                ProgressStyle::with_template("{spinner} {elapsed_precise} [{bar:30.cyan/blue}] {msg}")
                    .expect("static template")
                    .progress_chars("=> "),
            );
            b
        });
        Live {
            bar,
            quiet,
            last_line: Instant::now(),
        }
    }
}

fn describe(s: &Snapshot) -> String {
    format!(
        "{}/{} · offered {:.0}/s · ok {:.0}/s · ok {} · p99 {} · in flight {} · locked out {}{}",
        format_duration(Duration::from_secs(s.elapsed.as_secs())),
        format_duration(s.planned),
        s.offered_rate,
        s.achieved_rate,
        s.last_success.map_or("-".into(), |r| format!("{:.1}%", r * 100.0)),
        s.last_p99_ms.map_or("-".into(), |v| format!("{v:.0}ms")),
        s.in_flight,
        s.locked_out,
        if s.stopping { " · draining" } else { "" }
    )
}

impl Progress for Live {
    fn update(&mut self, s: &Snapshot) {
        match &self.bar {
            Some(b) => {
                b.set_position(s.elapsed.as_millis() as u64);
                b.set_message(describe(s));
            }
            None => {
                // Not a terminal (CI): a plain line every 5 s.
                if !self.quiet && self.last_line.elapsed() >= Duration::from_secs(5) {
                    self.last_line = Instant::now();
                    eprintln!("{}", describe(s));
                }
            }
        }
    }
}

async fn cmd_run(args: RunArgs) -> ExitCode {
    let mut p = match load(&args.profile) {
        Ok(p) => p,
        Err(code) => return code,
    };
    if let Some(seed) = args.seed {
        p.seed = seed;
    }
    if !args.gates.is_empty() {
        let steps: Vec<String> = p.client.login.iter().map(|s| s.name.clone()).collect();
        match stampede::threshold::parse_all(&args.gates, &steps) {
            Ok(t) => p.gate = t,
            Err(errors) => {
                for (i, e) in errors {
                    eprintln!("error: --gate {:?}: {e}", args.gates[i]);
                }
                return ExitCode::from(BAD_INPUT);
            }
        }
    }
    let out_dir = args.out.clone().unwrap_or_else(|| default_out(&p));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(0u8);
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
    let plan_end = plan_for(&p, args.shard).end;
    let mut live = Live::new(args.quiet, plan_end);
    let opts = RunOptions {
        engine: Some(EngineOptions {
            max_rate: args.max_rate.map(|r| r.per_sec()),
            stop: Some(stop_rx),
            ..EngineOptions::default()
        }),
        shard: args.shard,
        threads: args.threads,
    };
    let result = stampede::run::run(&p, opts, &mut live).await;
    if let Some(b) = &live.bar {
        b.finish_and_clear();
    }
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

/// JUnit XML and the Markdown job summary, where asked for.
fn ci_outputs(report: &Report, junit: Option<&Path>, summary: Option<&Path>) -> Result<(), ExitCode> {
    let write = |path: &Path, text: &str| {
        stampede::report::write_atomic(path, text.as_bytes()).map_err(|e| {
            eprintln!("error: {e}");
            ExitCode::from(CANNOT_PROCEED)
        })
    };
    if let Some(path) = junit {
        write(path, &stampede::report::junit(report))?;
    }
    let Some(md) = stampede::report::markdown(report) else {
        return Ok(());
    };
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

async fn cmd_overlay(
    listen: std::net::SocketAddr,
    mode: &str,
    config: Option<&Path>,
    initial_online: Option<u64>,
) -> ExitCode {
    let mut cfg = match stampede::overlay::OverlayConfig::load(mode, config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(BAD_INPUT);
        }
    };
    if let Some(n) = initial_online {
        cfg.initial_online = n;
        let problems = cfg.validate();
        if !problems.is_empty() {
            for (field, msg) in problems {
                eprintln!("error: {field}: {msg}");
            }
            return ExitCode::from(BAD_INPUT);
        }
    }
    let h = match stampede::overlay::spawn(cfg.clone(), listen).await {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: cannot listen on {listen}: {e}");
            return ExitCode::from(CANNOT_PROCEED);
        }
    };
    out!(
        "reference overlay ({mode}: {} allocation, {} queue, capacity {}, {} clients online) on http://{}",
        cfg.allocation.as_str(),
        cfg.queue.as_str(),
        cfg.capacity,
        cfg.initial_online,
        h.addr
    );
    out!(
        "  POST /login /keepalive /leave {{\"client\": N}} · GET /metrics · POST /admin/mega-supernodes /admin/shed · Ctrl-C stops"
    );
    wait_signal().await;
    h.shutdown().await;
    ExitCode::SUCCESS
}

async fn wait_signal() {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(t) => t,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Recovery of a merged run, from the merged windows. The SLO the shards used is kept
/// where the profile set it; what they derived is derived again from the whole baseline.
fn reanalyze(r: &mut Report) {
    use stampede::analysis::{Timeline, analyze};
    use stampede::profile::Slo as SloSpec;
    let Some(prev) = r.recovery.as_ref().map(|x| x.slo.clone()) else {
        return;
    };
    let ms = Duration::from_millis;
    let timeline = Timeline {
        trigger_start: ms(r.plan.trigger_start_ms),
        storm_end: ms(r.plan.storm_end_ms),
        observe_end: ms(r.plan.ended_ms),
    };
    let slo = SloSpec {
        success_rate: (!prev.derived).then_some(prev.success_rate),
        p99: (!prev.derived).then(|| prev.p99()),
        hold: Some(prev.hold()),
        min_requests: prev.min_requests,
    };
    r.recovery = Some(analyze(&r.windows, &timeline, &slo, Duration::ZERO));
}

fn cmd_merge(paths: &[PathBuf], out: &Path) -> ExitCode {
    let mut parts = Vec::new();
    for p in paths {
        match Report::read(p) {
            Ok(r) => parts.push(r),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(BAD_INPUT);
            }
        }
    }
    let merged = match Report::merge(&parts) {
        Ok(mut m) => {
            reanalyze(&mut m);
            m
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(BAD_INPUT);
        }
    };
    out_raw!("{}", terminal::summary(&merged));
    match merged.write(out) {
        Ok(_) => {
            out!("\n  merged report: {}", out.join("report.json").display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(CANNOT_PROCEED)
        }
    }
}
