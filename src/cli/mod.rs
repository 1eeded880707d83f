//! The `stampede` command line: clap types, dispatch to one file per subcommand, the
//! output helpers they share, and [`CliError`], the one error type of every command.
//! `main.rs` only builds the runtime, calls [`run`] and hands its outcome to [`exit`].
//!
//! Exit codes: 0 success, 1 a threshold failed or a regression, 2 bad input, 3 the run
//! could not proceed or was interrupted, 4 an abort condition stopped the run.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::plan::Part as Shard;
use crate::profile::Profile;
use crate::units::Rate;

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

mod compare;
mod guards;
use guards::{actions_allowed, check_actions, refusal_outputs};
mod confirm;
mod init;
mod live;
mod merge;
mod overlay;
mod report;
mod run;
mod shell;
mod signal;
mod sweep;
mod trial;
mod validate;

pub use init::InitArgs;
pub use shell::man_pages;
pub use sweep::SweepArgs;
pub use trial::TryArgs;

#[derive(Parser)]
#[command(
    name = "stampede",
    version,
    about = "Replays login storms and measures whether, and how fast, the target recovers.",
    after_help = "Exit codes: 0 success; 1 a threshold failed (or `compare` found a regression); 2 bad input; \
                  3 the run could not proceed or was interrupted; 4 an abort condition stopped the run."
)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand)]
pub enum Cmd {
    /// Storm the profile's target and write the report.
    Run(Box<RunArgs>),
    /// Check a profile and show the storm's shape without sending anything.
    #[command(visible_alias = "plan")]
    Validate {
        /// The profile (YAML) to check.
        profile: PathBuf,
        /// Show only shard I of N (e.g. 2/4, 1-based): the clients `run --shard` would send.
        #[arg(long, value_name = "I/N", value_parser = parse_shard)]
        shard: Option<Shard>,
        /// Print only the files the profile reads beside itself (data, trace, CA), one
        /// path a line, as this shell would open them: what a ConfigMap or a shard host
        /// must carry with the profile.
        #[arg(long)]
        files: bool,
    },
    /// Send one client's login flow once (and its keepalive or held connection), showing
    /// each request and answer with secrets masked. Exit 0 when it works, 1 when not.
    Try(TryArgs),
    /// Write a commented starter profile for your own login endpoint.
    Init(InitArgs),
    /// Merge the report.json of several shards of one run into one report.
    Merge {
        /// Shard reports, or directories searched for them (e.g. the shared volume).
        #[arg(required = true)]
        reports: Vec<PathBuf>,
        /// Folder for the merged report.json, latency.hlog and report.html.
        #[arg(short, long, value_name = "DIR")]
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
    Compare(Box<compare::CompareArgs>),
    /// Run the profile at several storm intensities and seeds; report where recovery stops.
    Sweep(Box<SweepArgs>),
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
    /// Print a shell completion script to stdout (e.g. `stampede completions bash`).
    Completions {
        /// The shell the script is for.
        shell: clap_complete::Shell,
    },
    /// Print the man page stampede(1), or write every page (one per subcommand) into DIR.
    Man {
        /// Folder for stampede.1, stampede-run.1, ... [default: stampede.1 to stdout].
        #[arg(short, long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
}

#[derive(clap::Args)]
pub struct RunArgs {
    /// The profile (YAML) to storm.
    pub profile: PathBuf,
    /// Output folder [default: reports/<name>-<timestamp>/].
    #[arg(short, long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Safety ceiling on requests per second (e.g. 5000/s). Not a pacer: delayed
    /// requests still count their latency from their intended instant.
    #[arg(long)]
    pub max_rate: Option<Rate>,
    /// Run only shard I of N (`--shard 2/4`, 1-based), or `--shard auto` in a Kubernetes
    /// Indexed Job (index from $JOB_COMPLETION_INDEX, count from --shards or
    /// $STAMPEDE_SHARDS). Give every shard the same --start-at.
    #[arg(long, value_name = "I/N|auto")]
    pub shard: Option<String>,
    /// Storm this host (or host:port) although it is outside loopback (repeatable; exact
    /// match). Also from $STAMPEDE_ALLOW_TARGET (comma-separated). On a terminal,
    /// stampede otherwise asks; without either, it refuses (exit 2, nothing sent).
    #[arg(long = "allow-target", value_name = "HOST[:PORT]")]
    pub allow_targets: Vec<String>,
    /// Let the profile's `storm.actions` run: the commands it starts at instants of the
    /// storm (`validate` lists them). Also $STAMPEDE_ALLOW_ACTIONS=1. Without it a
    /// profile with actions is refused (exit 2, nothing sent, every command listed).
    #[arg(long)]
    pub allow_actions: bool,
    /// The shard count for `--shard auto`.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub shards: Option<u32>,
    /// Start at this wall-clock instant (RFC 3339, e.g. 2026-11-29T21:30:00Z, or Unix
    /// seconds) instead of at once: the run's time zero, shared by every shard. Refused
    /// when past by more than one window or more than 24 h away.
    // `-5` is a value here (and refused by the parser with what to write), not a flag.
    #[arg(long, value_name = "INSTANT", value_parser = parse_start_at, allow_hyphen_values = true)]
    pub start_at: Option<std::time::SystemTime>,
    /// Engine threads, each with its own part of the clients and its own connections
    /// [default: every core; half of them with the embedded overlay].
    #[arg(long, short = 't', value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub threads: Option<u32>,
    /// The longest wait a `Retry-After` answer imposes on a client (e.g. 30s; longer
    /// waits are cut to it and counted); overrides `client.retry.retry_after_cap`.
    #[arg(long, value_name = "DURATION", value_parser = parse_retry_after_cap)]
    pub retry_after_cap: Option<std::time::Duration>,
    /// Merge the sends due within DURATION into one wake-up (e.g. 1ms; at most 5ms).
    /// Each wake-up costs CPU: on a machine short of it, this cuts the CPU per request
    /// (about 2.5× at 5,000/s on a KVM guest) for a send lag up to DURATION, as oha's
    /// and wrk2's millisecond timers do. Latency still counts from each intended
    /// instant. Default: every send at its own instant.
    #[arg(long, value_name = "DURATION", value_parser = parse_send_precision)]
    pub send_precision: Option<std::time::Duration>,
    /// Override the profile's seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// No live progress.
    #[arg(long, short)]
    pub quiet: bool,
    /// A threshold (repeatable), e.g. `--gate "recovery_time < 3m"`; replaces the
    /// profile's `gate` list.
    #[arg(long = "gate", value_name = "EXPR")]
    pub gates: Vec<String>,
    /// Write the thresholds as JUnit XML (one test case each) to FILE.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write a Markdown summary for a CI job page to FILE (also appended to
    /// $GITHUB_STEP_SUMMARY when that is set).
    #[arg(long, value_name = "FILE")]
    pub summary: Option<PathBuf>,
    /// Serve stampede's own Prometheus metrics at http://ADDR/metrics during the run
    /// (e.g. 127.0.0.1:9464).
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// Keep serving the final values at --metrics-listen for DURATION after the run ends
    /// (a scraper every 15 s gets them at least once; 0 = stop at the end; at most 1h).
    /// Ctrl-C ends it at once.
    #[arg(long, value_name = "DURATION", default_value = "30s", requires = "metrics_listen", value_parser = parse_linger)]
    pub metrics_linger: std::time::Duration,
    /// Write each window as one JSON line as it closes (report.json's `windows`) to
    /// FILE, or to stdout with `-` (the summary then goes to stderr).
    #[arg(long, value_name = "FILE|-")]
    pub stream: Option<PathBuf>,
    /// Stop the storm when a condition holds in every window of its duration (repeatable;
    /// added to the profile's `abort` list), e.g. `--abort-when "success_rate < 5% for
    /// 30s"`. No new attempts, those in flight drain, the report is written; exit 4.
    #[arg(long = "abort-when", value_name = "EXPR for DURATION")]
    pub abort_when: Vec<String>,
    /// The preflight guard: when the first N completed logins before the storm's trigger
    /// all fail with one class that says the flow cannot work (`capture`, `check`, a 4xx
    /// other than 408/429, `head`, `tls`), stop the run (exit 1) naming the class and its
    /// first example. Never on a success, two classes, load's answers (5xx, 429,
    /// timeouts), or from the trigger on.
    #[arg(long, value_name = "N", default_value_t = crate::run::guard::DEFAULT_LOGINS,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub preflight: u64,
    /// No preflight guard: storm whatever the first logins do.
    #[arg(long, conflicts_with = "preflight")]
    pub no_preflight: bool,
}

fn parse_shard(s: &str) -> Result<Shard, crate::plan::PartError> {
    Shard::parse_one_based(s)
}

/// A duration from 0 to 24 h, the range the profile's `retry_after_cap` allows.
fn parse_retry_after_cap(s: &str) -> Result<std::time::Duration, String> {
    let range = crate::profile::limits::RETRY;
    match s.parse::<crate::units::Dur>() {
        Ok(crate::units::Dur(d)) if range.contains(&d) => Ok(d),
        Ok(_) => Err(format!(
            "`{s}` is out of range: write from {} to {}",
            crate::units::Dur(*range.start()),
            crate::units::Dur(*range.end())
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// From 0 (no linger) to an hour.
fn parse_linger(s: &str) -> Result<std::time::Duration, String> {
    match s.parse::<crate::units::Dur>() {
        Ok(crate::units::Dur(d)) if d <= std::time::Duration::from_secs(3600) => Ok(d),
        Ok(_) => Err(format!("`{s}` is out of range: write from 0s to 1h")),
        Err(e) => Err(e.to_string()),
    }
}

/// From 1 µs to `timer::MAX_FLOOR` (5 ms).
fn parse_send_precision(s: &str) -> Result<std::time::Duration, String> {
    let max = crate::engine::timer::MAX_FLOOR;
    match s.parse::<crate::units::Dur>() {
        Ok(crate::units::Dur(d)) if !d.is_zero() && d <= max => Ok(d),
        Ok(_) => Err(format!(
            "`{s}` is out of range: write from 1µs to {}",
            crate::units::Dur(max)
        )),
        Err(e) => Err(e.to_string()),
    }
}

fn parse_start_at(s: &str) -> Result<std::time::SystemTime, crate::run::start::StartError> {
    crate::run::start::parse(s)
}

/// Why a command did not succeed. Each variant is one exit code; [`exit`] is the one
/// place that prints it and maps it.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A profile, flag, report or overlay config that cannot be used as given: the
    /// message names the file or flag to fix. Exit 2.
    #[error("{}", chain(.0))]
    BadInput(anyhow::Error),
    /// Several problems with the input, all found before stopping, one per line (every
    /// bad `--gate`, every bad overlay setting). Exit 2.
    #[error("{}", .0.join("\n"))]
    BadInputs(Vec<String>),
    /// The input was usable but the command could not do its work: the target, the
    /// runtime, or writing the output. Exit 3.
    #[error("{}", chain(.0))]
    CannotProceed(anyhow::Error),
    /// Stopped by Ctrl-C or SIGTERM. What was written covers what ran until then; the
    /// command has already said so when it stopped. Exit 3: not a passing run.
    #[error("interrupted")]
    Interrupted,
    /// An abort condition held: the storm stopped early and its report was written.
    /// Exit 4.
    #[error("aborted: `{expr}` held")]
    Aborted { expr: String },
    /// `stampede try`: the flow `flow` failed, for `why`. Exit 1.
    #[error("try failed: {flow}: {why}")]
    TryFailed { flow: &'static str, why: String },
    /// The preflight guard stopped the run: its first logins all failed one way. Exit 1.
    #[error("{0}")]
    Preflight(String),
    /// The run finished but `failed` of its thresholds did not hold. Exit 1.
    #[error("{failed} threshold(s) failed")]
    GateFailed { failed: usize },
    /// `compare` found a change worse than the tolerance (a share, 0.1 = 10%). Exit 1.
    #[error("regression beyond the {:.0}% tolerance", tolerance * 100.0)]
    Regression { tolerance: f64 },
}

impl CliError {
    /// The process exit code this outcome stands for.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::GateFailed { .. }
            | CliError::Regression { .. }
            | CliError::TryFailed { .. }
            | CliError::Preflight(_) => 1,
            CliError::BadInput(_) | CliError::BadInputs(_) => 2,
            CliError::CannotProceed(_) | CliError::Interrupted => 3,
            CliError::Aborted { .. } => 4,
        }
    }

    /// Bad input from a library error, its message as the library wrote it.
    pub fn bad_input(e: impl Into<anyhow::Error>) -> CliError {
        CliError::BadInput(e.into())
    }

    /// Could not proceed, from a library error, its message as the library wrote it.
    pub fn cannot_proceed(e: impl Into<anyhow::Error>) -> CliError {
        CliError::CannotProceed(e.into())
    }

    /// Could not proceed: `what` went wrong because of `e`, said as `what: e`.
    pub fn cannot_proceed_because(what: &'static str, e: impl Into<anyhow::Error>) -> CliError {
        CliError::CannotProceed(e.into().context(what))
    }
}

/// An error and its causes as `a: b: c`, leaving out a cause whose text the message
/// already holds (the library's errors mostly write their source into their own text).
fn chain(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let said = cause.to_string();
        if text.is_empty() {
            text = said;
        } else if !text.contains(said.trim_end()) {
            text = format!("{text}: {said}");
        }
    }
    text
}

/// The one place that reports a command's outcome on stderr and maps it to the exit
/// code: `error: …` for what the user must fix or could not be done, the verdict alone
/// for a failed gate or a regression, nothing more for an interrupted command.
pub fn exit(outcome: Result<(), CliError>) -> ExitCode {
    let Err(e) = outcome else {
        return ExitCode::SUCCESS;
    };
    match &e {
        CliError::BadInputs(problems) => {
            for p in problems {
                eprintln!("error: {p}");
            }
        }
        // A profile's list of problems ends with a newline of its own.
        CliError::BadInput(_) | CliError::CannotProceed(_) => eprintln!("error: {}", e.to_string().trim_end()),
        CliError::GateFailed { .. }
        | CliError::Regression { .. }
        | CliError::Aborted { .. }
        | CliError::TryFailed { .. }
        | CliError::Preflight(_) => eprintln!("{e}"),
        CliError::Interrupted => {}
    }
    ExitCode::from(e.exit_code())
}

/// Runs one parsed command line; [`exit`] turns the outcome into the exit code.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    match cli.cmd {
        Cmd::Run(args) => run::run(*args).await,
        Cmd::Validate { profile, shard, files } => validate::validate(&profile, shard, files),
        Cmd::Try(args) => trial::try_flow(args).await,
        Cmd::Init(args) => init::init(args),
        Cmd::Merge { reports, out } => merge::merge(&reports, &out),
        Cmd::Report { input, out } => report::report(&input, out.as_deref()),
        Cmd::Compare(args) => compare::compare(*args),
        Cmd::Sweep(args) => sweep::sweep(*args).await,
        Cmd::Overlay {
            listen,
            mode,
            config,
            initial_online,
        } => overlay::overlay(listen, &mode, config.as_deref(), initial_online).await,
        Cmd::Completions { shell } => shell::completions(shell),
        Cmd::Man { out } => shell::man(out.as_deref()),
    }
}

/// Appends a Markdown summary to `$GITHUB_STEP_SUMMARY` when that is set (a GitHub
/// Actions job page); a file that cannot be opened is skipped, as outside Actions.
fn append_step_summary(md: &str) {
    if let Ok(gh) = std::env::var("GITHUB_STEP_SUMMARY")
        && !gh.is_empty()
    {
        use std::io::Write as _;
        if let Ok(mut f) = std::fs::OpenOptions::new().append(true).create(true).open(&gh) {
            let _ = writeln!(f, "{md}");
        }
    }
}

/// The profile at `path`, read and validated; every problem in it is bad input.
fn load(path: &Path) -> Result<Profile, CliError> {
    crate::run::load(path).map_err(CliError::bad_input)
}

/// Where a run writes when `--out` is not given: `reports/<name>-<YYYYMMDD-HHMMSS>/`,
/// the name made safe for a folder.
// MOVE: a run's default output folder is the library's business (`run/` or `report/`);
// it lives here until the library re-layout settles, and its owner moves it.
pub fn default_out_dir(p: &Profile) -> PathBuf {
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

#[cfg(test)]
mod tests {
    use anyhow::{Context as _, anyhow};

    use super::*;
    use crate::report::ReportError;

    #[test]
    fn every_outcome_has_its_documented_exit_code() {
        for (e, code) in [
            (CliError::GateFailed { failed: 2 }, 1),
            (CliError::Regression { tolerance: 0.1 }, 1),
            (
                CliError::TryFailed {
                    flow: "login",
                    why: "x".into(),
                },
                1,
            ),
            (CliError::Preflight("x".into()), 1),
            (CliError::BadInput(anyhow!("x")), 2),
            (CliError::BadInputs(vec!["x".into()]), 2),
            (CliError::CannotProceed(anyhow!("x")), 3),
            (CliError::Interrupted, 3),
            (CliError::Aborted { expr: "x".into() }, 4),
        ] {
            assert_eq!(e.exit_code(), code, "{e:?}");
        }
        assert_eq!(
            CliError::Regression { tolerance: 0.1 }.to_string(),
            "regression beyond the 10% tolerance"
        );
    }

    #[test]
    fn a_cause_is_said_once_and_only_when_the_message_does_not_hold_it() {
        let io = || std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let write = ReportError::Write {
            path: "out/report.json".into(),
            source: io(),
        };
        let e = Err::<(), _>(write).context("writing the report into out").unwrap_err();
        assert_eq!(
            CliError::CannotProceed(e).to_string(),
            "writing the report into out: cannot write out/report.json: no such file"
        );
        let e = Err::<(), _>(io()).context("cannot read s.json").unwrap_err();
        assert_eq!(CliError::BadInput(e).to_string(), "cannot read s.json: no such file");
    }
}
